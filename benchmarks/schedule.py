"""How many group decisions the adaptive schedule needs: simulated groups, no network.

    .venv/bin/python -m benchmarks.schedule [--runs N] [--seed S]

A simulated group answers every pair the schedule opens as a hidden order
says (a strict order: every feature at its own rank; with --ties, ranks drawn
with repeats). The schedule (`domain.schedule.plan`) is asked for the next
pair after every decision, exactly as a room asks it. For each n it prints
the mean and the worst number of decisions over the runs, beside binary
insertion's worst case, merge insertion's (Ford-Johnson) worst case, the
information-theoretic bound ceil(log2 n!) and the full round robin's
n(n-1)/2, and checks that every pair ended decided or implied, with the
hidden order's outcome.
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import time

import attrs

from pairwise_ws.domain.models import Outcome
from pairwise_ws.domain.schedule import (
    Pair,
    binary_insertion_bound,
    merge_insertion_bound,
    plan,
)

SIZES = (5, 10, 20, 50)
RUNS = {5: 500, 10: 300, 20: 60, 50: 12}


@attrs.frozen
class Figures:
    n: int
    runs: int
    mean: float
    worst: int
    seconds_per_run: float


def truth(rank: dict[int, int], pair: Pair) -> Outcome:
    if rank[pair.a] == rank[pair.b]:
        return Outcome(None, True)
    return Outcome(pair.a if rank[pair.a] < rank[pair.b] else pair.b, False)


def simulate(n: int, rng: random.Random, *, ties: bool = False) -> int:
    """Decisions one simulated session needs; raises if an outcome is wrong or missing."""
    features = list(range(1, n + 1))
    order = rng.sample(features, n)
    rank = {f: (rng.randrange(max(1, n // 2)) if ties else r) for r, f in enumerate(order)}
    pairs = [Pair(i, a, b) for i, (a, b) in enumerate(itertools.combinations(features, 2), 1)]
    by_id = {p.id: p for p in pairs}
    decided: dict[int, Outcome] = {}
    while True:
        planned = plan(features, pairs, decided)
        if planned.wanted is None:
            break
        decided[planned.wanted] = truth(rank, by_id[planned.wanted])
    implied = {i.comparison_id: i.outcome for i in planned.implied}
    if set(implied) | set(decided) != set(by_id):
        raise AssertionError(f"n={n}: pairs left unsettled")
    for comparison_id, outcome in implied.items():
        if outcome != truth(rank, by_id[comparison_id]):
            raise AssertionError(f"n={n}: a wrong implication")
    return len(decided)


def measure(n: int, runs: int, seed: int, *, ties: bool = False) -> Figures:
    rng = random.Random(seed + n)
    started = time.perf_counter()
    counts = [simulate(n, rng, ties=ties) for _ in range(runs)]
    return Figures(n, runs, sum(counts) / runs, max(counts), (time.perf_counter() - started) / runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, help="runs per size (default: 500 to 12)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--ties", action="store_true", help="hidden orders with ties")
    args = parser.parse_args()
    print(
        "| n | decisions, mean | decisions, worst | binary insertion's worst | "
        "merge insertion's worst | ceil(log2 n!) | n(n-1)/2 | runs |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for n in SIZES:
        runs = args.runs or RUNS[n]
        got = measure(n, runs, args.seed, ties=args.ties)
        bound = math.ceil(math.log2(math.factorial(n)))
        print(
            f"| {n} | {got.mean:.1f} | {got.worst} | {binary_insertion_bound(n)} | "
            f"{merge_insertion_bound(n)} | {bound} | {n * (n - 1) // 2} | {runs} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
