"""The adaptive schedule (domain.schedule): implication, the next pair, and what it costs."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.schedule import simulate, truth
from pairwise_ws.domain import ranking
from pairwise_ws.domain.models import Comparison, ComparisonStatus, Feature, Outcome
from pairwise_ws.domain.schedule import (
    Implication,
    Pair,
    binary_insertion_bound,
    merge_insertion_bound,
    merge_insertion_sort,
    plan,
)

A, B, C, D = 1, 2, 3, 4
WIN_A = Outcome(A, False)
TIE = Outcome(None, True)


def pairs_of(features: list[int]) -> list[Pair]:
    return [Pair(i, a, b) for i, (a, b) in enumerate(itertools.combinations(features, 2), 1)]


def pair_id(pairs: list[Pair], x: int, y: int) -> int:
    return next(p.id for p in pairs if {p.a, p.b} == {x, y})


def wins(winner: int) -> Outcome:
    return Outcome(winner, False)


# --- implication ------------------------------------------------------------------------


def test_a_chain_of_wins_implies_the_pair_it_spans() -> None:
    pairs = pairs_of([A, B, C])
    ab, bc, ac = (pair_id(pairs, *x) for x in ((A, B), (B, C), (A, C)))

    planned = plan([A, B, C], pairs, {ab: wins(A), bc: wins(B)})

    assert planned.implied == (Implication(ac, wins(A), (ab, bc)),)
    assert planned.wanted is None  # the order is known


@pytest.mark.parametrize(
    ("ab", "bc", "ac"),
    [
        (TIE, wins(B), wins(A)),  # A = B > C: A > C
        (TIE, TIE, TIE),  # A = B = C
        (wins(A), TIE, wins(A)),  # A > B = C
        (wins(B), wins(C), wins(C)),  # C > B > A
    ],
)
def test_ties_mean_equal(ab: Outcome, bc: Outcome, ac: Outcome) -> None:
    pairs = pairs_of([A, B, C])
    ids = [pair_id(pairs, *x) for x in ((A, B), (B, C), (A, C))]

    planned = plan([A, B, C], pairs, {ids[0]: ab, ids[1]: bc})

    assert [(i.comparison_id, i.outcome) for i in planned.implied] == [(ids[2], ac)]
    assert set(planned.implied[0].implied_by) == {ids[0], ids[1]}


def test_a_cycle_implies_nothing_about_what_it_makes_ambiguous() -> None:
    features = [A, B, C, D]
    pairs = pairs_of(features)
    decided = {
        pair_id(pairs, A, B): wins(A),
        pair_id(pairs, B, C): wins(B),
        pair_id(pairs, C, A): wins(C),  # the facilitator's overrule made a cycle
    }

    planned = plan(features, pairs, decided)

    assert planned.implied == ()
    assert planned.wanted is not None  # D still has to be placed
    assert planned.wanted not in decided


def test_skipped_pairs_imply_nothing_and_are_not_asked() -> None:
    pairs = pairs_of([A, B, C])
    ab, bc, ac = (pair_id(pairs, *x) for x in ((A, B), (B, C), (A, C)))

    # A-B skipped: nothing links A to the rest through it.
    planned = plan([A, B, C], pairs, {bc: wins(B)}, skipped={ab})
    assert planned.implied == ()
    assert planned.wanted == ac
    # A skipped pair that others imply is not marked implied (it stays skipped).
    after = plan([A, B, C], pairs, {ab: wins(A), bc: wins(B)}, skipped={ac})
    assert after.implied == ()
    assert after.wanted is None


def test_a_reopened_pair_is_asked_not_implied() -> None:
    pairs = pairs_of([A, B, C])
    ab, bc, ac = (pair_id(pairs, *x) for x in ((A, B), (B, C), (A, C)))

    planned = plan([A, B, C], pairs, {ab: wins(A), bc: wins(B)}, asked={ac})

    assert planned.implied == ()
    assert planned.wanted is None  # (it is open already: the group answers it)


def test_the_first_pair_is_the_first_two_features() -> None:
    pairs = pairs_of([A, B, C, D])
    assert plan([A, B, C, D], pairs, {}).wanted == pair_id(pairs, A, B)


# --- what it costs, and that the answer is the round robin's ------------------------------


@pytest.mark.parametrize(("n", "bound"), [(10, 25), (20, 69), (50, 237)])
def test_the_contracts_bounds(n: int, bound: int) -> None:
    assert binary_insertion_bound(n) == bound


@pytest.mark.parametrize(("n", "bound"), [(1, 0), (5, 7), (10, 22), (12, 30), (20, 62), (50, 219)])
def test_merge_insertions_worst_cases(n: int, bound: int) -> None:
    assert merge_insertion_bound(n) == bound


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(), min_size=0, max_size=40, unique=True))
def test_merge_insertion_sorts_in_at_most_its_worst_case(values: list[int]) -> None:
    asked: list[tuple[int, int]] = []

    def before(x: int, y: int) -> bool:
        asked.append((x, y))
        return x < y

    assert merge_insertion_sort(values, before) == sorted(values)
    assert len(asked) <= merge_insertion_bound(len(values))


@settings(max_examples=200, deadline=None)
@given(n=st.integers(min_value=2, max_value=12), seed=st.integers(min_value=0, max_value=2**32))
def test_a_consistent_group_is_asked_at_most_merge_insertions_worst_case(n: int, seed: int) -> None:
    # (simulate raises if a pair is left unsettled or an implication is wrong)
    asked = simulate(n, random.Random(seed))
    assert asked <= merge_insertion_bound(n) <= binary_insertion_bound(n)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(min_value=2, max_value=12), seed=st.integers(min_value=0, max_value=2**32))
def test_with_ties_it_asks_no_more(n: int, seed: int) -> None:
    assert simulate(n, random.Random(seed), ties=True) <= merge_insertion_bound(n)


@pytest.mark.parametrize("n", [20, 30])
def test_larger_sessions_stay_within_the_bound(n: int) -> None:
    rng = random.Random(n)
    for _ in range(3):
        assert simulate(n, rng) <= merge_insertion_bound(n)


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(min_value=2, max_value=9),
    seed=st.integers(min_value=0, max_value=2**32),
    ties=st.booleans(),
)
def test_the_ranking_is_the_full_round_robins(n: int, seed: int, ties: bool) -> None:
    """Same order and the same W, implied comparisons counted as decided."""
    rng = random.Random(seed)
    features = list(range(1, n + 1))
    rank = {
        f: (rng.randrange(max(1, n // 2)) if ties else r)
        for r, f in enumerate(rng.sample(features, n))
    }
    pairs = pairs_of(features)
    decided: dict[int, Outcome] = {}
    while (wanted := plan(features, pairs, decided).wanted) is not None:
        decided[wanted] = truth(rank, next(p for p in pairs if p.id == wanted))
    settled = {
        **decided,
        **{i.comparison_id: i.outcome for i in plan(features, pairs, decided).implied},
    }
    titles = [Feature(f, 1, f"F{f}") for f in features]

    def comparisons(outcomes: dict[int, Outcome]) -> list[Comparison]:
        return [Comparison(p.id, 1, p.id, p.a, p.b).with_outcome(outcomes[p.id]) for p in pairs]

    full = {p.id: truth(rank, p) for p in pairs}
    adaptive = ranking.rank(titles, comparisons(settled))
    round_robin = ranking.rank(titles, comparisons(full))
    assert adaptive == round_robin
    assert all(c.status is ComparisonStatus.DECIDED for c in comparisons(settled))


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(min_value=2, max_value=8),
    seed=st.integers(min_value=0, max_value=2**32),
    skip_share=st.floats(min_value=0.0, max_value=0.5),
)
def test_any_group_skips_and_all_always_completes(n: int, seed: int, skip_share: float) -> None:
    """Random answers (cycles included) and skips: every pair ends settled, none asked twice."""
    rng = random.Random(seed)
    features = list(range(1, n + 1))
    pairs = pairs_of(features)
    decided: dict[int, Outcome] = {}
    skipped: set[int] = set()
    asked: list[int] = []
    for _ in range(len(pairs) + 1):
        planned = plan(features, pairs, decided, skipped=skipped)
        if planned.wanted is None:
            break
        wanted = planned.wanted
        assert wanted not in asked
        asked.append(wanted)
        pair = next(p for p in pairs if p.id == wanted)
        if rng.random() < skip_share:
            skipped.add(wanted)
        else:
            decided[wanted] = rng.choice([wins(pair.a), wins(pair.b), TIE])
    else:
        pytest.fail("the schedule never finished")
    implied = {i.comparison_id for i in planned.implied}
    assert implied | set(decided) | skipped == {p.id for p in pairs}
    assert not implied & (set(decided) | skipped)
