"""An adaptive session's comparisons after a change: `schedule.plan` applied to them.

Pure: it takes the comparisons as they are and gives them back as the plan
says, with what changed, and the session's code turns that into events.

- Every comparison the decisions imply becomes `implied` (an open one too,
  unless the facilitator asked it: a reset of an implied comparison).
- An `implied` comparison the decisions no longer imply goes back to
  `waiting` (a reset of a decision behind it).
- The pair the sort needs next is opened if it is waiting; so is, when the
  sort needs nothing more, the first waiting comparison by position (pairs
  the skips and contradictions left unsettled): while anything is waiting,
  something is open.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from pairwise_ws.domain import schedule
from pairwise_ws.domain.models import Comparison, ComparisonStatus, Schedule, Session


@attrs.frozen
class Rescheduled:
    comparisons: Mapping[int, Comparison]  # all of them, in position order
    implied: tuple[Comparison, ...] = ()  # newly implied (or implied differently)
    changed: tuple[Comparison, ...] = ()  # opened, or back to waiting


def reschedule(
    session: Session, features: Mapping[int, object], comparisons: Mapping[int, Comparison]
) -> Rescheduled:
    """The comparisons as the adaptive schedule wants them now (unchanged for `all`)."""
    if session.schedule is not Schedule.ADAPTIVE:
        return Rescheduled(comparisons)
    pairs = [schedule.Pair(c.id, c.feature_a_id, c.feature_b_id) for c in comparisons.values()]
    decided = {
        c.id: outcome
        for c in comparisons.values()
        if c.status is ComparisonStatus.DECIDED and (outcome := c.outcome) is not None
    }
    skipped = {c.id for c in comparisons.values() if c.status is ComparisonStatus.SKIPPED}
    asked = {c.id for c in comparisons.values() if c.asked}
    planned = schedule.plan(sorted(features), pairs, decided, skipped=skipped, asked=asked)
    implications = {i.comparison_id: i for i in planned.implied}
    result = dict(comparisons)
    implied: list[Comparison] = []
    changed: list[Comparison] = []
    for comparison in comparisons.values():
        found = implications.get(comparison.id)
        if found is not None and comparison.status in (
            ComparisonStatus.WAITING,
            ComparisonStatus.OPEN,
            ComparisonStatus.IMPLIED,
        ):
            now = comparison.implied(found.outcome, found.implied_by)
            if now != comparison:
                result[comparison.id] = now
                implied.append(now)
        elif found is None and comparison.status is ComparisonStatus.IMPLIED:
            back = comparison.with_status(ComparisonStatus.WAITING)
            result[comparison.id] = back
            changed.append(back)
    wanted = planned.wanted
    if wanted is not None and result[wanted].status is ComparisonStatus.WAITING:
        opened = max((c.opened for c in result.values()), default=0) + 1
        now = attrs.evolve(result[wanted].with_status(ComparisonStatus.OPEN), opened=opened)
        result[wanted] = now
        changed = [c for c in changed if c.id != wanted] + [now]
    return Rescheduled(result, tuple(implied), tuple(changed))
