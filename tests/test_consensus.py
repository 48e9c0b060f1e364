"""When a comparison is decided (pairwise_ws.domain.consensus; contract section 1, "Consensus")."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pairwise_ws.domain.consensus import evaluate, expected_voter_count, expected_voters
from pairwise_ws.domain.models import Choice, ConsensusSettings, Outcome, Quorum, Rule

A = 11  # feature A of the comparison
B = 12  # feature B
TIE = None  # the tie option

UNANIMOUS = ConsensusSettings()
MAJORITY = ConsensusSettings(rule=Rule.MAJORITY)


def supermajority(threshold: float, min_votes: int = 2) -> ConsensusSettings:
    return ConsensusSettings(rule=Rule.SUPERMAJORITY, threshold=threshold, min_votes=min_votes)


def choice(option: int | None) -> Choice:
    return Choice.tie() if option is None else Choice.feature(option)


def ballots(options: Sequence[int | None]) -> dict[int, Choice]:
    """Attendees 1..n voting `options` in order."""
    return {attendee: choice(option) for attendee, option in enumerate(options, start=1)}


def everyone(options: Sequence[int | None]) -> frozenset[int]:
    return frozenset(range(1, len(options) + 1))


# --- expected voters ----------------------------------------------------------


@pytest.mark.parametrize(
    ("quorum", "online", "voted", "expected"),
    [
        # present: connected now, plus whoever already voted (even if gone since).
        (Quorum.PRESENT, {1, 2}, set(), {1, 2}),
        (Quorum.PRESENT, {1, 2}, {1}, {1, 2}),
        (Quorum.PRESENT, {1}, {3}, {1, 3}),
        (Quorum.PRESENT, set(), set(), set()),
        # all: every attendee of the project, whoever is online.
        (Quorum.ALL, {1}, {1}, {1, 2, 3, 4}),
        (Quorum.ALL, set(), set(), {1, 2, 3, 4}),
    ],
)
def test_expected_voters(
    quorum: Quorum, online: set[int], voted: set[int], expected: set[int]
) -> None:
    settings = ConsensusSettings(quorum=quorum)

    result = expected_voters(settings, online=online, voted=voted, attendees={1, 2, 3, 4})

    assert result == frozenset(expected)


people = st.frozensets(st.integers(1, 12))


@given(st.sampled_from(Quorum), people, people, people)
def test_the_expected_voter_count_is_the_size_of_the_expected_voters(
    quorum: Quorum, online: frozenset[int], voted: frozenset[int], attendees: frozenset[int]
) -> None:
    settings = ConsensusSettings(quorum=quorum)
    sets = {"online": online, "voted": voted, "attendees": attendees}
    assert expected_voter_count(settings, **sets) == len(expected_voters(settings, **sets))


# --- evaluate: every rule -----------------------------------------------------

DECIDED_A = Outcome(winner_id=A, is_tie=False)
DECIDED_B = Outcome(winner_id=B, is_tie=False)
DECIDED_TIE = Outcome(winner_id=None, is_tie=True)


@pytest.mark.parametrize(
    ("settings", "options", "outcome"),
    [
        # unanimous: the leading option must have every vote.
        (UNANIMOUS, [A, A], DECIDED_A),
        (UNANIMOUS, [B, B, B], DECIDED_B),
        (UNANIMOUS, [A, B], None),
        (UNANIMOUS, [A, A, B], None),
        (UNANIMOUS, [A, A, TIE], None),
        (UNANIMOUS, [TIE, TIE], DECIDED_TIE),
        # majority: strictly more than half.
        (MAJORITY, [A, A, B], DECIDED_A),
        (MAJORITY, [B, TIE, B], DECIDED_B),
        (MAJORITY, [TIE, TIE, A], DECIDED_TIE),
        (MAJORITY, [A, A, B, TIE], None),  # 2/4 is not more than half
        (MAJORITY, [A, A, A, B, TIE], DECIDED_A),
        # supermajority: at least the threshold (inclusive).
        (supermajority(0.75), [A, A, A, B], DECIDED_A),  # 0.75 >= 0.75
        (supermajority(0.75), [A, A, B], None),  # 0.67 < 0.75
        (supermajority(0.75), [TIE, TIE, TIE, A], DECIDED_TIE),
        (supermajority(0.6), [A, A, B], DECIDED_A),
        (supermajority(0.6), [B, B, B, A, TIE], DECIDED_B),  # exactly 0.6
        (supermajority(0.7), [A] * 7 + [B] * 3, DECIDED_A),  # exactly 0.7
        (supermajority(0.7), [A] * 6 + [B] * 3 + [TIE], None),
        (supermajority(0.67), [A, A, B], None),  # 2/3 < 0.67
        (supermajority(1.0), [A, A, A, B], None),
        (supermajority(1.0), [A, A], DECIDED_A),
    ],
)
def test_evaluate_rules(
    settings: ConsensusSettings, options: list[int | None], outcome: Outcome | None
) -> None:
    assert evaluate(ballots(options), everyone(options), settings) == outcome


@pytest.mark.parametrize(
    ("settings", "options"),
    [
        (UNANIMOUS, [A, B]),
        (MAJORITY, [A, B]),
        (MAJORITY, [A, A, B, B]),
        (MAJORITY, [A, B, TIE]),
        (MAJORITY, [A, A, TIE, TIE, B]),
        (supermajority(0.75), [A, A, B, B]),
        # Even a (pathological) threshold a split reaches does not decide it.
        (ConsensusSettings(rule=Rule.SUPERMAJORITY, threshold=0.5), [A, B]),
        (ConsensusSettings(rule=Rule.SUPERMAJORITY, threshold=0.4), [A, A, TIE, TIE, B]),
    ],
)
def test_split_lead_is_never_decided(
    settings: ConsensusSettings, options: list[int | None]
) -> None:
    assert evaluate(ballots(options), everyone(options), settings) is None


def test_tie_outcome_has_no_winner() -> None:
    outcome = evaluate(ballots([TIE, TIE]), everyone([TIE, TIE]), UNANIMOUS)

    assert outcome is not None
    assert outcome.is_tie is True
    assert outcome.winner_id is None


# --- min_votes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("min_votes", "options", "outcome"),
    [
        (2, [A], None),
        (1, [A], DECIDED_A),
        (1, [TIE], DECIDED_TIE),
        (3, [A, A], None),
        (3, [A, A, A], DECIDED_A),
        (4, [A, A, A], None),
    ],
)
def test_min_votes(min_votes: int, options: list[int | None], outcome: Outcome | None) -> None:
    settings = ConsensusSettings(min_votes=min_votes)

    assert evaluate(ballots(options), everyone(options), settings) == outcome


# --- every expected voter must have voted --------------------------------------


@pytest.mark.parametrize("settings", [UNANIMOUS, MAJORITY, supermajority(0.75)])
def test_expected_voter_missing_is_undecided(settings: ConsensusSettings) -> None:
    votes = ballots([A, A, A])

    assert evaluate(votes, frozenset({1, 2, 3, 4}), settings) is None
    assert evaluate(votes, frozenset({1, 2, 3}), settings) == DECIDED_A


@pytest.mark.parametrize(
    ("quorum", "outcome"),
    [(Quorum.PRESENT, DECIDED_A), (Quorum.ALL, None)],
)
def test_quorum_present_vs_all(quorum: Quorum, outcome: Outcome | None) -> None:
    """Two of three attendees are connected and both chose A."""
    settings = ConsensusSettings(quorum=quorum)
    votes = ballots([A, A])
    expected = expected_voters(settings, online={1, 2}, voted=votes.keys(), attendees={1, 2, 3})

    assert evaluate(votes, expected, settings) == outcome


def test_quorum_present_waits_for_a_voter_who_left() -> None:
    """Someone who voted and left still counts: their vote stands."""
    settings = ConsensusSettings(rule=Rule.MAJORITY)
    votes = ballots([A, B, B])
    expected = expected_voters(settings, online={1}, voted=votes.keys(), attendees={1, 2, 3})

    assert expected == frozenset({1, 2, 3})
    assert evaluate(votes, expected, settings) == DECIDED_B
