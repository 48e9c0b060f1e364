"""What makes a comparison decided: the one place that says so.

docs/protocol.md, "Consensus". Options are feature A, feature B and tie; a
tie is counted as the option ``None``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from pairwise_ws.domain.models import Choice, ConsensusSettings, Outcome, Quorum, Rule


def expected_voters(
    settings: ConsensusSettings,
    *,
    online: Collection[int],
    voted: Collection[int],
    attendees: Collection[int],
) -> frozenset[int]:
    """The attendees a comparison waits for.

    quorum ``present``: everyone connected now plus everyone who already voted
    on it. quorum ``all``: every attendee of the project.
    """
    if settings.quorum is Quorum.ALL:
        return frozenset(attendees)
    return frozenset(online) | frozenset(voted)


def expected_voter_count(
    settings: ConsensusSettings,
    *,
    online: Collection[int],
    voted: Collection[int],
    attendees: Collection[int],
) -> int:
    """`len(expected_voters(...))` without building the set: it is on every vote's path."""
    if settings.quorum is Quorum.ALL:
        return len(attendees)
    return len(online) + sum(1 for attendee_id in voted if attendee_id not in online)


def rule_accepts(settings: ConsensusSettings, share: float) -> bool:
    if settings.rule is Rule.UNANIMOUS:
        return share >= 1.0
    if settings.rule is Rule.MAJORITY:
        return share > 0.5
    return share >= settings.threshold


def evaluate(
    votes: Mapping[int, Choice],
    expected: frozenset[int],
    settings: ConsensusSettings,
) -> Outcome | None:
    """The comparison's outcome if these votes decide it, else None.

    `votes` maps attendee id to that attendee's current choice.
    """
    if not votes or len(votes) < settings.min_votes:
        return None
    if not expected.issubset(votes.keys()):
        return None
    counts: dict[int | None, int] = {}  # (a plain loop: on every vote's path)
    for choice in votes.values():
        option = None if choice.is_tie else choice.preferred_feature_id
        counts[option] = counts.get(option, 0) + 1
    top = max(counts.values())
    leaders = [option for option, count in counts.items() if count == top]
    if len(leaders) != 1:
        return None  # two options share the lead: no rule accepts a split

    if not rule_accepts(settings, top / len(votes)):
        return None
    return Outcome.of(leaders[0])
