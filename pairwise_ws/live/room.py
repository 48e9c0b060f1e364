"""One session's room: the only place where the domain meets I/O.

A room is one trio task. Its inbox (a memory channel) carries joins, leaves,
client messages and notices from the hub; it handles them one at a time, so a
session's state changes in one well-defined order. For each it asks the pure
core what happens (`domain.session`), stores what must be stored, and only
then broadcasts: a `vote_received` is never sent for a vote that isn't
committed. Votes waiting together in the inbox are committed in one
transaction (group commit), then acknowledged in their order.

The inbox is never awaited by a sender, so nothing can block on a room: it is
bounded by the number of connections, each of which has at most
`MAX_INFLIGHT_MESSAGES` messages waiting, plus one join and one leave. What
a batch queued reaches the kernel in one write per member (`members`).
"""

from __future__ import annotations

import collections
import logging
import math
from collections import Counter
from collections.abc import Callable, Sequence

import attrs
import trio

from pairwise_ws import logs, wire
from pairwise_ws.clock import now_utc
from pairwise_ws.domain import facilitation
from pairwise_ws.domain import session as domain
from pairwise_ws.domain.models import ErrorCode, Rejection, SessionStatus
from pairwise_ws.domain.session import (
    SessionState,
    Transition,
)
from pairwise_ws.live.commits import Stored, commit
from pairwise_ws.live.connection import Connection
from pairwise_ws.live.members import Members
from pairwise_ws.live.room_events import (
    Inbound,
    Join,
    Leave,
    Refresh,
    RoomEvent,
    Shutdown,
    Stop,
    answer_unhandled,
    drain,
    is_vote,
    presence_of,
    timer_due_at,
)
from pairwise_ws.metrics import Metrics
from pairwise_ws.storage import STORED_EVENTS, NotFound, Store
from pairwise_ws.storage.writer import AsyncStore
from pairwise_ws.wire import (
    ClientMessage,
    FacilitatorAction,
    JoinSession,
    LeaveReason,
    NoticeEvent,
    VoteRetracted,
    VoteSubmitted,
)
from pairwise_ws.wire.close_codes import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL,
    CLOSE_NORMAL,
    CLOSE_POLICY,
)

log = logging.getLogger(__name__)

MAX_BATCH = 512  # events taken from the inbox at once (bounds one group commit)


