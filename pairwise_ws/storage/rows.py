"""Database rows into the domain's models."""

from __future__ import annotations

from typing import Any

from pairwise_ws.clock import parse_time
from pairwise_ws.domain.models import (
    Attendee,
    Choice,
    Comparison,
    ComparisonStatus,
    ConsensusSettings,
    Criterion,
    Feature,
    Quorum,
    Rule,
    Schedule,
    Session,
    SessionStatus,
    Vote,
)


def pk(value: Any) -> int:
    assert isinstance(value, int)
    return value


def feature(row: dict[str, Any]) -> Feature:
    return Feature(
        id=row["id"],
        project_id=row["project_id"],
        title=row["title"],
        description=row["description"],
    )


def attendee(row: dict[str, Any]) -> Attendee:
    return Attendee(
        id=row["id"],
        project_id=row["project_id"],
        name=row["name"],
        observer=row["role"] == "observer",
    )


def session(row: dict[str, Any]) -> Session:
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
        join_code=row["join_code"],
        schedule=Schedule(row["schedule"]),
    )


def comparison(row: dict[str, Any]) -> Comparison:
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
        implied_by=tuple(int(i) for i in row["implied_by"].split(",") if i),
        opened=row["opened"],
        asked=bool(row["asked"]),
        note=row["note"],
    )


def vote(row: dict[str, Any]) -> Vote:
    return Vote(
        comparison_id=row["comparison_id"],
        attendee_id=row["attendee_id"],
        choice=choice(row),
        voted_at=parse_time(row["voted_at"]),
    )


def choice(row: dict[str, Any]) -> Choice:
    if row["is_tie_vote"]:
        return Choice.tie()
    return Choice.feature(row["preferred_feature_id"])
