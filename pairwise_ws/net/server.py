"""The daemon: one port for HTTP and WebSockets, wired to the hub and storage.

    async with trio.open_nursery() as nursery:
        server = await nursery.start(pairwise_ws.serve, config)
        ...
        await server.aclose()  # graceful, as on SIGTERM

Every TCP connection is handled in its own task, and whatever goes wrong in it
(a malformed request, a peer that vanishes, a bug of ours) is contained and
logged there: one connection can never take the listener down.
"""

from __future__ import annotations

import functools
import logging
import re

import attrs
import h11
import trio

from pairwise_ws import metrics
from pairwise_ws.app import auth
from pairwise_ws.app.auth import Identity
from pairwise_ws.config import Config
from pairwise_ws.live.connection import Connection
from pairwise_ws.live.hub import Hub
from pairwise_ws.live.keepalive import Keepalive
from pairwise_ws.logs import event
from pairwise_ws.metrics import Metrics
from pairwise_ws.net import addresses
from pairwise_ws.net.addresses import AddressCounts, Peer
from pairwise_ws.net.http import (
    MAX_HEAD_BYTES,
    BadRequest,
    Request,
    Response,
    accept_websocket,
    log_level,
    read_request,
    send_response,
    websocket_problem,
    without_query,
)
from pairwise_ws.net.routes import Routes
from pairwise_ws.storage.writer import AsyncStore
from pairwise_ws.wire import LeaveReason

log = logging.getLogger(__name__)

# After SIGTERM: how long connections get to receive the notice and close
# before they are cut. Leaves room within the 5 s a shutdown may take.
SHUTDOWN_GRACE_S = 3.0

WS_PATH = re.compile(r"/projects/(\d{1,20})/sessions/(\d{1,20})/ws")
TOO_MANY_FROM_ADDRESS = "too many connections from your address"
REFUSAL_WRITE_TIMEOUT_S = 1.0  # a refused peer gets this long to take its 503/429


