"""The SQLite store: the one synchronous connection the CLI and each daemon thread use.

Every statement is parameterized. Writes that must be atomic run in
`BEGIN IMMEDIATE` transactions, so a concurrent CLI write can't slip in
between a read and the write that depends on it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from pairwise_ws.storage.errors import StorageError
from pairwise_ws.storage.schema import MIGRATIONS, REBUILDS_A_TABLE
from pairwise_ws.storage.sessions import Sessions

BUSY_TIMEOUT_S = 5.0  # the CLI waits this long for a busy database
# The daemon waits less: a commit stuck behind a long CLI transaction must
# not hold a session (or a shutdown) for long; it fails with internal_error.
DAEMON_BUSY_TIMEOUT_S = 2.0
SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


class Store(Sessions):
    """The whole store: open it with `Store.open`."""

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
            # A migration that rebuilds a table (SQLite can't change a CHECK in
            # place) runs with foreign keys off, as SQLite's documentation says,
            # and checks them before it commits.
            rebuild = REBUILDS_A_TABLE in script
            if rebuild:
                self.db.execute("PRAGMA foreign_keys = OFF")
            try:
                with self._immediate():
                    if self._scalar("PRAGMA user_version") >= number:
                        continue  # another process (the CLI, a daemon) just ran it
                    for statement in script.split(";"):
                        if statement.strip():
                            self.db.execute(statement)
                    if rebuild and self.db.execute("PRAGMA foreign_key_check").fetchall():
                        raise StorageError(f"migration {number} broke a foreign key")
                    self.db.execute(f"PRAGMA user_version = {int(number)}")
            finally:
                if rebuild:
                    self.db.execute("PRAGMA foreign_keys = ON")

    def data_version(self) -> int:
        """Changes whenever another connection (the CLI) commits to the database."""
        return self._scalar("PRAGMA data_version")

    def integrity_check(self) -> str:
        return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])
