"""The command line: --json outputs, results, the database path, and one-line errors."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner, Result

from pairwise_ws import tokens
from pairwise_ws.app import operations
from pairwise_ws.cli import cli, main
from pairwise_ws.domain.models import (
    Choice,
    Comparison,
    Criterion,
    Outcome,
    Quorum,
    Rule,
    SessionStatus,
    Vote,
)
from pairwise_ws.domain.session import ConsensusReached, Transition, VoteRecorded, cast_vote
from pairwise_ws.domain.session import new_state as new_session_state
from pairwise_ws.storage import Store
from tests.conftest import make_workshop

ENV_VARS = ("PAIRWISE_WS_DB", "PAIRWISE_WS_CONFIG")
T0 = datetime(2026, 11, 25, 21, 3, 4, 123456, tzinfo=UTC)
T0_TEXT = "2026-11-25T21:03:04.123456Z"
DEFAULT_BASE = "http://127.0.0.1:8765/"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No database or config from the developer's shell; ./pairwise.db lands in tmp_path."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def invoke_json(db: str, *args: str) -> dict[str, Any]:
    """Run `--db DB ARGS --json`; the output must be exactly one JSON object."""
    result = invoke("--db", db, *args, "--json")
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    payload = json.loads(lines[0])
    assert isinstance(payload, dict)
    return payload


def results_json(db: str, session_id: int) -> dict[str, Any]:
    result = invoke("--db", db, "results", str(session_id), "--format", "json")
    payload = json.loads(result.stdout)
    assert isinstance(payload, dict)
    return payload


def pws(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real entry point in a child process, without the caller's PAIRWISE_WS_* variables."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    return subprocess.run(
        [sys.executable, "-m", "pairwise_ws", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env,
        check=False,
    )


def project_with_features(db: str, count: int, name: str = "Project") -> int:
    store = Store.open(db)
    try:
        project, _ = operations.create_project(store, name)
        for i in range(count):
            operations.add_feature(store, project.id, f"Feature {i}")
    finally:
        store.close()
    return project.id


# --- setup commands, --json ------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Roadmap 2027", "Roadmap 2027"),
        ("  Padded  ", "Padded"),
        ("Café ☕ Ünïcödé", "Café ☕ Ünïcödé"),
        ("x'); DROP TABLE projects; --", "x'); DROP TABLE projects; --"),
    ],
)
def test_project_create_json(db_path: str, typed: str, stored: str) -> None:
    payload = invoke_json(db_path, "project", "create", typed)

    assert set(payload) == {"id", "name", "facilitator_token"}
    assert payload["id"] == 1
    assert payload["name"] == stored
    token = payload["facilitator_token"]
    assert isinstance(token, str)
    assert len(token) >= 20
    store = Store.open(db_path)
    try:
        assert [p.name for p in store.projects()] == [stored]
        credentials = store.facilitator_credentials(1)
        assert credentials is not None
        assert tokens.token_matches(token, credentials.token_hash)
    finally:
        store.close()


def test_project_create_without_json_prints_text(db_path: str) -> None:
    result = invoke("--db", db_path, "project", "create", "Roadmap")
    assert "Roadmap" in result.stdout
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)


@pytest.mark.parametrize("description", [None, "", "Works without a network; syncs later."])
def test_feature_add_json(db_path: str, description: str | None) -> None:
    project_id = project_with_features(db_path, 0)
    extra = [] if description is None else ["--description", description]

    payload = invoke_json(db_path, "feature", "add", str(project_id), "Offline mode", *extra)

    assert payload == {"id": 1, "project_id": project_id, "title": "Offline mode"}
    store = Store.open(db_path)
    try:
        (feature,) = store.features(project_id)
    finally:
        store.close()
    assert feature.title == "Offline mode"
    assert feature.description == (description or "")


def test_attendee_add_json_default_join_url(db_path: str) -> None:
    project_id = project_with_features(db_path, 0)

    payload = invoke_json(db_path, "attendee", "add", str(project_id), "Ada")

    assert set(payload) == {"id", "project_id", "name", "role", "token", "join_url"}
    assert payload["role"] == "voter"
    assert payload["id"] == 1
    assert payload["project_id"] == project_id
    assert payload["name"] == "Ada"
    assert payload["join_url"].startswith(DEFAULT_BASE)
    assert payload["token"] in payload["join_url"]
    store = Store.open(db_path)
    try:
        credentials = store.attendee_credentials(payload["id"])
    finally:
        store.close()
    assert credentials is not None
    assert tokens.token_matches(payload["token"], credentials.token_hash)


@pytest.mark.parametrize(
    ("server_section", "base"),
    [
        ('host = "10.1.2.3"\nport = 9100', "http://10.1.2.3:9100/"),
        ("port = 8081", "http://127.0.0.1:8081/"),
        ('host = "::1"\nport = 9000', "http://[::1]:9000/"),
        ('public_url = "https://vote.example.org"', "https://vote.example.org/"),
        ('public_url = "https://vote.example.org/ws/"', "https://vote.example.org/ws/"),
    ],
)
def test_attendee_add_join_url_uses_the_configured_address(
    db_path: str, tmp_path: Path, server_section: str, base: str
) -> None:
    project_id = project_with_features(db_path, 0)
    config = tmp_path / "config.toml"
    config.write_text(f"[server]\n{server_section}\n", encoding="utf-8")

    payload = invoke_json(
        db_path, "--config", str(config), "attendee", "add", str(project_id), "Ada"
    )

    assert payload["join_url"].startswith(base)
    assert "//" not in payload["join_url"].split("://", 1)[1]
    assert payload["token"] in payload["join_url"]


@pytest.mark.parametrize("n", [2, 3, 4, 6])
def test_session_create_json(db_path: str, n: int) -> None:
    project_id = project_with_features(db_path, n)

    payload = invoke_json(db_path, "session", "create", str(project_id))

    assert set(payload) == {"id", "project_id", "status", "schedule", "join_url", "comparisons"}
    assert payload["schedule"] == "all"
    assert payload["join_url"].startswith(
        f"{DEFAULT_BASE}projects/{project_id}/sessions/1/join?code="
    )
    assert payload["id"] == 1
    assert payload["project_id"] == project_id
    assert payload["status"] == "active"
    comparisons = payload["comparisons"]
    assert len(comparisons) == n * (n - 1) // 2
    for c in comparisons:
        assert set(c) == {"id", "position", "feature_a_id", "feature_b_id"}
    assert [c["position"] for c in comparisons] == list(range(1, len(comparisons) + 1))
    assert len({c["id"] for c in comparisons}) == len(comparisons)
    pairs = {frozenset((c["feature_a_id"], c["feature_b_id"])) for c in comparisons}
    assert len(pairs) == len(comparisons)
    assert pairs == {frozenset(p) for p in itertools.combinations(range(1, n + 1), 2)}


@pytest.mark.parametrize(
    ("options", "criterion", "rule", "threshold", "min_votes", "quorum"),
    [
        ([], Criterion.VALUE, Rule.UNANIMOUS, 0.75, 2, Quorum.PRESENT),
        (
            [
                "--criterion",
                "complexity",
                "--rule",
                "supermajority",
                "--threshold",
                "0.8",
                "--min-votes",
                "3",
                "--quorum",
                "all",
            ],
            Criterion.COMPLEXITY,
            Rule.SUPERMAJORITY,
            0.8,
            3,
            Quorum.ALL,
        ),
        (
            ["--rule", "majority", "--min-votes", "1"],
            Criterion.VALUE,
            Rule.MAJORITY,
            0.75,
            1,
            Quorum.PRESENT,
        ),
    ],
)
def test_session_create_stores_the_options(
    db_path: str,
    options: list[str],
    criterion: Criterion,
    rule: Rule,
    threshold: float,
    min_votes: int,
    quorum: Quorum,
) -> None:
    project_id = project_with_features(db_path, 3)

    payload = invoke_json(db_path, "session", "create", str(project_id), *options)

    store = Store.open(db_path)
    try:
        session = store.session(payload["id"])
    finally:
        store.close()
    assert session.criterion is criterion
    assert session.settings.rule is rule
    assert session.settings.threshold == threshold
    assert session.settings.min_votes == min_votes
    assert session.settings.quorum is quorum


def test_session_close_json_is_idempotent(db_path: str) -> None:
    project_id = project_with_features(db_path, 2)
    session_id = invoke_json(db_path, "session", "create", str(project_id))["id"]

    first = invoke_json(db_path, "session", "close", str(session_id))
    second = invoke_json(db_path, "session", "close", str(session_id))

    assert first == {"id": session_id, "status": "closed"}
    assert second == first
    store = Store.open(db_path)
    try:
        assert store.session_status(session_id) is SessionStatus.CLOSED
    finally:
        store.close()


# --- results ----------------------------------------------------------------------------


@attrs.frozen
class Scenario:
    session_id: int
    a: int
    b: int
    c: int
    d: int
    ada: int
    bob: int
    comparisons: dict[frozenset[int], Comparison]


TITLES = ("Alpha", "Beta, with comma", 'Gamma "quoted"', "Delta")


def decided_scenario(db: str) -> Scenario:
    """Four features; A>B (two votes), A~C (two tie votes), B>C, D>A decided; B-D, C-D open.

    W: D 1/1 = 1.0; A (1 + 0.5)/3 = 0.5; B 1/2 = 0.5; C 0.5/2 = 0.25.
    A and B share W; A beat B head to head, so A ranks above B.
    """
    store = Store.open(db)
    try:
        project, _ = operations.create_project(store, "Results")
        a, b, c, d = (operations.add_feature(store, project.id, t).id for t in TITLES)
        ada = operations.add_attendee(store, project.id, "Ada")[0].id
        bob = operations.add_attendee(store, project.id, "Bob")[0].id
        session, comparisons = operations.create_session(store, project.id)
        by_pair = {frozenset(x.feature_ids): x for x in comparisons}

        def vote(x: int, y: int, attendee: int, option: int | None) -> VoteRecorded:
            choice = Choice.tie() if option is None else Choice.feature(option)
            comparison_id = by_pair[frozenset((x, y))].id
            return VoteRecorded(Vote(comparison_id, attendee, choice, T0), 1, 2)

        def decide(x: int, y: int, option: int | None) -> ConsensusReached:
            return ConsensusReached(by_pair[frozenset((x, y))].with_outcome(Outcome.of(option)))

        stored = store.record(
            session.id,
            [
                vote(a, b, ada, a),
                vote(a, b, bob, a),
                decide(a, b, a),
                vote(a, c, ada, None),
                vote(a, c, bob, None),
                decide(a, c, None),
                decide(b, c, b),
                decide(d, a, d),
            ],
        )
        assert stored
    finally:
        store.close()
    return Scenario(session.id, a, b, c, d, ada, bob, by_pair)


def test_results_json(db_path: str) -> None:
    s = decided_scenario(db_path)

    payload = results_json(db_path, s.session_id)

    assert set(payload) == {"session", "ranking", "cycles", "comparisons", "combined", "attendees"}
    assert payload["attendees"] == [
        {"attendee_id": s.ada, "name": "Ada", "removed": False},
        {"attendee_id": s.bob, "name": "Bob", "removed": False},
    ]
    assert payload["combined"] is None  # no complexity session in this project
    assert payload["session"]["id"] == s.session_id
    assert payload["session"]["status"] == "active"
    assert payload["cycles"] == []
    ranking = payload["ranking"]
    for item in ranking:
        assert {"feature_id", "title", "rank", "wins", "losses", "ties", "win_count_weight"} <= set(
            item
        )
    assert [
        (r["feature_id"], r["title"], r["rank"], r["wins"], r["losses"], r["ties"]) for r in ranking
    ] == [
        (s.d, "Delta", 1, 1, 0, 0),
        (s.a, "Alpha", 2, 1, 1, 1),
        (s.b, "Beta, with comma", 3, 1, 1, 0),
        (s.c, 'Gamma "quoted"', 4, 0, 1, 1),
    ]
    weights = {r["feature_id"]: r["win_count_weight"] for r in ranking}
    assert weights == pytest.approx({s.d: 1.0, s.a: 0.5, s.b: 0.5, s.c: 0.25})

    comparisons = {
        frozenset((c["feature_a_id"], c["feature_b_id"])): c for c in payload["comparisons"]
    }
    assert len(payload["comparisons"]) == 6
    for c in payload["comparisons"]:
        assert {
            "id",
            "feature_a_id",
            "feature_b_id",
            "status",
            "winner_id",
            "is_tie",
            "votes",
        } <= set(c)
        assert c["id"] == s.comparisons[frozenset((c["feature_a_id"], c["feature_b_id"]))].id

    won = comparisons[frozenset((s.a, s.b))]
    assert (won["status"], won["winner_id"], won["is_tie"]) == ("decided", s.a, False)
    assert won["votes"] == [
        {
            "attendee_id": s.ada,
            "preferred_feature_id": s.a,
            "is_tie_vote": False,
            "voted_at": T0_TEXT,
        },
        {
            "attendee_id": s.bob,
            "preferred_feature_id": s.a,
            "is_tie_vote": False,
            "voted_at": T0_TEXT,
        },
    ]
    tied = comparisons[frozenset((s.a, s.c))]
    assert (tied["status"], tied["winner_id"], tied["is_tie"]) == ("decided", None, True)
    assert [
        (v["attendee_id"], v["preferred_feature_id"], v["is_tie_vote"]) for v in tied["votes"]
    ] == [
        (s.ada, None, True),
        (s.bob, None, True),
    ]
    for pair in ((s.b, s.d), (s.c, s.d)):
        still_open = comparisons[frozenset(pair)]
        assert (still_open["status"], still_open["winner_id"], still_open["is_tie"]) == (
            "open",
            None,
            False,
        )
        assert still_open["votes"] == []

    # W = (wins + 0.5 * ties) / decided comparisons involving the feature, from the output itself.
    for item in ranking:
        fid = item["feature_id"]
        involved = [
            c
            for c in payload["comparisons"]
            if c["status"] == "decided" and fid in (c["feature_a_id"], c["feature_b_id"])
        ]
        wins = sum(1 for c in involved if c["winner_id"] == fid)
        ties = sum(1 for c in involved if c["is_tie"])
        assert (item["wins"], item["ties"], item["losses"]) == (
            wins,
            ties,
            len(involved) - wins - ties,
        )
        assert item["win_count_weight"] == pytest.approx((wins + 0.5 * ties) / len(involved))


def test_results_json_after_votes_cast_by_the_domain(db_path: str) -> None:
    w = make_workshop(db_path, features=3, attendees=2)
    store = Store.open(db_path)
    try:
        snapshot = store.load_session(w.session_id)
        state = new_session_state(
            snapshot.session,
            snapshot.features,
            snapshot.attendees,
            snapshot.comparisons,
            snapshot.votes,
        )
        first, second = w.comparisons[0], w.comparisons[1]
        ballots = [
            (w.attendees[0].id, first.id, first.a),
            (w.attendees[1].id, first.id, first.a),
            (w.attendees[0].id, second.id, second.a),
            (w.attendees[1].id, second.id, second.b),
        ]
        for attendee_id, comparison_id, option in ballots:
            transition = cast_vote(state, attendee_id, comparison_id, Choice.feature(option), T0)
            assert isinstance(transition, Transition), transition
            assert store.record(w.session_id, transition.events)
            state = transition.state
    finally:
        store.close()

    payload = results_json(db_path, w.session_id)

    by_id = {c["id"]: c for c in payload["comparisons"]}
    assert (by_id[first.id]["status"], by_id[first.id]["winner_id"]) == ("decided", first.a)
    assert (by_id[second.id]["status"], by_id[second.id]["winner_id"]) == ("open", None)
    assert [v["preferred_feature_id"] for v in by_id[second.id]["votes"]] == [second.a, second.b]
    ranking = {r["feature_id"]: r for r in payload["ranking"]}
    assert (ranking[first.a]["rank"], ranking[first.a]["wins"]) == (1, 1)
    assert ranking[first.a]["win_count_weight"] == pytest.approx(1.0)
    assert (ranking[first.b]["wins"], ranking[first.b]["losses"]) == (0, 1)
    assert ranking[first.b]["win_count_weight"] == pytest.approx(0.0)
    third = ({*w.feature_ids} - {first.a, first.b}).pop()
    assert (ranking[third]["wins"], ranking[third]["losses"], ranking[third]["ties"]) == (0, 0, 0)


def test_results_json_flags_cycles_and_shares_ranks(db_path: str) -> None:
    store = Store.open(db_path)
    try:
        project, _ = operations.create_project(store, "Cycle")
        a, b, c = (operations.add_feature(store, project.id, t).id for t in ("A", "B", "C"))
        session, comparisons = operations.create_session(store, project.id)
        by_pair = {frozenset(x.feature_ids): x for x in comparisons}
        store.record(
            session.id,
            [
                ConsensusReached(by_pair[frozenset(p)].with_outcome(Outcome.of(p[0])))
                for p in ((a, b), (b, c), (c, a))
            ],
        )
    finally:
        store.close()

    payload = results_json(db_path, session.id)

    assert payload["cycles"] == [[a, b, c]]
    assert [(r["rank"], r["wins"], r["losses"]) for r in payload["ranking"]] == [(1, 1, 1)] * 3
    assert [r["win_count_weight"] for r in payload["ranking"]] == pytest.approx([0.5] * 3)
    table = invoke("--db", db_path, "results", str(session.id)).stdout
    assert "cycle" in table.lower()


def test_results_csv(db_path: str) -> None:
    s = decided_scenario(db_path)
    ranking = results_json(db_path, s.session_id)["ranking"]

    text = invoke("--db", db_path, "results", str(s.session_id), "--format", "csv").stdout

    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    assert {"feature_id", "title", "rank", "wins", "losses", "ties", "win_count_weight"} <= set(
        header
    )
    assert len(body) == 4
    records = [dict(zip(header, row, strict=True)) for row in body]
    assert [
        (
            int(r["feature_id"]),
            r["title"],
            int(r["rank"]),
            int(r["wins"]),
            int(r["losses"]),
            int(r["ties"]),
        )
        for r in records
    ] == [
        (x["feature_id"], x["title"], x["rank"], x["wins"], x["losses"], x["ties"]) for x in ranking
    ]
    assert [float(r["win_count_weight"]) for r in records] == pytest.approx([1.0, 0.5, 0.5, 0.25])


def test_results_table(db_path: str) -> None:
    s = decided_scenario(db_path)

    text = invoke("--db", db_path, "results", str(s.session_id), "--format", "table").stdout
    default = invoke("--db", db_path, "results", str(s.session_id)).stdout

    assert default == text
    positions = [text.index(title) for title in ("Delta", "Alpha", "Beta, with comma")]
    assert positions == sorted(positions)
    assert text.index("Beta, with comma") < text.index('Gamma "quoted"')
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


# --- the database path ------------------------------------------------------------------

DB_FILES = ("cli.db", "env.db", "config.db", "pairwise.db")


@pytest.mark.parametrize(
    ("flag", "env", "config", "chosen"),
    [
        (True, True, True, "cli.db"),
        (True, False, True, "cli.db"),
        (True, True, False, "cli.db"),
        (False, True, True, "env.db"),
        (False, True, False, "env.db"),
        (False, False, True, "config.db"),
        (False, False, False, "pairwise.db"),
    ],
)
def test_database_path_precedence(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flag: bool,
    env: bool,
    config: bool,
    chosen: str,
) -> None:
    args: list[str] = []
    if flag:
        args += ["--db", "cli.db"]
    if env:
        monkeypatch.setenv("PAIRWISE_WS_DB", "env.db")
    if config:
        (tmp_path / "settings.toml").write_text('[database]\npath = "config.db"\n', "utf-8")
        args += ["--config", "settings.toml"]

    invoke(*args, "project", "create", "Where am I", "--json")

    assert [name for name in DB_FILES if (tmp_path / name).exists()] == [chosen]
    store = Store.open(tmp_path / chosen)
    try:
        assert [p.name for p in store.projects()] == ["Where am I"]
    finally:
        store.close()


def test_database_path_from_the_environment_in_a_real_process(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env["PAIRWISE_WS_DB"] = str(tmp_path / "env.db")
    done = subprocess.run(
        [sys.executable, "-m", "pairwise_ws", "project", "create", "Env", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["name"] == "Env"
    assert (tmp_path / "env.db").exists()
    assert not (tmp_path / "pairwise.db").exists()


# --- errors: one line on stderr, non-zero, no traceback -----------------------------------

# name -> (file text, what the message must name). Files are called cfgN.toml so that
# the file name itself can never contain the expected key.
CONFIG_CASES = {
    "unknown-key": ("[server]\nbogus = 1\n", "bogus"),
    "unknown-section": ("[nosuch]\nport = 1\n", "nosuch"),
    "not-toml": ("this is not TOML at all", "TOML"),
    "wrong-type": ('[server]\nport = "8765"\n', "port"),
    "wrong-type-bool": ("[limits]\nrate_burst = true\n", "rate_burst"),
    "section-not-table": ('server = "localhost"\n', "server"),
    "out-of-range-port": ("[server]\nport = 70000\n", "port"),
    "out-of-range-limit": ("[limits]\nmax_message_bytes = 10\n", "max_message_bytes"),
    "out-of-range-keepalive": ("[keepalive]\nping_interval = -1.0\n", "ping_interval"),
    "bad-public-url": ('[server]\npublic_url = "ftp://example.org"\n', "public_url"),
    "bad-origin": ('[security]\nallowed_origins = ["nope"]\n', "allowed_origins"),
    "bad-synchronous": ('[database]\nsynchronous = "sometimes"\n', "synchronous"),
    "bad-log-level": ('[logging]\nlevel = "loud"\n', "level"),
}
CONFIG_FILES = {name: f"cfg{i}.toml" for i, name in enumerate(CONFIG_CASES)}

# (id, arguments, a fragment the one line must contain)
ERROR_CASES: list[tuple[str, list[str], str]] = [
    ("unknown-project", ["feature", "add", "999", "x"], "project 999"),
    ("unknown-project-attendee", ["attendee", "add", "999", "Ada"], "project 999"),
    ("unknown-project-session", ["session", "create", "999"], "project 999"),
    ("unknown-project-list", ["feature", "list", "999"], "project 999"),
    ("unknown-project-token", ["project", "token", "999"], "project 999"),
    ("unknown-attendee-token", ["attendee", "token", "999"], "attendee 999"),
    ("empty-name", ["project", "create", "  "], "empty"),
    ("empty-name-2", ["project", "create", ""], "empty"),
    ("empty-title", ["feature", "add", "1", " \t "], "empty"),
    ("empty-attendee-name", ["attendee", "add", "1", "   "], "empty"),
    ("long-name", ["project", "create", "x" * 101], "100"),
    ("bad-rule", ["session", "create", "1", "--rule", "often"], "--rule"),
    ("bad-threshold", ["session", "create", "1", "--threshold", "0.3"], "threshold"),
    (
        "bad-threshold-high",
        ["session", "create", "1", "--rule", "supermajority", "--threshold", "1.5"],
        "threshold",
    ),
    ("bad-min-votes", ["session", "create", "1", "--min-votes", "0"], "min-votes"),
    ("bad-quorum", ["session", "create", "1", "--quorum", "some"], "--quorum"),
    ("bad-criterion", ["session", "create", "1", "--criterion", "beauty"], "--criterion"),
    ("one-feature", ["session", "create", "2"], "at least 2"),
    ("unknown-session-results", ["results", "999"], "session 999"),
    ("unknown-session-close", ["session", "close", "999"], "session 999"),
    ("unknown-session-registration", ["session", "registration", "999", "on"], "session 999"),
    ("bad-registration-state", ["session", "registration", "1", "maybe"], "'maybe'"),
    ("bad-format", ["results", "1", "--format", "xml"], "--format"),
    ("non-integer-id", ["feature", "add", "abc", "x"], "PROJECT_ID"),
    ("zero-id", ["feature", "add", "0", "x"], "PROJECT_ID"),
    ("missing-argument", ["feature", "add", "1"], "TITLE"),
    ("unknown-command", ["frobnicate"], "frobnicate"),
    ("db-folder", ["--db", "no/such/folder/x.db", "project", "list"], "no/such/folder"),
    ("db-garbage", ["--db", "garbage.bin", "project", "list"], "garbage.bin"),
    ("config-missing", ["--config", "missing.toml", "project", "list"], "missing.toml"),
    *(
        (f"config-{name}", ["--config", CONFIG_FILES[name], "project", "list"], key)
        for name, (_, key) in CONFIG_CASES.items()
    ),
]
# The ones that also run as a real child process (the rest run `main` in this process).
IN_A_CHILD_PROCESS = {
    "unknown-project",
    "empty-name",
    "bad-rule",
    "bad-threshold",
    "one-feature",
    "config-unknown-key",
    "config-not-toml",
    "config-missing",
    "db-folder",
    "unknown-session-results",
}


@pytest.fixture
def error_cwd(tmp_path: Path) -> Path:
    """The cwd: ./pairwise.db with project 1 (two features) and 2 (one), plus config files."""
    project_with_features(str(tmp_path / "pairwise.db"), 2, "Two")
    project_with_features(str(tmp_path / "pairwise.db"), 1, "One")
    (tmp_path / "garbage.bin").write_bytes(b"certainly not SQLite " * 200)
    for name, (text, _) in CONFIG_CASES.items():
        (tmp_path / CONFIG_FILES[name]).write_text(text, encoding="utf-8")
    return tmp_path


def check_one_error_line(stderr: str, expected: str) -> None:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    (line,) = lines
    assert line.startswith("pairwise-ws: error: "), line
    assert expected in line
    assert "Attribute(" not in line, line  # a sentence, not an object's repr


@pytest.mark.parametrize(
    ("args", "expected"),
    [pytest.param(a, e, id=i) for i, a, e in ERROR_CASES if i in IN_A_CHILD_PROCESS],
)
def test_user_mistakes_in_a_real_process(error_cwd: Path, args: list[str], expected: str) -> None:
    done = pws(*args, cwd=error_cwd)

    assert done.returncode != 0
    check_one_error_line(done.stderr, expected)
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("args", "expected"), [pytest.param(a, e, id=i) for i, a, e in ERROR_CASES]
)
def test_user_mistakes_end_with_one_line_on_stderr(
    error_cwd: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)

    assert exited.value.code not in (0, None)
    captured = capsys.readouterr()
    check_one_error_line(captured.err, expected)
    assert captured.out == ""


def test_a_refused_command_changes_nothing(error_cwd: Path) -> None:
    done = pws("session", "create", "1", "--threshold", "0.3", cwd=error_cwd)
    assert done.returncode != 0
    store = Store.open(error_cwd / "pairwise.db")
    try:
        assert store.sessions(1) == []
        assert [p.name for p in store.projects()] == ["Two", "One"]
    finally:
        store.close()
    assert not (error_cwd / "no").exists()


def test_the_real_entry_point_prints_json_and_exits_zero(tmp_path: Path) -> None:
    done = pws("--db", "real.db", "project", "create", "Real", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    payload = json.loads(done.stdout)
    assert set(payload) == {"id", "name", "facilitator_token"}
    assert payload["name"] == "Real"


# --- listing and tokens -------------------------------------------------------------------


def test_project_list(db_path: str) -> None:
    assert invoke_json(db_path, "project", "list") == {"projects": []}
    invoke_json(db_path, "project", "create", "First")
    invoke_json(db_path, "project", "create", "Second")

    assert invoke_json(db_path, "project", "list") == {
        "projects": [{"id": 1, "name": "First"}, {"id": 2, "name": "Second"}]
    }
    text = invoke("--db", db_path, "project", "list").stdout
    assert "First" in text
    assert "Second" in text


def test_feature_list(db_path: str) -> None:
    project_id = invoke_json(db_path, "project", "create", "P")["id"]
    other = invoke_json(db_path, "project", "create", "Other")["id"]
    invoke_json(db_path, "feature", "add", str(project_id), "Dark theme", "--description", "Night")
    invoke_json(db_path, "feature", "add", str(project_id), "Search")
    invoke_json(db_path, "feature", "add", str(other), "Elsewhere")

    payload = invoke_json(db_path, "feature", "list", str(project_id))

    assert [(f["id"], f["title"], f["description"]) for f in payload["features"]] == [
        (1, "Dark theme", "Night"),
        (2, "Search", ""),
    ]
    text = invoke("--db", db_path, "feature", "list", str(project_id)).stdout
    assert "Dark theme" in text
    assert "Search" in text
    assert "Elsewhere" not in text


def test_attendee_list_never_shows_tokens(db_path: str) -> None:
    project_id = invoke_json(db_path, "project", "create", "P")["id"]
    ada = invoke_json(db_path, "attendee", "add", str(project_id), "Ada")
    bob = invoke_json(db_path, "attendee", "add", str(project_id), "Bob")

    result = invoke("--db", db_path, "attendee", "list", str(project_id), "--json")
    payload = json.loads(result.stdout)

    assert [(a["id"], a["name"]) for a in payload["attendees"]] == [
        (ada["id"], "Ada"),
        (bob["id"], "Bob"),
    ]
    text = invoke("--db", db_path, "attendee", "list", str(project_id)).stdout
    assert "Ada" in text
    assert "Bob" in text
    for output in (result.stdout, text):
        assert ada["token"] not in output
        assert bob["token"] not in output


def test_session_list(db_path: str) -> None:
    project_id = project_with_features(db_path, 3)
    first = invoke_json(db_path, "session", "create", str(project_id))["id"]
    second = invoke_json(
        db_path, "session", "create", str(project_id), "--criterion", "complexity"
    )["id"]
    invoke_json(db_path, "session", "close", str(first))

    payload = invoke_json(db_path, "session", "list", str(project_id))

    assert [(s["id"], s["criterion"], s["status"]) for s in payload["sessions"]] == [
        (first, "value", "closed"),
        (second, "complexity", "active"),
    ]
    text = invoke("--db", db_path, "session", "list", str(project_id)).stdout
    assert "closed" in text
    assert "active" in text


def test_attendee_token_rotates(db_path: str) -> None:
    project_id = invoke_json(db_path, "project", "create", "P")["id"]
    added = invoke_json(db_path, "attendee", "add", str(project_id), "Ada")

    rotated = invoke_json(db_path, "attendee", "token", str(added["id"]))

    assert set(rotated) >= {"id", "project_id", "name", "token", "join_url"}
    assert (rotated["id"], rotated["project_id"], rotated["name"]) == (
        added["id"],
        project_id,
        "Ada",
    )
    assert rotated["token"] != added["token"]
    assert rotated["token"] in rotated["join_url"]
    assert added["token"] not in rotated["join_url"]
    assert rotated["join_url"].startswith(DEFAULT_BASE)
    store = Store.open(db_path)
    try:
        credentials = store.attendee_credentials(added["id"])
    finally:
        store.close()
    assert credentials is not None
    assert tokens.token_matches(rotated["token"], credentials.token_hash)
    assert not tokens.token_matches(added["token"], credentials.token_hash)


def test_project_token_rotates(db_path: str) -> None:
    created = invoke_json(db_path, "project", "create", "P")

    rotated = invoke_json(db_path, "project", "token", str(created["id"]))

    assert rotated["id"] == created["id"]
    assert rotated["facilitator_token"] != created["facilitator_token"]
    store = Store.open(db_path)
    try:
        credentials = store.facilitator_credentials(created["id"])
    finally:
        store.close()
    assert credentials is not None
    assert tokens.token_matches(rotated["facilitator_token"], credentials.token_hash)
    assert not tokens.token_matches(created["facilitator_token"], credentials.token_hash)


# --- help -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["-h"],
        ["project", "--help"],
        ["session", "create", "--help"],
        ["results", "--help"],
        ["serve", "--help"],
    ],
)
def test_help_exits_zero(args: list[str]) -> None:
    result = invoke(*args)
    assert "Usage:" in result.stdout


def test_help_in_a_real_process(tmp_path: Path) -> None:
    done = pws("--help", cwd=tmp_path)
    assert done.returncode == 0
    assert "Usage:" in done.stdout
    for command in ("project", "feature", "attendee", "session", "results", "serve"):
        assert command in done.stdout
    assert not (tmp_path / "pairwise.db").exists()


# --- self-registration and the combined view ----------------------------------------


def test_session_registration_turns_the_join_page_on_and_off(db_path: str) -> None:
    project_id = project_with_features(db_path, 2)
    session = invoke_json(db_path, "session", "create", str(project_id))

    off = invoke_json(db_path, "session", "registration", str(session["id"]), "off")
    on = invoke_json(db_path, "session", "registration", str(session["id"]), "on")
    rotated = invoke_json(db_path, "session", "registration", str(session["id"]), "rotate")

    assert off == {"id": session["id"], "self_registration": False, "join_url": None}
    assert on == {"id": session["id"], "self_registration": True, "join_url": session["join_url"]}
    assert rotated["self_registration"] is True
    join_page = f"{DEFAULT_BASE}projects/{project_id}/sessions/{session['id']}/join?code="
    assert rotated["join_url"].startswith(join_page)
    assert rotated["join_url"] != session["join_url"]


def test_session_create_without_self_registration(db_path: str) -> None:
    project_id = project_with_features(db_path, 2)

    created = invoke_json(db_path, "session", "create", str(project_id), "--no-self-registration")

    store = Store.open(db_path)
    try:
        assert store.session(created["id"]).self_registration is False
    finally:
        store.close()


def test_attendee_names_are_unique_in_a_project(error_cwd: Path) -> None:
    pws("attendee", "add", "1", "Ada", cwd=error_cwd)

    again = pws("attendee", "add", "1", "ADA", cwd=error_cwd)

    assert again.returncode == 1
    check_one_error_line(again.stderr, "the name 'ADA' is already taken in project 1")


def complexity_session(db: str, s: Scenario) -> int:
    """A complexity session beside the scenario's value one: D most complex, then A, B, C."""
    store = Store.open(db)
    try:
        session, comparisons = operations.create_session(store, 1, criterion="complexity")
        order = [s.d, s.a, s.b, s.c]  # more complex first

        def decide(c: Comparison) -> ConsensusReached:
            winner = min(c.feature_ids, key=order.index)
            return ConsensusReached(c.with_outcome(Outcome.of(winner)))

        assert store.record(session.id, [decide(c) for c in comparisons])
    finally:
        store.close()
    return session.id


