"""The adaptive schedule: ask only the pairs the order still needs (sans-IO).

Given the decided comparisons of a session, `plan` says which of the others
their outcomes imply by transitivity (a tie meaning equal) and which pair a
sorting algorithm would ask the group next. Nothing here knows about rooms,
votes or storage: the room applies the plan.

**Implication.** Features are nodes; a decided tie joins two nodes both
ways, a decided win points from the winner to the loser. A comparison that
is not decided itself is implied when exactly one of "A reaches B through at
least one win", "B reaches A through at least one win" and "A and B are
joined by ties alone" holds; `implied_by` names the decided comparisons on
the shortest such chain, in order along it. Contradictory decisions (a cycle
the facilitator's overrule made) imply nothing about the pairs they make
ambiguous. Skipped comparisons imply nothing.

**The next pair: merge insertion, replayed.** Ford and Johnson's merge
insertion sorts the features (in their given order) with an oracle that
answers from what is known, decided or implied; the first comparison it
can't answer is the pair asked next. A known answer costs nothing, so a
group consistent with a strict order of n features is asked at most merge
insertion's worst case (sum over k = 1..n of ceil(log2(3k/4)): 22 for 10,
62 for 20, 219 for 50), below binary insertion's and within a few of the
information-theoretic bound. A tie puts the lower id first (a refinement
the group's order and every implication agree with). The plan is
recomputed from the decisions every time, so a reset, an overrule or a skip
needs no state of its own.

**Skipped pairs** are never asked again: the oracle answers one by id,
which only steers the probes (nothing is implied from it). Whatever the sort
leaves unsettled (around skips and contradictions) is asked last, in
position order, so a session always completes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

import attrs

from pairwise_ws.domain.models import Outcome


@attrs.frozen
class Pair:
    """A comparison as the schedule sees it: its id and its two features."""

    id: int
    a: int
    b: int


@attrs.frozen
class Implication:
    comparison_id: int
    outcome: Outcome
    implied_by: tuple[int, ...]  # the decided comparisons of the chain, in order


@attrs.frozen
class Plan:
    implied: tuple[Implication, ...]  # in the order of `pairs`
    wanted: int | None  # the comparison to ask next; None: nothing left to ask


# An edge of the decision graph: (to, comparison id, is a win).
_Edge = tuple[int, int, bool]


def plan(
    features: Sequence[int],
    pairs: Sequence[Pair],
    decided: Mapping[int, Outcome],
    *,
    skipped: Collection[int] = (),
    asked: Collection[int] = (),
) -> Plan:
    """What the decisions imply, and the pair to ask next.

    `features`: the insertion order. `pairs`: every comparison, in position
    order. `decided`: outcome by comparison id. `skipped` are never asked or
    implied; `asked` (reopened by the facilitator) are not implied either:
    the group answers them itself.
    """
    graph = _graph(pairs, decided)
    chains = {f: _chains_from(f, graph) for f in features}
    known: dict[frozenset[int], Outcome] = {}
    implied: list[Implication] = []
    for pair in pairs:
        key = frozenset((pair.a, pair.b))
        if pair.id in decided:
            known[key] = decided[pair.id]
            continue
        found = _implied(pair, chains)
        if found is None:
            continue
        outcome, through = found
        known.setdefault(key, outcome)  # (a skipped pair's implication still guides the sort)
        if pair.id not in asked and pair.id not in skipped:
            implied.append(Implication(pair.id, outcome, through))
    settled = set(decided) | {i.comparison_id for i in implied} | set(skipped)
    pair_of = {frozenset((p.a, p.b)): p for p in pairs}
    wanted = _next_probe(features, known, pair_of, set(skipped))
    if wanted is None:  # the order is known where it can be: ask what is left, in order
        wanted = next((p.id for p in pairs if p.id not in settled and p.id not in asked), None)
    return Plan(implied=tuple(implied), wanted=wanted)


def _graph(pairs: Iterable[Pair], decided: Mapping[int, Outcome]) -> dict[int, list[_Edge]]:
    graph: dict[int, list[_Edge]] = {}
    for pair in pairs:
        outcome = decided.get(pair.id)
        if outcome is None:
            continue
        if outcome.is_tie:
            graph.setdefault(pair.a, []).append((pair.b, pair.id, False))
            graph.setdefault(pair.b, []).append((pair.a, pair.id, False))
        else:
            loser = pair.b if outcome.winner_id == pair.a else pair.a
            graph.setdefault(outcome.winner_id or pair.a, []).append((loser, pair.id, True))
    return graph


@attrs.frozen
class _Reach:
    """From one feature: shortest chains to each other, by ties alone and through a win."""

    by_ties: Mapping[int, tuple[int, ...]]
    by_win: Mapping[int, tuple[int, ...]]


def _chains_from(start: int, graph: Mapping[int, list[_Edge]]) -> _Reach:
    """Breadth-first over (feature, a win used yet?), remembering the comparisons used."""
    chains: dict[tuple[int, bool], tuple[int, ...]] = {(start, False): ()}
    queue = deque([(start, False)])
    while queue:
        node, won = queue.popleft()
        for to, comparison_id, is_win in graph.get(node, ()):
            state = (to, won or is_win)
            if state not in chains:
                chains[state] = (*chains[(node, won)], comparison_id)
                queue.append(state)
    return _Reach(
        by_ties={f: c for (f, won), c in chains.items() if not won and f != start},
        by_win={f: c for (f, won), c in chains.items() if won},
    )


def _implied(pair: Pair, chains: Mapping[int, _Reach]) -> tuple[Outcome, tuple[int, ...]] | None:
    from_a, from_b = chains.get(pair.a), chains.get(pair.b)
    if from_a is None or from_b is None:
        return None
    a_wins = from_a.by_win.get(pair.b)
    b_wins = from_b.by_win.get(pair.a)
    tied = from_a.by_ties.get(pair.b)
    facts = [
        (Outcome(pair.a, False), a_wins),
        (Outcome(pair.b, False), b_wins),
        (Outcome(None, True), tied),
    ]
    holding = [(outcome, chain) for outcome, chain in facts if chain is not None]
    if len(holding) != 1:
        return None  # nothing known, or a contradiction
    return holding[0]


class _Ask(Exception):
    """Raised by the oracle: the sort needs this comparison's answer, which nobody knows."""

    def __init__(self, comparison_id: int) -> None:
        super().__init__(comparison_id)
        self.comparison_id = comparison_id


