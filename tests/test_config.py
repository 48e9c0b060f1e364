"""Configuration (pairwise_ws.config; contract section 5)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from pairwise_ws.config import Config, ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"

# (section, key, contract default)
CONTRACT_DEFAULTS: list[tuple[str, str, Any]] = [
    ("server", "host", "127.0.0.1"),
    ("server", "port", 8765),
    ("database", "path", "pairwise.db"),
    ("limits", "max_message_bytes", 4096),
    ("limits", "rate_burst", 10),
    ("limits", "rate_per_second", 1.0),
    ("limits", "send_queue_size", 256),
    ("limits", "handshake_timeout", 10.0),
    ("keepalive", "ping_interval", 25.0),
    ("keepalive", "pong_timeout", 10.0),
    ("security", "allowed_origins", ()),
]

# (section, key, a valid value other than the default, the value it becomes)
CONTRACT_VALUES: list[tuple[str, str, Any, Any]] = [
    ("server", "host", "0.0.0.0", "0.0.0.0"),
    ("server", "port", 9000, 9000),
    ("server", "port", 0, 0),
    ("database", "path", "/tmp/other.db", "/tmp/other.db"),
    ("limits", "max_message_bytes", 8192, 8192),
    ("limits", "rate_burst", 3, 3),
    ("limits", "rate_per_second", 2.5, 2.5),
    ("limits", "send_queue_size", 16, 16),
    ("limits", "handshake_timeout", 1.5, 1.5),
    ("keepalive", "ping_interval", 5.0, 5.0),
    ("keepalive", "pong_timeout", 2.0, 2.0),
    (
        "security",
        "allowed_origins",
        ["http://localhost:8765", "https://workshop.example.org"],
        ("http://localhost:8765", "https://workshop.example.org"),
    ),
]


def value(config: Config, section: str, key: str) -> Any:
    return getattr(getattr(config, section), key)


@pytest.mark.parametrize(("section", "key", "default"), CONTRACT_DEFAULTS)
def test_defaults_are_the_contracts(section: str, key: str, default: Any) -> None:
    found = value(Config(), section, key)

    assert found == default
    assert type(found) is type(default)


def test_empty_mapping_is_the_default() -> None:
    assert Config.from_mapping({}) == Config()
    assert Config.from_mapping({"limits": {}}) == Config()


@pytest.mark.parametrize(("section", "key", "given", "expected"), CONTRACT_VALUES)
def test_from_mapping_reads_each_contract_key(
    section: str, key: str, given: Any, expected: Any
) -> None:
    config = Config.from_mapping({section: {key: given}})

    assert value(config, section, key) == expected
    for other in ("server", "database", "limits", "keepalive", "security", "logging"):
        if other != section:
            assert getattr(config, other) == getattr(Config(), other)


@pytest.mark.parametrize(
    ("section", "key", "given"),
    [
        ("limits", "rate_per_second", 2),
        ("limits", "handshake_timeout", 3),
        ("keepalive", "ping_interval", 30),
    ],
)
def test_int_is_accepted_for_a_float(section: str, key: str, given: int) -> None:
    found = value(Config.from_mapping({section: {key: given}}), section, key)

    assert found == float(given)
    assert type(found) is float


# --- refusals: one line naming the key ------------------------------------------------

REFUSED: list[Any] = [
    pytest.param({"bogus": {}}, "bogus", id="unknown-section"),
    pytest.param({"server": {"prot": 1}}, "prot", id="unknown-server-key"),
    pytest.param({"limits": {"rate_bust": 1}}, "rate_bust", id="unknown-limits-key"),
    pytest.param({"server": 8765}, "server", id="section-not-a-table"),
    pytest.param({"limits": {"rate_burst": "10"}}, "limits.rate_burst", id="str-for-int"),
    pytest.param({"limits": {"rate_burst": 10.0}}, "limits.rate_burst", id="float-for-int"),
    pytest.param({"limits": {"rate_burst": True}}, "limits.rate_burst", id="bool-for-int"),
    pytest.param({"server": {"port": "8765"}}, "server.port", id="str-for-port"),
    pytest.param({"server": {"host": 127}}, "server.host", id="int-for-str"),
    pytest.param(
        {"limits": {"rate_per_second": "1"}}, "limits.rate_per_second", id="str-for-float"
    ),
    pytest.param(
        {"limits": {"rate_per_second": False}}, "limits.rate_per_second", id="bool-for-float"
    ),
    pytest.param({"database": {"path": 1}}, "database.path", id="int-for-path"),
    pytest.param(
        {"security": {"allowed_origins": "http://localhost"}},
        "security.allowed_origins",
        id="origins-not-a-list",
    ),
    pytest.param(
        {"security": {"allowed_origins": [1]}}, "security.allowed_origins", id="origin-not-str"
    ),
    # Out of range: the key must be named, not just its section.
    pytest.param({"server": {"port": 70000}}, "server.port", id="port-70000"),
    pytest.param({"server": {"port": -1}}, "server.port", id="port-negative"),
    pytest.param(
        {"limits": {"rate_per_second": -1.0}}, "limits.rate_per_second", id="negative-rate"
    ),
    pytest.param({"limits": {"rate_burst": 0}}, "limits.rate_burst", id="zero-burst"),
    pytest.param(
        {"limits": {"send_queue_size": 0}}, "limits.send_queue_size", id="zero-send-queue"
    ),
    pytest.param(
        {"limits": {"max_message_bytes": 10}}, "limits.max_message_bytes", id="tiny-messages"
    ),
    pytest.param(
        {"keepalive": {"ping_interval": float("nan")}}, "keepalive.ping_interval", id="nan"
    ),
    pytest.param(
        {"limits": {"handshake_timeout": float("inf")}}, "limits.handshake_timeout", id="inf"
    ),
    pytest.param(
        {"database": {"synchronous": "off"}}, "database.synchronous", id="bad-synchronous"
    ),
    pytest.param({"logging": {"level": "loud"}}, "logging.level", id="bad-log-level"),
    pytest.param(
        {"security": {"allowed_origins": ["ftp://example.org"]}},
        "security.allowed_origins",
        id="origin-bad-scheme",
    ),
    pytest.param(
        {"security": {"allowed_origins": ["http://example.org/path"]}},
        "security.allowed_origins",
        id="origin-with-path",
    ),
    pytest.param(
        {"security": {"allowed_origins": ["example.org"]}},
        "security.allowed_origins",
        id="origin-without-scheme",
    ),
]


@pytest.mark.parametrize(("raw", "key"), REFUSED)
def test_refused_with_one_line_naming_the_key(raw: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_mapping(raw)

    message = str(caught.value)
    assert "\n" not in message
    assert key in message
    assert len(message) < 200, message


def test_refusal_names_the_source() -> None:
    with pytest.raises(ConfigError, match=r"^my\.toml: limits\.rate_burst: "):
        Config.from_mapping({"limits": {"rate_burst": "x"}}, source="my.toml")


# --- files ------------------------------------------------------------------------------


def test_load_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"

    with pytest.raises(ConfigError) as caught:
        Config.load(missing)

    assert str(missing) in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "content",
    [
        b"[server\nport = 1\n",
        b"port = = 1\n",
        b'{"server": {"port": 1}}\n',
        b"\xff\xfe not utf-8",
    ],
)
def test_load_non_toml_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(content)

    with pytest.raises(ConfigError) as caught:
        Config.load(path)

    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_load_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        Config.load(tmp_path)


def test_load_reads_values(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        "[server]\nport = 9100\n[limits]\nrate_burst = 4\nrate_per_second = 2\n"
        '[security]\nallowed_origins = ["http://localhost:9100"]\n',
        encoding="utf-8",
    )

    config = Config.load(path)

    assert config.server.port == 9100
    assert (config.limits.rate_burst, config.limits.rate_per_second) == (4, 2.0)
    assert config.security.allowed_origins == ("http://localhost:9100",)
    assert config.keepalive == Config().keepalive


def test_load_refusal_names_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[limits]\nrate_burst = "ten"\n', encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        Config.load(path)

    assert str(path) in str(caught.value)
    assert "limits.rate_burst" in str(caught.value)


@pytest.mark.skipif(not EXAMPLE.exists(), reason="config.example.toml is not there yet")
def test_example_file_is_the_defaults() -> None:
    assert Config.load(EXAMPLE) == Config()


@pytest.mark.skipif(not EXAMPLE.exists(), reason="config.example.toml is not there yet")
@pytest.mark.parametrize(("section", "key", "default"), CONTRACT_DEFAULTS)
def test_example_file_documents_each_contract_key(section: str, key: str, default: Any) -> None:
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))

    assert key in raw.get(section, {})


# --- overrides and base_url ------------------------------------------------------------


def test_with_overrides() -> None:
    config = Config().with_overrides(server_port=9000, server_host="0.0.0.0", database_path=None)

    assert (config.server.host, config.server.port) == ("0.0.0.0", 9000)
    assert config.database.path == "pairwise.db"
    assert config.limits == Config().limits


def test_with_overrides_keyed_on_the_first_underscore() -> None:
    config = Config().with_overrides(limits_rate_burst=3, server_public_url="https://x.example")

    assert config.limits.rate_burst == 3
    assert config.server.public_url == "https://x.example"


@pytest.mark.parametrize(
    "changes",
    [
        {"server_port": 70000},
        {"server_port": "9000"},
        {"limits_rate_burst": 0},
        {"server_public_url": "ftp://example.org"},
    ],
)
def test_with_overrides_validates(changes: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        Config().with_overrides(**changes)

    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("server", "base_url"),
    [
        ({}, "http://127.0.0.1:8765"),
        ({"host": "localhost", "port": 9000}, "http://localhost:9000"),
        ({"host": "::1", "port": 9000}, "http://[::1]:9000"),
        ({"host": "workshop.lan"}, "http://workshop.lan:8765"),
        ({"public_url": "https://pw.example.org"}, "https://pw.example.org"),
        ({"public_url": "https://pw.example.org/"}, "https://pw.example.org"),
        (
            {"public_url": "https://pw.example.org/pairwise/", "port": 1},
            "https://pw.example.org/pairwise",
        ),
    ],
)
def test_base_url(server: dict[str, Any], base_url: str) -> None:
    assert Config.from_mapping({"server": server}).base_url == base_url


@pytest.mark.parametrize("wildcard", ["0.0.0.0", "::"])
def test_base_url_never_links_to_a_wildcard_address(wildcard: str) -> None:
    url = Config.from_mapping({"server": {"host": wildcard, "port": 9000}}).base_url

    assert url.startswith("http://")
    assert url.endswith(":9000")
    assert "0.0.0.0" not in url
    assert "[::]" not in url


# --- per-address limits and the log format ------------------------------------------------

# (section, key, default) of the keys beyond the contract's.
MORE_DEFAULTS: list[tuple[str, str, Any]] = [
    ("limits", "max_connections_per_address", 500),
    ("limits", "max_handshakes_per_address", 32),
    ("logging", "format", "text"),
]


@pytest.mark.parametrize(("section", "key", "default"), MORE_DEFAULTS)
def test_defaults_of_the_limits_and_log_format(section: str, key: str, default: Any) -> None:
    assert value(Config(), section, key) == default


@pytest.mark.skipif(not EXAMPLE.exists(), reason="config.example.toml is not there yet")
@pytest.mark.parametrize(("section", "key", "default"), MORE_DEFAULTS)
def test_example_file_documents_the_limits_and_log_format(
    section: str, key: str, default: Any
) -> None:
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))

    assert raw[section][key] == default


@pytest.mark.parametrize(
    ("section", "key", "given"),
    [
        ("limits", "max_connections_per_address", 1),
        ("limits", "max_connections_per_address", 1_000_000),
        ("limits", "max_handshakes_per_address", 1),
        ("limits", "max_handshakes_per_address", 1_000_000),
        ("logging", "format", "json"),
        ("logging", "format", "text"),
    ],
)
def test_limits_and_log_format_accept_their_range(section: str, key: str, given: Any) -> None:
    assert value(Config.from_mapping({section: {key: given}}), section, key) == given


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"limits": {"max_connections_per_address": 0}},
            "limits.max_connections_per_address: must be between 1 and 1000000, got 0",
        ),
        (
            {"limits": {"max_connections_per_address": 1_000_001}},
            "limits.max_connections_per_address: must be between 1 and 1000000, got 1000001",
        ),
        (
            {"limits": {"max_connections_per_address": "500"}},
            "limits.max_connections_per_address: expected an integer",
        ),
        (
            {"limits": {"max_handshakes_per_address": 0}},
            "limits.max_handshakes_per_address: must be between 1 and 1000000, got 0",
        ),
        (
            {"limits": {"max_handshakes_per_address": -5}},
            "limits.max_handshakes_per_address: must be between 1 and 1000000, got -5",
        ),
        (
            {"limits": {"max_handshakes_per_address": 3.5}},
            "limits.max_handshakes_per_address: expected an integer",
        ),
        (
            {"logging": {"format": "xml"}},
            "logging.format: must be one of 'text', 'json', got 'xml'",
        ),
        ({"logging": {"format": "JSON"}}, "logging.format: must be one of 'text', 'json'"),
        ({"logging": {"format": 1}}, "logging.format: expected a string"),
    ],
)
def test_limits_and_log_format_out_of_range_are_refused(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_mapping(raw, source="my.toml")

    assert str(caught.value).startswith(f"my.toml: {message}")
    assert "\n" not in str(caught.value)
