"""Churn, long: hundreds of clients joining, voting, dropping abruptly and rejoining for minutes.

    .venv/bin/python -m soak.churn --clients 300 --duration 180 [--round 30] [--json out.json]

The daemon runs in this process (so its trio tasks and live objects can be
counted) with the clients (tests/test_churn.py). The run is cut into rounds;
in each, every client slot connects, votes, drops (TCP reset, TCP close
without a Close frame, a Close handshake or leave_session) and rejoins until
the round's time is up; some stay. After each round: presence is exact, every
acknowledged vote is stored, consensus equals a recomputation from the stored
votes and the daemon's session_state equals the database; then everyone
leaves and the daemon's tasks, file descriptors, memory and live connection
objects are measured. Exits 1 if they grew (tasks, fds, objects) or a check failed.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections import Counter
from pathlib import Path

import attrs
import trio

from soak.common import command_line, report, workdir
from tests import audit
from tests.conftest import running
from tests.loadgen import OPEN_CLIENTS, LoadClient, Presence, Resources
from tests.test_churn import (
    ChurnResult,
    check_after_churn,
    churn,
    churn_config,
    churn_workshop,
    resource_of,
)


def type_counts() -> Counter[str]:
    """Live objects by type (after a collection): where memory growth would show."""
    gc.collect()
    return Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())


def merge(total: ChurnResult, result: ChurnResult) -> None:
    total.connections += result.connections
    total.votes_acked += result.votes_acked
    total.dropped_by_server += result.dropped_by_server
    total.drops.update(result.drops)
    total.acked.update(result.acked)
    total.sent.update(result.sent)


async def run(
    directory: Path, clients: int, duration: float, round_s: float, seed: int, queue: int
) -> dict[str, object]:
    db_path = str(directory / "churn.db")
    workshop = churn_workshop(db_path, clients)
    presence = Presence()
    facilitator = resource_of(workshop, f"facilitator_token={workshop.facilitator_token}")
    total = ChurnResult()
    samples: list[dict[str, object]] = []
    started = time.perf_counter()
    async with (
        running(churn_config(db_path, send_queue_size=queue)) as server,
        trio.open_nursery() as nursery,
    ):
        observer: LoadClient = await nursery.start(
            LoadClient(server.port, facilitator, 0, on_message=presence).run
        )
        warm = await churn(
            server.port, workshop, slots=clients, cycles=1, seed=seed, stay=0.0, nursery=nursery
        )
        merge(total, warm)
        await presence.wait_for(set())
        audit.check_integrity(db_path)
        baseline = await Resources.measure()
        types_before = type_counts()
        samples.append(
            {"round": 0, "at_s": round(time.perf_counter() - started, 1), **attrs.asdict(baseline)}
        )
        number = 0
        while time.perf_counter() - started < duration:
            number += 1
            until = trio.current_time() + round_s
            result = await churn(
                server.port,
                workshop,
                slots=clients,
                until=until,
                seed=seed + number,
                nursery=nursery,
            )
            await check_after_churn(workshop, result, presence, observer, earlier=total)
            merge(total, result)
            for client in result.stayed:
                await client.drop("fin")
            result.stayed.clear()  # (each holds its session_state: not the daemon's memory)
            await presence.wait_for(set())
            sample = await Resources.measure()
            samples.append(
                {
                    "round": number,
                    "at_s": round(time.perf_counter() - started, 1),
                    **attrs.asdict(sample),
                }
            )
            print(
                f"round {number}: {result.connections} connections, "
                f"{result.votes_acked} votes; {sample.tasks} tasks, {sample.fds} fds",
                file=sys.stderr,
            )
        types_after = type_counts()
        await observer.drop("close")
    last = samples[-1]
    grew = {
        "tasks": last["tasks"] != baseline.tasks,
        "fds": last["fds"] != baseline.fds,
        "open_clients": last["objects"][OPEN_CLIENTS] != baseline.objects[OPEN_CLIENTS],  # type: ignore[index]
    }
    for row in samples:
        row.pop("fd_kinds", None)
    return {
        "ok": not any(grew.values()),
        "clients": clients,
        "attendees": len(workshop.attendees),
        "duration_s": round(time.perf_counter() - started, 1),
        "rounds": number,
        "connections": total.connections,
        "votes_acknowledged": total.votes_acked,
        "drops": dict(total.drops),
        "dropped_by_server": total.dropped_by_server,
        "send_queue_size": queue,
        "tasks_before_after": [baseline.tasks, last["tasks"]],
        "fds_before_after": [baseline.fds, last["fds"]],
        "rss_kib_before_after": [baseline.rss_kib, last["rss_kib"]],
        "allocated_blocks_before_after": [baseline.allocated_blocks, last["allocated_blocks"]],
        "grew": grew,
        # What the growth in allocated blocks is made of (the harness's own records
        # of every vote and departure included).
        "object_types_grown": dict((types_after - types_before).most_common(12)),
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=300, help="client slots (2 per attendee)")
    parser.add_argument("--duration", type=float, default=180.0, help="seconds, at least one round")
    parser.add_argument("--round", type=float, default=30.0, help="seconds per round")
    parser.add_argument("--seed", type=int, default=4242)
    parser.add_argument(
        "--send-queue",
        type=int,
        default=4096,
        help="the daemon's send_queue_size (see churn_config)",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    with workdir(args.keep) as directory:
        figures = trio.run(
            run, directory, args.clients, args.duration, args.round, args.seed, args.send_queue
        )
    report("churn", command_line(), figures, args.json)
    sys.exit(0 if figures["ok"] else 1)


if __name__ == "__main__":
    main()
