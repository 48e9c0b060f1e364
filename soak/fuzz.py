"""The protocol fuzzer, long: >= 100,000 generated hostile frames at the real daemon.

    .venv/bin/python -m soak.fuzz --frames 100000 [--seed N] [--json out.json]

The frames are drawn by hypothesis (tests/fuzzing.py) in parallel worker
processes, then replayed over four attendee connections and a facilitator's
against `pairwise-ws serve` (a child process, the CLI as users run it), with a
well-behaved attendee in the same session all along. Every answer is checked
against the contract's oracle. At the end: the bystander still votes and is
acknowledged, the database holds exactly the acknowledged votes and passes
`PRAGMA integrity_check`, the daemon logged no error and exits 0 on SIGTERM.
Exits 1 if anything failed.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import trio

from soak.common import command_line, free_port, report, wait_healthy, workdir
from tests import audit
from tests.daemon import SIGTERM, daemon
from tests.fuzzing import (
    Case,
    Tally,
    World,
    generate,
    history_count,
    make_world,
    replay,
    stored_votes,
)
from tests.loadgen import LoadClient

BATCH = 5_000


def _generate(args: tuple[World, int, int]) -> list[Case]:
    world, count, seed = args
    return generate(world, count, seed)


def generate_parallel(world: World, count: int, seed: int, workers: int) -> list[Case]:
    batches = [(world, min(BATCH, count - i), seed + i) for i in range(0, count, BATCH)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return [case for batch in pool.map(_generate, batches) for case in batch]


def config_text(directory: Path) -> Path:
    path = directory / "fuzz.toml"
    path.write_text(
        "[limits]\n"
        "rate_burst = 100000\nrate_per_second = 100000.0\n"
        "max_connections_per_address = 100000\nmax_handshakes_per_address = 100000\n"
        "[keepalive]\nping_interval = 3600.0\n"
        '[logging]\nlevel = "warning"\n',
        encoding="utf-8",
    )
    return path


async def run(
    directory: Path, frames: int, seed: int, workers: int, connections: int
) -> dict[str, object]:
    world = make_world(str(directory / "fuzz.db"), fuzzers=connections)
    started = time.perf_counter()
    # About 1% of the cases are facilitator_actions dealt to the facilitator's
    # connection, which are not sent (they would change the session): draw 2%
    # more so that at least `frames` are sent.
    cases = generate_parallel(world, frames + frames // 50, seed, workers)
    generation_s = time.perf_counter() - started
    print(f"generated {len(cases)} cases in {generation_s:.1f}s", file=sys.stderr)

    def progress(tally: Tally) -> None:
        print(
            f"  {tally.sent} frames, {tally.frames_per_second:.0f}/s, "
            f"{len(tally.mismatches)} mismatches",
            file=sys.stderr,
        )

    port = free_port()
    config = str(config_text(directory))
    async with (
        daemon(world.db_path, "--config", config, "serve", "--port", str(port)) as process,
        trio.open_nursery() as nursery,
    ):
        await wait_healthy(port)
        control = world.control
        resource = world.path(None).split("?")[0]
        resource += f"?attendee_id={control.id}&token={control.token}"
        bystander: LoadClient = await nursery.start(LoadClient(port, resource, control.id).run)
        tally = await replay(port, world, cases, on_progress=progress)
        comparison_id = world.votable[0]
        await bystander.vote(comparison_id, world.comparisons[comparison_id][0])
        bystander_ok = bystander.closed_reason is None and bystander.received > tally.acks
        await bystander.drop("close")
        process.signal(SIGTERM)
        exit_code = await process.wait(10)
        nursery.cancel_scope.cancel()
    log = process.stderr.decode(errors="replace")
    errors = [line for line in log.splitlines() if " ERROR " in line or "Traceback" in line]
    stored_ok = stored_votes(world) == tally.acknowledged
    history_ok = history_count(world) == tally.acks + 1
    audit.check_integrity(world.db_path)
    ok = not tally.mismatches and bystander_ok and stored_ok and history_ok
    ok = ok and tally.sent >= frames
    ok = ok and exit_code == 0 and not errors
    return {
        "ok": ok,
        "seed": seed,
        "connections": connections + 1,
        "frames_sent": tally.sent,
        "frames_skipped": tally.skipped,
        "generation_s": round(generation_s, 1),
        "replay_s": round(tally.elapsed_s, 1),
        "frames_per_second": round(tally.frames_per_second),
        "reconnections": tally.reconnects,
        "votes_acknowledged": tally.acks,
        "mismatches": len(tally.mismatches),
        "first_mismatches": [str(m) for m in tally.mismatches[:20]],
        "answers": dict(tally.answers.most_common()),
        "kinds": dict(tally.kinds.most_common()),
        "bystander_served": bystander_ok,
        "stored_votes_equal_acknowledged": stored_ok,
        "history_equals_acknowledged": history_ok,
        "daemon_errors_logged": errors[:10],
        "daemon_exit_code_on_sigterm": exit_code,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--workers", type=int, default=2, help="processes drawing frames")
    parser.add_argument(
        "--connections", type=int, default=8, help="attendee connections (+ a facilitator's)"
    )
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    with workdir(args.keep) as directory:
        figures = trio.run(run, directory, args.frames, args.seed, args.workers, args.connections)
    report("fuzz", command_line(), figures, args.json)
    sys.exit(0 if figures["ok"] else 1)


if __name__ == "__main__":
    main()
