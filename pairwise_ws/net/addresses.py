"""Per-address bookkeeping of the one port: who is connected, and how many from where."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence

import attrs
import trio

from pairwise_ws import tokens


@attrs.define
class Peer:
    """One TCP connection, as the per-address tables count it."""

    peer: str  # host:port, for the log
    host: str  # the client's address: what the per-address limits count
    handshaking: bool = True  # counted in handshakes_by_address
    counted: bool = True  # counted in connections_by_address (not yet authenticated)
    # Through a trusted proxy: counted once its first request names the client.
    proxy: bool = False


class AddressCounts:
    """A count per peer address; an address whose count falls to 0 is forgotten."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._counts)

    def __getitem__(self, address: str) -> int:
        return self._counts.get(address, 0)

    def add(self, address: str) -> None:
        self._counts[address] = self._counts.get(address, 0) + 1

    def remove(self, address: str) -> None:
        count = self._counts[address] - 1
        if count:
            self._counts[address] = count
        else:
            del self._counts[address]

    def total(self) -> int:
        return sum(self._counts.values())


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """`trusted_proxies` as networks (an address alone is a network of one)."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def metrics_allowed(
    host: str, authorization: str | None, allowed: Sequence[Network], token: str
) -> bool:
    """`[metrics]`: from an allowed address, or with its token (compared in constant time)."""
    if not allowed and not token:
        return True
    if allowed and is_in(host, allowed):
        return True
    scheme, _, given = (authorization or "").strip().partition(" ")
    return bool(token) and scheme.lower() == "bearer" and tokens.codes_match(given.strip(), token)


def is_in(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(peer: str, headers: Mapping[str, str], trusted: Sequence[Network]) -> str:
    """Who is really connecting: `peer`, or, behind trusted proxies, whom they name.

    From a trusted proxy, the addresses the request names (`Forwarded: for=`,
    else `X-Forwarded-For`) are read from the right, the proxy nearest us
    first; the first one that is not itself a trusted proxy is the client. A
    proxy that names nobody usable is the client itself.
    """
    if not trusted or not is_in(peer, trusted):
        return peer
    named = _forwarded(headers.get("forwarded", "")) or [
        part.strip() for part in headers.get("x-forwarded-for", "").split(",")
    ]
    for address in reversed([a for a in named if a]):
        try:
            ipaddress.ip_address(address)
        except ValueError:
            return peer  # "unknown", an obfuscated name: nothing to count by
        if not is_in(address, trusted):
            return address
    return peer


_FOR = re.compile(r'(?:^|[;,\s])for=("?)([^";,\s]+)\1', re.IGNORECASE)


def _forwarded(value: str) -> list[str]:
    """The `for=` addresses of a Forwarded header (RFC 7239), ports and brackets cut."""
    found = []
    for _, raw in _FOR.findall(value):
        address = raw
        if raw.startswith("["):
            address = raw[1 : raw.find("]")] if "]" in raw else raw[1:]
        elif raw.count(":") == 1:
            address = raw.split(":", 1)[0]  # IPv4 with a port
        found.append(address)
    return found


def peer_host(stream: trio.SocketStream) -> str:
    try:
        return str(stream.socket.getpeername()[0])
    except OSError:
        return "unknown"


def peer_name(stream: trio.SocketStream) -> str:
    try:
        host, port, *_ = stream.socket.getpeername()
    except OSError:
        return "unknown"
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
