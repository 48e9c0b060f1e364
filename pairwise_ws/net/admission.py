"""Who the one port lets in: connection limits per address, per attendee and in all.

Every TCP connection is counted from its arrival (`arrived`) to its end
(`left`): against its address until it authenticates a WebSocket, and
among the handshakes while it is still in its request head or handshake.
A trusted proxy's connections are counted by the client its first request
names. What is one too many is answered (`refuse`: 503 or 429, bounded in
time), except the health check, which is answered 200 whatever the limits.
"""

from __future__ import annotations

import logging

import h11
import trio

from pairwise_ws.config import Config
from pairwise_ws.logs import event
from pairwise_ws.metrics import Metrics
from pairwise_ws.net import addresses
from pairwise_ws.net.addresses import AddressCounts, Peer
from pairwise_ws.net.http import (
    MAX_HEAD_BYTES,
    BadRequest,
    Request,
    Response,
    read_request,
    send_response,
)

log = logging.getLogger(__name__)

TOO_MANY_FROM_ADDRESS = "too many connections from your address"
REFUSAL_WRITE_TIMEOUT_S = 1.0  # a refused peer gets this long to take its 503/429


class Admission:
    """The counts the limits are checked against, and the answer to one too many."""

    def __init__(self, config: Config, metrics: Metrics) -> None:
        self._limits = config.limits
        self.metrics = metrics
        self.connections = 0  # open TCP connections
        # Per peer address: open TCP connections, and those of them still in
        # their first request head or WebSocket handshake (the slow part).
        self.connections_by_address = AddressCounts()
        self.handshakes_by_address = AddressCounts()
        # Open WebSockets per attendee (by id): at most max_connections_per_attendee.
        self.websockets_by_attendee = AddressCounts()
        self.trusted_proxies = addresses.networks(config.server.trusted_proxies)

    def arrived(self, stream: trio.SocketStream) -> Peer:
        """A new TCP connection, counted (by its own address, unless a trusted proxy's)."""
        host = addresses.peer_host(stream)
        conn = Peer(peer=addresses.peer_name(stream), host=host)
        self.connections += 1
        if addresses.is_in(host, self.trusted_proxies):
            conn.proxy, conn.counted, conn.handshaking = True, False, False
        else:
            self.connections_by_address.add(conn.host)
            self.handshakes_by_address.add(conn.host)
        return conn

    def left(self, conn: Peer) -> None:
        """The connection ended: uncounted everywhere."""
        self.connections -= 1
        self.authenticated(conn)
        self.handshake_done(conn)

    def refusal(self, conn: Peer) -> tuple[int, str, str] | None:
        """(status, message, the limit) if this new connection is one too many."""
        limits = self._limits
        if self.connections > limits.max_connections:
            return 503, "too many connections", "max_connections"
        if self.connections_by_address[conn.host] > limits.max_connections_per_address:
            return 429, TOO_MANY_FROM_ADDRESS, "max_connections_per_address"
        if self.handshakes_by_address[conn.host] > limits.max_handshakes_per_address:
            return 429, TOO_MANY_FROM_ADDRESS, "max_handshakes_per_address"
        return None

    async def refuse(
        self,
        stream: trio.abc.Stream,
        conn: Peer,
        status: int,
        message: str,
        limit: str,
        *,
        h11_conn: h11.Connection | None = None,
        request: Request | None = None,
    ) -> None:
        """Answer the refusal and close, bounded in time; `/healthz` still gets its 200.

        The request head is read (within REFUSAL_WRITE_TIMEOUT_S) only to see
        whether it is the health check, which a proxy or monitor polls from the
        same address as everyone behind it.
        """
        if h11_conn is None:
            h11_conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
            with trio.move_on_after(REFUSAL_WRITE_TIMEOUT_S):
                try:
                    request = await read_request(h11_conn, stream)
                except BadRequest:
                    request = None
        if request is not None and request.path == "/healthz":
            self.metrics.count_response(200)
            with trio.move_on_after(REFUSAL_WRITE_TIMEOUT_S):
                healthy = Response.json(200, {"status": "ok"}, close=True)
                await send_response(h11_conn, stream, healthy, request.method)
            return
        self.metrics.refused[limit].inc()
        self.metrics.count_response(status)
        log.warning(
            event(
                "connection refused",
                peer=conn.peer,
                status=status,
                limit=limit,
                connections=self.connections - 1,
                from_address=self.connections_by_address[conn.host] - 1,
                handshakes_from_address=self.handshakes_by_address[conn.host] - 1,
            )
        )
        if request is None:
            h11_conn = h11.Connection(h11.SERVER)  # no request read: answer on a fresh one
        with trio.move_on_after(REFUSAL_WRITE_TIMEOUT_S):
            await send_response(
                h11_conn,
                stream,
                Response.error(status, message, close=True),
                request_method=None if request is None else request.method,
            )

    def authenticated(self, conn: Peer) -> None:
        """An accepted WebSocket (or the end): no longer counted against its address."""
        if conn.counted:
            conn.counted = False
            self.connections_by_address.remove(conn.host)

    def named_by_proxy(self, conn: Peer, request: Request) -> tuple[int, str, str] | None:
        """Count a trusted proxy's connection by the client it names; a refusal if one too many."""
        conn.proxy = False
        conn.host = addresses.client_address(conn.host, request.headers, self.trusted_proxies)
        conn.peer = f"{conn.host} via {conn.peer}"
        self.connections_by_address.add(conn.host)
        conn.counted = True
        if request.wants_websocket:
            self.handshakes_by_address.add(conn.host)
            conn.handshaking = True
        return self.refusal(conn)

    def handshake_done(self, conn: Peer) -> None:
        """The connection has left the slow part (or ended): uncount it, once."""
        if conn.handshaking:
            conn.handshaking = False
            self.handshakes_by_address.remove(conn.host)
