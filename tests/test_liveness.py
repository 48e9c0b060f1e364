"""Limits and liveness: rate limits, keepalive, slow consumers.

Each test starts the daemon with small limits so that it is fast and
deterministic; every wait is for an event, bounded by the helpers' timeouts.
"""

from __future__ import annotations

import json

import trio

from pairwise_ws.net.server import Server
from tests.conftest import Workshop, make_config, make_workshop, serving
from tests.raw_ws import OP_PING, OP_PONG, OP_TEXT, RawClient, frame
from tests.test_websocket_protocol import path_for, raw_join


async def test_messages_past_the_bucket_get_rate_limited(db_path: str, workshop: Workshop) -> None:
    config = make_config(db_path, limits={"rate_burst": 3, "rate_per_second": 0.001})
    async with serving(config, workshop) as clients:
        peer, _ = await clients.join(workshop.attendees[0])
        for _ in range(4):
            await peer.send("join_session")
        # The refusal is answered at once by the connection's reader, so it may
        # overtake the answers the room gives to the first three.
        assert (await peer.receive())["type"] == "attendee_joined"  # the peer itself
        answers = [await peer.receive() for _ in range(4)]
        assert sorted(a["type"] for a in answers) == ["error", *["session_state"] * 3]
        error = next(a for a in answers if a["type"] == "error")
        assert error["data"]["code"] == "rate_limited"
        assert not peer.ws.closed  # limited, not closed


async def test_a_client_that_keeps_flooding_is_closed_with_1008(
    db_path: str, workshop: Workshop
) -> None:
    config = make_config(
        db_path, limits={"rate_burst": 3, "rate_per_second": 0.001, "rate_abuse_strikes": 5}
    )
    async with serving(config, workshop) as clients:
        observer, _ = await clients.join(workshop.attendees[1])
        flooder, _ = await clients.join(workshop.attendees[0])
        for _ in range(3 + 6):
            await flooder.send("join_session")
        reason = await flooder.closed()
        assert reason.code == 1008
        assert reason.reason == "rate_abuse"
        left = await observer.next_of("attendee_left")
        assert left["data"]["reason"] == "rate_abuse"
        assert left["data"]["attendee_id"] == workshop.attendees[0].id


async def test_a_peer_that_never_answers_pings_is_dropped_as_timeout(
    db_path: str, workshop: Workshop
) -> None:
    config = make_config(db_path, keepalive={"ping_interval": 0.1, "pong_timeout": 0.2})
    async with serving(config, workshop) as clients:
        # The library client answers pings by itself: it must survive.
        healthy, _ = await clients.join(workshop.attendees[1])
        silent = await raw_join(clients.server, workshop, workshop.attendees[0])
        try:
            left = await healthy.next_of("attendee_left")
            assert left["data"]["reason"] == "timeout"
            assert left["data"]["attendee_id"] == workshop.attendees[0].id
            assert await silent.closed_by_server()
        finally:
            await silent.aclose()
        # Several ping intervals later the healthy client is still served.
        await healthy.send("join_session")
        await healthy.next_of("session_state")


async def test_a_slow_consumer_is_dropped_without_holding_up_the_room(db_path: str) -> None:
    # 20 features: each session_state is about 60 KB, so a few hundred of them
    # fill any socket buffer quickly.
    workshop = make_workshop(db_path, features=20, attendees=3)
    config = make_config(
        db_path, limits={"send_queue_size": 8, "rate_burst": 100_000, "rate_per_second": 1000.0}
    )
    async with serving(config, workshop) as clients:
        observer, _ = await clients.join(workshop.attendees[1])
        voter, _ = await clients.join(workshop.attendees[2])
        slow = await RawClient.connect(
            clients.server.port, path_for(workshop, workshop.attendees[0])
        )
        try:
            request = json.dumps({"type": "join_session"}).encode()

            async def flood() -> None:
                # Ask for state over and over and never read the answers.
                try:
                    for _ in range(2000):
                        await slow.send(frame(OP_TEXT, request))
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass

            async with trio.open_nursery() as flooding:
                flooding.start_soon(flood)
                # Meanwhile the room goes on: votes are acknowledged to everyone else.
                pair = workshop.comparisons[0]
                await voter.vote(pair.id, pair.a)
                assert (await observer.next_of("vote_received"))["data"]["comparison_id"] == pair.id
                left = await observer.next_of("attendee_left")
                assert left["data"]["reason"] == "slow_consumer"
                assert left["data"]["attendee_id"] == workshop.attendees[0].id
                await voter.vote(pair.id, pair.b)
                received = await observer.next_of("vote_received")
                assert received["data"]["preferred_feature_id"] == pair.b
                flooding.cancel_scope.cancel()
        finally:
            await slow.aclose()


async def test_server_answers_client_pings(server: Server, workshop: Workshop) -> None:
    client = await RawClient.connect(server.port, path_for(workshop, workshop.attendees[0]))
    try:
        await client.send(frame(OP_PING, b"hello"))
        pong = await client.read_until(OP_PONG)
        assert pong.payload == b"hello"
    finally:
        await client.aclose()
