"""Checks on a database the daemon wrote, read with sqlite3 directly (not through `Store`).

Used after crashes, churn and shutdowns: the file is sound, every current vote
is the last one in its history, and each comparison's stored outcome is what
the consensus rules (the pure core, `pairwise_ws.domain.consensus`) make of
the stored votes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator
from contextlib import contextmanager

import attrs

from pairwise_ws.domain import consensus
from pairwise_ws.domain.models import Choice, ConsensusSettings, Outcome, Quorum, Rule

# (comparison id, attendee id) -> the preferred feature, None for a tie
VoteKey = tuple[int, int]


@contextmanager
def connect(db_path: str) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(db_path)
    try:
        yield db
    finally:
        db.close()


def check_integrity(db_path: str) -> None:
    with connect(db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []


def current_votes(db_path: str, session_id: int) -> dict[VoteKey, int | None]:
    with connect(db_path) as db:
        rows = db.execute(
            """
            SELECT v.comparison_id, v.attendee_id, v.preferred_feature_id, v.is_tie_vote
            FROM votes v JOIN comparisons c ON c.id = v.comparison_id WHERE c.session_id = ?
            """,
            (session_id,),
        ).fetchall()
    return {(c, a): None if tie else feature for c, a, feature, tie in rows}


def history(db_path: str, session_id: int) -> list[tuple[int, int, int | None]]:
    """Every vote cast in the session, oldest first: (comparison, attendee, feature or None)."""
    with connect(db_path) as db:
        rows = db.execute(
            """
            SELECT h.comparison_id, h.attendee_id, h.preferred_feature_id, h.is_tie_vote
            FROM vote_history h JOIN comparisons c ON c.id = h.comparison_id
            WHERE c.session_id = ? ORDER BY h.id
            """,
            (session_id,),
        ).fetchall()
    return [(c, a, None if tie else feature) for c, a, feature, tie in rows]


@attrs.frozen
class StoredComparison:
    id: int
    status: str
    outcome: Outcome | None


def check_votes_are_their_last_history(db_path: str, session_id: int) -> None:
    """No half-written vote: each current vote is the last of its (comparison, attendee)."""
    last: dict[VoteKey, int | None] = {}
    for comparison, attendee, feature in history(db_path, session_id):
        last[(comparison, attendee)] = feature
    assert current_votes(db_path, session_id) == last


def _settings(db: sqlite3.Connection, session_id: int) -> tuple[ConsensusSettings, int, str]:
    rule, threshold, min_votes, quorum, project_id, status = db.execute(
        "SELECT rule, threshold, min_votes, quorum, project_id, status FROM sessions WHERE id = ?",
        (session_id,),
    ).fetchone()
    settings = ConsensusSettings(
        rule=Rule(rule), threshold=threshold, min_votes=min_votes, quorum=Quorum(quorum)
    )
    return settings, project_id, status


def check_consensus(
    db_path: str, session_id: int, *, online: Collection[int] | None = None
) -> dict[str, int]:
    """Each comparison's stored outcome against a recomputation from the stored votes.

    quorum `all`: the outcome is a function of the votes alone, so it must be
    equal. quorum `present` depends on who was connected when: a decided
    comparison must be what its own voters decide, and (given `online`, the
    attendees connected now) no open comparison may be decidable now, since the
    daemon evaluates open ones after every vote and every departure.
    Returns the number of comparisons by status.
    """
    votes = current_votes(db_path, session_id)
    with connect(db_path) as db:
        settings, project_id, status = _settings(db, session_id)
        attendees = frozenset(
            r[0] for r in db.execute("SELECT id FROM attendees WHERE project_id = ?", (project_id,))
        )
        rows = db.execute(
            "SELECT id, status, winner_id, is_tie FROM comparisons WHERE session_id = ?",
            (session_id,),
        ).fetchall()
    counts: dict[str, int] = {}
    for comparison_id, comparison_status, winner_id, is_tie in rows:
        counts[comparison_status] = counts.get(comparison_status, 0) + 1
        if comparison_status == "skipped":
            continue
        stored = (
            Outcome(winner_id=winner_id, is_tie=bool(is_tie))
            if comparison_status == "decided"
            else None
        )
        choices = {
            attendee: Choice.tie() if feature is None else Choice.feature(feature)
            for (c, attendee), feature in votes.items()
            if c == comparison_id
        }
        voted = frozenset(choices)
        if settings.quorum is Quorum.ALL:
            recomputed = consensus.evaluate(choices, attendees, settings)
            assert stored == recomputed, (comparison_id, stored, recomputed, choices)
        elif stored is not None:
            recomputed = consensus.evaluate(choices, voted, settings)
            assert stored == recomputed, (comparison_id, stored, recomputed, choices)
        elif online is not None:
            now = consensus.evaluate(choices, voted | frozenset(online), settings)
            assert now is None, f"open comparison {comparison_id} is decidable: {choices}"
    if status != "closed":
        assert (status == "completed") == (counts.get("open", 0) == 0), (status, counts)
    return counts


def check_all(db_path: str, session_id: int, *, online: Collection[int] | None = None) -> None:
    check_integrity(db_path)
    check_votes_are_their_last_history(db_path, session_id)
    check_consensus(db_path, session_id, online=online)
