"""The values the storage interface takes and gives, beyond the domain's models."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from pairwise_ws.domain.models import (
    Attendee,
    Comparison,
    Feature,
    Session,
    SessionStatus,
    Vote,
)
from pairwise_ws.domain.session import (
    ComparisonChanged,
    ComparisonsImplied,
    ConsensusLost,
    ConsensusReached,
    Event,
    SessionClosed,
    SessionCompleted,
    SessionReopened,
    VoteRecorded,
    VoteRetracted,
    VotesCleared,
)

# The domain events that change the database (`Store.record`); the others
# (presence, progress, the current comparison moving) are derived, not stored.
STORED_EVENTS = (
    VoteRecorded,
    VoteRetracted,
    ConsensusReached,
    ConsensusLost,
    ComparisonChanged,
    ComparisonsImplied,
    VotesCleared,
    SessionCompleted,
    SessionReopened,
    SessionClosed,
)


@attrs.frozen
class SessionSnapshot:
    """Everything a room needs to start, read in one transaction."""

    session: Session
    features: tuple[Feature, ...]
    attendees: tuple[Attendee, ...]
    comparisons: tuple[Comparison, ...]
    votes: tuple[Vote, ...]


@attrs.frozen
class RecordRequest:
    """One room's changes for `Store.record_many`."""

    session_id: int
    events: Sequence[Event]
    expect: SessionStatus = SessionStatus.ACTIVE


@attrs.frozen
class RoomRefresh:
    """What a running room looks at again after a change from outside, read at once."""

    session: Session | None  # None: deleted
    attendees: tuple[Attendee, ...]
    # The hashes of the tokens that are valid now: a connection that
    # authenticated with another one (rotated since) is closed.
    token_hashes: Mapping[int, str]  # attendee id -> hash
    facilitator_token_hash: str | None
    projector_token_hash: str | None = None


@attrs.frozen
class Credentials:
    """What authentication needs to know about an attendee or a project."""

    project_id: int
    token_hash: str
    attendee: Attendee | None = None
    projector_token_hash: str | None = None  # a project's, once one was issued
    removed: bool = False  # an attendee that `attendee remove` removed
