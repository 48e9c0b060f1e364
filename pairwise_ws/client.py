"""One WebSocket connection: its reader, writer and keepalive in a child nursery.

The room never awaits a client. It hands complete frames to `deliver`, which
appends them to this connection's bounded outbox (`send_queue_size` frames);
a connection whose outbox is full is dropped (`slow_consumer`) and nobody
else waits for it. `flush` then hands the outbox to the kernel in one
non-blocking write when the socket takes it, which is almost always: no task
switch and one system call per connection, however many messages a room
produced in one go. Whatever the socket doesn't take at once is left to the
connection's writer task, which waits until it can write; frames leave in
the order they were delivered, and a graceful close goes after them, so the
last frame is always whole.
"""

from __future__ import annotations

import itertools
import logging
from typing import TYPE_CHECKING

import attrs
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from pairwise_ws import protocol
from pairwise_ws.clock import now_utc
from pairwise_ws.config import KeepaliveConfig, LimitsConfig
from pairwise_ws.domain.models import Attendee, ErrorCode, Rejection
from pairwise_ws.logs import event
from pairwise_ws.metrics import Metrics
from pairwise_ws.protocol import LeaveReason, LeaveSession
from pairwise_ws.ratelimit import TokenBucket, Verdict
from pairwise_ws.wsconn import ServerWebSocket, close_frame, close_reason_text, text_frame

if TYPE_CHECKING:
    from pairwise_ws.room import Room

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 2.0  # how long a close handshake may take before the TCP connection is cut
# Messages of one connection that may wait in its room at once. The room's inbox
# is therefore bounded by connections x this, without a blocking send.
MAX_INFLIGHT_MESSAGES = 4

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011


@attrs.frozen
class CloseRequest:
    code: int
    reason: str
    # False: the Close frame is already queued; end once it is sent, without
    # waiting for the peer's reply.
    handshake: bool = True


