"""A live session as a value, and the transitions that change it.

`SessionState` is everything a room knows about its session. Each transition
takes a state and returns a `Transition`: the next state plus the domain
events it caused, in the order they are broadcast (docs/protocol.md). Nothing here
awaits, stores or sends; the room does that with what comes back.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import datetime

import attrs

from pairwise_ws.domain import adaptive, consensus

# The events are defined in events.py; importers may take them from here too.
from pairwise_ws.domain.events import (
    MAX_NOTE_CHARS as MAX_NOTE_CHARS,
)
from pairwise_ws.domain.events import (
    AttendeeCameOnline as AttendeeCameOnline,
)
from pairwise_ws.domain.events import (
    AttendeeWentOffline as AttendeeWentOffline,
)
from pairwise_ws.domain.events import (
    ComparisonChanged as ComparisonChanged,
)
from pairwise_ws.domain.events import (
    ComparisonsImplied as ComparisonsImplied,
)
from pairwise_ws.domain.events import (
    ConsensusLost as ConsensusLost,
)
from pairwise_ws.domain.events import (
    ConsensusReached as ConsensusReached,
)
from pairwise_ws.domain.events import (
    CurrentComparisonMoved as CurrentComparisonMoved,
)
from pairwise_ws.domain.events import (
    Event as Event,
)
from pairwise_ws.domain.events import (
    FacilitatorActionName as FacilitatorActionName,
)
from pairwise_ws.domain.events import (
    ProgressChanged as ProgressChanged,
)
from pairwise_ws.domain.events import (
    RegistrationChanged as RegistrationChanged,
)
from pairwise_ws.domain.events import (
    SessionClosed as SessionClosed,
)
from pairwise_ws.domain.events import (
    SessionCompleted as SessionCompleted,
)
from pairwise_ws.domain.events import (
    SessionReopened as SessionReopened,
)
from pairwise_ws.domain.events import (
    TimerChanged as TimerChanged,
)
from pairwise_ws.domain.events import (
    VoteRecorded as VoteRecorded,
)
from pairwise_ws.domain.events import (
    VoteRetracted as VoteRetracted,
)
from pairwise_ws.domain.events import (
    VotesCleared as VotesCleared,
)
from pairwise_ws.domain.models import (
    UNSETTLED,
    Attendee,
    Choice,
    Comparison,
    ComparisonStatus,
    ErrorCode,
    Feature,
    Outcome,
    Progress,
    Rejection,
    Session,
    SessionStatus,
    Timer,
    Vote,
)

# --- state ------------------------------------------------------------------


@attrs.frozen
class SessionState:
    session: Session
    features: Mapping[int, Feature]
    attendees: Mapping[int, Attendee]
    # By id, in position order.
    comparisons: Mapping[int, Comparison]
    # comparison id -> attendee id -> that attendee's current vote.
    votes: Mapping[int, Mapping[int, Vote]]
    online: frozenset[int] = frozenset()
    timer: Timer = attrs.field(factory=Timer)  # (not stored: a restart stops it)

    @functools.cached_property
    def current_comparison_id(self) -> int | None:
        """The open comparison opened first (by position where none says when), or None."""
        current: Comparison | None = None
        for comparison in self.comparisons.values():
            if comparison.status is ComparisonStatus.OPEN and (
                current is None or comparison.opened < current.opened
            ):
                current = comparison
        return None if current is None else current.id

    @functools.cached_property
    def progress(self) -> Progress:
        """Settled: decided, implied or skipped (open and waiting ones are still to do)."""
        done = sum(1 for c in self.comparisons.values() if c.status not in UNSETTLED)
        return Progress(total_comparisons=len(self.comparisons), completed_comparisons=done)

    def votes_on(self, comparison_id: int) -> Mapping[int, Vote]:
        return self.votes.get(comparison_id, {})

    @functools.cached_property
    def observers(self) -> frozenset[int]:
        """Attendees who watch: present, never voting, never waited for."""
        return frozenset(a.id for a in self.attendees.values() if a.observer)

    @functools.cached_property
    def _voters(self) -> tuple[frozenset[int], frozenset[int]]:
        """(every voter, the voters online): who a comparison can wait for."""
        voters = frozenset(self.attendees.keys()) - self.observers
        return voters, self.online - self.observers

    def expected_voters(self, comparison_id: int) -> frozenset[int]:
        voters, online = self._voters
        return consensus.expected_voters(
            self.session.settings,
            online=online,
            voted=self.votes_on(comparison_id).keys(),
            attendees=voters,
        )

    def expected_voter_count(self, comparison_id: int) -> int:
        voters, online = self._voters
        return consensus.expected_voter_count(
            self.session.settings,
            online=online,
            voted=self.votes_on(comparison_id).keys(),
            attendees=voters,
        )

    def outcome_of_votes(self, comparison_id: int) -> Outcome | None:
        votes = self.votes_on(comparison_id)
        if len(votes) < self.session.settings.min_votes:
            return None  # (what evaluate would say, before building the expected voters)
        return consensus.evaluate(
            {attendee_id: vote.choice for attendee_id, vote in votes.items()},
            self.expected_voters(comparison_id),
            self.session.settings,
        )

    def with_votes(self, votes: Mapping[int, Mapping[int, Vote]]) -> SessionState:
        """`attrs.evolve(self, votes=votes)`, without evolve's per-call cost (every vote).

        Every other field is carried over by name, so a field added later is too.
        """
        fields = {name: getattr(self, name) for name in _STATE_FIELDS}
        fields["votes"] = votes
        return SessionState(**fields)

    def open_comparison_ids(self) -> list[int]:
        return [c.id for c in self.comparisons.values() if c.status is ComparisonStatus.OPEN]

    def unsettled(self) -> bool:
        """Some comparison is open or waiting: the session is not complete."""
        return any(c.status in UNSETTLED for c in self.comparisons.values())


_STATE_FIELDS = tuple(field.name for field in attrs.fields(SessionState))
# Skipped; and, in adaptive sessions, not asked yet or settled by transitivity.
_CLOSED_TO_VOTES = frozenset(
    {ComparisonStatus.SKIPPED, ComparisonStatus.WAITING, ComparisonStatus.IMPLIED}
)


@attrs.frozen
class Transition:
    state: SessionState
    events: tuple[Event, ...] = ()


def new_state(
    session: Session,
    features: Iterable[Feature],
    attendees: Iterable[Attendee],
    comparisons: Iterable[Comparison],
    votes: Iterable[Vote],
) -> SessionState:
    by_comparison: dict[int, dict[int, Vote]] = {}
    for vote in votes:
        by_comparison.setdefault(vote.comparison_id, {})[vote.attendee_id] = vote
    return SessionState(
        session=session,
        features={f.id: f for f in features},
        attendees={a.id: a for a in attendees},
        comparisons={c.id: c for c in sorted(comparisons, key=lambda c: c.position)},
        votes=by_comparison,
    )


# --- transitions ------------------------------------------------------------


def cast_vote(
    state: SessionState,
    attendee_id: int,
    comparison_id: int,
    choice: Choice | None,
    now: datetime,
) -> Transition | Rejection:
    """Record `attendee_id`'s vote (None: take it back), or say why it is refused."""
    if choice is None:
        return retract_vote(state, attendee_id, comparison_id)
    comparison = _in_active_session(state, comparison_id)
    if isinstance(comparison, Rejection):
        return comparison
    if not choice.is_tie and choice.preferred_feature_id not in comparison.feature_ids:
        return Rejection(
            ErrorCode.INVALID_VOTE,
            f"feature {choice.preferred_feature_id} is not in comparison {comparison_id}",
        )
    if comparison.status in _CLOSED_TO_VOTES:
        return Rejection(
            ErrorCode.COMPARISON_CLOSED, f"comparison {comparison_id} is {comparison.status}"
        )
    if attendee_id not in state.attendees:
        return Rejection(ErrorCode.FORBIDDEN, "only attendees of this project can vote")
    if state.attendees[attendee_id].observer:
        return Rejection(ErrorCode.FORBIDDEN, "observers do not vote")

    previous = state.votes_on(comparison_id).get(attendee_id)
    vote = Vote(comparison_id=comparison_id, attendee_id=attendee_id, choice=choice, voted_at=now)
    votes_here = {**state.votes_on(comparison_id), attendee_id: vote}
    voted = state.with_votes({**state.votes, comparison_id: votes_here})
    recorded = VoteRecorded(
        vote=vote,
        votes_received=len(votes_here),
        voters_expected=voted.expected_voter_count(comparison_id),
    )
    # An open comparison is evaluated after every vote on it; a decided one only
    # when the vote on it actually changed (the rule: "stays decided when people
    # join; re-evaluated when a vote on it changes").
    # A facilitator's decision holds until the facilitator resets it.
    changed = previous is None or previous.choice != choice
    if comparison.status is ComparisonStatus.DECIDED and (
        not changed or comparison.decided_by_facilitator
    ):
        return Transition(voted, (recorded,))
    return settle_comparisons(state, voted, [comparison_id], first=(recorded,))


