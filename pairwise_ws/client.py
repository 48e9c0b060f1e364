"""One WebSocket connection: its reader, writer and keepalive in a child nursery.

The room never awaits a client. It hands frames to `deliver`, which puts them
in this connection's bounded outbox without blocking; a connection whose outbox
is full is dropped (`slow_consumer`) and nobody else waits for it. The writer
task is the only one that sends messages, so a graceful close is queued behind
what is already waiting and the last frame is always whole.
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
from pairwise_ws.wsconn import ServerWebSocket, close_reason_text, text_frame

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


# Complete WebSocket frames (wsconn.text_frame), or the end.
Outgoing = bytes | CloseRequest
# At most this many queued frames leave in one write.
MAX_FRAMES_PER_WRITE = 64


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
        self._outbox_send, self._outbox_recv = trio.open_memory_channel[Outgoing](
            limits.send_queue_size
        )
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
        """Queue a frame (`wsconn.text_frame`); True if it was queued.

        False if the connection is closing, or if its outbox was full: then
        it is dropped (`slow_consumer`) and nobody waits for it.
        """
        if self._closing:
            return False
        try:
            self._outbox_send.send_nowait(frame)
        except trio.WouldBlock:
            log.info(event("dropping a slow consumer", **self.log_fields()))
            self.abort(LeaveReason.SLOW_CONSUMER)
            return False
        return True

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

    def close(self, code: int, reason: LeaveReason, text: str | None = None) -> None:
        """Close gracefully once everything queued before it has been sent."""
        if self._closing:
            return
        self.leave_reason = reason
        self._closing = True
        try:
            self._outbox_send.send_nowait(CloseRequest(code, close_reason_text(text or reason)))
        except trio.WouldBlock:
            self._cancel_scope.cancel()

    def abort(self, reason: LeaveReason) -> None:
        """Drop the connection now; nothing more is sent."""
        if self.leave_reason is None:
            self.leave_reason = reason
        self._closing = True
        self._cancel_scope.cancel()

    async def run(self, ws: ServerWebSocket) -> LeaveReason:
        """Serve the connection until it ends; returns why it ended."""
        with self._cancel_scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._write, ws)
                nursery.start_soon(self._read, ws)
                nursery.start_soon(self._keep_alive, ws)
        return self.leave_reason or LeaveReason.DISCONNECTED

    async def _write(self, ws: ServerWebSocket) -> None:
        async for first in self._outbox_recv:
            frames, close = self._take_waiting(first)
            if frames:
                try:
                    await ws.send_frames(b"".join(frames))
                except ConnectionClosed:
                    self.abort(LeaveReason.DISCONNECTED)
                    return
            if close is not None:
                with trio.move_on_after(CLOSE_TIMEOUT_S):
                    await ws.aclose(close.code, close.reason)
                break
        self._cancel_scope.cancel()

    def _take_waiting(self, first: Outgoing) -> tuple[list[bytes], CloseRequest | None]:
        """`first` and the frames queued behind it (up to a limit, or a close)."""
        frames: list[bytes] = []
        item: Outgoing | None = first
        while isinstance(item, bytes):
            frames.append(item)
            if len(frames) == MAX_FRAMES_PER_WRITE:
                return frames, None
            try:
                item = self._outbox_recv.receive_nowait()
            except trio.WouldBlock:
                return frames, None
        return frames, item

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
