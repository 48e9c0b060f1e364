"""Crash safety: kill -9 the real daemon during a voting storm, restart, repeat.

Each iteration starts `pairwise-ws serve` on the same database, lets four
voters pipeline votes (three in flight each) at it, and kills it with SIGKILL
once a random number of votes has been acknowledged, so the kill lands while
votes are being received, committed and answered. Then the database is read
with sqlite3:

* every vote whose `vote_received` reached its voter is in the history, and
  each voter's history is exactly a prefix of what it sent (nothing lost,
  nothing invented, nothing reordered), at least as long as what was acknowledged;
* each current vote is the last of its history, `PRAGMA integrity_check` is ok;
* with quorum `all`, each comparison's stored outcome equals a recomputation
  from the stored votes by the consensus rules;
* after the restart, every voter's `session_state` shows exactly the stored votes.

`make test` runs 3 iterations; `python -m soak.crash --iterations 20` more.
The seed is printed (and PAIRWISE_CRASH_SEED replays one).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import deque
from pathlib import Path
from typing import Any

import attrs
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, wrap_client_stream

from tests import audit
from tests.conftest import Person, Workshop, make_workshop
from tests.daemon import SIGKILL, daemon, serve_args

ITERATIONS = 3
WINDOW = 3  # votes in flight per voter
CONNECT_TIMEOUT_S = 10.0
STORM_TIMEOUT_S = 30.0


def write_config(directory: Path, text: str = "") -> Path:
    """A config file for the child daemon: rate limits out of the way, and the
    per-address limits too (every test client comes from 127.0.0.1)."""
    path = directory / "pairwise.toml"
    path.write_text(
        "[limits]\nrate_burst = 100000\nrate_per_second = 100000.0\n"
        "max_connections_per_address = 100000\nmax_handshakes_per_address = 100000\n" + text,
        encoding="utf-8",
    )
    return path


def crash_workshop(db_path: str) -> Workshop:
    """4 voters, 4 features; voters never touch the last comparison, so it stays open."""
    return make_workshop(db_path, features=4, attendees=4, rule="majority", quorum="all")


Choice = int | None  # a feature id, or None for a tie


@attrs.define
class Ledger:
    """What one voter sent and had acknowledged, across all iterations."""

    person: Person
    sent: list[tuple[int, Choice]] = attrs.Factory(list)
    acked: int = 0
    stored: int = 0  # history rows of this voter after the last iteration


@attrs.frozen
class Iteration:
    number: int
    target_acks: int
    acked: int
    sent: int
    stored: int
    in_flight_committed: int  # committed, but the ack never arrived
    in_flight_lost: int  # sent, not committed: never acknowledged, so allowed
    storm_s: float
    restart_s: float


class Voter:
    def __init__(self, ledger: Ledger, workshop: Workshop, rng: random.Random) -> None:
        self.ledger = ledger
        self.workshop = workshop
        self.rng = rng
        self.pending: deque[tuple[int, Choice]] = deque()
        self.state: dict[str, Any] | None = None

    def _next_vote(self) -> tuple[int, Choice]:
        pair = self.rng.choice(self.workshop.comparisons[:-1])
        return pair.id, self.rng.choice([pair.a, pair.b, None])

    async def run(
        self,
        ws: WebSocketConnection,
        go: trio.Event,
        acked: trio.MemorySendChannel[int],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Read session_state, report ready, vote from `go` on until the daemon dies."""
        first = json.loads(await ws.get_message())
        assert first["type"] == "session_state", first
        self.state = first["data"]
        task_status.started()
        window = trio.Semaphore(WINDOW)
        async with trio.open_nursery() as nursery:

            async def write() -> None:
                await go.wait()
                while True:
                    await window.acquire()
                    comparison_id, choice = self._next_vote()
                    vote: dict[str, Any] = {"comparison_id": comparison_id}
                    if choice is None:
                        vote["is_tie_vote"] = True
                    else:
                        vote["preferred_feature_id"] = choice
                    self.ledger.sent.append((comparison_id, choice))
                    self.pending.append((comparison_id, choice))
                    message = {"type": "vote_submitted", "data": {"vote": vote}}
                    try:
                        await ws.send_message(json.dumps(message))
                    except ConnectionClosed:
                        return  # the daemon was killed; the reader notices too

            async def read() -> None:
                while True:
                    message = json.loads(await ws.get_message())
                    data = message["data"]
                    if message["type"] == "error":
                        raise AssertionError(f"refused: {data}")
                    if (
                        message["type"] == "vote_received"
                        and data["attendee_id"] == self.ledger.person.id
                    ):
                        expected = self.pending.popleft()
                        assert (data["comparison_id"], data["preferred_feature_id"]) == expected
                        self.ledger.acked += 1
                        window.release()
                        await acked.send(1)

            nursery.start_soon(write)
            try:
                await read()
            except ConnectionClosed:
                nursery.cancel_scope.cancel()  # the daemon was killed


