"""The protocol fuzzer: hostile client frames, the contract's oracle, and a replayer.

Three parts, used by tests/test_fuzz.py (a few thousand frames in `make test`)
and soak/fuzz.py (100,000 and more):

* `generate(world, count, seed)` draws `Case`s with hypothesis strategies:
  JSON-ish values, envelope mutations, votes with wrong, huge, negative,
  fractional and foreign ids, binary frames, invalid UTF-8, oversized and
  fragmented messages, protocol violations and client Close frames.
* `expect(case, world, role)` is the oracle: from the contract alone (not from
  the daemon's code) the set of answers the contract allows for that case: an
  `error` with a code, a Close code, `session_state` or the voter's own
  `vote_received`. Where the contract leaves a precedence open (an unknown
  `type` whose `data` is not an object, say) the set has both answers.
* `replay(...)` sends the cases over a few raw WebSocket connections, one case
  at a time per connection, reads the answer, checks it against the oracle
  and reconnects after a Close. It returns what it saw; every mismatch is kept
  with the case that caused it (each case is self-contained, so the case is
  its own minimal reproduction).
"""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal
from urllib.parse import urlencode

import attrs
import trio
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from pairwise_ws.app import operations
from pairwise_ws.storage import Store
from tests.raw_ws import OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, RawClient

MAX_MESSAGE_BYTES = 4096  # the contract's default; the fuzz config keeps it
MAX_ID = 2**63 - 1  # protocol.md: ids are JSON integers from 1 to 2^63-1
ANSWER_TIMEOUT_S = 5.0
OP_CONTINUATION = 0x0

KNOWN_TYPES = ("join_session", "leave_session", "vote_submitted", "facilitator_action")
ACTIONS = ("reset_comparison", "decide", "skip", "close_session")


# --- the world the fuzzer plays in ---------------------------------------------


@attrs.frozen
class Member:
    id: int
    name: str
    token: str


@attrs.frozen
class World:
    """A project with a session to fuzz, plus ids that belong elsewhere."""

    db_path: str
    project_id: int
    session_id: int
    facilitator_token: str
    feature_ids: tuple[int, ...]
    # The session's comparisons: id -> (feature a, feature b).
    comparisons: dict[int, tuple[int, int]]
    skipped: frozenset[int]  # comparisons of the session marked skipped
    other_session_comparisons: tuple[int, ...]  # same project, another session
    foreign_comparisons: tuple[int, ...]  # another project's session
    foreign_feature_ids: tuple[int, ...]
    fuzzers: tuple[Member, ...]  # one raw connection each
    control: Member  # votes at the end: the daemon still serves the others
    absent: Member  # never connects: with quorum `all` nothing is ever decided

    @property
    def votable(self) -> list[int]:
        return [c for c in self.comparisons if c not in self.skipped]

    def path(self, member: Member | None) -> str:
        if member is None:
            query = urlencode({"facilitator_token": self.facilitator_token})
        else:
            query = urlencode({"attendee_id": member.id, "token": member.token})
        return f"/projects/{self.project_id}/sessions/{self.session_id}/ws?{query}"


def make_world(db_path: str, *, fuzzers: int = 4) -> World:
    """The fuzz workshop: 5 features (10 comparisons, one skipped), quorum `all`."""
    store = Store.open(db_path)
    try:
        project, facilitator_token = operations.create_project(store, "Fuzz project")
        feature_ids = tuple(
            operations.add_feature(store, project.id, f"Feature {i}").id for i in range(5)
        )
        members = []
        for i in range(fuzzers + 2):
            attendee, token = operations.add_attendee(store, project.id, f"Attendee {i}")
            members.append(Member(attendee.id, attendee.name, token))
        session, comparisons = operations.create_session(
            store, project.id, rule="majority", quorum="all"
        )
        _, others = operations.create_session(store, project.id)
        foreign, _ = operations.create_project(store, "Another project")
        foreign_features = tuple(
            operations.add_feature(store, foreign.id, f"Foreign {i}").id for i in range(3)
        )
        _, foreign_comparisons = operations.create_session(store, foreign.id)
    finally:
        store.close()
    skipped = comparisons[-1].id
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE comparisons SET status = 'skipped' WHERE id = ?", (skipped,))
    db.close()
    return World(
        db_path=db_path,
        project_id=project.id,
        session_id=session.id,
        facilitator_token=facilitator_token,
        feature_ids=feature_ids,
        comparisons={c.id: (c.feature_a_id, c.feature_b_id) for c in comparisons},
        skipped=frozenset({skipped}),
        other_session_comparisons=tuple(c.id for c in others),
        foreign_comparisons=tuple(c.id for c in foreign_comparisons),
        foreign_feature_ids=foreign_features,
        fuzzers=tuple(members[:fuzzers]),
        control=members[fuzzers],
        absent=members[fuzzers + 1],
    )


