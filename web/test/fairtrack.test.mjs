// fairtrack.js unit tests.
//
// A small fake browser for fairtrack.js: the snippet's own code runs unchanged in a node:vm context
// whose globals are these fakes (window, document, location, history, navigator, localStorage,
// timers, Blob, fetch). Nothing is exported from the snippet: tests observe it only as a page would
// (what it sends, what it stores, what it logs).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import vm from 'node:vm';
import { build, SOURCE } from '../scripts/build.mjs';

/** The code under test: the source as written and the minified build (the asset the gateway serves). */
async function variants() {
  return [
    ['src', readFileSync(SOURCE, 'utf8')],
    ['build', await build()],
  ];
}

class FakeBlob {
  constructor(parts = [], options = {}) {
    this.body = parts.join('');
    this.type = options.type ?? '';
    this.size = Buffer.byteLength(this.body);
  }
}

class Clock {
  constructor() {
    this.now = 0;
    this.tasks = [];
    this.seq = 0;
  }
  setTimeout(fn, ms = 0) {
    const id = ++this.seq;
    this.tasks.push({ id, at: this.now + Math.max(0, Number(ms) || 0), fn });
    return id;
  }
  clearTimeout(id) {
    this.tasks = this.tasks.filter((t) => t.id !== id);
  }
  /** Run every timer due within ``ms`` (in time order, including timers they set). */
  advance(ms) {
    const end = this.now + ms;
    for (;;) {
      const due = this.tasks.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.tasks = this.tasks.filter((t) => t !== due);
      this.now = due.at;
      due.fn();
    }
    this.now = end;
  }
}

class Storage {
  constructor(initial = {}) {
    this.map = new Map(Object.entries(initial));
    this.log = []; // every call: [method, key]
  }
  get length() {
    return this.map.size;
  }
  getItem(k) {
    this.log.push(['getItem', k]);
    return this.map.has(k) ? this.map.get(k) : null;
  }
  setItem(k, v) {
    this.log.push(['setItem', k]);
    this.map.set(k, String(v));
  }
  removeItem(k) {
    this.log.push(['removeItem', k]);
    this.map.delete(k);
  }
  writes() {
    return this.log.filter(([m]) => m === 'setItem');
  }
}

/**
 * Load the snippet into a fresh fake page.
 * options: attrs (data-* without the prefix), src (script URL), url (page URL), before(win) (page
 * code that runs before the snippet: stub queue, dataLayer, __tcfapi...; page: the same as a string run in the page), beacon ('ok' | 'false' |
 * 'missing' | 'throw'), randomUUID (false: crypto without it), storage (initial localStorage),
 * storageThrows (every localStorage access throws, as in Safari private mode).
 */
