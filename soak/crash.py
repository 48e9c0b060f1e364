"""Crash safety, long: kill -9 the real daemon during a voting storm, >= 20 times.

    .venv/bin/python -m soak.crash --iterations 20 [--seed N] [--max-acks 300] [--json out.json]

Each iteration restarts `pairwise-ws serve` on the same database, lets four
voters pipeline votes at it and kills it with SIGKILL after a random number of
acknowledgements (seeded). After each kill the database is checked with
sqlite3 (tests/test_crash.py, tests/audit.py): every acknowledged vote is
stored, each voter's history is exactly a prefix of what it sent, each current
vote is the last of its history, `PRAGMA integrity_check` is ok and every
comparison's outcome equals a recomputation from the stored votes. Exits 1 if
any iteration failed (the exception says which check).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import attrs
import trio

from soak.common import command_line, report, workdir
from tests.test_crash import crash_storm


async def run(directory: Path, iterations: int, seed: int, max_acks: int) -> dict[str, object]:
    started = time.perf_counter()
    results = await crash_storm(directory, iterations, seed, max_acks=max_acks)
    return {
        "ok": True,
        "seed": seed,
        "iterations": len(results),
        "kills": len(results),
        "votes_acknowledged": sum(r.acked for r in results),
        "votes_sent": sum(r.sent for r in results),
        "votes_stored_at_the_end": results[-1].stored if results else 0,
        "committed_but_unacknowledged_at_kill": sum(r.in_flight_committed for r in results),
        "sent_but_not_committed_at_kill": sum(r.in_flight_lost for r in results),
        "median_restart_s": sorted(r.restart_s for r in results)[len(results) // 2],
        "total_s": round(time.perf_counter() - started, 1),
        "per_iteration": [attrs.asdict(r) for r in results],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None, help="default: a random one (printed)")
    parser.add_argument("--max-acks", type=int, default=300, help="kill after 1..N acks")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"seed {seed}", file=sys.stderr)
    with workdir(args.keep) as directory:
        figures = trio.run(run, directory, args.iterations, seed, args.max_acks)
    report("crash", command_line(), figures, args.json)


if __name__ == "__main__":
    main()