# --- cases ------------------------------------------------------------------------


@attrs.frozen
class WireFrame:
    opcode: int
    payload: bytes
    fin: bool = True
    rsv: int = 0  # the three reserved bits, as 0..7
    masked: bool = True


@attrs.frozen
class Case:
    kind: str  # which generator made it (for the figures)
    frames: tuple[WireFrame, ...]

    @property
    def size(self) -> int:
        return sum(len(f.payload) for f in self.frames)


def encode_frame(wire: WireFrame) -> bytes:
    """The frame's bytes as a client sends them (masked unless told otherwise)."""
    first = (0x80 if wire.fin else 0) | (wire.rsv << 4) | wire.opcode
    head = bytes([first])
    length = len(wire.payload)
    mask_bit = 0x80 if wire.masked else 0
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 2**16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if not wire.masked:
        return head + wire.payload
    key = os.urandom(4)
    keystream = (key * (length // 4 + 1))[:length]
    masked = int.from_bytes(wire.payload, "little") ^ int.from_bytes(keystream, "little")
    return head + key + masked.to_bytes(length, "little")


# --- the oracle: what the contract allows --------------------------------------------

Role = Literal["attendee", "facilitator"]


@attrs.frozen
class Error:
    code: str


@attrs.frozen
class Closed:
    code: int


@attrs.frozen
class State:
    """session_state, the answer to join_session."""


@attrs.frozen
class Ack:
    """The voter's own vote_received."""

    comparison_id: int
    feature_id: int | None  # None: a tie


@attrs.frozen
class Pong:
    payload: bytes


@attrs.frozen
class Skip:
    """Not sent: a facilitator's facilitator_action may change the session."""


Outcome = Error | Closed | State | Ack | Pong
Expected = frozenset[Outcome] | Skip

INVALID = Error("invalid_message")
INVALID_VOTE = Error("invalid_vote")
FORBIDDEN = Error("forbidden")
CLOSE_PROTOCOL = Closed(1002)
VALID_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011})
DEEP_JSON = 64  # RFC 8259 section 9 lets a parser limit nesting; deeper may be refused


class _NotJson(ValueError):
    pass


def _reject_constant(name: str) -> None:
    raise _NotJson(name)