function load(code, options = {}) {
  const clock = new Clock();
  const sent = []; // {via, url, type, body (parsed), raw, init}
  const warnings = [];
  const listeners = { window: {}, document: {} };
  const cookieAccess = [];
  const storage = new Storage(options.storage);
  const attrs = { 'write-key': 'wk-test', ...options.attrs };
  const scriptSrc = options.src ?? 'https://gw.example:8443/fairtrack.js';

  const loc = {};
  const go = (url) => {
    const u = new URL(url, loc.href || undefined);
    Object.assign(loc, {
      href: u.href,
      origin: u.origin,
      protocol: u.protocol,
      host: u.host,
      pathname: u.pathname,
      search: u.search,
      hash: u.hash,
    });
  };
  go(options.url ?? 'https://shop.example/start?x=1');

  const on = (where) => (type, fn) => {
    (listeners[where][type] ??= []).push(fn);
  };
  const document = {
    currentScript: {
      src: scriptSrc,
      getAttribute: (name) => {
        const k = name.replace(/^data-/, '');
        return Object.hasOwn(attrs, k) && attrs[k] !== undefined ? String(attrs[k]) : null;
      },
    },
    referrer: 'https://ref.example/from',
    title: 'Start page',
    visibilityState: 'visible',
    addEventListener: on('document'),
  };
  Object.defineProperty(document, 'cookie', {
    get() {
      cookieAccess.push('get');
      return '';
    },
    set(v) {
      cookieAccess.push('set');
    },
  });

  const record = (via, url, raw, type, init) => {
    sent.push({ via, url, raw, type, init, body: JSON.parse(raw) });
  };
  const navigator = { language: 'de-DE', userAgent: 'Mozilla/5.0 (X11; Linux x86_64) FakeBrowser/1.0' };
  const beacon = options.beacon ?? 'ok';
  if (beacon !== 'missing') {
    navigator.sendBeacon = (url, data) => {
      if (beacon === 'throw') throw new TypeError('beacon broke');
      if (beacon === 'false') return false;
      record('beacon', url, data.body, data.type);
      return true;
    };
  }
  const fetch = (url, init = {}) => {
    if (options.fetchThrows) throw new TypeError('fetch broke');
    record('fetch', url, init.body, init.headers?.['content-type'], init);
    return Promise.resolve({ ok: true, status: 200 });
  };

  const history = {
    pushState: (state, title, url) => url != null && go(url),
    replaceState: (state, title, url) => url != null && go(url),
  };
  const crypto =
    options.randomUUID === false
      ? { getRandomValues: (a) => globalThis.crypto.getRandomValues(a) }
      : globalThis.crypto;

  const win = {
    document,
    location: loc,
    history,
    navigator,
    screen: { width: 1440, height: 900 },
    crypto,
    Blob: FakeBlob,
    fetch,
    console: { warn: (...args) => warnings.push(args.map(String).join(' ')), log() {}, error() {} },
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    clearTimeout: (id) => clock.clearTimeout(id),
    addEventListener: on('window'),
    URL,
    Intl,
  };
  Object.defineProperty(win, 'localStorage', {
    get() {
      if (options.storageThrows) throw new Error('SecurityError');
      return storage;
    },
  });
  win.window = win;
  const context = vm.createContext(win);
  if (options.page) vm.runInContext(options.page, context);
  if (options.before) options.before(win, context);
  vm.runInContext(code, context, { filename: 'fairtrack.js' });

  const fire = (where, type) => {
    for (const fn of listeners[where][type] ?? []) fn({ type });
  };
  const env = {
    win,
    context,
    clock,
    sent,
    warnings,
    storage,
    cookieAccess,
    location: loc,
    /** Run page code in the page (a string) e.g. "fairtrack('track', 'X')". */
    run: (src) => vm.runInContext(src, context),
    ft: (...args) => win.fairtrack(...args),
    advance: (ms) => clock.advance(ms),
    batches: () => sent.filter((s) => s.url.endsWith('/v1/batch')),
    events: () => env.batches().flatMap((s) => s.body.batch),
    receipts: () => sent.filter((s) => s.url.endsWith('/v1/consent')).map((s) => s.body),
    /** The user leaves: the tab is hidden, then the page is hidden. */
    hide: () => {
      document.visibilityState = 'hidden';
      fire('document', 'visibilitychange');
    },
    pagehide: () => fire('window', 'pagehide'),
    back: (url) => {
      go(url);
      fire('window', 'popstate');
    },
    go,
  };
  return env;
}

/** gtag's command queue in the page: window.dataLayer and gtag() pushing `arguments`, as gtag.js does. */
const GTAG = 'window.dataLayer = window.dataLayer || []; function gtag(){ dataLayer.push(arguments); }';

// -- helpers ----------------------------------------------------------------------------------------
const STUB = 'window.fairtrack=window.fairtrack||function(){(fairtrack.q=fairtrack.q||[]).push(arguments)};';
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const byEvent = (env, name) => env.events().find((e) => e.event === name);
const consentOf = (env, name) => byEvent(env, name)?.context.consent;
// real TC strings (made with @iabtechlabtcf/core, see tools/tcf): purposes 1, 8 and 9 consented; none
const ALL_TC = 'CQgaaaAQgaaaAAKABBENCWFgAIGAAAAAAAYgAAoAAAAA.IAAo.YAAAAAAAAAAA';
const NONE_TC = 'CPyXmtAPyXmtAACABBPTABEgAAAAAAAAAB6YAAAAAAAA';
const settle = (env) => env.advance(600); // past the 500 ms batch window
/** The names `prefix + 0` .. `prefix + (n - 1)`, in order. */
const numbered = (prefix, n) => Array.from({ length: n }, (_, i) => prefix + i);
const sentNames = (env) => env.events().map((e) => e.event);

