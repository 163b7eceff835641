"""Bodies the fuzzer sends: Segment/RudderStack events, batches and consent, and gtag ``/g/collect`` hits."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote

from hypothesis import strategies as st

from fairtrack_tools.proofs.fuzz.values import (
    CANARY_IP,
    MEASUREMENT_ID,
    USER_AGENTS,
    WRITE_KEY,
    Obj,
    adversarial_text,
    build,
    canary_email,
    json_values,
    obj,
    pick,
    scalars,
    texts,
    timestamps,
    value_or,
    wild_text,
)

# -- Segment / RudderStack bodies ---------------------------------------------------------------------

EVENT_TYPES = ("track", "page", "screen", "identify", "group", "alias")
URLS = (
    "https://shop.example/checkout?step=2",
    "https://shop.example/thanks?email={email}&gclid=abc",
    "https://shop.example/u/{email}/orders",
    "https://198.51.100.77/admin?token=secret",
    "https://shop.example/p?utm_source=news&fbclid=x",
    "http://[::1",
    "https://shop.example/%E0%A4%A",
    "https://shop.example:99999/",
    "https://xn--n3h.example/\u2603?q=%ZZ",
    "http://\uff03evil.example/",
    "http://a\u2100b/",
    "//shop.example/x",
    "shop.example/no-scheme",
)


@st.composite
def page_object(draw: st.DrawFn, n: int, chaos: int) -> Obj:
    url = st.sampled_from([u.format(email=canary_email(n)) for u in URLS])
    return build(
        [
            ("url", draw(value_or(url, n, chaos))),
            ("path", draw(value_or(pick(chaos, ("/", "/checkout", f"/u/{canary_email(n)}"), ("",)), n, chaos))),
            ("search", draw(value_or(pick(chaos, ("?a=1", f"?email={canary_email(n)}")), n, chaos))),
            ("referrer", draw(value_or(url, n, chaos))),
            ("title", draw(value_or(texts, n, chaos))),
        ]
    )


@st.composite
def consent_object(draw: st.DrawFn, n: int, chaos: int) -> Obj:
    values = st.booleans() if chaos == 0 else st.one_of(st.booleans(), st.booleans(), scalars(n))
    prefs = st.dictionaries(
        pick(chaos, ("analytics", "advertising", "functional", "C0002", "C0004", "marketing"), ("", "x" * 200)),
        values,
        max_size=4,
    ).map(lambda d: Obj(tuple(d.items())))
    return build([("categoryPreferences", draw(value_or(prefs, n, chaos, required=True)))])


@st.composite
def rudder_consent(draw: st.DrawFn, n: int, chaos: int) -> Obj:
    ids = st.lists(st.one_of(pick(chaos, ("C0002", "C0004", "1"), ("",)), st.integers(0, 99)), max_size=4)
    return build(
        [
            ("provider", draw(value_or(st.sampled_from(("oneTrust", "ketch", "custom")), n, chaos))),
            ("allowedConsentIds", draw(value_or(ids, n, chaos))),
            ("deniedConsentIds", draw(value_or(ids, n, chaos))),
            ("resolutionStrategy", draw(value_or(pick(chaos, ("and", "or", "OR"), ("xor",)), n, chaos))),
        ]
    )


@st.composite
def context_object(draw: st.DrawFn, n: int, chaos: int) -> Obj:
    traits = build(
        [
            ("email", canary_email(n)),
            ("name", draw(value_or(st.just("Jane Canary"), n, chaos))),
            ("phone", draw(value_or(st.just(f"+49 30 1234{n:04d}"), n, chaos))),
            ("address", draw(value_or(st.just(obj(city="Berlin", postalCode=10115)), n, chaos))),
        ]
    )
    hints = obj(
        brands=[obj(brand="Chromium", version="131")],
        mobile=draw(st.booleans() if chaos == 0 else st.one_of(st.booleans(), scalars(n))),
        platform=draw(value_or(st.just("Linux"), n, chaos)),
        fullVersionList=draw(value_or(st.just([obj(brand="Chromium", version="131.0.1")]), n, chaos)),
    )
    return build(
        [
            ("page", draw(value_or(page_object(n, chaos), n, chaos))),
            ("consent", draw(value_or(consent_object(n, chaos), n, chaos))),
            ("consentManagement", draw(value_or(rudder_consent(n, chaos), n, chaos))),
            ("userAgent", draw(value_or(pick(chaos, USER_AGENTS[:6], USER_AGENTS[6:]), n, chaos))),
            ("userAgentData", draw(value_or(st.just(hints), n, chaos))),
            ("locale", draw(value_or(pick(chaos, ("de-DE", "en"), ("x" * 600,)), n, chaos))),
            ("timezone", draw(value_or(st.just("Europe/Berlin"), n, chaos))),
            ("ip", draw(value_or(st.just(CANARY_IP), n, chaos))),
            ("traits", draw(value_or(st.just(traits), n, chaos))),
            ("library", draw(value_or(st.just(obj(name="analytics.js", version="next-1.70.0")), n, chaos))),
            ("campaign", draw(value_or(st.just(obj(name="spring", source=canary_email(n))), n, chaos))),
            ("session", draw(value_or(st.just(obj(id=123, number=3, engaged=True)), n, chaos))),
            ("screen", draw(value_or(st.just(obj(width=1920, height=1080)), n, chaos))),
        ]
    )


@st.composite
def properties_object(draw: st.DrawFn, n: int, chaos: int) -> Obj:
    numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers())
    extra = st.tuples(st.one_of(texts, adversarial_text(n)), json_values(n, 6))
    return build(
        [
            ("order_id", draw(value_or(st.just("ord_1042"), n, chaos))),
            ("revenue", draw(value_or(numbers, n, chaos))),
            ("currency", draw(value_or(pick(chaos, ("EUR", "eur"), ("", "EURO")), n, chaos))),
            ("email", draw(value_or(st.just(canary_email(n)), n, chaos))),
            ("note", draw(value_or(st.just(f"call me at +49 30 1234{n:04d} or {canary_email(n)}"), n, chaos))),
            ("url", draw(value_or(st.just(f"https://shop.example/?e={canary_email(n)}"), n, chaos))),
            ("items", draw(value_or(st.just([obj(item_id="SKU-1", price=89.9, quantity=1)]), n, chaos))),
        ],
        draw(st.lists(extra, max_size=0 if chaos == 0 else 3)),
    )


@st.composite
def segment_event(draw: st.DrawFn, n: int, chaos: int, implied: str | None = None) -> Obj:
    if implied is None:
        kind = draw(st.sampled_from(EVENT_TYPES))
    else:
        kind = implied if chaos == 0 else draw(st.sampled_from((implied, implied, *EVENT_TYPES)))
    ids = st.one_of(pick(chaos, (f"anon-{n}", canary_email(n), f" {n} "), ("   ", "x" * 201)), st.integers())
    # on a typed route the type may be left out; the fields a type requires are there at chaos 0
    event = build(
        [
            ("type", draw(value_or(st.just(kind), n, chaos, required=implied is None))),
            (
                "event",
                draw(
                    value_or(
                        pick(chaos, ("Order Completed", "page_view"), ("x" * 201,)), n, chaos, required=kind == "track"
                    )
                ),
            ),
            ("name", draw(value_or(st.just("Home"), n, chaos))),
            ("anonymousId", draw(value_or(ids, n, chaos, required=True))),
            ("userId", draw(value_or(ids, n, chaos))),
            ("groupId", draw(value_or(st.just("grp-1"), n, chaos, required=kind == "group"))),
            ("previousId", draw(value_or(ids, n, chaos, required=kind == "alias"))),
            ("messageId", draw(value_or(st.just(f"msg-{n}"), n, chaos))),
            ("timestamp", draw(value_or(timestamps(chaos), n, chaos))),
            ("originalTimestamp", draw(value_or(timestamps(chaos), n, chaos))),
            ("sentAt", draw(value_or(timestamps(chaos), n, chaos))),
            ("context", draw(value_or(context_object(n, chaos), n, chaos))),
            ("properties", draw(value_or(properties_object(n, chaos), n, chaos))),
            ("traits", draw(value_or(st.just(obj(email=canary_email(n), address=obj(city="Berlin"))), n, chaos))),
            ("integrations", draw(value_or(st.just(obj(All=True)), n, chaos))),
        ]
    )
    if chaos and draw(st.integers(0, 9)) == 0 and event.pairs:  # a duplicate key, the later one different
        key, _ = draw(st.sampled_from(event.pairs))
        event = Obj((*event.pairs, (key, draw(json_values(n, 4)))))
    return event


# a small valid event, repeated to make huge batches without drawing thousands of events
FILLER = obj(type="track", event="e", anonymousId="a-1", properties=obj(n=1))


@st.composite
def batch_body(draw: st.DrawFn, n: int, chaos: int) -> Obj:
    anything = st.one_of(segment_event(n, chaos), json_values(n, 4))
    events = draw(st.lists(segment_event(n, chaos) if chaos == 0 else anything, min_size=chaos == 0, max_size=4))
    size = draw(pick(chaos, (None, None, None, None, 100, 2500), (2501, 5000)))
    if size is not None:  # a huge batch: mostly the filler
        events = ([*events[:1], *[FILLER] * size])[:size]
    return build(
        [
            ("batch", draw(value_or(st.just(events), n, chaos, required=True))),
            ("context", draw(value_or(context_object(n, chaos), n, chaos))),
            ("sentAt", draw(value_or(timestamps(chaos), n, chaos))),
            ("writeKey", draw(value_or(pick(chaos, (WRITE_KEY,), (canary_email(n),)), n, chaos))),
        ]
    )


@st.composite
def consent_body(draw: st.DrawFn, n: int, chaos: int) -> Obj:
    return build(
        [
            (
                "anonymousId",
                draw(value_or(pick(chaos, (f"anon-{n}", canary_email(n)), ("",)), n, chaos, required=True)),
            ),
            ("userId", draw(value_or(st.just(canary_email(n)), n, chaos))),
            ("consent", draw(value_or(consent_object(n, chaos), n, chaos, required=True))),
            ("consentManagement", draw(value_or(rudder_consent(n, chaos), n, chaos))),
            ("gcs", draw(value_or(pick(chaos, ("G111", "G100", "G1--"), ("G1",)), n, chaos))),
            ("gcd", draw(value_or(pick(chaos, ("13r3r3r3r5", "11t1t1t1t5"), ("1",)), n, chaos))),
            ("npa", draw(value_or(pick(chaos, ("0", "1")), n, chaos))),
            ("tcString", draw(value_or(st.just(VALID_TC) if chaos == 0 else tc_strings, n, chaos))),
            ("timestamp", draw(value_or(timestamps(chaos), n, chaos))),
        ]
    )


# -- gtag ---------------------------------------------------------------------------------------------

# a real TC string (IAB TCF v2.2), and the ways one can be wrong
VALID_TC = (
    "CQbwIj_QgVeAAEs___DEBYE0ALCAAAEgAIYgXcQA4FeAWCBdwF3ARXQAwAyAPnBFcAIEgBAAKAAYPAAwABAAYEACAApArwCvQwAGApoEVgAA"
)
TC_STRINGS = (
    "",
    "C",
    "CP",
    VALID_TC[:40],
    VALID_TC + ".YAAAAAAAAAA",
    "!!!!",
    "\u00e9" * 30,
    "A" * 5000,
    "CP%%",
    "\x00",
)
tc_strings = st.one_of(
    st.sampled_from((VALID_TC, *TC_STRINGS)),
    st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.+/="), max_size=120),
    wild_text,
)


# gtag parameters: (name, plausible values, odd values); a callable makes them per request (canary n)
def _gtag_table(n: int) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    email = canary_email(n)
    return [
        ("v", ("2",), ("1", "", "22")),
        ("tid", (MEASUREMENT_ID,), ("G-dev", "G-UNKNOWN", email, "")),
        ("cid", (f"{n}.1795515300",), (email, "")),
        ("uid", (email, "u-1"), ()),
        ("en", ("page_view", "purchase", "scroll", "sign_up"), ("1bad", "x" * 101, "", "page view")),
        ("_p", ("1795515300123",), ("", "x")),
        ("_s", ("1", "2"), ("0", "-1")),
        ("sid", ("1795515300",), ("", "abc")),
        ("sct", ("3",), ("-1", "9" * 20, "x")),
        ("seg", ("1", "0"), ("x",)),
        ("_et", ("5120",), ("1e5", "-1")),
        ("gcs", ("G111", "G100", "G110", "G101"), ("G1--", "G1", "G11111")),
        ("gcd", ("13r3r3r3r5", "11t1t1t1t5", "13p3p3p3p5"), ("1", "1" * 100, "\u00e9" * 9)),
        ("npa", ("0", "1"), ("x",)),
        ("dma", ("0", "1"), ()),
        ("gdpr", ("0", "1"), ("x",)),
        ("gdpr_consent", (VALID_TC,), TC_STRINGS),
        ("us_privacy", ("1YNN",), ("1---", "x")),
        ("dl", (f"https://shop.example/p?email={email}", "https://shop.example/"), ("http://[::1", "http://[", "//x")),
        ("dr", ("https://www.search.example/", f"https://{CANARY_IP}/"), ("http://[",)),
        ("dt", ("Shoes | Shop",), ()),
        ("ul", ("en-gb",), ()),
        ("sr", ("1920x1080",), ("x", "99999999x1", "1920X1080")),
        ("cu", ("EUR",), ("",)),
        ("pr1", ("idSKU-1~nmShoes~pr89.90~qt1",), ("~~~", "pr1e999~qtNaN", "k0a~v0b~k1~v1", "idx" * 3000)),
        ("pr999", ("idA~nmB",), ("pr1000",)),
        ("uafvl", ("Chromium;131.0.6778.85|Not_A%20Brand;24.0.0.0",), ("|||", ";;", "%E0%A4%A")),
        ("uamb", ("0", "1"), ()),
        ("uap", ("Linux",), ()),
        ("_uip", (CANARY_IP,), ()),
        ("ep.email", (email,), ()),
        ("ep.note", (f"write to {email}",), ()),
        ("epn.value", ("89.9", "-1", "0"), ("NaN", "1e999", "-inf", "0x10", "1_000", "\u0661", "9" * 400, "x")),
        ("up.plan", ("pro",), ()),
        ("upn.ltv", ("1",), ("x", "inf")),
        (f"ep.{email}", ("v",), ()),
        (f"epn.{email}", ("1",), ("x",)),
        ("cn", ("spring",), ()),
        ("cs", (email,), ()),
    ]


@st.composite
def gtag_params(draw: st.DrawFn, n: int, chaos: int, *, in_line: bool = True) -> list[tuple[str, str]]:
    """One gtag event's parameters: the plausible ones at chaos 0; odd values and keys above it."""
    out: list[tuple[str, str]] = []
    for name, good, odd in _gtag_table(n):
        roll = draw(st.integers(0, 9))
        if name in ("v", "tid", "en"):
            roll = 0 if chaos == 0 or roll <= 7 else roll
        if roll <= 2 or (chaos == 0 and roll <= 4):
            choices = good if chaos == 0 or not odd or draw(st.integers(0, 3)) else odd
            out.append((name, draw(st.sampled_from(choices))))
        elif roll == 9 and chaos == 2:
            out.append((name, draw(adversarial_text(n, in_line=in_line))))
    if chaos:
        odd_pair = st.tuples(st.one_of(texts, adversarial_text(n, in_line=True)), adversarial_text(n, in_line=in_line))
        out += draw(st.lists(odd_pair, max_size=3))
    return out


