"""Server messages out: the message types, reasons and data classes of the envelope."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal, Self

import attrs

from pairwise_ws.domain.models import (
    Comparison,
    ErrorCode,
    Feature,
    Progress,
    Session,
    Timer,
    Vote,
)
from pairwise_ws.domain.session import FacilitatorActionName


class MessageType(enum.StrEnum):
    SESSION_STATE = "session_state"
    ATTENDEE_JOINED = "attendee_joined"
    ATTENDEE_LEFT = "attendee_left"
    VOTE_RECEIVED = "vote_received"
    CONSENSUS_REACHED = "consensus_reached"
    CONSENSUS_LOST = "consensus_lost"
    SESSION_PROGRESS = "session_progress"
    COMPARISON_UPDATE = "comparison_update"
    COMPARISONS_IMPLIED = "comparisons_implied"
    TIMER = "timer"
    SYSTEM_NOTICE = "system_notice"
    ERROR = "error"


class LeaveReason(enum.StrEnum):
    LEFT = "left"
    DISCONNECTED = "disconnected"
    TIMEOUT = "timeout"
    SLOW_CONSUMER = "slow_consumer"
    RATE_ABUSE = "rate_abuse"
    SESSION_CLOSED = "session_closed"
    SERVER_SHUTDOWN = "server_shutdown"
    REMOVED = "removed"  # `attendee remove`


class NoticeEvent(enum.StrEnum):
    SESSION_COMPLETED = "session_completed"
    SESSION_CLOSED = "session_closed"
    SERVER_SHUTDOWN = "server_shutdown"
    # Beyond the first three (clients ignore events they don't know):
    SESSION_REOPENED = "session_reopened"
    REGISTRATION_OPENED = "registration_opened"
    REGISTRATION_CLOSED = "registration_closed"


@attrs.frozen
class ConsensusView:
    rule: str
    threshold: float
    min_votes: int
    quorum: str


@attrs.frozen
class SessionView:
    id: int
    project_id: int
    criterion: str
    status: str
    consensus: ConsensusView
    self_registration: bool
    schedule: str = "all"

    @classmethod
    def of(cls, session: Session) -> SessionView:
        s = session.settings
        return cls(
            id=session.id,
            project_id=session.project_id,
            criterion=session.criterion.value,
            status=session.status.value,
            consensus=ConsensusView(
                rule=s.rule.value, threshold=s.threshold, min_votes=s.min_votes, quorum=s.quorum
            ),
            self_registration=session.self_registration,
            schedule=session.schedule.value,
        )


@attrs.frozen
class YouView:
    role: Literal["attendee", "facilitator", "projector"]
    attendee_id: int | None = None
    name: str | None = None


@attrs.frozen
class FeatureView:
    id: int
    title: str
    description: str


@attrs.frozen
class VoteView:
    attendee_id: int
    preferred_feature_id: int | None
    is_tie_vote: bool
    voted_at: datetime


@attrs.frozen
class ComparisonView:
    id: int
    position: int
    feature_a_id: int
    feature_b_id: int
    feature_a_title: str
    feature_b_title: str
    status: str
    winner_id: int | None
    is_tie: bool
    decided_by_facilitator: bool
    # Adaptive sessions: the decided comparisons that imply it (status implied).
    implied_by: tuple[int, ...] = ()
    note: str = ""  # the facilitator's

    @classmethod
    def of(cls, comparison: Comparison, features: Mapping[int, Feature]) -> ComparisonView:
        return cls(
            id=comparison.id,
            position=comparison.position,
            feature_a_id=comparison.feature_a_id,
            feature_b_id=comparison.feature_b_id,
            feature_a_title=features[comparison.feature_a_id].title,
            feature_b_title=features[comparison.feature_b_id].title,
            status=comparison.status.value,
            winner_id=comparison.winner_id,
            is_tie=comparison.is_tie,
            decided_by_facilitator=comparison.decided_by_facilitator,
            implied_by=comparison.implied_by,
            note=comparison.note,
        )


@attrs.frozen
class ComparisonWithVotesView(ComparisonView):
    votes: tuple[VoteView, ...] = ()

    @classmethod
    def of(  # type: ignore[override]
        cls,
        comparison: Comparison,
        features: Mapping[int, Feature],
        votes: Iterable[Vote],
        **extra: Any,
    ) -> Self:
        """The comparison with its votes; `extra`: a subclass's own fields."""
        return cls(
            **attrs.asdict(ComparisonView.of(comparison, features), recurse=False),
            votes=vote_views(votes),
            **extra,
        )


