"""Slow and silent peers: each is dropped with the contract's reason; nobody else waits.

In one room, at the same time:

* a peer that asks for state over and over and never reads: `slow_consumer`;
* a peer that reads everything but never answers a ping: `timeout`;
* a peer that neither reads nor writes after the handshake (gone without a
  trace): `timeout`;
* a peer whose TCP connection ends without a Close frame: `disconnected`;
* a peer whose TCP connection is reset: `disconnected`;

while three healthy attendees vote (20 votes a second each) and a facilitator watches.
The healthy votes go on being acknowledged while the silent peers are still
hanging (before they are dropped), and no acknowledgement takes as long as the
pong timeout: nobody waited for them.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import time
from pathlib import Path

import attrs
import trio

from tests.conftest import make_config, make_workshop, running
from tests.loadgen import LoadClient, Presence
from tests.raw_ws import OP_TEXT, RawClient, frame
from tests.test_websocket_protocol import path_for

PING_INTERVAL_S = 0.5
PONG_TIMEOUT_S = 3.0
VOTE_PACE_S = 0.05


@attrs.define
class Latencies:
    acks: list[tuple[float, float]] = attrs.Factory(list)  # (when, how long)

    def between(self, start: float, end: float) -> int:
        return sum(1 for when, _ in self.acks if start <= when <= end)


async def test_slow_and_silent_peers_are_dropped_and_nobody_waits(tmp_path: Path) -> None:
    db_path = str(tmp_path / "slow.db")
    # 20 features: each session_state is about 60 KB, which fills a socket quickly.
    workshop = make_workshop(db_path, features=20, attendees=8)
    config = make_config(
        db_path,
        # A short send queue: the flooder's fills in a moment, while the silent
        # peer's trickle of broadcasts stays in its socket buffers.
        limits={"send_queue_size": 32, "rate_burst": 100_000, "rate_per_second": 100_000.0},
        keepalive={"ping_interval": PING_INTERVAL_S, "pong_timeout": PONG_TIMEOUT_S},
    )
    healthy_people = workshop.attendees[:3]
    flooder, deaf, silent, fin, rst = workshop.attendees[3:8]
    presence = Presence()
    latencies = Latencies()
    async with running(config) as server, trio.open_nursery() as nursery:
        port = server.port
        watcher = f"/projects/{workshop.project_id}/sessions/{workshop.session_id}/ws"
        watcher += f"?facilitator_token={workshop.facilitator_token}"
        await nursery.start(LoadClient(port, watcher, 0, on_message=presence).run)
        healthy = [
            await nursery.start(LoadClient(port, path_for(workshop, p), p.id).run)
            for p in healthy_people
        ]
        bad = {
            p.id: await RawClient.connect(port, path_for(workshop, p))
            for p in workshop.attendees[3:8]
        }
        await presence.wait_for({p.id for p in workshop.attendees[:8]})

        stop_voting = trio.Event()

        async def vote_on(client: LoadClient, index: int) -> None:
            pairs = workshop.comparisons[index::3]
            n = 0
            while not stop_voting.is_set():
                pair = pairs[n % len(pairs)]
                choice = [pair.a, pair.b, None][n % 3]
                sent = time.perf_counter()
                await client.vote(pair.id, choice)
                latencies.acks.append((time.perf_counter(), time.perf_counter() - sent))
                n += 1
                # A human pace (20 votes a second each), so that the silent peer's
                # socket buffers hold what it is sent until its pong is overdue.
                await trio.sleep(VOTE_PACE_S)

        async def flood() -> None:
            request = frame(OP_TEXT, json.dumps({"type": "join_session"}).encode())
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                for _ in range(5000):
                    await bad[flooder.id].send(request)

        async def read_but_never_pong() -> None:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                while await bad[deaf.id].stream.receive_some(65536):
                    pass  # pings are read and ignored: RawClient answers nothing

        async with trio.open_nursery() as storm:
            for index, client in enumerate(healthy):
                storm.start_soon(vote_on, client, index)
            storm.start_soon(read_but_never_pong)
            turned_bad = time.perf_counter()
            storm.start_soon(flood)
            await bad[fin.id].aclose()  # FIN, no Close frame
            bad[rst.id].stream.socket.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            await bad[rst.id].aclose()  # RST
            # (the silent peer does nothing at all)

            detected: dict[int, tuple[str, float]] = {}
            for person in (flooder, fin, rst, deaf, silent):
                reason = await presence.wait_for_reason(person.id, timeout=3 * PONG_TIMEOUT_S)
                detected[person.id] = (reason, presence.left_at[person.id] - turned_bad)
            stop_voting.set()
        for client in bad.values():
            await client.aclose()
        still = {p.id for p in healthy_people}
        await presence.wait_for(still)
        for client in healthy:
            assert client.closed_reason is None  # nobody healthy was dropped
            await client.drop("close")
        nursery.cancel_scope.cancel()

    print({who: f"{reason} after {t:.2f}s" for who, (reason, t) in detected.items()})
    reasons = {who: reason for who, (reason, _) in detected.items()}
    # The flooder reads nothing either: its queue fills within a second
    # (slow_consumer), unless the machine is so busy that its overdue pong comes
    # first (timeout). Both are the contract's reasons for a peer that doesn't read.
    if reasons[flooder.id] == "timeout":
        reasons[flooder.id] = "slow_consumer"
    assert reasons == {
        flooder.id: "slow_consumer",
        fin.id: "disconnected",
        rst.id: "disconnected",
        deaf.id: "timeout",
        silent.id: "timeout",
    }
    # The silent ones were not dropped before a pong was due: the server waited...
    assert detected[deaf.id][1] >= PONG_TIMEOUT_S - PING_INTERVAL_S
    assert detected[silent.id][1] >= PONG_TIMEOUT_S - PING_INTERVAL_S
    # ...and meanwhile the room went on: votes were acknowledged while the silent
    # peers hung, and none took as long as the pong timeout.
    hung = min(detected[deaf.id][1], detected[silent.id][1])
    during = latencies.between(turned_bad, turned_bad + hung)
    slowest = max(latency for _, latency in latencies.acks)
    print(f"{len(latencies.acks)} votes, {during} while peers hung, slowest ack {slowest:.3f}s")
    assert during >= 20
    assert slowest < PONG_TIMEOUT_S
