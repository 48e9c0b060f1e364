"""Per-address bookkeeping of the one port: who is connected, and how many from where."""

from __future__ import annotations

import attrs


@attrs.define
class Peer:
    """One TCP connection, as the per-address tables count it."""

    peer: str  # host:port, for the log
    host: str  # the peer's address: what the per-address limits count
    handshaking: bool = True  # counted in handshakes_by_address


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
