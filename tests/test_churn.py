"""Churn: many clients joining, voting, dropping abruptly and rejoining.

Each slot is one browser tab of an attendee (two tabs per attendee, so
presence must count attendees, not connections). A slot connects, votes a few
times (each vote waits for its acknowledgement), then ends its connection in
one of four ways (TCP reset, TCP close without a Close frame, a Close
handshake, leave_session) and connects again. At the end some slots stay.

Then:
* presence is exact: the room's online set (from its announcements and from a
  fresh session_state) is the set of attendees with a tab still open;
* every acknowledged vote is stored, and nothing that wasn't sent;
* the stored consensus state is what the consensus rules make of the stored
  votes, and the daemon's own view (session_state) equals the database;
* once everyone is gone, the daemon's tasks and file descriptors are back
  where they started, no connection object is left alive, and memory growth
  is reported.

`make test` runs a short version in-process; `python -m soak.churn` runs
hundreds of clients for minutes (clients in another process).
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
import trio

from pairwise_ws.config import Config
from tests import audit
from tests.conftest import Workshop, make_config, make_workshop, running
from tests.loadgen import (
    DROP_MODES,
    FINISHED_CLIENTS,
    OPEN_CLIENTS,
    OPEN_WEBSOCKETS,
    Gone,
    LoadClient,
    Presence,
    Resources,
)

SLOTS = 40  # tabs; two per attendee
CYCLES = 2  # connections per tab, one after the other
SEED = int(os.environ.get("PAIRWISE_CHURN_SEED", "4242"))
CONNECTING_AT_ONCE = 16  # handshakes in flight at once


def churn_workshop(db_path: str, slots: int) -> Workshop:
    """slots/2 attendees, 6 features; nobody votes on the last comparison (never completes)."""
    return make_workshop(db_path, features=6, attendees=max(1, slots // 2), rule="majority")


def churn_config(db_path: str, *, send_queue_size: int = 256) -> Config:
    """One address plays every client: the per-address limits out of the way. (The
    long run's clients share a process, and so a CPU, with the daemon: it gives them a
    longer send queue, so that their lag is not taken for slow consumption.)"""
    return make_config(
        db_path,
        limits={
            "rate_burst": 100_000,
            "rate_per_second": 100_000.0,
            "max_connections_per_address": 100_000,
            "max_handshakes_per_address": 100_000,
            "send_queue_size": send_queue_size,
        },
        database={"poll_interval": 0.25},
        logging={"level": "warning"},
    )


def resource_of(workshop: Workshop, query: str) -> str:
    return f"/projects/{workshop.project_id}/sessions/{workshop.session_id}/ws?{query}"


@attrs.define
class ChurnResult:
    connections: int = 0
    votes_acked: int = 0
    dropped_by_server: int = 0
    drops: Counter[str] = attrs.Factory(Counter)
    stayed: list[LoadClient] = attrs.Factory(list)
    acked: Counter[tuple[int, int, int | None]] = attrs.Factory(Counter)
    sent: Counter[tuple[int, int, int | None]] = attrs.Factory(Counter)

    @property
    def online(self) -> set[int]:
        return {client.attendee_id for client in self.stayed}


async def churn(
    port: int,
    workshop: Workshop,
    *,
    slots: int,
    cycles: int | None = None,
    until: float | None = None,
    seed: int,
    stay: float = 0.3,
    nursery: trio.Nursery,
) -> ChurnResult:
    """Run the slots for `cycles` connections each (or until `until`, trio time).

    Clients that stay at the end keep running in `nursery` (and keep reading).
    """
    result = ChurnResult()
    rng = random.Random(seed)
    connecting = trio.CapacityLimiter(CONNECTING_AT_ONCE)
    votable = workshop.comparisons[:-1]

    async def slot(index: int, rng: random.Random) -> None:
        person = workshop.attendees[index % len(workshop.attendees)]
        tab = index // len(workshop.attendees)  # tabs vote on their own comparisons
        mine = [c for i, c in enumerate(votable) if i % 2 == tab % 2] or list(votable)
        query = f"attendee_id={person.id}&token={person.token}"
        cycle = 0
        while True:
            cycle += 1
            last = cycle == cycles if until is None else trio.current_time() >= until
            async with connecting:  # people arrive a few at a time, not all at once
                client: LoadClient = await nursery.start(
                    LoadClient(port, resource_of(workshop, query), person.id).run
                )
            result.connections += 1
            try:
                for _ in range(rng.randint(0, 3)):
                    pair = rng.choice(mine)
                    choice = rng.choice([pair.a, pair.b, None])
                    result.sent[(pair.id, person.id, choice)] += 1
                    await client.vote(pair.id, choice)
                    result.acked[(pair.id, person.id, choice)] += 1
                    result.votes_acked += 1
            except Gone:
                # Dropped by the daemon (in the long run: a slow consumer when the
                # machine is saturated). Counted; the tab connects again.
                result.dropped_by_server += 1
                if last:
                    return
                continue
            if last and rng.random() < stay:
                result.stayed.append(client)
                return
            mode = rng.choice(DROP_MODES)
            result.drops[mode] += 1
            await client.drop(mode)
            if last:
                return

    async with trio.open_nursery() as slots_nursery:
        for index in range(slots):
            slots_nursery.start_soon(slot, index, random.Random(rng.random()))
    return result


def state_view(state: dict[str, Any]) -> dict[int, tuple[Any, ...]]:
    return {
        c["id"]: (
            c["status"],
            c["winner_id"],
            c["is_tie"],
            {v["attendee_id"]: v["preferred_feature_id"] for v in c["votes"]},
        )
        for c in state["comparisons"]
    }


def database_view(db_path: str, session_id: int) -> dict[int, tuple[Any, ...]]:
    votes = audit.current_votes(db_path, session_id)
    with audit.connect(db_path) as db:
        rows = db.execute(
            "SELECT id, status, winner_id, is_tie FROM comparisons WHERE session_id = ?",
            (session_id,),
        ).fetchall()
    return {
        cid: (
            status,
            winner,
            bool(tie),
            {a: f for (c, a), f in votes.items() if c == cid},
        )
        for cid, status, winner, tie in rows
    }


async def check_after_churn(
    workshop: Workshop,
    result: ChurnResult,
    presence: Presence,
    observer: LoadClient,
    *,
    earlier: ChurnResult | None = None,
) -> None:
    """Presence exact, acknowledged votes stored, consensus and the daemon's view consistent.

    `earlier`: a previous round on the same session (its votes are in the history too).
    """
    expected = result.online
    await presence.wait_for(expected)
    assert presence.online_count == len(expected)
    state = await fresh_state(observer)
    online = {a["attendee_id"] for a in state["attendees"] if a["online"]}
    assert online == expected
    history = Counter(audit.history(workshop.db_path, workshop.session_id))
    # Every acknowledged vote is stored; nothing is stored that wasn't sent.
    acked, sent = Counter(result.acked), Counter(result.sent)
    if earlier is not None:
        acked.update(earlier.acked)
        sent.update(earlier.sent)
    assert not acked - history
    assert not history - sent
    audit.check_all(workshop.db_path, workshop.session_id, online=expected)
    assert state_view(state) == database_view(workshop.db_path, workshop.session_id)


async def fresh_state(client: LoadClient) -> dict[str, Any]:
    """Ask for session_state (join_session) and return the answer."""
    got: list[dict[str, Any]] = []
    arrived = trio.Event()
    previous = client.on_message

    def catch(message: dict[str, Any]) -> None:
        if previous is not None:
            previous(message)
        if message["type"] == "session_state" and not got:
            got.append(message["data"])
            arrived.set()

    client.on_message = catch
    try:
        await client.send('{"type": "join_session"}')
        with trio.fail_after(10):
            await arrived.wait()
    finally:
        client.on_message = previous
    return got[0]


async def test_churn_keeps_presence_votes_and_resources_exact(tmp_path: Path) -> None:
    db_path = str(tmp_path / "churn.db")
    workshop = churn_workshop(db_path, SLOTS)
    presence = Presence()
    facilitator = resource_of(workshop, f"facilitator_token={workshop.facilitator_token}")
    async with running(churn_config(db_path)) as server, trio.open_nursery() as nursery:
        observer: LoadClient = await nursery.start(
            LoadClient(server.port, facilitator, 0, on_message=presence).run
        )
        # A warm-up round (first-use allocations, caches), then the baseline.
        warm = await churn(
            server.port, workshop, slots=SLOTS, cycles=1, seed=SEED, stay=0.0, nursery=nursery
        )
        await presence.wait_for(set())
        # (Reading the database here too: SQLite keeps a closed connection's file
        # descriptor open while other connections of the process hold locks, and
        # reuses it for the next one; so both measurements include it.)
        audit.check_integrity(db_path)
        before = await Resources.measure()

        started = time.perf_counter()
        result = await churn(
            server.port, workshop, slots=SLOTS, cycles=CYCLES, seed=SEED + 1, nursery=nursery
        )
        elapsed = time.perf_counter() - started
        await check_after_churn(workshop, result, presence, observer, earlier=warm)

        for client in result.stayed:
            await client.drop("fin")
        await presence.wait_for(set())
        after = await Resources.measure()
        await observer.drop("close")

    print(
        f"churn: {result.connections} connections, {result.votes_acked} votes in {elapsed:.1f}s;"
        f" drops {dict(result.drops)}; tasks {before.tasks} -> {after.tasks}, fds {before.fds}"
        f" -> {after.fds}, blocks {before.allocated_blocks} -> {after.allocated_blocks},"
        f" objects {before.objects} -> {after.objects}"
    )
    assert set(result.drops) == set(DROP_MODES)
    assert result.dropped_by_server == warm.dropped_by_server == 0
    assert after.tasks == before.tasks
    assert after.fds == before.fds, (before.fd_kinds, after.fd_kinds)
    for counts in (before.objects, after.objects):
        assert counts[OPEN_CLIENTS] == 1  # the observer
        assert counts["pairwise_ws.live.room.Room"] == 1
        assert counts[OPEN_WEBSOCKETS] == 1
        # Ended connections kept alive by the hub's and the room's last events only.
        assert counts.get(FINISHED_CLIENTS, 0) <= SLOTS
    assert after.rss_kib - before.rss_kib < 64 * 1024
