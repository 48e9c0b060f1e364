"""trio-websocket's server connection, with two upstream bugs fixed.

trio-websocket 0.12 (pinned in pyproject.toml) has:

1. On a protocol violation (a bad frame: 1002) or invalid UTF-8 in a text
   frame (1007), wsproto reports a `CloseConnection` without changing its state,
   and trio-websocket drops the TCP connection without sending the Close frame
   RFC 6455 (7.1.7, 8.1) asks for. We send it first.
2. Upstream issue #184: a Ping that arrives after our Close frame makes the
   reader answer with a Pong that wsproto refuses (`LocalProtocolError`),
   crashing the reader task. Once closing, a late Ping is ignored.

Both are exercised over real sockets in tests/test_websocket_protocol.py, so a
trio-websocket upgrade that changes these internals fails loudly there.
"""

from __future__ import annotations

import contextlib
import os

import trio
from trio_websocket import WebSocketConnection
from trio_websocket._impl import CloseReason, ConnectionClosed
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import CloseConnection, Ping
from wsproto.frame_protocol import FrameProtocol

MAX_CLOSE_REASON_BYTES = 123  # RFC 6455 5.5: control frame payload <= 125 bytes

# Frames server messages once for all their recipients: a server's frames are
# unmasked and we negotiate no extension, so the bytes are the same for every
# connection. wsproto builds them (FIN, opcode, length), not we.
_FRAMER = FrameProtocol(client=False, extensions=[])


def text_frame(message: str) -> bytes:
    """`message` as one complete text frame, ready for `ServerWebSocket.send_frames`."""
    return bytes(_FRAMER.send_data(message, fin=True))


def close_frame(code: int, reason: str) -> bytes:
    """A Close frame, for ending a connection without waiting for the peer's reply."""
    return bytes(_FRAMER.close(code=code, reason=close_reason_text(reason)))


def close_reason_text(reason: str) -> str:
    return reason.encode("utf-8")[:MAX_CLOSE_REASON_BYTES].decode("utf-8", "ignore")


class ServerWebSocket(WebSocketConnection):
    # The socket's file descriptor, for `send_frames_nowait` (None: always wait).
    fileno: int | None = None

    def send_frames_nowait(self, data: bytes | bytearray) -> int:
        """Write as much of `data` (complete frames) as the socket takes now; bytes written.

        Never blocks and never yields, so it can't interleave with
        trio-websocket's own sends: 0 if one of those holds the stream (or
        the socket's buffer is full), and the caller sends the rest with
        `send_frames`. Raises ConnectionClosed if the connection is closing
        or the peer is gone.
        """
        if self._close_reason or self._wsproto.state is not ConnectionState.OPEN:
            raise ConnectionClosed(self._close_reason or CloseReason(1006, None))
        if self.fileno is None or self._stream_lock.locked():
            return 0
        try:
            return os.write(self.fileno, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise ConnectionClosed(CloseReason(1006, f"send failed: {exc.strerror}")) from None

    async def send_frames(self, data: bytes) -> None:
        """Write complete frames made by `text_frame`, in one write.

        The same bytes go to every recipient of a broadcast, so each message is
        serialized and framed once, and a connection's queued messages leave in
        one system call. Holds the stream lock like trio-websocket's own sends
        (pings, pongs, the close handshake); nothing is written once the
        closing handshake has begun.
        """
        if self._close_reason:
            raise ConnectionClosed(self._close_reason)
        async with self._stream_lock:
            if self._wsproto.state is not ConnectionState.OPEN:
                raise ConnectionClosed(self._close_reason or CloseReason(1006, None))
            try:
                await self._stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                await self._abort_web_socket()
                assert self._close_reason is not None
                raise ConnectionClosed(self._close_reason) from None

    async def _handle_close_connection_event(self, event: CloseConnection) -> None:
        if self._wsproto.state is ConnectionState.OPEN:
            # Not a Close frame from the peer (that would have moved wsproto to
            # REMOTE_CLOSING) but wsproto's report of a frame it could not parse.
            reason = close_reason_text(event.reason or "protocol error")
            self._close_reason = CloseReason(event.code, reason)
            with contextlib.suppress(ConnectionClosed):
                await self._send(CloseConnection(code=event.code, reason=reason))
            await self._close_web_socket(event.code, reason)
            self._close_handshake.set()
            await self._close_stream()
            return
        await super()._handle_close_connection_event(event)

    async def _handle_ping_event(self, event: Ping) -> None:
        if self._wsproto.state is not ConnectionState.OPEN:
            return  # closing: no Pong may be sent any more (upstream #184)
        await super()._handle_ping_event(event)


async def accept(
    nursery: trio.Nursery,
    stream: trio.abc.Stream,
    *,
    max_message_size: int,
    message_queue_size: int = 1,
    fileno: int | None = None,
) -> ServerWebSocket:
    """Run the server side of the handshake on `stream` and accept it.

    Like `trio_websocket.wrap_server_stream` plus `accept()`, with our
    connection class. The caller validated the request head already and must
    bound this with a timeout: trio-websocket has none of its own. `fileno`,
    the socket under `stream`, enables `send_frames_nowait` (POSIX only).
    """
    connection = ServerWebSocket(
        stream,
        WSConnection(ConnectionType.SERVER),
        message_queue_size=message_queue_size,
        max_message_size=max_message_size,
    )
    if fileno is not None and os.name == "posix":
        connection.fileno = fileno
    nursery.start_soon(connection._reader_task)
    request = await connection._get_request()
    await request.accept()
    return connection
