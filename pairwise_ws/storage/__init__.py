"""All state in SQLite, through sqlite-utils: the only module that touches SQL.

`Store` is synchronous and owns one connection. The CLI uses it directly; the
daemon runs every call in one worker thread at a time (see `AsyncStore`), so
the trio event loop never waits on the disk.

Every statement is parameterized. Writes that must be atomic run in
`BEGIN IMMEDIATE` transactions, so a concurrent CLI write can't slip in
between a read and the write that depends on it.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import attrs
import sqlite_utils
import trio

from pairwise_ws import tokens
from pairwise_ws.clock import format_time, now_utc, parse_time
from pairwise_ws.domain.models import (
    Attendee,
    Choice,
    Comparison,
    ComparisonStatus,
    ConsensusSettings,
    Criterion,
    Feature,
    Progress,
    Project,
    Quorum,
    Rule,
    Session,
    SessionStatus,
    Vote,
)
from pairwise_ws.domain.session import (
    ComparisonChanged,
    ConsensusLost,
    ConsensusReached,
    Event,
    SessionClosed,
    SessionCompleted,
    SessionReopened,
    VoteRecorded,
    VotesCleared,
)

BUSY_TIMEOUT_S = 5.0  # the CLI waits this long for a busy database
# The daemon waits less: a commit stuck behind a long CLI transaction must
# not hold a session (or a shutdown) for long; it fails with internal_error.
DAEMON_BUSY_TIMEOUT_S = 2.0
SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")

# Each entry upgrades the schema by one version (PRAGMA user_version).
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE projects (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL CHECK (length(name) > 0),
        facilitator_token_hash TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE features (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        title TEXT NOT NULL CHECK (length(title) > 0),
        description TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL
    );
    CREATE INDEX features_project ON features(project_id);
    CREATE TABLE attendees (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        name TEXT NOT NULL CHECK (length(name) > 0),
        token_hash TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX attendees_project ON attendees(project_id);
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        criterion TEXT NOT NULL CHECK (criterion IN ('value', 'complexity')),
        status TEXT NOT NULL CHECK (status IN ('active', 'completed', 'closed')),
        rule TEXT NOT NULL CHECK (rule IN ('unanimous', 'majority', 'supermajority')),
        threshold REAL NOT NULL CHECK (threshold > 0.5 AND threshold <= 1.0),
        min_votes INTEGER NOT NULL CHECK (min_votes >= 1),
        quorum TEXT NOT NULL CHECK (quorum IN ('present', 'all')),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX sessions_project ON sessions(project_id);
    CREATE TABLE comparisons (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        position INTEGER NOT NULL,
        feature_a_id INTEGER NOT NULL REFERENCES features(id),
        feature_b_id INTEGER NOT NULL REFERENCES features(id),
        status TEXT NOT NULL CHECK (status IN ('open', 'decided', 'skipped')),
        winner_id INTEGER REFERENCES features(id),
        is_tie INTEGER NOT NULL DEFAULT 0 CHECK (is_tie IN (0, 1)),
        decided_at TEXT,
        UNIQUE (session_id, position),
        UNIQUE (session_id, feature_a_id, feature_b_id),
        CHECK (feature_a_id <> feature_b_id),
        CHECK (winner_id IS NULL OR winner_id IN (feature_a_id, feature_b_id)),
        CHECK (status = 'decided' OR (winner_id IS NULL AND is_tie = 0)),
        CHECK (status <> 'decided' OR ((winner_id IS NULL) = (is_tie = 1)))
    );
    CREATE TABLE votes (
        comparison_id INTEGER NOT NULL REFERENCES comparisons(id),
        attendee_id INTEGER NOT NULL REFERENCES attendees(id),
        preferred_feature_id INTEGER REFERENCES features(id),
        is_tie_vote INTEGER NOT NULL CHECK (is_tie_vote IN (0, 1)),
        voted_at TEXT NOT NULL,
        PRIMARY KEY (comparison_id, attendee_id),
        CHECK ((preferred_feature_id IS NULL) = (is_tie_vote = 1))
    );
    CREATE TABLE vote_history (
        id INTEGER PRIMARY KEY,
        comparison_id INTEGER NOT NULL REFERENCES comparisons(id),
        attendee_id INTEGER NOT NULL REFERENCES attendees(id),
        preferred_feature_id INTEGER REFERENCES features(id),
        is_tie_vote INTEGER NOT NULL CHECK (is_tie_vote IN (0, 1)),
        voted_at TEXT NOT NULL,
        CHECK ((preferred_feature_id IS NULL) = (is_tie_vote = 1))
    );
    CREATE INDEX vote_history_comparison ON vote_history(comparison_id);
    """,
    # 2: self-registration per session; facilitator decisions that hold.
    """
    ALTER TABLE sessions ADD COLUMN self_registration INTEGER NOT NULL DEFAULT 1
        CHECK (self_registration IN (0, 1));
    ALTER TABLE comparisons ADD COLUMN decided_by_facilitator INTEGER NOT NULL DEFAULT 0
        CHECK (decided_by_facilitator IN (0, 1)
               AND (decided_by_facilitator = 0 OR status = 'decided'));
    """,
)


