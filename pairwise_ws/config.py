"""Configuration: frozen values from a TOML file, refused with one clear line.

Every key, its default and its meaning is documented in `config.example.toml`.
"""

from __future__ import annotations

import ipaddress
import math
import socket
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import attrs
import cattrs
from cattrs.errors import ForbiddenExtraKeysError

from pairwise_ws.logs import LogFormat

T = TypeVar("T", int, float)


class ConfigError(ValueError):
    """A configuration value is unacceptable; the message names the key."""


class _Invalid(ValueError):
    """A value of the right type but unacceptable; `key` names its field."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _between(low: T, high: T) -> Callable[[Any, attrs.Attribute[T], T], None]:
    def check(_: Any, attribute: attrs.Attribute[T], value: T) -> None:
        if not (low <= value <= high) or (isinstance(value, float) and not math.isfinite(value)):
            raise _Invalid(attribute.name, f"must be between {low} and {high}, got {value}")

    return check


def _one_of(*choices: str) -> Callable[[Any, attrs.Attribute[str], str], None]:
    def check(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
        if value not in choices:
            raise _Invalid(
                attribute.name, f"must be one of {', '.join(map(repr, choices))}, got {value!r}"
            )

    return check


def _public_url(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if value and urlsplit(value).scheme not in ("http", "https"):
        raise _Invalid(attribute.name, f"must start with http:// or https://, got {value!r}")


def _tls_pair(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if bool(instance.tls_certificate) != bool(value):
        missing = attribute.name if instance.tls_certificate else "tls_certificate"
        raise _Invalid(missing, "set tls_certificate and tls_private_key together, or neither")


def _origins(_: Any, attribute: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]) -> None:
    for origin in value:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise _Invalid(attribute.name, f"{origin!r} is not an origin like http://host:port")


def _networks(_: Any, attribute: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]) -> None:
    for entry in value:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise _Invalid(attribute.name, f"{entry!r} is not an address or CIDR range") from None


@attrs.frozen
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = attrs.field(default=8765, validator=_between(0, 65535))
    # Base of the links printed for attendees; empty means http://HOST:PORT.
    public_url: str = attrs.field(default="", validator=_public_url)
    # Proxies (addresses or CIDR ranges) whose Forwarded / X-Forwarded-For
    # header names the real client, for the per-address limits and the log.
    trusted_proxies: tuple[str, ...] = attrs.field(default=(), validator=_networks)
    # PEM files: with both, the one port speaks HTTPS and WSS only.
    tls_certificate: str = ""
    tls_private_key: str = attrs.field(default="", validator=_tls_pair)

    @property
    def tls(self) -> bool:
        return bool(self.tls_certificate)


@attrs.frozen
class DatabaseConfig:
    path: str = "pairwise.db"
    synchronous: str = attrs.field(default="full", validator=_one_of("normal", "full", "extra"))
    # How often the daemon looks for changes made by the command line.
    poll_interval: float = attrs.field(default=0.25, validator=_between(0.01, 1.0))


@attrs.frozen
class LimitsConfig:
    max_message_bytes: int = attrs.field(default=4096, validator=_between(64, 1_048_576))
    rate_burst: int = attrs.field(default=10, validator=_between(1, 100_000))
    rate_per_second: float = attrs.field(default=1.0, validator=_between(0.001, 100_000.0))
    # Refused messages in a row, past the rate limit, before the connection is closed (1008).
    rate_abuse_strikes: int = attrs.field(default=20, validator=_between(1, 100_000))
    send_queue_size: int = attrs.field(default=256, validator=_between(1, 1_000_000))
    handshake_timeout: float = attrs.field(default=10.0, validator=_between(0.05, 600.0))
    # Open TCP connections at once; more are answered 503 and closed.
    max_connections: int = attrs.field(default=20_000, validator=_between(1, 1_000_000))
    # TCP connections from one address (IPv4 or IPv6 host) that have not
    # authenticated a WebSocket (plain HTTP, handshakes); more are answered 429.
    # Authenticated WebSockets are bounded by max_connections alone: a room
    # behind NAT or a reverse proxy is one address.
    max_connections_per_address: int = attrs.field(default=500, validator=_between(1, 1_000_000))
    # WebSockets one attendee may hold open at once (tabs, devices); one more: 429.
    max_connections_per_attendee: int = attrs.field(default=8, validator=_between(1, 100_000))
    # Connections from one address that have not finished their first request
    # head (or their WebSocket handshake) yet; more are answered 429.
    max_handshakes_per_address: int = attrs.field(default=32, validator=_between(1, 1_000_000))


@attrs.frozen
class KeepaliveConfig:
    ping_interval: float = attrs.field(default=25.0, validator=_between(0.05, 3600.0))
    pong_timeout: float = attrs.field(default=10.0, validator=_between(0.05, 3600.0))


@attrs.frozen
class SecurityConfig:
    allowed_origins: tuple[str, ...] = attrs.field(default=(), validator=_origins)
    # Self-registrations one address may make per minute (a burst of as many).
    registrations_per_minute: int = attrs.field(default=30, validator=_between(1, 100_000))
    # Attendees one session's join link may add (the removed ones don't count).
    max_self_registrations: int = attrs.field(default=300, validator=_between(1, 1_000_000))


@attrs.frozen
class MetricsConfig:
    # Who may read GET /metrics: addresses or CIDR ranges (after trusted
    # proxies), or whoever sends `Authorization: Bearer TOKEN`. Neither set:
    # anyone who can reach the port.
    allowed: tuple[str, ...] = attrs.field(default=(), validator=_networks)
    token: str = attrs.field(default="", repr=False)

    @property
    def restricted(self) -> bool:
        return bool(self.allowed or self.token)


@attrs.frozen
class LoggingConfig:
    level: str = attrs.field(default="info", validator=_one_of("debug", "info", "warning", "error"))
    # One line per event: "text" (key=value) or "json" (one object per line).
    format: LogFormat = attrs.field(default="text", validator=_one_of("text", "json"))


@attrs.frozen
class Config:
    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    limits: LimitsConfig = LimitsConfig()
    keepalive: KeepaliveConfig = KeepaliveConfig()
    security: SecurityConfig = SecurityConfig()
    metrics: MetricsConfig = MetricsConfig()
    logging: LoggingConfig = LoggingConfig()

    @classmethod
    def load(cls, path: str | Path) -> Config:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"config file {path} is not UTF-8 text") from None
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        return cls.from_mapping(raw, source=str(path))

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], *, source: str = "config") -> Config:
        # Types and unknown keys first (cattrs knows the path), then each
        # section's ranges (the validators know the key).
        try:
            with attrs.validators.disabled():
                config = _converter.structure(dict(raw), cls)
        except Exception as exc:
            problems = cattrs.transform_error(exc, path="", format_exception=_format_error)
            first = problems[0] if problems else str(exc)
            message, _, where = first.partition(" @ ")
            key = where.lstrip(".").replace("[", ".").replace("]", "") or "(top level)"
            raise ConfigError(f"{source}: {key}: {message}") from None
        for section in attrs.fields(cls):
            try:
                attrs.validate(getattr(config, section.name))
            except _Invalid as exc:
                raise ConfigError(f"{source}: {section.name}.{exc.key}: {exc}") from None
        return config

    def with_overrides(self, **changes: Any) -> Config:
        """A copy with `section_key=value` overrides, validated; None values are ignored."""
        raw = _converter.unstructure(self)
        for name, value in changes.items():
            if value is None:
                continue
            section, _, key = name.partition("_")
            raw[section][key] = value
        return Config.from_mapping(raw, source="command line")

    @property
    def base_url(self) -> str:
        """Where browsers reach this daemon: `public_url`, else http(s)://HOST:PORT."""
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        scheme = "https" if self.server.tls else "http"
        return f"{scheme}://{_url_host(self.server.host)}:{self.server.port}"