@contextmanager
def _deep_recursion() -> Iterator[None]:
    """Let the oracle's own parser read deep nesting (the daemon may refuse it)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


def _depth(value: Any) -> int:
    depth, level = 0, [value]
    while level:
        depth += 1
        nxt: list[Any] = []
        for item in level:
            if isinstance(item, dict):
                nxt.extend(item.values())
            elif isinstance(item, list):
                nxt.extend(item)
        level = nxt
    return depth - 1


def expect(case: Case, world: World, role: Role) -> Expected:
    """The answers the contract allows to `case` on a connection of `role`."""
    message = _assemble(case.frames)
    if isinstance(message, frozenset):
        return message
    opcode, payload = message
    if opcode == OP_PING:
        return frozenset({Pong(payload)})
    if opcode == OP_CLOSE:
        return _expect_close(payload)
    valid_utf8 = True
    if opcode == OP_TEXT:
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError:
            valid_utf8 = False
    if len(payload) > MAX_MESSAGE_BYTES:
        return frozenset({Closed(1009)} | (set() if valid_utf8 else {Closed(1007)}))
    if not valid_utf8:
        return frozenset({Closed(1007)})
    if opcode == OP_BINARY:
        return frozenset({INVALID})
    return _expect_text(payload.decode("utf-8"), world, role)


def _assemble(frames: Sequence[WireFrame]) -> tuple[int, bytes] | frozenset[Outcome]:
    """RFC 6455 framing: the one message the frames carry, or the Close they earn."""
    opcode: int | None = None
    parts: list[bytes] = []
    for wire in frames:
        if wire.rsv or not wire.masked:
            return frozenset({CLOSE_PROTOCOL})
        if wire.opcode in (OP_CLOSE, OP_PING, OP_PONG):
            if not wire.fin or len(wire.payload) > 125:
                return frozenset({CLOSE_PROTOCOL})
            if opcode is None and len(frames) == 1:
                return wire.opcode, wire.payload
            if wire.opcode == OP_CLOSE:
                return frozenset({CLOSE_PROTOCOL})  # (not generated inside a message)
            continue  # a ping or pong between fragments: answered, not part of the message
        if wire.opcode == OP_CONTINUATION:
            if opcode is None:
                return frozenset({CLOSE_PROTOCOL})
        elif wire.opcode in (OP_TEXT, OP_BINARY):
            if opcode is not None:
                return frozenset({CLOSE_PROTOCOL})  # a new message inside a fragmented one
            opcode = wire.opcode
        else:
            return frozenset({CLOSE_PROTOCOL})  # a reserved opcode
        parts.append(wire.payload)
        if wire.fin:
            return opcode, b"".join(parts)
    raise AssertionError("a generated case must end its message")  # pragma: no cover


def _expect_close(payload: bytes) -> frozenset[Outcome]:
    """A Close from the client is answered with a Close (RFC 6455 5.5.1)."""
    if not payload:
        return frozenset({Closed(1000), Closed(1005)})  # "no status": echoed as either
    if len(payload) == 1:
        return frozenset({CLOSE_PROTOCOL})
    code = struct.unpack("!H", payload[:2])[0]
    try:
        payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        return frozenset({Closed(1007), CLOSE_PROTOCOL})
    if code in VALID_CLOSE_CODES or 3000 <= code <= 4999:
        return frozenset({Closed(code)})
    return frozenset({CLOSE_PROTOCOL})


def _expect_text(text: str, world: World, role: Role) -> Expected:
    try:
        with _deep_recursion():
            value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return frozenset({INVALID})
    answers = _expect_message(value, world, role)
    if isinstance(answers, Skip):
        return answers
    lenient: set[Outcome] = set()
    if _depth(value) > DEEP_JSON:
        lenient.add(INVALID)  # an implementation limit on nesting (RFC 8259 section 9)
    return answers | lenient


def _expect_message(value: Any, world: World, role: Role) -> Expected:
    if not isinstance(value, dict):
        return frozenset({INVALID})
    if "type" not in value or not isinstance(value["type"], str):
        return frozenset({INVALID})
    kind: str = value["type"]
    data = value.get("data")
    if data is None:
        data = {}
    if kind not in KNOWN_TYPES:
        # An unknown type whose data is no object: both answers name a real fault.
        return frozenset({Error("unknown_type")} | (set() if isinstance(data, dict) else {INVALID}))
    if not isinstance(data, dict):
        return frozenset({INVALID})
    if kind == "join_session":
        # The contract's data is {}; whether other fields in it are refused is open.
        return frozenset({State()} | ({INVALID} if data else set()))
    if kind == "leave_session":
        return frozenset({Closed(1000)} | ({INVALID} if data else set()))
    if kind == "facilitator_action":
        if role == "facilitator":
            return Skip()
        return frozenset({FORBIDDEN} if _well_formed_action(data) else {FORBIDDEN, INVALID})
    return _expect_vote(data, world, role)


def _is_id(value: Any) -> bool:
    """A JSON integer in 1..2^63-1; an integral number such as 2.0 counts."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 1 <= value <= MAX_ID
    if isinstance(value, float):
        return value.is_integer() and 1 <= int(value) <= MAX_ID
    return False


def _well_formed_action(data: dict[str, Any]) -> bool:
    if set(data) - {"action", "comparison_id", "winner_id", "is_tie"}:
        return False
    if data.get("action") not in ACTIONS:
        return False
    for key in ("comparison_id", "winner_id"):
        if key in data and data[key] is not None and not _is_id(data[key]):
            return False
    return "is_tie" not in data or isinstance(data["is_tie"], bool)


def _expect_vote(data: dict[str, Any], world: World, role: Role) -> frozenset[Outcome]:
    vote = data.get("vote")
    if set(data) != {"vote"} or not isinstance(vote, dict):
        return frozenset({INVALID})
    if set(vote) - {"comparison_id", "preferred_feature_id", "is_tie_vote"}:
        return frozenset({INVALID})
    if not _is_id(vote.get("comparison_id")):
        return frozenset({INVALID})
    feature = vote.get("preferred_feature_id")
    if feature is not None and not _is_id(feature):
        return frozenset({INVALID})
    tie = vote.get("is_tie_vote", False)
    if not isinstance(tie, bool):
        return frozenset({INVALID})
    if (feature is not None) == tie:  # both, or neither
        return frozenset({INVALID_VOTE, FORBIDDEN} if role == "facilitator" else {INVALID_VOTE})
    if role == "facilitator":
        return frozenset({FORBIDDEN})
    comparison_id = int(vote["comparison_id"])
    pair = world.comparisons.get(comparison_id)
    if pair is None:
        return frozenset({INVALID_VOTE})
    feature_id = None if feature is None else int(feature)
    fits = feature_id is None or feature_id in pair
    if comparison_id in world.skipped:
        closed = Error("comparison_closed")
        return frozenset({closed} if fits else {closed, INVALID_VOTE})
    if not fits:
        return frozenset({INVALID_VOTE})
    return frozenset({Ack(comparison_id, feature_id)})


# --- the generators (hypothesis strategies) ------------------------------------------

