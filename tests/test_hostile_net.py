"""Hostile HTTP and TCP: garbage, oversized and endless heads, slow heads, half-open
peers and many connections from one address. The listener survives all of it,
answers what can be answered, closes what must be closed, gives back every
file descriptor, and keeps serving a WebSocket client in the meantime.

(The per-address connection and handshake limits are the lead's and are
tested with them; `max_connections` has its test in tests/test_http.py.)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import struct
import time

import pytest
import trio
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from pairwise_ws.config import Config
from tests.conftest import Workshop, make_config, running
from tests.http_client import read_until_closed, request, upgrade_headers
from tests.loadgen import LoadClient, Presence, settled_fds
from tests.raw_ws import OP_CLOSE, OP_TEXT, RawClient, frame
from tests.test_websocket_protocol import path_for

HANDSHAKE_TIMEOUT_S = 0.5
GARBAGE = int(os.environ.get("PAIRWISE_GARBAGE_HEADS", "300"))


def hostile_config(db_path: str, **limits: object) -> Config:
    """A short handshake timeout; the per-address limits out of the way unless asked for
    (they have their own tests; here one address plays many peers)."""
    defaults = {
        "handshake_timeout": HANDSHAKE_TIMEOUT_S,
        "max_connections_per_address": 100_000,
        "max_handshakes_per_address": 100_000,
    }
    return make_config(db_path, limits={**defaults, **limits})


# Heads that look like HTTP to a different degree, plus other protocols on the port.
CRAFTED = [
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64),  # a TLS ClientHello
    b"SSH-2.0-OpenSSH_9.6\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",  # the HTTP/2 preface
    b"GET / HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n"
    b"0\r\n\r\n",  # request smuggling
    b"GET http://evil.example/ HTTP/1.1\r\nhost: x\r\n\r\n",
    b"CONNECT evil.example:443 HTTP/1.1\r\nhost: evil.example:443\r\n\r\n",
    b"GET / HTTP/1.1\r\nhost: x\r\n folded: header\r\n\r\n",
    b"GET / HTTP/1.1\r\nhost: x\r\nhost: y\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\nhost: x\r\n\r\n",
    b"GET / HTTP/9.9\r\nhost: x\r\n\r\n",
    b"\r\n\r\n\r\n\r\n",
    b"G" * 70_000,
    b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"x: y\r\n" * 5_000 + b"\r\n",
]


def generate_garbage(count: int, seed_value: int) -> list[bytes]:
    """`count` hostile byte strings: random bytes and mangled HTTP heads (hypothesis)."""
    head = (
        b"GET /projects/1/sessions/1/ws?attendee_id=1&token=x HTTP/1.1\r\n"
        b"host: 127.0.0.1\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
        b"sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n"
    )

    @st.composite
    def mangled(draw: st.DrawFn) -> bytes:
        data = bytearray(head)
        for _ in range(draw(st.integers(1, 6))):
            at = draw(st.integers(0, len(data)))
            action = draw(st.integers(0, 2))
            if action == 0:
                data[at:at] = draw(st.binary(min_size=1, max_size=20))
            elif action == 1:
                del data[at : at + draw(st.integers(1, 20))]
            else:
                data[at:at] = draw(st.sampled_from([b"\r\n", b"\n", b"\r", b":", b" ", b"\x00"]))
        return bytes(data)

    payloads = st.binary(min_size=1, max_size=2048) | mangled()
    drawn: list[bytes] = []

    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @seed(seed_value)
    @given(payloads)
    def collect(payload: bytes) -> None:
        drawn.append(payload)

    collect()
    return drawn


async def send_and_half_close(port: int, payload: bytes) -> bytes:
    """Send `payload`, shut our side, read the answer until the server closes."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        with contextlib.suppress(trio.BrokenResourceError):
            await stream.send_all(payload)
            await stream.send_eof()
        return await read_until_closed(stream)


async def healthy(port: int, workshop: Workshop) -> None:
    """The listener answers HTTP and a WebSocket client can join."""
    assert (await request(port, "/healthz")).status == 200
    person = workshop.attendees[-1]
    client = await RawClient.connect(port, path_for(workshop, person))
    try:
        first = await client.read_until(OP_TEXT)
        assert json.loads(first.payload)["type"] == "session_state"
    finally:
        await client.aclose()


