"""The one port's plain HTTP side: health, routing, rejections, hostile heads."""

from __future__ import annotations

import contextlib
import logging
import socket
import struct

import pytest
import trio

from pairwise_ws.net.server import Server
from pairwise_ws.storage import Store
from tests.conftest import Clients, LogWatcher, Workshop, make_config, make_workshop, running
from tests.http_client import raw_exchange, read_until_closed, request, upgrade_headers


async def test_healthz(server: Server) -> None:
    reply = await request(server.port, "/healthz")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {"status": "ok"}


async def test_head_healthz_has_no_body(server: Server) -> None:
    reply = await request(server.port, "/healthz", method="HEAD")
    assert reply.status == 200
    assert reply.body == b""


async def test_keep_alive_serves_several_requests_on_one_connection(server: Server) -> None:
    head = f"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1:{server.port}\r\n\r\n".encode()
    close = head.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n")
    answer = await raw_exchange(server.port, head + head + close)
    assert answer.count(b"HTTP/1.1 200 OK") == 3


async def test_unknown_path_is_404(server: Server) -> None:
    reply = await request(server.port, "/nope")
    assert reply.status == 404
    assert reply.json() == {"error": "not found"}


@pytest.mark.parametrize(
    "path",
    ["/projects/x/sessions/1/ws", "/projects/1/sessions/1/ws/extra", "/projects/1/ws"],
)
async def test_malformed_session_paths_are_404(server: Server, path: str) -> None:
    reply = await request(server.port, path, headers=upgrade_headers())
    assert reply.status == 404


async def test_plain_get_on_the_websocket_path_is_426(server: Server, workshop: Workshop) -> None:
    path = f"/projects/{workshop.project_id}/sessions/{workshop.session_id}/ws"
    reply = await request(server.port, path)
    assert reply.status == 426
    assert reply.headers["upgrade"] == "websocket"


def _path(
    workshop: Workshop, query: str, *, project: int | None = None, session: int | None = None
) -> str:
    project_id = workshop.project_id if project is None else project
    session_id = workshop.session_id if session is None else session
    return f"/projects/{project_id}/sessions/{session_id}/ws?{query}"


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("wrong token", "invalid token"),
        ("unknown attendee", "attendee not found"),
        ("no credentials", "attendee_id and token are required"),
        ("non-numeric attendee id", "attendee_id must be a positive integer"),
        ("attendee of another project", "attendee does not belong to this project"),
        ("session of another project", "session does not belong to this project"),
        ("unknown session", "session not found"),
        ("unknown project", "project not found"),
        ("wrong facilitator token", "invalid facilitator token"),
        ("closed session", "session is not active (it is closed)"),
    ],
)
async def test_refused_handshakes_get_401_with_a_reason_and_the_connection_closed(
    server: Server, workshop: Workshop, db_path: str, case: str, reason: str
) -> None:
    ada = workshop.attendees[0]
    other = make_workshop(db_path)  # a second project in the same database
    good = f"attendee_id={ada.id}&token={ada.token}"
    paths = {
        "wrong token": _path(workshop, f"attendee_id={ada.id}&token=nope"),
        "unknown attendee": _path(workshop, f"attendee_id=999&token={ada.token}"),
        "no credentials": _path(workshop, ""),
        "non-numeric attendee id": _path(workshop, "attendee_id=1x&token=t"),
        "attendee of another project": _path(
            workshop, f"attendee_id={other.attendees[0].id}&token={other.attendees[0].token}"
        ),
        "session of another project": _path(workshop, good, session=other.session_id),
        "unknown session": _path(workshop, good, session=999),
        "unknown project": _path(workshop, "facilitator_token=x", project=999),
        "wrong facilitator token": _path(workshop, "facilitator_token=nope"),
        "closed session": _path(workshop, good),
    }
    if case == "closed session":
        store = Store.open(db_path)
        store.close_session(workshop.session_id)
        store.close()
    head = (
        f"GET {paths[case]} HTTP/1.1\r\nhost: 127.0.0.1:{server.port}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in upgrade_headers().items())
        + "\r\n"
    ).encode()
    # raw_exchange returns only once the server has closed the TCP connection.
    answer = await raw_exchange(server.port, head)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 401 Unauthorized"
    body = rest.split(b"\r\n\r\n", 1)[1]
    assert body.decode() == f'{{"error": "Authentication failed: {reason}"}}'


async def test_foreign_origin_is_403(server: Server, workshop: Workshop) -> None:
    ada = workshop.attendees[0]
    path = _path(workshop, f"attendee_id={ada.id}&token={ada.token}")
    reply = await request(server.port, path, headers=upgrade_headers("http://evil.example"))
    assert reply.status == 403


async def test_same_host_origin_and_no_origin_are_allowed(
    clients: Clients, server: Server, workshop: Workshop
) -> None:
    ada = workshop.attendees[0]
    path = _path(workshop, f"attendee_id={ada.id}&token={ada.token}")
    same_host = upgrade_headers(f"http://127.0.0.1:{server.port}")
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    async with stream:
        head = f"GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{server.port}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in same_host.items()
        )
        await stream.send_all((head + "\r\n").encode())
        with trio.fail_after(5):
            answer = await stream.receive_some(4096)
        assert answer.startswith(b"HTTP/1.1 101 ")
    peer, _ = await clients.join(ada)  # no Origin at all
    await peer.send("join_session")
    assert (await peer.next_of("session_state"))["data"]["you"]["attendee_id"] == ada.id


