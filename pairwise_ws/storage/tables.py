"""What every part of the store shares: the connection, write transactions, one-row reads."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import sqlite_utils


class Tables:
    """The SQLite connection (through sqlite-utils) and the store's small helpers."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

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

    def _scalar(self, sql: str, *params: Any) -> int:
        return int(self.db.execute(sql, list(params)).fetchone()[0])
