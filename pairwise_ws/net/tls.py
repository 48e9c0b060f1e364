"""TLS on the one port: `[server] tls_certificate` and `tls_private_key`.

The standard library's `ssl.SSLObject` over memory BIOs, on the socket's
descriptor: a trio `Stream` for the HTTP part of a connection (the request
head, the 101, refusals), and the non-blocking interface of
`live.sockets.SocketIO` for the WebSocket that follows, so a TLS connection
is driven exactly as a plain one (a write that never waits, a writer task
only when the socket refuses, reads without a buffer of our own). trio's
`SSLStream` can only be awaited, which would give every connection a
writer task and every frame a checkpoint.
"""

from __future__ import annotations

import os
import ssl

import trio

# Plaintext taken per `send_nowait`: a few TLS records (16 KiB each). What the
# socket refuses of their ciphertext waits in `_unsent`, so the bytes taken
# but not on the wire are bounded by this, like a kernel's buffer.
_CHUNK = 64 * 1024
RECEIVE_BYTES = 64 * 1024


class TlsConfigError(ValueError):
    """The certificate or key can't be used: the message says why, in one line."""


def server_context(certificate: str, private_key: str) -> ssl.SSLContext:
    """A server context for the PEM files (TLS 1.2 at least, the default ciphers)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    for path in (certificate, private_key):
        if not os.path.isfile(path):
            raise TlsConfigError(f"TLS: {path}: no such file")
    try:
        context.load_cert_chain(certificate, private_key)
    except (ssl.SSLError, OSError) as exc:
        raise TlsConfigError(
            f"TLS: cannot use {certificate} with {private_key}: {exc.strerror or exc}"
        ) from None
    return context


class TlsStream(trio.abc.Stream):
    """One TLS connection on a TCP socket, server side."""

    def __init__(self, transport: trio.SocketStream, context: ssl.SSLContext) -> None:
        self.transport = transport
        self.socket = transport.socket
        self._fd = transport.socket.fileno()
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._unsent = bytearray()  # ciphertext the socket has not taken yet

    # --- the handshake ------------------------------------------------------------

    async def do_handshake(self) -> None:
        """The TLS handshake; raises trio.BrokenResourceError if the peer fails it."""
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._send_unsent()
                await self._read_more()
            except ssl.SSLError as exc:
                await self._send_unsent_quietly()  # (the alert, if the peer still reads)
                raise trio.BrokenResourceError(f"TLS handshake failed: {exc}") from None
        await self._send_unsent()

    # --- SocketIO: what a live connection uses --------------------------------------

    @property
    def pending(self) -> bool:
        return bool(self._unsent)

    def fileno(self) -> int:
        return self._fd

    def send_nowait(self, data: bytes | bytearray | memoryview) -> int:
        """Encrypt up to _CHUNK bytes of `data`, once what went before is on the wire."""
        self._write_unsent()
        if self._unsent:
            raise BlockingIOError
        if not data:
            return 0
        taken = min(len(data), _CHUNK)
        self._tls.write(memoryview(data)[:taken])
        self._unsent += self._outgoing.read()
        self._write_unsent()
        return taken

    def recv_nowait(self, size: int) -> bytes:
        """Plaintext the peer sent: b"" once it closed; BlockingIOError if none yet."""
        while True:
            try:
                data = self._tls.read(size)
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""  # close_notify, or TCP closed under TLS
            else:
                self._queue_outgoing()  # (post-handshake messages, if any)
                return data
            self._queue_outgoing()
            chunk = os.read(self._fd, RECEIVE_BYTES)  # BlockingIOError: nothing yet
            if not chunk:
                self._incoming.write_eof()
                continue
            self._incoming.write(chunk)

    # --- trio's Stream: the HTTP part ---------------------------------------------------

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        try:
            while view:
                try:
                    view = view[self.send_nowait(view) :]
                except BlockingIOError:
                    await trio.lowlevel.wait_writable(self._fd)
            await self._send_unsent()
        except OSError as exc:
            raise trio.BrokenResourceError(str(exc)) from None
        await trio.lowlevel.checkpoint()

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.wait_writable(self._fd)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        try:
            while True:
                try:
                    data = self.recv_nowait(max_bytes or RECEIVE_BYTES)
                except BlockingIOError:
                    await trio.lowlevel.wait_readable(self._fd)
                    continue
                await trio.lowlevel.checkpoint()
                return data
        except OSError as exc:
            raise trio.BrokenResourceError(str(exc)) from None

    async def aclose(self) -> None:
        await self.transport.aclose()

    # --- helpers ------------------------------------------------------------------------

    def _queue_outgoing(self) -> None:
        if self._outgoing.pending:
            self._unsent += self._outgoing.read()
            self._write_unsent()

    def _write_unsent(self) -> None:
        """What the socket takes now of the ciphertext waiting."""
        while self._unsent:
            try:
                sent = os.write(self._fd, self._unsent)
            except BlockingIOError:
                return
            del self._unsent[:sent]

    async def _send_unsent(self) -> None:
        try:
            self._queue_outgoing()
        except OSError as exc:
            raise trio.BrokenResourceError(str(exc)) from None
        while self._unsent:
            await trio.lowlevel.wait_writable(self._fd)
            try:
                self._write_unsent()
            except OSError as exc:
                raise trio.BrokenResourceError(str(exc)) from None

    async def _send_unsent_quietly(self) -> None:
        try:
            with trio.move_on_after(0.5):
                await self._send_unsent()
        except (trio.BrokenResourceError, OSError):
            pass

    async def _read_more(self) -> None:
        while True:
            try:
                chunk = os.read(self._fd, RECEIVE_BYTES)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(self._fd)
                continue
            except OSError as exc:
                raise trio.BrokenResourceError(str(exc)) from None
            if not chunk:
                raise trio.BrokenResourceError("the peer closed during the TLS handshake")
            self._incoming.write(chunk)
            return
