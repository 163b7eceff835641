"""Where a client can put a value: derived from the ingest models and adapters, never listed by hand.

Used by :mod:`fairtrack_tools.proofs.closed_world`. Four sources, each read from the code as it is now, so
a field or parameter added later is a place without editing anything here:

- **Segment/RudderStack events**: the JSON schema of :class:`fairtrack.protocols.segment.SegmentEvent`
  (pydantic), walked to every depth. Every typed field is a place; every object that accepts keys it
  does not declare (``extra`` allow or ignore, ``dict[str, Any]``) gives four more: a value under a
  new key, a key that is itself the value, a nested object (depth 3) and a list under a new key.
  The raw consent objects leave the context before the model sees them: where they come from is
  found by trying each field of :class:`fairtrack.hit.ConsentSignals` at ``context.<field>`` and
  ``context.consent.<field>`` through :func:`~fairtrack.protocols.segment.parse_event`; the keys the
  consent stage reads inside RudderStack's object by running it on a recording dict.
- **the batch envelope**: the keys :func:`~fairtrack.protocols.segment.batch_events` and
  :func:`fairtrack.api.body.write_key_of` read, recorded; its ``context`` is checked to land in each
  event's context (so it takes the context's places), and the envelope accepts unknown keys.
- **gtag** ``/g/collect``: :func:`fairtrack.protocols.gtag.hits` runs on a dict that records every
  parameter read (``get``, ``[]``, ``in``); keys it only iterates over are found by giving it keys
  that record what they are compared with after being split (``ep``/``epn``... prefixes) and keys
  sampled from the module's regular expressions (``pr1``); a parameter whose value is split into
  two-letter fields (items) is probed code by code. Each place's value is traced to where it lands
  in the canonical hit (for the format allowance).
- **headers**: the ones ingest reads, recorded by running :class:`fairtrack.ingest.Ingestor` in
  process on a recording header dict (fakes for the store and the queue), plus every header name
  the layer's source reads as a literal.
"""

from __future__ import annotations

import ast
import contextlib
import itertools
import json
import re
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fairtrack.protocols import gtag as gtag_protocol
from fairtrack.protocols import segment as segment_protocol

NEW = "<new key>"  # a value under a key the model does not declare
KEY = "<personal key>"  # the key itself is the planted value
NESTED = "<nested>"  # a new key holding an object holding an object holding the value
LIST = "<list>"  # a new key holding a list: the value, and an object holding another
OPEN_TOKENS = (NEW, KEY, NESTED, LIST)

SEGMENT, BATCH, GTAG, HEADER = "segment", "batch", "gtag", "header"


@dataclass(frozen=True)
class Place:
    protocol: str  # segment (an event), batch (the batch envelope), gtag (a parameter), header
    path: tuple[str, ...]  # keys from the event / envelope; gtag: (parameter,) or (parameter, code)
    shape: str  # text, integer, number, boolean, timestamp, enum, open (a token of OPEN_TOKENS), any
    found_by: str
    max_length: int | None = None
    hit_path: str | None = None  # where the value lands in the canonical hit, when known

    @property
    def name(self) -> str:
        if self.protocol == GTAG:
            return "gtag " + "~".join(self.path)
        if self.protocol == HEADER:
            return "header " + self.path[0]
        return f"{self.protocol} " + ".".join(self.path)


# ------------------------------------------------------------------------------------------------
# Recording containers
# ------------------------------------------------------------------------------------------------


@dataclass
class ReadLog:
    keys: list[str] = field(default_factory=list)  # keys read from a RecordingDict, in order
    compared: set[tuple[str, str]] = field(default_factory=set)  # (how the str was made, what it met)
    splits: set[str] = field(default_factory=set)  # separators a RecordingStr value was split on

    def key(self, key: object) -> None:
        text = str(key)
        if text not in self.keys:
            self.keys.append(text)


