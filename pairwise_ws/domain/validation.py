"""Checks on values that come from people: names, titles, settings, ids."""

from __future__ import annotations

import math
import unicodedata

from pairwise_ws.domain.models import ConsensusSettings, Criterion, Quorum, Rule, Schedule

MAX_NAME_CHARS = 100
MAX_TITLE_CHARS = 200
MAX_DESCRIPTION_CHARS = 2000
MAX_ID = 2**63 - 1  # SQLite's INTEGER PRIMARY KEY range


class ValidationError(ValueError):
    """A value given by a user is not acceptable; the message says why."""


def clean_text(value: str, what: str, *, max_chars: int, allow_empty: bool = False) -> str:
    """`value` with surrounding whitespace removed, or ValidationError.

    Control characters (other than none at all) are refused: they break tables,
    logs and terminals.
    """
    text = unicodedata.normalize("NFC", value).strip()
    if not text and not allow_empty:
        raise ValidationError(f"{what} must not be empty")
    if len(text) > max_chars:
        raise ValidationError(f"{what} is longer than {max_chars} characters")
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in text):
        raise ValidationError(f"{what} must not contain control characters")
    if any(unicodedata.category(ch) == "Cs" for ch in text):
        raise ValidationError(f"{what} is not valid text (lone surrogate characters)")
    if max_chars <= MAX_TITLE_CHARS and any(ch in text for ch in "\n\t\u2028\u2029"):
        raise ValidationError(f"{what} must be a single line without tabs")
    return text


def clean_name(value: str, what: str = "name") -> str:
    return clean_text(value, what, max_chars=MAX_NAME_CHARS)


def clean_title(value: str) -> str:
    return clean_text(value, "title", max_chars=MAX_TITLE_CHARS)


def clean_description(value: str) -> str:
    return clean_text(value, "description", max_chars=MAX_DESCRIPTION_CHARS, allow_empty=True)


def consensus_settings(
    *,
    rule: str = Rule.UNANIMOUS.value,
    threshold: float = 0.75,
    min_votes: int = 2,
    quorum: str = Quorum.PRESENT.value,
) -> ConsensusSettings:
    """Settings from user input, or ValidationError naming the bad one."""
    try:
        rule_ = Rule(rule)
    except ValueError:
        raise ValidationError(
            f"rule must be one of {', '.join(r.value for r in Rule)}, not {rule!r}"
        ) from None
    try:
        quorum_ = Quorum(quorum)
    except ValueError:
        raise ValidationError(
            f"quorum must be one of {', '.join(q.value for q in Quorum)}, not {quorum!r}"
        ) from None
    if not (math.isfinite(threshold) and 0.5 < threshold <= 1.0):
        raise ValidationError("threshold must be above 0.5 and at most 1.0")
    if not 1 <= min_votes <= 10_000:
        raise ValidationError("min-votes must be between 1 and 10000")
    return ConsensusSettings(rule=rule_, threshold=threshold, min_votes=min_votes, quorum=quorum_)


def schedule(value: str) -> Schedule:
    try:
        return Schedule(value)
    except ValueError:
        raise ValidationError(
            f"schedule must be one of {', '.join(s.value for s in Schedule)}, not {value!r}"
        ) from None


def criterion(value: str) -> Criterion:
    try:
        return Criterion(value)
    except ValueError:
        raise ValidationError(
            f"criterion must be one of {', '.join(c.value for c in Criterion)}, not {value!r}"
        ) from None