def comparison_in(state: SessionState, comparison_id: int) -> Comparison | Rejection:
    """The comparison a message names, or `invalid_vote` if it isn't in this session."""
    comparison = state.comparisons.get(comparison_id)
    if comparison is None:
        return Rejection(
            ErrorCode.INVALID_VOTE,
            f"comparison {comparison_id} is not in session {state.session.id}",
        )
    return comparison


def _in_active_session(state: SessionState, comparison_id: int) -> Comparison | Rejection:
    """The comparison a vote (or its retraction) names, if the session takes votes."""
    session = state.session
    if session.status is not SessionStatus.ACTIVE:
        return Rejection(ErrorCode.SESSION_NOT_ACTIVE, f"session {session.id} is {session.status}")
    return comparison_in(state, comparison_id)


def retract_vote(
    state: SessionState, attendee_id: int, comparison_id: int
) -> Transition | Rejection:
    """Take back `attendee_id`'s vote on an open comparison, or say why not.

    Fewer votes never decide an open comparison, so nothing is re-evaluated.
    """
    comparison = _in_active_session(state, comparison_id)
    if isinstance(comparison, Rejection):
        return comparison
    if comparison.status is not ComparisonStatus.OPEN:
        return Rejection(
            ErrorCode.COMPARISON_CLOSED,
            f"comparison {comparison_id} is {comparison.status}: a vote on it can't be taken back",
        )
    if attendee_id not in state.votes_on(comparison_id):
        return Rejection(ErrorCode.INVALID_VOTE, f"you have no vote on comparison {comparison_id}")
    votes_here = {k: v for k, v in state.votes_on(comparison_id).items() if k != attendee_id}
    after = state.with_votes({**state.votes, comparison_id: votes_here})
    retracted = VoteRetracted(
        comparison_id,
        attendee_id,
        votes_received=len(votes_here),
        voters_expected=after.expected_voter_count(comparison_id),
    )
    return Transition(after, (retracted,))


