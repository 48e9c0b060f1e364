"""Results as JSON, a table or CSV: presentation only, no I/O."""

from __future__ import annotations

import csv
import io
from typing import Any

import attrs

from pairwise_ws.domain.models import Vote
from pairwise_ws.domain.ranking import Standing
from pairwise_ws.operations import Results
from pairwise_ws.protocol import ComparisonWithVotesView, SessionView, converter


@attrs.frozen
class ResultsView:
    session: SessionView
    ranking: tuple[Standing, ...]
    cycles: tuple[tuple[int, ...], ...]
    comparisons: tuple[ComparisonWithVotesView, ...]


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
    )


def results_json(results: Results) -> dict[str, Any]:
    data: dict[str, Any] = converter.unstructure(results_view(results))
    return data


CSV_COLUMNS = ("rank", "feature_id", "title", "win_count_weight", "wins", "losses", "ties")


def results_csv(results: Results) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in results.ranking.standings:
        writer.writerow(
            (s.rank, s.feature_id, s.title, f"{s.win_count_weight:.4f}", s.wins, s.losses, s.ties)
        )
    return out.getvalue()


def results_table(results: Results) -> str:
    session = results.session
    progress_done = sum(1 for c in results.comparisons if c.status.value != "open")
    lines = [
        f"Session {session.id} ({session.criterion}, {session.status}): "
        f"{progress_done}/{len(results.comparisons)} comparisons settled",
        "",
    ]
    header = ("Rank", "Feature", "W", "Wins", "Losses", "Ties")
    rows = [
        (str(s.rank), s.title, f"{s.win_count_weight:.3f}", str(s.wins), str(s.losses), str(s.ties))
        for s in results.ranking.standings
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    numeric = {0, 2, 3, 4, 5}

    def fmt(row: tuple[str, ...]) -> str:
        cells = [
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        return "  ".join(cells).rstrip()

    lines.append(fmt(header))
    lines.append("  ".join("-" * w for w in widths))
    lines.extend(fmt(row) for row in rows)
    if results.ranking.cycles:
        titles = {f.id: f.title for f in results.features}
        lines.append("")
        lines.append("Preference cycles (the group's answers contradict each other):")
        for cycle in results.ranking.cycles:
            names = [titles.get(i, str(i)) for i in cycle]
            lines.append("  " + " > ".join([*names, names[0]]))
    return "\n".join(lines)
