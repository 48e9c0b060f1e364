"""`python -m benchmarks`: run the scenarios, print the table, optionally write the report.

    python -m benchmarks                        # everything, full scale (5-10 minutes)
    python -m benchmarks --quick                # a smoke run at small scale (< 1 minute)
    python -m benchmarks --scenario fanout      # one scenario: fanout, durable, capacity
    python -m benchmarks --write docs/performance.md
    python -m benchmarks --py-spy /tmp/venv-prof/bin/py-spy   # also profile the daemon

Exit status: 0 when every run completed with every expected message, 1 when
some run was incomplete or failed, 2 on a usage error. Whether the targets
are met is in the table, not in the exit status.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from benchmarks import report
from benchmarks.processes import BenchmarkError
from benchmarks.scenarios import FULL, QUICK, Bench, Scale, find_py_spy

SCENARIOS = ("fanout", "durable", "capacity")
# Hard limits on a whole run, after which it is abandoned (children are killed).
BUDGET_S = {"quick": 300, "full": 1800}


class OutOfTime(BaseException):
    """The whole run took longer than its budget."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Benchmarks of pairwise-ws (make bench)."
    )
    parser.add_argument("--quick", action="store_true", help="small scale, for a smoke run")
    parser.add_argument(
        "--scenario", choices=(*SCENARIOS, "all"), default="all", help="what to run (all)"
    )
    parser.add_argument("--write", metavar="PATH", help="also write the report (Markdown) here")
    parser.add_argument(
        "--sizes", metavar="N,N,...", help="fan-out session sizes (default: 100,1000,5000)"
    )
    parser.add_argument(
        "--connections", type=int, metavar="N", help="capacity: idle connections (10000)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        metavar="N",
        help="fan-out runs per size and server, alternating; the best is reported (1)",
    )
    parser.add_argument("--hold", type=float, metavar="S", help="capacity: seconds to hold (30)")
    parser.add_argument(
        "--listeners",
        choices=("attendees", "facilitators"),
        help="who fills a fan-out session besides the voters (attendees): facilitator "
        "connections get every broadcast without the per-join cost of attendees",
    )
    parser.add_argument(
        "--py-spy", metavar="PATH", help="profile the daemon with this py-spy executable"
    )
    parser.add_argument("--profile", action="store_true", help="profile with py-spy found on PATH")
    parser.add_argument(
        "--keep", action="store_true", help="keep the working folder (databases, server logs)"
    )
    return parser.parse_args(argv)


def scale_from(args: argparse.Namespace) -> Scale:
    scale = QUICK if args.quick else FULL
    changes: dict[str, object] = {}
    if args.sizes:
        try:
            sizes = tuple(int(s) for s in args.sizes.split(","))
        except ValueError:
            raise SystemExit("--sizes: give numbers separated by commas, like 100,1000") from None
        if not sizes or min(sizes) < 8:
            raise SystemExit("--sizes: each size must be at least 8")
        changes["fanout_sizes"] = sizes
    if args.connections is not None:
        if args.connections < scale.capacity_per_session:
            raise SystemExit(f"--connections: at least {scale.capacity_per_session}")
        changes["capacity_connections"] = args.connections
    if args.repeat is not None:
        if not 1 <= args.repeat <= 10:
            raise SystemExit("--repeat: between 1 and 10")
        changes["repeat"] = args.repeat
    if args.listeners is not None:
        changes["listeners"] = args.listeners
    if args.hold is not None:
        changes["capacity_hold_s"] = max(0.0, args.hold)
    if changes:
        from dataclasses import replace  # noqa: PLC0415

        scale = replace(scale, **changes)  # type: ignore[arg-type]
    return scale


def _install_signal_handlers(budget_s: int) -> None:
    """SIGALRM after the budget, SIGTERM as Ctrl-C: both unwind, so children are stopped."""

    def out_of_time(signum: int, frame: FrameType | None) -> None:
        raise OutOfTime

    def terminated(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGALRM, out_of_time)
    signal.signal(signal.SIGTERM, terminated)
    signal.alarm(budget_s)


def _run(bench: Bench, chosen: tuple[str, ...], budget_s: int) -> int:
    """Run the chosen scenarios; the exit status so far."""
    try:
        if "fanout" in chosen:
            bench.fanout()
        if "durable" in chosen:
            bench.durable()
        if "capacity" in chosen:
            bench.capacity()
    except OutOfTime:
        bench.log(f"the run took longer than {budget_s}s: abandoned")
        return 1
    except KeyboardInterrupt:
        bench.log("interrupted")
        return 130
    except BenchmarkError as exc:
        bench.log(f"the run failed: {exc}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    scale = scale_from(args)
    chosen = SCENARIOS if args.scenario == "all" else (args.scenario,)
    py_spy = find_py_spy(args.py_spy) if (args.py_spy or args.profile) else None
    if (args.py_spy or args.profile) and py_spy is None:
        raise SystemExit("py-spy not found: pass --py-spy PATH")
    command = "python -m benchmarks " + shlex.join(sys.argv[1:] if argv is None else argv)
    workdir = Path(tempfile.mkdtemp(prefix="pairwise-bench-"))
    _install_signal_handlers(BUDGET_S[scale.name])

    results = report.Results(
        scale=scale,
        command=command,
        started=datetime.datetime.now(datetime.UTC),
        load_before=" ".join(f"{x:.2f}" for x in os.getloadavg()),
        workdir=str(workdir),
    )
    began = time.monotonic()
    bench = Bench(scale, workdir, py_spy=py_spy)
    bench.log(
        f"scale {scale.name}: {', '.join(chosen)}; working in {workdir}; "
        f"load average {results.load_before}"
    )
    try:
        status = _run(bench, chosen, BUDGET_S[scale.name])
    finally:
        signal.alarm(0)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if status:
        results.aborted = {1: "failed or out of time", 130: "interrupted"}.get(status, "?")
    results.fanout = bench.fanout_results
    results.durable = bench.durable_result
    results.capacity = bench.capacity_result
    results.seconds = time.monotonic() - began
    results.load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results.profiles = bench.profiles
    results.profile_notes = bench.profile_notes
    results.daemon_problems = bench.daemon_problems
    print()
    print(report.render_text(results))
    if args.write:
        path = Path(args.write)
        path.write_text(report.render_markdown(results, [f"$ {command}"]), encoding="utf-8")
        print(f"\nwrote {path}")
    if args.keep:
        print(f"working folder kept: {workdir}")
    if status == 0 and not results.ok:
        status = 1
    sys.exit(status)
