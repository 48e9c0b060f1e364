"""The facilitator's actions on a live session (pairwise_ws.domain.session).

Same workshop as test_session: features 11, 12, 13; attendees 1, 2, 3;
comparisons 101 (11 v 12), 102 (12 v 13), 103 (11 v 13) at positions 1, 2, 3.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pairwise_ws.domain import facilitation as f
from pairwise_ws.domain import session as s
from pairwise_ws.domain.models import (
    Choice,
    ComparisonStatus,
    ErrorCode,
    Outcome,
    Progress,
    Rejection,
    SessionStatus,
)
from tests.test_session import T0, event_of, kinds, make_state, vote, votes


def ok(result: s.Transition | Rejection) -> s.Transition:
    assert isinstance(result, s.Transition), result
    return result


def test_decide_the_current_comparison() -> None:
    state = make_state(online={1, 2})

    transition = ok(f.decide(state, 101, Outcome.of(12)))

    assert kinds(transition) == [s.ConsensusReached, s.ProgressChanged, s.ComparisonChanged]
    decided = transition.state.comparisons[101]
    assert (decided.status, decided.winner_id, decided.is_tie) == (
        ComparisonStatus.DECIDED,
        12,
        False,
    )
    assert decided.decided_by_facilitator
    changed = event_of(transition, s.ComparisonChanged)
    assert changed.comparison == decided
    assert changed.current_comparison_id == 102
    assert transition.state.progress == Progress(3, 1)


def test_decide_a_tie() -> None:
    transition = ok(f.decide(make_state(), 102, Outcome.of(None)))

    decided = transition.state.comparisons[102]
    assert (decided.winner_id, decided.is_tie) == (None, True)
    # Not the current comparison: it stays where it is.
    assert event_of(transition, s.ComparisonChanged).current_comparison_id == 101


def test_a_facilitator_decision_holds_when_votes_change() -> None:
    state = ok(f.decide(make_state(online={1, 2}), 101, Outcome.of(12))).state

    # Both vote for the other feature: stored and acknowledged, decision unchanged.
    after = votes(state, 101, (1, 11), (2, 11))
    transition = vote(after, 1, 101, None)

    assert kinds(transition) == [s.VoteRecorded]
    assert after.comparisons[101].winner_id == 12
    assert transition.state.comparisons[101].winner_id == 12


def test_departures_do_not_undo_a_facilitator_decision() -> None:
    state = votes(make_state(online={1, 2, 3}), 101, (1, 11), (2, 12))
    state = ok(f.decide(state, 101, Outcome.of(11))).state

    transition = s.attendee_offline(state, 3)

    assert transition.state.comparisons[101].winner_id == 11
    assert s.ConsensusReached not in kinds(transition)


def test_deciding_again_with_the_same_outcome_only_reports_the_comparison() -> None:
    state = votes(make_state(online={1, 2}), 101, (1, 11), (2, 11))  # decided by votes
    assert state.comparisons[101].winner_id == 11

    transition = ok(f.decide(state, 101, Outcome.of(11)))

    assert kinds(transition) == [s.ComparisonChanged]
    assert transition.state.comparisons[101].decided_by_facilitator


def test_decide_rejects_a_feature_outside_the_comparison() -> None:
    result = f.decide(make_state(), 101, Outcome.of(13))

    assert result == Rejection(ErrorCode.INVALID_VOTE, "feature 13 is not in comparison 101")


def test_reset_clears_votes_and_reopens() -> None:
    state = votes(make_state(online={1, 2}), 101, (1, 11), (2, 11))
    assert state.comparisons[101].status is ComparisonStatus.DECIDED

    transition = ok(f.reset_comparison(state, 101))

    assert kinds(transition) == [
        s.VotesCleared,
        s.ConsensusLost,
        s.ProgressChanged,
        s.ComparisonChanged,
    ]
    after = transition.state
    assert after.comparisons[101].status is ComparisonStatus.OPEN
    assert after.votes_on(101) == {}
    assert after.current_comparison_id == 101
    assert event_of(transition, s.ComparisonChanged).current_comparison_id == 101


def test_reset_of_an_open_comparison_clears_its_votes_only() -> None:
    state = votes(make_state(online={1, 2, 3}), 102, (1, 12))

    transition = ok(f.reset_comparison(state, 102))

    assert kinds(transition) == [s.VotesCleared, s.ComparisonChanged]
    assert transition.state.votes_on(102) == {}


def test_reset_lets_votes_decide_again_after_a_facilitator_decision() -> None:
    state = ok(f.decide(make_state(online={1, 2}), 101, Outcome.of(12))).state
    state = ok(f.reset_comparison(state, 101)).state

    after = votes(state, 101, (1, 11), (2, 11))

    assert after.comparisons[101].winner_id == 11
    assert not after.comparisons[101].decided_by_facilitator


def test_skip_counts_as_settled_and_refuses_votes() -> None:
    transition = ok(f.skip(make_state(online={1, 2}), 101))

    assert kinds(transition) == [s.ProgressChanged, s.ComparisonChanged]
    assert transition.state.comparisons[101].status is ComparisonStatus.SKIPPED
    assert transition.state.current_comparison_id == 102
    refused = s.cast_vote(transition.state, 1, 101, Choice.feature(11), T0)
    assert isinstance(refused, Rejection)
    assert refused.code is ErrorCode.COMPARISON_CLOSED


def test_skip_of_a_decided_comparison_drops_its_outcome() -> None:
    state = votes(make_state(online={1, 2}), 101, (1, 11), (2, 11))

    transition = ok(f.skip(state, 101))

    skipped = transition.state.comparisons[101]
    assert (skipped.status, skipped.winner_id, skipped.is_tie) == (
        ComparisonStatus.SKIPPED,
        None,
        False,
    )
    # Decided and skipped both count as settled: progress doesn't move.
    assert kinds(transition) == [s.ComparisonChanged]


def test_settling_the_last_comparison_completes_the_session() -> None:
    state = make_state(statuses={101: ComparisonStatus.DECIDED, 102: ComparisonStatus.SKIPPED})

    transition = ok(f.skip(state, 103))

    assert kinds(transition)[-1] is s.SessionCompleted
    assert transition.state.session.status is SessionStatus.COMPLETED
    assert event_of(transition, s.ComparisonChanged).current_comparison_id is None


def test_reset_reopens_a_completed_session() -> None:
    state = make_state(
        status=SessionStatus.COMPLETED,
        statuses={cid: ComparisonStatus.DECIDED for cid in (101, 102, 103)},
    )

    transition = ok(f.reset_comparison(state, 102))

    assert kinds(transition)[-1] is s.SessionReopened
    assert transition.state.session.status is SessionStatus.ACTIVE
    assert transition.state.current_comparison_id == 102


@pytest.mark.parametrize(
    "act",
    [
        lambda state: f.reset_comparison(state, 101),
        lambda state: f.skip(state, 101),
        lambda state: f.decide(state, 101, Outcome.of(11)),
    ],
    ids=["reset", "skip", "decide"],
)
def test_actions_on_a_closed_session_are_refused(
    act: Callable[[s.SessionState], s.Transition | Rejection],
) -> None:
    result = act(make_state(status=SessionStatus.CLOSED))

    assert isinstance(result, Rejection)
    assert result.code is ErrorCode.SESSION_NOT_ACTIVE


def test_actions_on_an_unknown_comparison_are_refused() -> None:
    result = f.skip(make_state(), 999)

    assert result == Rejection(ErrorCode.INVALID_VOTE, "comparison 999 is not in session 5")


def test_self_registration_toggles_once() -> None:
    state = make_state()
    assert state.session.self_registration

    closed = s.set_self_registration(state, False, state.session.join_code)
    again = s.set_self_registration(closed.state, False, state.session.join_code)

    assert closed.events == (s.RegistrationChanged(False),)
    assert not closed.state.session.self_registration
    assert again.events == ()


@pytest.mark.parametrize(
    ("action", "comparison_id", "winner_id", "is_tie", "code"),
    [
        ("skip", None, None, False, ErrorCode.INVALID_MESSAGE),
        ("decide", 101, None, False, ErrorCode.INVALID_VOTE),  # neither winner nor tie
        ("decide", 101, 11, True, ErrorCode.INVALID_VOTE),  # both
    ],
)
def test_facilitator_action_refuses_incomplete_requests(
    action: s.FacilitatorActionName,
    comparison_id: int | None,
    winner_id: int | None,
    is_tie: bool,
    code: ErrorCode,
) -> None:
    result = f.facilitator_action(make_state(), action, comparison_id, winner_id, is_tie)

    assert isinstance(result, Rejection)
    assert result.code is code


def test_facilitator_action_dispatches() -> None:
    state = make_state(online={1, 2})

    decided = ok(f.facilitator_action(state, "decide", 101, 12, False))
    tie = ok(f.facilitator_action(state, "decide", 101, None, True))
    closed = ok(f.facilitator_action(state, "close_session", None, None, False))

    assert decided.state.comparisons[101].winner_id == 12
    assert tie.state.comparisons[101].is_tie
    assert closed.events == (s.SessionClosed(),)
    again = f.facilitator_action(closed.state, "close_session", None, None, False)
    assert isinstance(again, Rejection)
    assert again.code is ErrorCode.SESSION_NOT_ACTIVE


def test_a_new_join_code_is_announced_only_while_open() -> None:
    state = make_state()

    rotated = s.set_self_registration(state, True, "new-code")
    closed = s.set_self_registration(rotated.state, False, "new-code")
    rotated_while_closed = s.set_self_registration(closed.state, False, "newer")

    assert rotated.events == (s.RegistrationChanged(True),)
    assert rotated.state.session.join_code == "new-code"
    assert rotated_while_closed.events == ()
    assert rotated_while_closed.state.session.join_code == "newer"
