"""The daemon's one notion of time on the wire and on disk: UTC, microseconds, a Z."""

from __future__ import annotations

from datetime import UTC, datetime

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # 2026-11-25T21:03:04.123456Z


def now_utc() -> datetime:
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(FORMAT)


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, FORMAT).replace(tzinfo=UTC)
