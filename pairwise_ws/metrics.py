"""The daemon's metrics, in the Prometheus text format (`GET /metrics`).

One `Metrics` per server, with its own registry (never prometheus_client's
global one: an embedding program, or a test process, may run many servers).
The server builds it and hands it to the parts that count: the hub (rooms),
the rooms (broadcasts, commits) and the clients (messages in, errors).

Counting sits on the daemon's hot path (a broadcast delivers a frame to every
connection of a room), so every labelled child is created once, up front,
and a broadcast adds its deliveries with one `inc(n)`: about a microsecond.
The open connections, rooms and addresses are read when scraped
(`Gauge.set_function`), so they cost nothing in between.

Gauges (read when scraped):

- `pairwise_ws_tcp_connections`: open TCP connections (HTTP and WebSocket).
- `pairwise_ws_tcp_handshakes`: of those, the ones still sending their first
  request head or finishing their WebSocket handshake.
- `pairwise_ws_peer_addresses`: distinct peer addresses with an open connection.
- `pairwise_ws_websocket_connections`: open WebSocket connections.
- `pairwise_ws_rooms`: sessions with a live room (at least one connection).

Counters:

- `pairwise_ws_tcp_connections_refused_total{reason}`: connections answered
  at once and closed: `max_connections` (503), `max_connections_per_address`,
  `max_handshakes_per_address` and `max_connections_per_attendee` (429).
- `pairwise_ws_handshake_timeouts_total`: connections closed because their
  request head or WebSocket handshake took longer than `handshake_timeout`.
- `pairwise_ws_http_responses_total{status}`: HTTP answers by status code;
  an accepted WebSocket counts as `101`.
- `pairwise_ws_websocket_closes_total{reason}`: WebSocket connections ended,
  by the `attendee_left` reason: `left`, `disconnected`, `timeout`,
  `slow_consumer`, `rate_abuse`, `session_closed`, `server_shutdown`.
- `pairwise_ws_messages_received_total{type}`: client frames, by type:
  `join_session`, `leave_session`, `vote_submitted`, `facilitator_action`;
  not processed: `invalid` (not JSON, wrong shape, unknown type, binary),
  `rate_limited` (refused unread by the rate limit), `too_big` (over
  `max_message_bytes`; the connection is closed).
- `pairwise_ws_messages_sent_total{type}`: server frames queued for a
  connection, one per recipient (`session_state`, `vote_received`, ...).
- `pairwise_ws_errors_total{code}`: `error` messages sent, by code.
- `pairwise_ws_votes_committed_total`: votes durably stored.
- `pairwise_ws_internal_errors_total{component}`: bugs contained and logged:
  `connection`, `room`, `storage` (a transaction that failed), `refresh` (a room's
  read of outside changes that failed; it is tried again).

Histogram:

- `pairwise_ws_commit_seconds`: one database transaction of a room (a group
  commit of votes, a facilitator's action, a departure that decided a pair).

Counters also have prometheus_client's `_created` series.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import attrs
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from pairwise_ws import wire
from pairwise_ws.domain.models import ErrorCode
from pairwise_ws.wire import (
    FacilitatorAction,
    JoinSession,
    LeaveReason,
    LeaveSession,
    MessageType,
    VoteSubmitted,
)

CONTENT_TYPE = CONTENT_TYPE_LATEST
PREFIX = "pairwise_ws"

# The wire names of the client's messages (docs/protocol.md).
RECEIVED_TYPES: Mapping[type, str] = {
    JoinSession: "join_session",
    LeaveSession: "leave_session",
    VoteSubmitted: "vote_submitted",
    FacilitatorAction: "facilitator_action",
}
RECEIVED_INVALID = "invalid"
RECEIVED_RATE_LIMITED = "rate_limited"
RECEIVED_TOO_BIG = "too_big"
REFUSED_REASONS = (
    "max_connections",
    "max_connections_per_address",
    "max_handshakes_per_address",
    "max_connections_per_attendee",
)
COMPONENTS = ("connection", "room", "storage", "refresh")
# A commit is a few milliseconds with synchronous = full on an SSD.
COMMIT_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@attrs.define(eq=False, init=False)
class Metrics:
    """Every metric of one server, and the registry `/metrics` shows."""

    registry: CollectorRegistry
    received: dict[type, Counter]  # by the decoded message's class
    received_invalid: Counter
    received_rate_limited: Counter
    received_too_big: Counter
    sent: dict[type, Counter]  # by the class of the server message's data
    sent_error: Counter
    errors: dict[ErrorCode, Counter]
    websocket_closes: dict[LeaveReason, Counter]
    refused: dict[str, Counter]
    handshake_timeouts: Counter
    votes_committed: Counter
    commit_seconds: Histogram
    internal_errors: dict[str, Counter]
    _http_responses: Counter
    _http_by_status: dict[int, Counter]
    _tcp_connections: Gauge
    _tcp_handshakes: Gauge
    _peer_addresses: Gauge
    _websockets: Gauge
    _rooms: Gauge

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(f"{PREFIX}_{name}", doc, labels, registry=registry)

        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(f"{PREFIX}_{name}", doc, registry=registry)

        self._tcp_connections = gauge("tcp_connections", "Open TCP connections.")
        self._tcp_handshakes = gauge(
            "tcp_handshakes",
            "Open TCP connections still sending their first request head or WebSocket handshake.",
        )
        self._peer_addresses = gauge(
            "peer_addresses", "Distinct peer addresses with an open TCP connection."
        )
        self._websockets = gauge("websocket_connections", "Open WebSocket connections.")
        self._rooms = gauge("rooms", "Sessions with a live room.")

        refused = counter(
            "tcp_connections_refused",
            "TCP connections refused at once (503 or 429), by the limit they hit.",
            ("reason",),
        )
        self.refused = {reason: refused.labels(reason) for reason in REFUSED_REASONS}
        self.handshake_timeouts = counter(
            "handshake_timeouts",
            "Connections closed because the request head or handshake took too long.",
        )
        self._http_responses = counter(
            "http_responses", "HTTP responses by status (101: an accepted WebSocket).", ("status",)
        )
        self._http_by_status = {}

        closes = counter("websocket_closes", "WebSocket connections ended, by reason.", ("reason",))
        self.websocket_closes = {reason: closes.labels(reason.value) for reason in LeaveReason}

        received = counter(
            "messages_received",
            "Client frames by message type (invalid, rate_limited, too_big: not processed).",
            ("type",),
        )
        self.received = {cls: received.labels(name) for cls, name in RECEIVED_TYPES.items()}
        self.received_invalid = received.labels(RECEIVED_INVALID)
        self.received_rate_limited = received.labels(RECEIVED_RATE_LIMITED)
        self.received_too_big = received.labels(RECEIVED_TOO_BIG)

        sent = counter(
            "messages_sent",
            "Server frames queued for a connection, by message type (one per recipient).",
            ("type",),
        )
        by_type = {message_type: sent.labels(message_type.value) for message_type in MessageType}
        self.sent = {cls: by_type[message_type] for cls, message_type in _server_types().items()}
        self.sent_error = by_type[MessageType.ERROR]

        errors = counter("errors", "error messages sent to clients, by code.", ("code",))
        self.errors = {code: errors.labels(code.value) for code in ErrorCode}

        self.votes_committed = counter("votes_committed", "Votes durably stored.")
        self.commit_seconds = Histogram(
            f"{PREFIX}_commit_seconds",
            "Duration of one database transaction of a room.",
            buckets=COMMIT_BUCKETS_S,
            registry=registry,
        )
        internal = counter(
            "internal_errors", "Bugs contained and logged, by component.", ("component",)
        )
        self.internal_errors = {name: internal.labels(name) for name in COMPONENTS}

    def watch(
        self,
        *,
        tcp_connections: Callable[[], float],
        tcp_handshakes: Callable[[], float],
        peer_addresses: Callable[[], float],
        websockets: Callable[[], float],
        rooms: Callable[[], float],
    ) -> None:
        """Where the gauges read their values when scraped."""
        self._tcp_connections.set_function(tcp_connections)
        self._tcp_handshakes.set_function(tcp_handshakes)
        self._peer_addresses.set_function(peer_addresses)
        self._websockets.set_function(websockets)
        self._rooms.set_function(rooms)

    def count_response(self, status: int) -> None:
        child = self._http_by_status.get(status)
        if child is None:
            child = self._http_by_status[status] = self._http_responses.labels(str(status))
        child.inc()

    def count_received(self, message: object) -> None:
        """A decoded client message (an unknown class counts as invalid)."""
        self.received.get(type(message), self.received_invalid).inc()

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format (`CONTENT_TYPE`)."""
        return generate_latest(self.registry)


def _server_types() -> Mapping[type, MessageType]:
    """The class of each server message's data, and its `type`."""
    # The one table of them; protocol has no public accessor (yet).
    return wire.MESSAGE_TYPES
