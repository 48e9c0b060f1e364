"""A tiny raw HTTP/1.1 client for the tests (h11 over a real socket)."""

from __future__ import annotations

import json
from typing import Any

import attrs
import h11
import trio

TIMEOUT_S = 5.0


@attrs.frozen
class Reply:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def read_reply(stream: trio.abc.Stream, conn: h11.Connection) -> Reply:
    status, reason, headers, body = 0, "", {}, b""
    with trio.fail_after(TIMEOUT_S):
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(bytes(await stream.receive_some(65536)))
            elif isinstance(event, h11.Response):
                status, reason = event.status_code, event.reason.decode()
                headers = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return Reply(status, reason, headers, body)


async def request(
    port: int,
    path: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    json_body: Any = None,
) -> Reply:
    """One request on a fresh connection; `json_body` is sent as JSON (a POST by default)."""
    body = b""
    all_headers = {"host": f"127.0.0.1:{port}"}
    if json_body is not None:
        body = json.dumps(json_body).encode()
        method = "POST" if method == "GET" else method
        all_headers |= {"content-type": "application/json", "content-length": str(len(body))}
    all_headers |= headers or {}
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        conn = h11.Connection(h11.CLIENT)
        data = conn.send(h11.Request(method=method, target=path, headers=list(all_headers.items())))
        sent = conn.send(h11.Data(data=body)) if body else b""
        end = conn.send(h11.EndOfMessage())
        await stream.send_all((data or b"") + (sent or b"") + (end or b""))
        return await read_reply(stream, conn)


async def raw_exchange(port: int, payload: bytes) -> bytes:
    """Send raw bytes; everything the server answers until it closes the connection."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(payload)
        return await read_until_closed(stream)


async def read_until_closed(stream: trio.abc.Stream) -> bytes:
    received = b""
    with trio.fail_after(TIMEOUT_S):
        while True:
            try:
                chunk = await stream.receive_some(65536)
            except trio.BrokenResourceError:  # reset by the peer: closed too
                return received
            if not chunk:
                return received
            received += chunk


def upgrade_headers(origin: str | None = None) -> dict[str, str]:
    headers = {
        "upgrade": "websocket",
        "connection": "Upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
    }
    if origin is not None:
        headers["origin"] = origin
    return headers
