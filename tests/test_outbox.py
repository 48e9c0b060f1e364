"""What a connection's outbox bounds, and what a Ping flood costs (docs/protocol.md, "Limits").

`send_queue_size` bounds what the peer has not taken (what its socket
refused), not how many frames one burst of room work produced; Pings count
against a bucket of their own and a flood ends with 1008.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from tests.conftest import make_config, make_workshop, running
from tests.loadgen import LoadClient, Presence, vote_message
from tests.raw_ws import OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, RawClient, frame
from tests.test_websocket_protocol import path_for

IN_FLIGHT = 8  # votes each voter sends before waiting (the server's read-ahead)


class Seen:
    """vote_received messages by (recipient, voter), and a wait for a condition on them."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[int, int]] = Counter()
        self._changed = trio.Event()

    def recorder(self, me: int) -> Callable[[dict[str, Any]], None]:
        def record(message: dict[str, Any]) -> None:
            if message["type"] == "vote_received":
                self.counts[me, message["data"]["attendee_id"]] += 1
                changed, self._changed = self._changed, trio.Event()
                changed.set()

        return record

    async def until_acked(self, voter: int, votes: int) -> None:
        """`voter` has seen the acknowledgements of `votes` votes of its own."""
        await self.until(lambda: self.counts[voter, voter] >= votes)

    async def until(self, condition: Callable[[], bool]) -> None:
        with trio.fail_after(10):
            while not condition():
                await self._changed.wait()


async def test_a_prompt_reader_is_never_dropped_however_large_the_burst(tmp_path: Path) -> None:
    db_path = str(tmp_path / "burst.db")
    # 20 features: a session_state of about 60 KB fills a socket that is not read.
    workshop = make_workshop(db_path, features=20, attendees=7)
    config = make_config(
        db_path,
        # Each batch of the room queues dozens of frames on every member: far
        # more than this queue, which bounds only what a socket refused.
        limits={"send_queue_size": 4, "rate_burst": 100_000, "rate_per_second": 100_000.0},
    )
    voters, readers, flooder = (
        workshop.attendees[:3],
        workshop.attendees[3:6],
        workshop.attendees[6],
    )
    presence = Presence()
    seen = Seen()  # (recipient, voter) -> vote_received messages

    async with running(config) as server, trio.open_nursery() as nursery:
        port = server.port
        watcher = f"/projects/{workshop.project_id}/sessions/{workshop.session_id}/ws"
        watcher += f"?facilitator_token={workshop.facilitator_token}"
        await nursery.start(LoadClient(port, watcher, 0, on_message=presence).run)
        voting = [
            await nursery.start(
                LoadClient(port, path_for(workshop, p), p.id, on_message=seen.recorder(p.id)).run
            )
            for p in voters
        ]
        reading = [
            await nursery.start(
                LoadClient(port, path_for(workshop, p), p.id, on_message=seen.recorder(p.id)).run
            )
            for p in readers
        ]
        silent = await RawClient.connect(port, path_for(workshop, flooder))
        await presence.wait_for({p.id for p in workshop.attendees})

        async def flood() -> None:
            # Asks for the whole state over and over and reads none of it.
            request = frame(OP_TEXT, json.dumps({"type": "join_session"}).encode())
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                for _ in range(5000):
                    await silent.send(request)

        async def vote(client: LoadClient, index: int) -> None:
            for round_ in range(5):
                start = (index * 5 + round_) * IN_FLIGHT  # each vote on a pair of its own
                for n, pair in enumerate(workshop.comparisons[start : start + IN_FLIGHT]):
                    await client.send(vote_message(pair.id, pair.a if n % 2 else pair.b))
                await seen.until_acked(client.attendee_id, (round_ + 1) * IN_FLIGHT)

        async with trio.open_nursery() as storm:
            storm.start_soon(flood)
            for index, client in enumerate(voting):
                storm.start_soon(vote, client, index)
        assert await presence.wait_for_reason(flooder.id) == "slow_consumer"
        await silent.aclose()
        # Every vote reaches every prompt reader too (the last ones may be on their way).
        everyone = [p.id for p in [*voters, *readers]]
        await seen.until(
            lambda: all(seen.counts[r, v.id] == 5 * IN_FLIGHT for r in everyone for v in voters)
        )
        for client in [*voting, *reading]:
            assert client.closed_reason is None, client.attendee_id  # nobody prompt was dropped
        nursery.cancel_scope.cancel()


async def test_a_ping_flood_is_closed_with_1008_and_others_go_on(tmp_path: Path) -> None:
    db_path = str(tmp_path / "pings.db")
    workshop = make_workshop(db_path, features=4, attendees=3)
    config = make_config(db_path)  # the default limits: burst 10, 1 a second, 20 strikes
    flooder, voter, watcher_person = workshop.attendees
    presence = Presence()
    async with running(config) as server, trio.open_nursery() as nursery:
        watcher = await nursery.start(
            LoadClient(
                server.port,
                path_for(workshop, watcher_person),
                watcher_person.id,
                on_message=presence,
            ).run
        )
        voting = await nursery.start(
            LoadClient(server.port, path_for(workshop, voter), voter.id).run
        )
        raw = await RawClient.connect(server.port, path_for(workshop, flooder))
        assert json.loads((await raw.read_until(OP_TEXT)).payload)["type"] == "session_state"
        # 3,000 Pings in one write: one read of the server holds hundreds of them.
        await raw.send(frame(OP_PING, b"ping") * 3000)
        pongs = 0
        with trio.fail_after(10):
            while (received := await raw.read_frame()) is not None:
                if received.opcode == OP_PONG:
                    pongs += 1
                elif received.opcode == OP_CLOSE:
                    assert received.close_code == 1008
                    break
            else:
                raise AssertionError("closed without a Close frame")
        assert pongs <= 12  # the burst (10), and what refilled meanwhile
        assert await presence.wait_for_reason(flooder.id) == "rate_abuse"
        pair = workshop.comparisons[0]
        await voting.vote(pair.id, pair.a)  # acknowledged as usual
        assert watcher.closed_reason is None
        await raw.aclose()
        nursery.cancel_scope.cancel()
