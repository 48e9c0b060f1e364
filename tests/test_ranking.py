"""The ranking: P-WVC weights, tie-breaks, shared ranks and preference cycles."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Sequence

import pytest

from pairwise_ws.domain.models import Comparison, ComparisonStatus, Feature
from pairwise_ws.domain.ranking import Ranking, Standing, combine, find_cycles, rank

SESSION_ID = 1

# (feature_a_id, feature_b_id, winner_id); winner None is a tie.
Result = tuple[int, int, int | None]


def make_features(ids: Iterable[int]) -> list[Feature]:
    return [Feature(id=i, project_id=1, title=f"Feature {i}") for i in ids]


def make_comparisons(results: Iterable[Result], first_id: int = 1) -> list[Comparison]:
    """Decided comparisons, one per (a, b, winner)."""
    return [
        Comparison(
            id=first_id + position,
            session_id=SESSION_ID,
            position=position,
            feature_a_id=a,
            feature_b_id=b,
            status=ComparisonStatus.DECIDED,
            winner_id=winner,
            is_tie=winner is None,
        )
        for position, (a, b, winner) in enumerate(results)
    ]


def beats(*edges: tuple[int, int]) -> list[Result]:
    """(winner, loser) pairs as results."""
    return [(winner, loser, winner) for winner, loser in edges]


def table(ranking: Ranking) -> list[tuple[int, int, float]]:
    """(feature id, rank, W) in standing order."""
    return [(s.feature_id, s.rank, s.win_count_weight) for s in ranking.standings]


def by_id(ranking: Ranking) -> dict[int, Standing]:
    return {s.feature_id: s for s in ranking.standings}


def brute_force_triangles(results: Sequence[Result]) -> list[tuple[int, ...]]:
    """Every 3-cycle, canonical, by trying all ordered triples."""
    edges = {(w, b if w == a else a) for a, b, w in results if w is not None}
    nodes = sorted({n for edge in edges for n in edge})
    return sorted(
        (a, b, c)
        for a, b, c in itertools.permutations(nodes, 3)
        if a < b and a < c and {(a, b), (b, c), (c, a)} <= edges
    )


def random_tournament(count: int, rng: random.Random, tie_share: float = 0.1) -> list[Result]:
    results: list[Result] = []
    for a, b in itertools.combinations(range(1, count + 1), 2):
        roll = rng.random()
        winner = None if roll < tie_share else (a if roll < (1 + tie_share) / 2 else b)
        results.append((a, b, winner))
    rng.shuffle(results)
    return results


# --- win-count weight ---------------------------------------------------------


def test_transitive_tournament_ranks_in_order() -> None:
    results = beats((1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4))
    ranking = rank(make_features([4, 3, 2, 1]), make_comparisons(results))

    assert table(ranking) == [(1, 1, 1.0), (2, 2, 0.6667), (3, 3, 0.3333), (4, 4, 0.0)]
    assert [(s.wins, s.losses, s.ties) for s in ranking.standings] == [
        (3, 0, 0),
        (2, 1, 0),
        (1, 2, 0),
        (0, 3, 0),
    ]
    # SB(1) = W2 + W3 + W4 = 2/3 + 1/3 + 0; SB(2) = W3 + W4 = 1/3.
    assert [s.sonneborn_berger for s in ranking.standings] == [1.0, 0.3333, 0.0, 0.0]
    assert ranking.cycles == ()
    assert [s.title for s in ranking.standings] == [f"Feature {i}" for i in (1, 2, 3, 4)]


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        pytest.param(
            # 1: 1 win + 1 tie of 2 -> 0.75; 2: 2 ties of 2 -> 0.5; 3: 1 tie of 2 -> 0.25.
            [(1, 2, None), (1, 3, 1), (3, 2, None)],
            [(1, 1, 0.75), (2, 2, 0.5), (3, 3, 0.25)],
            id="wins-and-ties",
        ),
        pytest.param(
            # Only ties: everyone scores half of each comparison.
            [(1, 2, None), (2, 3, None), (1, 3, None)],
            [(1, 1, 0.5), (2, 1, 0.5), (3, 1, 0.5)],
            id="all-ties",
        ),
        pytest.param(
            # 1: 1 tie of 3 -> 1/6; 2: 1 tie + 2 wins of 3 -> 5/6.
            [(1, 2, None), (2, 3, 2), (2, 4, 2), (1, 3, 3), (1, 4, 4), (3, 4, None)],
            [(2, 1, 0.8333), (3, 2, 0.5), (4, 2, 0.5), (1, 4, 0.1667)],
            id="sixths",
        ),
    ],
)
def test_ties_count_as_half_a_win(
    results: list[Result], expected: list[tuple[int, int, float]]
) -> None:
    features = sorted({f for a, b, _ in results for f in (a, b)})
    ranking = rank(make_features(features), make_comparisons(results))

    assert table(ranking) == expected
    for standing in ranking.standings:
        involved = [r for r in results if standing.feature_id in r[:2]]
        assert standing.ties == sum(1 for r in involved if r[2] is None)


@pytest.mark.parametrize("status", [ComparisonStatus.OPEN, ComparisonStatus.SKIPPED])
@pytest.mark.parametrize(("winner", "is_tie"), [(None, False), (2, False), (None, True)])
def test_open_and_skipped_comparisons_are_ignored(
    status: ComparisonStatus, winner: int | None, is_tie: bool
) -> None:
    decided = make_comparisons(beats((1, 2)))
    # Even a stale outcome on a comparison that is not decided must not count.
    ignored = Comparison(
        id=99,
        session_id=SESSION_ID,
        position=1,
        feature_a_id=2,
        feature_b_id=1,
        status=status,
        winner_id=winner,
        is_tie=is_tie,
    )
    ranking = rank(make_features([1, 2]), [*decided, ignored])

    assert table(ranking) == [(1, 1, 1.0), (2, 2, 0.0)]
    assert [(s.wins, s.losses, s.ties) for s in ranking.standings] == [(1, 0, 0), (0, 1, 0)]
    assert ranking == rank(make_features([1, 2]), decided)
    assert find_cycles([*decided, ignored]) == ()


def test_feature_without_decided_comparisons_scores_zero() -> None:
    comparisons = [
        *make_comparisons(beats((1, 2))),
        Comparison(id=50, session_id=SESSION_ID, position=1, feature_a_id=3, feature_b_id=1),
    ]
    ranking = rank(make_features([1, 2, 3]), comparisons)

    undecided = by_id(ranking)[3]
    assert (undecided.wins, undecided.losses, undecided.ties) == (0, 0, 0)
    assert undecided.win_count_weight == 0.0
    assert undecided.sonneborn_berger == 0.0
    # 2 lost its only comparison, also W = 0.0: no head-to-head, SB 0 for both,
    # so they share rank 2.
    assert table(ranking) == [(1, 1, 1.0), (2, 2, 0.0), (3, 2, 0.0)]


def test_no_comparisons_at_all_everyone_shares_rank_one() -> None:
    ranking = rank(make_features([3, 1, 2]), [])

    assert table(ranking) == [(1, 1, 0.0), (2, 1, 0.0), (3, 1, 0.0)]
    assert ranking.cycles == ()


def test_no_features() -> None:
    assert rank([], []) == Ranking(standings=(), cycles=())


# --- tie-breaks ---------------------------------------------------------------


def test_equal_weight_broken_by_head_to_head_between_two() -> None:
    # 1 beat 2 and 4, lost to 3       -> W 2/3
    # 2 beat 3 and 4, lost to 1       -> W 2/3, head-to-head: 1 over 2
    # 3 beat 1, lost to 2 and 4       -> W 1/3
    # 4 beat 3, lost to 1 and 2       -> W 1/3, head-to-head: 4 over 3
    # SB(3) = W1 = 2/3 beats SB(4) = W3 = 1/3, yet head-to-head comes first.
    results = beats((1, 2), (1, 4), (3, 1), (2, 3), (2, 4), (4, 3))
    ranking = rank(make_features([1, 2, 3, 4]), make_comparisons(results))

    assert table(ranking) == [(1, 1, 0.6667), (2, 2, 0.6667), (4, 3, 0.3333), (3, 4, 0.3333)]
    standings = by_id(ranking)
    assert standings[3].sonneborn_berger == 0.6667
    assert standings[4].sonneborn_berger == 0.3333


def test_equal_weight_in_three_way_group_broken_by_mini_score() -> None:
    # Group {1, 2, 3}, all W = 2/4 = 0.5:
    #   1 beat 2 and 3, lost to 4 and 5     mini-score 2
    #   2 beat 3 and 4, lost to 1 and 5     mini-score 1
    #   3 beat 4 and 5, lost to 1 and 2     mini-score 0
    # 4: beat 1, lost to 2 and 3 -> 1/3; 5: beat 1 and 2, lost to 3 -> 2/3.
    # SB would say 1 = 3 (1.0) > 2 (0.8333): the mini-score decides first.
    results = beats((1, 2), (1, 3), (4, 1), (5, 1), (2, 3), (2, 4), (5, 2), (3, 4), (3, 5))
    ranking = rank(make_features(range(1, 6)), make_comparisons(results))

    assert table(ranking) == [
        (5, 1, 0.6667),
        (1, 2, 0.5),
        (2, 3, 0.5),
        (3, 4, 0.5),
        (4, 5, 0.3333),
    ]
    assert [by_id(ranking)[f].sonneborn_berger for f in (1, 2, 3)] == [1.0, 0.8333, 1.0]


@pytest.mark.parametrize(
    ("results", "expected_w", "expected_sb"),
    [
        pytest.param(
            # 1 and 2 never met (mini-scores 0 and 0), both W = 1/1.
            # 3: lost to 1, beat 4 -> W 0.5; 4: lost to 2 and 3 -> W 0.
            # SB(1) = W3 = 0.5, SB(2) = W4 = 0.0 -> 1 over 2.
            [(1, 3, 1), (2, 4, 2), (3, 4, 3)],
            {1: 1.0, 2: 1.0, 3: 0.5, 4: 0.0},
            {1: 0.5, 2: 0.0, 3: 0.0, 4: 0.0},
            id="never-met",
        ),
        pytest.param(
            # As above plus 1 tied 2: both W = 1.5/2 = 0.75, mini-scores 0.5 and 0.5.
            # SB(1) = W3 + 0.5 * W2 = 0.5 + 0.375 = 0.875
            # SB(2) = W4 + 0.5 * W1 = 0.0 + 0.375 = 0.375 -> 1 over 2.
            [(1, 3, 1), (2, 4, 2), (3, 4, 3), (1, 2, None)],
            {1: 0.75, 2: 0.75, 3: 0.5, 4: 0.0},
            {1: 0.875, 2: 0.375, 3: 0.0, 4: 0.0},
            id="tied-each-other",
        ),
        pytest.param(
            # Same, with the better-SB feature having the larger id: 2 over 1.
            [(2, 3, 2), (1, 4, 1), (3, 4, 3), (1, 2, None)],
            {2: 0.75, 1: 0.75, 3: 0.5, 4: 0.0},
            {2: 0.875, 1: 0.375, 3: 0.0, 4: 0.0},
            id="larger-id-first",
        ),
    ],
)
def test_equal_weight_and_head_to_head_broken_by_sonneborn_berger(
    results: list[Result], expected_w: dict[int, float], expected_sb: dict[int, float]
) -> None:
    ranking = rank(make_features([1, 2, 3, 4]), make_comparisons(results))

    assert [s.feature_id for s in ranking.standings] == list(expected_w)
    assert [s.rank for s in ranking.standings] == [1, 2, 3, 4]
    assert {s.feature_id: s.win_count_weight for s in ranking.standings} == expected_w
    assert {s.feature_id: s.sonneborn_berger for s in ranking.standings} == expected_sb


def test_sub_group_after_head_to_head_is_split_by_sonneborn_berger_only() -> None:
    # 1 beat 5, 2 beat 6, 5 beat 6, 7 beat 1, 8 beat 2:
    #   1: beat 5, lost to 7 -> 0.5       2: beat 6, lost to 8 -> 0.5
    #   5: lost 1, beat 6 -> 0.5          6: lost 2, lost 5 -> 0.0
    #   7: beat 1 -> 1.0                  8: beat 2 -> 1.0
    # Group {1, 2, 5} (W 0.5): mini 1 (beat 5) = 1, 5 = 0, 2 = 0.
    # Sub-group {2, 5} (mini 0): SB(2) = W6 = 0.0, SB(5) = W6 = 0.0 -> shared rank.
    # Head-to-head is not recomputed for {2, 5} (they never met anyway).
    # Group {7, 8} (W 1.0): never met; SB(7) = W1 = 0.5, SB(8) = W2 = 0.5 -> shared.
    results = beats((1, 5), (2, 6), (5, 6), (7, 1), (8, 2))
    ranking = rank(make_features([1, 2, 5, 6, 7, 8]), make_comparisons(results))

    assert table(ranking) == [
        (7, 1, 1.0),
        (8, 1, 1.0),
        (1, 3, 0.5),
        (2, 4, 0.5),
        (5, 4, 0.5),
        (6, 6, 0.0),
    ]


@pytest.mark.parametrize(
    ("results", "expected_ranks"),
    [
        pytest.param(
            # 1 tied 2, both beat 3: W 0.75 each, mini 0.5 each,
            # SB = 0.5 * 0.75 + W3 (0) = 0.375 each -> share 1, then 3.
            [(1, 2, None), (1, 3, 1), (2, 3, 2)],
            [(1, 1), (2, 1), (3, 3)],
            id="1-1-3",
        ),
        pytest.param(
            # 1 beat everyone; 2, 3, 4 in a cycle: W 1/3 each, mini 1 each,
            # SB = W of the one they beat = 1/3 each -> 1, 2, 2, 2.
            [(1, 2, 1), (1, 3, 1), (1, 4, 1), (2, 3, 2), (3, 4, 3), (4, 2, 4)],
            [(1, 1), (2, 2), (3, 2), (4, 2)],
            id="1-2-2-2",
        ),
        pytest.param(
            # Two separate pairs that each tied: W 0.5 all round, mini 0.5 each
            # within the group, SB 0.25 each -> all share rank 1.
            [(1, 2, None), (3, 4, None)],
            [(1, 1), (2, 1), (3, 1), (4, 1)],
            id="1-1-1-1",
        ),
        pytest.param(
            # 2 tied 3 and both beat 4; 1 beat 2 and 3; 4 beat nobody.
            # W: 1 = 1.0; 2, 3 = 1.5/3 = 0.5; 4 = 0 -> 1, 2, 2, 4.
            [(1, 2, 1), (1, 3, 1), (2, 3, None), (2, 4, 2), (3, 4, 3)],
            [(1, 1), (2, 2), (3, 2), (4, 4)],
            id="1-2-2-4",
        ),
    ],
)
def test_fully_tied_features_share_a_rank_and_the_next_rank_skips(
    results: list[Result], expected_ranks: list[tuple[int, int]]
) -> None:
    features = sorted({f for a, b, _ in results for f in (a, b)}, reverse=True)
    ranking = rank(make_features(features), make_comparisons(results))

    assert [(s.feature_id, s.rank) for s in ranking.standings] == expected_ranks


# --- cycles -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        pytest.param([(1, 2), (2, 3), (3, 1)], (1, 2, 3), id="ascending"),
        pytest.param([(2, 1), (1, 3), (3, 2)], (1, 3, 2), id="descending"),
        pytest.param([(5, 3), (3, 8), (8, 5)], (3, 8, 5), id="rotated"),
    ],
)
def test_three_cycle_reported_once_and_everyone_shares_rank_one(
    edges: list[tuple[int, int]], expected: tuple[int, ...]
) -> None:
    comparisons = make_comparisons(beats(*edges))
    ranking = rank(make_features(sorted(expected)), comparisons)

    assert ranking.cycles == (expected,)
    assert find_cycles(comparisons) == (expected,)
    # Each has W 0.5, mini-score 1 and SB 0.5 (beat one opponent of W 0.5).
    assert [(s.rank, s.win_count_weight, s.sonneborn_berger) for s in ranking.standings] == [
        (1, 0.5, 0.5)
    ] * 3
    assert [s.feature_id for s in ranking.standings] == sorted(expected)


def test_cycle_with_a_tie_is_no_cycle() -> None:
    comparisons = make_comparisons([(1, 2, 1), (2, 3, 2), (3, 1, None)])

    assert find_cycles(comparisons) == ()


def test_four_cycle_without_three_cycle_reported_as_one_cycle() -> None:
    comparisons = make_comparisons(beats((1, 2), (2, 3), (3, 4), (4, 1)))
    ranking = rank(make_features([1, 2, 3, 4]), comparisons)

    assert ranking.cycles == ((1, 2, 3, 4),)
    assert find_cycles(reversed(comparisons)) == ((1, 2, 3, 4),)
    assert {s.rank for s in ranking.standings} == {1}


def test_component_with_three_cycles_reports_only_those() -> None:
    # 1>2>3>4>1 plus the chord 1>3 closes the 3-cycle 1>3>4>1; the 4-cycle is
    # not reported because its component already holds a 3-cycle.
    comparisons = make_comparisons(beats((1, 2), (2, 3), (3, 4), (4, 1), (1, 3)))

    assert find_cycles(comparisons) == ((1, 3, 4),)


def test_cycles_sorted_by_length_then_ids() -> None:
    results = [
        # A 4-cycle 10>11>12>13>10, no chord.
        *beats((10, 11), (11, 12), (12, 13), (13, 10)),
        # A tournament on 5..8 with two 3-cycles: 5>6>7>5 and 5>6>8>5... plus
        # 7 beats 8: 3-cycles are (5, 6, 7) and (5, 6, 8).
        *beats((5, 6), (6, 7), (7, 5), (6, 8), (8, 5), (7, 8)),
        # The same pair decided both ways (two comparisons): a 2-cycle.
        *beats((21, 20), (20, 21)),
        # A 3-cycle with small ids.
        *beats((3, 1), (1, 2), (2, 3)),
    ]
    assert find_cycles(make_comparisons(results)) == (
        (20, 21),
        (1, 2, 3),
        (5, 6, 7),
        (5, 6, 8),
        (10, 11, 12, 13),
    )


@pytest.mark.parametrize("count", [2, 3, 5, 12])
def test_transitive_tournament_has_no_cycles(count: int) -> None:
    results = beats(*itertools.combinations(range(1, count + 1), 2))
    comparisons = make_comparisons(results)
    ranking = rank(make_features(range(1, count + 1)), comparisons)

    assert ranking.cycles == ()
    assert find_cycles(comparisons) == ()
    assert [(s.feature_id, s.rank) for s in ranking.standings] == [
        (i, i) for i in range(1, count + 1)
    ]


def test_long_chain_with_a_back_edge_is_one_long_cycle() -> None:
    # 1>2>...>500>1: deep enough to break a recursive SCC search.
    count = 500
    edges = [(i, i + 1) for i in range(1, count)] + [(count, 1)]

    assert find_cycles(make_comparisons(beats(*edges))) == (tuple(range(1, count + 1)),)


@pytest.mark.parametrize("limit", [0, 1, 2, 7, 40, 46, 47, 48])
def test_limit_caps_the_cycles(limit: int) -> None:
    # 46 3-cycles among 1..12, then one 4-cycle among 100..103.
    results = [
        *random_tournament(12, random.Random(3), tie_share=0.0),
        *beats((100, 101), (101, 102), (102, 103), (103, 100)),
    ]
    comparisons = make_comparisons(results)
    everything = find_cycles(comparisons, limit=10_000)
    assert len(everything) == 47
    assert everything[-1] == (100, 101, 102, 103)

    capped = find_cycles(comparisons, limit=limit)

    assert len(capped) == min(limit, 47)
    assert capped == everything[:limit]


def test_negative_limit_is_rejected() -> None:
    with pytest.raises(ValueError, match="limit"):
        find_cycles([], limit=-1)


def test_rank_caps_cycles_at_one_hundred() -> None:
    results = random_tournament(15, random.Random(5), tie_share=0.0)
    comparisons = make_comparisons(results)
    assert len(brute_force_triangles(results)) > 100

    ranking = rank(make_features(range(1, 16)), comparisons)

    assert len(ranking.cycles) == 100
    assert ranking.cycles == find_cycles(comparisons)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_three_cycles_match_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    results = random_tournament(9, rng, tie_share=0.2)

    assert list(find_cycles(make_comparisons(results), limit=10_000)) == (
        brute_force_triangles(results)
    )


# --- larger tournaments -------------------------------------------------------


def test_forty_feature_random_tournament() -> None:
    count = 40
    results = random_tournament(count, random.Random(7))
    comparisons = make_comparisons(results)
    assert len(comparisons) == 780

    ranking = rank(make_features(range(1, count + 1)), comparisons)

    assert sorted(s.feature_id for s in ranking.standings) == list(range(1, count + 1))
    for standing in ranking.standings:
        involved = [r for r in results if standing.feature_id in r[:2]]
        assert standing.wins + standing.losses + standing.ties == len(involved) == count - 1
        wins = sum(1 for r in involved if r[2] == standing.feature_id)
        ties = sum(1 for r in involved if r[2] is None)
        assert (standing.wins, standing.ties) == (wins, ties)
        assert standing.win_count_weight == round((wins + 0.5 * ties) / (count - 1), 4)

    # Competition ranking, W never increasing down the table.
    previous: Standing | None = None
    for position, standing in enumerate(ranking.standings, start=1):
        if previous is not None and standing.rank == previous.rank:
            assert standing.feature_id > previous.feature_id
        else:
            assert standing.rank == position
        if previous is not None:
            assert standing.win_count_weight <= previous.win_count_weight
        previous = standing

    assert ranking.cycles == tuple(brute_force_triangles(results)[:100])


# --- bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("feature_a_id", "feature_b_id", "winner_id", "is_tie"),
    [
        pytest.param(1, 2, 3, False, id="winner-not-in-comparison"),
        pytest.param(1, 2, None, False, id="no-winner-no-tie"),
        pytest.param(1, 2, 1, True, id="tie-with-winner"),
        pytest.param(1, 1, 1, False, id="feature-against-itself"),
    ],
)
def test_malformed_decided_comparison_is_rejected(
    feature_a_id: int, feature_b_id: int, winner_id: int | None, is_tie: bool
) -> None:
    comparison = Comparison(
        id=7,
        session_id=SESSION_ID,
        position=0,
        feature_a_id=feature_a_id,
        feature_b_id=feature_b_id,
        status=ComparisonStatus.DECIDED,
        winner_id=winner_id,
        is_tie=is_tie,
    )
    with pytest.raises(ValueError, match="comparison 7"):
        rank(make_features([1, 2, 3]), [comparison])
    with pytest.raises(ValueError, match="comparison 7"):
        find_cycles([comparison])


def test_duplicate_feature_is_rejected() -> None:
    with pytest.raises(ValueError, match="feature 1"):
        rank(make_features([1, 2, 1]), [])


def test_comparisons_with_unknown_features_are_ignored() -> None:
    # 9 is not one of the session's features: its comparisons count for
    # nobody, not even in the cycles.
    results = beats((1, 2), (9, 1), (2, 9))
    ranking = rank(make_features([1, 2]), make_comparisons(results))

    assert table(ranking) == [(1, 1, 1.0), (2, 2, 0.0)]
    assert ranking.cycles == ()
    assert find_cycles(make_comparisons(results)) == ((1, 2, 9),)


# --- value over complexity -----------------------------------------------------


def ranked(results: list[Result], ids: Iterable[int] = (1, 2, 3, 4)) -> Ranking:
    return rank(make_features(ids), make_comparisons(results))


def test_combined_ranks_value_over_complexity_highest_first() -> None:
    # Value: 1 beats everyone, 2 beats 3 and 4, 3 beats 4 -> W 1, 2/3, 1/3, 0.
    value = ranked(beats((1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4)))
    # Complexity (winner = more complex): 1 most complex, 2 least.
    complexity = ranked(beats((1, 2), (1, 3), (1, 4), (3, 2), (4, 2), (3, 4)))

    rows = combine(value, complexity)

    # value / complexity: 1 -> 1/1; 2 -> (2/3)/0 = unbounded; 3 -> (1/3)/(2/3); 4 -> 0/(1/3).
    assert [(r.feature_id, r.rank, r.ratio) for r in rows] == [
        (2, 1, None),  # value, and never judged the more complex: first
        (1, 2, 1.0),
        (3, 3, 0.5),
        (4, 4, 0.0),
    ]
    first = rows[0]
    assert (first.value_weight, first.complexity_weight) == (0.6667, 0.0)


def test_combined_shares_ranks_on_equal_ratios() -> None:
    value = ranked([(1, 2, None), (3, 4, None)])  # everyone W 0.5
    complexity = ranked([(1, 2, None), (3, 4, None)])

    rows = combine(value, complexity)

    assert [(r.rank, r.ratio) for r in rows] == [(1, 1.0)] * 4


def test_combined_puts_features_with_nothing_known_last() -> None:
    value = ranked(beats((1, 2)), ids=(1, 2, 3))  # 3 never compared: W 0
    complexity = ranked(beats((2, 1)), ids=(1, 2, 3))

    rows = combine(value, complexity)

    assert [(r.feature_id, r.rank) for r in rows] == [(1, 1), (2, 2), (3, 3)]
    assert rows[-1].ratio is None
    assert rows[-1].value_weight == 0.0


def test_combined_only_lists_features_in_both_sessions() -> None:
    value = ranked(beats((1, 2)), ids=(1, 2, 5))
    complexity = ranked(beats((1, 2)), ids=(1, 2))

    assert {r.feature_id for r in combine(value, complexity)} == {1, 2}
