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

**The next pair: binary insertion over classes of equal features.** The
features are taken in their given order and each is placed into a chain of
classes, best first, by binary search. A probe whose answer is already known
(decided or implied) costs nothing; the first probe that isn't is the pair
asked next. Inserting into a chain of c classes takes at most ceil(log2(c+1))
questions, so a group consistent with a strict order of n features is asked
at most sum over k = 2..n of ceil(log2 k) pairs; ties only shorten the chain.
The plan is recomputed from the decisions every time, so a reset, an
overrule or a skip needs no state of its own.

**Skipped pairs** are never asked again by the sort: a probe whose pair was
skipped is replaced by another member of the same class, else by the nearest
other position in the search interval whose pair can be asked; a feature no
askable probe can place is put at the top of its interval. Whatever the sort
leaves unsettled (around skips and contradictions) is asked last, in
position order, so a session always completes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Mapping, Sequence

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


def _next_probe(
    features: Sequence[int],
    known: Mapping[frozenset[int], Outcome],
    pair_of: Mapping[frozenset[int], Pair],
    skipped: set[int],
) -> int | None:
    """Binary insertion of each feature into a chain of classes; the first unknown probe."""
    chain: list[list[int]] = []  # classes of equal features, best first
    for feature in features:
        lo, hi = 0, len(chain)
        joined = False
        while lo < hi:
            mid = _probe_position(lo, hi, chain, feature, known, pair_of, skipped)
            if mid is None:
                break  # nothing in the interval can be asked: it goes at the top of it
            relation = _relation(feature, chain[mid], known)
            if relation is None:
                return _askable(feature, chain[mid], pair_of, skipped)
            if relation.is_tie:
                chain[mid].append(feature)
                joined = True
                break
            if relation.winner_id == feature:
                hi = mid
            else:
                lo = mid + 1
        if not joined:
            chain.insert(lo, [feature])
    return None


def _probe_position(
    lo: int,
    hi: int,
    chain: Sequence[Sequence[int]],
    feature: int,
    known: Mapping[frozenset[int], Outcome],
    pair_of: Mapping[frozenset[int], Pair],
    skipped: set[int],
) -> int | None:
    """The middle of [lo, hi), or the position nearest to it whose class can say something."""
    mid = (lo + hi) // 2
    for offset in range(hi - lo):
        for position in (mid - offset, mid + offset):
            if lo <= position < hi and (
                _relation(feature, chain[position], known) is not None
                or _askable(feature, chain[position], pair_of, skipped) is not None
            ):
                return position
    return None


def _relation(
    feature: int, members: Sequence[int], known: Mapping[frozenset[int], Outcome]
) -> Outcome | None:
    """What is known of `feature` against a class (any member answers for all)."""
    for member in members:
        outcome = known.get(frozenset((feature, member)))
        if outcome is not None:
            return outcome
    return None


def _askable(
    feature: int,
    members: Sequence[int],
    pair_of: Mapping[frozenset[int], Pair],
    skipped: set[int],
) -> int | None:
    for member in members:
        pair = pair_of.get(frozenset((feature, member)))
        if pair is not None and pair.id not in skipped:
            return pair.id
    return None


def binary_insertion_bound(n: int) -> int:
    """Binary insertion's worst case for n features: sum over k = 2..n of ceil(log2 k)."""
    return sum((k - 1).bit_length() for k in range(2, n + 1))
