"""The per-connection token bucket, as plain logic.

The caller passes the clock, so this is deterministic and trivially testable.
"""

from __future__ import annotations

import enum

import attrs


class Verdict(enum.Enum):
    ALLOW = "allow"
    LIMITED = "limited"  # answer `error` `rate_limited`, don't process
    ABUSE = "abuse"  # close the connection with 1008


@attrs.define
class TokenBucket:
    """`burst` tokens, refilled at `rate` per second; one token per message.

    A message that finds the bucket empty is refused. A client that keeps
    sending into an empty bucket collects strikes; a granted message clears
    them. More than `abuse_strikes` strikes in a row is abuse.
    """

    burst: int
    rate: float
    abuse_strikes: int
    tokens: float = attrs.field(init=False)
    updated: float | None = attrs.field(init=False, default=None)
    strikes: int = attrs.field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        self.tokens = float(self.burst)

    def take(self, now: float) -> Verdict:
        if self.updated is None:
            self.updated = now
        elif now > self.updated:  # a clock that goes back adds nothing
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
            self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.strikes = 0
            return Verdict.ALLOW
        self.strikes += 1
        return Verdict.ABUSE if self.strikes > self.abuse_strikes else Verdict.LIMITED
