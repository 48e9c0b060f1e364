"""The order of a session's comparisons: every pair once, spread out for people.

The rule: creating a session generates every unordered pair of the project's
features once (n features give n(n-1)/2 comparisons, positions 1..N), ordered
so that, where possible, no feature appears in two consecutive comparisons.

Two pairs may follow each other without a repeat exactly when they are
disjoint, i.e. when they are adjacent in the Kneser graph K(n, 2). A session
order with no repeats is a Hamiltonian path of K(n, 2), which exists for every
n >= 5 (K(5, 2) is the Petersen graph: it has a Hamiltonian path but no
Hamiltonian cycle). Below five features the optimum is found by exhaustive
search instead:

* n = 3: every two pairs share a feature, so both transitions repeat: 2.
* n = 4: the only disjoint pairs are the two halves of each of the three
  perfect matchings {12, 34}, {13, 24}, {14, 23}. A transition without a repeat
  therefore stays inside one matching, and a matching of two pairs can supply
  at most one such transition. Of the five transitions at most three are free
  of repeats, so at least 2 repeat, and 12, 34, 13, 24, 14, 23 achieves 2.

For n >= 5 the order is a greedy walk that always takes, among the unused pairs
disjoint from the previous one, the pair whose features were seen least
recently (never-seen first). When the walk gets stuck an iterative depth-first
search backtracks, trying the next-best choices in the same order. The search
has a budget; should it ever run out, the longest repeat-free prefix found is
completed greedily (allowing repeats only where unavoidable) rather than
failing.

Finally each pair is oriented (feature A, feature B) so that, at every point of
the session, each feature has been A and B equally often give or take one; see
`_orient`. Where the orientation is free, the feature that has been on the A
side fewer times so far goes to A (ties: the smaller id).

Nothing here does I/O; the same input always gives the same output.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

__all__ = ["adjacent_repeats", "order_pairs"]

# Up to this many features the whole space of orders is searched: 4 features
# have 6 pairs and 720 orders.
_EXHAUSTIVE_MAX = 4

# Pairs the depth-first search may place beyond one per comparison (that is,
# undo and retry) before it gives up and completes its longest prefix greedily.
# For every n from 5 to 150 at most 20 are needed (n = 7 and n = 31); the
# budget only bounds the time a pathological case could take (about 0.2 s more
# at n = 60).
_BACKTRACK_BUDGET = 5_000

# A pair of feature indices (positions in the sorted ids), smaller first.
_Pair = tuple[int, int]


def order_pairs(feature_ids: Sequence[int]) -> list[tuple[int, int]]:
    """Every unordered pair of `feature_ids` once, as (feature_a_id, feature_b_id).

    The list is in session order: position k of the session is item k - 1.
    The result does not depend on the order of `feature_ids` (they are sorted
    first); ids are used as given. Raises ValueError if an id appears twice.
    """
    ids = sorted(feature_ids)
    for before, after in itertools.pairwise(ids):
        if before == after:
            raise ValueError(f"feature id {after} appears more than once")
    n = len(ids)
    if n < 2:  # a pair needs two features
        return []
    order = _exhaustive(n) if n <= _EXHAUSTIVE_MAX else _search(n, _BACKTRACK_BUDGET)
    return _orient(order, ids)


def adjacent_repeats(pairs: Sequence[tuple[int, int]]) -> int:
    """How many consecutive pairs share a feature."""
    return sum(1 for first, second in itertools.pairwise(pairs) if set(first) & set(second))


def _exhaustive(n: int) -> list[_Pair]:
    """The first order, lexicographically, with the fewest repeats (small n only)."""
    pairs = list(itertools.combinations(range(n), 2))
    best = min(itertools.permutations(pairs), key=adjacent_repeats)
    return list(best)


def _search(n: int, backtrack_budget: int) -> list[_Pair]:
    """A repeat-free order of all pairs of range(n), or the best found within the budget.

    `backtrack_budget` is how many placements beyond one per pair are allowed.
    """
    total = n * (n - 1) // 2
    remaining = [set(range(n)) - {f} for f in range(n)]
    # orders[k]: the features oldest-first after k pairs have been placed.
    orders: list[tuple[int, ...]] = [tuple(range(n))]
    path: list[_Pair] = []
    # stack[k]: the choices, best first, for the pair at position k.
    stack: list[Iterator[_Pair]] = [_choices(orders[0], None, remaining)]
    longest: list[_Pair] = []
    placed = 0
    while stack:
        choice = next(stack[-1], None)
        if choice is None:
            stack.pop()
            if path:
                _unplace(path.pop(), remaining)
                orders.pop()
            continue
        placed += 1
        if placed > total + backtrack_budget:
            break
        _place(choice, remaining)
        path.append(choice)
        orders.append(_seen(orders[-1], choice))
        if len(path) == total:
            return path
        if len(path) > len(longest):
            longest = path.copy()
        stack.append(_choices(orders[-1], choice, remaining))
    return _complete(n, longest)


def _complete(n: int, prefix: Sequence[_Pair]) -> list[_Pair]:
    """`prefix` extended greedily to every pair, repeating a feature only if unavoidable."""
    remaining = [set(range(n)) - {f} for f in range(n)]
    order = tuple(range(n))
    last: _Pair | None = None
    path: list[_Pair] = []
    for pair in prefix:
        _place(pair, remaining)
        order = _seen(order, pair)
        path.append(pair)
        last = pair
    total = n * (n - 1) // 2
    while len(path) < total:
        disjoint = next(_choices(order, last, remaining), None)
        pair = disjoint if disjoint is not None else next(_choices(order, None, remaining))
        _place(pair, remaining)
        order = _seen(order, pair)
        path.append(pair)
        last = pair
    return path


def _choices(
    order: tuple[int, ...], last: _Pair | None, remaining: list[set[int]]
) -> Iterator[_Pair]:
    """Unused pairs disjoint from `last`, least recently seen first.

    `order` lists the features oldest-first. A pair is better when its more
    recently seen feature is older; ties go to the pair whose other feature is
    older. Evaluated lazily: when the search resumes this iterator, `remaining`
    is back in the state it was created in.
    """
    rank = [0] * len(order)
    for position, feature in enumerate(order):
        rank[feature] = position
    excluded = last or ()
    for newer_rank, newer in enumerate(order):
        if newer in excluded or not remaining[newer]:
            continue
        older_ranks = sorted(
            rank[partner]
            for partner in remaining[newer]
            if rank[partner] < newer_rank and partner not in excluded
        )
        for older_rank in older_ranks:
            older = order[older_rank]
            yield (older, newer) if older < newer else (newer, older)


def _seen(order: tuple[int, ...], pair: _Pair) -> tuple[int, ...]:
    """`order` after `pair` is shown: its features become the most recent."""
    return (*(f for f in order if f not in pair), *pair)


def _place(pair: _Pair, remaining: list[set[int]]) -> None:
    a, b = pair
    remaining[a].discard(b)
    remaining[b].discard(a)


def _unplace(pair: _Pair, remaining: list[set[int]]) -> None:
    a, b = pair
    remaining[a].add(b)
    remaining[b].add(a)


def _orient(order: Sequence[_Pair], ids: Sequence[int]) -> list[tuple[int, int]]:
    """Feature ids for `order`, each pair as (feature A, feature B).

    Each feature's appearances are taken in couples, (1st, 2nd), (3rd, 4th),
    ..., and the two comparisons of a couple put that feature on opposite
    sides. A comparison belongs to at most two couples (one per feature), so
    the couples chain the comparisons into trails through the complete graph
    on the features, a comparison being an edge. Walking a trail enters a
    feature by one comparison of a couple and leaves it by the other, so
    orienting each comparison in the walking direction (A to B) satisfies every
    couple at once. Hence at every point of the session each feature has been A
    and B equally often, give or take one: at the end exactly equal for an odd
    number of features, one apart for an even number.

    Only the direction of a trail is free. It is chosen at the trail's first
    comparison by the plain rule: the feature that has been on the A side fewer
    times so far goes to A, ties to the smaller id. (Applying that rule to
    every comparison instead was measured to let a feature drift up to four
    apart during a session and three apart at its end.)
    """
    partner: dict[tuple[int, int], int] = {}  # (position, feature) -> other of its couple
    appearances: list[list[int]] = [[] for _ in ids]
    for position, pair in enumerate(order):
        for feature in pair:
            seen = appearances[feature]
            seen.append(position)
            if len(seen) % 2 == 0:
                partner[position, feature] = seen[-2]
                partner[seen[-2], feature] = position

    side_a = [-1] * len(order)  # the feature on side A at each position
    times_a = [0] * len(ids)
    for position, (first, second) in enumerate(order):
        if side_a[position] < 0:
            side_a[position] = second if times_a[second] < times_a[first] else first
            trail = [position]
            while trail:
                here = trail.pop()
                for feature in order[here]:
                    there = partner.get((here, feature), -1)
                    if there < 0 or side_a[there] >= 0:
                        continue
                    if side_a[here] == feature:
                        side_a[there] = _other(order[there], feature)
                    else:
                        side_a[there] = feature
                    trail.append(there)
        times_a[side_a[position]] += 1

    return [(ids[a], ids[_other(pair, a)]) for a, pair in zip(side_a, order, strict=True)]


def _other(pair: _Pair, feature: int) -> int:
    return pair[1] if pair[0] == feature else pair[0]