def attendee_online(state: SessionState, attendee_id: int) -> Transition:
    """An attendee's first connection opened."""
    if attendee_id in state.online or attendee_id not in state.attendees:
        return Transition(state)
    online = state.online | {attendee_id}
    joined = AttendeeCameOnline(state.attendees[attendee_id], online_count=len(online))
    return Transition(attrs.evolve(state, online=online), (joined,))


def attendee_offline(state: SessionState, attendee_id: int, *, settle: bool = True) -> Transition:
    """An attendee's last connection closed: open comparisons may now be decided.

    `settle=False` only records the absence (everyone is leaving at once: the
    session is closing or the daemon stopping, and nothing may be decided).
    """
    if attendee_id not in state.online:
        return Transition(state)
    online = state.online - {attendee_id}
    left = AttendeeWentOffline(state.attendees[attendee_id], online_count=len(online))
    after = attrs.evolve(state, online=online)
    if not settle or state.session.status is not SessionStatus.ACTIVE:
        return Transition(after, (left,))
    return settle_comparisons(state, after, after.open_comparison_ids(), first=(left,))


def replace_attendees(state: SessionState, attendees: Iterable[Attendee]) -> Transition:
    """The project's attendees changed outside the room: added, or removed, from the CLI.

    New attendees can only make open comparisons harder to decide, and decided
    ones stay decided when people join, so nothing is re-evaluated for them.
    A removed attendee leaves (`AttendeeWentOffline` if it was online), its
    votes on open comparisons are withdrawn, and the open comparisons are
    looked at again: it may have been all a quorum-`all` session waited for.
    Its votes on decided comparisons stay, as the decisions they made.
    """
    by_id = {a.id: a for a in attendees}
    if by_id == state.attendees:
        return Transition(state)
    removed = [a for attendee_id, a in state.attendees.items() if attendee_id not in by_id]
    if not removed:
        return Transition(attrs.evolve(state, attendees=by_id))
    gone = {a.id for a in removed}
    online = state.online
    left: list[Event] = []
    for attendee in removed:
        if attendee.id in online:
            online = online - {attendee.id}
            left.append(AttendeeWentOffline(attendee, online_count=len(online)))
    votes = {
        comparison_id: (
            {k: v for k, v in on.items() if k not in gone}
            if state.comparisons[comparison_id].status
            not in (ComparisonStatus.DECIDED, ComparisonStatus.SKIPPED)
            else on
        )
        for comparison_id, on in state.votes.items()
    }
    after = attrs.evolve(state, attendees=by_id, online=online, votes=votes)
    if state.session.status is not SessionStatus.ACTIVE:
        return Transition(after, tuple(left))
    return settle_comparisons(state, after, after.open_comparison_ids(), first=tuple(left))