class Room:
    def __init__(
        self,
        session_id: int,
        store: AsyncStore,
        on_idle: Callable[[Room], None],
        on_failure: Callable[[Room], None],
        metrics: Metrics | None = None,
    ) -> None:
        self.session_id = session_id
        self._metrics = metrics or Metrics()
        self._store = store
        self._on_idle = on_idle
        self._on_failure = on_failure
        self._inbox_send, self._inbox_recv = trio.open_memory_channel[RoomEvent](math.inf)
        self._members = Members(session_id, self._metrics)
        self._connections: Counter[int] = Counter()  # attendee id -> open connections
        self._state: SessionState | None = None
        self._closing: LeaveReason | None = None
        self._refresh_queued = False
        # Joins posted but not handled yet: until they are, the room is not idle
        # (the hub must not forget a room that is about to get a member).
        self._joins_pending = 0
        # The events of the current batch not started yet, and the one being
        # handled: what a failure must still answer.
        self._unhandled: collections.deque[RoomEvent] = collections.deque()
        self._current: RoomEvent | None = None
        self.failed = False  # died of a bug: what is posted now is answered at once
        self.needs_refresh = False  # a refresh failed to read: the hub asks again

    def __repr__(self) -> str:
        return f"<Room session {self.session_id}, {len(self._members)} connections>"

    # --- called by other tasks (never blocks) --------------------------------

    def post(self, event: RoomEvent) -> None:
        if self.failed:  # (the hub hasn't heard yet): nobody would ever answer
            answer_unhandled(event)
            return
        if isinstance(event, Refresh):
            if self._refresh_queued:
                return
            self._refresh_queued = True
        elif isinstance(event, Join):
            self._joins_pending += 1
        self._inbox_send.send_nowait(event)

    def post_message(self, client: Connection, message: ClientMessage) -> None:
        self.post(Inbound(client, message))

    def post_leave(self, client: Connection, reason: LeaveReason) -> None:
        self.post(Leave(client, reason))

    def is_idle(self) -> bool:
        """No member, and none on the way: the hub may forget this room."""
        return not self._members and self._joins_pending == 0

    # --- the task -------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            self._state = await self._load()
            while True:
                first = await self._next_event()
                if first is None:
                    self._flush(now=True)  # its time has come
                    continue
                batch = [first]
                while len(batch) < MAX_BATCH:
                    try:
                        batch.append(self._inbox_recv.receive_nowait())
                    except trio.WouldBlock:
                        break
                if not await self._handle_batch(batch):
                    return
        except Exception:
            # A bug of ours: contain it to this session, tell its clients, log it.
            self._metrics.internal_errors["room"].inc()
            log.exception(
                logs.event("room failed; closing its connections", session_id=self.session_id)
            )
            self.failed = True
            self._fail_everyone()
            self._on_failure(self)

    async def _next_event(self) -> RoomEvent | None:
        """The next event; None when a postponed flush, or the timer's end, is due first."""
        due = timer_due_at(self._state)
        if self._members.pending:
            due = min(due, self._members.pacer.not_before)
        with trio.move_on_at(due):
            return await self._inbox_recv.receive()
        if self._state is not None:  # (the timer ran out: everyone is told)
            expired = facilitation.timer_expired(self._state, now_utc())
            self._state = expired.state
            self._broadcast(expired.events, cause=0)
        return None

    def _fail_everyone(self) -> None:
        """Close every member and answer every event that will now never be handled."""
        for client in self._members:
            client.close(CLOSE_INTERNAL, LeaveReason.DISCONNECTED, "internal error")
        self._members.clear()
        if isinstance(self._current, Join):
            self._unhandled.appendleft(self._current)
        for event in [*self._unhandled, *drain(self._inbox_recv)]:
            answer_unhandled(event)
        self._unhandled.clear()

    async def _load(self) -> SessionState | None:
        try:
            snapshot = await self._store.read(Store.load_session, self.session_id)
        except NotFound:
            return None
        return domain.new_state(*attrs.astuple(snapshot, recurse=False))

    async def _handle_batch(self, batch: Sequence[RoomEvent]) -> bool:
        """Handle events in order; consecutive votes share one commit. False to stop."""
        self._unhandled.extend(batch)
        while self._unhandled:
            event = self._unhandled.popleft()
            if isinstance(event, Stop):
                return False
            if is_vote(event):
                votes: list[RoomEvent] = [event]
                while self._unhandled and is_vote(self._unhandled[0]):
                    votes.append(self._unhandled.popleft())
                await self._votes([v for v in votes if isinstance(v, Inbound)])
                continue
            self._current = event
            await self._handle(event)
            self._current = None
        self._flush()
        return True

    def _flush(self, *, now: bool = False) -> None:
        """Send what this batch queued (`Members.flush`).

        Called before the room awaits anything (a commit, a read) and at the
        end of each batch, so nothing waits on the room's other work.
        """
        self._members.flush(now=now)

    async def _handle(self, event: RoomEvent) -> None:
        match event:
            case Join(client=client):
                self._join(client)
            case Leave(client=client, reason=reason):
                await self._leave(client, reason)
            case Inbound(client=client, message=message):
                try:
                    await self._message(client, message)
                finally:
                    client.inflight.release()
            case Refresh():
                self._refresh_queued = False
                await self._refresh()
            case Shutdown():
                self._close_all(LeaveReason.SERVER_SHUTDOWN)

    # --- presence ---------------------------------------------------------------

    def _join(self, client: Connection) -> None:
        self._joins_pending -= 1
        state = self._state
        if state is None or self._closing or state.session.status is SessionStatus.CLOSED:
            reason = self._closing or LeaveReason.SESSION_CLOSED
            code = CLOSE_GOING_AWAY if reason is LeaveReason.SERVER_SHUTDOWN else CLOSE_NORMAL
            client.close(code, reason, "session is not active")
            client.joined.set()
            if not self._members:
                self._on_idle(self)
            return
        self._members.add(client)
        if client.attendee is not None and client.attendee.id not in state.attendees:
            # Added from the CLI a moment ago: authentication read it from the
            # database, the room's next refresh would too. (Or removed a moment
            # ago: the refresh the hub now asks for closes it.)
            self.needs_refresh = True
            state = domain.replace_attendees(
                state, [*state.attendees.values(), client.attendee]
            ).state
        transition = Transition(state)
        if client.attendee is not None:
            self._connections[client.attendee.id] += 1
            if self._connections[client.attendee.id] == 1:
                transition = domain.attendee_online(state, client.attendee.id)
        self._state = transition.state
        self._members.send_state(client, self._state)
        client.joined.set()
        self._broadcast(transition.events, cause=client.attendee_id)

    async def _leave(self, client: Connection, reason: LeaveReason) -> None:
        if client not in self._members:
            return
        self._members.discard(client)
        if client.attendee is not None and self._state is not None:
            attendee_id = client.attendee.id
            self._connections[attendee_id] -= 1
            if self._connections[attendee_id] <= 0:
                del self._connections[attendee_id]
                if self._closing:  # everyone is leaving: nothing to decide, nobody to tell
                    self._state = domain.attendee_offline(
                        self._state, attendee_id, settle=False
                    ).state
                else:
                    transition = domain.attendee_offline(self._state, attendee_id)
                    await self._apply(transition, cause=attendee_id, leave_reason=reason)
        if not self._members:
            self._on_idle(self)

    # --- messages -----------------------------------------------------------------

    async def _message(self, client: Connection, message: ClientMessage) -> None:
        if client.closing or client not in self._members:
            return
        if isinstance(message, JoinSession):
            self._members.send_state(client, self._state)
        elif isinstance(message, FacilitatorAction):
            if not client.is_facilitator:
                client.send_error(
                    Rejection(ErrorCode.FORBIDDEN, "only the facilitator can do that"), message.ref
                )
                return
            rejection = await self._facilitator_action(message)
            if rejection is not None:
                client.send_error(rejection, message.ref)

    async def _facilitator_action(self, action: FacilitatorAction) -> Rejection | None:
        """Apply, store, then broadcast a facilitator's action; or say why not."""
        state = self._state
        assert state is not None
        result = facilitation.facilitator_action(
            state,
            action.action,
            action.comparison_id,
            action.winner_id,
            action.is_tie,
            action.text,
            action.seconds,
        )
        if isinstance(result, Rejection):
            return result
        log.info(
            logs.event(
                "facilitator action",
                action=action.action,
                comparison_id=action.comparison_id,
                session_id=self.session_id,
            )
        )
        stored = await self._store_events(result.events, expect=state.session.status)
        if stored is Stored.OK:
            self._state = result.state
            self._broadcast(result.events, cause=0)
            return None
        if stored is Stored.NOT_ACTIVE:
            await self._refresh()
            return Rejection(ErrorCode.SESSION_NOT_ACTIVE, "the session changed; nothing was done")
        return Rejection(ErrorCode.INTERNAL_ERROR, "not stored; nothing changed")

    async def _votes(self, items: Sequence[Inbound]) -> None:
        """Apply, store in one transaction, then acknowledge a run of votes."""
        try:
            await self._apply_votes(items)
        finally:
            for item in items:
                item.client.inflight.release()

    async def _apply_votes(self, items: Sequence[Inbound]) -> None:
        state = self._state
        results: list[tuple[Connection, wire.Ref | None, Transition | Rejection | None]] = []
        to_store: list[domain.Event] = []
        for item in items:
            client, vote = item.client, item.message
            assert isinstance(vote, VoteSubmitted | VoteRetracted)
            if client.closing or client not in self._members or state is None:
                results.append((client, vote.ref, None))
                continue
            if client.attendee is None:
                forbidden = Rejection(ErrorCode.FORBIDDEN, f"a {client.role} does not vote")
                results.append((client, vote.ref, forbidden))
                continue
            choice = vote.choice if isinstance(vote, VoteSubmitted) else None  # None: retract
            result = domain.cast_vote(
                state, client.attendee.id, vote.comparison_id, choice, now_utc()
            )
            if isinstance(result, Transition):
                state = result.state
                to_store.extend(result.events)
            results.append((client, vote.ref, result))

        stored = await self._store_events(to_store)
        if stored is not Stored.OK:
            code = (
                ErrorCode.SESSION_NOT_ACTIVE
                if stored is Stored.NOT_ACTIVE
                else ErrorCode.INTERNAL_ERROR
            )
            for client, ref, outcome in results:
                if isinstance(outcome, Transition):
                    lost = Rejection(code, "the vote was not stored; nothing changed")
                    client.send_error(lost, ref)
                elif isinstance(outcome, Rejection):
                    client.send_error(outcome, ref)
            if stored is Stored.NOT_ACTIVE:
                await self._refresh()
            return

        self._state = state
        for client, ref, outcome in results:
            if isinstance(outcome, Rejection):
                client.send_error(outcome, ref)
            elif isinstance(outcome, Transition):
                voter = None if ref is None else (client, ref)
                self._broadcast(outcome.events, cause=client.attendee_id, voter=voter)

    # --- outside changes ------------------------------------------------------------

    async def _refresh(self) -> None:
        state = self._state
        if state is None or self._closing:
            return
        self._flush()
        try:
            found = await self._store.read(
                Store.room_refresh, self.session_id, state.session.project_id
            )
        except Exception:  # the room goes on as it was; the hub asks again next poll
            self._metrics.internal_errors["refresh"].inc()
            log.exception(logs.event("could not refresh the room", session_id=self.session_id))
            self.needs_refresh = True
            return
        self.needs_refresh = False
        session = found.session
        for client, reason in self._members.with_stale_tokens(found):
            text = "removed" if reason is LeaveReason.REMOVED else "token rotated"
            log.info(logs.event(f"closing: {text}", **client.log_fields()))
            client.close(CLOSE_POLICY, reason, text)
        replaced = domain.replace_attendees(state, found.attendees)
        state = replaced.state
        if replaced.events:  # someone was removed: what waited for them may be decided now
            if await self._store_events(replaced.events) is not Stored.OK:
                # The removal stands; the decisions it allows wait for the next vote.
                before = self._state
                assert before is not None
                state = attrs.evolve(state, comparisons=before.comparisons)
                state = domain.with_status(state, before.session.status)
                replaced = Transition(state, tuple(presence_of(replaced.events)))
            self._state = state
            self._broadcast(replaced.events, cause=0, leave_reason=LeaveReason.REMOVED)
            for client in self._members:  # (their votes on open pairs are gone)
                self._members.send_state(client, state)
            if self._closing:
                return
        if session is None or session.status is SessionStatus.CLOSED:
            transition = domain.close(state)
        else:
            transition = domain.set_self_registration(
                state, session.self_registration, session.join_code
            )
        self._state = transition.state
        self._broadcast(transition.events, cause=0)  # after a close: the notice, then goodbye

    def _close_all(self, reason: LeaveReason) -> None:
        """Notice to everyone, then every connection closed."""
        if self._closing:
            return
        if reason is LeaveReason.SERVER_SHUTDOWN:
            self._members.broadcast(wire.notice(NoticeEvent.SERVER_SHUTDOWN), cause=0)
        self._closing = reason
        for client in self._members:
            if reason is LeaveReason.SERVER_SHUTDOWN:
                client.close_at_once(CLOSE_GOING_AWAY, reason)
            else:
                client.close(CLOSE_NORMAL, reason)
        if not self._members:
            self._on_idle(self)

    # --- storing and broadcasting -------------------------------------------------------

    async def _apply(
        self,
        transition: Transition,
        *,
        cause: int,
        leave_reason: LeaveReason = LeaveReason.DISCONNECTED,
    ) -> None:
        """Store what must be stored, adopt the new state, broadcast its events."""
        stored = await self._store_events(transition.events)
        if stored is not Stored.OK:
            # Keep the presence change; the comparisons are looked at again
            # on the next departure or vote.
            assert self._state is not None
            self._state = attrs.evolve(self._state, online=transition.state.online)
            self._broadcast(presence_of(transition.events), cause=cause, leave_reason=leave_reason)
            if stored is Stored.NOT_ACTIVE:
                await self._refresh()
            return
        self._state = transition.state
        self._broadcast(transition.events, cause=cause, leave_reason=leave_reason)

    async def _store_events(
        self, events: Sequence[domain.Event], *, expect: SessionStatus = SessionStatus.ACTIVE
    ) -> Stored:
        """Store those of `events` that change the database (if any), in one transaction."""
        if any(isinstance(e, STORED_EVENTS) for e in events):
            self._flush()  # what earlier events said goes out before we wait for the disk
        return await commit(self._store, self.session_id, events, self._metrics, expect=expect)

    def _broadcast(
        self,
        events: Sequence[domain.Event],
        *,
        cause: int,
        leave_reason: LeaveReason = LeaveReason.DISCONNECTED,
        voter: tuple[Connection, wire.Ref] | None = None,
    ) -> None:
        """Each event's message to every member (`Members.publish`); then, if closed, goodbye."""
        assert self._state is not None
        if self._members.publish(events, self._state, cause, leave_reason, voter):
            self._close_all(LeaveReason.SESSION_CLOSED)