async def test_with_configured_origins_only_those_are_allowed(
    db_path: str, workshop: Workshop
) -> None:
    config = make_config(db_path, security={"allowed_origins": ["http://pages.example:8080"]})
    ada = workshop.attendees[0]
    path = _path(workshop, f"attendee_id={ada.id}&token={ada.token}&x=1")
    async with running(config) as server:
        for origin in ("http://evil.example", f"http://127.0.0.1:{server.port}", None):
            reply = await request(server.port, path, headers=upgrade_headers(origin))
            assert reply.status == 403, origin
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        async with stream:
            head = f"GET {path} HTTP/1.1\r\nhost: x\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in upgrade_headers("http://pages.example:8080").items()
            )
            await stream.send_all((head + "\r\n").encode())
            with trio.fail_after(5):
                assert (await stream.receive_some(4096)).startswith(b"HTTP/1.1 101 ")


@pytest.mark.parametrize(
    "payload",
    [
        b"",  # connects and says nothing
        b"GET /healthz HTTP/1.1\r\nhost: x\r\n",  # a head that never ends
        b"GET /projects/1/sessions/1/ws HTTP/1.1\r\n",
    ],
)
async def test_a_handshake_that_does_not_finish_in_time_is_dropped(
    db_path: str, workshop: Workshop, payload: bytes
) -> None:
    config = make_config(db_path, limits={"handshake_timeout": 0.2})
    async with running(config) as server:
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        async with stream:
            await stream.send_all(payload)
            # Returns only when the server closes the connection (bounded by 5 s).
            assert await read_until_closed(stream) == b""
        assert (await request(server.port, "/healthz")).status == 200


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64) + b"\r\n\r\n", 400),  # TLS
        (b"GARBAGE\x00\xff nonsense\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nhost: x\r\n" + b"x-long: " + b"a" * 20000 + b"\r\n\r\n", 431),
        (b"POST /healthz HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello", 405),
        (b"POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: 99999\r\n\r\nhello", 413),
        (b"POST /x HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n5\r\n", 411),
        (b"GET /healthz HTTP/1.1\r\n\r\n", 400),  # HTTP/1.1 without Host
    ],
)
async def test_hostile_heads_get_an_answer_and_the_listener_survives(
    server: Server, payload: bytes, status: int
) -> None:
    answer = await raw_exchange(server.port, payload)
    assert answer.startswith(f"HTTP/1.1 {status} ".encode())
    assert (await request(server.port, "/healthz")).status == 200


async def test_connections_over_the_limit_get_503(db_path: str, workshop: Workshop) -> None:
    config = make_config(db_path, limits={"max_connections": 2})
    async with running(config) as server:
        first = await trio.open_tcp_stream("127.0.0.1", server.port)
        second = await trio.open_tcp_stream("127.0.0.1", server.port)
        async with first, second:
            await first.send_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")  # now counted
            with trio.fail_after(5):
                assert (await first.receive_some(4096)).startswith(b"HTTP/1.1 200")
            await second.send_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            with trio.fail_after(5):
                assert (await second.receive_some(4096)).startswith(b"HTTP/1.1 200")
            answer = await raw_exchange(server.port, b"")
            assert answer.startswith(b"HTTP/1.1 503 ")
        # Once they are gone, new connections are served again.
        assert (await request(server.port, "/healthz")).status == 200


async def test_a_peer_that_never_reads_its_responses_is_cut_off(
    db_path: str, workshop: Workshop, daemon_log: LogWatcher
) -> None:
    config = make_config(db_path, limits={"handshake_timeout": 0.3})
    count = 20_000  # ~4 MB of responses: more than any socket buffer holds
    async with running(config) as server:
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        async with stream, trio.open_nursery() as nursery:

            async def pipeline() -> None:
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await stream.send_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n" * count)

            nursery.start_soon(pipeline)
            await daemon_log.wait_for("did not read its response in time")
            answered = (await read_until_closed(stream)).count(b"HTTP/1.1 200 OK")
            nursery.cancel_scope.cancel()
        assert 0 < answered < count
        assert (await request(server.port, "/healthz")).status == 200


async def test_an_upgrade_pipelined_behind_a_request_is_served(
    server: Server, workshop: Workshop
) -> None:
    ada = workshop.attendees[0]
    path = _path(workshop, f"attendee_id={ada.id}&token={ada.token}")
    health = f"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1:{server.port}\r\n\r\n"
    upgrade = f"GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{server.port}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in upgrade_headers().items()
    )
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    async with stream:
        await stream.send_all((health + upgrade + "\r\n").encode())
        received = b""
        with trio.fail_after(5):
            while b"HTTP/1.1 101 " not in received:
                chunk = await stream.receive_some(65536)
                assert chunk, f"closed after {received!r}"
                received += chunk
        assert received.startswith(b"HTTP/1.1 200 OK")


async def test_a_peer_that_resets_during_the_handshake_is_no_error(
    server: Server, workshop: Workshop, daemon_log: LogWatcher, caplog: pytest.LogCaptureFixture
) -> None:
    ada = workshop.attendees[0]
    path = _path(workshop, f"attendee_id={ada.id}&token={ada.token}")
    head = f"GET {path} HTTP/1.1\r\nhost: x\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in upgrade_headers().items()
    )
    for _ in range(5):
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.sendall((head + "\r\n").encode())
        sock.close()  # RST at once, while the daemon is authenticating or answering
        await daemon_log.wait_for("connection broke", "reason=disconnected")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert (await request(server.port, "/healthz")).status == 200
