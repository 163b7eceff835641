// Builds TC strings with IAB Tech Lab's reference implementation (@iabtechlabtcf/core) and prints
// them as JSON for tests/unit/test_tcf.py, which checks fairtrack.consent.tcf.decode against them.
//
// Output: [{name, tcString, segments, encodings, expected, library}] where
//   expected  = the values this script set on the TCModel (plain JSON, written here by hand, so a
//               change in what the library encodes shows up as a difference),
//   library   = what the library's own TCString.decode reads back from tcString,
//   encodings = which vendor-section encoding the library chose ("bitfield" or "range"), read from
//               the IsRangeEncoding bit of each section.
//
// Offline: the encoder needs a GVL (it drops consents of vendors the GVL does not list, takes the
// consent language, vendor list version and policy version from it); a minimal one is built here
// from a plain object, so nothing is fetched.
//
// Usage: node tools/tcf/make-strings.mjs

import {
  Base64Url,
  BitLength,
  FieldSequence,
  GVL,
  PurposeRestriction,
  RestrictionType,
  Segment,
  SegmentIDs,
  TCModel,
  TCString,
} from '@iabtechlabtcf/core';

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const sorted = (ids) => [...ids].sort((a, b) => a - b);

// GVL vendor ids: dense 1..60, then sparse high ids (for range encodings).
const SPARSE = [100, 333, 555, ...range(700, 705), 999, 1500, 2222, 3000];
const GVL_VENDOR_IDS = [...range(1, 60), ...SPARSE];

function makeGvl({ vendorListVersion, tcfPolicyVersion, language }) {
  const named = (ids) => Object.fromEntries(ids.map((id) => [id, { id, name: `item ${id}`, description: '' }]));
  const vendors = Object.fromEntries(
    GVL_VENDOR_IDS.map((id) => [
      id,
      {
        id,
        name: `vendor ${id}`,
        // every purpose a restriction below names is declared, so the encoder keeps them:
        // REQUIRE_CONSENT needs the purpose flexible + LI, REQUIRE_LI flexible + consent,
        // NOT_ALLOWED declared at all.
        purposes: [1, 2, 3, 4, 7],
        legIntPurposes: [2, 7, 8, 9, 10],
        flexiblePurposes: [2, 7],
        specialPurposes: [1],
        features: [],
        specialFeatures: [1],
        policyUrl: 'https://example.invalid/privacy',
        usesCookies: false,
        cookieRefresh: false,
        usesNonCookieAccess: false,
        cookieMaxAgeSeconds: null,
      },
    ]),
  );
  const gvl = new GVL(
    {
      gvlSpecificationVersion: 3,
      vendorListVersion,
      tcfPolicyVersion,
      lastUpdated: '2026-01-01T00:00:00Z',
      purposes: named(range(1, 11)),
      specialPurposes: named([1, 2]),
      features: named([1, 2, 3]),
      specialFeatures: named([1, 2]),
      stacks: {},
      dataCategories: {},
      vendors,
    },
    { language },
  );
  if (!gvl.isReady) throw new Error('GVL built from an object should be ready at once');
  return gvl;
}

