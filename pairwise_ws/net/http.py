"""Plain HTTP on the daemon's one port, with h11, and the WebSocket upgrade.

The daemon reads every request head itself with h11, answers plain requests
here, and accepts a WebSocket upgrade with a 101 made by h11 and wsproto
(`accept_websocket`); the connection then belongs to `connection.Connection`.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs
import h11
import trio

from pairwise_ws.wire import rfc6455

MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 4 * 1024  # the largest body an endpoint takes is a name
RECEIVE_BYTES = 4096

REASONS = {
    200: b"OK",
    201: b"Created",
    204: b"No Content",
    400: b"Bad Request",
    401: b"Unauthorized",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    409: b"Conflict",
    411: b"Length Required",
    413: b"Content Too Large",
    415: b"Unsupported Media Type",
    426: b"Upgrade Required",
    429: b"Too Many Requests",
    431: b"Request Header Fields Too Large",
    500: b"Internal Server Error",
    503: b"Service Unavailable",
}


@attrs.frozen
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def wants_websocket(self) -> bool:
        return "websocket" in (self.header("upgrade") or "").lower()


@attrs.frozen
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    close: bool = False

    @classmethod
    def json(cls, status: int, payload: Any, *, close: bool = False) -> Response:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return cls(status=status, body=body, close=close)

    @classmethod
    def error(cls, status: int, message: str, *, close: bool = False) -> Response:
        return cls.json(status, {"error": message}, close=close)


class BadRequest(Exception):
    """The peer sent something that isn't HTTP/1.1; answer `status` and close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def read_request(conn: h11.Connection, stream: trio.abc.Stream) -> Request | None:
    """The next request head on `conn`, or None if the peer closed cleanly.

    Raises BadRequest for malformed or oversized heads, and for bodies over
    MAX_BODY_BYTES or without a Content-Length. The body is read whole.
    """
    # A pipelined request may already sit in h11's buffer from the last cycle.
    size = len(conn.trailing_data[0])
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            status = exc.error_status_hint
            raise BadRequest(status, str(exc) or "malformed request") from None
        if event is h11.NEED_DATA:
            data = bytes(await stream.receive_some(RECEIVE_BYTES))
            size += len(data)
            if size > MAX_HEAD_BYTES:
                raise BadRequest(431, "request head too large")
            conn.receive_data(data)  # b"" tells h11 the peer closed
            continue
        if isinstance(event, h11.Request):
            request = _request(event)
            body = await _read_body(conn, stream)
            return attrs.evolve(request, body=body) if body else request
        if isinstance(event, h11.ConnectionClosed):
            return None
        raise BadRequest(400, "unexpected data")  # pragma: no cover - h11 yields a Request first


async def _read_body(conn: h11.Connection, stream: trio.abc.Stream) -> bytes:
    body = bytearray()
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise BadRequest(exc.error_status_hint, str(exc) or "malformed body") from None
        if event is h11.NEED_DATA:
            data = bytes(await stream.receive_some(RECEIVE_BYTES))
            if not data:
                raise BadRequest(400, "the body ended early")
            conn.receive_data(data)
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return bytes(body)
        else:  # pragma: no cover - h11 yields only these between Request and EndOfMessage
            raise BadRequest(400, "unexpected data")


def _request(event: h11.Request) -> Request:
    target = event.target.decode("ascii", "replace")
    parts = urlsplit(target)
    headers: dict[str, str] = {}
    for name, value in event.headers:
        key = name.decode("ascii", "replace").lower()
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    if "transfer-encoding" in headers:
        raise BadRequest(411, "send the body with a Content-Length")
    # (h11 has checked that a Content-Length is a number.)
    if int(headers.get("content-length", "0")) > MAX_BODY_BYTES:
        raise BadRequest(413, f"bodies are limited to {MAX_BODY_BYTES} bytes")
    return Request(
        method=event.method.decode("ascii", "replace"),
        path=parts.path,
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers=headers,
    )


async def send_response(
    conn: h11.Connection,
    stream: trio.abc.Stream,
    response: Response,
    request_method: str | None,
) -> None:
    """Write `response`; no body for a HEAD request."""
    headers = [
        ("content-type", response.content_type),
        ("content-length", str(len(response.body))),
        ("x-content-type-options", "nosniff"),
        *response.headers,
    ]
    if not any(name == "cache-control" for name, _ in response.headers):
        headers.append(("cache-control", "no-store"))
    if response.close:
        headers.append(("connection", "close"))
    reason = REASONS.get(response.status, b"")
    data = conn.send(h11.Response(status_code=response.status, headers=headers, reason=reason))
    assert data is not None
    send_body = response.body and request_method != "HEAD"
    body = conn.send(h11.Data(data=response.body)) if send_body else b""
    end = conn.send(h11.EndOfMessage())
    await stream.send_all(data + (body or b"") + (end or b""))


def accept_websocket(conn: h11.Connection, request: Request) -> tuple[bytes, bytes]:
    """The 101 that accepts a checked upgrade request, and the bytes already read after it.

    No subprotocol and no extension is negotiated: every frame the server
    sends is plain, so a broadcast's frame is the same for every recipient.
    """
    key = request.header("sec-websocket-key") or ""
    response = h11.InformationalResponse(
        status_code=101,
        headers=[
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
            ("sec-websocket-accept", rfc6455.accept_token(key)),
        ],
        reason=b"Switching Protocols",
    )
    data = conn.send(response)
    assert data is not None
    return data, conn.trailing_data[0]


def websocket_problem(request: Request) -> str | None:
    """Why this upgrade request can't become a WebSocket, or None if it can."""
    if request.method != "GET":
        return "a WebSocket handshake must be a GET"
    if "upgrade" not in (request.header("connection") or "").lower():
        return "missing Connection: Upgrade"
    if request.header("sec-websocket-version") != "13":
        return "only WebSocket version 13 is supported"
    if not request.header("sec-websocket-key"):
        return "missing Sec-WebSocket-Key"
    return None


_QUERY = re.compile(r"\?[^\s'\"]*")


def without_query(text: str) -> str:
    """`text` with every URL query cut out: queries carry tokens."""
    return _QUERY.sub("?…", text)


def log_level(request: Request, response: Response) -> int:
    if response.status >= 500:
        return logging.ERROR
    return logging.DEBUG if request.path in ("/healthz", "/metrics") else logging.INFO