class RecordingDict(dict[Any, Any]):
    """A dict that notes every key looked up (``get``, ``[]``, ``in``, ``pop``, ``setdefault``)."""

    def __init__(self, data: dict[Any, Any], log: ReadLog) -> None:
        super().__init__(data)
        self.log = log

    def get(self, key: Any, default: Any = None) -> Any:
        self.log.key(key)
        return super().get(key, default)

    def __getitem__(self, key: Any) -> Any:
        self.log.key(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.log.key(key)
        return super().__contains__(key)

    def pop(self, key: Any, *default: Any) -> Any:
        self.log.key(key)
        return super().pop(key, *default)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self.log.key(key)
        return super().setdefault(key, default)


class RecordingStr(str):
    """A str that notes what its parts are compared with, and what it is split on."""

    log: ReadLog
    origin: str

    def __new__(cls, value: str, log: ReadLog, origin: str = "") -> RecordingStr:
        made = super().__new__(cls, value)
        made.log = log
        made.origin = origin
        return made

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str) and self.origin:
            self.log.compared.add((self.origin, str(other)))
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = str.__hash__

    def partition(self, sep: str) -> tuple[str, str, str]:
        head, found, tail = str.partition(self, sep)
        return RecordingStr(head, self.log, f"before {sep}"), found, RecordingStr(tail, self.log, f"after {sep}")

    def split(self, sep: str | None = None, maxsplit: int = -1) -> list[str]:  # type: ignore[override]
        if sep is not None:
            self.log.splits.add(sep)
        return [RecordingStr(p, self.log, f"split {sep}") for p in str.split(self, sep, maxsplit)]

    def startswith(self, prefix: Any, *args: Any) -> bool:
        for p in prefix if isinstance(prefix, tuple) else (prefix,):
            self.log.compared.add(("prefix", str(p)))
        return str.startswith(self, prefix, *args)


# ------------------------------------------------------------------------------------------------
# Segment / RudderStack events: the model's JSON schema, walked
# ------------------------------------------------------------------------------------------------


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    options = [o for o in node.get("anyOf", []) if o.get("type") != "null"]
    if options and len(options) == 1:
        return _resolve(options[0], defs)
    return node


def _shape(node: dict[str, Any]) -> str:
    if "enum" in node or "const" in node:
        return "enum"
    if node.get("format") in ("date-time", "date", "time"):
        return "timestamp"
    kind = node.get("type")
    if kind == "string":
        return "text"
    if kind in ("integer", "number", "boolean"):
        return str(kind)
    return "any"


def open_places(protocol: str, path: tuple[str, ...], found_by: str) -> list[Place]:
    return [Place(protocol, (*path, token), "open", found_by) for token in OPEN_TOKENS]


def schema_places(
    schema: dict[str, Any], protocol: str, prefix: tuple[str, ...] = (), found_by: str = "model schema"
) -> list[Place]:
    """Every field (typed) and every open object (four places each) of a JSON schema, at any depth."""
    defs: dict[str, Any] = schema.get("$defs", {})
    out: list[Place] = []

    def walk(node: dict[str, Any], path: tuple[str, ...], depth: int) -> None:
        node = _resolve(node, defs)
        if depth > 12:
            return
        if node.get("type") == "object" or "properties" in node:
            for name, sub in (node.get("properties") or {}).items():
                walk(sub, (*path, name), depth + 1)
            if node.get("additionalProperties", True) is not False:
                out.extend(open_places(protocol, path, found_by))
            return
        if node.get("type") == "array":
            walk(node.get("items") or {}, (*path, "[0]"), depth + 1)
            return
        if "anyOf" in node:  # several shapes: the value is the planted text
            out.append(Place(protocol, path, "any", found_by))
            return
        out.append(Place(protocol, path, _shape(node), found_by, node.get("maxLength")))

    walk(schema, prefix, 0)
    return out