const CASES = [
  {
    // global scope, the default segments for saving: core + disclosed vendors (v2.3 shape)
    name: 'global-bitfield',
    gvl: { vendorListVersion: 150, tcfPolicyVersion: 5, language: 'en' },
    model: {
      cmpId: 10,
      cmpVersion: 2,
      consentScreen: 3,
      created: '2026-03-01T12:34:56.700Z',
      lastUpdated: '2026-03-02T08:00:00.100Z',
      isServiceSpecific: false,
      useNonStandardTexts: false,
      purposeOneTreatment: false,
      publisherCountryCode: 'GB',
      specialFeatureOptins: [1, 2],
      purposeConsents: range(1, 11),
      purposeLegitimateInterests: [2, 7, 9, 10],
      // odd ids: maxId 59 > 45 but 30 single entries cost more than 59 bits -> bitfield
      vendorConsents: range(1, 59).filter((id) => id % 2 === 1),
      vendorLegitimateInterests: [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43],
      vendorsDisclosed: range(1, 40).filter((id) => id % 3 !== 0),
    },
  },
  {
    // service specific: core + disclosed vendors + publisher TC; sparse high ids -> ranges
    name: 'service-specific-range',
    gvl: { vendorListVersion: 88, tcfPolicyVersion: 4, language: 'de' },
    model: {
      cmpId: 300,
      cmpVersion: 4095,
      consentScreen: 63,
      created: '2025-11-30T23:59:59.900Z',
      lastUpdated: '2026-02-28T00:00:00.000Z',
      isServiceSpecific: true,
      useNonStandardTexts: true,
      purposeOneTreatment: true,
      publisherCountryCode: 'DE',
      specialFeatureOptins: [2],
      purposeConsents: [1, 3, 4, 9],
      purposeLegitimateInterests: [8, 11],
      vendorConsents: [...range(700, 705), 1500, 3000],
      vendorLegitimateInterests: [100, 999, 2222],
      vendorsDisclosed: [...range(700, 705), 100, 999, 1500, 2222, 3000],
      publisherRestrictions: [
        // vendors 10 and 12: 11 is on the GVL between them, so two single entries
        { purposeId: 2, restrictionType: RestrictionType.REQUIRE_CONSENT, vendorIds: [10, 12] },
        { purposeId: 7, restrictionType: RestrictionType.REQUIRE_LI, vendorIds: [1, 2, 3, 4, 5, 6] },
        { purposeId: 1, restrictionType: RestrictionType.NOT_ALLOWED, vendorIds: [20, 700, 701] },
        // 333 and 555 with no GVL vendor between them: the encoder writes ONE range 333-555
        { purposeId: 3, restrictionType: RestrictionType.NOT_ALLOWED, vendorIds: [333, 555] },
      ],
      publisherConsents: [1, 2, 3],
      publisherLegitimateInterests: [2, 7],
      numCustomPurposes: 4,
      publisherCustomConsents: [1, 4],
      publisherCustomLegitimateInterests: [2],
    },
  },
  {
    // surfaced to vendors with out-of-band support: core + disclosed + allowed + publisher TC;
    // consents as a bitfield, LI and allowed vendors as ranges (a contiguous run is one entry)
    name: 'for-vendors-oob-mixed',
    gvl: { vendorListVersion: 3000, tcfPolicyVersion: 5, language: 'fr' },
    encodeOptions: { isForVendors: true },
    model: {
      cmpId: 4094,
      cmpVersion: 0,
      consentScreen: 0,
      created: '2020-01-01T00:00:00.000Z',
      lastUpdated: '2026-05-18T03:16:38.500Z',
      isServiceSpecific: false,
      supportOOB: true,
      useNonStandardTexts: false,
      purposeOneTreatment: false,
      publisherCountryCode: 'FR',
      specialFeatureOptins: [],
      purposeConsents: [1, 2, 7, 10, 11],
      purposeLegitimateInterests: [2, 7, 8, 9, 10, 11],
      vendorConsents: [1, 4, 9, 16, 25, 36, 49],
      vendorLegitimateInterests: range(1, 60),
      vendorsDisclosed: range(1, 60),
      vendorsAllowed: [...range(700, 705), 2222],
      publisherConsents: [],
      publisherLegitimateInterests: [],
      numCustomPurposes: 0,
      publisherCustomConsents: [],
      publisherCustomLegitimateInterests: [],
    },
  },
  {
    // a v2.2-style string: the core segment only, nothing consented, empty vendor sections
    name: 'core-only-v2.2',
    gvl: { vendorListVersion: 1, tcfPolicyVersion: 4, language: 'pt-br' },
    encodeOptions: { segments: [Segment.CORE] },
    model: {
      cmpId: 2,
      cmpVersion: 1,
      consentScreen: 1,
      created: '2023-09-19T10:00:00.000Z',
      lastUpdated: '2023-09-19T10:00:00.000Z',
      isServiceSpecific: true,
      useNonStandardTexts: false,
      purposeOneTreatment: false,
      publisherCountryCode: 'PT',
      specialFeatureOptins: [],
      purposeConsents: [],
      purposeLegitimateInterests: [],
      vendorConsents: [],
      vendorLegitimateInterests: [],
    },
  },
  {
    // global scope surfaced to vendors WITHOUT out-of-band support: the library then leaves the
    // disclosed vendors segment out (core + publisher TC), which TCF v2.3 no longer allows
    name: 'for-vendors-no-disclosed',
    gvl: { vendorListVersion: 222, tcfPolicyVersion: 5, language: 'nl' },
    encodeOptions: { isForVendors: true },
    model: {
      cmpId: 31,
      cmpVersion: 77,
      consentScreen: 12,
      created: '2024-06-15T06:30:00.300Z',
      lastUpdated: '2026-01-31T18:45:12.600Z',
      isServiceSpecific: false,
      supportOOB: false,
      useNonStandardTexts: true,
      purposeOneTreatment: false,
      publisherCountryCode: 'NL',
      specialFeatureOptins: [1],
      purposeConsents: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
      purposeLegitimateInterests: [2],
      vendorConsents: [...range(1, 60), ...SPARSE],
      vendorLegitimateInterests: [3000],
      vendorsDisclosed: [1, 2, 3],
      publisherConsents: [1, 10],
      publisherLegitimateInterests: [2, 8],
      numCustomPurposes: 63,
      publisherCustomConsents: [1, 32, 63],
      publisherCustomLegitimateInterests: [5],
    },
  },
];

