"""The workshop's value types: frozen, plain, no I/O.

Everything the daemon knows about a project is one of these. Storage builds them
from rows, the room keeps them in memory, the protocol turns them into JSON.
"""

from __future__ import annotations

import enum
from datetime import datetime

import attrs


class Criterion(enum.StrEnum):
    VALUE = "value"
    COMPLEXITY = "complexity"


class SessionStatus(enum.StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    CLOSED = "closed"


class ComparisonStatus(enum.StrEnum):
    OPEN = "open"
    DECIDED = "decided"
    SKIPPED = "skipped"
    # The adaptive schedule's: not asked yet; settled by transitivity.
    WAITING = "waiting"
    IMPLIED = "implied"


# Statuses with an outcome, and statuses still to be settled.
SETTLED_WITH_OUTCOME = frozenset({ComparisonStatus.DECIDED, ComparisonStatus.IMPLIED})
UNSETTLED = frozenset({ComparisonStatus.OPEN, ComparisonStatus.WAITING})


class Schedule(enum.StrEnum):
    """Which pairs a session asks: every one, or only those the order still needs."""

    ALL = "all"
    ADAPTIVE = "adaptive"


class Rule(enum.StrEnum):
    UNANIMOUS = "unanimous"
    MAJORITY = "majority"
    SUPERMAJORITY = "supermajority"


class Quorum(enum.StrEnum):
    PRESENT = "present"
    ALL = "all"


class Role(enum.StrEnum):
    """Who a connection is: an attendee votes, the facilitator runs, a projector watches."""

    ATTENDEE = "attendee"
    FACILITATOR = "facilitator"
    PROJECTOR = "projector"


@attrs.frozen
class ConsensusSettings:
    """How a session decides a comparison (docs/protocol.md, "Consensus")."""

    rule: Rule = Rule.UNANIMOUS
    threshold: float = 0.75
    min_votes: int = 2
    quorum: Quorum = Quorum.PRESENT


@attrs.frozen
class Project:
    id: int
    name: str


@attrs.frozen
class Feature:
    id: int
    project_id: int
    title: str
    description: str = ""


@attrs.frozen
class Attendee:
    id: int
    project_id: int
    name: str
    # An observer is present but never votes and is never waited for.
    observer: bool = False

    @property
    def role(self) -> str:
        return "observer" if self.observer else "voter"


@attrs.frozen
class Session:
    id: int
    project_id: int
    criterion: Criterion
    status: SessionStatus
    settings: ConsensusSettings
    # Whether people may add themselves through the session's join page, and
    # the code its link must carry (a secret: never sent to attendees).
    self_registration: bool = True
    join_code: str = attrs.field(default="", repr=False)
    schedule: Schedule = Schedule.ALL


@attrs.frozen
class Choice:
    """One attendee's answer to one comparison: a feature, or a tie.

    Exactly one of the two is set; `validation.make_choice` is the way to build
    one from untrusted input.
    """

    preferred_feature_id: int | None
    is_tie: bool

    @property
    def option(self) -> int | None:
        """The option this choice counts for: a feature id, or None for a tie."""
        return None if self.is_tie else self.preferred_feature_id

    @classmethod
    def tie(cls) -> Choice:
        return cls(preferred_feature_id=None, is_tie=True)

    @classmethod
    def feature(cls, feature_id: int) -> Choice:
        return cls(preferred_feature_id=feature_id, is_tie=False)


@attrs.frozen
class Vote:
    comparison_id: int
    attendee_id: int
    choice: Choice
    voted_at: datetime


@attrs.frozen
class Outcome:
    """A decided comparison's result: a winning feature, or a tie."""

    winner_id: int | None
    is_tie: bool

    @classmethod
    def of(cls, option: int | None) -> Outcome:
        return cls(winner_id=option, is_tie=option is None)


@attrs.frozen
class Comparison:
    id: int
    session_id: int
    position: int
    feature_a_id: int
    feature_b_id: int
    status: ComparisonStatus = ComparisonStatus.OPEN
    winner_id: int | None = None
    is_tie: bool = False
    # Decided by the facilitator (`facilitator_action` decide): the decision
    # holds when votes on it change, until the facilitator resets it.
    decided_by_facilitator: bool = False
    # Adaptive sessions: the decided comparisons whose outcomes imply this one
    # (status implied); when it was opened (1, 2, ...; 0: never, or a session
    # that asks every pair); and whether the facilitator asked it although the
    # decisions imply it (a reset of an implied comparison).
    implied_by: tuple[int, ...] = ()
    opened: int = 0
    asked: bool = False
    # The facilitator's note: why it was decided (at most MAX_NOTE_CHARS).
    note: str = ""

    @property
    def feature_ids(self) -> tuple[int, int]:
        return (self.feature_a_id, self.feature_b_id)

    @property
    def outcome(self) -> Outcome | None:
        """Decided or implied: its outcome (the ranking counts both)."""
        if self.status not in SETTLED_WITH_OUTCOME:
            return None
        return Outcome(winner_id=self.winner_id, is_tie=self.is_tie)

    def with_outcome(self, outcome: Outcome | None, *, by_facilitator: bool = False) -> Comparison:
        """This comparison decided with `outcome`, or reopened when None."""
        if outcome is None:
            return self.with_status(ComparisonStatus.OPEN)
        return attrs.evolve(
            self,
            status=ComparisonStatus.DECIDED,
            winner_id=outcome.winner_id,
            is_tie=outcome.is_tie,
            decided_by_facilitator=by_facilitator,
            implied_by=(),
        )

    def implied(self, outcome: Outcome, by: tuple[int, ...]) -> Comparison:
        """This comparison settled by transitivity (adaptive sessions)."""
        return attrs.evolve(
            self,
            status=ComparisonStatus.IMPLIED,
            winner_id=outcome.winner_id,
            is_tie=outcome.is_tie,
            decided_by_facilitator=False,
            implied_by=by,
            asked=False,
        )

    def with_status(self, status: ComparisonStatus) -> Comparison:
        """This comparison open, waiting or skipped (no outcome)."""
        assert status not in SETTLED_WITH_OUTCOME, "a decision needs an outcome"
        return attrs.evolve(
            self,
            status=status,
            winner_id=None,
            is_tie=False,
            decided_by_facilitator=False,
            implied_by=(),
        )


class TimerState(enum.StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    EXPIRED = "expired"


MAX_TIMER_SECONDS = 3600


@attrs.frozen
class Timer:
    """The facilitator's countdown: it has no effect on voting."""

    state: TimerState = TimerState.STOPPED
    seconds: int = 0
    ends_at: datetime | None = None  # while running


@attrs.frozen
class Progress:
    total_comparisons: int
    completed_comparisons: int

    @property
    def progress_percentage(self) -> float:
        if self.total_comparisons == 0:
            return 100.0
        return round(100.0 * self.completed_comparisons / self.total_comparisons, 2)

    @property
    def is_complete(self) -> bool:
        return self.completed_comparisons >= self.total_comparisons


class ErrorCode(enum.StrEnum):
    """The `code` of an `error` message (docs/protocol.md)."""

    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_VOTE = "invalid_vote"
    COMPARISON_CLOSED = "comparison_closed"
    SESSION_NOT_ACTIVE = "session_not_active"
    RATE_LIMITED = "rate_limited"
    FORBIDDEN = "forbidden"
    # Not the client's fault: the vote could not be stored. Nothing was changed
    # and the client may send it again.
    INTERNAL_ERROR = "internal_error"


@attrs.frozen
class Rejection:
    """Why a request was refused; becomes an `error` message."""

    code: ErrorCode
    message: str
