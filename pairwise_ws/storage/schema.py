"""The SQLite schema, its migrations, and the only SQL texts built at run time."""

from __future__ import annotations

import functools

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
    # 3: join codes, a read-only projector token, removed and self-registered attendees.
    # A session made before has a code drawn here (SQLite's randomblob: its
    # own CSPRNG); new ones get theirs from `tokens.new_join_code`.
    """
    ALTER TABLE sessions ADD COLUMN join_code TEXT NOT NULL DEFAULT '';
    UPDATE sessions SET join_code = lower(hex(randomblob(9)));
    ALTER TABLE projects ADD COLUMN projector_token_hash TEXT;
    ALTER TABLE attendees ADD COLUMN removed_at TEXT;
    ALTER TABLE attendees ADD COLUMN registered_in INTEGER REFERENCES sessions(id);
    CREATE INDEX attendees_registered_in ON attendees(registered_in);
    """,
    # 4: the adaptive schedule: a session's schedule; comparisons waiting or
    # implied (with the decisions behind them), when each was opened, and
    # whether the facilitator asked it. The comparisons table is rebuilt for
    # its status CHECK (SQLite's "12 steps": same name, same rows, same ids).
    """
    -- rebuilds a table
    ALTER TABLE sessions ADD COLUMN schedule TEXT NOT NULL DEFAULT 'all'
        CHECK (schedule IN ('all', 'adaptive'));
    CREATE TABLE comparisons_new (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id),
        position INTEGER NOT NULL,
        feature_a_id INTEGER NOT NULL REFERENCES features(id),
        feature_b_id INTEGER NOT NULL REFERENCES features(id),
        status TEXT NOT NULL
            CHECK (status IN ('open', 'decided', 'skipped', 'waiting', 'implied')),
        winner_id INTEGER REFERENCES features(id),
        is_tie INTEGER NOT NULL DEFAULT 0 CHECK (is_tie IN (0, 1)),
        decided_at TEXT,
        decided_by_facilitator INTEGER NOT NULL DEFAULT 0
            CHECK (decided_by_facilitator IN (0, 1)
                   AND (decided_by_facilitator = 0 OR status = 'decided')),
        implied_by TEXT NOT NULL DEFAULT '',
        opened INTEGER NOT NULL DEFAULT 0 CHECK (opened >= 0),
        asked INTEGER NOT NULL DEFAULT 0 CHECK (asked IN (0, 1)),
        UNIQUE (session_id, position),
        UNIQUE (session_id, feature_a_id, feature_b_id),
        CHECK (feature_a_id <> feature_b_id),
        CHECK (winner_id IS NULL OR winner_id IN (feature_a_id, feature_b_id)),
        CHECK (status IN ('decided', 'implied') OR (winner_id IS NULL AND is_tie = 0)),
        CHECK (status NOT IN ('decided', 'implied') OR ((winner_id IS NULL) = (is_tie = 1))),
        CHECK ((status = 'implied') = (implied_by <> ''))
    );
    INSERT INTO comparisons_new (id, session_id, position, feature_a_id, feature_b_id,
        status, winner_id, is_tie, decided_at, decided_by_facilitator)
        SELECT id, session_id, position, feature_a_id, feature_b_id,
            status, winner_id, is_tie, decided_at, decided_by_facilitator
        FROM comparisons;
    DROP TABLE comparisons;
    ALTER TABLE comparisons_new RENAME TO comparisons;
    """,
    # 5: the facilitator's note on a comparison.
    """
    ALTER TABLE comparisons ADD COLUMN note TEXT NOT NULL DEFAULT ''
        CHECK (length(note) <= 1000);
    """,
    # 6: observers: attendees who watch and never vote.
    """
    ALTER TABLE attendees ADD COLUMN role TEXT NOT NULL DEFAULT 'voter'
        CHECK (role IN ('voter', 'observer'));
    """,
)
# The marker of a migration that rebuilds a table (run with foreign keys off).
REBUILDS_A_TABLE = "-- rebuilds a table"


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
