"""A room's connections and the frames they have waiting: fan-out and flushing.

A broadcast is framed once and queued on every member (`send_all`); a reply
on one (`send_to`). Nothing is written then: `flush` hands each connection's
queue to the kernel in one write, so a batch of room work costs one system
call per member, however many messages it produced. Right after a costly
flush the next one is put off (`pacing.FlushPacer`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import attrs
import trio

from pairwise_ws import tokens, wire
from pairwise_ws.clock import now_utc
from pairwise_ws.domain.models import Role
from pairwise_ws.domain.session import Event, SessionClosed, SessionState
from pairwise_ws.live.connection import Connection
from pairwise_ws.live.pacing import FlushPacer
from pairwise_ws.metrics import Metrics
from pairwise_ws.storage import RoomRefresh
from pairwise_ws.wire.rfc6455 import text_frame


class Members:
    """The connections in the room, in the order they joined."""

    def __init__(self, session_id: int, metrics: Metrics) -> None:
        self._session_id = session_id
        self._metrics = metrics
        self._connections: dict[Connection, None] = {}  # an insertion-ordered set
        # Who has frames queued that the next `flush` sends: every member after
        # a broadcast, or single connections.
        self._all_unflushed = False
        self._unflushed: set[Connection] = set()
        self.pacer = FlushPacer()  # (on trio's clock)
        self._state_cache = wire.SessionStateCache()  # session_state's parts, between joins

    def __len__(self) -> int:
        return len(self._connections)

    def __iter__(self) -> Iterator[Connection]:
        return iter(self._connections)

    def __contains__(self, connection: object) -> bool:
        return connection in self._connections

    def add(self, connection: Connection) -> None:
        self._connections[connection] = None

    def discard(self, connection: Connection) -> None:
        self._connections.pop(connection, None)

    def clear(self) -> None:
        self._connections.clear()

    def send_all(self, frame: bytes, *, but: Connection | None = None) -> int:
        """Queue `frame` for every member (`but` one); how many took it (the slow are dropped)."""
        delivered = 0
        for connection in self._connections:
            if connection is not but:
                delivered += connection.deliver(frame)
        self._all_unflushed = True
        return delivered

    def broadcast(
        self, data: wire.ServerData, *, cause: int, but: Connection | None = None
    ) -> None:
        """Serialize and frame once, queue for every member (`but` one), count what went."""
        message = wire.encode(data, session_id=self._session_id, attendee_id=cause, now=now_utc())
        delivered = self.send_all(text_frame(message), but=but)
        self._metrics.sent[type(data)].inc(delivered)

    def publish(
        self,
        events: Sequence[Event],
        state: SessionState,
        cause: int,
        leave_reason: wire.LeaveReason,
        voter: tuple[Connection, wire.Ref] | None,
    ) -> bool:
        """Each event's message to every member; the `voter`'s vote_received with its ref.

        True if the session was closed (the caller says goodbye).
        """
        closed = False
        for event in events:
            data = wire.event_data(event, state, leave_reason=leave_reason)
            if voter is not None and isinstance(data, wire.VoteReceivedData):
                connection, ref = voter
                self.broadcast(data, cause=cause, but=connection)
                self.reply(connection, attrs.evolve(data, ref=ref), cause=cause)
            elif data is not None:
                self.broadcast(data, cause=cause)
            closed = closed or isinstance(event, SessionClosed)
        return closed

    def reply(self, connection: Connection, data: wire.ServerData, *, cause: int) -> None:
        """One message for one member."""
        message = wire.encode(data, session_id=self._session_id, attendee_id=cause, now=now_utc())
        if self.send_to(connection, text_frame(message)):
            self._metrics.sent[type(data)].inc()

    def send_state(self, connection: Connection, state: SessionState | None) -> None:
        """`session_state` for one member: the session as it is, and who they are."""
        assert state is not None
        attendee = connection.attendee
        you = (
            wire.YouView(role="projector" if connection.role is Role.PROJECTOR else "facilitator")
            if attendee is None
            else wire.YouView(role="attendee", attendee_id=attendee.id, name=attendee.name)
        )
        message = wire.encode_session_state(
            state,
            you,
            session_id=self._session_id,
            attendee_id=connection.attendee_id,
            now=now_utc(),
            cache=self._state_cache,
        )
        if self.send_to(connection, text_frame(message)):
            self._metrics.sent[wire.SessionStateData].inc()

    def send_to(self, connection: Connection, frame: bytes) -> bool:
        """Queue `frame` for one connection; False if it was dropped instead."""
        if not connection.deliver(frame):
            return False
        self._unflushed.add(connection)
        return True

    def with_stale_tokens(self, valid: RoomRefresh) -> list[tuple[Connection, wire.LeaveReason]]:
        """The members whose token is no longer valid, and why: rotated, or removed."""
        stale = []
        for connection in self._connections:
            if not connection.token_hash:
                continue  # made without authenticating (the room's unit tests)
            attendee = connection.attendee
            if attendee is not None and attendee.id not in valid.token_hashes:
                stale.append((connection, wire.LeaveReason.REMOVED))
                continue
            if attendee is not None:
                current = valid.token_hashes.get(attendee.id)
            elif connection.role is Role.PROJECTOR:
                current = valid.projector_token_hash
            else:
                current = valid.facilitator_token_hash
            if current is None or not tokens.hashes_match(connection.token_hash, current):
                stale.append((connection, wire.LeaveReason.DISCONNECTED))
        return stale

    @property
    def pending(self) -> bool:
        """Frames are queued that no flush has handed to the kernel yet."""
        return self._all_unflushed or bool(self._unflushed)

    def flush(self, *, now: bool = False) -> None:
        """Send what is queued: one write per connection, not one per message.

        Put off (see `FlushPacer`) only right after a costly flush, unless `now`.
        """
        if not self.pending:
            return
        if not now and not self.pacer.due(trio.current_time()):
            return  # the room comes back for it at `pacer.not_before`
        started = time.perf_counter()
        if self._all_unflushed:
            self._all_unflushed = False
            for connection in self._connections:
                connection.flush()
        for connection in self._unflushed:
            connection.flush()
        self._unflushed.clear()
        self.pacer.flushed(trio.current_time(), time.perf_counter() - started)
