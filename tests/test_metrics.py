"""`GET /metrics`: the Prometheus text format, counted where things happen.

The end-to-end tests scrape the real daemon over HTTP, parse the answer with
prometheus_client's own parser and compare it with what real clients saw.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
import trio
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from pairwise_ws.metrics import Metrics
from pairwise_ws.net.server import Server
from pairwise_ws.wire import LeaveReason, MessageType
from tests.conftest import Clients, Peer, Workshop, make_config, running, serving
from tests.http_client import request


class Scrape:
    """One scrape of /metrics, parsed: sample name and labels -> value."""

    def __init__(self, text: str) -> None:
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        self.types: dict[str, str] = {}
        for family in text_string_to_metric_families(text):
            self.types[family.name] = family.type
            for sample in family.samples:
                key = (sample.name, frozenset(sample.labels.items()))
                self.samples[key] = sample.value

    def __call__(self, name: str, **labels: str) -> float:
        return self.samples[(name, frozenset(labels.items()))]

    def by_label(self, name: str, label: str) -> dict[str, float]:
        return {
            dict(labels)[label]: value
            for (sample, labels), value in self.samples.items()
            if sample == name
        }


async def scrape(server: Server) -> Scrape:
    reply = await request(server.port, "/metrics")
    assert reply.status == 200
    return Scrape(reply.body.decode())


async def tally_until(peer: Peer, last: str, tally: Counter[str]) -> dict[str, Any]:
    """Read and count every message up to and including the next `last`."""
    while True:
        message = await peer.receive()
        tally[message["type"]] += 1
        if message["type"] == last:
            return message


# --- the endpoint ----------------------------------------------------------------------------


async def test_metrics_is_prometheus_text_without_a_token(server: Server) -> None:
    reply = await request(server.port, "/metrics")
    assert reply.status == 200
    assert reply.headers["content-type"] == CONTENT_TYPE_LATEST
    metrics = Scrape(reply.body.decode())
    assert metrics.types["pairwise_ws_tcp_connections"] == "gauge"
    assert metrics.types["pairwise_ws_messages_sent"] == "counter"
    assert metrics.types["pairwise_ws_commit_seconds"] == "histogram"
    assert metrics("pairwise_ws_tcp_connections") == 1  # the scrape's own connection
    assert metrics("pairwise_ws_websocket_connections") == 0
    assert metrics("pairwise_ws_rooms") == 0
    # Every label is there from the start, at 0.
    assert set(metrics.by_label("pairwise_ws_websocket_closes_total", "reason")) == {
        r.value for r in LeaveReason
    }
    assert set(metrics.by_label("pairwise_ws_messages_sent_total", "type")) == {
        t.value for t in MessageType
    }
    assert set(metrics.by_label("pairwise_ws_messages_received_total", "type")) == {
        "join_session",
        "leave_session",
        "vote_submitted",
        "facilitator_action",
        "invalid",
        "rate_limited",
        "too_big",
    }


async def test_head_metrics_has_no_body_and_other_methods_get_405(server: Server) -> None:
    head = await request(server.port, "/metrics", method="HEAD")
    assert head.status == 200
    assert head.body == b""
    post = await request(server.port, "/metrics", json_body={})
    assert post.status == 405
    assert post.headers["allow"] == "GET, HEAD"


async def test_http_responses_are_counted_by_status(server: Server) -> None:
    assert (await request(server.port, "/healthz")).status == 200
    assert (await request(server.port, "/nope")).status == 404
    assert (await request(server.port, "/nope")).status == 404
    metrics = await scrape(server)
    statuses = metrics.by_label("pairwise_ws_http_responses_total", "status")
    assert statuses["404"] == 2
    assert statuses["200"] == 1  # /healthz (this scrape is counted after it is answered)


def test_every_server_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()  # the global registry would refuse the second
    first.votes_committed.inc(3)
    assert b"pairwise_ws_votes_committed_total 3.0" in first.exposition()
    assert b"pairwise_ws_votes_committed_total 0.0" in second.exposition()


# --- a workshop, counted ---------------------------------------------------------------------


@pytest.mark.workshop(attendees=2)
async def test_a_workshop_is_counted_frame_by_frame(
    clients: Clients, server: Server, workshop: Workshop
) -> None:
    ada, bob = workshop.attendees
    received: Counter[str] = Counter()
    facilitator, _ = await clients.facilitator()
    received["session_state"] += 1
    a, _ = await clients.join(ada)
    received["session_state"] += 1
    b, _ = await clients.join(bob)
    received["session_state"] += 1
    pair = workshop.comparisons[0]
    await a.vote(pair.id, pair.a)
    await b.vote(pair.id, pair.a)
    for peer in (facilitator, a, b):  # the votes' broadcasts end with comparison_update
        await tally_until(peer, "comparison_update", received)
    await a.send("vote_submitted", {"vote": {"comparison_id": 999_999, "is_tie_vote": True}})
    await tally_until(a, "error", received)
    await a.ws.send_message("not json")
    await tally_until(a, "error", received)
    await b.send("no_such_type")
    await tally_until(b, "error", received)
    await facilitator.send("join_session")
    await tally_until(facilitator, "session_state", received)

    metrics = await scrape(server)
    # Every frame the clients got is counted once, by type, and nothing else.
    sent = metrics.by_label("pairwise_ws_messages_sent_total", "type")
    assert {t: n for t, n in sent.items() if n} == dict(received)
    assert received["vote_received"] == 6  # two votes, three connections
    assert received["attendee_joined"] == 2 + 3  # Ada's to two connections, Bob's to three
    assert metrics.by_label("pairwise_ws_messages_received_total", "type") == {
        "join_session": 1,
        "leave_session": 0,
        "vote_submitted": 3,
        "facilitator_action": 0,
        "invalid": 2,
        "rate_limited": 0,
        "too_big": 0,
    }
    errors = metrics.by_label("pairwise_ws_errors_total", "code")
    assert {c: n for c, n in errors.items() if n} == {
        "invalid_vote": 1,
        "invalid_message": 1,
        "unknown_type": 1,
    }
    assert metrics("pairwise_ws_votes_committed_total") == 2
    assert metrics("pairwise_ws_commit_seconds_count") >= 1
    assert metrics("pairwise_ws_commit_seconds_sum") > 0
    assert metrics("pairwise_ws_websocket_connections") == 3
    assert metrics("pairwise_ws_tcp_connections") == 4  # and the scrape
    assert metrics("pairwise_ws_peer_addresses") == 1
    assert metrics("pairwise_ws_tcp_handshakes") == 0  # the scrape's head is read
    assert metrics("pairwise_ws_rooms") == 1
    assert metrics("pairwise_ws_http_responses_total", status="101") == 3

    # Leaving: counted by reason once the server has let go of the connection.
    await a.send("leave_session")
    assert (await a.closed()).code == 1000
    await b.next_of("attendee_left")
    metrics = await scrape(server)
    assert metrics("pairwise_ws_websocket_closes_total", reason="left") == 1
    assert metrics("pairwise_ws_messages_received_total", type="leave_session") == 1
    assert metrics("pairwise_ws_websocket_connections") == 2


async def test_rate_limited_and_oversized_messages_are_counted(
    db_path: str, workshop: Workshop
) -> None:
    config = make_config(
        db_path,
        limits={
            "rate_burst": 2,
            "rate_per_second": 0.001,
            "rate_abuse_strikes": 3,
            "max_message_bytes": 256,
        },
    )
    async with serving(config, workshop) as clients:
        flooder, _ = await clients.join(workshop.attendees[0])
        for _ in range(2 + 4):  # the burst, three refused, and the fourth refusal closes it
            await flooder.send("join_session")
        assert (await flooder.closed()).code == 1008
        big, _ = await clients.join(workshop.attendees[1])
        await big.ws.send_message(json.dumps({"type": "join_session", "pad": "x" * 300}))
        assert (await big.closed()).code == 1009
        # Fewer characters than the limit, but more bytes: our own check closes it.
        wide, _ = await clients.join(workshop.attendees[2])
        await wide.ws.send_message(
            json.dumps({"type": "join_session", "pad": "€" * 100}, ensure_ascii=False)
        )
        assert (await wide.closed()).code == 1009
        with trio.fail_after(5):
            await clients.server.hub.wait_for_room_count(0)  # both connections are over
        metrics = await scrape(clients.server)
    received = metrics.by_label("pairwise_ws_messages_received_total", "type")
    assert received["join_session"] == 2
    assert received["rate_limited"] == 4
    assert received["too_big"] == 2
    assert metrics("pairwise_ws_errors_total", code="rate_limited") == 3
    closes = metrics.by_label("pairwise_ws_websocket_closes_total", "reason")
    assert closes["rate_abuse"] == 1
    assert closes["disconnected"] == 2  # 1009 is the client's doing
    assert metrics("pairwise_ws_websocket_connections") == 0


async def test_two_servers_in_one_process_count_apart(db_path: str, workshop: Workshop) -> None:
    async with running(make_config(db_path)) as first, running(make_config(db_path)) as second:
        assert (await request(first.port, "/nope")).status == 404
        assert (await scrape(first))("pairwise_ws_http_responses_total", status="404") == 1
        second_statuses = (await scrape(second)).by_label(
            "pairwise_ws_http_responses_total", "status"
        )
        assert "404" not in second_statuses


@pytest.mark.parametrize(
    ("metrics", "headers", "status"),
    [
        ({"allowed": ["127.0.0.0/8"]}, {}, 200),
        ({"allowed": ["10.0.0.0/8"]}, {}, 403),
        ({"token": "s3cret-for-prometheus"}, {}, 403),
        ({"token": "s3cret-for-prometheus"}, {"authorization": "Bearer wrong"}, 403),
        (
            {"token": "s3cret-for-prometheus"},
            {"authorization": "Bearer s3cret-for-prometheus"},
            200,
        ),
        ({"allowed": ["10.0.0.0/8"], "token": "t"}, {"authorization": "Bearer t"}, 200),
    ],
)
async def test_metrics_can_be_restricted_to_addresses_or_a_token(
    db_path: str, workshop: Workshop, metrics: dict[str, Any], headers: dict[str, str], status: int
) -> None:
    async with running(make_config(db_path, metrics=metrics)) as server:
        reply = await request(server.port, "/metrics", headers=headers)
        health = await request(server.port, "/healthz")

    assert reply.status == status
    if status == 403:
        assert reply.json() == {"error": "metrics are restricted ([metrics] in the config)"}
    else:
        assert b"pairwise_ws_" in reply.body
    assert health.status == 200  # never restricted