# The domain events that change the database (`Store.record`); the others
# (presence, progress, the current comparison moving) are derived, not stored.
STORED_EVENTS = (
    VoteRecorded,
    ConsensusReached,
    ConsensusLost,
    ComparisonChanged,
    VotesCleared,
    SessionCompleted,
    SessionReopened,
    SessionClosed,
)


# Votes per INSERT statement (5 parameters each; SQLite allows 32,766).
VOTE_ROWS_PER_STATEMENT = 200
_VOTE_COLUMNS = "comparison_id, attendee_id, preferred_feature_id, is_tie_vote, voted_at"


@functools.cache
def votes_upsert_sql(rows: int) -> str:
    """The upsert of `rows` votes: the statement's text is placeholders only."""
    return (
        f"INSERT INTO votes ({_VOTE_COLUMNS}) VALUES {_placeholders(rows)}"  # noqa: S608
        " ON CONFLICT (comparison_id, attendee_id) DO UPDATE SET"
        " preferred_feature_id = excluded.preferred_feature_id,"
        " is_tie_vote = excluded.is_tie_vote, voted_at = excluded.voted_at"
    )


@functools.cache
def vote_history_insert_sql(rows: int) -> str:
    return f"INSERT INTO vote_history ({_VOTE_COLUMNS}) VALUES {_placeholders(rows)}"  # noqa: S608


def _placeholders(rows: int) -> str:
    return ", ".join(["(?, ?, ?, ?, ?)"] * rows)


class StorageError(Exception):
    """The database can't be used: the message says why, in one line."""


class NotFound(LookupError):
    """No such project, feature, attendee or session."""

    def __init__(self, what: str, id_: int) -> None:
        super().__init__(f"{what} {id_} not found")
        self.what = what
        self.id = id_


class Conflict(ValueError):
    """The request contradicts the stored state (for example: too few features)."""


class RegistrationClosed(PermissionError):
    """The session does not take self-registrations (now)."""


@attrs.frozen
class SessionSnapshot:
    """Everything a room needs to start, read in one transaction."""

    session: Session
    features: tuple[Feature, ...]
    attendees: tuple[Attendee, ...]
    comparisons: tuple[Comparison, ...]
    votes: tuple[Vote, ...]


@attrs.frozen
class RecordRequest:
    """One room's changes for `Store.record_many`."""

    session_id: int
    events: Sequence[Event]
    expect: SessionStatus = SessionStatus.ACTIVE