async def test_garbage_gets_an_http_error_or_a_close_and_the_listener_survives(
    db_path: str, workshop: Workshop
) -> None:
    payloads = CRAFTED + generate_garbage(GARBAGE, 7)
    async with running(hostile_config(db_path)) as server:
        baseline = await settled_fds()
        answers: list[bytes] = []
        limiter = trio.CapacityLimiter(25)

        async def one(payload: bytes) -> None:
            async with limiter:
                answers.append(await send_and_half_close(server.port, payload))

        async with trio.open_nursery() as nursery:
            for payload in payloads:
                nursery.start_soon(one, payload)
        for answer in answers:
            # A complete HTTP answer (mostly an error; a lenient parse of an odd
            # but harmless head may be a page), or the connection just closed.
            # Never a WebSocket: nothing here has valid credentials.
            assert answer == b"" or re.match(rb"HTTP/1\.1 [2-5]\d\d ", answer), answer[:100]
            assert not answer.startswith(b"HTTP/1.1 101")
        await healthy(server.port, workshop)
        assert await settled_fds() == baseline  # every connection's socket was closed
    statuses = {a[9:12] for a in answers if a}
    assert {b"400", b"431"} <= statuses


async def test_oversized_and_endless_heads_are_cut_at_16_kib(
    db_path: str, workshop: Workshop
) -> None:
    async with running(hostile_config(db_path)) as server:
        # One huge header, many small ones: 431 as soon as the head passes the limit.
        for head in (
            b"GET / HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 20_000 + b"\r\n\r\n",
            b"GET / HTTP/1.1\r\nhost: x\r\n" + b"x-many: b\r\n" * 3_000 + b"\r\n",
        ):
            assert (await send_and_half_close(server.port, head)).startswith(b"HTTP/1.1 431 ")
        # A head that never ends, sent as fast as possible: cut after ~16 KiB, long
        # before the handshake timeout, not after the peer has sent megabytes.
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        sent = 0
        async with stream:
            await stream.send_all(b"GET / HTTP/1.1\r\nhost: x\r\n")
            started = time.perf_counter()
            with contextlib.suppress(trio.BrokenResourceError), trio.fail_after(5):
                while sent < 50_000_000:
                    await stream.send_all(b"x-endless: " + b"z" * 1000 + b"\r\n")
                    sent += 1013
            answer = await read_until_closed(stream)
        assert answer.startswith(b"HTTP/1.1 431 ")
        assert sent < 10_000_000  # refused early; what is in flight is the socket buffers
        assert time.perf_counter() - started < 5
        await healthy(server.port, workshop)


@pytest.mark.parametrize("interval", [0.05, 0.2], ids=["trickle", "slowloris"])
async def test_a_slow_head_is_cut_at_the_handshake_timeout(
    db_path: str, workshop: Workshop, interval: float
) -> None:
    head = f"GET {path_for(workshop, workshop.attendees[0])} HTTP/1.1\r\n".encode()
    head += b"".join(f"{k}: {v}\r\n".encode() for k, v in upgrade_headers().items())
    async with running(hostile_config(db_path)) as server:
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        started = time.perf_counter()
        closed_after = None
        async with stream, trio.open_nursery() as nursery:

            async def trickle() -> None:
                # A peer that is slow on purpose: pacing, not waiting for anything.
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    for i in range(len(head)):
                        await stream.send_all(head[i : i + 1])
                        await trio.sleep(interval)

            nursery.start_soon(trickle)
            answer = await read_until_closed(stream)
            closed_after = time.perf_counter() - started
            nursery.cancel_scope.cancel()
        assert answer == b""
        # Closed at the handshake timeout: not before, and not much after.
        assert HANDSHAKE_TIMEOUT_S * 0.9 <= closed_after < HANDSHAKE_TIMEOUT_S + 3
        await healthy(server.port, workshop)


async def test_half_open_and_vanishing_peers_are_let_go(db_path: str, workshop: Workshop) -> None:
    """Connect and say nothing; send half a head and shut the write side; finish the
    handshake and then half-close, reset, or declare a frame far over the limit."""
    async with running(hostile_config(db_path)) as server, trio.open_nursery() as nursery:
        port = server.port
        baseline = await settled_fds()
        presence = Presence()
        watcher = f"/projects/{workshop.project_id}/sessions/{workshop.session_id}/ws"
        watcher += f"?facilitator_token={workshop.facilitator_token}"
        observer: LoadClient = await nursery.start(
            LoadClient(port, watcher, 0, on_message=presence).run
        )
        # Silent: closed at the handshake timeout.
        silent = await trio.open_tcp_stream("127.0.0.1", port)
        async with silent:
            assert await read_until_closed(silent) == b""
        # Half a head, then EOF: closed at once (no reason to wait for the rest).
        half = f"GET {path_for(workshop, workshop.attendees[0])} HTTP/1.1\r\nhost".encode()
        started = time.perf_counter()
        answer = await send_and_half_close(port, half)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 400 ")
        assert time.perf_counter() - started < HANDSHAKE_TIMEOUT_S
        # A WebSocket peer that half-closes without a Close frame: disconnected.
        ada, bob, cy = workshop.attendees[:3]
        peer = await RawClient.connect(port, path_for(workshop, ada))
        await presence.wait_for({ada.id})
        await peer.stream.send_eof()
        assert await peer.closed_by_server()
        await peer.aclose()
        assert await presence.wait_for_reason(ada.id) == "disconnected"
        # One that resets its connection.
        peer = await RawClient.connect(port, path_for(workshop, bob))
        await presence.wait_for({bob.id})
        peer.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await peer.aclose()
        assert await presence.wait_for_reason(bob.id) == "disconnected"
        # One that announces a 2^62-byte frame and sends 8 KiB of it: 1009 at once,
        # not a wait for the rest (nor a buffer of that size).
        peer = await RawClient.connect(port, path_for(workshop, cy))
        await presence.wait_for({cy.id})
        head = bytes([0x81, 0x80 | 127]) + struct.pack("!Q", 2**62) + bytes(4)  # mask 0
        with contextlib.suppress(trio.BrokenResourceError):
            await peer.send(head + b"a" * 8192)
        close = await peer.read_until(OP_CLOSE)
        assert close.close_code == 1009
        await peer.aclose()
        assert await presence.wait_for_reason(cy.id) == "disconnected"
        await healthy(port, workshop)
        await observer.drop("close")
        assert await settled_fds() == baseline


