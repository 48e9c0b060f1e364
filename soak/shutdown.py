"""Graceful shutdown under load, long: SIGTERM with a thousand clients connected.

    .venv/bin/python -m soak.shutdown --clients 1000 --voters 40 --iterations 3 [--json out.json]

Each iteration starts `pairwise-ws serve`, connects the clients (a quarter of
them attendees' first tabs), lets `--voters` of them vote without pause and
sends SIGTERM (tests/test_shutdown_load.py). The contract: exit 0 within 5 s,
every client gets `system_notice` `server_shutdown` and a Close frame 1001,
no acknowledged vote is lost. Exits 1 if an iteration broke any of these.
"""

from __future__ import annotations

import argparse
import resource
import sys
from pathlib import Path

import attrs
import trio

from soak.common import command_line, report, workdir
from tests.test_shutdown_load import SHUTDOWN_LIMIT_S, ShutdownResult, shutdown_under_load


def ok(result: ShutdownResult) -> bool:
    return (
        result.exit_code == 0
        and result.exit_s < SHUTDOWN_LIMIT_S
        and result.told == result.clients
        and result.closed_1001 == result.clients
    )


async def run(directory: Path, clients: int, voters: int, iterations: int) -> dict[str, object]:
    results = []
    for number in range(iterations):
        where = directory / str(number)
        where.mkdir()
        result = await shutdown_under_load(where, clients, voters)
        print(result, file=sys.stderr)
        results.append(result)
    return {
        "ok": all(ok(r) for r in results),
        "clients": clients,
        "voters": voters,
        "iterations": iterations,
        "max_exit_s": max(r.exit_s for r in results),
        "max_told_within_s": max(r.told_within_s for r in results),
        "min_told": min(r.told for r in results),
        "min_closed_1001": min(r.closed_1001 for r in results),
        "votes_acknowledged": sum(r.votes_acked for r in results),
        "per_iteration": [attrs.asdict(r) for r in results],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--voters", type=int, default=40)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 4 * args.clients + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    with workdir(args.keep) as directory:
        figures = trio.run(run, directory, args.clients, args.voters, args.iterations)
    report("shutdown", command_line(), figures, args.json)
    sys.exit(0 if figures["ok"] else 1)


if __name__ == "__main__":
    main()
