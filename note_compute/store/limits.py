"""Store limits, per-peer quotas and per-peer request rate limits (pure).

:class:`RateLimiter` is a token bucket per peer: ``rate`` tokens per second
refill a bucket of ``burst`` tokens; each request spends ``cost`` tokens, and
a request that finds too few raises :class:`~note_compute.errors.RateLimited`
saying when to retry. Time is a parameter (``now``, in seconds, from any
monotonic clock the caller likes), so tests drive it directly. The table of
buckets is bounded: past ``max_peers`` the least recently seen peer is
forgotten (a forgotten peer starts with a full bucket, which is the same as a
peer that stayed quiet long enough).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from ..errors import RateLimited
from ..wire.storage import MAX_ENTRY_SIZE as _MAX_ENTRY_SIZE

__all__ = ["StoreLimits", "RateLimiter", "MAX_ENTRY_SIZE"]

MAX_ENTRY_SIZE = _MAX_ENTRY_SIZE
"""Largest single entry (record encoding or content-addressed value): 1 MiB (a wire limit)."""


@dataclass(frozen=True)
class StoreLimits:
    """Size caps and the storage quota each peer gets on this node."""

    max_entry_size: int = MAX_ENTRY_SIZE
    """Largest record encoding or content-addressed value accepted."""
    peer_max_bytes: int = 256 * 1024 * 1024
    """Bytes held on behalf of one peer (sum of entry sizes it stored)."""
    peer_max_entries: int = 100_000
    """Entries held on behalf of one peer."""
    max_total_bytes: int | None = None
    """Optional cap on everything the store holds (None: no cap)."""
    max_equivocation_bytes: int = 16 * 1024 * 1024
    """Cap on the equivocation proofs filed, all addresses together (one proof per address)."""


class RateLimiter:
    """Token bucket per peer; ``check(peer, now)`` raises RateLimited when empty."""

    __slots__ = ("rate", "burst", "max_peers", "_buckets")

    def __init__(self, rate: float = 200.0, burst: float = 400.0, *, max_peers: int = 10_000) -> None:
        if rate <= 0 or burst <= 0 or max_peers <= 0:
            raise ValueError("rate, burst and max_peers must be positive")
        self.rate = float(rate)
        self.burst = float(burst)
        self.max_peers = max_peers
        self._buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()  # peer -> (tokens, last)

    def check(self, peer: bytes, now: float, cost: float = 1.0) -> None:
        """Spend ``cost`` tokens of ``peer``'s bucket or raise RateLimited (nothing spent)."""
        if cost < 0:
            raise ValueError("cost must be >= 0")
        tokens, last = self._buckets.pop(peer, (self.burst, now))
        if now > last:
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            last = now
        if tokens + 1e-9 < cost:  # epsilon: float refill arithmetic
            self._buckets[peer] = (tokens, last)
            self._evict()
            wait = (cost - tokens) / self.rate if cost <= self.burst else float("inf")
            raise RateLimited(
                f"peer {peer.hex()[:16]} is over {self.rate:g} requests/s (burst {self.burst:g}); "
                f"retry in {wait:.3f} s",
                reason="rate",
            )
        self._buckets[peer] = (max(0.0, tokens - cost), last)
        self._evict()

    def tokens(self, peer: bytes, now: float) -> float:
        """Tokens ``peer`` would have at ``now`` (for status and tests)."""
        tokens, last = self._buckets.get(peer, (self.burst, now))
        return min(self.burst, tokens + max(0.0, now - last) * self.rate)

    def __len__(self) -> int:
        return len(self._buckets)

    def _evict(self) -> None:
        while len(self._buckets) > self.max_peers:
            self._buckets.popitem(last=False)