async def test_many_connections_from_one_address(db_path: str, workshop: Workshop) -> None:
    """Hundreds of idle and half-sent connections from 127.0.0.1 at once (with the
    default per-address limits): each is refused or closed at the handshake timeout,
    and a client from another address (127.0.0.2, loopback too) is served meanwhile."""
    count = 400
    config = make_config(db_path, limits={"handshake_timeout": HANDSHAKE_TIMEOUT_S})
    async with running(config) as server, trio.open_nursery() as nursery:
        port = server.port
        baseline = await settled_fds()
        streams = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(count)]
        half = f"GET {path_for(workshop, workshop.attendees[0])} HTTP/1.1\r\n".encode()
        for stream in streams[::2]:
            with contextlib.suppress(trio.BrokenResourceError):
                await stream.send_all(half)
        # Meanwhile a client from another address joins and votes.
        person = workshop.attendees[1]
        client: LoadClient = await nursery.start(
            LoadClient(port, path_for(workshop, person), person.id, local_address="127.0.0.2").run
        )
        pair = workshop.comparisons[0]
        await client.vote(pair.id, pair.a)
        answers: list[bytes] = []

        async def wait_closed(stream: trio.SocketStream) -> None:
            async with stream:
                answers.append(await read_until_closed(stream))

        async with trio.open_nursery() as waiting:
            for stream in streams:
                waiting.start_soon(wait_closed, stream)
        # Every one of them ended: refused at once, or closed at the handshake timeout.
        assert len(answers) == count
        assert all(a == b"" or a.startswith((b"HTTP/1.1 429 ", b"HTTP/1.1 503 ")) for a in answers)
        await client.drop("close")
        await healthy(port, workshop)
        assert await settled_fds() == baseline


async def test_a_ping_flood_and_fragment_flood_do_not_hold_the_room(
    db_path: str, workshop: Workshop
) -> None:
    """Control frames and endless fragments are cheap to send: the room goes on."""
    config = hostile_config(db_path, rate_burst=100_000, rate_per_second=100_000.0)
    async with running(config) as server, trio.open_nursery() as nursery:
        port = server.port
        ada, bob = workshop.attendees[:2]
        voter: LoadClient = await nursery.start(
            LoadClient(port, path_for(workshop, bob), bob.id).run
        )
        flooder = await RawClient.connect(port, path_for(workshop, ada))
        try:
            ping = frame(0x9, b"x" * 125)
            pairs = workshop.comparisons

            async def flood() -> None:
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    for _ in range(20_000):
                        await flooder.send(ping)

            async def drain() -> None:
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    while await flooder.stream.receive_some(65536):
                        pass

            nursery.start_soon(drain)
            async with trio.open_nursery() as flooding:
                flooding.start_soon(flood)
                for n in range(20):
                    pair = pairs[n % len(pairs)]
                    await voter.vote(pair.id, pair.a if n % 2 else pair.b)
                flooding.cancel_scope.cancel()
        finally:
            await flooder.aclose()
        # Fragments of a message that never ends: closed with 1009 once past the limit.
        endless = await RawClient.connect(port, path_for(workshop, ada))
        try:
            fragments = frame(OP_TEXT, b"[" * 1000, fin=False)
            fragments += frame(0x0, b"[" * 1000, fin=False) * 10
            with contextlib.suppress(trio.BrokenResourceError):
                await endless.send(fragments)
            close = await endless.read_until(OP_CLOSE)
            assert close.close_code == 1009
        finally:
            await endless.aclose()
        await voter.drop("close")
