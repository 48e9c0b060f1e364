"""The live changes a room commits: votes in runs, outcomes, status.

Each function runs inside the caller's transaction (`Store.record`, `record_many`).
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlite_utils

from pairwise_ws.clock import format_time, now_utc
from pairwise_ws.domain.models import (
    SETTLED_WITH_OUTCOME,
    Comparison,
    SessionStatus,
)
from pairwise_ws.domain.session import (
    ComparisonChanged,
    ComparisonsImplied,
    ConsensusLost,
    ConsensusReached,
    Event,
    SessionClosed,
    SessionCompleted,
    SessionReopened,
    VoteRecorded,
    VoteRetracted,
    VotesCleared,
)
from pairwise_ws.storage.schema import (
    VOTE_ROWS_PER_STATEMENT,
    vote_history_insert_sql,
    votes_upsert_sql,
)


def record_events(db: sqlite_utils.Database, session_id: int, events: Iterable[Event]) -> None:
    """Store `events` in order; each run of votes with two statements for all of it."""
    votes: list[tuple[int, int, int | None, int, str]] = []
    for event in events:
        if isinstance(event, VoteRecorded):
            vote = event.vote
            choice = vote.choice
            votes.append(
                (
                    vote.comparison_id,
                    vote.attendee_id,
                    choice.preferred_feature_id,
                    int(choice.is_tie),
                    format_time(vote.voted_at),
                )
            )
            continue
        if votes:
            _record_votes(db, votes)
            votes = []
        _record_one(db, session_id, event)
    if votes:
        _record_votes(db, votes)


def _record_votes(
    db: sqlite_utils.Database, rows: list[tuple[int, int, int | None, int, str]]
) -> None:
    # Plain SQL on the hot path, in the order given (a later vote of the
    # same attendee on the same comparison replaces the earlier one), and
    # many rows per statement: each statement is one sqlite3_step, and each
    # step releases and takes back the GIL, which the event loop holds most
    # of the time; a row per step made a 200-vote commit wait for the GIL
    # 400 times.
    conn = db.conn
    for start in range(0, len(rows), VOTE_ROWS_PER_STATEMENT):
        chunk = rows[start : start + VOTE_ROWS_PER_STATEMENT]
        params = [value for row in chunk for value in row]
        conn.execute(votes_upsert_sql(len(chunk)), params)
        conn.execute(vote_history_insert_sql(len(chunk)), params)


def _record_one(db: sqlite_utils.Database, session_id: int, event: Event) -> None:
    """One event that is not a vote (`record_events` stores those)."""
    match event:
        case (
            ConsensusReached(comparison=c)
            | ConsensusLost(comparison=c)
            | ComparisonChanged(comparison=c)
        ):
            update_comparison(db, session_id, c)
        case ComparisonsImplied(comparisons=implied):
            for c in implied:
                update_comparison(db, session_id, c)
        case VoteRetracted(comparison_id=comparison_id, attendee_id=attendee_id):
            # The current vote goes; vote_history keeps it.
            db.execute(
                """
                DELETE FROM votes WHERE attendee_id = ? AND comparison_id IN
                    (SELECT id FROM comparisons WHERE id = ? AND session_id = ?)
                """,
                [attendee_id, comparison_id, session_id],
            )
        case VotesCleared(comparison_id=comparison_id):
            # The current votes go; vote_history keeps every one of them.
            db.execute(
                """
                DELETE FROM votes WHERE comparison_id IN
                    (SELECT id FROM comparisons WHERE id = ? AND session_id = ?)
                """,
                [comparison_id, session_id],
            )
        case SessionCompleted():
            set_status(db, session_id, SessionStatus.COMPLETED)
        case SessionReopened():
            set_status(db, session_id, SessionStatus.ACTIVE)
        case SessionClosed():
            set_status(db, session_id, SessionStatus.CLOSED)
        case VoteRecorded():
            raise AssertionError("votes are stored by record_events, in runs")
        case _:
            pass  # not in STORED_EVENTS: derived, not stored


def update_comparison(db: sqlite_utils.Database, session_id: int, c: Comparison) -> None:
    """A comparison's row as the comparison now is (status, outcome, schedule)."""
    db.execute(
        """
        UPDATE comparisons SET status = ?, winner_id = ?, is_tie = ?,
            decided_by_facilitator = ?, decided_at = ?, implied_by = ?, opened = ?, asked = ?,
            note = ?
        WHERE id = ? AND session_id = ?
        """,
        [
            c.status.value,
            c.winner_id,
            int(c.is_tie),
            int(c.decided_by_facilitator),
            format_time(now_utc()) if c.status in SETTLED_WITH_OUTCOME else None,
            ",".join(str(i) for i in c.implied_by),
            c.opened,
            int(c.asked),
            c.note,
            c.id,
            session_id,
        ],
    )


def set_status(db: sqlite_utils.Database, session_id: int, status: SessionStatus) -> None:
    db.execute(
        "UPDATE sessions SET status = ?, updated_at = ? WHERE id = ?",
        [status.value, format_time(now_utc()), session_id],
    )