def _set(obj: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        obj = obj.setdefault(key, {})
    obj[path[-1]] = value


def consent_object_places(
    parse: Callable[..., Any] = segment_protocol.parse_event,
) -> list[Place]:
    """Where the raw consent objects come from, found by trying each ConsentSignals field at each
    context position, and the keys the adapter and the consent stage read inside them."""
    from fairtrack import consent as consent_stage
    from fairtrack.hit import ConsentSignals

    out: list[Place] = []
    signal_fields = ConsentSignals.model_json_schema().get("properties", {})
    for name, node in signal_fields.items():
        is_object = _resolve(node, {}).get("type") == "object"
        for where in (("context", name), ("context", "consent", name)):
            probe: Any = {"probe": True} if is_object else "probe-9f3k"
            event: dict[str, Any] = {"type": "track", "event": "x", "anonymousId": "a-1"}
            _set(event, where, probe)
            parsed = parse(event, implied_type=None)
            if isinstance(parsed, list):
                continue
            if getattr(parsed.consentSignals, name, None) == probe:
                if is_object:
                    out.extend(open_places(SEGMENT, where, "consent signal, found by probing"))
                else:
                    out.append(Place(SEGMENT, where, "text", "consent signal, found by probing"))
    # the container of the strings (context.consent) accepts keys it does not read
    if any(p.path[:2] == ("context", "consent") for p in out):
        out.extend(open_places(SEGMENT, ("context", "consent"), "consent container"))
    # keys the consent stage reads inside the RudderStack object
    managed = [p.path[:-1] for p in out if p.path[-1] == NEW]
    policy = default_policy()
    for container in managed:
        log = ReadLog()
        with contextlib.suppress(Exception):
            consent_stage.rudder_purposes(RecordingDict({}, log), policy)
        if log.keys and container[-1] == "consentManagement":
            out.extend(Place(SEGMENT, (*container, k), "any", "read by the consent stage") for k in log.keys)
    return out


def default_policy() -> Any:
    from fairtrack.policy import Policy
    from fairtrack_tools.local.runtime import PROJECT_ROOT
    from fairtrack_tools.ops import policy_ops

    return Policy.model_validate(policy_ops.load_policy_file(PROJECT_ROOT / "policies" / "default.yaml"))


def segment_places(model: Any = None) -> list[Place]:
    model = model or segment_protocol.SegmentEvent
    places = schema_places(model.model_json_schema(), SEGMENT)
    places += consent_object_places()
    return _unique(places)


def batch_places() -> list[Place]:
    """The batch envelope: keys read by the adapter and write-key lookup, recorded; a ``context``
    found to land in each event's context takes the context's places; unknown keys are accepted."""
    from fairtrack import ingest
    from fairtrack.api.body import write_key_of

    log = ReadLog()
    body = RecordingDict({"batch": [{"type": "track", "context": {}}], "context": {"probe": 1}}, log)
    events, _, _ = segment_protocol.batch_events(body)
    shared_to_context = bool(events) and isinstance(events[0][1], dict) and events[0][1]["context"].get("probe") == 1
    with contextlib.suppress(Exception):
        request = ingest.IngestRequest(None, False, {}, {}, None, datetime.now(UTC), "r")
        write_key_of(request, body)
    out: list[Place] = []
    schema = segment_protocol.SegmentEvent.model_json_schema()
    context_node = schema["properties"].get("context", {})
    for key in log.keys:
        if key == "batch":
            continue  # the events themselves
        if key == "context" and shared_to_context:
            sub = {"$defs": schema.get("$defs", {}), **context_node}
            out += schema_places(sub, BATCH, ("context",), "batch context (lands in each event's)")
        elif key == "sentAt":
            out.append(Place(BATCH, (key,), "timestamp", "read by batch_events"))
        else:
            out.append(Place(BATCH, (key,), "text", "read by the adapter"))
    out += open_places(BATCH, (), "the envelope accepts unknown keys")
    return _unique(out)


# ------------------------------------------------------------------------------------------------
# gtag: parameters found by running the adapter on recording containers
# ------------------------------------------------------------------------------------------------


def _sample(pattern: re.Pattern[str]) -> str | None:
    """The shortest string a (simple) regular expression matches, or None."""
    try:
        import re._parser as sre_parse  # type: ignore[import-not-found, unused-ignore]
    except ImportError:  # pragma: no cover
        import sre_parse  # type: ignore[no-redef, unused-ignore]

    def build(items: Any) -> str:
        out = ""
        for op, arg in items:
            name = str(op)
            if name == "LITERAL":
                out += chr(arg)
            elif name == "IN":
                for sub_op, sub_arg in arg:
                    if str(sub_op) == "LITERAL":
                        out += chr(sub_arg)
                        break
                    if str(sub_op) == "RANGE":
                        out += chr(sub_arg[0])
                        break
                    if str(sub_op) == "CATEGORY":
                        out += "1" if "DIGIT" in str(sub_arg) else "a"
                        break
            elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                low, _, sub = arg
                out += build(sub) * max(low, 0)
            elif name == "SUBPATTERN":
                out += build(arg[-1])
            elif name == "BRANCH":
                out += build(arg[1][0])
            elif name == "ANY":
                out += "a"
            elif name == "CATEGORY":
                out += "1" if "DIGIT" in str(arg) else "a"
        return out

    try:
        text = build(sre_parse.parse(pattern.pattern, pattern.flags))
    except Exception:  # noqa: BLE001 - an expression this sampler cannot read: no sample
        return None
    return text if pattern.fullmatch(text) or pattern.match(text) else None


GtagRun = Callable[[dict[str, str]], Any]


def _gtag_run(params: dict[str, str]) -> Any:
    """The adapter on one event's parameters: the canonical hit as JSON, or its errors."""
    collect = gtag_protocol.Collect(params.get("tid") or "G-PROBE", [(0, params)], [])
    for _, hit in gtag_protocol.hits(collect, datetime(2026, 1, 1, tzinfo=UTC), "probe-agent/1.0", None):
        return hit if isinstance(hit, list) else hit.model_dump(mode="json")
    return None


BASE_GTAG = {"v": "2", "tid": "G-PROBE", "en": "probe_event", "cid": "1.2", "_p": "77"}  # _p: ids derived, not random


def _paths_holding(obj: Any, needle: str, prefix: str = "") -> Iterator[str]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            if needle in str(k):
                yield path
            yield from _paths_holding(v, needle, path)
    elif isinstance(obj, list):
        for v in obj:
            yield from _paths_holding(v, needle, prefix)
    elif needle in str(obj):
        yield prefix


def gtag_places(run: GtagRun = _gtag_run, module: Any = gtag_protocol) -> list[Place]:
    log = ReadLog()
    probes = {RecordingStr("q.q", log, "key"): "1", RecordingStr("qq", log, "key"): "1"}
    for k, v in BASE_GTAG.items():
        probes[RecordingStr(k, log, "key")] = v
    with contextlib.suppress(Exception):
        run(RecordingDict(probes, log))
    keys: list[tuple[str, str]] = [(k, "read by the adapter") for k in log.keys]
    baseline = run(dict(BASE_GTAG))
    # keys only iterated over: the adapter split them and compared the parts (ep., epn., ...)
    for how, met in sorted(log.compared):
        if how.startswith("before "):
            sep = how.removeprefix("before ")
            keys.append((f"{met}{sep}probe", "split and compared by the adapter"))
    # keys matched by the module's regular expressions (pr1 ...)
    for value in vars(module).values():
        if isinstance(value, re.Pattern) and isinstance(value.pattern, str):
            sample = _sample(value)
            if sample and sample not in BASE_GTAG and run({**BASE_GTAG, sample: "idzq7zq"}) != baseline:
                keys.append((sample, "matched by " + value.pattern))
    out: list[Place] = []
    seen: set[str] = set()
    for key, how in keys:
        if key in seen or key.startswith("q"):
            continue
        seen.add(key)
        out.extend(_gtag_value_places(key, how, run))
    return out


def _gtag_value_places(key: str, how: str, run: GtagRun) -> list[Place]:
    family = key.endswith(".probe")
    shown = key.removesuffix("probe") + "<name>" if family else key
    probe = "zq7zqx"
    got = run({**BASE_GTAG, key: probe})
    paths = sorted(_paths_holding(got, probe)) if not isinstance(got, list) else []
    if not paths:
        digits = run({**BASE_GTAG, key: "7739"})
        paths = sorted(_paths_holding(digits, "7739")) if not isinstance(digits, list) else []
    out = [Place(GTAG, (shown,), "text", how, hit_path=paths[0] if paths else None)]
    if family:  # the parameter's name is client text too
        out.append(Place(GTAG, (key.removesuffix("probe") + KEY,), "open", how))
        return out
    log = ReadLog()
    with contextlib.suppress(Exception):
        run(RecordingDict({**BASE_GTAG, key: RecordingStr("ab1~cd2", log, "value")}, log))
    if not paths and log.splits:  # the value is read field by field: its fields are the places
        coded = [p for sep in sorted(log.splits) for p in _gtag_code_places(key, sep, how, run)]
        if coded:
            return coded
    return out


def _gtag_code_places(key: str, sep: str, how: str, run: GtagRun) -> list[Place]:
    """A parameter split into fields named by a two-character code (``id``, ``nm``; ``k1``/``v1``):
    every code whose text lands in the hit, tried one by one."""
    out: list[Place] = []
    alphabet = string.ascii_lowercase + string.digits
    for a, b in itertools.product(alphabet, repeat=2):
        code = a + b
        got = run({**BASE_GTAG, key: f"{code}zqzq9"})
        if not isinstance(got, list):
            paths = sorted(_paths_holding(got, "zqzq9"))
            if paths:
                out.append(Place(GTAG, (key, code), "text", f"{how}; code found by probing", hit_path=paths[0]))
    for a, b in itertools.product(string.ascii_lowercase, repeat=2):
        got = run({**BASE_GTAG, key: f"{a}1zqname{sep}{b}1zqvalue"})
        if not isinstance(got, list) and list(_paths_holding(got, "zqvalue")):
            out.append(Place(GTAG, (key, f"{a}N{KEY}"), "open", f"{how}; custom pair found by probing"))
            out.append(Place(GTAG, (key, f"{b}N"), "text", f"{how}; custom pair found by probing"))
            break
    return out


# ------------------------------------------------------------------------------------------------
# Headers ingest reads
# ------------------------------------------------------------------------------------------------

_HEADER_READ = re.compile(r"""headers(?:\.get\(|\[)\s*["']([A-Za-z0-9-]+)["']""")


class _FakeStore:
    def __init__(self, policy: Any) -> None:
        from fairtrack.stores.policy_table import Source

        self.policy = policy
        self.source = Source(source_id="probe", origins=["https://shop.example"], measurement_ids=["G-PROBE"])

    def source_for_write_key(self, key: str) -> Any:
        return self.source

    def source_for_measurement_id(self, mid: str) -> Any:
        return self.source

    def active_policy(self) -> Any:
        return self.policy

    def suppressed(self) -> frozenset[str]:
        return frozenset()

    def origin_allowed(self, origin: str) -> bool:
        return True


class _FakeSender:
    def send_all(self, messages: list[tuple[str, str]], correlation_id: str = "") -> list[None]:
        return [None] * len(messages)


class _FakeSalts:
    def daily_id(self, *args: Any) -> str:
        return "daily"


def probe_ingestor() -> Any:
    """An in-process Ingestor with fakes for the store, the queues and the salts (no AWS)."""
    from fairtrack.anonymise.pseudonym import Pseudonymiser
    from fairtrack.ingest import Ingestor
    from fairtrack.settings import IngestSettings

    settings = IngestSettings(
        ga4_queue_url="q-ga4",
        meta_queue_url="q-meta",
        webhook_queue_url="q-webhook",
        lake_queue_url="q-lake",
        trusted_proxy="hops:1",  # X-Forwarded-For's last entry is the visitor
    )
    return Ingestor(
        settings,
        store=_FakeStore(default_policy()),  # type: ignore[arg-type]
        sender=_FakeSender(),  # type: ignore[arg-type]
        pseudonymiser=Pseudonymiser(b"k" * 32),
        salts=_FakeSalts(),  # type: ignore[arg-type]
    )


def header_places(layer_root: Path | None = None) -> list[Place]:
    import logging

    from fairtrack import ingest

    found: dict[str, str] = {}
    log = ReadLog()
    logging.disable(logging.CRITICAL)
    try:
        ingestor = probe_ingestor()
        now = datetime.now(UTC)
        base = {
            "authorization": "Basic ZGV2LXdyaXRlLWtleTo=",
            "user-agent": "probe/1.0",
            "x-forwarded-for": "203.0.113.9",
            "origin": "https://shop.example",
        }
        event = {"type": "track", "event": "x", "anonymousId": "a-1"}
        calls: list[tuple[str, Callable[[Any], Any], str, str, str]] = [
            ("POST", lambda r: ingestor.segment(r, "track"), json.dumps(event), "", ""),
            ("POST", ingestor.segment_batch, json.dumps({"batch": [event]}), "", ""),
            ("GET", ingestor.gtag, "", "v=2&tid=G-PROBE&en=page_view&cid=1.2", "v=2&tid=G-PROBE&en=page_view&cid=1.2"),
        ]
        for method, call, body, query, raw in calls:
            headers = RecordingDict(dict(base), log)
            request = ingest.IngestRequest(
                body, False, headers, dict(p.split("=", 1) for p in query.split("&") if p), "198.51.100.7", now, "r",
                method=method, raw_query=raw,
            )  # fmt: skip
            with contextlib.suppress(Exception):
                call(request)
        found.update((k.lower(), "read by ingest, recorded") for k in log.keys)
    except Exception:  # noqa: BLE001, S110 - the source scan below still finds the literal reads
        pass
    finally:
        logging.disable(logging.NOTSET)
    root = layer_root or Path(ingest.__file__).parent
    for path in sorted(root.rglob("*.py")):
        with contextlib.suppress(OSError, SyntaxError):
            ast.parse(path.read_text())  # only readable modules
            for match in _HEADER_READ.finditer(path.read_text()):
                found.setdefault(match.group(1).lower(), f"read in {path.name}")
    return [Place(HEADER, (name,), "text", how) for name, how in sorted(found.items())]


def _unique(places: list[Place]) -> list[Place]:
    seen: dict[tuple[str, tuple[str, ...]], Place] = {}
    for p in places:
        seen.setdefault((p.protocol, p.path), p)
    return list(seen.values())


def all_places() -> list[Place]:
    return _unique(segment_places() + batch_places() + gtag_places() + header_places())
