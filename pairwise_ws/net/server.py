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
from pairwise_ws.live.sockets import PlainIO
from pairwise_ws.logs import event
from pairwise_ws.metrics import Metrics
from pairwise_ws.net import addresses
from pairwise_ws.net.addresses import Peer
from pairwise_ws.net.admission import Admission
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
from pairwise_ws.net.tls import TlsStream, server_context
from pairwise_ws.storage.writer import AsyncStore
from pairwise_ws.wire import LeaveReason

log = logging.getLogger(__name__)

# After SIGTERM: how long connections get to receive the notice and close
# before they are cut. Leaves room within the 5 s a shutdown may take.
SHUTDOWN_GRACE_S = 3.0

WS_PATH = re.compile(r"/projects/(\d{1,20})/sessions/(\d{1,20})/ws")


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
        self._clients = 0  # open WebSocket connections
        self.admission = Admission(config, self.metrics)
        # (the tables, by name, for the tests and the metrics)
        self.connections_by_address = self.admission.connections_by_address
        self.handshakes_by_address = self.admission.handshakes_by_address
        self.websockets_by_attendee = self.admission.websockets_by_attendee
        self._metrics_allowed = addresses.networks(config.metrics.allowed)
        server = config.server
        self._tls = (
            server_context(server.tls_certificate, server.tls_private_key) if server.tls else None
        )
        self._draining = False
        self._no_clients = trio.Event()
        self.metrics.watch(
            tcp_connections=lambda: self.admission.connections,
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
        # Counted before the first checkpoint, uncounted in `finally`: the
        # tables never hold a connection that is gone.
        conn = self.admission.arrived(stream)
        link: trio.abc.Stream = stream
        try:
            if self._tls is not None:  # HTTPS and WSS only: the TLS handshake first
                tls_link = await self._start_tls(stream, conn)
                if tls_link is None:
                    return
                link = tls_link
            refusal = self.admission.refusal(conn)
            if refusal is not None:
                await self.admission.refuse(link, conn, *refusal)
                return
            upgrade = await self._serve_http(link, conn)
            if upgrade is not None:
                await self._serve_client(link, upgrade, conn)
        except* (trio.BrokenResourceError, trio.ClosedResourceError):
            log.debug(event("connection broke", peer=conn.peer))  # the peer went away: normal
        except* Exception:
            # A bug of ours: contained to this connection, logged, never fatal.
            self.metrics.internal_errors["connection"].inc()
            log.exception(event("connection failed", peer=conn.peer))
        finally:
            self.admission.left(conn)
            await trio.aclose_forcefully(link)

    async def _start_tls(self, stream: trio.SocketStream, conn: Peer) -> TlsStream | None:
        """The TLS handshake, within the handshake deadline (None: it didn't finish)."""
        assert self._tls is not None
        link = TlsStream(stream, self._tls)
        with trio.move_on_after(self.config.limits.handshake_timeout) as waiting:
            await link.do_handshake()
        if waiting.cancelled_caught:
            self.metrics.handshake_timeouts.inc()
            log.info(event("tls handshake timed out", peer=conn.peer))
            return None
        return link

    async def _serve_http(self, stream: trio.abc.Stream, conn: Peer) -> Upgrade | None:
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
                refusal = self.admission.named_by_proxy(conn, request)
                if refusal is not None:
                    await self.admission.refuse(
                        stream, conn, *refusal, h11_conn=h11_conn, request=request
                    )
                    return None
            if not request.wants_websocket:
                self.admission.handshake_done(conn)
            response = await self._respond(request, conn)
            if isinstance(response, Identity):
                return await self._accept(stream, h11_conn, request, response, conn, deadline)
            self.admission.handshake_done(conn)
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
        stream: trio.abc.Stream,
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
                await self.admission.refuse(
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
        self.admission.handshake_done(conn)
        self.admission.authenticated(conn)
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

    async def _serve_client(self, stream: trio.abc.Stream, upgrade: Upgrade, conn: Peer) -> None:
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
            io = stream if isinstance(stream, TlsStream) else PlainIO(_socket_of(stream))
            await client.run(io, upgrade.received, self._connections_nursery.start_soon)
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


def _socket_of(stream: trio.abc.Stream) -> trio.socket.SocketType:
    assert isinstance(stream, trio.SocketStream)
    return stream.socket
