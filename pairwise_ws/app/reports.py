"""Results as JSON, a table or CSV: presentation only, no I/O."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from typing import Any

import attrs

from pairwise_ws.app.operations import Combined, Results
from pairwise_ws.domain.models import UNSETTLED, ComparisonStatus, Schedule, Vote
from pairwise_ws.domain.ranking import CombinedStanding, Standing
from pairwise_ws.wire import ComparisonWithVotesView, SessionView, converter


@attrs.frozen
class AttendeeNameView:
    attendee_id: int
    name: str
    removed: bool = False  # (`attendee remove`: the votes stay)


@attrs.frozen
class ResultsView:
    session: SessionView
    ranking: tuple[Standing, ...]
    cycles: tuple[tuple[int, ...], ...]
    comparisons: tuple[ComparisonWithVotesView, ...]
    # Beyond the documented keys: value over complexity, or None; and who the
    # votes' attendee ids are.
    combined: Combined | None
    attendees: tuple[AttendeeNameView, ...]


def results_view(results: Results) -> ResultsView:
    """The same comparison objects (with their votes) as `session_state` carries."""
    features = {f.id: f for f in results.features}
    votes_by_comparison: dict[int, list[Vote]] = {}
    for vote in results.votes:
        votes_by_comparison.setdefault(vote.comparison_id, []).append(vote)
    return ResultsView(
        session=SessionView.of(results.session),
        ranking=results.ranking.standings,
        cycles=results.ranking.cycles,
        comparisons=tuple(
            ComparisonWithVotesView.of(c, features, votes_by_comparison.get(c.id, ()))
            for c in results.comparisons
        ),
        combined=results.combined,
        attendees=tuple(
            [AttendeeNameView(a.id, a.name) for a in results.attendees]
            + [AttendeeNameView(a.id, a.name, removed=True) for a in results.removed]
        ),
    )


def results_json(results: Results) -> dict[str, Any]:
    data: dict[str, Any] = converter.unstructure(results_view(results))
    return data


CSV_COLUMNS = ("rank", "feature_id", "title", "win_count_weight", "wins", "losses", "ties")


def combined_json(combined: Combined) -> dict[str, Any]:
    data: dict[str, Any] = converter.unstructure(combined)
    return data


COMBINED_CSV_COLUMNS = (
    "rank",
    "feature_id",
    "title",
    "ratio",
    "value_weight",
    "complexity_weight",
)


def implied_counts(results: Results) -> dict[int, int] | None:
    """Per feature, how many of its outcomes were implied; None for a session of every pair."""
    if results.session.schedule is not Schedule.ADAPTIVE:
        return None
    counts = {f.id: 0 for f in results.features}
    for c in results.comparisons:
        if c.status is ComparisonStatus.IMPLIED:
            counts[c.feature_a_id] += 1
            counts[c.feature_b_id] += 1
    return counts


def results_csv(results: Results) -> str:
    """The ranking; an adaptive session's adds `implied` (outcomes settled by transitivity)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    implied = implied_counts(results)
    writer.writerow(CSV_COLUMNS if implied is None else (*CSV_COLUMNS, "implied"))
    for s in results.ranking.standings:
        row: tuple[object, ...] = (
            s.rank,
            s.feature_id,
            s.title,
            f"{s.win_count_weight:.4f}",
            s.wins,
            s.losses,
            s.ties,
        )
        writer.writerow(row if implied is None else (*row, implied[s.feature_id]))
    return out.getvalue()


def combined_csv(combined: Combined) -> str:
    """The combined view as CSV; an empty ratio means complexity weight 0."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COMBINED_CSV_COLUMNS)
    for row in combined.rows:
        ratio = "" if row.ratio is None else f"{row.ratio:.4f}"
        writer.writerow(
            (
                row.rank,
                row.feature_id,
                row.title,
                ratio,
                f"{row.value_weight:.4f}",
                f"{row.complexity_weight:.4f}",
            )
        )
    return out.getvalue()


def _ratio_text(row: CombinedStanding) -> str:
    if row.ratio is not None:
        return f"{row.ratio:.3f}"
    return "inf" if row.value_weight > 0 else "-"


def combined_table(combined: Combined) -> str:
    header = ("Rank", "Feature", "Value/Complexity", "Value W", "Complexity W")
    rows = [
        (
            str(r.rank),
            r.title,
            _ratio_text(r),
            f"{r.value_weight:.3f}",
            f"{r.complexity_weight:.3f}",
        )
        for r in combined.rows
    ]
    title = (
        f"Combined: value (session {combined.value_session_id}) over complexity "
        f"(session {combined.complexity_session_id}), highest first"
    )
    return "\n".join([title, "", *_table(header, rows, numeric={0, 2, 3, 4})])


def _table(
    header: tuple[str, ...], rows: Sequence[tuple[str, ...]], *, numeric: set[int]
) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: tuple[str, ...]) -> str:
        cells = [
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        return "  ".join(cells).rstrip()

    return [fmt(header), "  ".join("-" * w for w in widths), *(fmt(row) for row in rows)]


def results_table(results: Results) -> str:
    session = results.session
    by_status = Counter(c.status for c in results.comparisons)
    progress_done = len(results.comparisons) - sum(by_status[s] for s in UNSETTLED)
    lines = [
        f"Session {session.id} ({session.criterion}, {session.status}): "
        f"{progress_done}/{len(results.comparisons)} comparisons settled",
    ]
    implied = implied_counts(results)
    if implied is not None:
        lines.append(
            f"Adaptive schedule: {by_status[ComparisonStatus.DECIDED]} decided by the group, "
            f"{by_status[ComparisonStatus.IMPLIED]} implied by transitivity, "
            f"{by_status[ComparisonStatus.SKIPPED]} skipped"
        )
    lines.append("")
    header: tuple[str, ...] = ("Rank", "Feature", "W", "Wins", "Losses", "Ties")
    rows: list[tuple[str, ...]] = [
        (str(s.rank), s.title, f"{s.win_count_weight:.3f}", str(s.wins), str(s.losses), str(s.ties))
        for s in results.ranking.standings
    ]
    if implied is not None:
        header = (*header, "Implied")
        rows = [
            (*row, str(implied[s.feature_id]))
            for row, s in zip(rows, results.ranking.standings, strict=True)
        ]
    lines.extend(_table(header, rows, numeric={0, 2, 3, 4, 5, 6}))
    if results.ranking.cycles:
        titles = {f.id: f.title for f in results.features}
        lines.append("")
        lines.append("Preference cycles (the group's answers contradict each other):")
        for cycle in results.ranking.cycles:
            names = [titles.get(i, str(i)) for i in cycle]
            lines.append("  " + " > ".join([*names, names[0]]))
    if results.combined is not None:
        lines.extend(["", combined_table(results.combined)])
    return "\n".join(lines)
