"""A hand-driven WebSocket client for the tests that need to misbehave.

The handshake is done with wsproto; after that the test writes frame bytes of
its choosing (unmasked, invalid UTF-8, pings after a close) and reads the
server's frames back itself.
"""

from __future__ import annotations

import os
import struct

import attrs
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request

TIMEOUT_S = 5.0

OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA


def frame(opcode: int, payload: bytes, *, masked: bool = True, fin: bool = True) -> bytes:
    head = bytes([(0x80 if fin else 0) | opcode])
    length = len(payload)
    mask_bit = 0x80 if masked else 0
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 2**16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


@attrs.frozen
class Frame:
    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int:
        assert self.opcode == OP_CLOSE
        return int(struct.unpack("!H", self.payload[:2])[0])


class RawClient:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self._buffer = b""

    @classmethod
    async def connect(cls, port: int, path: str) -> RawClient:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        client = cls(stream)
        ws = WSConnection(ConnectionType.CLIENT)
        await stream.send_all(ws.send(Request(host=f"127.0.0.1:{port}", target=path)))
        with trio.fail_after(TIMEOUT_S):
            while True:
                data = await stream.receive_some(65536)
                assert data, "closed during the handshake"
                head, sep, rest = data.partition(b"\r\n\r\n")
                ws.receive_data(head + sep)
                if any(isinstance(e, AcceptConnection) for e in ws.events()):
                    client._buffer = rest
                    return client

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def send_text(self, text: str) -> None:
        await self.send(frame(OP_TEXT, text.encode()))

    async def _fill(self, size: int) -> bool:
        while len(self._buffer) < size:
            try:
                chunk = await self.stream.receive_some(65536)
            except trio.BrokenResourceError:
                chunk = b""
            if not chunk:
                return False
            self._buffer += chunk
        return True

    async def read_frame(self) -> Frame | None:
        """The server's next frame, or None when the TCP connection has closed."""
        with trio.fail_after(TIMEOUT_S):
            if not await self._fill(2):
                return None
            opcode, length = self._buffer[0] & 0x0F, self._buffer[1] & 0x7F
            offset = 2
            if length == 126:
                await self._fill(4)
                length, offset = struct.unpack("!H", self._buffer[2:4])[0], 4
            elif length == 127:
                await self._fill(10)
                length, offset = struct.unpack("!Q", self._buffer[2:10])[0], 10
            if not await self._fill(offset + length):
                return None
            payload = self._buffer[offset : offset + length]
            self._buffer = self._buffer[offset + length :]
            return Frame(opcode, payload)

    async def read_until(self, opcode: int) -> Frame:
        while True:
            received = await self.read_frame()
            assert received is not None, f"closed before a frame with opcode {opcode}"
            if received.opcode == opcode:
                return received

    async def closed_by_server(self) -> bool:
        """True once the server has closed the TCP connection (frames are skipped)."""
        while await self.read_frame() is not None:
            pass
        return True

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self.stream)
