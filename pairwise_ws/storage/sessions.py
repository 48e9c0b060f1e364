"""Sessions, their comparisons and votes: what a room loads, refreshes and records."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from pairwise_ws import tokens
from pairwise_ws.clock import format_time, now_utc
from pairwise_ws.domain import adaptive
from pairwise_ws.domain.models import (
    Comparison,
    ComparisonStatus,
    ConsensusSettings,
    Criterion,
    Progress,
    Project,
    Schedule,
    Session,
    SessionStatus,
    Vote,
)
from pairwise_ws.domain.session import Event
from pairwise_ws.storage import changes, rows
from pairwise_ws.storage.errors import Conflict, NotFound
from pairwise_ws.storage.people import People
from pairwise_ws.storage.records import RecordRequest, RoomRefresh, SessionSnapshot


class Sessions(People):
    # --- sessions ---------------------------------------------------------

    def create_session(
        self,
        project_id: int,
        criterion: Criterion,
        settings: ConsensusSettings,
        order: Callable[[Sequence[int]], list[tuple[int, int]]],
        *,
        self_registration: bool = True,
        schedule: Schedule = Schedule.ALL,
    ) -> tuple[Session, list[Comparison]]:
        """A new active session with one comparison per pair, in the order `order` gives.

        An adaptive one starts with every comparison waiting but the first
        pair its schedule asks.
        """
        first_status = (
            ComparisonStatus.WAITING if schedule is Schedule.ADAPTIVE else ComparisonStatus.OPEN
        )
        stamp = format_time(now_utc())
        with self._immediate():
            self.project(project_id)
            feature_ids = [f.id for f in self.features(project_id)]
            if len(feature_ids) < 2:
                raise Conflict(
                    f"project {project_id} has {len(feature_ids)} feature(s); "
                    "a session needs at least 2"
                )
            table = self.db.table("sessions").insert(
                {
                    "project_id": project_id,
                    "criterion": criterion.value,
                    "status": SessionStatus.ACTIVE.value,
                    "rule": settings.rule.value,
                    "threshold": settings.threshold,
                    "min_votes": settings.min_votes,
                    "quorum": settings.quorum.value,
                    "self_registration": int(self_registration),
                    "join_code": tokens.new_join_code(),
                    "schedule": schedule.value,
                    "created_at": stamp,
                    "updated_at": stamp,
                }
            )
            session_id = rows.pk(table.last_pk)
            self.db.table("comparisons").insert_all(
                {
                    "session_id": session_id,
                    "position": position,
                    "feature_a_id": a,
                    "feature_b_id": b,
                    "status": first_status.value,
                    "winner_id": None,
                    "is_tie": 0,
                }
                for position, (a, b) in enumerate(order(feature_ids), start=1)
            )
            session = self.session(session_id)
            comparisons = self.comparisons(session_id)
            planned = adaptive.reschedule(
                session, dict.fromkeys(feature_ids), {c.id: c for c in comparisons}
            )
            for changed in planned.changed:
                changes.update_comparison(self.db, session_id, changed)
            comparisons = list(planned.comparisons.values())
        return session, comparisons

    def session(self, session_id: int) -> Session:
        row = self._row("SELECT * FROM sessions WHERE id = ?", session_id)
        if row is None:
            raise NotFound("session", session_id)
        return rows.session(row)

    def sessions(self, project_id: int) -> list[Session]:
        return [
            rows.session(r)
            for r in self.db.query(
                "SELECT * FROM sessions WHERE project_id = ? ORDER BY id", [project_id]
            )
        ]

    def sessions_overview(self, project_id: int) -> tuple[Project, list[tuple[Session, Progress]]]:
        """The project and each of its sessions with its progress, in one read."""
        with self.db.atomic():
            project = self.project(project_id)
            counts: dict[int, list[int]] = {}
            for row in self.db.query(
                """
                SELECT c.session_id, count(*) AS total,
                       sum(c.status NOT IN ('open', 'waiting')) AS settled
                FROM comparisons c JOIN sessions s ON s.id = c.session_id
                WHERE s.project_id = ? GROUP BY c.session_id
                """,
                [project_id],
            ):
                counts[row["session_id"]] = [row["total"], row["settled"]]
            return project, [
                (s, Progress(*counts.get(s.id, [0, 0]))) for s in self.sessions(project_id)
            ]

    def close_session(self, session_id: int) -> Session:
        with self._immediate():
            self.session(session_id)
            self.db.execute(
                "UPDATE sessions SET status = ?, updated_at = ? WHERE id = ?",
                [SessionStatus.CLOSED.value, format_time(now_utc()), session_id],
            )
            return self.session(session_id)

    def set_self_registration(self, session_id: int, enabled: bool) -> Session:
        with self._immediate():
            self.session(session_id)
            self.db.execute(
                "UPDATE sessions SET self_registration = ?, updated_at = ? WHERE id = ?",
                [int(enabled), format_time(now_utc()), session_id],
            )
            return self.session(session_id)

    def rotate_join_code(self, session_id: int) -> Session:
        """A new join code: the old join link stops working (who registered stays)."""
        with self._immediate():
            self.session(session_id)
            self.db.execute(
                "UPDATE sessions SET join_code = ?, updated_at = ? WHERE id = ?",
                [tokens.new_join_code(), format_time(now_utc()), session_id],
            )
            return self.session(session_id)

    def session_status(self, session_id: int) -> SessionStatus | None:
        row = self._row("SELECT status FROM sessions WHERE id = ?", session_id)
        return None if row is None else SessionStatus(row["status"])

    def room_refresh(self, session_id: int, project_id: int) -> RoomRefresh:
        """What a running room looks at again after a change from outside, in one read."""
        with self.db.atomic():
            row = self._row("SELECT * FROM sessions WHERE id = ?", session_id)
            hashes = {
                r["id"]: r["token_hash"]
                for r in self.db.query(
                    "SELECT id, token_hash FROM attendees"
                    " WHERE project_id = ? AND removed_at IS NULL",
                    [project_id],
                )
            }
            project = self.facilitator_credentials(project_id)
            return RoomRefresh(
                session=None if row is None else rows.session(row),
                attendees=tuple(self.attendees(project_id)),
                token_hashes=hashes,
                facilitator_token_hash=None if project is None else project.token_hash,
                projector_token_hash=None if project is None else project.projector_token_hash,
            )

    def comparisons(self, session_id: int) -> list[Comparison]:
        return [
            rows.comparison(r)
            for r in self.db.query(
                "SELECT * FROM comparisons WHERE session_id = ? ORDER BY position", [session_id]
            )
        ]

    def votes(self, session_id: int) -> list[Vote]:
        """The current vote of each attendee on each comparison of the session."""
        return [
            rows.vote(r)
            for r in self.db.query(
                """
                SELECT v.* FROM votes v JOIN comparisons c ON c.id = v.comparison_id
                JOIN attendees a ON a.id = v.attendee_id
                WHERE c.session_id = ?
                    AND (a.removed_at IS NULL OR c.status IN ('decided', 'skipped'))
                ORDER BY c.position, v.attendee_id
                """,
                [session_id],
            )
        ]

    def vote_history(self, session_id: int) -> list[Vote]:
        """Every vote ever cast in the session, replaced ones included, oldest first."""
        return [
            rows.vote(r)
            for r in self.db.query(
                """
                SELECT h.* FROM vote_history h JOIN comparisons c ON c.id = h.comparison_id
                WHERE c.session_id = ? ORDER BY h.id
                """,
                [session_id],
            )
        ]

    def load_session(self, session_id: int) -> SessionSnapshot:
        with self.db.atomic():
            session = self.session(session_id)
            return SessionSnapshot(
                session=session,
                features=tuple(self.features(session.project_id)),
                attendees=tuple(self.attendees(session.project_id)),
                comparisons=tuple(self.comparisons(session_id)),
                votes=tuple(self.votes(session_id)),
            )

    # --- live changes -----------------------------------------------------

    def record(
        self,
        session_id: int,
        events: Iterable[Event],
        *,
        expect: SessionStatus = SessionStatus.ACTIVE,
    ) -> bool:
        """Store what `events` changed, in one transaction.

        Returns False, writing nothing, when the session's status in the
        database is no longer `expect`, the status the caller's changes start
        from (closed from the CLI a moment ago): the caller's view is stale and
        nothing of it may be stored.
        """
        with self._immediate():
            if self.session_status(session_id) is not expect:
                return False
            changes.record_events(self.db, session_id, events)
        return True

    def record_many(self, requests: Sequence[RecordRequest]) -> list[bool | Exception]:
        """Several rooms' `record`s in one transaction (group commit), each all or nothing.

        Each request is checked and applied in its own savepoint: a request
        whose session is no longer in its expected status is skipped (False),
        one that fails is rolled back alone (its exception, whatever it is:
        one room's bad change never costs the others theirs), the others are
        committed together.
        """
        outcomes: list[bool | Exception] = []
        with self._immediate():
            for request in requests:
                self.db.execute("SAVEPOINT request")
                try:
                    if self.session_status(request.session_id) is not request.expect:
                        outcomes.append(False)
                    else:
                        changes.record_events(self.db, request.session_id, request.events)
                        outcomes.append(True)
                except Exception as exc:  # a full disk, a constraint, or a bug: this room's alone
                    self.db.execute("ROLLBACK TO request")
                    outcomes.append(exc)
                self.db.execute("RELEASE request")
        return outcomes