@attrs.frozen
class Credentials:
    """What authentication needs to know about an attendee or a project."""

    project_id: int
    token_hash: str
    attendee: Attendee | None = None


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
        return Project(id=_pk(table.last_pk), name=name), token

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
            id=_pk(table.last_pk), project_id=project_id, title=title, description=description
        )

    def features(self, project_id: int) -> list[Feature]:
        return [
            _feature(r)
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
        return Attendee(id=_pk(table.last_pk), project_id=project_id, name=name), token

    def attendee(self, attendee_id: int) -> Attendee:
        row = self._row("SELECT id, project_id, name FROM attendees WHERE id = ?", attendee_id)
        if row is None:
            raise NotFound("attendee", attendee_id)
        return _attendee(row)

    def attendees(self, project_id: int) -> list[Attendee]:
        return [
            _attendee(r)
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
            project_id=row["project_id"], token_hash=row["token_hash"], attendee=_attendee(row)
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
            session_id = _pk(table.last_pk)
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
        return _session(row)

    def sessions(self, project_id: int) -> list[Session]:
        return [
            _session(r)
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

    def session_and_attendees(
        self, session_id: int, project_id: int
    ) -> tuple[Session | None, list[Attendee]]:
        """What a running room looks at again after a change from outside, in one read."""
        with self.db.atomic():
            row = self._row("SELECT * FROM sessions WHERE id = ?", session_id)
            return (None if row is None else _session(row)), self.attendees(project_id)

    def comparisons(self, session_id: int) -> list[Comparison]:
        return [
            _comparison(r)
            for r in self.db.query(
                "SELECT * FROM comparisons WHERE session_id = ? ORDER BY position", [session_id]
            )
        ]

    def votes(self, session_id: int) -> list[Vote]:
        """The current vote of each attendee on each comparison of the session."""
        return [
            _vote(r)
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
            _vote(r)
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
            self._record_events(session_id, events)
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
                        self._record_events(request.session_id, request.events)
                        outcomes.append(True)
                except sqlite3.DatabaseError as exc:
                    self.db.execute("ROLLBACK TO request")
                    outcomes.append(exc)
                self.db.execute("RELEASE request")
        return outcomes

    def _record_events(self, session_id: int, events: Iterable[Event]) -> None:
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
                self._record_votes(votes)
                votes = []
            self._record_one(session_id, event)
        if votes:
            self._record_votes(votes)

    def _record_votes(self, rows: list[tuple[int, int, int | None, int, str]]) -> None:
        # Plain SQL on the hot path, in the order given (a later vote of the
        # same attendee on the same comparison replaces the earlier one), and
        # many rows per statement: each statement is one sqlite3_step, and each
        # step releases and takes back the GIL, which the event loop holds most
        # of the time; a row per step made a 200-vote commit wait for the GIL
        # 400 times (52 ms a commit under load).
        conn = self.db.conn
        for start in range(0, len(rows), VOTE_ROWS_PER_STATEMENT):
            chunk = rows[start : start + VOTE_ROWS_PER_STATEMENT]
            params = [value for row in chunk for value in row]
            conn.execute(votes_upsert_sql(len(chunk)), params)
            conn.execute(vote_history_insert_sql(len(chunk)), params)

    def _record_one(self, session_id: int, event: Event) -> None:
        """One event that is not a vote (`_record_events` stores those)."""
        match event:
            case (
                ConsensusReached(comparison=c)
                | ConsensusLost(comparison=c)
                | ComparisonChanged(comparison=c)
            ):
                self.db.execute(
                    """
                    UPDATE comparisons SET status = ?, winner_id = ?, is_tie = ?,
                        decided_by_facilitator = ?, decided_at = ?
                    WHERE id = ? AND session_id = ?
                    """,
                    [
                        c.status.value,
                        c.winner_id,
                        int(c.is_tie),
                        int(c.decided_by_facilitator),
                        format_time(now_utc()) if c.status is ComparisonStatus.DECIDED else None,
                        c.id,
                        session_id,
                    ],
                )
            case VotesCleared(comparison_id=comparison_id):
                # The current votes go; vote_history keeps every one of them.
                self.db.execute(
                    """
                    DELETE FROM votes WHERE comparison_id IN
                        (SELECT id FROM comparisons WHERE id = ? AND session_id = ?)
                    """,
                    [comparison_id, session_id],
                )
            case SessionCompleted():
                self._set_status(session_id, SessionStatus.COMPLETED)
            case SessionReopened():
                self._set_status(session_id, SessionStatus.ACTIVE)
            case SessionClosed():
                self._set_status(session_id, SessionStatus.CLOSED)
            case VoteRecorded():
                raise AssertionError("votes are stored by _record_events, in runs")
            case _:
                pass  # not in STORED_EVENTS: derived, not stored

    def _set_status(self, session_id: int, status: SessionStatus) -> None:
        self.db.execute(
            "UPDATE sessions SET status = ?, updated_at = ? WHERE id = ?",
            [status.value, format_time(now_utc()), session_id],
        )

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


def _pk(value: Any) -> int:
    assert isinstance(value, int)
    return value


def _feature(row: dict[str, Any]) -> Feature:
    return Feature(
        id=row["id"],
        project_id=row["project_id"],
        title=row["title"],
        description=row["description"],
    )


def _attendee(row: dict[str, Any]) -> Attendee:
    return Attendee(id=row["id"], project_id=row["project_id"], name=row["name"])


def _session(row: dict[str, Any]) -> Session:
    return Session(
        id=row["id"],
        project_id=row["project_id"],
        criterion=Criterion(row["criterion"]),
        status=SessionStatus(row["status"]),
        settings=ConsensusSettings(
            rule=Rule(row["rule"]),
            threshold=row["threshold"],
            min_votes=row["min_votes"],
            quorum=Quorum(row["quorum"]),
        ),
        self_registration=bool(row["self_registration"]),
    )


def _comparison(row: dict[str, Any]) -> Comparison:
    return Comparison(
        id=row["id"],
        session_id=row["session_id"],
        position=row["position"],
        feature_a_id=row["feature_a_id"],
        feature_b_id=row["feature_b_id"],
        status=ComparisonStatus(row["status"]),
        winner_id=row["winner_id"],
        is_tie=bool(row["is_tie"]),
        decided_by_facilitator=bool(row["decided_by_facilitator"]),
    )


def _vote(row: dict[str, Any]) -> Vote:
    return Vote(
        comparison_id=row["comparison_id"],
        attendee_id=row["attendee_id"],
        choice=_choice(row),
        voted_at=parse_time(row["voted_at"]),
    )


def _choice(row: dict[str, Any]) -> Choice:
    if row["is_tie_vote"]:
        return Choice.tie()
    return Choice.feature(row["preferred_feature_id"])


P = ParamSpec("P")
T = TypeVar("T")


def _record_many(store: Store, requests: Sequence[RecordRequest]) -> list[bool | Exception]:
    return store.record_many(requests)


@attrs.define
class _Queued:
    request: RecordRequest
    outcome: bool | Exception | None = None


class AsyncStore:
    """The daemon's door to the database, without blocking the event loop.

    Two connections, each used by one worker thread at a time: `write` for
    everything that changes the database (and for `data_version`, which only
    moves for other processes' commits on the connection that asks), `read` for
    authentication, loading rooms and refreshing them, so a handshake never
    queues behind a commit (WAL lets readers and the writer run together).

    A call that has started is never abandoned: cancelling the caller waits for
    the transaction to finish, so a vote is either committed or not, never
    half-written.
    """

    def __init__(self, writer: Store, reader: Store) -> None:
        self.writer = writer
        self.reader = reader
        self._write_limiter = trio.CapacityLimiter(1)
        self._read_limiter = trio.CapacityLimiter(1)
        # Group commit across rooms: requests wait here while a commit runs.
        self._queued: list[_Queued] = []
        self._committing = False
        self._committed = trio.Event()

    @classmethod
    def open(cls, path: str | Path, *, synchronous: str) -> AsyncStore:
        """Both connections (blocking: call it in a thread)."""
        writer = Store.open(path, synchronous=synchronous, busy_timeout=DAEMON_BUSY_TIMEOUT_S)
        try:
            reader = Store.open(path, synchronous=synchronous, busy_timeout=DAEMON_BUSY_TIMEOUT_S)
        except BaseException:
            writer.close()
            raise
        return cls(writer, reader)

    def close(self) -> None:
        self.reader.close()
        self.writer.close()

    async def record(
        self,
        session_id: int,
        events: Sequence[Event],
        *,
        expect: SessionStatus = SessionStatus.ACTIVE,
    ) -> bool:
        """`Store.record`, committed together with every other room's waiting changes.

        The database commits (and syncs) one transaction at a time; whatever
        rooms hand in while one runs goes into the next, so a busy daemon
        makes few, larger commits instead of queueing one per room. Each
        room's changes are still all or nothing, and each caller returns
        only once its own are committed. The first waiter whose changes
        aren't committed yet runs the next commit.
        """
        queued = _Queued(RecordRequest(session_id, events, expect))
        self._queued.append(queued)
        while queued.outcome is None:
            if self._committing:
                await self._committed.wait()
                continue
            self._committing = True
            batch, self._queued = self._queued, []
            outcomes: list[bool | Exception] | None = None
            try:
                outcomes = await self._run(
                    self.writer, self._write_limiter, _record_many, [q.request for q in batch]
                )
            except Exception as exc:  # the commit itself failed: nothing of the batch is stored
                outcomes = [exc] * len(batch)
            finally:
                if outcomes is None:
                    # Cancelled before the transaction started: the next one takes them.
                    self._queued[:0] = batch
                else:
                    for waiting, outcome in zip(batch, outcomes, strict=True):
                        waiting.outcome = outcome
                self._committing = False
                committed, self._committed = self._committed, trio.Event()
                committed.set()
        if isinstance(queued.outcome, Exception):
            raise StorageError(f"could not store: {queued.outcome}") from queued.outcome
        return queued.outcome

    async def write(
        self, fn: Callable[Concatenate[Store, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._run(self.writer, self._write_limiter, fn, *args, **kwargs)

    async def read(
        self, fn: Callable[Concatenate[Store, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await self._run(self.reader, self._read_limiter, fn, *args, **kwargs)

    @staticmethod
    async def _run(
        store: Store,
        limiter: trio.CapacityLimiter,
        fn: Callable[Concatenate[Store, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        def call() -> T:
            return fn(store, *args, **kwargs)

        return await trio.to_thread.run_sync(call, limiter=limiter)