def vote_views(votes: Iterable[Vote]) -> tuple[VoteView, ...]:
    return tuple(
        VoteView(
            attendee_id=v.attendee_id,
            preferred_feature_id=v.choice.preferred_feature_id,
            is_tie_vote=v.choice.is_tie,
            voted_at=v.voted_at,
        )
        for v in votes
    )


@attrs.frozen
class LiveComparisonView(ComparisonWithVotesView):
    """A comparison in `session_state`: with who is expected to vote on it now."""

    voters_expected: int = 0


@attrs.frozen
class AttendeeView:
    attendee_id: int
    name: str
    online: bool
    role: str = "voter"  # or "observer"


@attrs.frozen
class ProgressData:
    total_comparisons: int
    completed_comparisons: int
    progress_percentage: float
    is_complete: bool

    @classmethod
    def of(cls, progress: Progress) -> ProgressData:
        return cls(
            total_comparisons=progress.total_comparisons,
            completed_comparisons=progress.completed_comparisons,
            progress_percentage=progress.progress_percentage,
            is_complete=progress.is_complete,
        )


@attrs.frozen
class SessionStateData:
    session: SessionView
    you: YouView
    features: tuple[FeatureView, ...]
    comparisons: tuple[LiveComparisonView, ...]
    attendees: tuple[AttendeeView, ...]
    current_comparison_id: int | None
    progress: ProgressData
    timer: TimerData


@attrs.frozen
class AttendeeJoinedData:
    attendee_id: int
    attendee_name: str
    online_count: int


@attrs.frozen
class AttendeeLeftData:
    attendee_id: int
    attendee_name: str
    reason: LeaveReason
    online_count: int


@attrs.frozen
class VoteReceivedData:
    comparison_id: int
    attendee_id: int
    attendee_name: str
    preferred_feature_id: int | None
    is_tie_vote: bool | None  # None: retracted (and, in blind sessions, hidden)
    votes_received: int
    voters_expected: int
    # Only in the voter's own copy, and only if its vote_submitted had one.
    ref: str | int | None = None
    retracted: bool | None = None  # true when the vote was taken back (else left out)


@attrs.frozen
class ConsensusReachedData:
    comparison_id: int
    winner_id: int | None
    is_tie: bool
    feature_a_title: str
    feature_b_title: str
    winner_title: str | None  # null for a tie


@attrs.frozen
class ConsensusLostData:
    comparison_id: int
    feature_a_title: str
    feature_b_title: str


@attrs.frozen
class ComparisonUpdateData:
    comparison: ComparisonView
    current_comparison_id: int | None
    # An addition: the facilitator action that caused it, or None when
    # the current comparison moved because of votes or departures.
    action: FacilitatorActionName | None = None


@attrs.frozen
class SystemNoticeData:
    event: NoticeEvent
    message: str


@attrs.frozen
class ErrorData:
    code: ErrorCode
    message: str
    ref: str | int | None = None  # the answered message's, if it had one


@attrs.frozen
class TimerData:
    state: str  # running, stopped, expired
    seconds: int
    ends_at: datetime | None

    @classmethod
    def of(cls, timer: Timer) -> TimerData:
        return cls(state=timer.state.value, seconds=timer.seconds, ends_at=timer.ends_at)


@attrs.frozen
class ImpliedView:
    id: int
    winner_id: int | None
    is_tie: bool
    implied_by: tuple[int, ...]


@attrs.frozen
class ComparisonsImpliedData:
    comparisons: tuple[ImpliedView, ...]


ServerData = (
    SessionStateData
    | AttendeeJoinedData
    | AttendeeLeftData
    | VoteReceivedData
    | ConsensusReachedData
    | ConsensusLostData
    | ProgressData
    | ComparisonUpdateData
    | ComparisonsImpliedData
    | TimerData
    | SystemNoticeData
    | ErrorData
)

MESSAGE_TYPES: Mapping[type, MessageType] = {
    SessionStateData: MessageType.SESSION_STATE,
    AttendeeJoinedData: MessageType.ATTENDEE_JOINED,
    AttendeeLeftData: MessageType.ATTENDEE_LEFT,
    VoteReceivedData: MessageType.VOTE_RECEIVED,
    ConsensusReachedData: MessageType.CONSENSUS_REACHED,
    ConsensusLostData: MessageType.CONSENSUS_LOST,
    ProgressData: MessageType.SESSION_PROGRESS,
    ComparisonUpdateData: MessageType.COMPARISON_UPDATE,
    ComparisonsImpliedData: MessageType.COMPARISONS_IMPLIED,
    TimerData: MessageType.TIMER,
    SystemNoticeData: MessageType.SYSTEM_NOTICE,
    ErrorData: MessageType.ERROR,
}