def _next_probe(
    features: Sequence[int],
    known: Mapping[frozenset[int], Outcome],
    pair_of: Mapping[frozenset[int], Pair],
    skipped: set[int],
) -> int | None:
    """Merge insertion replayed against what is known; the first comparison it can't answer.

    The answers come from the decisions and what they imply. A tie puts the
    lower id first (a refinement of the group's order that every implication
    agrees with); a pair that can't be asked (skipped) is answered the same
    way, which only steers the probes: nothing is implied from it.
    """

    def before(x: int, y: int) -> bool:
        """x goes before (is better than) y."""
        outcome = known.get(frozenset((x, y)))
        if outcome is not None:
            return x < y if outcome.is_tie else outcome.winner_id == x
        pair = pair_of.get(frozenset((x, y)))
        if pair is not None and pair.id not in skipped:
            raise _Ask(pair.id)
        return x < y

    try:
        merge_insertion_sort(list(features), before)
    except _Ask as ask:
        return ask.comparison_id
    return None


def merge_insertion_sort(items: list[int], before: Callable[[int, int], bool]) -> list[int]:
    """Ford and Johnson's merge insertion: near the fewest comparisons there are.

    Pairs are compared, the pairs' winners sorted recursively, then the
    losers inserted by binary search, each into the part of the chain that
    ends at its winner, in the order that keeps every search over 2^k - 1
    places (the Jacobsthal numbers).
    """
    if len(items) < 2:
        return list(items)
    pairs: list[tuple[int, int]] = []  # (first, second)
    for i in range(0, len(items) - 1, 2):
        x, y = items[i], items[i + 1]
        pairs.append((y, x) if before(y, x) else (x, y))
    seconds = [second for _, second in pairs]
    first_of = {second: first for first, second in pairs}
    chain = merge_insertion_sort(seconds, before)
    pend: list[tuple[int, int | None]] = [(first_of[s], s) for s in chain[1:]]
    chain.insert(0, first_of[chain[0]])
    if len(items) % 2:
        pend.append((items[-1], None))  # the one left over: no winner bounds it
    for index in _insertion_order(len(pend)):
        item, bound_by = pend[index]
        bound = chain.index(bound_by) if bound_by is not None else len(chain)
        lo, hi = 0, bound
        while lo < hi:
            mid = (lo + hi) // 2
            if before(item, chain[mid]):
                hi = mid
            else:
                lo = mid + 1
        chain.insert(lo, item)
    return chain


def _insertion_order(count: int) -> list[int]:
    """The order in which merge insertion inserts pend[0..count) (b2, b3, ... in the papers)."""
    order: list[int] = []
    previous, current = 1, 3  # Jacobsthal numbers t_1, t_2
    while len(order) < count:
        top = min(current, count + 1)  # b_top down to b_(previous + 1)
        order.extend(b - 2 for b in range(top, previous, -1))
        previous, current = current, current + 2 * previous
    return order


def merge_insertion_bound(n: int) -> int:
    """Merge insertion's worst case for n features: sum over k = 1..n of ceil(log2(3k/4)).

    In integers: ceil(log2(3k/4)) is the bit length of (3k - 1) // 4.
    """
    return sum(((3 * k - 1) // 4).bit_length() for k in range(1, n + 1))


def binary_insertion_bound(n: int) -> int:
    """Binary insertion's worst case for n features: sum over k = 2..n of ceil(log2 k)."""
    return sum((k - 1).bit_length() for k in range(2, n + 1))