@st.composite
def mutated_params(
    draw: st.DrawFn, pairs: list[tuple[str, str]], n: int, *, in_line: bool = True
) -> list[tuple[str, str]]:
    """Well-formed gtag parameters with one to three defects: an odd or adversarial value, an odd
    parameter added, one removed or repeated."""
    table = {name: good + odd for name, good, odd in _gtag_table(n)}
    out = list(pairs)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(("odd", "odd", "text", "add", "drop", "repeat")))
        if kind in ("drop", "repeat") and out:
            i = draw(st.integers(0, len(out) - 1))
            out = out[:i] + out[i + 1 :] if kind == "drop" else [*out, out[i]]
            continue
        name = draw(st.sampled_from(sorted(table)))
        if kind == "odd":
            value = draw(st.sampled_from(table[name]))
        elif kind == "text":
            value = draw(adversarial_text(n, in_line=in_line))
        else:
            name = draw(adversarial_text(n, in_line=True))
            value = draw(st.one_of(texts, adversarial_text(n, in_line=in_line)))
        out = [(k, v) for k, v in out if k != name] + [(name, value)]
    return out


def encode_query(pairs: list[tuple[str, str]], style: str) -> str:
    if style == "raw":  # as typed, unescaped
        return "&".join(f"{k}={v}" for k, v in pairs)
    text = "&".join(
        f"{quote(k, safe='', errors='surrogatepass')}={quote(v, safe='', errors='surrogatepass')}" for k, v in pairs
    )
    if style == "garbled":
        return text + "&%ZZ=%E0%A4&%C0%AF=1&&=&" + "%" * 3
    return text