async def serve(
    config: Config, *, task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run the daemon until `Server.aclose()` (graceful) or cancellation.

    Reports the running `Server` through `task_status` once it accepts
    connections. Raises `StorageError` if the database can't be opened and
    `OSError` if the port can't be bound, before reporting.
    """
    store = await trio.to_thread.run_sync(
        functools.partial(
            AsyncStore.open, config.database.path, synchronous=config.database.synchronous
        )
    )
    try:
        listeners = await trio.open_tcp_listeners(config.server.port, host=config.server.host)
        server = Server(config, store, listeners)
        await server.run(task_status=task_status)
    finally:
        store.close()


class Server:
    def __init__(
        self, config: Config, store: AsyncStore, listeners: list[trio.SocketListener]
    ) -> None:
        self.config = config
        self.store = store
        self.metrics = Metrics()
        self.hub = Hub(
            self.store, poll_interval=config.database.poll_interval, metrics=self.metrics
        )
        self.keepalive = Keepalive(config.keepalive)
        self._listeners = listeners
        self._connections_nursery: trio.Nursery | None = None  # also the writers'
        self.port: int = listeners[0].socket.getsockname()[1]
        # Where browsers reach us, for the links and QR codes we hand out.
        self.public_url = config.with_overrides(server_port=self.port).base_url
        self.routes = Routes(
            config, store, on_change=self.hub.refresh, base_url=lambda: self.public_url
        )
        self._listen_scope = trio.CancelScope()
        self._stop = trio.Event()
        self._stopped = trio.Event()
        self._connections = 0  # open TCP connections
        self._clients = 0  # open WebSocket connections
        # Per peer address: open TCP connections, and those of them still in
        # their first request head or WebSocket handshake (the slow part).
        self.connections_by_address = AddressCounts()
        self.handshakes_by_address = AddressCounts()
        # Open WebSockets per attendee (by id): at most max_connections_per_attendee.
        self.websockets_by_attendee = AddressCounts()
        self._trusted_proxies = addresses.networks(config.server.trusted_proxies)
        self._metrics_allowed = addresses.networks(config.metrics.allowed)
        self._draining = False
        self._no_clients = trio.Event()
        self.metrics.watch(
            tcp_connections=lambda: self._connections,
            tcp_handshakes=self.handshakes_by_address.total,
            peer_addresses=lambda: len(self.connections_by_address),
            websockets=lambda: self._clients,
            rooms=lambda: len(self.hub.rooms),
        )

    @property
    def url(self) -> str:
        """The base URL the daemon answers on (for links, `Config.base_url`)."""
        host = self.config.server.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    async def aclose(self) -> None:
        """Stop gracefully, as on SIGTERM; returns once everything is closed.

        Returns at once if the server already stopped (or was cancelled).
        """
        self._stop.set()
        await self._stopped.wait()

    async def run(self, *, task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            async with trio.open_nursery() as hub_nursery:
                await hub_nursery.start(self.hub.run)
                await hub_nursery.start(self.keepalive.run)
                async with trio.open_nursery() as connections:
                    self._connections_nursery = connections
                    connections.start_soon(self._listen, connections)
                    # (tests and benchmarks look for "listening on http://HOST:PORT")
                    log.info(event(f"listening on {self.url}"))
                    task_status.started(self)
                    await self._stop.wait()
                    await self._drain()
                    connections.cancel_scope.cancel()
                hub_nursery.cancel_scope.cancel()
            log.info(event("stopped"))
        finally:
            self._stopped.set()

    async def _listen(self, handler_nursery: trio.Nursery) -> None:
        with self._listen_scope:
            await trio.serve_listeners(
                self._handle_tcp, self._listeners, handler_nursery=handler_nursery
            )

    async def _drain(self) -> None:
        log.info(event("shutting down", websockets=self._clients))
        self._listen_scope.cancel()
        self._draining = True
        self.hub.shutdown()
        with trio.move_on_after(SHUTDOWN_GRACE_S) as grace:
            if self._clients:
                await self._no_clients.wait()
        if grace.cancelled_caught:
            log.warning(event("connections did not close in time", websockets=self._clients))

    # --- one TCP connection ----------------------------------------------------

    async def _handle_tcp(self, stream: trio.SocketStream) -> None:
        host = addresses.peer_host(stream)
        conn = Peer(peer=addresses.peer_name(stream), host=host)
        # Counted before the first checkpoint, uncounted in `finally`: the
        # tables never hold a connection that is gone. A trusted proxy's
        # connections are counted by the client its first request names.
        self._connections += 1
        if addresses.is_in(host, self._trusted_proxies):
            conn.proxy, conn.counted, conn.handshaking = True, False, False
        else:
            self.connections_by_address.add(conn.host)
            self.handshakes_by_address.add(conn.host)
        try:
            refusal = self._refusal(conn)
            if refusal is not None:
                await self._refuse(stream, conn, *refusal)
                return
            upgrade = await self._serve_http(stream, conn)
            if upgrade is not None:
                await self._serve_client(stream, upgrade, conn)
        except* (trio.BrokenResourceError, trio.ClosedResourceError):
            log.debug(event("connection broke", peer=conn.peer))  # the peer went away: normal
        except* Exception:
            # A bug of ours: contained to this connection, logged, never fatal.
            self.metrics.internal_errors["connection"].inc()
            log.exception(event("connection failed", peer=conn.peer))
        finally:
            self._connections -= 1
            self._authenticated(conn)
            self._handshake_done(conn)
            await trio.aclose_forcefully(stream)

    def _refusal(self, conn: Peer) -> tuple[int, str, str] | None:
        """(status, message, the limit) if this new connection is one too many."""
        limits = self.config.limits
        if self._connections > limits.max_connections:
            return 503, "too many connections", "max_connections"
        if self.connections_by_address[conn.host] > limits.max_connections_per_address:
            return 429, TOO_MANY_FROM_ADDRESS, "max_connections_per_address"
        if self.handshakes_by_address[conn.host] > limits.max_handshakes_per_address:
            return 429, TOO_MANY_FROM_ADDRESS, "max_handshakes_per_address"
        return None

    async def _refuse(
        self,
        stream: trio.SocketStream,
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
                connections=self._connections - 1,
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

    def _authenticated(self, conn: Peer) -> None:
        """An accepted WebSocket (or the end): no longer counted against its address."""
        if conn.counted:
            conn.counted = False
            self.connections_by_address.remove(conn.host)

    def _named_by_proxy(self, conn: Peer, request: Request) -> tuple[int, str, str] | None:
        """Count a trusted proxy's connection by the client it names; a refusal if one too many."""
        conn.proxy = False
        conn.host = addresses.client_address(conn.host, request.headers, self._trusted_proxies)
        conn.peer = f"{conn.host} via {conn.peer}"
        self.connections_by_address.add(conn.host)
        conn.counted = True
        if request.wants_websocket:
            self.handshakes_by_address.add(conn.host)
            conn.handshaking = True
        return self._refusal(conn)

    def _handshake_done(self, conn: Peer) -> None:
        """The connection has left the slow part (or ended): uncount it, once."""
        if conn.handshaking:
            conn.handshaking = False
            self.handshakes_by_address.remove(conn.host)

    async def _serve_http(self, stream: trio.SocketStream, conn: Peer) -> Upgrade | None:
        """Answer requests until the connection ends or becomes a WebSocket (returned)."""
        h11_conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        while True:
            # The handshake timeout bounds the whole request head, the
            # authentication and the WebSocket accept; it is also the idle
            # timeout of a kept-alive HTTP connection.
            deadline = trio.current_time() + self.config.limits.handshake_timeout
            request: Request | None = None
            with trio.move_on_at(deadline) as reading:
                try:
                    request = await read_request(h11_conn, stream)
                except BadRequest as exc:
                    self.metrics.count_response(exc.status)
                    # h11 quotes the request line, which may hold a token.
                    log.info(
                        event(
                            "bad request",
                            peer=conn.peer,
                            status=exc.status,
                            error=without_query(str(exc)),
                        )
                    )
                    await send_response(
                        h11_conn, stream, Response.error(exc.status, str(exc), close=True), None
                    )
                    return None  # (still under the deadline)
            if request is None:
                if reading.cancelled_caught and conn.handshaking:
                    self.metrics.handshake_timeouts.inc()
                    log.debug(event("request head timed out", peer=conn.peer))
                return None  # closed by the peer, too slow, or idle for too long
            if conn.proxy and request.path != "/healthz":
                refusal = self._named_by_proxy(conn, request)
                if refusal is not None:
                    await self._refuse(stream, conn, *refusal, h11_conn=h11_conn, request=request)
                    return None
            if not request.wants_websocket:
                self._handshake_done(conn)
            response = await self._respond(request, conn)
            if isinstance(response, Identity):
                return await self._accept(stream, h11_conn, request, response, conn, deadline)
            self._handshake_done(conn)
            self.metrics.count_response(response.status)
            log.log(
                log_level(request, response),
                event(
                    "http request",
                    peer=conn.peer,
                    method=request.method,
                    path=request.path,  # never the query: it may hold a token
                    status=response.status,
                ),
            )
            # A peer that doesn't read its answers loses its connection at the
            # same deadline as one that doesn't send its request.
            with trio.move_on_at(deadline) as writing:
                await send_response(h11_conn, stream, response, request.method)
            if writing.cancelled_caught:
                log.info(event("did not read its response in time", peer=conn.peer))
                return None
            if response.close or h11_conn.our_state is h11.MUST_CLOSE:
                return None
            h11_conn.start_next_cycle()

    async def _accept(
        self,
        stream: trio.SocketStream,
        h11_conn: h11.Connection,
        request: Request,
        identity: Identity,
        conn: Peer,
        deadline: float,
    ) -> Upgrade | None:
        """Accept an authenticated upgrade request (the 101), within the handshake deadline."""
        attendee = identity.attendee
        if attendee is not None:
            key = str(attendee.id)
            if self.websockets_by_attendee[key] >= self.config.limits.max_connections_per_attendee:
                await self._refuse(
                    stream,
                    conn,
                    429,
                    "too many connections for this attendee",
                    "max_connections_per_attendee",
                    h11_conn=h11_conn,
                    request=request,
                )
                return None
            self.websockets_by_attendee.add(key)  # given back when the connection ends
        accepted, received = accept_websocket(h11_conn, request)
        with trio.move_on_at(deadline) as accepting:
            await stream.send_all(accepted)
        if accepting.cancelled_caught:
            self.metrics.handshake_timeouts.inc()
            log.info(event("websocket handshake timed out", peer=conn.peer))
            if attendee is not None:
                self.websockets_by_attendee.remove(str(attendee.id))
            return None
        self._handshake_done(conn)
        self._authenticated(conn)
        self.metrics.count_response(101)
        return Upgrade(identity, received)

    async def _respond(self, request: Request, conn: Peer) -> Response | Identity:
        """The response to a plain request, or who may open the requested WebSocket."""
        if request.path == "/healthz":
            if request.method not in ("GET", "HEAD"):
                return Response.error(405, "use GET", close=True)
            return Response.json(200, {"status": "ok"})
        if request.path == "/metrics":
            if request.method not in ("GET", "HEAD"):
                refused = Response.error(405, "use GET", close=True)
                return attrs.evolve(refused, headers=(("allow", "GET, HEAD"),))
            limit = self.config.metrics
            if not addresses.metrics_allowed(
                conn.host, request.header("authorization"), self._metrics_allowed, limit.token
            ):
                return Response.error(403, "metrics are restricted ([metrics] in the config)")
            return Response(200, self.metrics.exposition(), metrics.CONTENT_TYPE)
        match = WS_PATH.fullmatch(request.path)
        if match is None:
            response = await self.routes.respond(request, conn.host)
            return response or Response.error(404, "not found")
        if not auth.origin_allowed(
            request.header("origin"), request.header("host"), self.config.security.allowed_origins
        ):
            return Response.error(403, "origin not allowed", close=True)
        if not request.wants_websocket:
            upgrade_required = Response.error(426, "this endpoint speaks WebSocket")
            return attrs.evolve(upgrade_required, headers=(("upgrade", "websocket"),))
        problem = websocket_problem(request)
        if problem is not None:
            return Response.error(400, problem, close=True)
        project_id, session_id = int(match[1]), int(match[2])
        identity = await self.store.read(auth.authenticate, project_id, session_id, request.query)
        if isinstance(identity, str):
            log.info(
                event(
                    "websocket refused",
                    peer=conn.peer,
                    project_id=project_id,
                    session_id=session_id,
                    reason=identity,
                )
            )
            return Response.error(401, f"Authentication failed: {identity}", close=True)
        return identity

    async def _serve_client(self, stream: trio.SocketStream, upgrade: Upgrade, conn: Peer) -> None:
        identity = upgrade.identity
        client = Connection(
            project_id=identity.project_id,
            session_id=identity.session_id,
            attendee=identity.attendee,
            peer=conn.peer,
            limits=self.config.limits,
            metrics=self.metrics,
            token_hash=identity.token_hash,
            role=identity.role,
        )
        self._clients += 1
        opened = trio.current_time()
        try:
            log.debug(event("websocket opened", **client.log_fields()))
            self.hub.register(client)
            self.keepalive.add(client)
            assert self._connections_nursery is not None
            await client.run(stream, upgrade.received, self._connections_nursery.start_soon)
        finally:
            client.finished = True
            if client.attendee is not None:
                self.websockets_by_attendee.remove(str(client.attendee.id))
            reason = client.leave_reason or LeaveReason.DISCONNECTED
            if client.room is not None:
                client.room.post_leave(client, reason)
            self._clients -= 1
            if self._draining and self._clients == 0:
                self._no_clients.set()
            self.metrics.websocket_closes[reason].inc()
            log.info(
                event(
                    "websocket closed",
                    **client.log_fields(),
                    reason=reason,
                    seconds=round(trio.current_time() - opened, 3),
                )
            )


@attrs.frozen
class Upgrade:
    """An accepted WebSocket: who it is, and the bytes that came after its handshake."""

    identity: Identity
    received: bytes