const VECTORS = [
  'specialFeatureOptins',
  'purposeConsents',
  'purposeLegitimateInterests',
  'vendorConsents',
  'vendorLegitimateInterests',
  'vendorsDisclosed',
  'vendorsAllowed',
  'publisherConsents',
  'publisherLegitimateInterests',
  'publisherCustomConsents',
  'publisherCustomLegitimateInterests',
];
const SCALARS = [
  'cmpId',
  'cmpVersion',
  'consentScreen',
  'isServiceSpecific',
  'supportOOB',
  'useNonStandardTexts',
  'purposeOneTreatment',
  'publisherCountryCode',
  'numCustomPurposes',
];

function buildModel(spec) {
  const model = new TCModel(makeGvl(spec.gvl));
  for (const key of SCALARS) if (key in spec.model) model[key] = spec.model[key];
  for (const key of VECTORS) if (key in spec.model) model[key].set(spec.model[key]);
  model.created = new Date(spec.model.created);
  model.lastUpdated = new Date(spec.model.lastUpdated);
  for (const r of spec.model.publisherRestrictions ?? []) {
    for (const id of r.vendorIds) model.publisherRestrictions.add(id, new PurposeRestriction(r.purposeId, r.restrictionType));
  }
  return model;
}

// The segment types present, as the library itself reads them (first 3 bits of each segment).
function segmentNames(tcString) {
  return tcString.split('.').map((seg, i) => {
    if (i === 0) return Segment.CORE;
    return SegmentIDs.ID_TO_KEY[parseInt(Base64Url.decode(seg).slice(0, BitLength.segmentType), 2)];
  });
}

// Bit offset of the vendor consent section in the core segment: the fixed-width fields before it.
const CORE_FIELDS = new FieldSequence()['2'][Segment.CORE];
const VENDOR_SECTION_OFFSET = CORE_FIELDS.slice(0, CORE_FIELDS.indexOf('vendorConsents')).reduce(
  (sum, field) => sum + BitLength[field],
  0,
);

function encodingAt(bits, sectionStart) {
  return bits[sectionStart + BitLength.maxId] === '1' ? 'range' : 'bitfield';
}

function encodings(tcString, decoded) {
  const segments = tcString.split('.');
  const core = Base64Url.decode(segments[0]);
  const out = {
    vendorConsents: encodingAt(core, VENDOR_SECTION_OFFSET),
    vendorLegitimateInterests: encodingAt(core, VENDOR_SECTION_OFFSET + decoded.vendorConsents.bitLength),
  };
  segmentNames(tcString).forEach((name, i) => {
    if (name === Segment.VENDORS_DISCLOSED || name === Segment.VENDORS_ALLOWED) {
      out[name] = encodingAt(Base64Url.decode(segments[i]), BitLength.segmentType);
    }
  });
  return out;
}

function restrictionsOf(prVector) {
  return prVector
    .getRestrictions()
    .map((r) => ({ purposeId: r.purposeId, restrictionType: r.restrictionType, vendorIds: prVector.getVendors(r) }))
    .sort((a, b) => a.purposeId - b.purposeId || a.restrictionType - b.restrictionType);
}

