"""The wire (pairwise_ws.wire; contract section 3): client frames in, server frames out."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from pairwise_ws import wire
from pairwise_ws.domain import session as s
from pairwise_ws.domain.models import (
    Attendee,
    Choice,
    Comparison,
    ComparisonStatus,
    ConsensusSettings,
    Criterion,
    ErrorCode,
    Feature,
    Progress,
    Rejection,
    Rule,
    Session,
    SessionStatus,
    Vote,
)
from pairwise_ws.wire import (
    FacilitatorAction,
    JoinSession,
    LeaveReason,
    LeaveSession,
    VoteSubmitted,
    YouView,
    decode,
    encode,
    event_data,
    session_state_data,
)

MAX_ID = 2**63 - 1
NOW = datetime(2026, 11, 25, 21, 3, 4, 123456, tzinfo=UTC)
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def frame(type_: Any, data: Any = None, **extra: Any) -> str:
    message = {"type": type_, **extra}
    if data is not None:
        message["data"] = data
    return json.dumps(message)


def vote_frame(**vote: Any) -> str:
    return frame("vote_submitted", {"vote": vote})


def rejected(result: object, code: ErrorCode) -> Rejection:
    assert isinstance(result, Rejection), result
    assert result.code is code
    assert result.message.strip()
    return result


# --- decode: accepted -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"type": "join_session", "data": {}}', JoinSession()),
        ('{"type": "join_session"}', JoinSession()),
        ('{"type": "join_session", "data": null}', JoinSession()),
        ('{"type": "leave_session", "data": {}}', LeaveSession()),
        ('{"type": "leave_session"}', LeaveSession()),
        (
            vote_frame(comparison_id=1, preferred_feature_id=2, is_tie_vote=False),
            VoteSubmitted(comparison_id=1, choice=Choice.feature(2)),
        ),
        (
            vote_frame(comparison_id=1, preferred_feature_id=2),
            VoteSubmitted(comparison_id=1, choice=Choice.feature(2)),
        ),
        (
            vote_frame(comparison_id=3, is_tie_vote=True),
            VoteSubmitted(comparison_id=3, choice=Choice.tie()),
        ),
        (
            vote_frame(comparison_id=3, preferred_feature_id=None, is_tie_vote=True),
            VoteSubmitted(comparison_id=3, choice=Choice.tie()),
        ),
        (
            '{"type": "vote_submitted", "data": {"vote": '
            '{"comparison_id": 2.0, "preferred_feature_id": 5.0, "is_tie_vote": false}}}',
            VoteSubmitted(comparison_id=2, choice=Choice.feature(5)),
        ),
        (
            vote_frame(comparison_id=MAX_ID, preferred_feature_id=MAX_ID),
            VoteSubmitted(comparison_id=MAX_ID, choice=Choice.feature(MAX_ID)),
        ),
        (
            frame(
                "vote_submitted",
                {"vote": {"comparison_id": 4, "preferred_feature_id": 9}},
                session_id=999,
                attendee_id=888,
                timestamp="2026-01-01T00:00:00.000000Z",
            ),
            VoteSubmitted(comparison_id=4, choice=Choice.feature(9)),
        ),
        (
            frame("facilitator_action", {"action": "decide", "comparison_id": 4, "winner_id": 9}),
            FacilitatorAction(action="decide", comparison_id=4, winner_id=9),
        ),
        (
            frame("facilitator_action", {"action": "close_session"}),
            FacilitatorAction(action="close_session"),
        ),
    ],
)
def test_decode_accepts(text: str, message: wire.ClientMessage) -> None:
    assert decode(text) == message


def test_decoded_ids_are_ints() -> None:
    result = decode(vote_frame(comparison_id=2.0, preferred_feature_id=5.0))

    assert isinstance(result, VoteSubmitted)
    assert type(result.comparison_id) is int
    assert type(result.choice.preferred_feature_id) is int


# --- decode: rejected ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("{", id="truncated"),
        pytest.param("{'type': 'join_session'}", id="single-quotes"),
        pytest.param('{"type": "join_session"} {}', id="two-documents"),
        pytest.param('{"type": NaN}', id="NaN"),
        pytest.param('{"type": "join_session", "data": {"x": Infinity}}', id="Infinity"),
        pytest.param('{"type": "join_session", "data": {"x": -Infinity}}', id="-Infinity"),
        pytest.param("[]", id="list"),
        pytest.param('"join_session"', id="string"),
        pytest.param("42", id="number"),
        pytest.param("null", id="null"),
        pytest.param("true", id="true"),
        pytest.param('{"data": {}}', id="type-missing"),
        pytest.param('{"type": null}', id="type-null"),
        pytest.param('{"type": 1}', id="type-number"),
        pytest.param('{"type": ["join_session"]}', id="type-list"),
        pytest.param('{"type": "join_session", "data": []}', id="data-list"),
        pytest.param('{"type": "join_session", "data": "x"}', id="data-string"),
        pytest.param('{"type": "vote_submitted", "data": 0}', id="data-zero"),
        pytest.param('{"type": "vote_submitted"}', id="vote-missing-no-data"),
        pytest.param(frame("vote_submitted", {}), id="vote-missing"),
        pytest.param(frame("vote_submitted", {"vote": None}), id="vote-null"),
        pytest.param(frame("vote_submitted", {"vote": [1, 2]}), id="vote-list"),
        pytest.param(frame("vote_submitted", {"vote": "1"}), id="vote-string"),
        pytest.param(vote_frame(preferred_feature_id=2), id="comparison_id-missing"),
        pytest.param(vote_frame(comparison_id=None, is_tie_vote=True), id="comparison_id-null"),
        pytest.param(vote_frame(comparison_id="2", is_tie_vote=True), id="comparison_id-str"),
        pytest.param(vote_frame(comparison_id=True, is_tie_vote=True), id="comparison_id-true"),
        pytest.param(vote_frame(comparison_id=2.5, is_tie_vote=True), id="comparison_id-2.5"),
        pytest.param(vote_frame(comparison_id=0, is_tie_vote=True), id="comparison_id-0"),
        pytest.param(vote_frame(comparison_id=-3, is_tie_vote=True), id="comparison_id-negative"),
        pytest.param(
            vote_frame(comparison_id=MAX_ID + 1, is_tie_vote=True), id="comparison_id-big"
        ),
        pytest.param(vote_frame(comparison_id=1e300, is_tie_vote=True), id="comparison_id-1e300"),
        pytest.param(
            '{"type": "vote_submitted", "data": {"vote": {"comparison_id": 1e400, '
            '"is_tie_vote": true}}}',
            id="comparison_id-overflow",
        ),
        pytest.param(vote_frame(comparison_id=[1], is_tie_vote=True), id="comparison_id-list"),
        pytest.param(vote_frame(comparison_id=1, preferred_feature_id="2"), id="feature-str"),
        pytest.param(vote_frame(comparison_id=1, preferred_feature_id=2.5), id="feature-2.5"),
        pytest.param(vote_frame(comparison_id=1, preferred_feature_id=False), id="feature-false"),
        pytest.param(vote_frame(comparison_id=1, preferred_feature_id=0), id="feature-0"),
        pytest.param(vote_frame(comparison_id=1, is_tie_vote=1), id="tie-1"),
        pytest.param(vote_frame(comparison_id=1, is_tie_vote="true"), id="tie-str"),
        pytest.param(
            vote_frame(comparison_id=1, preferred_feature_id=2, is_tie_vote=None), id="tie-null"
        ),
        pytest.param(
            vote_frame(comparison_id=1, preferred_feature_id=2, weight=3), id="extra-vote-field"
        ),
        pytest.param(
            frame("vote_submitted", {"vote": {"comparison_id": 1, "is_tie_vote": True}, "x": 1}),
            id="extra-data-field",
        ),
        pytest.param(frame("facilitator_action", {"action": "explode"}), id="action-unknown"),
        pytest.param(frame("facilitator_action", {}), id="action-missing"),
        pytest.param("[" * 100_000 + "]" * 100_000, id="deep-lists"),
        pytest.param('{"a":' * 100_000 + "1" + "}" * 100_000, id="deep-objects"),
        pytest.param(
            frame("vote_submitted", {"vote": {"comparison_id": 1, "is_tie_vote": True}})[:-1],
            id="unterminated",
        ),
        pytest.param('{"type": "join_session\x00"}', id="raw-NUL-in-string"),
    ],
)
def test_decode_invalid_message(text: str) -> None:
    rejected(decode(text), ErrorCode.INVALID_MESSAGE)


def test_binary_frame_is_invalid_message() -> None:
    rejected(decode(b'{"type": "join_session", "data": {}}'), ErrorCode.INVALID_MESSAGE)


@pytest.mark.parametrize(
    "text",
    [
        '{"type": "vote"}',
        '{"type": ""}',
        '{"type": "JOIN_SESSION"}',
        '{"type": "session_state", "data": {}}',
        '{"type": "vote_submitted ", "data": {}}',
        '{"type": "\\ud800"}',
        '{"type": "\\u0000"}',
        '{"type": "' + "x" * 3000 + '"}',
    ],
)
def test_decode_unknown_type(text: str) -> None:
    result = rejected(decode(text), ErrorCode.UNKNOWN_TYPE)
    assert len(result.message) < 200


@pytest.mark.parametrize(
    "vote",
    [
        {"comparison_id": 1, "preferred_feature_id": 2, "is_tie_vote": True},
        {"comparison_id": 1},
        {"comparison_id": 1, "is_tie_vote": False},
        {"comparison_id": 1, "preferred_feature_id": None, "is_tie_vote": False},
    ],
)
def test_decode_both_or_neither_is_invalid_vote(vote: dict[str, Any]) -> None:
    rejected(decode(vote_frame(**vote)), ErrorCode.INVALID_VOTE)


def test_rejection_message_names_the_field() -> None:
    result = rejected(
        decode(vote_frame(comparison_id="2", is_tie_vote=True)), ErrorCode.INVALID_MESSAGE
    )
    assert "comparison_id" in result.message


# --- unicode edge cases ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Well-formed JSON with odd strings: nothing raises.
        ('{"type": "join_session", "data": {"note": "\\ud800"}}', JoinSession()),
        ('{"type": "join_session", "data": {"note": "\\u0000"}}', JoinSession()),
        ('{"type": "join_session", "data": {"note": "\\udc00\\ud800 \U0001f600"}}', JoinSession()),
        ('{"type": "join_session", "\\ud800": 1}', JoinSession()),
        ('{"type": "\\ud800"}', ErrorCode.UNKNOWN_TYPE),
        ('{"type": "\\u0000"}', ErrorCode.UNKNOWN_TYPE),
        (vote_frame(comparison_id="\ud800", is_tie_vote=True), ErrorCode.INVALID_MESSAGE),
        (vote_frame(comparison_id=1, is_tie_vote="\x00"), ErrorCode.INVALID_MESSAGE),
        (vote_frame(comparison_id=1, is_tie_vote=True, **{"\ud800": 1}), ErrorCode.INVALID_MESSAGE),
        (vote_frame(comparison_id=1, is_tie_vote=True, **{"\x00": 1}), ErrorCode.INVALID_MESSAGE),
        (frame("facilitator_action", {"action": "\ud800"}), ErrorCode.INVALID_MESSAGE),
    ],
)
def test_decode_unicode_edge_cases(text: str, expected: wire.ClientMessage | ErrorCode) -> None:
    result = decode(text)

    if isinstance(expected, ErrorCode):
        rejected(result, expected)
    else:
        assert result == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"type": "\\ud800"}', id="in-type"),
        pytest.param(vote_frame(comparison_id="\ud800", is_tie_vote=True), id="in-id-value"),
        pytest.param(
            vote_frame(comparison_id=1, is_tie_vote=True, **{"\ud800": 1}), id="in-vote-key"
        ),
        pytest.param(
            frame(
                "vote_submitted", {"vote": {"comparison_id": 1, "is_tie_vote": True}, "\udfff": 1}
            ),
            id="in-data-key",
        ),
        pytest.param(frame("facilitator_action", {"action": "\ud800"}), id="in-action"),
    ],
)
def test_error_frame_for_lone_surrogates_is_valid_utf8(text: str) -> None:
    """The `error` answer goes out in a text frame: it must encode as UTF-8."""
    rejection = decode(text)
    assert isinstance(rejection, Rejection)

    text = encode(wire.error(rejection), session_id=1, attendee_id=2, now=NOW)

    assert json.loads(text.encode("utf-8"))["data"]["code"] == rejection.code.value


# --- encode ----------------------------------------------------------------------------------


def test_encode_envelope() -> None:
    data = wire.error(Rejection(ErrorCode.RATE_LIMITED, "slow down"))

    text = encode(data, session_id=5, attendee_id=2, now=NOW)

    assert json.loads(text) == {
        "type": "error",
        "session_id": 5,
        "attendee_id": 2,
        "data": {"code": "rate_limited", "message": "slow down"},
        "timestamp": "2026-11-25T21:03:04.123456Z",
    }


@pytest.mark.parametrize(
    "now",
    [
        NOW,
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),  # no microseconds: still six digits
        datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime.now(UTC),
    ],
)
def test_encode_timestamp_format(now: datetime) -> None:
    notice = wire.notice(wire.NoticeEvent.SERVER_SHUTDOWN)

    text = encode(notice, session_id=1, attendee_id=0, now=now)

    timestamp = json.loads(text)["timestamp"]
    assert TIMESTAMP.match(timestamp), timestamp
    assert timestamp == now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


TEXT = "Zoë's vote — 投票 😀"


def test_encode_keeps_non_ascii_readable() -> None:
    data = wire.error(Rejection(ErrorCode.INVALID_VOTE, TEXT))

    text = encode(data, session_id=1, attendee_id=2, now=NOW)

    assert TEXT in text
    assert "\\u" not in text
    assert json.loads(text)["data"]["message"] == TEXT


# --- from domain events to messages --------------------------------------------------------

FEATURES = [
    Feature(id=11, project_id=7, title="Dark mode", description="Easy on the eyes"),
    Feature(id=12, project_id=7, title="Éxport CSV"),
]
ATTENDEES = [
    Attendee(id=1, project_id=7, name="Ada"),
    Attendee(id=2, project_id=7, name="Bo"),
]


def workshop(
    status: ComparisonStatus = ComparisonStatus.OPEN, *, winner_id: int | None = None
) -> s.SessionState:
    """Two features, one comparison (id 101), two attendees, Ada online and voted for 11."""
    session = Session(
        id=5,
        project_id=7,
        criterion=Criterion.COMPLEXITY,
        status=SessionStatus.ACTIVE,
        settings=ConsensusSettings(rule=Rule.SUPERMAJORITY, threshold=0.8, min_votes=3),
    )
    comparison = Comparison(
        id=101,
        session_id=5,
        position=1,
        feature_a_id=11,
        feature_b_id=12,
        status=status,
        winner_id=winner_id,
        is_tie=status is ComparisonStatus.DECIDED and winner_id is None,
    )
    vote = Vote(comparison_id=101, attendee_id=1, choice=Choice.feature(11), voted_at=NOW)
    state = s.new_state(session, FEATURES, ATTENDEES, [comparison], [vote])
    return attrs.evolve(state, online=frozenset({1}))


def as_wire(data: wire.ServerData | None) -> dict[str, Any]:
    assert data is not None, "this event has a message"
    decoded: dict[str, Any] = json.loads(encode(data, session_id=5, attendee_id=1, now=NOW))
    return decoded


COMPARISON_KEYS = {
    "id",
    "position",
    "feature_a_id",
    "feature_b_id",
    "feature_a_title",
    "feature_b_title",
    "status",
    "winner_id",
    "is_tie",
    "decided_by_facilitator",
    "implied_by",
    "note",
}


def test_vote_recorded_becomes_vote_received() -> None:
    vote = Vote(comparison_id=101, attendee_id=2, choice=Choice.tie(), voted_at=NOW)
    event = s.VoteRecorded(vote=vote, votes_received=2, voters_expected=3)

    message = as_wire(event_data(event, workshop()))

    assert message["type"] == "vote_received"
    assert message["data"] == {
        "comparison_id": 101,
        "attendee_id": 2,
        "attendee_name": "Bo",
        "preferred_feature_id": None,
        "is_tie_vote": True,
        "votes_received": 2,
        "voters_expected": 3,
    }


def test_vote_for_a_feature_is_not_a_tie_vote() -> None:
    vote = Vote(comparison_id=101, attendee_id=1, choice=Choice.feature(12), voted_at=NOW)
    event = s.VoteRecorded(vote=vote, votes_received=1, voters_expected=2)

    data = as_wire(event_data(event, workshop()))["data"]

    assert (data["preferred_feature_id"], data["is_tie_vote"]) == (12, False)


@pytest.mark.parametrize(
    ("winner_id", "is_tie", "winner_title"),
    [(12, False, "Éxport CSV"), (None, True, None)],
)
def test_consensus_reached(winner_id: int | None, is_tie: bool, winner_title: str | None) -> None:
    state = workshop(ComparisonStatus.DECIDED, winner_id=winner_id)
    event = s.ConsensusReached(state.comparisons[101])

    message = as_wire(event_data(event, state))

    assert message["type"] == "consensus_reached"
    assert message["data"] == {
        "comparison_id": 101,
        "winner_id": winner_id,
        "is_tie": is_tie,
        "feature_a_title": "Dark mode",
        "feature_b_title": "Éxport CSV",
        "winner_title": winner_title,
    }


def test_consensus_lost() -> None:
    state = workshop()

    message = as_wire(event_data(s.ConsensusLost(state.comparisons[101]), state))

    assert message["type"] == "consensus_lost"
    assert message["data"] == {
        "comparison_id": 101,
        "feature_a_title": "Dark mode",
        "feature_b_title": "Éxport CSV",
    }


def test_progress_changed_becomes_session_progress() -> None:
    event = s.ProgressChanged(Progress(total_comparisons=3, completed_comparisons=1))

    message = as_wire(event_data(event, workshop()))

    assert message["type"] == "session_progress"
    assert message["data"] == {
        "total_comparisons": 3,
        "completed_comparisons": 1,
        "progress_percentage": 33.33,
        "is_complete": False,
    }


@pytest.mark.parametrize("current", [None, 102])
def test_current_comparison_moved_becomes_comparison_update(current: int | None) -> None:
    state = workshop(ComparisonStatus.DECIDED, winner_id=11)
    event = s.CurrentComparisonMoved(state.comparisons[101], current_comparison_id=current)

    message = as_wire(event_data(event, state))

    assert message["type"] == "comparison_update"
    assert set(message["data"]) == {"comparison", "current_comparison_id", "action"}
    assert message["data"]["action"] is None  # moved by votes, not by the facilitator
    assert message["data"]["current_comparison_id"] == current
    assert message["data"]["comparison"] == {
        "id": 101,
        "position": 1,
        "feature_a_id": 11,
        "feature_b_id": 12,
        "feature_a_title": "Dark mode",
        "feature_b_title": "Éxport CSV",
        "status": "decided",
        "winner_id": 11,
        "is_tie": False,
        "decided_by_facilitator": False,
        "implied_by": [],
        "note": "",
    }


@pytest.mark.parametrize(
    ("event", "notice_event"),
    [
        (s.SessionCompleted(), "session_completed"),
        (s.SessionClosed(), "session_closed"),
    ],
)
def test_session_events_become_system_notices(event: s.Event, notice_event: str) -> None:
    message = as_wire(event_data(event, workshop()))

    assert message["type"] == "system_notice"
    assert set(message["data"]) == {"event", "message"}
    assert message["data"]["event"] == notice_event
    assert message["data"]["message"].strip()


def test_server_shutdown_notice() -> None:
    message = as_wire(wire.notice(wire.NoticeEvent.SERVER_SHUTDOWN))

    assert message["type"] == "system_notice"
    assert message["data"]["event"] == "server_shutdown"


def test_attendee_came_online_becomes_attendee_joined() -> None:
    message = as_wire(event_data(s.AttendeeCameOnline(ATTENDEES[1], online_count=2), workshop()))

    assert message["type"] == "attendee_joined"
    assert message["data"] == {"attendee_id": 2, "attendee_name": "Bo", "online_count": 2}


@pytest.mark.parametrize("reason", list(LeaveReason))
def test_attendee_went_offline_becomes_attendee_left(reason: LeaveReason) -> None:
    event = s.AttendeeWentOffline(ATTENDEES[0], online_count=0)

    message = as_wire(event_data(event, workshop(), leave_reason=reason))

    assert message["type"] == "attendee_left"
    assert message["data"] == {
        "attendee_id": 1,
        "attendee_name": "Ada",
        "reason": reason.value,
        "online_count": 0,
    }


def test_attendee_left_reason_defaults_to_disconnected() -> None:
    event = s.AttendeeWentOffline(ATTENDEES[0], online_count=0)

    assert as_wire(event_data(event, workshop()))["data"]["reason"] == "disconnected"


def test_leave_reasons_are_the_contracts() -> None:
    assert {r.value for r in LeaveReason} == {
        "left",
        "disconnected",
        "timeout",
        "slow_consumer",
        "rate_abuse",
        "session_closed",
        "server_shutdown",
        "removed",  # section 9: `attendee remove`
    }


def test_error_codes_are_the_contracts() -> None:
    contract = {
        "invalid_message",
        "unknown_type",
        "invalid_vote",
        "comparison_closed",
        "session_not_active",
        "rate_limited",
        "forbidden",
    }
    assert contract <= {code.value for code in ErrorCode}


# --- session_state -------------------------------------------------------------------------


def test_session_state_for_an_attendee() -> None:
    state = workshop()
    you = YouView(role="attendee", attendee_id=1, name="Ada")

    message = as_wire(session_state_data(state, you))

    assert message["type"] == "session_state"
    data = message["data"]
    assert set(data) == {
        "session",
        "you",
        "features",
        "comparisons",
        "attendees",
        "current_comparison_id",
        "progress",
        "timer",
    }
    assert data["session"] == {
        "id": 5,
        "project_id": 7,
        "criterion": "complexity",
        "status": "active",
        "consensus": {
            "rule": "supermajority",
            "threshold": 0.8,
            "min_votes": 3,
            "quorum": "present",
        },
        "self_registration": True,
        "schedule": "all",
    }
    assert data["you"] == {"role": "attendee", "attendee_id": 1, "name": "Ada"}
    assert data["features"] == [
        {"id": 11, "title": "Dark mode", "description": "Easy on the eyes"},
        {"id": 12, "title": "Éxport CSV", "description": ""},
    ]
    [comparison] = data["comparisons"]
    assert set(comparison) == COMPARISON_KEYS | {"votes", "voters_expected"}
    assert comparison["voters_expected"] == 1  # Ada, online
    assert (comparison["id"], comparison["status"], comparison["winner_id"]) == (101, "open", None)
    assert comparison["is_tie"] is False
    assert comparison["votes"] == [
        {
            "attendee_id": 1,
            "preferred_feature_id": 11,
            "is_tie_vote": False,
            "voted_at": "2026-11-25T21:03:04.123456Z",
        }
    ]
    assert data["attendees"] == [
        {"attendee_id": 1, "name": "Ada", "online": True, "role": "voter"},
        {"attendee_id": 2, "name": "Bo", "online": False, "role": "voter"},
    ]
    assert data["current_comparison_id"] == 101
    assert data["progress"] == {
        "total_comparisons": 1,
        "completed_comparisons": 0,
        "progress_percentage": 0.0,
        "is_complete": False,
    }


def test_session_state_for_a_facilitator_of_a_finished_session() -> None:
    state = workshop(ComparisonStatus.DECIDED, winner_id=None)

    data = as_wire(session_state_data(state, YouView(role="facilitator")))["data"]

    assert data["you"]["role"] == "facilitator"
    assert data["you"].get("attendee_id") is None
    assert data["current_comparison_id"] is None
    assert data["comparisons"][0]["is_tie"] is True
    assert data["progress"]["is_complete"] is True
    assert data["progress"]["progress_percentage"] == 100.0


def test_session_state_from_the_cache_is_the_same_text() -> None:
    """The room's fast session_state (JSON kept per attendee and per comparison's
    votes) says exactly what `encode(session_state_data(...))` says, as attendees
    come, go, rename and leave and votes are cast, changed and cleared."""
    cache = wire.SessionStateCache()
    you = YouView(role="attendee", attendee_id=1, name="Ada")
    state = workshop()
    renamed = {**state.attendees, 2: Attendee(id=2, project_id=7, name='Bö "the" <2>')}
    # A title holding the text the cache puts the votes in at: it must stay a title.
    tricky = {
        **state.features,
        12: Feature(id=12, project_id=7, title='"votes":[]', description='"votes":[]'),
    }
    bo_votes = s.cast_vote(state, 2, 101, Choice.tie(), NOW)
    assert isinstance(bo_votes, s.Transition)
    ada_changes = s.cast_vote(bo_votes.state, 1, 101, Choice.feature(12), NOW)
    assert isinstance(ada_changes, s.Transition)
    states = [
        state,
        attrs.evolve(state, online=frozenset({1, 2})),
        attrs.evolve(state, online=frozenset()),
        attrs.evolve(state, attendees=renamed, online=frozenset({2})),
        attrs.evolve(state, attendees={1: state.attendees[1]}),
        bo_votes.state,
        ada_changes.state,
        attrs.evolve(ada_changes.state, votes={}),
        attrs.evolve(ada_changes.state, features=tricky),
        state,
    ]
    for current in states:
        fast = wire.encode_session_state(
            current, you, session_id=5, attendee_id=1, now=NOW, cache=cache
        )
        assert fast == encode(
            session_state_data(current, you), session_id=5, attendee_id=1, now=NOW
        )


def test_encode_is_the_envelope_json_dumps_would_make() -> None:
    data = session_state_data(workshop(), YouView(role="facilitator"))
    envelope = {
        "type": "session_state",
        "session_id": 5,
        "attendee_id": 0,
        "data": wire.converter.unstructure(data),
        "timestamp": "2026-11-25T21:03:04.123456Z",
    }
    expected = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))
    assert encode(data, session_id=5, attendee_id=0, now=NOW) == expected
