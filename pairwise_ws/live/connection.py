"""One WebSocket connection: one task, a bounded outbox, a writer only when needed.

The connection's own task (the TCP handler's) reads the peer's bytes, lets
`rfc6455.FrameReader` say what they mean, answers control frames, and hands
each message to the room. Pings come from the server's one `Keepalive` task.

The room never awaits a connection: it hands complete frames to `deliver`,
and `flush` hands them to the kernel in one non-blocking write. What the
socket doesn't take goes to a writer task started for it, which waits until
the peer reads; frames leave in the order they were delivered (control frames
included), so a Close frame goes after everything queued before it. A peer
that stops taking what it is sent is dropped (`slow_consumer`).
"""

from __future__ import annotations

import bisect
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

import trio

from pairwise_ws import wire
from pairwise_ws.clock import now_utc
from pairwise_ws.config import LimitsConfig
from pairwise_ws.domain.models import Attendee, ErrorCode, Rejection, Role
from pairwise_ws.live.ratelimit import TokenBucket, Verdict
from pairwise_ws.live.sockets import SocketIO
from pairwise_ws.logs import event
from pairwise_ws.metrics import Metrics
from pairwise_ws.wire import LeaveReason, LeaveSession
from pairwise_ws.wire.close_codes import CLOSE_NORMAL, CLOSE_POLICY, CLOSE_TOO_BIG
from pairwise_ws.wire.rfc6455 import (
    Closed,
    Failed,
    FrameReader,
    Message,
    Ping,
    Pong,
    close_frame,
    close_reason_text,
    ping_frame,
    pong_frame,
    text_frame,
)

log = logging.getLogger(__name__)

# How long a closing connection waits for the rest of its frames to leave and
# for the peer's Close frame before its TCP connection is cut.
CLOSE_TIMEOUT_S = 2.0
# Messages of one connection that may wait in its room at once. The room's inbox
# is therefore bounded by connections x this, without a blocking send.
MAX_INFLIGHT_MESSAGES = 8
RECEIVE_BYTES = 16 * 1024


class RoomInbox(Protocol):
    """What a connection needs of its room (`room.Room`): somewhere to post."""

    def post_message(self, client: Connection, message: wire.ClientMessage) -> None: ...

    def post_leave(self, client: Connection, reason: LeaveReason) -> None: ...


Spawn = Callable[[Callable[[], Awaitable[None]]], None]


