"""A lean WebSocket client on asyncio's Protocol API, for thousands of connections.

The load generators need many connections per process and must not become
the bottleneck they measure, so this client does the least RFC 6455 asks of
a client: the upgrade request, unmasked server frames parsed in place, masked
client frames, Pong for Ping and a Close reply. No extensions (the servers
are not offered permessage-deflate), no UTF-8 validation of what arrives.

Each text message is handed to `on_text(connection, payload, received_ns)`
where `received_ns` is `time.monotonic_ns()` when the bytes were read (one
clock for every process on the machine, so latencies can be taken across
processes).
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import time
from collections.abc import Callable

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

MAX_HEAD_BYTES = 65536

TextHandler = Callable[["LeanWebSocket", bytes, int], None]


def mask_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame."""
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    key = os.urandom(4)
    if length:
        repeated = (key * (length // 4 + 1))[:length]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
            length, "big"
        )
    else:
        masked = b""
    return head + key + masked


class LeanWebSocket(asyncio.Protocol):
    """One client connection. `opened` resolves on 101; `closed` when TCP ends."""

    def __init__(self, host: str, port: int, target: str, on_text: TextHandler) -> None:
        loop = asyncio.get_running_loop()
        self.host = host
        self.port = port
        self.target = target
        self.on_text = on_text
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.upgraded = False
        self.failure: str | None = None  # why the handshake failed
        self.close_code: int | None = None  # from the server's Close frame
        self.close_reason = ""
        self.pings = 0
        self.messages = 0
        self._head = b""
        self._buf = bytearray()
        self._fragments: list[bytes] = []
        self._fragment_opcode = 0
        self._sent_close = False

    # --- asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        request = (
            f"GET {self.target} HTTP/1.1\r\n"
            f"Host: {self.host}:{self.port}\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "\r\n"
        )
        transport.write(request.encode("ascii"))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.failure = self.failure or f"connection lost before the upgrade: {exc}"
            self.opened.set_result(None)
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        if not self.upgraded:
            data = self._handshake(data)
            if not data:
                return
        buf = self._buf
        buf += data
        size = len(buf)
        pos = 0
        while size - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            masked = b1 & 0x80
            if masked:
                head += 4
            end = pos + head + length
            if end > size:
                break
            payload = bytes(buf[pos + head : end])
            if masked:  # servers must not mask; accept it anyway
                key = bytes(buf[pos + head - 4 : pos + head])
                payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            pos = end
            self._frame(b0, payload, now)
        if pos:
            del buf[:pos]

    # --- frames ------------------------------------------------------------------

    def _handshake(self, data: bytes) -> bytes:
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > MAX_HEAD_BYTES:
                self._fail("response head too long")
            return b""
        head, rest = self._head[:end], self._head[end + 4 :]
        self._head = b""
        status_line = head.split(b"\r\n", 1)[0]
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or parts[1] != b"101":
            self._fail(f"handshake refused: {status_line.decode('latin-1')} {rest[:200]!r}")
            return b""
        self.upgraded = True
        if not self.opened.done():
            self.opened.set_result(None)
        return rest

    def _fail(self, why: str) -> None:
        self.failure = why
        if not self.opened.done():
            self.opened.set_result(None)
        if self.transport is not None:
            self.transport.close()

    def _frame(self, b0: int, payload: bytes, now: int) -> None:
        opcode = b0 & 0x0F
        fin = b0 & 0x80
        if opcode == OP_TEXT and fin:
            self.messages += 1
            self.on_text(self, payload, now)
        elif opcode == OP_PING:
            self.pings += 1
            self._send(OP_PONG, payload)
        elif opcode == OP_CLOSE:
            self._on_close(payload)
        elif opcode in (OP_TEXT, OP_BINARY):
            self._fragment_opcode = opcode
            self._fragments = [payload]
        elif opcode == OP_CONT:
            self._fragments.append(payload)
            if fin:
                whole = b"".join(self._fragments)
                self._fragments = []
                if self._fragment_opcode == OP_TEXT:
                    self.messages += 1
                    self.on_text(self, whole, now)
        # OP_PONG and binary messages are ignored

    def _on_close(self, payload: bytes) -> None:
        if len(payload) >= 2:
            self.close_code = struct.unpack("!H", payload[:2])[0]
            self.close_reason = payload[2:].decode("utf-8", "replace")
        else:
            self.close_code = 1005
        if not self._sent_close:
            self._send(OP_CLOSE, payload[:2])
            self._sent_close = True
        if self.transport is not None:
            self.transport.close()

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(mask_frame(opcode, payload))

    # --- for the load generator ---------------------------------------------------

    def send_text(self, text: bytes) -> bool:
        """Send one text message; False if the connection is already gone."""
        if self.transport is None or self.transport.is_closing() or self._sent_close:
            return False
        self.transport.write(mask_frame(OP_TEXT, text))
        return True

    def close(self, code: int = 1000) -> None:
        if not self._sent_close and self.transport is not None and not self.transport.is_closing():
            self._send(OP_CLOSE, struct.pack("!H", code))
            self._sent_close = True

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    @property
    def is_open(self) -> bool:
        return (
            self.upgraded
            and self.transport is not None
            and not self.transport.is_closing()
            and self.close_code is None
        )
