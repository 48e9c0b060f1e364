"""The facilitator's actions (docs/protocol.md): reset, decide, skip, close.

Pure like the rest of the domain: each takes a `SessionState` and returns the
`Transition` a room applies, stores and broadcasts, or the `Rejection` that
answers the facilitator.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs

from pairwise_ws.domain.models import (
    MAX_TIMER_SECONDS,
    Comparison,
    ComparisonStatus,
    ErrorCode,
    Outcome,
    Rejection,
    Schedule,
    SessionStatus,
    Timer,
    TimerState,
)
from pairwise_ws.domain.session import (
    MAX_NOTE_CHARS,
    ComparisonChanged,
    ConsensusLost,
    ConsensusReached,
    Event,
    FacilitatorActionName,
    ProgressChanged,
    SessionCompleted,
    SessionReopened,
    SessionState,
    TimerChanged,
    Transition,
    VotesCleared,
    close,
    comparison_in,
    reschedule,
    with_status,
)


def facilitator_action(
    state: SessionState,
    action: FacilitatorActionName,
    comparison_id: int | None,
    winner_id: int | None,
    is_tie: bool,
    text: str | None = None,
    seconds: int | None = None,
    now: datetime | None = None,
) -> Transition | Rejection:
    """What a facilitator's `facilitator_action` does (docs/protocol.md), or why not."""
    if action == "close_session":
        if state.session.status is SessionStatus.CLOSED:
            return Rejection(ErrorCode.SESSION_NOT_ACTIVE, "the session is already closed")
        return close(state)
    if action == "start_timer":
        return start_timer(state, seconds, now or datetime.now(UTC))
    if action == "stop_timer":
        return stop_timer(state)
    if comparison_id is None:
        return Rejection(ErrorCode.INVALID_MESSAGE, f"{action} needs a comparison_id")
    if action == "reset_comparison":
        return reset_comparison(state, comparison_id)
    if action == "skip":
        return skip(state, comparison_id)
    if action == "note":
        return note(state, comparison_id, text or "")
    if is_tie == (winner_id is not None):
        return Rejection(
            ErrorCode.INVALID_VOTE, "decide needs a winner_id, or is_tie: true (not both)"
        )
    return decide(state, comparison_id, Outcome.of(winner_id))


def reset_comparison(state: SessionState, comparison_id: int) -> Transition | Rejection:
    """Clear a comparison's votes (the history keeps them) and reopen it.

    In an adaptive session the reopened comparison is asked (the group
    answers it even if other decisions imply it), and is opened after the
    ones open already.
    """
    comparison = _actionable(state, comparison_id)
    if isinstance(comparison, Rejection):
        return comparison
    reopened = comparison.with_status(ComparisonStatus.OPEN)
    if state.session.schedule is Schedule.ADAPTIVE:
        opened = max(c.opened for c in state.comparisons.values()) + 1
        reopened = attrs.evolve(reopened, asked=True, opened=opened)
    votes = {k: v for k, v in state.votes.items() if k != comparison_id}
    after = attrs.evolve(
        state,
        comparisons={**state.comparisons, comparison_id: reopened},
        votes=votes,
    )
    first: list[Event] = [VotesCleared(comparison_id)]
    if comparison.status is ComparisonStatus.DECIDED:
        first.append(ConsensusLost(reopened))
    return _facilitated(state, after, reopened, "reset_comparison", first)


def decide(state: SessionState, comparison_id: int, outcome: Outcome) -> Transition | Rejection:
    """Record the facilitator's outcome as the comparison's decision."""
    comparison = _actionable(state, comparison_id)
    if isinstance(comparison, Rejection):
        return comparison
    if outcome.winner_id is not None and outcome.winner_id not in comparison.feature_ids:
        return Rejection(
            ErrorCode.INVALID_VOTE,
            f"feature {outcome.winner_id} is not in comparison {comparison_id}",
        )
    decided = comparison.with_outcome(outcome, by_facilitator=True)
    after = attrs.evolve(state, comparisons={**state.comparisons, comparison_id: decided})
    first: list[Event] = []
    if comparison.outcome != outcome:
        first.append(ConsensusReached(decided))
    return _facilitated(state, after, decided, "decide", first)


