"""The closed-world workload: which kinds each place takes (asked of the adapter), and the hits
that plant them, each value unique per place and hit.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fairtrack_tools.local.localcloud import DEV_MEASUREMENT_ID
from fairtrack_tools.proofs.closed_world.places import (
    BATCH,
    GTAG,
    HEADER,
    KEY,
    LIST,
    NESTED,
    NEW,
    SEGMENT,
    Place,
    all_places,
    probe_ingestor,
)
from fairtrack_tools.proofs.closed_world.registry import KINDS, Plant, Registry, Value, make_value, search
from fairtrack_tools.proofs.closed_world.states import State, consent_states
from fairtrack_tools.proofs.traffic import AUTH, Request, now_iso

BASE_EVENT: dict[str, Any] = {"type": "track", "event": "Order", "anonymousId": "anon-1", "messageId": "m-1"}


def _sample_value(kind: str) -> Value:
    return KINDS[kind](Registry(0), "sample", 0)


def _segment_ok(place: Place, value: Any) -> bool:
    from fairtrack.protocols.segment import batch_events, parse_event

    if place.protocol == BATCH:
        body: dict[str, Any] = {"batch": [dict(BASE_EVENT)]}
        _put(body, place.path, value)
        events, errors, _ = batch_events(body)
        return not errors and all(not isinstance(parse_event(e, implied_type=None), list) for _, e in events)
    event = json.loads(json.dumps(BASE_EVENT))
    _put(event, place.path, value)
    return not isinstance(parse_event(event, implied_type=None), list)


def _put(obj: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        nxt = obj.get(key)
        if not isinstance(nxt, dict):
            nxt = obj[key] = {}
        obj = nxt
    obj[path[-1]] = value


def acceptance(places: list[Place]) -> dict[str, dict[str, str]]:
    """place name -> kind -> the form the adapter takes (``text`` or ``number``); a kind missing
    is refused there (planted in a hit of its own)."""
    import logging

    samples = {k: _sample_value(k) for k in KINDS}
    out: dict[str, dict[str, str]] = {}
    ingestor = None
    with contextlib.suppress(Exception):
        ingestor = probe_ingestor()
    logging.disable(logging.CRITICAL)
    try:
        for place in places:
            took: dict[str, str] = {}
            for kind, value in samples.items():
                for form, v in (("text", value.text), ("number", value.number)):
                    if v is None:
                        continue
                    if place.shape == "open" or _accepts(place, v, ingestor):
                        took[kind] = form
                        break
            out[place.name] = took
    finally:
        logging.disable(logging.NOTSET)
    return out


def _accepts(place: Place, value: Any, ingestor: Any) -> bool:
    if place.protocol in (SEGMENT, BATCH):
        return _segment_ok(place, value)
    if place.protocol == GTAG:
        if not isinstance(value, str) and place.path[0].startswith(("ep", "up")):
            value = str(value)
        if not isinstance(value, str):
            return False
        from datetime import UTC, datetime

        from fairtrack.protocols import gtag

        params = {"v": "2", "tid": "G-PROBE", "en": "probe", "cid": "1.2", "_p": "7"}
        params[place.path[0].replace("<name>", "probe")] = value if len(place.path) == 1 else place.path[1] + value
        collect = gtag.Collect("G-PROBE", [(0, params)], [])  # the request's measurement id: a tid must match
        return all(not isinstance(h, list) for _, h in gtag.hits(collect, datetime.now(UTC), "probe/1.0", None))
    if place.protocol == HEADER and ingestor is not None and isinstance(value, str):
        from datetime import UTC, datetime

        from fairtrack.errors import ClientError
        from fairtrack.ingest import IngestRequest

        headers = {"authorization": AUTH, "content-type": "application/json", place.path[0]: value}
        request = IngestRequest(json.dumps(BASE_EVENT), False, headers, {}, "198.51.100.7", datetime.now(UTC), "r")
        try:
            ingestor.segment(request, "track")
        except ClientError:
            return False
        except Exception:  # noqa: BLE001 - the probe is best effort: assume it takes the value
            return True
        return True
    return isinstance(value, str)


URL_KINDS = ("phone_in_url", "ipv4_url_path")
CONSENT_PATHS = (("context", "consent"), ("context", "consentManagement"))
EVENT_TYPES = ("track", "page", "screen", "identify", "group", "alias")
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


@dataclass
class HitInfo:
    index: int
    protocol: str
    state: str
    refused: str | None  # the place given a value the adapter refuses (the hit is refused)
    request: int


def _wire(header_value: str) -> str:
    """A header value as a client sends it: UTF-8 bytes (http.client writes headers as Latin-1)."""
    return header_value.encode().decode("latin-1")


def _merge(into: dict[str, Any], patch: dict[str, Any]) -> None:
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = json.loads(json.dumps(v))


class Workload:
    """Hits planting every kind each place takes, in every place, under every consent state."""

    def __init__(
        self,
        hits: int,
        seed: int,
        places: list[Place] | None = None,
        accepted: dict[str, dict[str, str]] | None = None,
        states: list[State] | None = None,
    ) -> None:
        self.reg = Registry(seed)
        self.rng = self.reg.rng
        self.places = places if places is not None else all_places()
        self.accepted = accepted if accepted is not None else acceptance(self.places)
        self.states = states if states is not None else consent_states()
        self.hits: list[HitInfo] = []
        self.requests: list[Request] = []
        self.carried: list[list[Plant]] = []  # per request: the plants found in it before sending
        self.turn: Counter[str] = Counter()
        self.keys = 0
        by: dict[str, list[Place]] = defaultdict(list)
        for p in self.places:
            by[p.protocol].append(p)
        self.by = by
        refused = [(p, k) for p in self.places for k in KINDS if k not in self.accepted[p.name]]
        refused_places = {p.name: (p, k) for p, k in refused}  # one pair per place first
        order = list(refused_places.values()) + [pk for pk in refused if pk not in refused_places.values()]
        n_refused = min(len(order), max(len(refused_places), hits // 8))
        valid = max(hits - n_refused, 1)
        gtag_states = [s for s in self.states if s.gtag is not None]
        seg_states = [s for s in self.states if s.segment is not None or s.family == "none"]
        n_gtag = max(len(gtag_states), valid * 3 // 10)
        done = 0
        while done < valid - n_gtag:
            size = 1 if self.rng.random() < 0.3 else min(valid - n_gtag - done, self.rng.randint(2, 8))
            mode = "batch-context" if size > 1 and self.rng.random() < 0.25 else "events"
            self._segment_request([seg_states[(len(self.hits) + i) % len(seg_states)] for i in range(size)], mode)
            done += size
        for i in range(n_gtag):
            self._gtag_request(gtag_states[i % len(gtag_states)])
        for place, kind in order[:n_refused]:
            self._refused(place, kind)
        order_index = list(range(len(self.requests)))
        self.rng.shuffle(order_index)
        self.requests = [self.requests[i] for i in order_index]
        self.carried = [self.carried[i] for i in order_index]
        remap = {old: new for new, old in enumerate(order_index)}
        for h in self.hits:
            h.request = remap[h.request]

    # values ------------------------------------------------------------------------------------
    def _kind(self, place: Place) -> tuple[str, str] | None:
        took = self.accepted[place.name]
        if not took:
            return None
        kinds = sorted(took)
        kind = kinds[self.turn[place.name] % len(kinds)]
        self.turn[place.name] += 1
        return kind, took[kind]

    def _value(self, place: Place, hit: int, kind_form: tuple[str, str]) -> Any:
        kind, form = kind_form
        value = make_value(self.reg, kind, place.name, hit)
        return value.number if form == "number" and value.number is not None else value.text

    def _text(self, place: Place, hit: int, kind: str | None = None) -> str:
        return make_value(self.reg, kind or sorted(KINDS)[self.turn[place.name] % len(KINDS)], place.name, hit).text

    def _key(self) -> str:
        self.keys += 1
        return f"x{self.keys}"

    def _plant_open(self, container: dict[str, Any], token: str, place: Place, hit: int, kf: tuple[str, str]) -> None:
        if token == NEW:
            container[self._key()] = self._value(place, hit, kf)
        elif token == KEY:
            self.turn[place.name] += 0
            container[self._text(place, hit, kf[0])] = "x"
        elif token == NESTED:
            container[self._key()] = {"inner": {"deep": self._value(place, hit, kf)}}
        elif token == LIST:
            container[self._key()] = [self._value(place, hit, kf), {"k": self._value(place, hit, kf)}]

    def _plant(self, obj: dict[str, Any], place: Place, hit: int, kf: tuple[str, str] | None = None) -> None:
        kf = kf or self._kind(place)
        if kf is None:
            return
        path = place.path[1:] if place.protocol == BATCH and place.path[:1] == ("context",) else place.path
        if place.protocol == BATCH and place.path[:1] == ("context",):
            obj = obj.setdefault("context", {})
        *parents, last = path
        for key in parents:
            nxt = obj.get(key)
            if not isinstance(nxt, dict):
                nxt = obj[key] = {}
            obj = nxt
        if place.shape == "open":
            self._plant_open(obj, last, place, hit, kf)
        else:
            obj[last] = self._value(place, hit, kf)

    # Segment -----------------------------------------------------------------------------------
    def _event(self, state: State, *, context_plants: bool, refused: tuple[Place, str] | None = None) -> dict[str, Any]:
        i = len(self.hits)
        event: dict[str, Any] = {"type": EVENT_TYPES[i % len(EVENT_TYPES)], "timestamp": now_iso()}
        for place in self.by[SEGMENT]:
            consent_place = place.path[:2] in CONSENT_PATHS
            if consent_place and state.family == "none":
                continue
            if not context_plants and place.path[0] == "context" and not consent_place:
                continue
            if refused is not None and place is refused[0]:
                continue
            self._plant(event, place, i)
        if refused is not None and refused[0].protocol == SEGMENT:
            self._plant(event, refused[0], i, (refused[1], "text"))
        for required in ("anonymousId", "event", "groupId", "previousId"):  # whatever was refused there
            if not isinstance(event.get(required), str | int):
                event[required] = f"r{i}"
        if context_plants and i % 3 == 0 and refused is None:
            self._anchor(event.setdefault("context", {}), i)
        if state.segment:
            _merge(event.setdefault("context", {}), state.segment)
        return event

    def _anchor(self, context: dict[str, Any], i: int) -> None:
        """Every third hit keeps a page URL that parses (a URL kind: its path or query holds the
        plant) and a real user agent, which Meta needs: the ad destination is exercised too."""
        place = next((p for p in self.by[SEGMENT] if p.path == ("context", "page", "url")), None)
        if place is not None:
            kind = URL_KINDS[i // 3 % len(URL_KINDS)]
            page = context.setdefault("page", {})
            if isinstance(page, dict):
                page["url"] = make_value(self.reg, kind, place.name, i).text
        context["userAgent"] = USER_AGENT

    def _headers(self, hit: int, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT}
        for place in self.by[HEADER]:
            kf = self._kind(place)
            if kf is not None and place.path[0] not in ("authorization", "content-encoding", "origin", "content-type"):
                headers[place.path[0]] = _wire(str(self._value(place, hit, kf)))
        return headers | (extra or {})

    def _segment_request(self, states: list[State], mode: str, refused: tuple[Place, str] | None = None) -> None:
        start = len(self.hits)
        events = []
        for state in states:
            events.append(self._event(state, context_plants=mode != "batch-context", refused=refused))
            self.hits.append(
                HitInfo(len(self.hits), SEGMENT, state.label, refused[0].name if refused else None, len(self.requests))
            )
        headers = self._headers(start, {"Authorization": AUTH, "Content-Type": "application/json"})
        if refused is not None and refused[0].protocol == HEADER:
            headers[refused[0].path[0]] = _wire(self._text(refused[0], start, refused[1]))
        if len(events) == 1 and mode == "events" and (refused is None or refused[0].protocol != BATCH):
            body = json.dumps(events[0])
            kind = events[0].get("type")
            path = f"/v1/{kind if kind in EVENT_TYPES else 'track'}"
        else:
            envelope: dict[str, Any] = {"batch": events, "sentAt": now_iso()}
            for place in self.by[BATCH]:
                in_context = place.path[:1] == ("context",)
                if (in_context and mode != "batch-context") or place.shape == "timestamp":
                    continue
                self._plant(envelope, place, start)
            if refused is not None and refused[0].protocol == BATCH:
                self._plant(envelope, refused[0], start, (refused[1], "text"))
            body, path = json.dumps(envelope), "/v1/batch"
        for state in states:
            if state.json_patch:
                body = body.replace(state.json_patch[0].replace(":", ": "), state.json_patch[1], 1)
        expect = 400 if refused is not None and len(events) == 1 else None
        self._add(Request("POST", path, body.encode(), headers, expect_status=expect))

    # gtag --------------------------------------------------------------------------------------
    def _gtag_request(self, state: State, refused: tuple[Place, str] | None = None) -> None:
        i = len(self.hits)
        params: dict[str, str] = {"v": "2", "tid": DEV_MEASUREMENT_ID, "en": "page_view", "cid": f"{i}.1", "_p": str(i)}
        coded: dict[str, list[str]] = defaultdict(list)
        for place in self.by[GTAG]:
            if place.path[0] in (state.gtag or {}) or (refused is not None and place is refused[0]):
                continue
            if place.path[0] in ("gcs", "gcd", "gdpr", "gdpr_consent") and state.family == "none":
                continue
            kf = self._kind(place)
            if kf is None:
                continue
            self._gtag_plant(params, coded, place, i, kf)
        if refused is not None and refused[0].protocol == GTAG:
            self._gtag_plant(params, coded, refused[0], i, (refused[1], "text"))
        for key, fields in coded.items():
            params[key] = "~".join(fields)
        if i % 3 == 0 and refused is None and "dl" in params:  # a page URL that parses (see _anchor)
            dl = next(p for p in self.by[GTAG] if p.path == ("dl",))
            params["dl"] = make_value(self.reg, URL_KINDS[i // 3 % len(URL_KINDS)], dl.name, i).text
        params |= state.gtag or {}
        query = urlencode(params) + ("&" + state.gtag_raw if state.gtag_raw else "")
        headers = self._headers(i)
        if refused is not None and refused[0].protocol == HEADER:
            headers[refused[0].path[0]] = _wire(self._text(refused[0], i, refused[1]))
        self.hits.append(HitInfo(i, GTAG, state.label, refused[0].name if refused else None, len(self.requests)))
        expect = 400 if refused is not None and refused[0].protocol == GTAG else None
        if expect is not None and refused is not None:
            head = refused[0].path[0]
            if len(refused[0].path) == 1 and head in params and _accepts(refused[0], params[head], None):
                expect = None  # this value, unlike its kind's sample, is one the adapter takes (an IBAN as en)
        if refused is not None and refused[0].protocol == HEADER:
            expect = 400
        if self.rng.random() < 0.5:
            self._add(Request("GET", "/g/collect?" + query, b"", headers, expect_status=expect))
        else:
            self._add(
                Request(
                    "POST",
                    "/g/collect?v=2&tid=" + DEV_MEASUREMENT_ID,
                    query.encode(),
                    headers | {"Content-Type": "text/plain"},
                    expect_status=expect,
                )
            )

    def _gtag_plant(
        self, params: dict[str, str], coded: dict[str, list[str]], place: Place, i: int, kf: tuple[str, str]
    ) -> None:
        head = place.path[0]
        if len(place.path) == 2:
            code = place.path[1]
            if code.endswith(KEY):
                coded[head].append(code[0] + "1" + self._text(place, i, kf[0]))
            elif code.endswith("N"):
                coded[head].append(code[0] + "1" + str(self._value(place, i, kf)))
            else:
                coded[head].append(code + str(self._value(place, i, kf)))
        elif head.endswith(KEY):
            params[head.removesuffix(KEY) + self._text(place, i, kf[0])] = "1"
        elif head.endswith("<name>"):
            params[head.removesuffix("<name>") + self._key()] = str(self._value(place, i, kf))
        else:
            params[head] = str(self._value(place, i, kf))

    def _refused(self, place: Place, kind: str) -> None:
        if place.protocol == GTAG:
            self._gtag_request(self.states[0], (place, kind))
        else:
            # a batch context value reaches the event only when the event's own context lacks the key
            mode = "batch-context" if place.protocol == BATCH and place.path[:1] == ("context",) else "events"
            self._segment_request([self.states[0]], mode, (place, kind))

    def _add(self, request: Request) -> None:
        text = request.path + "\n" + request.body.decode() + "\n" + json.dumps(request.headers)
        self.carried.append([f.plant for f in search(self.reg, text)])
        self.requests.append(request)