# Strings people and programs get wrong: empty, NUL, RTL marks, combining
# characters, emoji (4 bytes), lone surrogates, BOMs, look-alikes.
TRICKY_TEXT = (
    "",
    "\x00",
    "\u202e",
    "e\u0301",
    "\U0001f600",
    "\ud800",
    "\udfff",
    "\ufeff",
    "\uffff",
    "\u2028",
    "j\u043ein_session",  # Cyrillic o
    "JOIN_SESSION",
    " join_session",
    "join_session\x00",
    "vote_submitted ",
    "null",
    "'; DROP TABLE votes; --",
)
NEAR_TYPES = ("vote", "votes_submitted", "session_state", "error", "ping", "Join_Session")
INVALID_UTF8 = (
    b"\xff",
    b"\xfe\xff",
    b"\xc0\xaf",  # overlong '/'
    b"\xe0\x80\xaf",  # overlong, three bytes
    b"\xed\xa0\x80",  # an encoded surrogate
    b"\xf4\x90\x80\x80",  # beyond U+10FFFF
    b"\xc3",  # truncated two-byte character
    b"\xe2\x82",  # truncated three-byte character
    b"\x80",  # a lone continuation byte
)
SEPARATORS = ((",", ":"), (", ", ": "), (" ,\n", " :\t"))
PADDING = (" ", "\n", "\ufeff", "\x00", "\u00a0", "\x0b", "\r\n")
TRAILING = (",", "}", "]", "x", " 1", "{}")
RESERVED_OPCODES = (3, 4, 5, 6, 7, 0xB, 0xC, 0xF)
CLOSE_CODES = (1000, 1001, 1003, 1008, 3000, 4000, 4999)
BAD_CLOSE_CODES = (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535)
CLOSE_REASONS = (b"", b"bye", "\u00e9t\u00e9".encode(), b"\xff\xfe")
PAD_CHARS = ("x", "\u00e9", "\u20ac", "\U0001f600")  # 1, 2, 3 and 4 bytes
SIZE_OFFSETS = (-4, -3, -2, -1, 0, 1, 2, 3, 4, 100)
NOT_BOOLS: tuple[Any, ...] = (0, 1, "true", None, "false", [], {})
FOREIGN_FIELDS = ("attendee_id", "session_id", "is_tie", "weight")
ENVELOPE_FIELDS = ("session_id", "attendee_id", "timestamp", "x")

json_text = st.text(max_size=12) | st.sampled_from(TRICKY_TEXT)
json_numbers = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0, -1, 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63)])
    | st.floats()  # NaN and the infinities too: not JSON, so invalid_message
    | st.sampled_from([2.0, 2.5, -0.0, 1e300, 1e-300, 5e-324, 1.7976931348623157e308])
)
json_scalars = st.none() | st.booleans() | json_numbers | json_text
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(json_text, children, max_size=4)
    ),
    max_leaves=8,
)


