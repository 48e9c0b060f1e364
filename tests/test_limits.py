"""Per-address limits: many connections, or many slow handshakes, from one address.

Every test connects from 127.0.0.1, so each sets small limits for that one
address. Waits are for answers or for the server's own counters, never for a
fixed time.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
from collections.abc import AsyncIterator, Callable

import pytest
import trio
import trio.testing

from pairwise_ws.net import addresses
from pairwise_ws.net.addresses import AddressCounts
from pairwise_ws.net.server import Server
from tests.conftest import Clients, Workshop, make_config, make_workshop, serving
from tests.http_client import raw_exchange, read_until_closed, request, upgrade_headers

HEALTHZ = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n"
NOT_HEALTHZ = b"GET /nope HTTP/1.1\r\nhost: x\r\n\r\n"
HALF_A_HEAD = b"GET /healthz HTTP/1.1\r\nhost: x\r\n"  # the blank line never comes
TOO_MANY = {"error": "too many connections from your address"}


async def wait_until(check: Callable[[], bool]) -> None:
    """Look at the server's state each time its tasks have all run, until `check` holds.

    (What the check waits for also needs the kernel to report a closed socket,
    so it may take a few rounds; bounded.)
    """
    with trio.fail_after(5):
        while not check():
            await trio.testing.wait_all_tasks_blocked()


def tables_are_empty(server: Server) -> bool:
    return len(server.connections_by_address) == 0 == len(server.handshakes_by_address)


async def ask(stream: trio.SocketStream, payload: bytes = HEALTHZ) -> bytes:
    """Send a request on a kept-alive connection; the answer (one read is enough here)."""
    await stream.send_all(payload)
    with trio.fail_after(5):
        return bytes(await stream.receive_some(65536))


def parse(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    return int(status_line.split()[1]), headers, body


@contextlib.asynccontextmanager
async def kept_alive(port: int, count: int) -> AsyncIterator[list[trio.SocketStream]]:
    """`count` connections, each answered once (so the server counts them) and kept open."""
    streams = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(count)]
    try:
        for stream in streams:
            assert (await ask(stream)).startswith(b"HTTP/1.1 200 ")
        yield streams
    finally:
        for stream in streams:
            await trio.aclose_forcefully(stream)


def ws_head(workshop: Workshop, query: str) -> bytes:
    path = f"/projects/{workshop.project_id}/sessions/{workshop.session_id}/ws?{query}"
    head = f"GET {path} HTTP/1.1\r\nhost: x\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in upgrade_headers().items()
    )
    return (head + "\r\n").encode()


# --- connections per address --------------------------------------------------------------


async def test_the_connection_over_the_per_address_limit_gets_429(
    db_path: str, workshop: Workshop
) -> None:
    config = make_config(db_path, limits={"max_connections_per_address": 3})
    async with serving(config, workshop) as clients:
        server = clients.server
        ada, bob = workshop.attendees[:2]
        # Authenticated WebSockets don't count against their address.
        a, _ = await clients.join(ada)
        b, _ = await clients.join(bob)
        assert server.connections_by_address["127.0.0.1"] == 0
        async with kept_alive(server.port, 3) as (http, *_):
            # Three unauthenticated open: the fourth is answered 429 and closed...
            answer = await raw_exchange(server.port, NOT_HEALTHZ)
            status, headers, body = parse(answer)
            assert status == 429
            assert headers["connection"] == "close"
            assert json.loads(body) == TOO_MANY
            refused = await raw_exchange(server.port, ws_head(workshop, "facilitator_token=x"))
            assert parse(refused)[0] == 429
            # ...except the health check, which a proxy or monitor polls from here too.
            healthy = parse(await raw_exchange(server.port, HEALTHZ))
            assert (healthy[0], json.loads(healthy[2])) == (200, {"status": "ok"})

            # The first three carry on, and so do the WebSockets.
            assert (await ask(http)).startswith(b"HTTP/1.1 200 ")
            pair = workshop.comparisons[0]
            await a.vote(pair.id, pair.a)
            assert (await b.next_of("vote_received"))["data"]["attendee_id"] == ada.id
        # Gone: a new connection is served.
        await wait_until(lambda: server.connections_by_address["127.0.0.1"] == 0)
        assert (await request(server.port, "/nope")).status == 404
        metrics = (await request(server.port, "/metrics")).body.decode()
        assert (
            'pairwise_ws_tcp_connections_refused_total{reason="max_connections_per_address"} 2.0'
            in metrics
        )


# --- slow handshakes per address -----------------------------------------------------------


async def test_slow_handshakes_beyond_the_limit_get_429_until_they_time_out(
    db_path: str, workshop: Workshop
) -> None:
    config = make_config(
        db_path, limits={"max_handshakes_per_address": 2, "handshake_timeout": 1.0}
    )
    async with serving(config, workshop) as clients:
        server = clients.server
        # Finished handshakes don't count: three WebSockets and a kept-alive
        # HTTP connection are fine with a limit of two.
        peers = [(await clients.join(p))[0] for p in workshop.attendees]
        async with kept_alive(server.port, 1):
            assert len(server.handshakes_by_address) == 0
            slow = [await trio.open_tcp_stream("127.0.0.1", server.port) for _ in range(2)]
            try:
                for stream in slow:
                    await stream.send_all(HALF_A_HEAD)
                await wait_until(lambda: server.handshakes_by_address["127.0.0.1"] == 2)
                status, headers, body = parse(await raw_exchange(server.port, NOT_HEALTHZ))
                assert (status, json.loads(body)) == (429, TOO_MANY)
                assert headers["connection"] == "close"
                assert parse(await raw_exchange(server.port, HEALTHZ))[0] == 200  # always
                # Everyone else carries on meanwhile.
                await peers[0].send("join_session")
                await peers[0].next_of("session_state")
                # The slow ones are cut at the handshake timeout...
                for stream in slow:
                    assert await read_until_closed(stream) == b""
            finally:
                for stream in slow:
                    await trio.aclose_forcefully(stream)
            # ...and then a normal request is served again.
            await wait_until(lambda: server.handshakes_by_address["127.0.0.1"] == 0)
            assert (await request(server.port, "/healthz")).status == 200
        metrics = (await request(server.port, "/metrics")).body.decode()
        assert (
            'pairwise_ws_tcp_connections_refused_total{reason="max_handshakes_per_address"} 1.0'
            in metrics
        )
        assert "pairwise_ws_handshake_timeouts_total 2.0" in metrics


# --- the tables never leak ---------------------------------------------------------------


async def test_the_per_address_tables_are_empty_after_many_refused_and_served_connections(
    db_path: str, workshop: Workshop
) -> None:
    config = make_config(
        db_path,
        limits={
            "max_connections_per_address": 6,
            "max_handshakes_per_address": 3,
            "handshake_timeout": 0.3,
        },
    )
    async with serving(config, workshop) as clients:
        server = clients.server
        statuses: list[int] = []

        async def exchange(payload: bytes) -> None:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                answer = await raw_exchange(server.port, payload)
                if answer:
                    statuses.append(parse(answer)[0])

        async def reset(payload: bytes) -> None:
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                sock.sendall(payload)
            sock.close()  # RST

        ada = workshop.attendees[0]
        good_ws = ws_head(workshop, f"attendee_id={ada.id}&token={ada.token}")
        bad_ws = ws_head(workshop, f"attendee_id={ada.id}&token=wrong")
        payloads = [
            HEALTHZ,
            HALF_A_HEAD,  # cut at the handshake timeout
            b"",  # says nothing
            b"GARBAGE\r\n\r\n",  # 400
            bad_ws,  # 401
            b"GET /nope HTTP/1.1\r\nhost: x\r\n\r\n",  # 404
        ]
        for payload in payloads:  # one of each kind, served
            await exchange(payload)
        for _ in range(3):  # bursts over both limits, of every kind
            async with trio.open_nursery() as nursery:
                for payload in payloads * 3:
                    nursery.start_soon(exchange, payload)
                for payload in (HALF_A_HEAD, good_ws, HEALTHZ):
                    await reset(payload)
        # Real WebSockets, joining and leaving, some of them refused.
        for person in workshop.attendees:
            with contextlib.suppress(Exception):
                peer, _ = await clients.join(person)
                await peer.send("leave_session")
                await peer.closed()
        assert 429 in statuses
        assert {200, 400, 401, 404} <= set(statuses)
        await wait_until(lambda: tables_are_empty(server))
        assert (await request(server.port, "/healthz")).status == 200
        await wait_until(lambda: tables_are_empty(server))


# --- the table itself --------------------------------------------------------------------


def test_address_counts_forget_an_address_at_zero() -> None:
    counts = AddressCounts()
    counts.add("127.0.0.1")
    counts.add("127.0.0.1")
    counts.add("::1")
    assert (counts["127.0.0.1"], counts["::1"], counts["10.0.0.1"]) == (2, 1, 0)
    assert (len(counts), counts.total()) == (2, 3)
    counts.remove("127.0.0.1")
    counts.remove("::1")
    assert (len(counts), counts["127.0.0.1"], counts.total()) == (1, 1, 1)
    counts.remove("127.0.0.1")
    assert (len(counts), counts.total()) == (0, 0)


@pytest.mark.parametrize("limit", ["max_connections_per_address", "max_handshakes_per_address"])
async def test_a_limit_of_one_still_serves_one_at_a_time(
    db_path: str, workshop: Workshop, limit: str
) -> None:
    config = make_config(db_path, limits={limit: 1})
    async with serving(config, workshop) as clients:
        for _ in range(3):
            assert (await request(clients.server.port, "/healthz")).status == 200
            await wait_until(lambda: tables_are_empty(clients.server))
        if limit == "max_handshakes_per_address":
            # WebSockets are past their handshake: as many as the other limits allow.
            await _join_everyone(clients, workshop)


async def _join_everyone(clients: Clients, workshop: Workshop) -> None:
    for person in workshop.attendees:
        await clients.join(person)


# --- authenticated connections: per attendee, not per address ------------------------------


async def test_authenticated_websockets_from_one_address_are_not_capped_by_it(
    db_path: str,
) -> None:
    workshop = make_workshop(db_path, attendees=12)
    config = make_config(db_path, limits={"max_connections_per_address": 2})
    async with serving(config, workshop) as clients:
        # A room behind NAT: twelve people, one address, twice as many as its limit.
        peers = await clients.join_first(12)
        assert clients.server.connections_by_address["127.0.0.1"] == 0
        pair = workshop.comparisons[0]
        await peers[0].vote(pair.id, pair.a)
        received = await peers[11].next_of("vote_received")
        assert received["data"]["attendee_id"] == workshop.attendees[0].id


async def test_one_attendee_may_hold_max_connections_per_attendee(
    db_path: str, workshop: Workshop
) -> None:
    config = make_config(db_path, limits={"max_connections_per_attendee": 2})
    async with serving(config, workshop) as clients:
        ada = workshop.attendees[0]
        first, _ = await clients.join(ada)
        await clients.join(ada)  # a second tab
        head = ws_head(workshop, f"attendee_id={ada.id}&token={ada.token}")
        status, _, body = parse(await raw_exchange(clients.server.port, head))
        assert (status, json.loads(body)) == (
            429,
            {"error": "too many connections for this attendee"},
        )
        await clients.join(workshop.attendees[1])  # someone else is fine
        await first.send("leave_session")
        await first.closed()
        await wait_until(lambda: clients.server.websockets_by_attendee[str(ada.id)] == 1)
        await clients.join(ada)  # a place is free again
        metrics = (await request(clients.server.port, "/metrics")).body.decode()
        assert 'reason="max_connections_per_attendee"} 1.0' in metrics


# --- trusted proxies --------------------------------------------------------------------------


def head_from(client: str, path: str = "/nope") -> bytes:
    return f"GET {path} HTTP/1.1\r\nhost: x\r\nx-forwarded-for: {client}\r\n\r\n".encode()


async def test_behind_a_trusted_proxy_each_client_is_counted_by_its_own_address(
    db_path: str, workshop: Workshop
) -> None:
    config = make_config(
        db_path,
        server={"trusted_proxies": ["127.0.0.0/8"]},
        limits={"max_connections_per_address": 1},
    )
    async with serving(config, workshop) as clients:
        server = clients.server
        held = [await trio.open_tcp_stream("127.0.0.1", server.port) for _ in range(2)]
        try:
            assert (await ask(held[0], head_from("198.51.100.7"))).startswith(b"HTTP/1.1 404 ")
            assert server.connections_by_address["198.51.100.7"] == 1
            assert server.connections_by_address["127.0.0.1"] == 0  # the proxy itself
            # Another client through the same proxy has a limit of its own...
            assert (await ask(held[1], head_from("198.51.100.8"))).startswith(b"HTTP/1.1 404 ")
            # ...the same client once more is over its limit.
            again = parse(await raw_exchange(server.port, head_from("10.0.0.1, 198.51.100.7")))
            assert (again[0], json.loads(again[2])) == (429, TOO_MANY)
        finally:
            for stream in held:
                await trio.aclose_forcefully(stream)
        await wait_until(lambda: tables_are_empty(server))


@pytest.mark.parametrize(
    ("peer", "headers", "client"),
    [
        ("127.0.0.1", {"x-forwarded-for": "203.0.113.5"}, "203.0.113.5"),
        # The rightmost address that is not a trusted proxy is the client.
        ("127.0.0.1", {"x-forwarded-for": "203.0.113.5, 10.0.0.2"}, "203.0.113.5"),
        ("127.0.0.1", {"x-forwarded-for": "198.51.100.1, 203.0.113.5"}, "203.0.113.5"),
        (
            "127.0.0.1",
            {"forwarded": 'for=192.0.2.60;proto=https, for="[2001:db8::1]:4711"'},
            "2001:db8::1",
        ),
        (
            "127.0.0.1",
            {"forwarded": "for=192.0.2.43:8080", "x-forwarded-for": "9.9.9.9"},
            "192.0.2.43",
        ),
        # Nothing usable named: the proxy is the client.
        ("127.0.0.1", {}, "127.0.0.1"),
        ("127.0.0.1", {"x-forwarded-for": "unknown"}, "127.0.0.1"),
        ("127.0.0.1", {"x-forwarded-for": "10.0.0.3"}, "127.0.0.1"),
        # An untrusted peer names nobody, whatever it says.
        ("203.0.113.9", {"x-forwarded-for": "1.2.3.4"}, "203.0.113.9"),
    ],
)
def test_the_client_address_behind_trusted_proxies(
    peer: str, headers: dict[str, str], client: str
) -> None:
    trusted = addresses.networks(["127.0.0.1", "10.0.0.0/8"])
    assert addresses.client_address(peer, headers, trusted) == client