// What the library decodes, as plain JSON. Absent segments are null (the model cannot tell an
// absent segment from an empty one, so presence comes from the string's segment types).
function plainDecoded(tcString) {
  const m = TCString.decode(tcString);
  const present = new Set(segmentNames(tcString));
  const ids = (vector) => sorted(vector.values());
  return {
    model: m,
    plain: {
      version: m.version,
      created: m.created.toISOString(),
      lastUpdated: m.lastUpdated.toISOString(),
      cmpId: m.cmpId,
      cmpVersion: m.cmpVersion,
      consentScreen: m.consentScreen,
      consentLanguage: m.consentLanguage,
      vendorListVersion: m.vendorListVersion,
      policyVersion: m.policyVersion,
      isServiceSpecific: m.isServiceSpecific,
      useNonStandardTexts: m.useNonStandardTexts,
      specialFeatureOptins: ids(m.specialFeatureOptins),
      purposeConsents: ids(m.purposeConsents),
      purposeLegitimateInterests: ids(m.purposeLegitimateInterests),
      purposeOneTreatment: m.purposeOneTreatment,
      publisherCountryCode: m.publisherCountryCode,
      vendorConsents: ids(m.vendorConsents),
      vendorLegitimateInterests: ids(m.vendorLegitimateInterests),
      publisherRestrictions: restrictionsOf(m.publisherRestrictions),
      vendorsDisclosed: present.has(Segment.VENDORS_DISCLOSED) ? ids(m.vendorsDisclosed) : null,
      vendorsAllowed: present.has(Segment.VENDORS_ALLOWED) ? ids(m.vendorsAllowed) : null,
      publisherTC: present.has(Segment.PUBLISHER_TC)
        ? {
            publisherConsents: ids(m.publisherConsents),
            publisherLegitimateInterests: ids(m.publisherLegitimateInterests),
            numCustomPurposes: m.numCustomPurposes,
            publisherCustomConsents: ids(m.publisherCustomConsents),
            publisherCustomLegitimateInterests: ids(m.publisherCustomLegitimateInterests),
          }
        : null,
    },
  };
}

// The values set, as the decoded string must show them. Segments the library leaves out are null.
function expectedOf(spec, segments) {
  const s = spec.model;
  const has = (name) => segments.includes(name);
  return {
    version: 2,
    created: new Date(s.created).toISOString(),
    lastUpdated: new Date(s.lastUpdated).toISOString(),
    cmpId: s.cmpId,
    cmpVersion: s.cmpVersion,
    consentScreen: s.consentScreen,
    consentLanguage: spec.gvl.language.slice(0, 2).toUpperCase(),
    vendorListVersion: spec.gvl.vendorListVersion,
    policyVersion: spec.gvl.tcfPolicyVersion,
    isServiceSpecific: s.isServiceSpecific,
    useNonStandardTexts: s.useNonStandardTexts,
    specialFeatureOptins: sorted(s.specialFeatureOptins),
    purposeConsents: sorted(s.purposeConsents),
    purposeLegitimateInterests: sorted(s.purposeLegitimateInterests),
    purposeOneTreatment: s.purposeOneTreatment,
    publisherCountryCode: s.publisherCountryCode,
    vendorConsents: sorted(s.vendorConsents),
    vendorLegitimateInterests: sorted(s.vendorLegitimateInterests),
    // the vendors named; the string may cover more (see the 333-555 note above)
    publisherRestrictions: (s.publisherRestrictions ?? [])
      .map((r) => ({ ...r, vendorIds: sorted(r.vendorIds) }))
      .sort((a, b) => a.purposeId - b.purposeId || a.restrictionType - b.restrictionType),
    vendorsDisclosed: has(Segment.VENDORS_DISCLOSED) ? sorted(s.vendorsDisclosed ?? []) : null,
    vendorsAllowed: has(Segment.VENDORS_ALLOWED) ? sorted(s.vendorsAllowed ?? []) : null,
    publisherTC: has(Segment.PUBLISHER_TC)
      ? {
          publisherConsents: sorted(s.publisherConsents ?? []),
          publisherLegitimateInterests: sorted(s.publisherLegitimateInterests ?? []),
          numCustomPurposes: s.numCustomPurposes ?? 0,
          publisherCustomConsents: sorted(s.publisherCustomConsents ?? []),
          publisherCustomLegitimateInterests: sorted(s.publisherCustomLegitimateInterests ?? []),
        }
      : null,
  };
}

const out = CASES.map((spec) => {
  const tcString = TCString.encode(buildModel(spec), spec.encodeOptions);
  const segments = segmentNames(tcString);
  const { model, plain } = plainDecoded(tcString);
  return {
    name: spec.name,
    tcString,
    segments,
    encodings: encodings(tcString, model),
    expected: expectedOf(spec, segments),
    library: plain,
  };
});

process.stdout.write(JSON.stringify(out, null, 2) + '\n');
