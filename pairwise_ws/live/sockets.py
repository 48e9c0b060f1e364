"""A connection's socket as `Connection` uses it: non-blocking reads and writes.

`Connection` never awaits a send: it writes what the socket takes now and
leaves the rest to a writer task that waits until the descriptor is
writable. `PlainIO` is the descriptor itself; `net.tls.TlsStream` is the
same interface with TLS in between (ciphertext the socket refused is
`pending` until it is written).
"""

from __future__ import annotations

import os
from typing import Protocol

import trio


class SocketIO(Protocol):
    """Non-blocking I/O on one connection's socket."""

    @property
    def pending(self) -> bool:
        """Bytes `send_nowait` took that are not on the wire yet (TLS records)."""
        ...

    def fileno(self) -> int: ...

    def send_nowait(self, data: bytes | bytearray | memoryview) -> int:
        """Bytes of `data` taken (raises BlockingIOError if none can be); b"" flushes."""
        ...

    def recv_nowait(self, size: int) -> bytes:
        """Up to `size` bytes the peer sent (b"" once it closed); BlockingIOError if none yet."""
        ...


class PlainIO:
    """The socket's descriptor, read and written directly (no TLS)."""

    __slots__ = ("_fd",)
    pending = False

    def __init__(self, socket: trio.socket.SocketType) -> None:
        self._fd = socket.fileno()

    def fileno(self) -> int:
        return self._fd

    def send_nowait(self, data: bytes | bytearray | memoryview) -> int:
        return os.write(self._fd, data) if data else 0

    def recv_nowait(self, size: int) -> bytes:
        return os.read(self._fd, size)