def _url_host(host: str) -> str:
    """A host for links: a wildcard bind address becomes this machine's address."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - naming the wildcard, not binding it
        host = _lan_address() or socket.gethostname()
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host


def _lan_address() -> str | None:
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        return None
    for info in infos:
        address = str(info[4][0])
        if not ipaddress.ip_address(address).is_loopback:
            return address
    return None


def _structure_int(value: object, _: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError("expected an integer")
    return value


def _structure_float(value: object, _: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError("expected a number")
    return float(value)


def _structure_str(value: object, _: object) -> str:
    if not isinstance(value, str):
        raise ConfigError("expected a string")
    return value


def _format_error(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, ForbiddenExtraKeysError):
        return f"unknown key(s): {', '.join(sorted(exc.extra_fields))}"
    if attrs.has(type_):
        return "expected a table"
    return "expected a list" if type_ is tuple else str(exc)


_converter = cattrs.Converter(forbid_extra_keys=True)
_converter.register_structure_hook(int, _structure_int)
_converter.register_structure_hook(float, _structure_float)
_converter.register_structure_hook(str, _structure_str)


def _structure_origins(value: object, _: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError("expected a list of strings")
    return tuple(value)


_converter.register_structure_hook_func(lambda t: t == tuple[str, ...], _structure_origins)
# A choice is a string first; its validator names the choices.
_converter.register_structure_hook_func(lambda t: t == LogFormat, _structure_str)