// Consent Mode letters, written out from the protocol (protocols.md "Consent"), not computed:
// [default][update] with u unset, d denied, g granted.
const LETTER = {
  u: { u: 'l', d: 'm', g: 'n' },
  d: { u: 'p', d: 'q', g: 'r' },
  g: { u: 't', d: 'u', g: 'v' },
};
const STATE = { d: 'denied', g: 'granted' };
const TYPES = ['ad_storage', 'analytics_storage', 'ad_user_data', 'ad_personalization'];
const B64 = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_';
// the gateway's reading of a gcd letter (layers/common/fairtrack/consent/signals.py), a second oracle
const gatewayReads = (letter) => {
  const i = B64.indexOf(letter);
  const name = { 1: 'u', 2: 'd', 3: 'g' };
  return [name[(i >> 2) & 3], name[i & 3]];
};

for (const [variant, code] of await variants()) {
  describe(`fairtrack.js (${variant})`, () => {
    // -- wire format ----------------------------------------------------------------------------
    describe('wire format', () => {
      test('a batch is a Segment batch sent as text/plain to {api}/v1/batch with every context field', () => {
        const env = load(code, { page: STUB + "fairtrack('consent', {analytics: true})" });
        env.ft('track', 'Order Completed', { value: 3 });
        settle(env);
        const [req] = env.batches();
        assert.equal(env.batches().length, 1);
        assert.equal(req.url, 'https://gw.example:8443/v1/batch');
        assert.equal(req.type, 'text/plain');
        assert.equal(req.via, 'beacon');
        assert.deepEqual(Object.keys(req.body).sort(), ['batch', 'sentAt', 'writeKey']);
        assert.equal(req.body.writeKey, 'wk-test');
        assert.match(req.body.sentAt, ISO);
        const [page, track] = req.body.batch;
        assert.equal(page.type, 'page');
        assert.equal(track.type, 'track');
        assert.equal(track.event, 'Order Completed');
        assert.deepEqual(track.properties, { value: 3 });
        assert.match(track.messageId, UUID_V4);
        assert.notEqual(track.messageId, page.messageId);
        assert.match(track.timestamp, ISO);
        assert.equal(track.anonymousId, page.anonymousId);
        assert.deepEqual(track.context.page, {
          url: 'https://shop.example/start?x=1',
          path: '/start',
          search: '?x=1',
          referrer: 'https://ref.example/from',
          title: 'Start page',
        });
        assert.equal(track.context.locale, 'de-DE');
        assert.equal(track.context.timezone, Intl.DateTimeFormat().resolvedOptions().timeZone);
        assert.deepEqual(track.context.screen, { width: 1440, height: 900 });
        assert.deepEqual(track.context.library, { name: 'fairtrack.js', version: '0.1.0' });
        assert.deepEqual(track.context.consent, { categoryPreferences: { analytics: true } });
        // the user agent as analytics.js sends it (Meta's client_user_agent); never an address
        assert.equal(track.context.userAgent, env.win.navigator.userAgent);
        const text = JSON.stringify(req.body);
        for (const server of ['"ip"', 'userAgentData']) assert.ok(!text.includes(server), server);
      });

      test('data-api overrides the script origin; a trailing slash is dropped', () => {
        const env = load(code, { attrs: { api: 'https://collect.example/gw/' }, page: STUB + "fairtrack('consent',{})" });
        settle(env);
        assert.equal(env.batches()[0].url, 'https://collect.example/gw/v1/batch');
      });

      test('identify: userId and traits, then later events carry the userId', () => {
        const env = load(code, { page: STUB + "fairtrack('consent', {analytics: false})" });
        env.ft('identify', 'user-42', { plan: 'pro' });
        env.ft('track', 'After');
        settle(env);
        const identify = env.events().find((e) => e.type === 'identify');
        assert.equal(identify.userId, 'user-42');
        assert.deepEqual(identify.traits, { plan: 'pro' });
        assert.equal(byEvent(env, 'After').userId, 'user-42');
        assert.equal(env.events().find((e) => e.type === 'page').userId, undefined);
      });

      test('without crypto.randomUUID, ids are getRandomValues uuid v4s, all different', () => {
        const env = load(code, { randomUUID: false, page: STUB + "fairtrack('consent', {})" });
        for (let i = 0; i < 5; i++) env.ft('track', 'E' + i);
        settle(env);
        const ids = env.events().flatMap((e) => [e.messageId, e.anonymousId]);
        for (const id of ids) assert.match(id, UUID_V4);
        assert.equal(new Set(env.events().map((e) => e.messageId)).size, 6);
      });

      test('calls queued by the stub before load are replayed in order, before the automatic page view', () => {
        const env = load(code, {
          page: STUB + "fairtrack('identify','u1'); fairtrack('track','First'); fairtrack('consent',{analytics:true}); fairtrack('track','Second');",
        });
        settle(env);
        assert.deepEqual(
          env.events().map((e) => e.event ?? e.type),
          ['identify', 'First', 'Second', 'page']
        );
        assert.ok(env.events().every((e) => e.userId === 'u1'));
      });
    });

    // -- Consent Mode ---------------------------------------------------------------------------
    describe('Google Consent Mode', () => {
      test('gcd letters: every default x update combination of every type, as gtag writes them', () => {
        for (const [position, type] of TYPES.entries()) {
          for (const def of ['u', 'd', 'g']) {
            for (const upd of ['u', 'd', 'g']) {
              let page = GTAG;
              // a command must be seen for Consent Mode to be on: another type's default when this one has none
              page += def === 'u' ? `gtag('consent','default',{${TYPES[(position + 1) % 4]}:'denied'});` : '';
              if (def !== 'u') page += `gtag('consent','default',{${type}:'${STATE[def]}'});`;
              if (upd !== 'u') page += `gtag('consent','update',{${type}:'${STATE[upd]}'});`;
              const env = load(code, { page, attrs: { 'auto-page': 'false' } });
              env.ft('track', 'X');
              settle(env);
              const { gcd, gcs } = consentOf(env, 'X');
              assert.equal(gcd.length, 10);
              assert.equal(gcd[0] + gcd[1] + gcd[3] + gcd[5] + gcd[7] + gcd[9], '133335', gcd);
              const letter = gcd[2 + 2 * position];
              assert.equal(letter, LETTER[def][upd], `${type} default ${def} update ${upd}: ${gcd}`);
              assert.deepEqual(gatewayReads(letter), [def, upd]);
              const effective = upd !== 'u' ? upd : def;
              if (position < 2) assert.equal(gcs[2 + position], { u: '-', d: '0', g: '1' }[effective], gcs);
              assert.match(gcs, /^G1[01-]{2}$/);
            }
          }
        }
      });

      test('the usual banner flow: all denied by default, then all granted -> 13r3r3r3r5 and G111', () => {
        const all = (v) => `{ad_storage:'${v}',analytics_storage:'${v}',ad_user_data:'${v}',ad_personalization:'${v}'}`;
        const env = load(code, { page: GTAG + `gtag('consent','default',${all('denied')});` });
        env.ft('track', 'Before');
        settle(env);
        assert.deepEqual(consentOf(env, 'Before'), { gcd: '13p3p3p3p5', gcs: 'G100' });
        env.run(`gtag('consent','update',${all('granted')})`);
        env.ft('track', 'After');
        settle(env);
        assert.deepEqual(consentOf(env, 'After'), { gcd: '13r3r3r3r5', gcs: 'G111' });
      });

      test('a push after load is seen at once; a replaced dataLayer.push is caught by the rescan', () => {
        const env = load(code, { page: GTAG, attrs: { 'auto-page': 'false' } });
        env.ft('track', 'Held');
        settle(env);
        assert.equal(env.events().length, 0, 'no consent source answered yet');
        // gtag.js replaces push with its own (which does not call ours)
        env.run("dataLayer.push = function(){ return Array.prototype.push.apply(dataLayer, arguments) }");
        env.run("gtag('consent','default',{analytics_storage:'granted'})");
        settle(env);
        assert.equal(consentOf(env, 'Held').gcd, '13l3t3l3l5');
      });

      test('wait_for_update holds events until the update, or until the wait is over', () => {
        const waited = load(code, {
          page: GTAG + "gtag('consent','default',{analytics_storage:'denied',wait_for_update:2000});",
        });
        waited.advance(1500);
        assert.equal(waited.events().length, 0, 'held during the wait');
        waited.run("gtag('consent','update',{analytics_storage:'granted'})");
        settle(waited);
        assert.equal(waited.events().length, 1);
        assert.equal(waited.events()[0].context.consent.gcd, '13l3r3l3l5');

        const expired = load(code, {
          page: GTAG + "gtag('consent','default',{analytics_storage:'denied',wait_for_update:2000});",
        });
        expired.advance(1900);
        assert.equal(expired.events().length, 0);
        expired.advance(700);
        assert.equal(expired.events().length, 1);
        assert.equal(expired.events()[0].context.consent.gcd, '13l3p3l3l5');
      });

      test('a region-scoped default may deny but never grant (the region is unknown in the page)', () => {
        const env = load(code, {
          page:
            GTAG +
            "gtag('consent','default',{analytics_storage:'denied',region:['DE']});" +
            "gtag('consent','default',{analytics_storage:'granted',ad_storage:'granted'});" +
            "gtag('consent','default',{ad_user_data:'granted',region:['US']});",
        });
        settle(env);
        assert.equal(env.events()[0].context.consent.gcd, '13t3p3l3l5');
        assert.equal(env.storage.writes().length, 0);
      });

      test('data-consent="explicit" ignores Consent Mode and TCF', () => {
        const env = load(code, {
          attrs: { consent: 'explicit' },
          page: GTAG + "gtag('consent','default',{analytics_storage:'granted'});" + TCF_STUB('tcloaded', ALL_TC, [1]),
        });
        env.advance(6000);
        assert.equal(env.events().length, 0, 'waits for fairtrack("consent") only');
        assert.equal(env.storage.writes().length, 0);
        env.ft('consent', { analytics: false });
        settle(env);
        assert.deepEqual(env.events()[0].context.consent, { categoryPreferences: { analytics: false } });
      });
    });

    // -- TCF ------------------------------------------------------------------------------------
    describe('IAB TCF', () => {
      test('events wait for tcloaded/useractioncomplete and carry the TC string and gdpr', () => {
        const env = load(code, { page: TCF_STUB('cmpuishown', '', []) + STUB + "fairtrack('track','Early')" });
        env.advance(6000);
        assert.equal(env.events().length, 0, 'a CMP is on the page: held past the 5 s timeout');
        env.run(`__tcfFire('useractioncomplete', '${ALL_TC}', [1, 8, 9])`);
        settle(env);
        assert.deepEqual(consentOf(env, 'Early'), { tcString: ALL_TC, gdpr: '1' });
        assert.equal(env.events().length, 2);
        assert.deepEqual(env.receipts().map((r) => r.tcString), [ALL_TC]);
      });

      test('tcloaded (a stored decision) sends no receipt; purpose 1 consent allows storage', () => {
        const env = load(code, { page: TCF_STUB('tcloaded', ALL_TC, [1, 8, 9]) });
        settle(env);
        assert.equal(env.receipts().length, 0);
        assert.equal(env.storage.map.get('fairtrack.aid'), env.events()[0].anonymousId);
      });

      test('without purpose 1 consent nothing is stored; gdprApplies false gives gdpr "0" and no string', () => {
        const env = load(code, { page: TCF_STUB('tcloaded', ALL_TC, [8, 9]) });
        settle(env);
        assert.equal(env.storage.writes().length, 0);
        const off = load(code, { page: TCF_STUB('tcloaded', '', [], false) });
        settle(off);
        assert.deepEqual(off.events()[0].context.consent, { gdpr: '0' });
      });
    });

    // -- holding events until consent -----------------------------------------------------------
    describe('queue until consent', () => {
      test('events before consent are sent when it arrives, stamped with the consent then known', () => {
        const env = load(code);
        env.ft('track', 'Before');
        env.advance(2000);
        assert.equal(env.events().length, 0);
        env.ft('consent', { analytics: true, advertising: false });
        settle(env);
        assert.deepEqual(
          env.events().map((e) => e.event ?? e.type),
          ['page', 'Before']
        );
        for (const e of env.events()) {
          assert.deepEqual(e.context.consent, { categoryPreferences: { analytics: true, advertising: false } });
        }
      });

      test('no consent source at all: after 5 s they are sent without a signal, later events at once', () => {
        const env = load(code);
        env.advance(4900);
        assert.equal(env.events().length, 0);
        env.advance(700);
        assert.equal(env.events().length, 1);
        assert.equal(env.events()[0].context.consent, undefined);
        env.ft('track', 'Later');
        settle(env);
        assert.equal(consentOf(env, 'Later'), undefined);
        assert.ok(byEvent(env, 'Later'));
      });

      test('a CMP that never answers: held until the page is hidden, then sent without a signal', () => {
        const env = load(code, { page: TCF_STUB('cmpuishown', '', []) });
        env.ft('track', 'Waiting');
        env.advance(30000);
        assert.equal(env.events().length, 0);
        env.hide();
        assert.equal(env.events().length, 2, 'sent synchronously on hide, no timer');
        assert.equal(consentOf(env, 'Waiting'), undefined);
      });

      test('the hold is bounded: the 100th held event releases them all (nothing dropped)', () => {
        const env = load(code, { attrs: { 'auto-page': 'false' }, page: TCF_STUB('cmpuishown', '', []) });
        const names = numbered('E', 100);
        for (const name of names.slice(0, 99)) env.ft('track', name);
        settle(env);
        assert.equal(env.events().length, 0);
        env.ft('track', names[99]);
        settle(env);
        assert.deepEqual(sentNames(env), names);
      });
    });

    // -- storage --------------------------------------------------------------------------------
    describe('storage', () => {
      test('no cookie ever and no storage write without analytics storage consent', () => {
        const env = load(code, { page: STUB + "fairtrack('consent', {analytics: false, advertising: true})" });
        env.ft('identify', 'user-1');
        env.ft('track', 'X');
        settle(env);
        env.hide();
        assert.ok(env.events().length >= 3);
        assert.deepEqual(env.storage.writes(), []);
        assert.equal(env.storage.length, 0);
        assert.deepEqual(env.cookieAccess, []);
      });

      test('granted: the anonymousId is persisted; withdrawn: removed and a new id from then on', () => {
        const env = load(code);
        env.ft('consent', { analytics: true });
        env.ft('identify', 'user-9');
        settle(env);
        const aid = env.events()[0].anonymousId;
        assert.equal(env.storage.map.get('fairtrack.aid'), aid);
        assert.equal(env.storage.map.get('fairtrack.uid'), 'user-9');
        env.ft('consent', { analytics: false });
        env.ft('track', 'After');
        settle(env);
        assert.equal(env.storage.length, 0);
        assert.notEqual(byEvent(env, 'After').anonymousId, aid);
        assert.deepEqual(env.cookieAccess, []);
      });

      test('a returning visitor with storage consent keeps the stored ids; without it they are not read', () => {
        const stored = { 'fairtrack.aid': 'returning-aid', 'fairtrack.uid': 'returning-user' };
        const back = load(code, { storage: stored, page: GTAG + "gtag('consent','default',{analytics_storage:'granted'})" });
        settle(back);
        assert.equal(back.events()[0].anonymousId, 'returning-aid');
        assert.equal(back.events()[0].userId, 'returning-user');

        const denied = load(code, { storage: stored, page: GTAG + "gtag('consent','default',{analytics_storage:'denied'})" });
        settle(denied);
        assert.notEqual(denied.events()[0].anonymousId, 'returning-aid');
        assert.equal(denied.events()[0].userId, undefined);
        assert.deepEqual(denied.storage.log.filter(([m]) => m !== 'removeItem'), []);
        assert.equal(denied.storage.length, 0, 'a stored id is removed once consent says no');
      });

      test('a denial by one source wins over a grant by another', () => {
        const env = load(code, {
          page: GTAG + "gtag('consent','default',{analytics_storage:'granted'});" + TCF_STUB('tcloaded', ALL_TC, [8, 9]),
        });
        settle(env);
        assert.equal(env.storage.writes().length, 0);
        assert.ok(env.events()[0].context.consent.tcString);
        assert.ok(env.events()[0].context.consent.gcd);
      });

      test('storage that throws (private mode, sandboxed iframe) breaks nothing', () => {
        const env = load(code, { storageThrows: true, page: STUB + "fairtrack('consent', {analytics: true})" });
        env.ft('track', 'X');
        settle(env);
        assert.ok(byEvent(env, 'X'));
      });
    });

    // -- single-page apps -----------------------------------------------------------------------
    describe('page views', () => {
      const spa = () => load(code, { page: STUB + "fairtrack('consent', {})" });
      const pages = (env) => env.events().filter((e) => e.type === 'page').map((e) => e.context.page.url);

      test('one on load, one per pushState/replaceState/popstate that changes path or query, none otherwise', () => {
        const env = spa();
        env.win.history.pushState({}, '', '/products?id=1');
        env.win.history.replaceState({}, '', '/products?id=1'); // same URL
        env.win.history.pushState({}, '', '/products?id=1#reviews'); // hash only
        env.win.history.replaceState({ scroll: 1 }, ''); // state only
        env.win.history.replaceState({}, '', '/products?id=2');
        env.back('https://shop.example/start?x=1');
        env.back('https://shop.example/start?x=1#top'); // hash only
        settle(env);
        assert.deepEqual(pages(env), [
          'https://shop.example/start?x=1',
          'https://shop.example/products?id=1',
          'https://shop.example/products?id=2',
          'https://shop.example/start?x=1',
        ]);
      });

      test('data-auto-page="false" sends no automatic page view; fairtrack("page") still works', () => {
        const env = load(code, { attrs: { 'auto-page': 'false' }, page: STUB + "fairtrack('consent', {})" });
        env.win.history.pushState({}, '', '/elsewhere');
        env.ft('page', { section: 'docs' });
        settle(env);
        assert.equal(env.events().length, 1);
        assert.deepEqual(env.events()[0].properties, { section: 'docs' });
        assert.equal(env.events()[0].context.page.path, '/elsewhere');
      });
    });

    // -- transport ------------------------------------------------------------------------------
    describe('transport', () => {
      for (const beacon of ['false', 'missing', 'throw']) {
        test(`sendBeacon ${beacon}: fetch keepalive, no credentials, text/plain`, () => {
          const env = load(code, { beacon, page: STUB + "fairtrack('consent', {analytics: true})" });
          settle(env);
          const [batch] = env.batches();
          assert.equal(batch.via, 'fetch');
          assert.equal(batch.init.method, 'POST');
          assert.equal(batch.init.keepalive, true);
          assert.equal(batch.init.credentials, 'omit');
          assert.deepEqual({ ...batch.init.headers }, { 'content-type': 'text/plain' });
          assert.equal(typeof batch.init.body, 'string');
          assert.equal(env.receipts().length, 1);
          assert.equal(env.sent.filter((s) => s.url.endsWith('/v1/consent'))[0].via, 'fetch');
        });
      }

      test('the beacon works: no fetch at all', () => {
        const env = load(code, { page: STUB + "fairtrack('consent', {analytics: true})" });
        settle(env);
        assert.ok(env.sent.length >= 2);
        assert.ok(env.sent.every((s) => s.via === 'beacon'));
      });

      test('batching: a 500 ms window, or at once at 20 events', () => {
        const env = load(code, { attrs: { 'auto-page': 'false' }, page: STUB + "fairtrack('consent', {})" });
        for (let i = 0; i < 19; i++) env.ft('track', 'E' + i);
        env.advance(400);
        assert.equal(env.batches().length, 0);
        env.advance(200);
        assert.deepEqual(
          env.batches().map((b) => b.body.batch.length),
          [19]
        );
        for (let i = 0; i < 20; i++) env.ft('track', 'F' + i);
        assert.deepEqual(
          env.batches().map((b) => b.body.batch.length),
          [19, 20]
        );
      });

      test('page hide flushes at once', () => {
        const env = load(code, { page: STUB + "fairtrack('consent', {})" });
        env.ft('track', 'Last');
        env.pagehide();
        assert.ok(byEvent(env, 'Last'));
      });

      test('requests stay under 64 KB: big batches are split, every event sent once, in order', () => {
        const env = load(code, { attrs: { 'auto-page': 'false' }, page: STUB + "fairtrack('consent', {})" });
        const blob = 'é'.repeat(3000); // 6000 bytes in UTF-8, 3000 characters
        const names = numbered('Big', 19);
        for (const name of names) env.ft('track', name, { blob });
        settle(env);
        assert.ok(env.batches().length >= 2, 'split');
        for (const b of env.batches()) assert.ok(Buffer.byteLength(b.raw) < 65536, `${Buffer.byteLength(b.raw)} bytes`);
        assert.deepEqual(sentNames(env), names);
      });
    });

    // -- consent receipts -----------------------------------------------------------------------
    describe('consent receipts', () => {
      test('explicit: one receipt per change, with the visitor id and the categories', () => {
        const env = load(code, { page: STUB + "fairtrack('identify', 'user-3')" });
        env.ft('consent', { analytics: true, advertising: false, junk: 'yes' });
        env.ft('consent', { analytics: true, advertising: false });
        env.ft('consent', { analytics: true, advertising: true });
        settle(env);
        const receipts = env.receipts();
        assert.equal(receipts.length, 2);
        const aid = env.events()[0].anonymousId;
        assert.deepEqual(receipts[0], {
          writeKey: 'wk-test',
          anonymousId: aid,
          userId: 'user-3',
          timestamp: receipts[0].timestamp,
          consent: { categoryPreferences: { analytics: true, advertising: false } },
        });
        assert.match(receipts[0].timestamp, ISO);
        assert.deepEqual(receipts[1].consent.categoryPreferences, { analytics: true, advertising: true });
        const req = env.sent.find((s) => s.url.endsWith('/v1/consent'));
        assert.equal(req.url, 'https://gw.example:8443/v1/consent');
        assert.equal(req.type, 'text/plain');
      });

      test('Consent Mode: none for defaults, one per update that changes gcd/gcs', () => {
        const env = load(code, { page: GTAG + "gtag('consent','default',{analytics_storage:'denied',ad_storage:'denied'})" });
        settle(env);
        assert.equal(env.receipts().length, 0);
        env.run("gtag('consent','update',{analytics_storage:'granted'})");
        env.run("gtag('consent','update',{analytics_storage:'granted'})"); // no change
        env.run("gtag('consent','update',{ad_storage:'granted'})");
        const receipts = env.receipts();
        assert.deepEqual(
          receipts.map((r) => [r.gcd, r.gcs]),
          [
            ['13p3r3l3l5', 'G101'],
            ['13r3r3l3l5', 'G111'],
          ]
        );
        assert.equal(receipts[0].anonymousId, env.events()[0].anonymousId);
        assert.equal(receipts[0].consent, undefined);
      });

      test('TCF: a new useractioncomplete string sends one; the same string again does not', () => {
        const env = load(code, { page: TCF_STUB('tcloaded', ALL_TC, [1, 8, 9]) });
        env.run(`__tcfFire('useractioncomplete', '${ALL_TC}', [1, 8, 9])`);
        assert.equal(env.receipts().length, 0, 'unchanged');
        env.run(`__tcfFire('useractioncomplete', '${NONE_TC}', [])`);
        assert.deepEqual(
          env.receipts().map((r) => r.tcString),
          [NONE_TC]
        );
        // purpose 1 withdrawn: the stored id goes
        assert.equal(env.storage.length, 0);
      });
    });

    // -- robustness -----------------------------------------------------------------------------
    describe('robustness', () => {
      test('unknown commands and bad arguments warn without personal data and never throw', () => {
        const env = load(code, { page: STUB + "fairtrack('consent', {})" });
        assert.doesNotThrow(() => {
          env.ft('nonsense', 'secret@example.com');
          env.ft('track');
          env.ft('track', { email: 'secret@example.com' });
          env.ft('consent', 'yes');
          env.ft();
        });
        assert.ok(env.warnings.length >= 3);
        assert.ok(env.warnings.every((w) => !w.includes('secret')));
      });

      test('transport that throws everywhere never reaches the page', () => {
        const env = load(code, { beacon: 'throw', fetchThrows: true, page: STUB + "fairtrack('consent', {})" });
        assert.doesNotThrow(() => {
          env.ft('track', 'X');
          settle(env);
          env.hide();
        });
      });

      test('no data-write-key: a warning, nothing sent', () => {
        const env = load(code, { attrs: { 'write-key': undefined }, page: STUB + "fairtrack('consent', {})" });
        env.advance(6000);
        assert.equal(env.sent.length, 0);
        assert.ok(env.warnings.some((w) => w.includes('data-write-key')));
      });

      test('loaded twice: the second copy does nothing', () => {
        const env = load(code, { page: STUB + "fairtrack('consent', {})" });
        env.run(code);
        settle(env);
        assert.equal(env.events().filter((e) => e.type === 'page').length, 1);
      });
    });
  });
}

// A CMP's __tcfapi: answers addEventListener at once with ``status``; __tcfFire(...) answers again
// (a user decision). ``purposes``: the purpose consents tcData reports.
function TCF_STUB(status, tcString, purposes, gdprApplies = true) {
  return `
    var __tcfListeners = [];
    function __tcfData(status, tcString, purposes, gdprApplies) {
      var consents = {}; purposes.forEach(function (p) { consents[p] = true; });
      return { eventStatus: status, tcString: tcString, gdprApplies: gdprApplies, purpose: { consents: consents }, listenerId: 1 };
    }
    window.__tcfapi = function (command, version, cb) {
      if (command === 'addEventListener') { __tcfListeners.push(cb); cb(__tcfData(${JSON.stringify(status)}, ${JSON.stringify(tcString)}, ${JSON.stringify(purposes)}, ${gdprApplies}), true); }
    };
    function __tcfFire(status, tcString, purposes) {
      __tcfListeners.forEach(function (cb) { cb(__tcfData(status, tcString, purposes, true), true); });
    }
  `;
}
