"""The SQLite store: the one synchronous connection the CLI and each daemon thread use.

Every statement is parameterized. Writes that must be atomic run in
`BEGIN IMMEDIATE` transactions, so a concurrent CLI write can't slip in
between a read and the write that depends on it.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlite_utils

from pairwise_ws import tokens
from pairwise_ws.clock import format_time, now_utc
from pairwise_ws.domain.models import (
    Attendee,
    Comparison,
    ComparisonStatus,
    ConsensusSettings,
    Criterion,
    Feature,
    Progress,
    Project,
    Session,
    SessionStatus,
    Vote,
)
from pairwise_ws.domain.session import (
    Event,
)
from pairwise_ws.storage import changes, rows
from pairwise_ws.storage.errors import Conflict, NotFound, RegistrationClosed, StorageError
from pairwise_ws.storage.records import (
    Credentials,
    RecordRequest,
    RoomRefresh,
    SessionSnapshot,
)
from pairwise_ws.storage.schema import MIGRATIONS

BUSY_TIMEOUT_S = 5.0  # the CLI waits this long for a busy database
# The daemon waits less: a commit stuck behind a long CLI transaction must
# not hold a session (or a shutdown) for long; it fails with internal_error.
DAEMON_BUSY_TIMEOUT_S = 2.0
SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


class Store:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    @classmethod
    def open(
        cls, path: str | Path, *, synchronous: str = "FULL", busy_timeout: float = BUSY_TIMEOUT_S
    ) -> Store:
        """Open (creating if needed) the database at `path` and bring its schema up to date."""
        if synchronous.upper() not in SYNCHRONOUS_MODES:
            raise StorageError(f"synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}")
        target = Path(path)
        if str(path) != ":memory:" and not target.parent.is_dir():
            raise StorageError(
                f"cannot open database {path}: folder {target.parent} does not exist"
            )
        try:
            conn = sqlite3.connect(str(path), timeout=busy_timeout, check_same_thread=False)
            store = cls(sqlite_utils.Database(conn, execute_plugins=False))
            if str(path) != ":memory:":
                store.db.enable_wal()
            store.db.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            store.db.execute("PRAGMA foreign_keys = ON")
            store.migrate()
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"cannot open database {path}: {exc}") from None
        return store

    def close(self) -> None:
        self.db.close()

    def migrate(self) -> None:
        version = self._scalar("PRAGMA user_version")
        if version > len(MIGRATIONS):
            raise StorageError(
                f"database schema version {version} is newer than this pairwise-ws "
                f"understands ({len(MIGRATIONS)}); upgrade pairwise-ws"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self._immediate():
                for statement in script.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {int(number)}")

    # --- projects ---------------------------------------------------------

    def create_project(self, name: str) -> tuple[Project, str]:
        token = tokens.new_token()
        with self._immediate():
            table = self.db.table("projects").insert(
                {
                    "name": name,
                    "facilitator_token_hash": tokens.hash_token(token),
                    "created_at": format_time(now_utc()),
                }
            )
        return Project(id=rows.pk(table.last_pk), name=name), token

    def project(self, project_id: int) -> Project:
        row = self._row("SELECT id, name FROM projects WHERE id = ?", project_id)
        if row is None:
            raise NotFound("project", project_id)
        return Project(id=row["id"], name=row["name"])

    def projects(self) -> list[Project]:
        return [
            Project(id=r["id"], name=r["name"])
            for r in self.db.query("SELECT id, name FROM projects ORDER BY id")
        ]

    def rotate_facilitator_token(self, project_id: int) -> str:
        token = tokens.new_token()
        with self._immediate():
            self.project(project_id)
            self.db.execute(
                "UPDATE projects SET facilitator_token_hash = ? WHERE id = ?",
                [tokens.hash_token(token), project_id],
            )
        return token

    def facilitator_credentials(self, project_id: int) -> Credentials | None:
        row = self._row("SELECT facilitator_token_hash FROM projects WHERE id = ?", project_id)
        if row is None:
            return None
        return Credentials(project_id=project_id, token_hash=row["facilitator_token_hash"])

    # --- features ---------------------------------------------------------

    def add_feature(self, project_id: int, title: str, description: str = "") -> Feature:
        with self._immediate():
            self.project(project_id)
            table = self.db.table("features").insert(
                {
                    "project_id": project_id,
                    "title": title,
                    "description": description,
                    "created_at": format_time(now_utc()),
                }
            )
        return Feature(
            id=rows.pk(table.last_pk), project_id=project_id, title=title, description=description
        )

    def features(self, project_id: int) -> list[Feature]:
        return [
            rows.feature(r)
            for r in self.db.query(
                "SELECT * FROM features WHERE project_id = ? ORDER BY id", [project_id]
            )
        ]

    # --- attendees --------------------------------------------------------

    def add_attendee(self, project_id: int, name: str) -> tuple[Attendee, str]:
        """A new attendee and its token; names are unique in a project (ignoring case)."""
        with self._immediate():
            self.project(project_id)
            return self._insert_attendee(project_id, name)

    def register_attendee(self, session_id: int, name: str) -> tuple[Attendee, str]:
        """Self-registration: a new attendee of the session's project, if the session allows it."""
        with self._immediate():
            session = self.session(session_id)
            if session.status is not SessionStatus.ACTIVE:
                raise Conflict(f"session {session_id} is not active (it is {session.status})")
            if not session.self_registration:
                raise RegistrationClosed("self-registration is closed for this session")
            return self._insert_attendee(session.project_id, name)

    def _insert_attendee(self, project_id: int, name: str) -> tuple[Attendee, str]:
        taken = self._row(
            "SELECT 1 FROM attendees WHERE project_id = ? AND name = ? COLLATE NOCASE",
            project_id,
            name,
        )
        if taken is not None:
            raise Conflict(f"the name {name!r} is already taken in project {project_id}")
        token = tokens.new_token()
        table = self.db.table("attendees").insert(
            {
                "project_id": project_id,
                "name": name,
                "token_hash": tokens.hash_token(token),
                "created_at": format_time(now_utc()),
            }
        )
        return Attendee(id=rows.pk(table.last_pk), project_id=project_id, name=name), token

    def attendee(self, attendee_id: int) -> Attendee:
        row = self._row("SELECT id, project_id, name FROM attendees WHERE id = ?", attendee_id)
        if row is None:
            raise NotFound("attendee", attendee_id)
        return rows.attendee(row)

    def attendees(self, project_id: int) -> list[Attendee]:
        return [
            rows.attendee(r)
            for r in self.db.query(
                "SELECT id, project_id, name FROM attendees WHERE project_id = ? ORDER BY id",
                [project_id],
            )
        ]

    def rotate_attendee_token(self, attendee_id: int) -> tuple[Attendee, str]:
        token = tokens.new_token()
        with self._immediate():
            attendee = self.attendee(attendee_id)
            self.db.execute(
                "UPDATE attendees SET token_hash = ? WHERE id = ?",
                [tokens.hash_token(token), attendee_id],
            )
        return attendee, token

    def attendee_credentials(self, attendee_id: int) -> Credentials | None:
        row = self._row(
            "SELECT id, project_id, name, token_hash FROM attendees WHERE id = ?", attendee_id
        )
        if row is None:
            return None
        return Credentials(
            project_id=row["project_id"], token_hash=row["token_hash"], attendee=rows.attendee(row)
        )

    # --- sessions ---------------------------------------------------------

    def create_session(
        self,
        project_id: int,
        criterion: Criterion,
        settings: ConsensusSettings,
        order: Callable[[Sequence[int]], list[tuple[int, int]]],
        *,
        self_registration: bool = True,
    ) -> tuple[Session, list[Comparison]]:
        """A new active session with one comparison per pair, in the order `order` gives."""
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
                    "status": ComparisonStatus.OPEN.value,
                    "winner_id": None,
                    "is_tie": 0,
                }
                for position, (a, b) in enumerate(order(feature_ids), start=1)
            )
            session = self.session(session_id)
            comparisons = self.comparisons(session_id)
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
                       sum(c.status <> 'open') AS settled
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
                    "SELECT id, token_hash FROM attendees WHERE project_id = ?", [project_id]
                )
            }
            facilitator = self.facilitator_credentials(project_id)
            return RoomRefresh(
                session=None if row is None else rows.session(row),
                attendees=tuple(self.attendees(project_id)),
                token_hashes=hashes,
                facilitator_token_hash=None if facilitator is None else facilitator.token_hash,
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
                WHERE c.session_id = ? ORDER BY c.position, v.attendee_id
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
        one that fails is rolled back alone (its exception), the others are
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
                except sqlite3.DatabaseError as exc:
                    self.db.execute("ROLLBACK TO request")
                    outcomes.append(exc)
                self.db.execute("RELEASE request")
        return outcomes

    def data_version(self) -> int:
        """Changes whenever another connection (the CLI) commits to the database."""
        return self._scalar("PRAGMA data_version")

    def integrity_check(self) -> str:
        return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])

    # --- helpers ----------------------------------------------------------

    @contextlib.contextmanager
    def _immediate(self) -> Iterator[None]:
        """A write transaction that takes the write lock up front."""
        if self.db.conn.in_transaction:
            with self.db.atomic():  # nested: a savepoint inside the caller's transaction
                yield
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.rollback()
            raise
        try:
            self.db.commit()
        except BaseException:
            self.db.rollback()
            raise

    def _row(self, sql: str, *params: Any) -> dict[str, Any] | None:
        return next(iter(self.db.query(sql, list(params))), None)

    def _scalar(self, sql: str) -> int:
        return int(self.db.execute(sql).fetchone()[0])