class Connection:
    """A connection's identity, outbox and lifetime, as the room sees it."""

    # Thousands of these live at once: no per-instance __dict__.
    __slots__ = (
        "__weakref__",
        "_cancel_scope",
        "_close_sent",
        "_closing",
        "_end_when_sent",
        "_frame_ends",
        "_io",
        "_limits",
        "_outbox",
        "_outbox_start",
        "_spawn",
        "_writer",
        "attendee",
        "awaiting_pong",
        "detached_flush",
        "finished",
        "id",
        "inflight",
        "joined",
        "leave_reason",
        "metrics",
        "peer",
        "project_id",
        "role",
        "room",
        "session_id",
        "token_hash",
    )

    _ids = itertools.count(1)

    def __init__(
        self,
        *,
        project_id: int,
        session_id: int,
        attendee: Attendee | None,
        peer: str,
        limits: LimitsConfig,
        metrics: Metrics | None = None,
        token_hash: str = "",
        role: Role | None = None,
    ) -> None:
        self.id = next(self._ids)
        self.token_hash = token_hash  # of its token: once rotated, the room closes it
        self.project_id = project_id
        self.session_id = session_id
        self.attendee = attendee  # None for the facilitator or a projector
        self.role = role or (Role.FACILITATOR if attendee is None else Role.ATTENDEE)
        self.peer = peer
        self._limits = limits
        self.metrics = metrics or Metrics()  # the server's (one made alone counts alone)
        # Frames not handed to the kernel yet; where each ends (in bytes queued
        # since the outbox was last empty: what the peer has not taken), and how
        # many of those bytes the kernel has taken.
        self._outbox = bytearray()
        self._frame_ends: list[int] = []
        self._outbox_start = 0
        self._io: SocketIO | None = None  # set by `run`, None once it ended
        self._spawn: Spawn | None = None
        self._writer: trio.CancelScope | None = None  # the writer task, while it runs
        self._end_when_sent = False  # end the connection once the outbox is empty
        self._cancel_scope = trio.CancelScope()
        self._closing = False
        self._close_sent = False  # our Close frame is queued
        # Set by the room once session_state is queued (or the join was refused):
        # nothing is read from the client before that.
        self.joined = trio.Event()
        self.inflight = trio.Semaphore(MAX_INFLIGHT_MESSAGES)
        self.leave_reason: LeaveReason | None = None
        self.finished = False  # the connection has ended (set by its handler)
        self.room: RoomInbox | None = None  # set by the hub on registration
        self.awaiting_pong: bytes | None = None  # the payload of an unanswered ping
        # Test seam: a connection made without a socket (the room's unit tests)
        # has this set on every flush instead of writing.
        self.detached_flush: trio.Event | None = None

    def __repr__(self) -> str:
        who = f"attendee {self.attendee.id}" if self.attendee else self.role
        return f"<Connection {self.id} {who} session {self.session_id} from {self.peer}>"

    def log_fields(self) -> dict[str, object]:
        """Who this connection is, as fields of a log event."""
        return {
            "conn": self.id,
            "peer": self.peer,
            "session_id": self.session_id,
            "attendee_id": self.attendee.id if self.attendee else None,
            "role": None if self.attendee else self.role.value,
        }

    @property
    def attendee_id(self) -> int:
        """The attendee's id, or 0 for a facilitator (the envelope's 'system')."""
        return self.attendee.id if self.attendee else 0

    @property
    def is_facilitator(self) -> bool:
        return self.role is Role.FACILITATOR

    @property
    def closing(self) -> bool:
        return self._closing

    # --- sending (never blocks) ------------------------------------------------

    def deliver(self, frame: bytes) -> bool:
        """Queue a frame (`rfc6455.text_frame`) for the next `flush`; True if queued.

        False if the connection is closing, or if the peer is not taking what
        it is sent: the socket refused frames and `send_queue_size` of them are
        still waiting. Then it is dropped (`slow_consumer`) and nobody waits
        for it. However many frames one burst of room work queues, a peer whose
        socket takes them is never dropped: frames count only once the socket
        has refused some, and only until each is written.
        """
        if self._closing:
            return False
        if self._writer is not None and len(self._frame_ends) >= self._limits.send_queue_size:
            log.info(event("dropping a slow consumer", **self.log_fields()))
            self.abort(LeaveReason.SLOW_CONSUMER)
            return False
        self._queue(frame)
        return True

    def _queue(self, frame: bytes) -> None:
        """Any frame (Ping, Pong and Close included: never refused), in order with the rest."""
        self._outbox += frame
        self._frame_ends.append(self._outbox_start + len(self._outbox))

    def _taken(self, sent: int) -> None:
        """The kernel took the first `sent` bytes of the outbox."""
        if sent == len(self._outbox):
            self._outbox.clear()
            self._frame_ends.clear()
            self._outbox_start = 0
            return
        del self._outbox[:sent]  # a frame may be half sent: the rest goes next
        self._outbox_start += sent
        del self._frame_ends[: bisect.bisect_right(self._frame_ends, self._outbox_start)]

    @property
    def unsent_frames(self) -> int:
        """Frames queued that the peer has not taken yet (not wholly written)."""
        return len(self._frame_ends)

    def flush(self) -> None:
        """Send what is queued: now if the socket takes it, else soon, in order.

        One non-blocking write; what the socket doesn't take goes to a writer
        task, started for it, that waits until the peer reads.
        """
        if self._writer is not None or not (self._outbox or (self._io and self._io.pending)):
            return
        if self._io is None:
            if self.detached_flush is not None:
                self.detached_flush.set()
            return
        try:
            sent = self._io.send_nowait(self._outbox)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.abort(LeaveReason.DISCONNECTED)
            return
        self._taken(sent)
        if not self._outbox and not self._io.pending:
            if self._end_when_sent:
                self._cancel_scope.cancel()
            return
        assert self._spawn is not None
        self._writer = trio.CancelScope()
        self._spawn(self._write_rest)

    async def _write_rest(self) -> None:
        """The writer task: the rest of the outbox, as fast as the peer reads it."""
        scope, io = self._writer, self._io
        try:
            if scope is None or io is None:
                return  # the connection ended before this task started
            with scope:
                while self._outbox or io.pending:
                    await trio.lowlevel.wait_writable(io.fileno())
                    try:
                        sent = io.send_nowait(self._outbox)
                    except BlockingIOError:
                        continue
                    self._taken(sent)
        except (OSError, trio.ClosedResourceError):
            self.abort(LeaveReason.DISCONNECTED)
            return
        except Exception:
            # Never let a writer take the server's nursery down.
            self.metrics.internal_errors["connection"].inc()
            log.exception(event("writer failed", **self.log_fields()))
            self.abort(LeaveReason.DISCONNECTED)
            return
        finally:
            self._writer = None
        if self._end_when_sent:
            self._cancel_scope.cancel()

    def send_ping(self, payload: bytes) -> None:
        """For the keepalive: a Ping now, the Pong expected to carry `payload` back."""
        if self._closing:
            return
        self.awaiting_pong = payload
        self._queue(ping_frame(payload))
        self.flush()

    def send_error(self, rejection: Rejection, ref: wire.Ref | None = None) -> None:
        """Answer `error` (with the answered message's `ref`): logged and counted by code."""
        self.metrics.errors[rejection.code].inc()
        log.info(
            event("error sent", code=rejection.code, **self.log_fields(), message=rejection.message)
        )
        message = wire.encode(
            wire.error(rejection, ref),
            session_id=self.session_id,
            attendee_id=self.attendee_id,
            now=now_utc(),
        )
        if self.deliver(text_frame(message)):
            self.metrics.sent_error.inc()
            self.flush()

    # --- ending ----------------------------------------------------------------

    def close(self, code: int, reason: LeaveReason, text: str | None = None) -> None:
        """Close gracefully: everything queued, our Close frame, then the peer's.

        Bounded: the connection is cut CLOSE_TIMEOUT_S from now in any case.
        """
        if self._closing:
            return
        self.leave_reason = reason
        self._closing = True
        self._send_close(code, close_reason_text(text or reason))
        self._cut_by_close_timeout()

    def close_at_once(self, code: int, reason: LeaveReason) -> None:
        """Send what is queued and a Close frame, then drop the connection.

        For a daemon shutting down: thousands of closing handshakes, each
        waiting for its peer, would not fit in the 5 seconds it has. Each
        client still gets everything queued and the Close frame with `code`;
        only the wait for its reply is skipped.
        """
        if self._closing:
            return
        self.leave_reason = reason
        self._closing = True
        self._end_when_sent = True
        self._send_close(code, reason)
        if not self._outbox and self._writer is None:
            self._cancel_scope.cancel()

    def abort(self, reason: LeaveReason) -> None:
        """Drop the connection now; nothing more is sent."""
        if self.leave_reason is None:
            self.leave_reason = reason
        self._closing = True
        self._cancel_scope.cancel()

    def _cut_by_close_timeout(self) -> None:
        """End the connection CLOSE_TIMEOUT_S from now at the latest, whatever is left."""
        self._cancel_scope.deadline = min(
            self._cancel_scope.deadline, trio.current_time() + CLOSE_TIMEOUT_S
        )

    def _send_close(self, code: int | None, reason: str) -> None:
        if not self._close_sent:
            self._close_sent = True
            self._queue(close_frame(code, reason))
        self.flush()

    # --- the connection's task ---------------------------------------------------

    async def run(self, io: SocketIO, received: bytes, spawn: Spawn) -> LeaveReason:
        """Serve the connection until it ends; returns why it ended.

        `io`: the socket (`sockets.PlainIO`, or TLS). `received`: bytes that
        came after the handshake, already read. `spawn` starts the writer task
        when one is needed (in a nursery that outlives this call). The caller
        closes the stream afterwards.
        """
        self._io = io
        self._spawn = spawn
        try:
            with self._cancel_scope:
                await self._read(received)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            self.abort(LeaveReason.DISCONNECTED)  # the peer reset the connection
        finally:
            self._closing = True
            if self._writer is not None:
                self._writer.cancel()
            self._io = None  # nothing is written to the socket after this
        return self.leave_reason or LeaveReason.DISCONNECTED

    async def _read(self, data: bytes) -> None:
        await self.joined.wait()
        limits = self._limits
        metrics = self.metrics
        bucket = TokenBucket(
            burst=limits.rate_burst,
            rate=limits.rate_per_second,
            abuse_strikes=limits.rate_abuse_strikes,
        )
        # Pings have a bucket of their own, with the same limits: a client's
        # keepalive never costs it a vote, and a Ping flood ends like any other.
        pings = TokenBucket(
            burst=limits.rate_burst,
            rate=limits.rate_per_second,
            abuse_strikes=limits.rate_abuse_strikes,
        )
        peer = FrameReader(limits.max_message_bytes)
        while True:
            for item in peer.receive(data) if data else ():
                if isinstance(item, Message):
                    if not self._closing:  # after our Close frame, only the peer's Close counts
                        await self._message(item, bucket)
                elif isinstance(item, Ping):
                    self._ping(item, pings)
                elif isinstance(item, Pong):
                    if item.payload == self.awaiting_pong:
                        self.awaiting_pong = None
                elif isinstance(item, Failed) and item.code == CLOSE_TOO_BIG:
                    metrics.received_too_big.inc()
                    self.close(CLOSE_TOO_BIG, LeaveReason.DISCONNECTED, item.reason)
                else:
                    await self._closed_by_peer(item)
                    return
            self.flush()
            data = await self._receive()
            if not data:
                self.abort(LeaveReason.DISCONNECTED)  # the peer closed TCP
                return

    async def _receive(self) -> bytes:
        """What the peer sent next (b"" once it closed): one checkpoint per call.

        `SocketStream.receive_some` with its layers of wrappers, done directly:
        try the read, wait until readable only if there is nothing yet.
        """
        io = self._io
        assert io is not None
        try:
            data = io.recv_nowait(RECEIVE_BYTES)
        except BlockingIOError:
            pass
        else:
            await trio.lowlevel.checkpoint()
            return data
        while True:
            await trio.lowlevel.wait_readable(io.fileno())
            try:
                return io.recv_nowait(RECEIVE_BYTES)
            except BlockingIOError:
                continue

    async def _closed_by_peer(self, item: Closed | Failed) -> None:
        """The peer's Close frame (the answer to ours, or one to answer), or its failure."""
        if isinstance(item, Closed):
            if self.leave_reason is None:
                self.leave_reason = LeaveReason.DISCONNECTED
            self._closing = True
            self._send_close(item.code, item.reason)  # (nothing if ours went first)
        else:
            self.close(item.code, LeaveReason.DISCONNECTED, item.reason)
        await self._finish_sending()

    async def _finish_sending(self) -> None:
        """Wait until the outbox is empty (bounded by the close deadline), then end."""
        self._cut_by_close_timeout()
        self._end_when_sent = True
        self.flush()
        if self._outbox or self._writer is not None:
            await trio.sleep_forever()  # cancelled by the writer once it has sent it all

    def _ping(self, item: Ping, bucket: TokenBucket) -> None:
        """Answer a Ping with its Pong, within the ping bucket; a flood is closed with 1008."""
        if self._close_sent:  # no Pong after our Close (RFC 6455 5.5.1)
            return
        verdict = bucket.take(trio.current_time())
        if verdict is Verdict.ALLOW:
            self._queue(pong_frame(item.payload))
            return
        self.metrics.received_rate_limited.inc()
        if verdict is Verdict.ABUSE:
            log.info(event("closing: kept sending Pings past the rate limit", **self.log_fields()))
            self.close(CLOSE_POLICY, LeaveReason.RATE_ABUSE)
        # LIMITED: unanswered (a Pong may answer only the latest Ping anyway)

    async def _message(self, item: Message, bucket: TokenBucket) -> None:
        metrics = self.metrics
        verdict = bucket.take(trio.current_time())
        if verdict is not Verdict.ALLOW:
            metrics.received_rate_limited.inc()
        if verdict is Verdict.ABUSE:
            log.info(event("closing: kept sending past the rate limit", **self.log_fields()))
            self.close(CLOSE_POLICY, LeaveReason.RATE_ABUSE)
            return
        if verdict is Verdict.LIMITED:
            rejection = Rejection(ErrorCode.RATE_LIMITED, "too many messages: slow down")
            self.send_error(rejection, wire.ref_of(item.data))
            return
        message = wire.decode(item.data)
        metrics.count_received(message)
        if isinstance(message, Rejection):
            self.send_error(message, wire.ref_of(item.data))
        elif isinstance(message, LeaveSession):
            self.close(CLOSE_NORMAL, LeaveReason.LEFT)
        elif self.room is not None:
            try:
                # (No checkpoint when there is room: receive_some is one already.)
                self.inflight.acquire_nowait()
            except trio.WouldBlock:
                self.flush()  # what this connection has queued goes out before we wait
                await self.inflight.acquire()
            if not self._closing:
                self.room.post_message(self, message)
            else:
                self.inflight.release()
