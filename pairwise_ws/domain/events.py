"""What a transition says happened: the domain's events, in the order they are broadcast."""

from __future__ import annotations

from typing import Literal

import attrs

from pairwise_ws.domain.models import Attendee, Comparison, Progress, Timer, Vote

FacilitatorActionName = Literal[
    "reset_comparison", "decide", "skip", "close_session", "note", "start_timer", "stop_timer"
]
MAX_NOTE_CHARS = 1000


@attrs.frozen
class VoteRecorded:
    vote: Vote
    votes_received: int
    voters_expected: int


@attrs.frozen
class TimerChanged:
    """The timer started, stopped or ran out."""

    timer: Timer


@attrs.frozen
class VoteRetracted:
    """An attendee took back their vote on an open comparison (the history keeps it)."""

    comparison_id: int
    attendee_id: int
    votes_received: int
    voters_expected: int


@attrs.frozen
class ConsensusReached:
    comparison: Comparison


@attrs.frozen
class ConsensusLost:
    comparison: Comparison


@attrs.frozen
class ProgressChanged:
    progress: Progress


@attrs.frozen
class CurrentComparisonMoved:
    """The current comparison moved.

    `comparison` is the comparison whose change moved it: the former current
    one when it was decided or skipped, else the one that became current.
    """

    comparison: Comparison
    current_comparison_id: int | None


@attrs.frozen
class ComparisonChanged:
    """The facilitator reset, decided or skipped `comparison` (now as shown); or, with
    no action, the adaptive schedule opened it or returned it to waiting."""

    comparison: Comparison
    current_comparison_id: int | None
    action: FacilitatorActionName | None


@attrs.frozen
class ComparisonsImplied:
    """The adaptive schedule settled these by transitivity (after a decision)."""

    comparisons: tuple[Comparison, ...]


@attrs.frozen
class VotesCleared:
    """A reset cleared the current votes on a comparison (the history keeps them)."""

    comparison_id: int


@attrs.frozen
class RegistrationChanged:
    """Self-registration was turned on or off for the session."""

    enabled: bool


@attrs.frozen
class SessionCompleted:
    pass


@attrs.frozen
class SessionReopened:
    """A completed session has an open comparison again (a facilitator reset it)."""


@attrs.frozen
class SessionClosed:
    pass


@attrs.frozen
class AttendeeCameOnline:
    attendee: Attendee
    online_count: int


@attrs.frozen
class AttendeeWentOffline:
    attendee: Attendee
    online_count: int


Event = (
    TimerChanged
    | VoteRecorded
    | VoteRetracted
    | ConsensusReached
    | ConsensusLost
    | ProgressChanged
    | CurrentComparisonMoved
    | ComparisonChanged
    | ComparisonsImplied
    | VotesCleared
    | RegistrationChanged
    | SessionCompleted
    | SessionReopened
    | SessionClosed
    | AttendeeCameOnline
    | AttendeeWentOffline
)