async def crash_iteration(
    number: int,
    workshop: Workshop,
    ledgers: list[Ledger],
    config: Path,
    rng: random.Random,
    *,
    max_acks: int = 60,
) -> Iteration:
    target = rng.randint(1, max_acks)
    expected = audit.current_votes(workshop.db_path, workshop.session_id)
    before = [(ledger.acked, len(ledger.sent)) for ledger in ledgers]
    started = time.perf_counter()
    async with daemon(workshop.db_path, "--config", str(config), *serve_args()) as process:
        port = await process.wait_listening()
        restart_s = time.perf_counter() - started
        voters = [Voter(ledger, workshop, random.Random(rng.random())) for ledger in ledgers]
        acked_send, acked_recv = trio.open_memory_channel[int](1000)
        go = trio.Event()
        async with trio.open_nursery() as nursery:
            streams: list[trio.SocketStream] = []
            for voter in voters:
                person = voter.ledger.person
                resource = (
                    f"/projects/{workshop.project_id}/sessions/{workshop.session_id}"
                    f"/ws?attendee_id={person.id}&token={person.token}"
                )
                stream = await trio.open_tcp_stream("127.0.0.1", port)
                streams.append(stream)
                with trio.fail_after(CONNECT_TIMEOUT_S):
                    ws = await wrap_client_stream(nursery, stream, f"127.0.0.1:{port}", resource)
                await nursery.start(voter.run, ws, go, acked_send)
            # After the restart, everyone sees exactly what is stored.
            for voter in voters:
                assert voter.state is not None
                assert state_votes(voter.state) == expected
            storm_started = time.perf_counter()
            go.set()
            with trio.fail_after(STORM_TIMEOUT_S):
                for _ in range(target):
                    await acked_recv.receive()
            process.signal(SIGKILL)  # votes are in flight right now
            assert await process.wait(10) == -SIGKILL
        for stream in streams:
            await trio.aclose_forcefully(stream)
        storm_s = time.perf_counter() - storm_started

    committed = lost = 0
    rows = audit.history(workshop.db_path, workshop.session_id)
    for ledger, (acked_before, sent_before) in zip(ledgers, before, strict=True):
        mine = [(c, f) for c, a, f in rows if a == ledger.person.id]
        new = mine[ledger.stored :]
        sent_now = ledger.sent[sent_before:]
        acked_now = ledger.acked - acked_before
        # A prefix of what was sent, at least as long as what was acknowledged.
        assert new == sent_now[: len(new)], f"voter {ledger.person.id}: history is not a prefix"
        assert acked_now <= len(new) <= len(sent_now), (acked_now, len(new), len(sent_now))
        committed += len(new) - acked_now
        lost += len(sent_now) - len(new)
        ledger.stored = len(mine)
    audit.check_all(workshop.db_path, workshop.session_id)
    return Iteration(
        number=number,
        target_acks=target,
        acked=sum(ledger.acked for ledger in ledgers) - sum(a for a, _ in before),
        sent=sum(len(ledger.sent) for ledger in ledgers) - sum(s for _, s in before),
        stored=len(rows),
        in_flight_committed=committed,
        in_flight_lost=lost,
        storm_s=storm_s,
        restart_s=restart_s,
    )


def state_votes(state: dict[str, Any]) -> dict[tuple[int, int], int | None]:
    return {
        (comparison["id"], vote["attendee_id"]): vote["preferred_feature_id"]
        for comparison in state["comparisons"]
        for vote in comparison["votes"]
    }


async def crash_storm(
    directory: Path, iterations: int, seed: int, *, max_acks: int = 60
) -> list[Iteration]:
    """`iterations` kills of the daemon on one database; checks everything after each."""
    workshop = crash_workshop(str(directory / "crash.db"))
    config = write_config(directory)
    rng = random.Random(seed)
    ledgers = [Ledger(person) for person in workshop.attendees]
    results = []
    for number in range(1, iterations + 1):
        results.append(
            await crash_iteration(number, workshop, ledgers, config, rng, max_acks=max_acks)
        )
    return results


async def test_acknowledged_votes_survive_repeated_kill_9(tmp_path: Path) -> None:
    seed = int(os.environ.get("PAIRWISE_CRASH_SEED", str(random.randrange(2**32))))
    print(f"PAIRWISE_CRASH_SEED={seed}")
    results = await crash_storm(tmp_path, ITERATIONS, seed)
    for result in results:
        print(result)
    assert sum(r.acked for r in results) >= ITERATIONS