class Generators:
    """The strategies for one world, built once (building them is what costs)."""

    def __init__(self, world: World) -> None:
        self.world = world
        real = sorted(
            {
                *world.comparisons,
                *world.other_session_comparisons,
                *world.foreign_comparisons,
                *world.feature_ids,
                *world.foreign_feature_ids,
                world.project_id,
                world.session_id,
                world.control.id,
                *(m.id for m in world.fuzzers),
            }
        )
        self.real_ids = st.sampled_from(real)
        # Anything that might be sent as an id: real ones from here and elsewhere, and junk.
        self.ids = st.one_of(
            self.real_ids,
            self.real_ids.map(float),  # 3.0 is the integer 3
            self.real_ids.map(str),  # "3" is not
            self.real_ids.map(lambda i: i + 0.5),
            json_numbers,
            json_values,
        )
        self.votable = st.sampled_from(world.votable)
        self.elsewhere = st.sampled_from(
            sorted(world.skipped) * 8
            + list(world.other_session_comparisons + world.foreign_comparisons)
        )
        self.any_feature = st.sampled_from(world.feature_ids + world.foreign_feature_ids)
        self.kind_of_type = st.integers(0, 19)
        # leave_session costs a reconnection: rarer than the others.
        self.known_types = st.sampled_from(
            KNOWN_TYPES[:1] * 6 + KNOWN_TYPES[2:] * 6 + KNOWN_TYPES[1:2]
        )
        self.near_types = st.sampled_from(NEAR_TYPES + TRICKY_TEXT)
        self.envelope_fields = st.lists(st.sampled_from(ENVELOPE_FIELDS), max_size=3)
        self.envelope_values = self.ids | json_text
        self.d4, self.d10, self.d16, self.d20, self.d25, self.d100 = (
            st.integers(0, n - 1) for n in (4, 10, 16, 20, 25, 100)
        )
        self.choices = st.sampled_from(("a", "b", "tie"))
        self.not_bools = st.sampled_from(NOT_BOOLS)
        self.foreign_fields = st.sampled_from(FOREIGN_FIELDS) | json_text
        self.actions = st.sampled_from(ACTIONS) | json_values
        self.action_ids = st.sampled_from(sorted(world.comparisons)) | self.ids
        self.vote_data = self._vote_data()
        self.action_data = self._action_data()
        self.envelope = self._envelope()
        self.cases = self._cases()

    def _vote_data(self) -> st.SearchStrategy[Any]:
        """vote_submitted data: a valid vote, or one with one thing wrong or foreign."""
        world = self.world

        @st.composite
        def draw_vote(draw: st.DrawFn) -> Any:
            comparison_id = draw(self.votable)
            pair = world.comparisons[comparison_id]
            choice = draw(self.choices)
            vote: dict[str, Any] = {"comparison_id": comparison_id}
            if choice == "tie":
                vote["is_tie_vote"] = True
                if draw(self.d10) == 0:
                    vote["preferred_feature_id"] = None
            else:
                vote["preferred_feature_id"] = pair[0] if choice == "a" else pair[1]
                if draw(self.d4) == 0:
                    vote["is_tie_vote"] = False
            mutation = draw(self.d16)
            if mutation == 6:  # an id of elsewhere or junk for the comparison
                vote["comparison_id"] = draw(self.elsewhere | self.ids)
            elif mutation == 7:  # a feature of another comparison or project, or junk
                vote["preferred_feature_id"] = draw(self.any_feature | self.ids)
                vote.pop("is_tie_vote", None)
            elif mutation == 8:  # both
                vote["preferred_feature_id"] = draw(self.any_feature)
                vote["is_tie_vote"] = True
            elif mutation == 9:  # neither
                vote.pop("preferred_feature_id", None)
                if draw(self.d4) == 0:
                    vote["is_tie_vote"] = False
                else:
                    vote.pop("is_tie_vote", None)
            elif mutation == 10:
                vote["is_tie_vote"] = draw(self.not_bools)
            elif mutation == 11:  # a field that does not belong (another attendee's id, say)
                vote[draw(self.foreign_fields)] = draw(self.ids)
            elif mutation == 12:
                del vote["comparison_id"]
            elif mutation == 13:  # ids as floats: 3.0 is fine, 3.5 is not
                for key in ("comparison_id", "preferred_feature_id"):
                    if isinstance(vote.get(key), int):
                        vote[key] = float(vote[key]) + (0.5 if draw(self.d4) == 0 else 0.0)
            elif mutation == 14:  # the wrapper is wrong
                shape = draw(self.d4)
                if shape == 0:
                    return vote
                if shape == 1:
                    return {"vote": draw(json_values)}
                return {"vote": vote, draw(json_text): draw(json_values)}
            elif mutation == 15:
                vote["comparison_id"] = draw(self.elsewhere)
            return {"vote": vote}

        return draw_vote()

    def _action_data(self) -> st.SearchStrategy[Any]:
        @st.composite
        def draw_action(draw: st.DrawFn) -> Any:
            data: dict[str, Any] = {"action": draw(self.actions)}
            for key in ("comparison_id", "winner_id"):
                if draw(st.booleans()):
                    data[key] = draw(self.action_ids)
            if draw(st.booleans()):
                data["is_tie"] = draw(st.booleans() | json_scalars)
            if draw(self.d10) == 0:
                data[draw(json_text)] = draw(json_values)
            return data

        return draw_action()

    def _envelope(self) -> st.SearchStrategy[Any]:
        """A client message with its envelope mutated: type, data, extra and foreign fields."""

        @st.composite
        def draw_envelope(draw: st.DrawFn) -> Any:
            pick = draw(self.kind_of_type)
            if pick < 13:
                kind: Any = draw(self.known_types)
            elif pick < 17:
                kind = draw(self.near_types)
            else:
                kind = draw(json_values)
            message: dict[str, Any] = {}
            if draw(self.d20):
                message["type"] = kind
            data_kind = draw(self.d10)
            if data_kind <= 6:
                if kind == "vote_submitted" or (data_kind == 0 and isinstance(kind, str)):
                    message["data"] = draw(self.vote_data)
                elif kind == "facilitator_action":
                    message["data"] = draw(self.action_data)
                else:
                    message["data"] = {} if data_kind <= 5 else draw(json_values)
            elif data_kind == 7:
                message["data"] = None
            elif data_kind == 8:
                message["data"] = draw(json_values)
            # Envelope fields a client may send but the daemon must ignore: another
            # attendee, another session, a timestamp, junk.
            for key in draw(self.envelope_fields):
                message[key] = draw(self.envelope_values)
            if draw(self.d25) == 0:
                return draw(json_values)  # not a message at all
            return message

        return draw_envelope()

    def _serialize(self, draw: st.DrawFn, value: Any) -> str:
        text = json.dumps(
            value,
            # Raw characters, or \u escapes; raw lone surrogates are invalid UTF-8
            # (a Close 1007 and a reconnection), so mostly escapes.
            ensure_ascii=draw(self.d4) != 0,
            separators=draw(st.sampled_from(SEPARATORS)),
        )
        mutation = draw(self.d25)
        if mutation == 0 and text:  # truncated
            return text[: draw(st.integers(0, len(text) - 1))]
        if mutation == 1:  # one character inserted somewhere
            at = draw(st.integers(0, len(text)))
            return text[:at] + draw(st.characters()) + text[at:]
        if mutation == 2:  # padding that JSON does or does not allow
            pad = draw(st.sampled_from(PADDING))
            return pad + text + pad
        if mutation == 3:  # trailing garbage
            return text + draw(st.sampled_from(TRAILING))
        return text

    def _deep(self, draw: st.DrawFn) -> str:
        depth = draw(st.integers(1, 2000))
        inner = draw(st.sampled_from(["[]", "{}", "1", '"x"']))
        if draw(st.booleans()):
            nested = "[" * depth + inner + "]" * depth
        else:
            nested = '{"a":' * depth + inner + "}" * depth
        where = draw(st.integers(0, 2))
        if where == 0:
            return nested
        if where == 1:
            return '{"type": "join_session", "data": {}, "deep": ' + nested + "}"
        return '{"type": "vote_submitted", "data": {"vote": ' + nested + "}}"

    def _invalid_utf8(self, draw: st.DrawFn) -> bytes:
        base = _utf8(self._serialize(draw, draw(self.envelope)))
        bad = draw(st.sampled_from(INVALID_UTF8) | st.binary(min_size=1, max_size=16))
        at = draw(st.integers(0, len(base)))
        payload = base[:at] + bad + base[at:]
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError:
            return payload
        return payload + b"\xff"

    def _sized(self, draw: st.DrawFn) -> str:
        """A join_session padded to around the byte limit, in 1- to 4-byte characters."""
        char = draw(st.sampled_from(PAD_CHARS))
        offset = draw(st.sampled_from(SIZE_OFFSETS) | st.integers(-200, 30_000))
        target = MAX_MESSAGE_BYTES + offset
        head = '{"type": "join_session", "data": {}, "pad": "'
        room = max(0, target - len(head.encode()) - 2)
        pad = char * (room // len(char.encode()))
        pad += "x" * (room - len(pad.encode()))
        return head + pad + '"}'

    def _split(self, draw: st.DrawFn, opcode: int, payload: bytes) -> tuple[WireFrame, ...]:
        """The message as 1-5 fragments, cut anywhere (inside a UTF-8 character too)."""
        count = draw(st.integers(1, 5))
        cuts = sorted(draw(st.integers(0, len(payload))) for _ in range(count - 1))
        pieces = [payload[i:j] for i, j in zip([0, *cuts], [*cuts, len(payload)], strict=True)]
        frames: list[WireFrame] = []
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            frames.append(WireFrame(opcode if i == 0 else OP_CONTINUATION, piece, last))
            if not last and draw(self.d4) == 0:
                frames.append(WireFrame(OP_PING, draw(st.binary(max_size=8))))
        return tuple(frames)

    def _violation(self, draw: st.DrawFn) -> tuple[WireFrame, ...]:
        """Frames RFC 6455 forbids: the contract's answer is a Close frame with 1002."""
        body = b'{"type": "join_session"}'
        kind = draw(st.integers(0, 6))
        if kind == 0:
            return (WireFrame(OP_TEXT, body, masked=False),)
        if kind == 1:
            return (WireFrame(OP_TEXT, body, rsv=draw(st.integers(1, 7))),)
        if kind == 2:
            return (WireFrame(draw(st.sampled_from(RESERVED_OPCODES)), body),)
        if kind == 3:
            return (WireFrame(OP_PING, b"p" * draw(st.integers(126, 300))),)
        if kind == 4:
            return (WireFrame(OP_CONTINUATION, body),)
        if kind == 5:
            return (WireFrame(OP_TEXT, body[:5], fin=False), WireFrame(OP_TEXT, body[5:]))
        return (WireFrame(OP_PING, b"x", fin=False),)

    def _close(self, draw: st.DrawFn) -> bytes:
        shape = draw(self.d10)
        if shape == 0:
            return b""
        if shape == 1:
            return b"\x03"
        codes = CLOSE_CODES if shape < 6 else BAD_CLOSE_CODES
        return struct.pack("!H", draw(st.sampled_from(codes))) + draw(
            st.sampled_from(CLOSE_REASONS)
        )

    def _cases(self) -> st.SearchStrategy[Case]:
        @st.composite
        def draw_case(draw: st.DrawFn) -> Case:
            """One hostile case; the weights favour the cheap, connection-keeping kinds."""
            kind = draw(self.d100)
            if kind < 48:
                text = self._serialize(draw, draw(self.envelope))
                frames = self._split(draw, OP_TEXT, _utf8(text)) if kind < 6 else _frame(text)
                return Case("message", frames)
            if kind < 78:
                data = draw(self.vote_data)
                envelope: dict[str, Any] = {"type": "vote_submitted", "data": data}
                for key in draw(self.envelope_fields):
                    envelope[key] = draw(self.envelope_values)
                return Case("vote", _frame(self._serialize(draw, envelope)))
            if kind < 84:
                if kind < 81:
                    return Case("text", _frame(self._serialize(draw, draw(json_values))))
                return Case("text", _frame(draw(st.text(max_size=40))))
            if kind < 88:
                return Case("deep", _frame(self._deep(draw)))
            if kind < 93:
                which = draw(self.d4)
                if which == 0:
                    payload = _utf8(self._sized(draw))
                elif which == 1:
                    payload = _utf8(json.dumps({"type": "join_session", "data": {}}))
                else:
                    payload = draw(st.binary(max_size=64))
                return Case("binary", (WireFrame(OP_BINARY, payload),))
            # The rest close the connection (a reconnection each): rarer.
            if kind < 95:
                return Case("size", _frame(self._sized(draw)))
            if kind < 97:
                return Case("utf8", self._split(draw, OP_TEXT, self._invalid_utf8(draw)))
            if kind < 98:
                return Case("ping", (WireFrame(OP_PING, draw(st.binary(max_size=125))),))
            if kind < 99:
                return Case("violation", self._violation(draw))
            return Case("close", (WireFrame(OP_CLOSE, self._close(draw)),))

        return draw_case()


def _utf8(text: str) -> bytes:
    """UTF-8, except that lone surrogates are encoded as such: invalid UTF-8 (1007)."""
    return text.encode("utf-8", "surrogatepass")


def _frame(text: str) -> tuple[WireFrame, ...]:
    return (WireFrame(OP_TEXT, _utf8(text)),)


def generate(world: World, count: int, seed_value: int) -> list[Case]:
    """`count` cases drawn by hypothesis from `Generators(world).cases`, reproducibly.

    Each hypothesis example is a list of `PER_EXAMPLE` cases (that halves the
    engine's cost per case), and every 5,000 cases are one hypothesis run,
    seeded `seed_value + batch`, which keeps its bookkeeping small.
    """
    strategy = st.lists(Generators(world).cases, min_size=PER_EXAMPLE, max_size=PER_EXAMPLE)
    drawn: list[Case] = []
    batch = 0
    while len(drawn) < count:
        wanted = min(5_000, count - len(drawn))

        @settings(
            max_examples=-(-wanted // PER_EXAMPLE),
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @seed(seed_value + batch)
        @given(strategy)
        def collect(examples: list[Case]) -> None:
            drawn.extend(examples)

        before = len(drawn)
        collect()
        if len(drawn) == before:  # pragma: no cover - hypothesis found nothing more
            break
        batch += 1
    return drawn[:count]


PER_EXAMPLE = 25


# --- replay ----------------------------------------------------------------------------------


@attrs.frozen
class Mismatch:
    case: Case
    role: Role
    expected: frozenset[Outcome]
    got: Outcome | str

    def __str__(self) -> str:
        frames = ", ".join(
            f"{f.opcode:#x}{'' if f.fin else ' (no fin)'}"
            f"{' rsv' if f.rsv else ''}{' unmasked' if not f.masked else ''}: {f.payload[:300]!r}"
            for f in self.case.frames
        )
        allowed = sorted(map(repr, self.expected))
        return f"[{self.case.kind}, {self.role}] {frames}\n  allowed {allowed}\n  got {self.got!r}"


@attrs.define
class Tally:
    sent: int = 0
    skipped: int = 0
    reconnects: int = 0
    answers: Counter[str] = attrs.Factory(Counter)
    kinds: Counter[str] = attrs.Factory(Counter)
    mismatches: list[Mismatch] = attrs.Factory(list)
    # The last acknowledged vote of each (comparison, attendee): what the database must hold.
    acknowledged: dict[tuple[int, int], int | None] = attrs.Factory(dict)
    acks: int = 0
    elapsed_s: float = 0.0

    @property
    def frames_per_second(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s else 0.0


class _Gone(Exception):
    """The connection ended without a Close frame."""


class FuzzConnection:
    """One raw WebSocket connection that sends a case and reads back its answer."""

    def __init__(self, port: int, world: World, member: Member | None) -> None:
        self.port = port
        self.world = world
        self.member = member
        self.role: Role = "facilitator" if member is None else "attendee"
        self.client: RawClient | None = None

    async def open(self) -> None:
        self.client = await RawClient.connect(self.port, self.world.path(self.member))
        answer = await self._answer(None)
        assert answer == State(), f"the first message was {answer!r}, not session_state"

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def play(self, case: Case) -> Outcome | str:
        assert self.client is not None
        try:
            await self.client.send(b"".join(encode_frame(f) for f in case.frames))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return "connection broken while sending"
        try:
            return await self._answer(case)
        except _Gone as exc:
            return str(exc)
        except trio.TooSlowError:
            return f"no answer within {ANSWER_TIMEOUT_S} s"

    async def _answer(self, case: Case | None) -> Outcome:
        assert self.client is not None
        with trio.fail_after(ANSWER_TIMEOUT_S):
            while True:
                frame = await self.client.read_frame()
                if frame is None:
                    raise _Gone("TCP closed without a Close frame")
                if frame.opcode == OP_CLOSE:
                    return Closed(frame.close_code if len(frame.payload) >= 2 else 1005)
                if frame.opcode == OP_PING:  # the server's keepalive
                    await self.client.send(encode_frame(WireFrame(OP_PONG, frame.payload)))
                    continue
                if frame.opcode == OP_PONG:
                    if case is not None and case.kind == "ping":
                        return Pong(frame.payload)
                    continue
                message = json.loads(frame.payload)
                outcome = self._outcome(message)
                if outcome is not None:
                    return outcome

    def _outcome(self, message: dict[str, Any]) -> Outcome | None:
        kind, data = message["type"], message["data"]
        if kind == "error":
            return Error(data["code"])
        if kind == "session_state":
            return State()
        if kind == "vote_received" and self.member and data["attendee_id"] == self.member.id:
            assert message["attendee_id"] == self.member.id, message
            feature = data["preferred_feature_id"]
            assert data["is_tie_vote"] is (feature is None), message
            return Ack(data["comparison_id"], feature)
        return None  # someone else's broadcast


async def replay(
    port: int,
    world: World,
    work: Sequence[Case],
    *,
    facilitator: bool = True,
    on_progress: Callable[[Tally], None] | None = None,
) -> Tally:
    """Play `work` against the daemon on `port`, spread over the fuzzers' connections."""
    tally = Tally()
    members: list[Member | None] = [*world.fuzzers]
    if facilitator:
        members.append(None)
    started = time.perf_counter()

    async def run(index: int, member: Member | None) -> None:
        connection = FuzzConnection(port, world, member)
        await connection.open()
        try:
            for case in work[index :: len(members)]:
                expected = expect(case, world, connection.role)
                if isinstance(expected, Skip):
                    tally.skipped += 1
                    continue
                got = await connection.play(case)
                tally.sent += 1
                tally.kinds[case.kind] += 1
                tally.answers[_label(got)] += 1
                if got not in expected:
                    tally.mismatches.append(Mismatch(case, connection.role, expected, got))
                if isinstance(got, Ack) and member is not None:
                    tally.acknowledged[(got.comparison_id, member.id)] = got.feature_id
                    tally.acks += 1
                if not isinstance(got, Error | State | Ack | Pong):
                    await connection.aclose()  # closed (or broken): a fresh connection
                    await connection.open()
                    tally.reconnects += 1
                if on_progress is not None and tally.sent % 5_000 == 0:
                    tally.elapsed_s = time.perf_counter() - started
                    on_progress(tally)
        finally:
            await connection.aclose()

    async with trio.open_nursery() as nursery:
        for index, member in enumerate(members):
            nursery.start_soon(run, index, member)
    tally.elapsed_s = time.perf_counter() - started
    return tally


def _label(outcome: Outcome | str) -> str:
    match outcome:
        case Error(code=code):
            return f"error {code}"
        case Closed(code=code):
            return f"close {code}"
        case State():
            return "session_state"
        case Ack():
            return "vote_received"
        case Pong():
            return "pong"
    return f"fault: {outcome}"


def stored_votes(world: World) -> dict[tuple[int, int], int | None]:
    """The fuzzers' current votes in the database (feature id, None for a tie)."""
    fuzzers = {m.id for m in world.fuzzers}
    with sqlite3.connect(world.db_path) as db:
        rows = db.execute(
            "SELECT comparison_id, attendee_id, preferred_feature_id, is_tie_vote FROM votes"
        ).fetchall()
    db.close()
    return {
        (comparison, attendee): None if tie else feature
        for comparison, attendee, feature, tie in rows
        if attendee in fuzzers
    }


def history_count(world: World) -> int:
    with sqlite3.connect(world.db_path) as db:
        count: int = db.execute("SELECT count(*) FROM vote_history").fetchone()[0]
    db.close()
    return count
