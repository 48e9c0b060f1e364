"""A live session's transitions (pairwise_ws.domain.session).

The workshop: features 11, 12, 13; attendees 1, 2, 3; comparisons 101 (11 v 12),
102 (12 v 13) and 103 (11 v 13) at positions 1, 2, 3.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import attrs
import pytest

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
    Quorum,
    Rejection,
    Rule,
    Session,
    SessionStatus,
    Vote,
)

E = TypeVar("E")

PROJECT_ID = 7
SESSION_ID = 5
T0 = datetime(2026, 11, 25, 21, 0, 0, tzinfo=UTC)

FEATURES = [Feature(id=i, project_id=PROJECT_ID, title=f"Feature {i}") for i in (11, 12, 13)]
ATTENDEES = [
    Attendee(id=1, project_id=PROJECT_ID, name="Ada"),
    Attendee(id=2, project_id=PROJECT_ID, name="Bo"),
    Attendee(id=3, project_id=PROJECT_ID, name="Cy"),
]
PAIRS = {101: (1, 11, 12), 102: (2, 12, 13), 103: (3, 11, 13)}  # id: (position, a, b)


def make_state(
    *,
    settings: ConsensusSettings | None = None,
    status: SessionStatus = SessionStatus.ACTIVE,
    online: Iterable[int] = (),
    statuses: dict[int, ComparisonStatus] | None = None,
) -> s.SessionState:
    statuses = statuses or {}
    comparisons = [
        Comparison(
            id=cid,
            session_id=SESSION_ID,
            position=position,
            feature_a_id=a,
            feature_b_id=b,
            status=statuses.get(cid, ComparisonStatus.OPEN),
            # A comparison made decided here is a tie: nothing hangs on its outcome.
            is_tie=statuses.get(cid) is ComparisonStatus.DECIDED,
        )
        # Given out of position order on purpose: new_state sorts them.
        for cid, (position, a, b) in reversed(PAIRS.items())
    ]
    session = Session(
        id=SESSION_ID,
        project_id=PROJECT_ID,
        criterion=Criterion.VALUE,
        status=status,
        settings=settings or ConsensusSettings(),
    )
    state = s.new_state(session, FEATURES, ATTENDEES, comparisons, votes=[])
    return attrs.evolve(state, online=frozenset(online))


def choice(option: int | None) -> Choice:
    return Choice.tie() if option is None else Choice.feature(option)


def vote(
    state: s.SessionState,
    attendee_id: int,
    comparison_id: int,
    option: int | None,
    now: datetime = T0,
) -> s.Transition:
    result = s.cast_vote(state, attendee_id, comparison_id, choice(option), now)
    assert isinstance(result, s.Transition), result
    return result


def votes(
    state: s.SessionState, comparison_id: int, *ballots: tuple[int, int | None]
) -> s.SessionState:
    """`state` after each (attendee, option) in turn voted on `comparison_id`."""
    for attendee_id, option in ballots:
        state = vote(state, attendee_id, comparison_id, option).state
    return state


def kinds(transition: s.Transition) -> list[type]:
    return [type(event) for event in transition.events]


def event_of(transition: s.Transition, kind: type[E]) -> E:
    found = [event for event in transition.events if isinstance(event, kind)]
    assert len(found) == 1, transition.events
    return found[0]


# --- building a state -----------------------------------------------------------


def test_new_state_orders_comparisons_by_position() -> None:
    state = make_state()

    assert list(state.comparisons) == [101, 102, 103]
    assert state.current_comparison_id == 101
    assert state.progress == Progress(total_comparisons=3, completed_comparisons=0)


def test_new_state_keeps_the_given_votes() -> None:
    session = make_state().session
    given = [
        Vote(comparison_id=101, attendee_id=1, choice=Choice.feature(11), voted_at=T0),
        Vote(comparison_id=101, attendee_id=2, choice=Choice.tie(), voted_at=T0),
    ]
    comparisons = make_state().comparisons.values()

    state = s.new_state(session, FEATURES, ATTENDEES, comparisons, given)

    assert dict(state.votes_on(101)) == {1: given[0], 2: given[1]}
    assert dict(state.votes_on(102)) == {}


# --- cast_vote: rejections --------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "statuses", "attendee_id", "comparison_id", "option", "code"),
    [
        (SessionStatus.COMPLETED, {}, 1, 101, 11, ErrorCode.SESSION_NOT_ACTIVE),
        (SessionStatus.CLOSED, {}, 1, 101, 11, ErrorCode.SESSION_NOT_ACTIVE),
        (SessionStatus.ACTIVE, {}, 1, 999, 11, ErrorCode.INVALID_VOTE),
        (SessionStatus.ACTIVE, {}, 1, 101, 13, ErrorCode.INVALID_VOTE),
        (SessionStatus.ACTIVE, {}, 1, 101, 999, ErrorCode.INVALID_VOTE),
        (
            SessionStatus.ACTIVE,
            {101: ComparisonStatus.SKIPPED},
            1,
            101,
            11,
            ErrorCode.COMPARISON_CLOSED,
        ),
        (
            SessionStatus.ACTIVE,
            {101: ComparisonStatus.SKIPPED},
            1,
            101,
            None,
            ErrorCode.COMPARISON_CLOSED,
        ),
        (SessionStatus.ACTIVE, {}, 99, 101, 11, ErrorCode.FORBIDDEN),
    ],
)
def test_cast_vote_rejections(
    status: SessionStatus,
    statuses: dict[int, ComparisonStatus],
    attendee_id: int,
    comparison_id: int,
    option: int | None,
    code: ErrorCode,
) -> None:
    state = make_state(status=status, statuses=statuses, online={1, 2})

    result = s.cast_vote(state, attendee_id, comparison_id, choice(option), T0)

    assert isinstance(result, Rejection)
    assert result.code is code
    assert result.message


def test_vote_on_a_decided_comparison_is_accepted() -> None:
    state = make_state(statuses={101: ComparisonStatus.DECIDED}, online={1, 2})

    transition = vote(state, 1, 101, 11)

    assert kinds(transition)[0] is s.VoteRecorded


# --- cast_vote: recording -----------------------------------------------------------


def test_a_vote_replaces_the_earlier_one() -> None:
    state = make_state(online={1, 2, 3})
    state = vote(state, 1, 101, 11).state

    later = T0 + timedelta(seconds=5)
    transition = vote(state, 1, 101, 12, now=later)

    assert dict(transition.state.votes_on(101)) == {
        1: Vote(comparison_id=101, attendee_id=1, choice=Choice.feature(12), voted_at=later)
    }
    recorded = event_of(transition, s.VoteRecorded)
    assert (recorded.votes_received, recorded.voters_expected) == (1, 3)
    assert transition.events == (recorded,)


def test_first_vote_alone_only_records() -> None:
    state = make_state(online={1, 2})

    transition = vote(state, 1, 101, None)

    assert transition.events == (
        s.VoteRecorded(
            vote=Vote(comparison_id=101, attendee_id=1, choice=Choice.tie(), voted_at=T0),
            votes_received=1,
            voters_expected=2,
        ),
    )
    assert transition.state.comparisons[101].status is ComparisonStatus.OPEN


def test_deciding_vote_events_in_contract_order() -> None:
    state = votes(make_state(online={1, 2}), 101, (1, 11))

    transition = vote(state, 2, 101, 11)

    assert kinds(transition) == [
        s.VoteRecorded,
        s.ConsensusReached,
        s.ProgressChanged,
        s.CurrentComparisonMoved,
    ]
    recorded, reached, progress, moved = transition.events
    assert isinstance(recorded, s.VoteRecorded)
    assert recorded.vote.attendee_id == 2
    assert (recorded.votes_received, recorded.voters_expected) == (2, 2)
    assert isinstance(reached, s.ConsensusReached)
    assert reached.comparison.id == 101
    assert reached.comparison.status is ComparisonStatus.DECIDED
    assert (reached.comparison.winner_id, reached.comparison.is_tie) == (11, False)
    assert progress == s.ProgressChanged(Progress(total_comparisons=3, completed_comparisons=1))
    assert isinstance(moved, s.CurrentComparisonMoved)
    assert moved.comparison == reached.comparison  # the former current one, now decided
    assert moved.current_comparison_id == 102

    after = transition.state
    assert after.comparisons[101] == reached.comparison
    assert after.current_comparison_id == 102
    assert after.session.status is SessionStatus.ACTIVE


def test_unanimous_tie_votes_decide_a_tie() -> None:
    state = votes(make_state(online={1, 2}), 101, (1, None))

    transition = vote(state, 2, 101, None)

    reached = event_of(transition, s.ConsensusReached)
    assert (reached.comparison.winner_id, reached.comparison.is_tie) == (None, True)


def test_voting_ahead_decides_without_moving_the_current_comparison() -> None:
    state = votes(make_state(online={1, 2}), 103, (1, 13))

    transition = vote(state, 2, 103, 13)

    assert kinds(transition) == [s.VoteRecorded, s.ConsensusReached, s.ProgressChanged]
    assert transition.state.comparisons[103].winner_id == 13
    assert transition.state.current_comparison_id == 101


def test_undecided_while_an_online_attendee_has_not_voted() -> None:
    state = votes(make_state(online={1, 2, 3}), 101, (1, 11))

    transition = vote(state, 2, 101, 11)

    assert kinds(transition) == [s.VoteRecorded]
    assert event_of(transition, s.VoteRecorded).voters_expected == 3
    assert transition.state.comparisons[101].status is ComparisonStatus.OPEN


# --- decided comparisons --------------------------------------------------------------


def test_decided_comparison_stays_decided_when_someone_comes_online() -> None:
    state = votes(make_state(online={1, 2}), 101, (1, 11), (2, 11))

    transition = s.attendee_online(state, 3)

    assert transition.events == (s.AttendeeCameOnline(ATTENDEES[2], online_count=3),)
    assert transition.state.comparisons[101] == state.comparisons[101]
    assert transition.state.comparisons[101].status is ComparisonStatus.DECIDED


def test_changed_vote_loses_consensus() -> None:
    state = votes(make_state(online={1, 2}), 101, (1, 11), (2, 11))
    assert state.current_comparison_id == 102

    transition = vote(state, 2, 101, 12)

    assert kinds(transition) == [
        s.VoteRecorded,
        s.ConsensusLost,
        s.ProgressChanged,
        s.CurrentComparisonMoved,
    ]
    lost = event_of(transition, s.ConsensusLost)
    assert lost.comparison.id == 101
    assert lost.comparison.status is ComparisonStatus.OPEN
    assert (lost.comparison.winner_id, lost.comparison.is_tie) == (None, False)
    assert event_of(transition, s.ProgressChanged).progress.completed_comparisons == 0
    moved = event_of(transition, s.CurrentComparisonMoved)
    assert (moved.comparison.id, moved.current_comparison_id) == (101, 101)
    assert transition.state.comparisons[101].status is ComparisonStatus.OPEN
    assert transition.state.current_comparison_id == 101


def test_changed_vote_gives_a_new_winner_under_majority() -> None:
    settings = ConsensusSettings(rule=Rule.MAJORITY)
    state = votes(make_state(settings=settings, online={1, 2, 3}), 101, (1, 11), (2, 11), (3, 12))
    assert state.comparisons[101].winner_id == 11

    transition = vote(state, 1, 101, 12)

    # The count of settled comparisons did not change: no progress, no move.
    assert kinds(transition) == [s.VoteRecorded, s.ConsensusReached]
    reached = event_of(transition, s.ConsensusReached)
    assert (reached.comparison.id, reached.comparison.winner_id) == (101, 12)
    assert transition.state.comparisons[101].winner_id == 12
    assert transition.state.comparisons[101].status is ComparisonStatus.DECIDED


def test_same_choice_again_on_a_decided_comparison_only_records() -> None:
    state = votes(make_state(online={1, 2}), 101, (1, 11), (2, 11))
    later = T0 + timedelta(minutes=1)

    transition = vote(state, 1, 101, 11, now=later)

    assert kinds(transition) == [s.VoteRecorded]
    assert transition.state.comparisons == state.comparisons
    assert transition.state.votes_on(101)[1].voted_at == later
    assert transition.state.progress == state.progress


# --- presence ---------------------------------------------------------------------------


def test_attendee_online_counts_and_is_idempotent() -> None:
    state = make_state()

    first = s.attendee_online(state, 1)
    second = s.attendee_online(first.state, 2)
    again = s.attendee_online(second.state, 2)

    assert first.events == (s.AttendeeCameOnline(ATTENDEES[0], online_count=1),)
    assert second.events == (s.AttendeeCameOnline(ATTENDEES[1], online_count=2),)
    assert again.events == ()
    assert again.state == second.state
    assert again.state.online == frozenset({1, 2})


def test_unknown_attendee_does_not_come_online() -> None:
    state = make_state()

    transition = s.attendee_online(state, 99)

    assert transition.events == ()
    assert transition.state.online == frozenset()


def test_attendee_offline_counts_and_is_idempotent() -> None:
    state = make_state(online={1, 2})

    first = s.attendee_offline(state, 2)
    again = s.attendee_offline(first.state, 2)

    assert first.events == (s.AttendeeWentOffline(ATTENDEES[1], online_count=1),)
    assert first.state.online == frozenset({1})
    assert again.events == ()
    assert again.state == first.state


def test_departure_lets_the_remaining_voters_decide() -> None:
    state = votes(make_state(online={1, 2, 3}), 101, (1, 11), (2, 11))
    assert state.comparisons[101].status is ComparisonStatus.OPEN

    transition = s.attendee_offline(state, 3)

    assert kinds(transition) == [
        s.AttendeeWentOffline,
        s.ConsensusReached,
        s.ProgressChanged,
        s.CurrentComparisonMoved,
    ]
    assert transition.events[0] == s.AttendeeWentOffline(ATTENDEES[2], online_count=2)
    assert event_of(transition, s.ConsensusReached).comparison.winner_id == 11
    assert transition.state.current_comparison_id == 102


def test_departure_decides_every_open_comparison_it_unblocks() -> None:
    state = make_state(online={1, 2, 3})
    state = votes(state, 101, (1, 11), (2, 11))
    state = votes(state, 103, (1, 13), (2, 13))

    transition = s.attendee_offline(state, 3)

    reached = [e.comparison.id for e in transition.events if isinstance(e, s.ConsensusReached)]
    assert reached == [101, 103]
    assert event_of(transition, s.ProgressChanged).progress.completed_comparisons == 2


def test_departure_with_quorum_all_decides_nothing() -> None:
    settings = ConsensusSettings(quorum=Quorum.ALL)
    state = votes(make_state(settings=settings, online={1, 2, 3}), 101, (1, 11), (2, 11))

    transition = s.attendee_offline(state, 3)

    assert kinds(transition) == [s.AttendeeWentOffline]
    assert transition.state.comparisons[101].status is ComparisonStatus.OPEN


def test_a_voter_who_left_still_counts() -> None:
    state = votes(make_state(online={1, 2}), 101, (1, 11))
    state = s.attendee_offline(state, 1).state

    transition = vote(state, 2, 101, 12)

    assert event_of(transition, s.VoteRecorded).voters_expected == 2
    assert transition.state.comparisons[101].status is ComparisonStatus.OPEN


def test_departure_from_a_closed_session_does_not_evaluate() -> None:
    state = votes(make_state(online={1, 2, 3}), 101, (1, 11), (2, 11))
    state = s.close(state).state

    transition = s.attendee_offline(state, 3)

    assert kinds(transition) == [s.AttendeeWentOffline]
    assert transition.state.comparisons[101].status is ComparisonStatus.OPEN


# --- completion and closing -----------------------------------------------------------


def test_last_open_comparison_decided_completes_the_session() -> None:
    state = make_state(
        online={1, 2},
        statuses={102: ComparisonStatus.DECIDED, 103: ComparisonStatus.SKIPPED},
    )
    state = votes(state, 101, (1, 12))

    transition = vote(state, 2, 101, 12)

    assert kinds(transition) == [
        s.VoteRecorded,
        s.ConsensusReached,
        s.ProgressChanged,
        s.CurrentComparisonMoved,
        s.SessionCompleted,
    ]
    progress = event_of(transition, s.ProgressChanged).progress
    assert (progress.completed_comparisons, progress.total_comparisons) == (3, 3)
    assert progress.is_complete is True
    assert progress.progress_percentage == 100.0
    moved = event_of(transition, s.CurrentComparisonMoved)
    assert (moved.comparison.id, moved.current_comparison_id) == (101, None)
    assert transition.state.session.status is SessionStatus.COMPLETED
    assert transition.state.current_comparison_id is None

    refused = s.cast_vote(transition.state, 1, 101, Choice.feature(11), T0)
    assert isinstance(refused, Rejection)
    assert refused.code is ErrorCode.SESSION_NOT_ACTIVE


def test_completion_by_departure() -> None:
    state = make_state(
        online={1, 2, 3},
        statuses={102: ComparisonStatus.DECIDED, 103: ComparisonStatus.DECIDED},
    )
    state = votes(state, 101, (1, 11), (2, 11))

    transition = s.attendee_offline(state, 3)

    assert kinds(transition)[0] is s.AttendeeWentOffline
    assert kinds(transition)[-1] is s.SessionCompleted
    assert transition.state.session.status is SessionStatus.COMPLETED


def test_close_once() -> None:
    state = make_state(online={1})

    closed = s.close(state)
    again = s.close(closed.state)

    assert closed.events == (s.SessionClosed(),)
    assert closed.state.session.status is SessionStatus.CLOSED
    assert again.events == ()
    assert again.state == closed.state
    refused = s.cast_vote(closed.state, 1, 101, Choice.feature(11), T0)
    assert isinstance(refused, Rejection)
    assert refused.code is ErrorCode.SESSION_NOT_ACTIVE


# --- attendees changed from outside ------------------------------------------------------


def test_replace_attendees() -> None:
    state = votes(make_state(online={1, 2}), 101, (1, 11), (2, 11))
    newcomer = Attendee(id=4, project_id=PROJECT_ID, name="Di")

    transition = s.replace_attendees(state, [*ATTENDEES, newcomer])

    assert transition.events == ()
    assert transition.state.attendees[4] == newcomer
    assert list(transition.state.attendees) == [1, 2, 3, 4]
    assert transition.state.comparisons == state.comparisons  # nothing re-evaluated
    assert isinstance(s.cast_vote(transition.state, 4, 102, Choice.tie(), T0), s.Transition)


def test_replace_attendees_with_the_same_ones_changes_nothing() -> None:
    state = make_state(online={1})

    transition = s.replace_attendees(state, list(ATTENDEES))

    assert transition.events == ()
    assert transition.state is state


def test_replace_attendees_renames() -> None:
    state = make_state()
    renamed = [attrs.evolve(ATTENDEES[0], name="Ada L."), *ATTENDEES[1:]]

    transition = s.replace_attendees(state, renamed)

    assert transition.state.attendees[1].name == "Ada L."


# --- progress ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "done", "percentage", "complete"),
    [
        (3, 0, 0.0, False),
        (3, 1, 33.33, False),
        (3, 2, 66.67, False),
        (3, 3, 100.0, True),
        (6, 1, 16.67, False),
        (8, 1, 12.5, False),
        (0, 0, 100.0, True),
    ],
)
def test_progress_percentage(total: int, done: int, percentage: float, complete: bool) -> None:
    progress = Progress(total_comparisons=total, completed_comparisons=done)

    assert progress.progress_percentage == percentage
    assert progress.is_complete is complete


def test_state_progress_counts_decided_and_skipped() -> None:
    state = make_state(statuses={101: ComparisonStatus.SKIPPED, 103: ComparisonStatus.DECIDED})

    assert state.progress == Progress(total_comparisons=3, completed_comparisons=2)
    assert state.progress.progress_percentage == 66.67
    assert state.current_comparison_id == 102
    assert state.open_comparison_ids() == [102]


def test_with_votes_is_evolve() -> None:
    """`with_votes` (the fast copy on every vote) carries every other field over."""
    state = make_state(online=[1, 2])
    first = next(iter(state.comparisons))
    cast = vote(state, 1, first, state.comparisons[first].feature_a_id).state
    fast = state.with_votes(cast.votes)
    assert fast == attrs.evolve(state, votes=cast.votes) == cast
    assert fast.online == frozenset({1, 2})