def test_results_with_a_complexity_session_add_the_combined_view(db_path: str) -> None:
    s = decided_scenario(db_path)
    complexity_id = complexity_session(db_path, s)

    payload = results_json(db_path, s.session_id)
    from_the_other_side = results_json(db_path, complexity_id)

    combined = payload["combined"]
    assert combined == from_the_other_side["combined"]
    assert (combined["value_session_id"], combined["complexity_session_id"]) == (
        s.session_id,
        complexity_id,
    )
    # Value W: D 1.0, A 0.5, B 0.5, C 0.25. Complexity W: D 1, A 2/3, B 1/3, C 0.
    rows = [(r["feature_id"], r["rank"], r["ratio"]) for r in combined["rows"]]
    assert rows == [(s.c, 1, None), (s.b, 2, 1.5), (s.d, 3, 1.0), (s.a, 4, 0.75)]


def test_results_combined_alone_as_csv_and_table(db_path: str) -> None:
    s = decided_scenario(db_path)
    complexity_session(db_path, s)

    as_csv = invoke("--db", db_path, "results", str(s.session_id), "--combined", "--format", "csv")
    table = invoke("--db", db_path, "results", str(s.session_id), "--combined").stdout
    full_table = invoke("--db", db_path, "results", str(s.session_id)).stdout

    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["title"] for r in rows] == [TITLES[2], TITLES[1], TITLES[3], TITLES[0]]
    assert rows[0]["ratio"] == ""  # complexity weight 0
    assert rows[1]["ratio"] == "1.5000"
    assert table.startswith("Combined: value (session 1) over complexity (session 2)")
    assert "inf" in table.splitlines()[4]
    assert table.strip() in full_table