class Client:
    """A connection's identity, outbox and lifetime, as the room sees it."""

    _ids = itertools.count(1)

    def __init__(
        self,
        *,
        project_id: int,
        session_id: int,
        attendee: Attendee | None,
        peer: str,
        limits: LimitsConfig,
        keepalive: KeepaliveConfig,
        metrics: Metrics | None = None,
    ) -> None:
        self.id = next(self._ids)
        self.project_id = project_id
        self.session_id = session_id
        self.attendee = attendee  # None for a facilitator
        self.peer = peer
        self._limits = limits
        self.metrics = metrics or Metrics()  # the server's; a test's client may count alone
        self._keepalive_config = keepalive
        # Frames (wsconn.text_frame) not handed to the kernel yet, and how many.
        self._outbox = bytearray()
        self._outbox_frames = 0
        self._writing = 0  # frames the writer task is sending now
        self._close_request: CloseRequest | None = None
        self._wake_writer = trio.Event()
        self._ws: ServerWebSocket | None = None
        self._cancel_scope = trio.CancelScope()
        self._closing = False
        # Set by the room once session_state is queued (or the join was refused):
        # nothing is read from the client before that.
        self.joined = trio.Event()
        self.inflight = trio.Semaphore(MAX_INFLIGHT_MESSAGES)
        self.leave_reason: LeaveReason | None = None
        self.finished = False  # the connection has ended (set by its handler)
        self.room: Room | None = None  # set by the hub on registration

    def __repr__(self) -> str:
        who = f"attendee {self.attendee.id}" if self.attendee else "facilitator"
        return f"<Client {self.id} {who} session {self.session_id} from {self.peer}>"

    def log_fields(self) -> dict[str, object]:
        """Who this connection is, as fields of a log event."""
        return {
            "conn": self.id,
            "peer": self.peer,
            "session_id": self.session_id,
            "attendee_id": self.attendee.id if self.attendee else None,
            "role": None if self.attendee else "facilitator",
        }

    @property
    def attendee_id(self) -> int:
        """The attendee's id, or 0 for a facilitator (the envelope's 'system')."""
        return self.attendee.id if self.attendee else 0

    @property
    def is_facilitator(self) -> bool:
        return self.attendee is None

    @property
    def closing(self) -> bool:
        return self._closing

    def deliver(self, frame: bytes) -> bool:
        """Queue a frame (`wsconn.text_frame`) for the next `flush`; True if queued.

        False if the connection is closing, or if its outbox was full: then
        it is dropped (`slow_consumer`) and nobody waits for it.
        """
        if self._closing:
            return False
        if self._outbox_frames + self._writing >= self._limits.send_queue_size:
            log.info(event("dropping a slow consumer", **self.log_fields()))
            self.abort(LeaveReason.SLOW_CONSUMER)
            return False
        self._outbox += frame
        self._outbox_frames += 1
        return True

    def flush(self) -> None:
        """Send what `deliver` queued: now if the socket takes it, else soon.

        Never blocks. The frames go to the kernel in one non-blocking write
        unless the writer task is busy with earlier frames or trio-websocket
        is sending (a pong, the close handshake); what isn't taken at once is
        left to the writer task, in order.
        """
        if not self._outbox:
            return
        if self._writing or self._ws is None:
            self._wake_writer.set()
            return
        try:
            sent = self._ws.send_frames_nowait(self._outbox)
        except ConnectionClosed:
            self.abort(LeaveReason.DISCONNECTED)
            return
        if sent == len(self._outbox):
            self._outbox.clear()
            self._outbox_frames = 0
            return
        del self._outbox[:sent]  # a frame may be half sent: the writer sends the rest
        self._wake_writer.set()

    def send_error(self, rejection: Rejection) -> None:
        """Answer `error`: every one is logged and counted, by its code."""
        self.metrics.errors[rejection.code].inc()
        log.info(
            event("error sent", code=rejection.code, **self.log_fields(), message=rejection.message)
        )
        message = protocol.encode(
            protocol.error(rejection),
            session_id=self.session_id,
            attendee_id=self.attendee_id,
            now=now_utc(),
        )
        if self.deliver(text_frame(message)):
            self.metrics.sent_error.inc()
            self.flush()

    def close(self, code: int, reason: LeaveReason, text: str | None = None) -> None:
        """Close gracefully once everything queued before it has been sent."""
        if self._closing:
            return
        self.leave_reason = reason
        self._closing = True
        self._close_request = CloseRequest(code, close_reason_text(text or reason))
        self._wake_writer.set()

    def close_at_once(self, code: int, reason: LeaveReason) -> None:
        """Send what is queued and a Close frame now, then drop the connection.

        For a daemon shutting down: thousands of closing handshakes, each
        waiting for its peer, would not fit in the 5 seconds it has. Each
        client still gets everything queued and the Close frame with `code`;
        only the wait for its reply is skipped. A connection whose socket
        doesn't take it all at once is left to its writer, as usual.
        """
        if self._closing:
            return
        self._outbox += close_frame(code, reason)
        self._outbox_frames += 1
        self.leave_reason = reason
        self._closing = True
        self.flush()
        if not self._outbox and not self._writing:
            self._cancel_scope.cancel()
            return
        self._close_request = CloseRequest(code, reason, handshake=False)
        self._wake_writer.set()

    def abort(self, reason: LeaveReason) -> None:
        """Drop the connection now; nothing more is sent."""
        if self.leave_reason is None:
            self.leave_reason = reason
        self._closing = True
        self._cancel_scope.cancel()

    async def run(self, ws: ServerWebSocket) -> LeaveReason:
        """Serve the connection until it ends; returns why it ended."""
        self._ws = ws
        with self._cancel_scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._write, ws)
                nursery.start_soon(self._read, ws)
                nursery.start_soon(self._keep_alive, ws)
        return self.leave_reason or LeaveReason.DISCONNECTED

    async def _write(self, ws: ServerWebSocket) -> None:
        """Send what `flush` couldn't, waiting as long as the peer needs; then the close."""
        while True:
            while self._outbox:
                data = bytes(self._outbox)
                self._writing = self._outbox_frames
                self._outbox.clear()
                self._outbox_frames = 0
                try:
                    await ws.send_frames(data)
                except ConnectionClosed:
                    self.abort(LeaveReason.DISCONNECTED)
                    return
                finally:
                    self._writing = 0
            if self._close_request is not None:
                if self._close_request.handshake:
                    with trio.move_on_after(CLOSE_TIMEOUT_S):
                        await ws.aclose(self._close_request.code, self._close_request.reason)
                break
            await self._wake_writer.wait()
            self._wake_writer = trio.Event()
        self._cancel_scope.cancel()

    async def _read(self, ws: WebSocketConnection) -> None:
        await self.joined.wait()
        limits = self._limits
        metrics = self.metrics
        bucket = TokenBucket(
            burst=limits.rate_burst,
            rate=limits.rate_per_second,
            abuse_strikes=limits.rate_abuse_strikes,
        )
        while not self._closing:
            try:
                frame = await ws.get_message()
            except ConnectionClosed as exc:
                if exc.reason is not None and exc.reason.code == CLOSE_TOO_BIG:
                    metrics.received_too_big.inc()  # too many characters: trio-websocket closed
                self.abort(LeaveReason.DISCONNECTED)
                return
            size = (
                len(frame.encode("utf-8", "surrogatepass"))
                if isinstance(frame, str)
                else len(frame)
            )
            if size > limits.max_message_bytes:
                metrics.received_too_big.inc()
                self.close(
                    CLOSE_TOO_BIG,
                    LeaveReason.DISCONNECTED,
                    f"message of {size} bytes exceeds {limits.max_message_bytes}",
                )
                return
            verdict = bucket.take(trio.current_time())
            if verdict is not Verdict.ALLOW:
                metrics.received_rate_limited.inc()
            if verdict is Verdict.ABUSE:
                log.info(event("closing: kept sending past the rate limit", **self.log_fields()))
                self.close(CLOSE_POLICY, LeaveReason.RATE_ABUSE)
                return
            if verdict is Verdict.LIMITED:
                self.send_error(Rejection(ErrorCode.RATE_LIMITED, "too many messages: slow down"))
                continue
            message = protocol.decode(frame)
            metrics.count_received(message)
            if isinstance(message, Rejection):
                self.send_error(message)
            elif isinstance(message, LeaveSession):
                self.close(CLOSE_NORMAL, LeaveReason.LEFT)
                return
            elif self.room is not None:
                await self.inflight.acquire()
                self.room.post_message(self, message)

    async def _keep_alive(self, ws: WebSocketConnection) -> None:
        config = self._keepalive_config
        while True:
            await trio.sleep(config.ping_interval)
            try:
                # ping() is not woken if the connection dies: always bound it.
                with trio.fail_after(config.pong_timeout):
                    await ws.ping()
            except trio.TooSlowError:
                self.abort(LeaveReason.TIMEOUT)
                return
            except ConnectionClosed:
                self.abort(LeaveReason.DISCONNECTED)
                return
