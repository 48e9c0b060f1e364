"""The order of a session's comparisons (pairwise_ws.domain.ordering)."""

from __future__ import annotations

import itertools
import random
import statistics
from collections.abc import Sequence

import pytest

from pairwise_ws.domain.ordering import _complete, _search, adjacent_repeats, order_pairs

SIZES = [*range(41), 50, 60]


def ids_for(n: int) -> list[int]:
    return list(range(1, n + 1))


def gaps(pairs: Sequence[tuple[int, int]]) -> list[int]:
    """Distances between consecutive appearances of the same feature."""
    last_seen: dict[int, int] = {}
    found: list[int] = []
    for position, pair in enumerate(pairs):
        for feature in pair:
            if feature in last_seen:
                found.append(position - last_seen[feature])
            last_seen[feature] = position
    return found


@pytest.mark.parametrize("n", SIZES)
def test_every_unordered_pair_exactly_once(n: int) -> None:
    ids = ids_for(n)
    pairs = order_pairs(ids)

    assert len(pairs) == n * (n - 1) // 2
    for a, b in pairs:
        assert a != b
        assert a in ids
        assert b in ids
    assert {frozenset(pair) for pair in pairs} == {
        frozenset(pair) for pair in itertools.combinations(ids, 2)
    }


@pytest.mark.parametrize("n", SIZES)
def test_adjacent_repeats_are_minimal(n: int) -> None:
    expected = 2 if n in (3, 4) else 0
    assert adjacent_repeats(order_pairs(ids_for(n))) == expected


@pytest.mark.parametrize("n", [3, 4])
def test_small_minimum_really_is_two(n: int) -> None:
    """The documented optimum for 3 and 4 features, by brute force."""
    pairs = list(itertools.combinations(range(n), 2))
    assert min(adjacent_repeats(order) for order in itertools.permutations(pairs)) == 2


@pytest.mark.parametrize("n", SIZES)
def test_deterministic_and_independent_of_input_order(n: int) -> None:
    ids = ids_for(n)
    expected = order_pairs(ids)
    assert order_pairs(ids) == expected
    assert order_pairs(list(reversed(ids))) == expected
    shuffled = ids.copy()
    random.Random(n).shuffle(shuffled)
    assert order_pairs(shuffled) == expected
    assert order_pairs(tuple(shuffled)) == expected


@pytest.mark.parametrize("n", SIZES)
def test_sides_balanced_at_every_point(n: int) -> None:
    """Each feature is A and B equally often, give or take one, at all times."""
    balance = dict.fromkeys(ids_for(n), 0)  # times as A minus times as B
    for a, b in order_pairs(ids_for(n)):
        balance[a] += 1
        balance[b] -= 1
        assert abs(balance[a]) <= 1
        assert abs(balance[b]) <= 1
    # Each feature appears n - 1 times: an even count balances exactly.
    if n >= 2:
        assert {abs(value) for value in balance.values()} == {(n - 1) % 2}


@pytest.mark.parametrize("n", [n for n in SIZES if n >= 2])
def test_every_feature_appears_early(n: int) -> None:
    """Never-seen features first: the opening comparisons introduce everyone."""
    pairs = order_pairs(ids_for(n))
    opening = pairs[: n // 2]
    assert len({feature for pair in opening for feature in pair}) == 2 * len(opening)
    assert {feature for pair in pairs[: (n + 1) // 2] for feature in pair} == set(ids_for(n))


@pytest.mark.parametrize("n", [n for n in SIZES if n >= 5])
def test_features_are_spread_out(n: int) -> None:
    found = gaps(order_pairs(ids_for(n)))
    assert min(found) >= 2
    # Each comparison shows two of the n features, so n/2 is the ideal mean
    # gap; measured, the mean stays within 0.23 of it and the longest gap
    # within n for these sizes.
    assert statistics.mean(found) >= n / 2 - 0.25
    assert max(found) <= n + 1


def test_spread_for_ten_features() -> None:
    found = gaps(order_pairs(ids_for(10)))
    assert min(found) >= 2  # no feature in two consecutive comparisons
    assert statistics.mean(found) >= 10 / 2 - 1  # measured: 4.84
    assert max(found) <= 10  # measured: 9


def test_non_contiguous_ids_are_used_as_given() -> None:
    ids = [3, 17, 42, 8, 100]
    pairs = order_pairs(ids)
    assert pairs == [
        (3, 8),
        (17, 42),
        (100, 3),
        (8, 17),
        (42, 100),
        (3, 17),
        (8, 42),
        (17, 100),
        (42, 3),
        (100, 8),
    ]
    assert adjacent_repeats(pairs) == 0
    assert order_pairs(sorted(ids)) == pairs


@pytest.mark.parametrize(
    ("ids", "expected"),
    [
        ([], []),
        ([7], []),
        ([9, 4], [(4, 9)]),
        ([5, 1, 3], [(1, 3), (5, 1), (3, 5)]),
        ([1, 2, 3, 4], [(1, 2), (4, 3), (3, 1), (2, 4), (1, 4), (2, 3)]),
    ],
)
def test_small_inputs(ids: list[int], expected: list[tuple[int, int]]) -> None:
    assert order_pairs(ids) == expected


@pytest.mark.parametrize("ids", [[1, 1], [1, 2, 3, 2], [5, 6, 7, 8, 9, 5]])
def test_duplicate_ids_are_refused(ids: list[int]) -> None:
    with pytest.raises(ValueError, match="more than once"):
        order_pairs(ids)


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([], 0),
        ([(1, 2)], 0),
        ([(1, 2), (3, 4)], 0),
        ([(1, 2), (2, 3)], 1),
        ([(1, 2), (2, 1)], 1),
        ([(2, 1), (3, 2)], 1),
        ([(1, 2), (1, 3), (1, 4)], 2),
        ([(1, 2), (3, 4), (4, 1), (1, 5), (2, 3)], 2),
        ([(1, 2), (3, 4), (1, 3), (2, 4), (1, 4), (2, 3)], 2),
    ],
)
def test_adjacent_repeats_counts(pairs: list[tuple[int, int]], expected: int) -> None:
    assert adjacent_repeats(pairs) == expected


@pytest.mark.parametrize("n", [5, 7, 11, 20])
def test_backtracking_repairs_the_greedy_walk(n: int) -> None:
    """For these sizes the greedy walk alone gets stuck; the search does not."""
    assert adjacent_repeats(_complete(n, [])) > 0
    assert adjacent_repeats(_search(n, 5_000)) == 0


@pytest.mark.parametrize("n", [5, 7, 11, 20, 60])
def test_exhausted_budget_still_gives_every_pair(n: int) -> None:
    order = _search(n, 0)
    assert sorted(order) == list(itertools.combinations(range(n), 2))
    assert adjacent_repeats(order) <= 1