def parsed_query(raw: str) -> dict[str, str] | None:
    """``queryStringParameters`` as API Gateway makes it: repeated names joined with commas."""
    out: dict[str, str] = {}
    for k, v in parse_qsl(raw, keep_blank_values=True, errors="replace"):
        out[k] = f"{out[k]},{v}" if k in out else v
    return out or None


@st.composite
def gtag_body(draw: st.DrawFn, n: int, chaos: int) -> str:
    """A batched ``/g/collect`` body: one event per line."""
    lines = draw(st.lists(gtag_params(n, 0 if chaos == 1 else chaos, in_line=False), max_size=4))
    if chaos == 1 and lines:
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] = draw(mutated_params(lines[i], n, in_line=False))
    styles = ("encoded",) if chaos == 0 else ("encoded", "encoded", "raw", "garbled")
    text = "\n".join(encode_query(p, draw(st.sampled_from(styles))) for p in lines)
    roll = draw(st.integers(0, 9)) if chaos else 9
    if roll == 0:
        text = text.replace("\n", "\r\n") + "\n\n\r\n"
    elif roll == 1:  # too many lines, or one over 32 KB
        text = "\n".join([f"en=e{i}&_s={i}" for i in range(draw(st.sampled_from((2500, 2501))))])
    elif roll == 2:
        text = "en=big&ep.x=" + "a" * 33_000
    elif roll == 3:
        text = "&".join(f"ep.k{i}=v" for i in range(draw(st.sampled_from((499, 500, 501, 5000)))))
    return text
