"""Checks on values from people (pairwise_ws.domain.validation) and secret tokens (tokens)."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from typing import Any

import pytest

from pairwise_ws import tokens
from pairwise_ws.domain import validation
from pairwise_ws.domain.models import ConsensusSettings, Criterion, Quorum, Rule
from pairwise_ws.domain.validation import ValidationError

Cleaner = Callable[[str], str]
CLEANERS: list[tuple[str, Cleaner, int]] = [
    ("name", validation.clean_name, validation.MAX_NAME_CHARS),
    ("title", validation.clean_title, validation.MAX_TITLE_CHARS),
]
cleaners = pytest.mark.parametrize(
    ("what", "clean", "limit"), CLEANERS, ids=[what for what, _, _ in CLEANERS]
)


def test_limits() -> None:
    assert (validation.MAX_NAME_CHARS, validation.MAX_TITLE_CHARS) == (100, 200)


# --- names and titles ------------------------------------------------------------------------


@cleaners
@pytest.mark.parametrize(
    ("given", "cleaned"),
    [
        ("Ada", "Ada"),
        ("  Ada Lovelace \t ", "Ada Lovelace"),
        ("\u00a0Zoë\u3000", "Zoë"),  # Unicode spaces are stripped too
        ("Zoe\u0308", "Zoë"),  # NFC: e + combining diaeresis -> ë
        ("Cafe\u0301 au lait", "Café au lait"),
        ("日本語 😀", "日本語 😀"),
        ("a  b", "a  b"),  # inner spaces are kept
    ],
)
def test_clean_strips_and_normalizes(
    what: str, clean: Cleaner, limit: int, given: str, cleaned: str
) -> None:
    result = clean(given)

    assert result == cleaned
    assert len(result) == len(cleaned)


@cleaners
@pytest.mark.parametrize("given", ["", " ", "\t\n ", "\u00a0\u2003"])
def test_clean_refuses_empty(what: str, clean: Cleaner, limit: int, given: str) -> None:
    with pytest.raises(ValidationError, match=what):
        clean(given)


@cleaners
def test_clean_length_limit(what: str, clean: Cleaner, limit: int) -> None:
    assert clean("x" * limit) == "x" * limit
    assert clean(" " + "x" * limit + " ") == "x" * limit  # counted after stripping
    # Counted in characters after NFC: limit letters written with combining marks fit.
    assert clean("e\u0301" * limit) == "\u00e9" * limit
    with pytest.raises(ValidationError, match=str(limit)):
        clean("x" * (limit + 1))


@cleaners
@pytest.mark.parametrize(
    "control",
    ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\r", "\n", "\x1b[31m"],
    ids=["NUL", "BEL", "ESC", "DEL", "NEL", "CR", "LF", "ANSI"],
)
def test_clean_refuses_control_characters_and_newlines(
    what: str, clean: Cleaner, limit: int, control: str
) -> None:
    with pytest.raises(ValidationError, match=what):
        clean(f"before{control}after")


def test_clean_name_names_what_it_checks() -> None:
    with pytest.raises(ValidationError, match=r"^project name must not be empty$"):
        validation.clean_name("  ", "project name")


@pytest.mark.parametrize(
    ("given", "cleaned"),
    [
        ("", ""),
        ("  ", ""),
        ("Line one\nLine two", "Line one\nLine two"),
        ("  indented\n", "indented"),
    ],
)
def test_clean_description(given: str, cleaned: str) -> None:
    assert validation.clean_description(given) == cleaned


def test_clean_description_refuses_controls_and_length() -> None:
    with pytest.raises(ValidationError):
        validation.clean_description("bell\x07")
    with pytest.raises(ValidationError):
        validation.clean_description("x" * (validation.MAX_DESCRIPTION_CHARS + 1))


# --- ids ----------------------------------------------------------------------------------------


# --- consensus settings ---------------------------------------------------------------------


def test_consensus_settings_defaults() -> None:
    assert validation.consensus_settings() == ConsensusSettings(
        rule=Rule.UNANIMOUS, threshold=0.75, min_votes=2, quorum=Quorum.PRESENT
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"rule": "majority"}, ConsensusSettings(rule=Rule.MAJORITY)),
        (
            {"rule": "supermajority", "threshold": 1.0},
            ConsensusSettings(rule=Rule.SUPERMAJORITY, threshold=1.0),
        ),
        (
            {"rule": "supermajority", "threshold": 0.51},
            ConsensusSettings(rule=Rule.SUPERMAJORITY, threshold=0.51),
        ),
        ({"min_votes": 1}, ConsensusSettings(min_votes=1)),
        ({"min_votes": 10_000}, ConsensusSettings(min_votes=10_000)),
        ({"quorum": "all"}, ConsensusSettings(quorum=Quorum.ALL)),
    ],
)
def test_consensus_settings_accepts(given: dict[str, Any], expected: ConsensusSettings) -> None:
    assert validation.consensus_settings(**given) == expected


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"rule": "plurality"}, "rule"),
        ({"rule": "Unanimous"}, "rule"),
        ({"rule": ""}, "rule"),
        ({"quorum": "some"}, "quorum"),
        ({"quorum": "ALL"}, "quorum"),
        ({"threshold": 0.5}, "threshold"),
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": 1.01}, "threshold"),
        ({"threshold": -0.75}, "threshold"),
        ({"threshold": math.nan}, "threshold"),
        ({"threshold": math.inf}, "threshold"),
        ({"min_votes": 0}, "min-votes"),
        ({"min_votes": -2}, "min-votes"),
        ({"min_votes": 10_001}, "min-votes"),
    ],
)
def test_consensus_settings_refuses(given: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        validation.consensus_settings(**given)


@pytest.mark.parametrize(
    ("given", "criterion"),
    [("value", Criterion.VALUE), ("complexity", Criterion.COMPLEXITY)],
)
def test_criterion_accepts(given: str, criterion: Criterion) -> None:
    assert validation.criterion(given) is criterion


@pytest.mark.parametrize("bad", ["", "Value", "cost", " value"])
def test_criterion_refuses(bad: str) -> None:
    with pytest.raises(ValidationError, match="criterion must be one of value, complexity"):
        validation.criterion(bad)


# --- tokens -------------------------------------------------------------------------------------

URLSAFE = re.compile(r"^[A-Za-z0-9_-]+$")


def test_new_token_has_at_least_128_bits() -> None:
    drawn = [tokens.new_token() for _ in range(1000)]

    assert all(URLSAFE.match(token) for token in drawn)
    assert min(len(token) for token in drawn) >= 22  # 22 * 6 bits = 132 bits
    assert len(set(drawn)) == len(drawn)


def test_hash_token_is_hex_sha256() -> None:
    token = tokens.new_token()

    digest = tokens.hash_token(token)

    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert tokens.hash_token("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert tokens.hash_token(token) == digest  # deterministic


def test_hash_token_does_not_store_the_token() -> None:
    token = tokens.new_token()

    assert token not in tokens.hash_token(token)


def test_hash_token_survives_odd_input() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", tokens.hash_token("\ud800"))
    assert re.fullmatch(r"[0-9a-f]{64}", tokens.hash_token(""))


def test_token_matches() -> None:
    token = tokens.new_token()
    stored = tokens.hash_token(token)

    assert tokens.token_matches(token, stored) is True
    assert tokens.token_matches(tokens.new_token(), stored) is False
    assert tokens.token_matches(token[:-1], stored) is False
    assert tokens.token_matches(token + "x", stored) is False
    assert tokens.token_matches("", stored) is False
    assert tokens.token_matches(token, "") is False
    assert tokens.token_matches(token, token) is False  # the hash, not the token, is stored
