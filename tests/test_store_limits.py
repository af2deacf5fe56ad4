"""Per-peer token-bucket rate limits (time is a parameter)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from note_compute.errors import RateLimited
from note_compute.store import RateLimiter

A, B = b"\xaa" * 32, b"\xbb" * 32


def test_burst_then_refused_then_refilled() -> None:
    rl = RateLimiter(rate=10, burst=5)
    for _ in range(5):
        rl.check(A, now=100.0)
    with pytest.raises(RateLimited) as e:
        rl.check(A, now=100.0)
    assert e.value.code == "rate-limited" and "retry in 0.100 s" in str(e.value)
    rl.check(B, now=100.0)  # other peers are not affected
    with pytest.raises(RateLimited):
        rl.check(A, now=100.05)  # half a token is not enough
    rl.check(A, now=100.1)  # one token refilled
    with pytest.raises(RateLimited):
        rl.check(A, now=100.1)


def test_refill_caps_at_burst() -> None:
    rl = RateLimiter(rate=10, burst=3)
    rl.check(A, now=0.0)
    assert rl.tokens(A, now=1000.0) == 3
    for _ in range(3):
        rl.check(A, now=1000.0)
    with pytest.raises(RateLimited):
        rl.check(A, now=1000.0)


def test_refusal_spends_nothing_and_cost_over_burst_never_passes() -> None:
    rl = RateLimiter(rate=1, burst=2)
    with pytest.raises(RateLimited) as e:
        rl.check(A, now=0.0, cost=3)
    assert "inf" in str(e.value)
    assert rl.tokens(A, now=0.0) == 2
    rl.check(A, now=0.0, cost=2)


def test_clock_going_backwards_does_not_mint_tokens() -> None:
    rl = RateLimiter(rate=10, burst=2)
    rl.check(A, now=50.0)
    rl.check(A, now=50.0)
    with pytest.raises(RateLimited):
        rl.check(A, now=10.0)


def test_table_is_bounded() -> None:
    rl = RateLimiter(rate=1, burst=1, max_peers=100)
    for i in range(1000):
        rl.check(i.to_bytes(32, "big"), now=0.0)
    assert len(rl) == 100


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate=0)
    with pytest.raises(ValueError):
        RateLimiter(burst=-1)
    with pytest.raises(ValueError):
        RateLimiter().check(A, now=0.0, cost=-1)


@given(st.lists(st.floats(min_value=0, max_value=5, allow_nan=False), min_size=1, max_size=200))
@settings(max_examples=100, deadline=None)
def test_never_more_than_burst_plus_rate_times_elapsed(gaps: list[float]) -> None:
    rate, burst = 4.0, 6.0
    rl = RateLimiter(rate=rate, burst=burst)
    now, allowed = 0.0, 0
    for g in gaps:
        now += g
        try:
            rl.check(A, now=now)
            allowed += 1
        except RateLimited:
            pass
    assert allowed <= burst + rate * now + 1e-9
