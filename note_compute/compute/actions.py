"""The actions a :class:`~.session.QuerySession` asks its driver to perform, and the executor interface (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from ..ring.ids import PeerRef

__all__ = ["SEQ_HINT", "Action", "Ask", "Executor", "FindPeers", "LoadShard", "Refresh", "peer_id_of", "peer_key"]


class Executor(Protocol):
    """Runs a program (the sandbox's interface): ``run(wasm, input, fuel=...)`` -> result with ``.output``."""

    def run(self, wasm: bytes, data: bytes, *, fuel: int) -> Any: ...


@dataclass(frozen=True)
class Ask:
    tag: int
    peer: Any
    msg: dict[str, Any]


@dataclass(frozen=True)
class FindPeers:
    tag: int
    shard: int
    blob: bytes
    count: int


@dataclass(frozen=True)
class Refresh:
    """Move to seq ``hinted`` of ``dataset``: ``record`` is its signed dataset record, checked by the session
    (``.hints``); the driver fetches the shard table if any, checks expiry and freshness, feeds back a Manifest."""

    tag: int
    dataset: str
    hinted: int
    record: bytes | None = None


@dataclass(frozen=True)
class LoadShard:
    """Fetch the whole shard blob at ``blob`` (verified by the session against the manifest's root and count):
    a program-dependent accusation is checked by re-running on the whole shard (``.fraud``)."""

    tag: int
    blob: bytes


Action = Ask | FindPeers | Refresh | LoadShard

SEQ_HINT = re.compile(r"seq (\d+)")


def peer_id_of(peer: Any) -> bytes | None:
    """The 32-byte node id of a transport peer reference, when it exposes one."""
    if type(peer) is PeerRef:  # the ring client's peers, asked about many times per reply: what the loop returns
        return peer.id_bytes
    for name in ("node_id", "id_bytes", "id"):
        v = getattr(peer, name, None)
        if isinstance(v, bytes) and len(v) == 32:
            return v
        if type(v) is int and 0 <= v < 2**256:
            return v.to_bytes(32, "big")
    return None


def peer_key(peer: Any) -> Any:
    return peer_id_of(peer) or id(peer)