def set_self_registration(state: SessionState, enabled: bool, join_code: str) -> Transition:
    """Self-registration turned on or off, or its link rotated (from the dashboard or the CLI).

    A new code while open is announced like an opening: pages fetch the link again.
    """
    session = state.session
    if session.self_registration == enabled and session.join_code == join_code:
        return Transition(state)
    changed = attrs.evolve(session, self_registration=enabled, join_code=join_code)
    events: tuple[Event, ...] = ()
    if session.self_registration != enabled or enabled:
        events = (RegistrationChanged(enabled),)
    return Transition(attrs.evolve(state, session=changed), events)


def close(state: SessionState) -> Transition:
    """The session was closed (from the CLI or a facilitator)."""
    if state.session.status is SessionStatus.CLOSED:
        return Transition(state)
    return Transition(with_status(state, SessionStatus.CLOSED), (SessionClosed(),))


def with_status(state: SessionState, status: SessionStatus) -> SessionState:
    return attrs.evolve(state, session=attrs.evolve(state.session, status=status))


def settle_comparisons(
    before: SessionState,
    after: SessionState,
    candidates: Iterable[int],
    *,
    first: tuple[Event, ...],
) -> Transition:
    """Re-evaluate `candidates` in `after` and add the consequences.

    Order of events: `first`, then consensus reached/lost per comparison, then
    progress if the completed count changed, then the current comparison if it
    moved, then completion.
    """
    events: list[Event] = list(first)
    changed: dict[int, Comparison] = {}
    for comparison_id in candidates:
        comparison = after.comparisons[comparison_id]
        if comparison.status is ComparisonStatus.SKIPPED or comparison.decided_by_facilitator:
            continue
        outcome = after.outcome_of_votes(comparison_id)
        if outcome == comparison.outcome:
            continue
        updated = comparison.with_outcome(outcome)
        changed[comparison_id] = updated
        events.append(ConsensusReached(updated) if outcome else ConsensusLost(updated))
    if not changed:
        return Transition(after, first)

    comparisons = {**after.comparisons, **changed}  # (position order is kept)

    settled, scheduled = reschedule(attrs.evolve(after, comparisons=comparisons))
    events.extend(scheduled)
    events.extend(_aftermath(before, settled))
    if not settled.unsettled() and settled.session.status is SessionStatus.ACTIVE:
        settled = with_status(settled, SessionStatus.COMPLETED)
        events.append(SessionCompleted())
    return Transition(settled, tuple(events))


def reschedule(state: SessionState) -> tuple[SessionState, list[Event]]:
    """An adaptive session's comparisons as its schedule now wants them, and the events.

    `comparisons_implied` for what the decisions imply, then a
    `comparison_update` for each comparison opened or returned to waiting.
    """
    planned = adaptive.reschedule(state.session, state.features, state.comparisons)
    if not planned.implied and not planned.changed:
        return state, []
    # An open comparison that becomes implied loses its current votes (the
    # history keeps them): were it asked again, it starts afresh.
    voted = [c.id for c in planned.implied if state.votes_on(c.id)]
    votes = {k: v for k, v in state.votes.items() if k not in voted}
    after = attrs.evolve(state, comparisons=dict(planned.comparisons), votes=votes)
    events: list[Event] = [VotesCleared(comparison_id) for comparison_id in voted]
    if planned.implied:
        events.append(ComparisonsImplied(planned.implied))
    current = after.current_comparison_id
    events.extend(ComparisonChanged(c, current, None) for c in planned.changed)
    return after, events


def _aftermath(before: SessionState, after: SessionState) -> list[Event]:
    """Progress and current-comparison events between two states."""
    events: list[Event] = []
    if after.progress != before.progress:
        events.append(ProgressChanged(after.progress))
    old_id, new_id = before.current_comparison_id, after.current_comparison_id
    if old_id != new_id:
        if old_id is not None and after.comparisons[old_id].status is not ComparisonStatus.OPEN:
            cause = after.comparisons[old_id]
        else:
            assert new_id is not None  # moving to None means the old one closed
            cause = after.comparisons[new_id]
        events.append(CurrentComparisonMoved(cause, new_id))
    return events
