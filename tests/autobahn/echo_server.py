"""An echo endpoint made of the daemon's own server side, for the Autobahn testsuite.

    .venv/bin/python -m tests.autobahn.echo_server [--port 9001]

Everything a WebSocket meets in the daemon is the product's code: the request
head is read by `net.http.read_request`, checked by `websocket_problem` and
accepted by `accept_websocket` (h11, `rfc6455.accept_token`), and the socket
then belongs to a `live.connection.Connection`, as `net.server` hands it over:
its one task reads, `rfc6455.FrameReader` decodes (wsproto: unmasking,
reassembly, UTF-8 checks, protocol failures), Pings, Pongs and the closing
handshake are answered by `Connection` itself, frames leave through its
outbox, its non-blocking flush and its writer task, and the TCP connection is
closed the way `Server._handle_tcp` closes it.

One method differs, in a test-only subclass: `Connection._message`, which in
the product decodes a message as the JSON protocol (`wire.decode`, which
refuses binary messages) and posts it to the room. An echo needs the message
as it came, so `EchoConnection._message` queues it straight back (text with
the product's `rfc6455.text_frame`, binary with wsproto's framer, as the
product sends no binary frame). The limits are the daemon's own
`LimitsConfig`, at the largest values it accepts: messages up to 1 MiB (its
validator's ceiling), and rate limits that a test case can't reach.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections import Counter
from functools import partial

import attrs
import h11
import trio
from wsproto.frame_protocol import FrameProtocol

from pairwise_ws.config import LimitsConfig
from pairwise_ws.live.connection import Connection, Spawn
from pairwise_ws.live.ratelimit import TokenBucket, Verdict
from pairwise_ws.live.sockets import PlainIO
from pairwise_ws.metrics import COMPONENTS, PREFIX, Metrics
from pairwise_ws.net.http import (
    MAX_HEAD_BYTES,
    BadRequest,
    Response,
    accept_websocket,
    read_request,
    send_response,
    websocket_problem,
)
from pairwise_ws.wire import LeaveReason
from pairwise_ws.wire.close_codes import CLOSE_POLICY
from pairwise_ws.wire.rfc6455 import Message, text_frame

log = logging.getLogger(__name__)

# The daemon's limits at their ceilings (config.LimitsConfig's validators):
# 1 MiB messages, and rate limits no test case comes near (a case sends at
# most ~1,000 messages).
ECHO_LIMITS = LimitsConfig(
    max_message_bytes=1_048_576,
    rate_burst=100_000,
    rate_per_second=100_000.0,
    rate_abuse_strikes=100_000,
    send_queue_size=1_000_000,
    handshake_timeout=10.0,
)

_BINARY_FRAMER = FrameProtocol(client=False, extensions=[])


def echo_frame(data: str | bytes) -> bytes:
    """The frame that sends `data` back: text as the daemon frames it, binary by wsproto."""
    if isinstance(data, str):
        return text_frame(data)
    return bytes(_BINARY_FRAMER.send_data(data, fin=True))


class EchoConnection(Connection):
    """A `Connection` whose messages go straight back to the peer instead of to a room."""

    __slots__ = ()

    async def _message(self, item: Message, bucket: TokenBucket) -> None:
        # As the product: a message first takes a token (the limits make this
        # unreachable; were it reached, the echo would be wrong, so say so).
        if bucket.take(trio.current_time()) is not Verdict.ALLOW:
            log.error("echo: rate limit reached (ECHO_LIMITS are too low)")
            self.close(CLOSE_POLICY, LeaveReason.RATE_ABUSE)
            return
        if not self.deliver(echo_frame(item.data)):
            log.error("echo: the echo was refused (connection %s closing)", self.id)


@attrs.define
class EchoServer:
    """What the echo endpoint saw: connections, why each ended, and any bug of ours."""

    limits: LimitsConfig = ECHO_LIMITS
    port: int = 0
    connections: int = 0
    leave_reasons: Counter[str] = attrs.field(factory=Counter)
    refused: int = 0
    internal_errors: list[str] = attrs.field(factory=list)
    # The connections' counters, the daemon's: a writer task's contained bug
    # counts in internal_errors{component="connection"} (`internal_error_count`).
    metrics: Metrics = attrs.field(factory=Metrics, repr=False)

    def internal_error_count(self) -> int:
        """Our bugs: the exceptions `_handle_tcp` caught, and those the connections contained."""
        registry = self.metrics.registry
        contained = sum(
            registry.get_sample_value(f"{PREFIX}_internal_errors_total", {"component": name}) or 0
            for name in COMPONENTS
        )
        return len(self.internal_errors) + int(contained)

    async def serve(
        self, host: str = "127.0.0.1", port: int = 0, *, task_status: trio.TaskStatus[int]
    ) -> None:
        """Serve until cancelled; `task_status.started` gets the port."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        self.port = int(listeners[0].socket.getsockname()[1])
        async with trio.open_nursery() as nursery:
            task_status.started(self.port)
            await trio.serve_listeners(
                partial(self._handle_tcp, spawn=nursery.start_soon),
                listeners,
                handler_nursery=nursery,
            )

    async def _handle_tcp(self, stream: trio.SocketStream, *, spawn: Spawn) -> None:
        try:
            await self._serve(stream, spawn)
        except* (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the peer went away: normal (Server._handle_tcp)
        except* Exception as group:
            # A bug of ours (the product's or this file's): remembered and reported.
            self.internal_errors.append(repr(group.exceptions))
            log.exception("echo: connection failed")
        finally:
            await trio.aclose_forcefully(stream)

    async def _serve(self, stream: trio.SocketStream, spawn: Spawn) -> None:
        h11_conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        received = b""
        with trio.move_on_after(self.limits.handshake_timeout) as handshake:
            try:
                request = await read_request(h11_conn, stream)
            except BadRequest as exc:
                self.refused += 1
                response = Response.error(exc.status, str(exc), close=True)
                await send_response(h11_conn, stream, response, None)
                return
            if request is None:
                return
            problem = (
                websocket_problem(request)
                if request.wants_websocket
                else "this endpoint speaks WebSocket"
            )
            if problem is not None:
                self.refused += 1
                response = Response.error(400, problem, close=True)
                await send_response(h11_conn, stream, response, request.method)
                return
            accepted, received = accept_websocket(h11_conn, request)
            await stream.send_all(accepted)
        if handshake.cancelled_caught:
            return  # the handshake timed out
        self.connections += 1
        client = EchoConnection(
            project_id=0,
            session_id=0,
            attendee=None,
            peer=_peer_name(stream),
            limits=self.limits,
            metrics=self.metrics,
        )
        client.joined.set()  # (the room's session_state, in the daemon)
        reason = await client.run(PlainIO(stream.socket), received, spawn)
        self.leave_reasons[str(reason)] += 1


def _peer_name(stream: trio.SocketStream) -> str:
    try:
        host, port = stream.socket.getpeername()[:2]
    except OSError:
        return "?"
    return f"{host}:{port}"


async def _main(port: int) -> None:
    server = EchoServer()
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(server.serve, "127.0.0.1", port)
        print(f"listening on ws://127.0.0.1:{bound}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=9001)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(_main, args.port)


if __name__ == "__main__":
    main()
