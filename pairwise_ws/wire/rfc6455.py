"""RFC 6455 on the server side of one connection, over wsproto's frame protocol.

Sans-IO: `FrameReader.receive` turns the bytes a peer sent into
`Message`, `Ping`, `Pong`, `Closed` and `Failed` events, and the functions
below make the frames to send. wsproto parses, unmasks, reassembles and checks
the UTF-8 of text messages, and builds every frame (its `FrameProtocol`, the
layer trio-websocket itself runs on); `connection.Connection` does the IO.

Why not trio-websocket's `WebSocketConnection` for the daemon's side: an
idle connection there holds two tasks, a memory channel, locks and events, and
the handshake's h11 state for as long as it lives; its sends block and can't
be shared by many recipients; and it needed two fixes of its own (no Close
frame after a protocol error; upstream issue #184, a Ping after our Close
crashing the reader). Here a connection is one task and a few small objects
(docs/performance.md has what that saves), a protocol error is answered with
its Close frame, and a Ping after our Close is simply not answered. Clients
(the tests', a Python program's) use trio-websocket.
"""

from __future__ import annotations

import struct

import attrs
from wsproto.frame_protocol import CloseReason, FrameProtocol, Opcode, ParseFailed
from wsproto.utilities import generate_accept_token

from pairwise_ws.wire.close_codes import CLOSE_TOO_BIG

MAX_CLOSE_REASON_BYTES = 123  # RFC 6455 5.5: control frame payload <= 125 bytes


# Frames server messages once for all their recipients: a server's frames are
# unmasked and we negotiate no extension, so the bytes are the same for every
# connection. wsproto builds the control frames.
_FRAMER = FrameProtocol(client=False, extensions=[])
_TEXT_FIN = 0x81  # FIN, opcode 1 (text)


def text_frame(message: str) -> bytes:
    """`message` as one complete text frame, the same bytes for every recipient.

    Every broadcast goes through here. An unmasked, unfragmented frame without
    extensions is two to ten bytes of header (RFC 6455 5.2) and the UTF-8:
    built here directly it costs a twentieth of `FrameProtocol.send_data`,
    whose bytes it repeats exactly (tests/test_wsconn.py compares the two).
    """
    payload = message.encode("utf-8")
    length = len(payload)
    if length < 126:
        return bytes((_TEXT_FIN, length)) + payload
    if length < 65536:
        return struct.pack("!BBH", _TEXT_FIN, 126, length) + payload
    return struct.pack("!BBQ", _TEXT_FIN, 127, length) + payload


def close_frame(code: int | None, reason: str = "") -> bytes:
    """A Close frame; `code` None for one without a status (an echo of 1005)."""
    if code is None or code == CloseReason.NO_STATUS_RCVD:
        return bytes(_FRAMER.close())
    return bytes(_FRAMER.close(code=code, reason=close_reason_text(reason)))


def ping_frame(payload: bytes) -> bytes:
    return bytes(_FRAMER.ping(payload))


def pong_frame(payload: bytes) -> bytes:
    return bytes(_FRAMER.pong(payload))


def close_reason_text(reason: str) -> str:
    return reason.encode("utf-8")[:MAX_CLOSE_REASON_BYTES].decode("utf-8", "ignore")


def accept_token(key: str) -> str:
    """The Sec-WebSocket-Accept for a request's Sec-WebSocket-Key."""
    return generate_accept_token(key.encode("ascii", "replace")).decode("ascii")


@attrs.frozen
class Message:
    """A whole data message: text, or bytes for a binary one (which the protocol refuses)."""

    data: str | bytes


@attrs.frozen
class Ping:
    payload: bytes


@attrs.frozen
class Pong:
    payload: bytes


@attrs.frozen
class Closed:
    """The peer's Close frame; `code` is None when it carried no status."""

    code: int | None
    reason: str


@attrs.frozen
class Failed:
    """Close with `code`: the peer broke the protocol (nothing more is read after
    this) or a message outgrew the limit (`CLOSE_TOO_BIG`: reading goes on)."""

    code: int
    reason: str


Event = Message | Ping | Pong | Closed | Failed


class FrameReader:
    """What one peer's bytes mean, message by message; nothing after a Close or a failure."""

    __slots__ = ("_binary", "_discarding", "_ended", "_frames", "_limit", "_parts", "_size")

    def __init__(self, max_message_bytes: int) -> None:
        self._frames = FrameProtocol(client=False, extensions=[])
        self._limit = max_message_bytes
        self._parts: list[str | bytes] = []  # of a message that is not complete yet
        self._size = 0  # its size so far, in bytes (UTF-8 for text)
        self._binary = False
        self._discarding = False  # the rest of a message that outgrew the limit
        self._ended = False

    @property
    def ended(self) -> bool:
        """A Close frame arrived or the protocol failed: nothing more is read."""
        return self._ended

    def receive(self, data: bytes | bytearray) -> list[Event]:
        """The events in `data`, in order. Partial frames wait for the next bytes."""
        if self._ended:
            return []
        self._frames.receive_bytes(bytes(data))
        events: list[Event] = []
        try:
            for frame in self._frames.received_frames():
                opcode, payload = frame.opcode, frame.payload
                if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
                    assert isinstance(payload, (str, bytes))
                    event = self._data(payload, frame.message_finished)
                    if event is None:
                        continue
                    events.append(event)
                elif opcode is Opcode.PING or opcode is Opcode.PONG:
                    assert isinstance(payload, (bytes, bytearray))
                    events.append((Ping if opcode is Opcode.PING else Pong)(bytes(payload)))
                elif opcode is Opcode.CLOSE:
                    assert isinstance(payload, tuple)
                    code, reason = payload
                    no_status = code == CloseReason.NO_STATUS_RCVD
                    events.append(Closed(None if no_status else int(code), reason))
                    self._ended = True
                    break
        except ParseFailed as exc:
            events.append(Failed(int(exc.code), str(exc) or "protocol error"))
            self._ended = True
        return events

    def _data(self, payload: str | bytes, finished: bool) -> Event | None:
        if self._discarding:
            self._discarding = not finished
            return None
        if isinstance(payload, str):
            size = len(payload) if payload.isascii() else len(payload.encode("utf-8"))
        else:
            size = len(payload)
        self._size += size
        if self._size > self._limit:
            # Reported once; the rest of it is skipped, frames after it are read
            # (the peer's answer to the Close frame this calls for, above all).
            self._parts, self._size, self._discarding = [], 0, not finished
            return Failed(CLOSE_TOO_BIG, f"message exceeds {self._limit} bytes")
        if not finished:
            self._parts.append(payload)
            self._binary = isinstance(payload, bytes)
            return None
        if self._parts:
            self._parts.append(payload)
            parts, self._parts = self._parts, []
            self._size = 0
            if self._binary:
                return Message(b"".join(p for p in parts if isinstance(p, bytes)))
            return Message("".join(p for p in parts if isinstance(p, str)))
        self._size = 0
        return Message(payload if isinstance(payload, str) else bytes(payload))
