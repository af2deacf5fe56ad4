"""Peers that just failed us: not taken back from other peers' lists until they answer.

Why: a node evicts a successor that stops answering, but its neighbours'
successor and predecessor lists still name the dead peer until each of them
notices on its own. Stabilization adopts those lists wholesale, so without
a memory the node takes the dead peer straight back, times out on it again,
evicts it, takes it back... In a ring of at most ``n_successors + 1`` nodes
every list wraps around the whole ring and the dead peer circulated for
tens of seconds, sometimes for good (``BENCHMARKS.md``, ring repair).

So a peer whose request failed becomes a *suspect* for ``hold`` seconds:
lists learned from others are screened (suspects dropped), and a suspect
named by another peer is probed (one ``ring.ping`` per ``probe_interval``).
Any direct word from the peer (a reply, or a request it sends us) clears
it at once, so a peer that was only slow, or restarted, comes back within
one probe. Pure bookkeeping, no I/O: the core sends the probes.
"""

from __future__ import annotations

from collections.abc import Iterable

from .ids import PeerRef

__all__ = ["Suspects"]


class Suspects:
    """Recently failed peers (by id) and when each was last probed."""

    def __init__(self, hold: float, probe_interval: float, max_size: int = 4096) -> None:
        self.hold = hold
        self.probe_interval = probe_interval
        self.max_size = max_size
        self._until: dict[int, float] = {}
        self._probed: dict[int, float] = {}

    def __len__(self) -> int:
        return len(self._until)

    def mark(self, peer_id: int, now: float) -> None:
        """``peer_id`` just failed a request: suspect it until ``now + hold``."""
        if self.hold <= 0:
            return
        self._until.pop(peer_id, None)
        self._until[peer_id] = now + self.hold  # dicts keep insertion order: oldest first
        while len(self._until) > self.max_size:
            old = next(iter(self._until))
            del self._until[old]
            self._probed.pop(old, None)

    def clear(self, peer_id: int) -> None:
        """We heard from ``peer_id`` directly: it is alive."""
        self._until.pop(peer_id, None)
        self._probed.pop(peer_id, None)

    def is_suspect(self, peer_id: int, now: float) -> bool:
        """True while ``peer_id`` failed within ``hold`` seconds and has not answered since."""
        until = self._until.get(peer_id)
        if until is None:
            return False
        if now >= until:
            self.clear(peer_id)
            return False
        return True

    def screen(self, peers: Iterable[PeerRef], now: float) -> tuple[list[PeerRef], list[PeerRef]]:
        """Split a list another peer sent us: (the peers to adopt, the suspects to probe now)."""
        kept: list[PeerRef] = []
        probe: list[PeerRef] = []
        for p in peers:
            if not self.is_suspect(p.id, now):
                kept.append(p)
            elif now >= self._probed.get(p.id, float("-inf")) + self.probe_interval:
                self._probed[p.id] = now
                probe.append(p)
        return kept, probe
