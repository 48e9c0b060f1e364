"""The per-connection token bucket (pairwise_ws.live.ratelimit; contract section 4, "Rate")."""

from __future__ import annotations

import pytest

from pairwise_ws.live.ratelimit import TokenBucket, Verdict

ALLOW, LIMITED, ABUSE = Verdict.ALLOW, Verdict.LIMITED, Verdict.ABUSE


def bucket(burst: int = 10, rate: float = 1.0, abuse_strikes: int = 20) -> TokenBucket:
    return TokenBucket(burst=burst, rate=rate, abuse_strikes=abuse_strikes)


def takes(limiter: TokenBucket, now: float, count: int) -> list[Verdict]:
    return [limiter.take(now) for _ in range(count)]


@pytest.mark.parametrize("burst", [1, 2, 10])
@pytest.mark.parametrize("start", [0.0, 12_345.678])
def test_burst_then_limited(burst: int, start: float) -> None:
    limiter = bucket(burst=burst)

    assert takes(limiter, start, burst) == [ALLOW] * burst
    assert limiter.take(start) is LIMITED


def test_contract_defaults_ten_burst_one_per_second() -> None:
    limiter = bucket()

    assert takes(limiter, 100.0, 11) == [ALLOW] * 10 + [LIMITED]
    assert limiter.take(100.5) is LIMITED
    assert limiter.take(101.0) is ALLOW
    assert limiter.take(101.0) is LIMITED
    assert limiter.take(102.0) is ALLOW


@pytest.mark.parametrize(
    ("rate", "later", "granted"),
    [
        (1.0, 0.999, 0),
        (1.0, 1.0, 1),
        (1.0, 3.5, 3),
        (2.0, 0.5, 1),
        (2.0, 2.0, 4),
        (0.5, 1.9, 0),
        (0.5, 2.0, 1),
        (1.0, 1_000.0, 5),  # never more than the burst
    ],
)
def test_refill_at_rate(rate: float, later: float, granted: int) -> None:
    limiter = bucket(burst=5, rate=rate)
    takes(limiter, 0.0, 5)

    verdicts = takes(limiter, later, 6)

    assert verdicts == [ALLOW] * granted + [LIMITED] * (6 - granted)


def test_refused_messages_do_not_spend_the_refill() -> None:
    limiter = bucket(burst=1, rate=1.0)
    assert limiter.take(0.0) is ALLOW

    assert limiter.take(0.5) is LIMITED
    assert limiter.take(1.0) is ALLOW


@pytest.mark.parametrize("abuse_strikes", [1, 3, 20])
def test_abuse_only_after_more_than_abuse_strikes_refusals(abuse_strikes: int) -> None:
    limiter = bucket(burst=2, abuse_strikes=abuse_strikes)
    takes(limiter, 0.0, 2)

    refusals = takes(limiter, 0.0, abuse_strikes)

    assert refusals == [LIMITED] * abuse_strikes
    assert limiter.take(0.0) is ABUSE


def test_a_granted_message_clears_the_strikes() -> None:
    limiter = bucket(burst=1, rate=1.0, abuse_strikes=3)
    limiter.take(0.0)
    assert takes(limiter, 0.0, 3) == [LIMITED] * 3

    assert limiter.take(1.0) is ALLOW
    assert limiter.strikes == 0

    assert takes(limiter, 1.0, 4) == [LIMITED] * 3 + [ABUSE]


def test_clock_going_backwards_adds_no_tokens() -> None:
    limiter = bucket(burst=3, rate=1.0)
    takes(limiter, 100.0, 3)

    assert limiter.take(50.0) is LIMITED
    assert limiter.take(0.0) is LIMITED
    assert limiter.tokens <= 0.0
