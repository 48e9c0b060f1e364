"""TLS on the one port: HTTPS and WSS only, with a certificate from a throwaway CA (trustme)."""

from __future__ import annotations

import contextlib
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import h11
import pytest
import trio
import trustme
from trio_websocket import open_websocket_url

from pairwise_ws.config import Config, ConfigError
from pairwise_ws.net.server import Server
from pairwise_ws.net.tls import TlsConfigError, server_context
from tests.conftest import Workshop, make_config, running
from tests.daemon import run_cli, serve_args
from tests.http_client import upgrade_headers
from tests.raw_ws import OP_TEXT, frame
from tests.test_websocket_protocol import path_for


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def pem_files(ca: trustme.CA, tmp_path: Path) -> tuple[str, str]:
    issued = ca.issue_cert("127.0.0.1", "localhost")
    certificate, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    for blob in issued.cert_chain_pems:
        with certificate.open("ab") as out:
            out.write(blob.bytes())
    issued.private_key_pem.write_to_path(str(key))
    return str(certificate), str(key)


@pytest.fixture
def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
async def tls_server(
    db_path: str, workshop: Workshop, pem_files: tuple[str, str]
) -> AsyncIterator[Server]:
    certificate, key = pem_files
    config = make_config(
        db_path,
        server={"tls_certificate": certificate, "tls_private_key": key},
        limits={"rate_burst": 1000, "rate_per_second": 1000.0},
    )
    async with running(config) as server:
        yield server


async def https_get(port: int, path: str, context: ssl.SSLContext) -> tuple[int, bytes]:
    raw = await trio.open_tcp_stream("127.0.0.1", port)
    stream = trio.SSLStream(raw, context, server_hostname="127.0.0.1")
    async with stream:
        conn = h11.Connection(h11.CLIENT)
        request = h11.Request(method="GET", target=path, headers=[("host", "127.0.0.1")])
        await stream.send_all(conn.send(request) + conn.send(h11.EndOfMessage()))
        status, body = 0, b""
        with trio.fail_after(5):
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(bytes(await stream.receive_some(65536)))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    return status, body


async def test_https_answers_and_links_start_with_https(
    tls_server: Server, client_context: ssl.SSLContext
) -> None:
    status, body = await https_get(tls_server.port, "/healthz", client_context)

    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert tls_server.public_url.startswith("https://127.0.0.1:")


async def test_plain_http_on_the_tls_port_gets_nothing(tls_server: Server) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", tls_server.port)
    async with stream:
        await stream.send_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        received = b""
        with trio.fail_after(5):
            while chunk := await _receive(stream):
                received += chunk
    assert b"HTTP/1.1" not in received  # no cleartext answer: at most a TLS alert


async def _receive(stream: trio.SocketStream) -> bytes:
    try:
        return await stream.receive_some(65536)
    except trio.BrokenResourceError:
        return b""


@pytest.mark.workshop(features=40, attendees=3)
async def test_a_workshop_over_wss(
    tls_server: Server, workshop: Workshop, client_context: ssl.SSLContext
) -> None:
    """40 features: a session_state of 780 comparisons (well over one TLS record)."""
    ada, grace = workshop.attendees[:2]
    base = f"wss://127.0.0.1:{tls_server.port}/projects/{workshop.project_id}"
    path = f"{base}/sessions/{workshop.session_id}/ws"
    async with (
        open_websocket_url(
            f"{path}?attendee_id={ada.id}&token={ada.token}", ssl_context=client_context
        ) as a,
        open_websocket_url(
            f"{path}?attendee_id={grace.id}&token={grace.token}", ssl_context=client_context
        ) as g,
    ):
        with trio.fail_after(10):
            state = json.loads(await a.get_message())
            assert state["type"] == "session_state"
            assert len(state["data"]["comparisons"]) == 780
            await g.get_message()  # its session_state
            for pair in workshop.comparisons[:50]:  # a burst, each answered in order
                vote = {"comparison_id": pair.id, "preferred_feature_id": pair.a}
                await a.send_message(json.dumps({"type": "vote_submitted", "data": {"vote": vote}}))
            seen: list[int] = []
            while len(seen) < 50:
                message = json.loads(await g.get_message())
                if message["type"] == "vote_received":
                    seen.append(message["data"]["comparison_id"])
    assert seen == [pair.id for pair in workshop.comparisons[:50]]


def test_the_certificate_and_key_come_together(pem_files: tuple[str, str]) -> None:
    certificate, _ = pem_files
    with pytest.raises(ConfigError, match=r"server\.tls_private_key: set tls_certificate and"):
        Config.from_mapping({"server": {"tls_certificate": certificate}})


def test_unusable_files_are_one_clear_line(tmp_path: Path, pem_files: tuple[str, str]) -> None:
    _, key = pem_files
    with pytest.raises(TlsConfigError, match=r"TLS: .*missing\.pem: no such file"):
        server_context(str(tmp_path / "missing.pem"), key)
    with pytest.raises(TlsConfigError, match="TLS: cannot use"):
        server_context(key, key)  # a key where the certificate should be


async def test_serve_with_a_missing_certificate_exits_with_one_line(
    workshop: Workshop, tmp_path: Path
) -> None:
    config = tmp_path / "tls.toml"
    config.write_text(
        f'[server]\ntls_certificate = "{tmp_path}/nope.pem"\ntls_private_key = "{tmp_path}/k.pem"\n'
    )
    result = await trio.to_thread.run_sync(
        lambda: run_cli(workshop.db_path, "--config", str(config), *serve_args())
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"pairwise-ws: error: TLS: {tmp_path}/nope.pem: no such file"
    ]


@pytest.mark.workshop(features=20, attendees=3)
async def test_a_tls_peer_that_never_reads_is_dropped_and_nobody_waits(
    db_path: str, workshop: Workshop, pem_files: tuple[str, str], client_context: ssl.SSLContext
) -> None:
    """The writer path under TLS: ciphertext the socket refuses waits, the outbox fills."""
    certificate, key = pem_files
    config = make_config(
        db_path,
        server={"tls_certificate": certificate, "tls_private_key": key},
        limits={"send_queue_size": 32, "rate_burst": 100_000, "rate_per_second": 100_000.0},
    )
    flooder, watcher = workshop.attendees[:2]
    async with running(config) as server:
        raw = await trio.open_tcp_stream("127.0.0.1", server.port)
        stream = trio.SSLStream(raw, client_context, server_hostname="127.0.0.1")
        async with stream:
            head = f"GET {path_for(workshop, flooder)} HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            head += "".join(f"{k}: {v}\r\n" for k, v in upgrade_headers().items()) + "\r\n"
            await stream.send_all(head.encode())
            with trio.fail_after(5):
                assert (await stream.receive_some(65536)).startswith(b"HTTP/1.1 101 ")
            url = f"wss://127.0.0.1:{server.port}{path_for(workshop, watcher)}"
            async with open_websocket_url(url, ssl_context=client_context) as w:
                await w.get_message()  # session_state (about 60 KB, 20 features)
                ask = frame(OP_TEXT, json.dumps({"type": "join_session"}).encode())
                with trio.fail_after(10):
                    with contextlib.suppress(trio.BrokenResourceError):
                        for _ in range(2000):  # asks for state, never reads it
                            await stream.send_all(ask)
                    while True:
                        message = json.loads(await w.get_message())
                        if message["type"] == "attendee_left":
                            break
        assert message["data"]["attendee_id"] == flooder.id
        assert message["data"]["reason"] == "slow_consumer"
        assert server.hub.room_failures == 0