def test_results_combined_without_a_partner_is_one_line(error_cwd: Path) -> None:
    pws("session", "create", "1", cwd=error_cwd)

    result = pws("results", "1", "--combined", cwd=error_cwd)

    assert result.returncode == 1
    check_one_error_line(result.stderr, "no combined view")


# --- section 9: removing an attendee, the projector token ---------------------------------


def test_attendee_remove_json_and_its_token_stops_working(db_path: str) -> None:
    project_id = project_with_features(db_path, 2)
    added = invoke_json(db_path, "attendee", "add", str(project_id), "Stray")

    removed = invoke_json(db_path, "attendee", "remove", str(added["id"]))

    assert removed == {"id": added["id"], "removed": True}
    listed = invoke_json(db_path, "attendee", "list", str(project_id))
    assert listed == {"attendees": []}
    store = Store.open(db_path)
    try:
        credentials = store.attendee_credentials(added["id"])
        assert credentials is not None
        assert credentials.removed
    finally:
        store.close()


def test_removing_an_unknown_or_removed_attendee_is_one_line(error_cwd: Path) -> None:
    pws("project", "create", "P", cwd=error_cwd)
    pws("attendee", "add", "1", "Stray", cwd=error_cwd)
    assert pws("attendee", "remove", "1", cwd=error_cwd).returncode == 0

    again = pws("attendee", "remove", "1", cwd=error_cwd)
    token = pws("attendee", "token", "1", cwd=error_cwd)

    for result in (again, token):
        assert result.returncode == 1
        check_one_error_line(result.stderr, "attendee 1 not found")


def test_project_token_projector_json(db_path: str) -> None:
    project_id = project_with_features(db_path, 2)

    first = invoke_json(db_path, "project", "token", str(project_id), "--projector")
    second = invoke_json(db_path, "project", "token", str(project_id), "--projector")

    assert set(first) == {"id", "projector_token"}
    assert first["id"] == project_id
    store = Store.open(db_path)
    try:
        credentials = store.facilitator_credentials(project_id)
        assert credentials is not None
        assert credentials.projector_token_hash is not None
        # One at a time: the second replaced the first.
        assert tokens.token_matches(second["projector_token"], credentials.projector_token_hash)
        assert not tokens.token_matches(first["projector_token"], credentials.projector_token_hash)
        assert not tokens.token_matches(second["projector_token"], credentials.token_hash)
    finally:
        store.close()


def test_attendee_add_observer_json(db_path: str) -> None:
    project_id = project_with_features(db_path, 2)

    voter = invoke_json(db_path, "attendee", "add", str(project_id), "Ada")
    observer = invoke_json(db_path, "attendee", "add", str(project_id), "Watcher", "--observer")

    assert voter["role"] == "voter"
    assert observer["role"] == "observer"
    assert set(observer) == {"id", "project_id", "name", "role", "token", "join_url"}