def skip(state: SessionState, comparison_id: int) -> Transition | Rejection:
    """Mark a comparison skipped: no outcome, no more votes on it."""
    comparison = _actionable(state, comparison_id)
    if isinstance(comparison, Rejection):
        return comparison
    skipped = comparison.with_status(ComparisonStatus.SKIPPED)
    after = attrs.evolve(state, comparisons={**state.comparisons, comparison_id: skipped})
    return _facilitated(state, after, skipped, "skip", [])


def note(state: SessionState, comparison_id: int, text: str) -> Transition | Rejection:
    """The facilitator's note on a comparison (why it was decided); empty clears it."""
    if len(text) > MAX_NOTE_CHARS:
        return Rejection(
            ErrorCode.INVALID_MESSAGE, f"a note is at most {MAX_NOTE_CHARS:,} characters"
        )
    comparison = _actionable(state, comparison_id)
    if isinstance(comparison, Rejection):
        return comparison
    noted = attrs.evolve(comparison, note=text.strip())
    after = attrs.evolve(state, comparisons={**state.comparisons, comparison_id: noted})
    return _facilitated(state, after, noted, "note", [])


def start_timer(state: SessionState, seconds: int | None, now: datetime) -> Transition | Rejection:
    """A countdown of `seconds` for everyone (it replaces one running)."""
    if seconds is None or not 1 <= seconds <= MAX_TIMER_SECONDS:
        return Rejection(
            ErrorCode.INVALID_MESSAGE, f"start_timer needs seconds, 1 to {MAX_TIMER_SECONDS}"
        )
    if state.session.status is SessionStatus.CLOSED:
        return Rejection(ErrorCode.SESSION_NOT_ACTIVE, f"session {state.session.id} is closed")
    timer = Timer(TimerState.RUNNING, seconds, now + timedelta(seconds=seconds))
    return Transition(attrs.evolve(state, timer=timer), (TimerChanged(timer),))


def stop_timer(state: SessionState) -> Transition:
    timer = Timer(TimerState.STOPPED, state.timer.seconds, None)
    return Transition(attrs.evolve(state, timer=timer), (TimerChanged(timer),))


def timer_expired(state: SessionState, now: datetime) -> Transition:
    """The countdown ran out (the room asks when it is due): everyone is told."""
    timer = state.timer
    if timer.state is not TimerState.RUNNING or timer.ends_at is None or now < timer.ends_at:
        return Transition(state)
    expired = Timer(TimerState.EXPIRED, timer.seconds, None)
    return Transition(attrs.evolve(state, timer=expired), (TimerChanged(expired),))


def _actionable(state: SessionState, comparison_id: int) -> Comparison | Rejection:
    """The comparison a facilitator action names, if it may act on it now.

    A completed session can still be changed (a reset reopens it); a closed
    one can't.
    """
    session = state.session
    if session.status is SessionStatus.CLOSED:
        return Rejection(ErrorCode.SESSION_NOT_ACTIVE, f"session {session.id} is closed")
    return comparison_in(state, comparison_id)


def _facilitated(
    before: SessionState,
    after: SessionState,
    acted: Comparison,
    action: FacilitatorActionName,
    first: list[Event],
) -> Transition:
    """`first`, then progress, the comparison as acted on, completion or reopening.

    A facilitator action always ends in one `ComparisonChanged` for the
    comparison acted on, carrying where the current comparison is now.
    """
    after, scheduled = reschedule(after)
    events = [*first, *scheduled]
    if after.progress != before.progress:
        events.append(ProgressChanged(after.progress))
    acted = after.comparisons[acted.id]
    events.append(ComparisonChanged(acted, after.current_comparison_id, action))
    status = after.session.status
    has_open = after.unsettled()
    if status is SessionStatus.ACTIVE and not has_open:
        after = with_status(after, SessionStatus.COMPLETED)
        events.append(SessionCompleted())
    elif status is SessionStatus.COMPLETED and has_open:
        after = with_status(after, SessionStatus.ACTIVE)
        events.append(SessionReopened())
    return Transition(after, tuple(events))
