"""A session's ranking from its decided comparisons: pure, no I/O.

The rule (docs/protocol.md): "Per session, each feature's win-count weight is W = (wins + 0.5 *
ties) / decided comparisons that involve it (the P-WVC formula). Rank by W,
highest first; break ties by the head-to-head result, then by
Sonneborn-Berger; features still tied share a rank. Flag preference cycles
(A>B, B>C, C>A) among decided comparisons."

Only comparisons whose status is DECIDED count; OPEN and SKIPPED ones are
ignored. A decided comparison is either won (``winner_id`` is one of its two
features, ``is_tie`` False) or tied (``winner_id`` None, ``is_tie`` True);
anything else is a programming error and raises ``ValueError``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice

import attrs

from pairwise_ws.domain.models import SETTLED_WITH_OUTCOME, Comparison, Feature

__all__ = ["CombinedStanding", "Ranking", "Standing", "combine", "find_cycles", "rank"]

# Scores closer than this are equal: W, mini-scores and Sonneborn-Berger are
# sums of floats, and two features with the same record must tie exactly.
TOLERANCE = 1e-9
DEFAULT_CYCLE_LIMIT = 100


@attrs.frozen
class Standing:
    feature_id: int
    title: str
    rank: int
    """1-based competition ranking: tied features share a rank and the next rank
    skips (1, 2, 2, 4)."""
    wins: int
    losses: int
    ties: int
    win_count_weight: float
    """W rounded to 4 decimals; 0.0 when the feature has no decided comparison."""
    sonneborn_berger: float
    """Rounded to 4 decimals."""


@attrs.frozen
class Ranking:
    standings: tuple[Standing, ...]
    """In rank order; within a shared rank, by feature id."""
    cycles: tuple[tuple[int, ...], ...]
    """Preference cycles, as returned by `find_cycles`."""


@attrs.frozen
class _Result:
    """One decided comparison, normalised: its two features and the winner."""

    a: int
    b: int
    winner: int | None  # None for a tie

    @property
    def loser(self) -> int | None:
        if self.winner is None:
            return None
        return self.b if self.winner == self.a else self.a


def _decided(comparisons: Iterable[Comparison]) -> Iterator[_Result]:
    """The decided (or implied) comparisons among `comparisons`, checked and normalised."""
    for comparison in comparisons:
        if comparison.status not in SETTLED_WITH_OUTCOME:
            continue
        a, b = comparison.feature_a_id, comparison.feature_b_id
        if a == b:
            raise ValueError(f"comparison {comparison.id} compares feature {a} with itself")
        if comparison.is_tie:
            if comparison.winner_id is not None:
                raise ValueError(f"comparison {comparison.id} is a tie but names a winner")
            yield _Result(a, b, None)
        elif comparison.winner_id in (a, b):
            yield _Result(a, b, comparison.winner_id)
        else:
            raise ValueError(
                f"decided comparison {comparison.id} has winner {comparison.winner_id!r},"
                f" which is neither of its features {a} and {b}"
            )


# --- ranking ------------------------------------------------------------------


@attrs.define
class _Record:
    wins: int = 0
    losses: int = 0
    ties: int = 0

    @property
    def decided(self) -> int:
        return self.wins + self.losses + self.ties

    @property
    def weight(self) -> float:
        """W = (wins + 0.5 * ties) / decided, or 0.0 with nothing decided."""
        if self.decided == 0:
            return 0.0
        return (self.wins + 0.5 * self.ties) / self.decided


def rank(features: Iterable[Feature], comparisons: Iterable[Comparison]) -> Ranking:
    """Rank `features` by their decided `comparisons` (one session's).

    Order, highest first:

    1. W, the win-count weight (P-WVC): ``(wins + 0.5 * ties) / decided``,
       0.0 for a feature with no decided comparison. Ws within 1e-9 are equal.
    2. Within a group of equal W, head-to-head: each member's mini-score is
       ``wins + 0.5 * ties`` over the decided comparisons between members of
       that group only. For two features this is their direct result; with no
       comparison between them both score 0 and they stay tied.
    3. Within a sub-group of equal mini-score, Sonneborn-Berger: the sum of
       the (unrounded) W of every opponent it beat plus half the W of every
       opponent it tied, over all its decided comparisons.

    The tie-breaks are applied once each, not recursively: a sub-group that
    is still tied after head-to-head goes straight to Sonneborn-Berger, and
    head-to-head is *not* recomputed within that smaller sub-group. Features
    still tied after both share a rank (competition ranking: 1, 2, 2, 4) and
    are listed by feature id.

    Comparisons that involve a feature not in `features` are ignored, for the
    standings and for the cycles alike.
    """
    by_id: dict[int, Feature] = {}
    for feature in features:
        if feature.id in by_id:
            raise ValueError(f"feature {feature.id} is listed twice")
        by_id[feature.id] = feature

    results = [r for r in _decided(comparisons) if r.a in by_id and r.b in by_id]
    records = {feature_id: _Record() for feature_id in by_id}
    for result in results:
        if result.winner is None:
            records[result.a].ties += 1
            records[result.b].ties += 1
        else:
            loser = result.loser
            assert loser is not None
            records[result.winner].wins += 1
            records[loser].losses += 1

    weights = {feature_id: record.weight for feature_id, record in records.items()}
    sonneborn_berger = _sonneborn_berger(results, weights)

    standings: list[Standing] = []
    for group in _order(list(by_id), results, weights, sonneborn_berger):
        shared_rank = len(standings) + 1
        for feature_id in sorted(group):
            record = records[feature_id]
            standings.append(
                Standing(
                    feature_id=feature_id,
                    title=by_id[feature_id].title,
                    rank=shared_rank,
                    wins=record.wins,
                    losses=record.losses,
                    ties=record.ties,
                    win_count_weight=round(weights[feature_id], 4),
                    sonneborn_berger=round(sonneborn_berger[feature_id], 4),
                )
            )
    return Ranking(standings=tuple(standings), cycles=_find_cycles(results, DEFAULT_CYCLE_LIMIT))


def _sonneborn_berger(results: Iterable[_Result], weights: Mapping[int, float]) -> dict[int, float]:
    scores = dict.fromkeys(weights, 0.0)
    for result in results:
        if result.winner is None:
            scores[result.a] += 0.5 * weights[result.b]
            scores[result.b] += 0.5 * weights[result.a]
        else:
            loser = result.loser
            assert loser is not None
            scores[result.winner] += weights[loser]
    return scores


def _order(
    feature_ids: Sequence[int],
    results: Sequence[_Result],
    weights: Mapping[int, float],
    sonneborn_berger: Mapping[int, float],
) -> list[list[int]]:
    """`feature_ids` as groups of features sharing a rank, best group first."""
    ordered: list[list[int]] = []
    for same_weight in _split(feature_ids, weights.__getitem__):
        if len(same_weight) == 1:
            ordered.append(same_weight)
            continue
        mini = _mini_scores(same_weight, results)
        for same_mini in _split(same_weight, mini.__getitem__):
            ordered.extend(_split(same_mini, sonneborn_berger.__getitem__))
    return ordered


def _mini_scores(group: Sequence[int], results: Iterable[_Result]) -> dict[int, float]:
    """Head-to-head: wins + 0.5 * ties over comparisons within `group` only."""
    members = set(group)
    scores = dict.fromkeys(group, 0.0)
    for result in results:
        if result.a not in members or result.b not in members:
            continue
        if result.winner is None:
            scores[result.a] += 0.5
            scores[result.b] += 0.5
        else:
            scores[result.winner] += 1.0
    return scores


def _split(feature_ids: Sequence[int], score: Callable[[int], float]) -> list[list[int]]:
    """`feature_ids` grouped by equal `score` (within TOLERANCE), highest first."""
    groups: list[list[int]] = []
    for feature_id in sorted(feature_ids, key=lambda f: (-score(f), f)):
        if groups and abs(score(groups[-1][0]) - score(feature_id)) <= TOLERANCE:
            groups[-1].append(feature_id)
        else:
            groups.append([feature_id])
    return groups


# --- cycles -------------------------------------------------------------------


def find_cycles(
    comparisons: Iterable[Comparison], limit: int = DEFAULT_CYCLE_LIMIT
) -> tuple[tuple[int, ...], ...]:
    """Preference cycles among the decided, non-tie `comparisons`.

    The graph has an edge winner -> loser per won comparison. Reported:

    - every elementary 3-cycle (a beat b, b beat c, c beat a), once;
    - for each strongly connected component of two or more features that
      holds no 3-cycle, one shortest cycle through it (found by BFS; a
      2-cycle when the same pair was decided both ways).

    Each cycle is a tuple of feature ids in winner -> loser order, rotated so
    its smallest id comes first: ``(1, 2, 3)`` means 1 beat 2, 2 beat 3 and 3
    beat 1. The result is sorted by (length, ids) and holds at most `limit`
    cycles (the first `limit` of that order).
    """
    return _find_cycles(list(_decided(comparisons)), limit)


def _find_cycles(results: Iterable[_Result], limit: int) -> tuple[tuple[int, ...], ...]:
    if limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")
    edges: dict[int, set[int]] = {}
    for result in results:
        loser = result.loser
        if result.winner is None or loser is None:
            continue
        edges.setdefault(result.winner, set()).add(loser)
        edges.setdefault(loser, set())
    graph = {node: sorted(targets) for node, targets in edges.items()}

    cycles: list[tuple[int, ...]] = []
    for component in _strongly_connected(graph):
        if len(component) < 2:
            continue
        # Only the first `limit` 3-cycles of a component (in id order) can
        # make it into the first `limit` overall.
        triangles = list(islice(_triangles(graph, component), limit))
        if triangles:
            cycles.extend(triangles)
        else:
            cycles.append(_shortest_cycle(graph, component))
    cycles.sort(key=lambda cycle: (len(cycle), cycle))
    return tuple(cycles[:limit])


def _strongly_connected(graph: Mapping[int, Sequence[int]]) -> list[frozenset[int]]:
    """Tarjan's algorithm, iterative (no recursion limit on long chains)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[int] = []
    components: list[frozenset[int]] = []

    for root in sorted(graph):
        if root in index:
            continue
        # Each frame: a node and the position of the next successor to visit.
        work: list[tuple[int, int]] = [(root, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            successors = graph[node]
            descended = False
            while position < len(successors):
                successor = successors[position]
                position += 1
                if successor not in index:
                    work.append((node, position))
                    work.append((successor, 0))
                    descended = True
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            if descended:
                continue
            if low[node] == index[node]:
                members: set[int] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.add(member)
                    if member == node:
                        break
                components.append(frozenset(members))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def _triangles(
    graph: Mapping[int, Sequence[int]], component: frozenset[int]
) -> Iterator[tuple[int, int, int]]:
    """The 3-cycles within `component`, canonical, in increasing id order."""
    for a in sorted(component):
        for b in graph[a]:
            if b <= a or b not in component:
                continue
            for c in graph[b]:
                if c <= a or c not in component:
                    continue
                if a in graph[c]:
                    yield (a, b, c)


def _shortest_cycle(
    graph: Mapping[int, Sequence[int]], component: frozenset[int]
) -> tuple[int, ...]:
    """A shortest cycle within a strongly connected `component`, canonical.

    BFS from every member back to itself; the shortest wins, ties going to the
    smaller canonical tuple.
    """
    best: tuple[int, ...] | None = None
    for start in sorted(component):
        cycle = _shortest_cycle_through(graph, component, start)
        if best is None or (len(cycle), cycle) < (len(best), best):
            best = cycle
    assert best is not None, "a strongly connected component of two or more has a cycle"
    return best


def _shortest_cycle_through(
    graph: Mapping[int, Sequence[int]], component: frozenset[int], start: int
) -> tuple[int, ...]:
    parent: dict[int, int] = {start: start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for successor in graph[node]:
            if successor == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return _canonical(tuple(reversed(path)))
            if successor in component and successor not in parent:
                parent[successor] = node
                queue.append(successor)
    raise AssertionError(f"feature {start} is in a strongly connected component but on no cycle")


def _canonical(cycle: tuple[int, ...]) -> tuple[int, ...]:
    """`cycle` rotated so its smallest id comes first."""
    start = cycle.index(min(cycle))
    return cycle[start:] + cycle[:start]


# --- value over complexity ---------------------------------------------------


@attrs.frozen
class CombinedStanding:
    """A feature in the combined view of a value and a complexity session."""

    feature_id: int
    title: str
    rank: int
    value_weight: float
    complexity_weight: float
    ratio: float | None
    """value_weight / complexity_weight, rounded to 4 decimals; None when the
    complexity weight is 0 (the feature was never judged the more complex)."""


def _exact_weight(standing: Standing) -> float:
    """W from the counts (the standing's own W is rounded)."""
    decided = standing.wins + standing.losses + standing.ties
    return (standing.wins + 0.5 * standing.ties) / decided if decided else 0.0


def combine(value: Ranking, complexity: Ranking) -> tuple[CombinedStanding, ...]:
    """Value weight over complexity weight, highest first, for features in both.

    A feature with complexity weight 0 has no finite ratio: with some value it
    ranks above every finite ratio (much value, no measured cost), ordered by
    value; with no value either it ranks last (nothing is known of it).
    Features with equal keys share a rank (1, 2, 2, 4).
    """
    complexities = {s.feature_id: _exact_weight(s) for s in complexity.standings}
    rows: list[tuple[tuple[int, float], CombinedStanding]] = []
    for s in value.standings:
        if s.feature_id not in complexities:
            continue
        v, c = _exact_weight(s), complexities[s.feature_id]
        if c > TOLERANCE:
            ratio: float | None = round(v / c, 4)
            key = (1, v / c)
        else:
            ratio = None
            key = (2, v) if v > TOLERANCE else (0, 0.0)
        row = CombinedStanding(
            feature_id=s.feature_id,
            title=s.title,
            rank=0,
            value_weight=round(v, 4),
            complexity_weight=round(c, 4),
            ratio=ratio,
        )
        rows.append((key, row))
    rows.sort(key=lambda item: (-item[0][0], -item[0][1], item[1].feature_id))
    combined: list[CombinedStanding] = []
    for index, (key, row) in enumerate(rows):
        previous = rows[index - 1][0] if index else None
        same = (
            previous is not None
            and previous[0] == key[0]
            and abs(previous[1] - key[1]) <= TOLERANCE
        )
        rank = combined[-1].rank if same else index + 1
        combined.append(attrs.evolve(row, rank=rank))
    return tuple(combined)
