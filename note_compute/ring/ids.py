"""Ring identifiers, clockwise interval arithmetic and peer references.

Pure arithmetic: no hashing beyond deriving ids, no I/O. Every id is an ``int``
in ``[0, 2**256)``; at the edges (wire, storage) it is 32 bytes big-endian.

* node id = SHA-256 of the node's libp2p Ed25519 public key (32 raw bytes);
* key id of a 32-byte storage address = the address read as a big-endian int.

Intervals are clockwise arcs. ``between(x, a, b)`` is the half-open arc
``(a, b]`` (Chord's convention: ``(a, a]`` is the whole ring). A
:class:`Range` is such an arc as a value.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from ..errors import LocalProtocolError
from ..wire.ring import MAX_ADDR_LEN as _MAX_ADDR_LEN
from ..wire.ring import check_peer

__all__ = [
    "ID_BITS",
    "ID_BYTES",
    "RING",
    "MAX_ADDR_LEN",
    "node_id",
    "key_id",
    "id_to_bytes",
    "id_from_bytes",
    "distance",
    "between",
    "between_open",
    "bucket_index",
    "bucket_start",
    "Range",
    "PeerRef",
]

ID_BITS = 256
ID_BYTES = 32
RING = 1 << ID_BITS
MAX_ADDR_LEN = _MAX_ADDR_LEN  # bytes of UTF-8 in PeerRef.addr


def node_id(public_key: bytes) -> int:
    """Node id of a libp2p Ed25519 public key (32 raw bytes): SHA-256 as an int."""
    if not isinstance(public_key, (bytes, bytearray)) or len(public_key) != 32:
        raise LocalProtocolError("an Ed25519 public key is 32 raw bytes", reason="bad-public-key")
    return int.from_bytes(hashlib.sha256(bytes(public_key)).digest(), "big")


def key_id(address: bytes) -> int:
    """Ring position of a 32-byte storage address (the address as a big-endian int)."""
    return id_from_bytes(address)


def id_to_bytes(x: int) -> bytes:
    """32-byte big-endian form of an id."""
    if not isinstance(x, int) or not 0 <= x < RING:
        raise LocalProtocolError(f"id out of range: {x!r}", reason="bad-id")
    return x.to_bytes(ID_BYTES, "big")


def id_from_bytes(b: bytes) -> int:
    """Id from its 32-byte big-endian form; raises LocalProtocolError on another length."""
    if not isinstance(b, (bytes, bytearray)) or len(b) != ID_BYTES:
        raise LocalProtocolError("an id is exactly 32 bytes", reason="bad-id")
    return int.from_bytes(bytes(b), "big")


def distance(a: int, b: int) -> int:
    """Clockwise distance from ``a`` to ``b`` (0 when equal, else in [1, 2**256))."""
    return (b - a) % RING


def between(x: int, a: int, b: int) -> bool:
    """True when ``x`` lies on the clockwise half-open arc ``(a, b]``; ``(a, a]`` is the whole ring."""
    if a == b:
        return True
    return 0 < (x - a) % RING <= (b - a) % RING


def between_open(x: int, a: int, b: int) -> bool:
    """True when ``x`` lies on the open arc ``(a, b)``; ``(a, a)`` is the ring minus ``a``."""
    if a == b:
        return x != a
    return 0 < (x - a) % RING < (b - a) % RING


def bucket_index(me: int, other: int) -> int:
    """Bucket of ``other`` seen from ``me``: i such that distance(me, other) is in [2**i, 2**(i+1))."""
    d = distance(me, other)
    if d == 0:
        raise LocalProtocolError("a node is in none of its own buckets", reason="self")
    return d.bit_length() - 1


def bucket_start(me: int, i: int) -> int:
    """First id of bucket ``i`` of ``me`` (me + 2**i, mod the ring): Chord's finger start."""
    if not 0 <= i < ID_BITS:
        raise LocalProtocolError(f"bucket index out of range: {i}", reason="bad-bucket")
    return (me + (1 << i)) % RING


@dataclass(frozen=True)
class Range:
    """The clockwise arc ``(start, end]`` of the ring; ``start == end`` means the whole ring."""

    start: int
    end: int

    def __contains__(self, x: object) -> bool:
        return isinstance(x, int) and between(x, self.start, self.end)

    @property
    def size(self) -> int:
        """Number of ids on the arc (2**256 for the whole ring)."""
        return distance(self.start, self.end) or RING

    @property
    def full(self) -> bool:
        """True for the whole ring."""
        return self.start == self.end

    def minus(self, other: Range) -> list[Range]:
        """This arc without the ids of ``other``, as at most two disjoint arcs (clockwise order)."""
        if other.full:
            return []
        out: list[Range] = []
        # Walk our arc as a linear segment of offsets (0, size] from self.start.
        size = self.size
        o_lo = distance(self.start, other.start)  # other covers offsets (o_lo, o_lo + other.size]
        o_hi = o_lo + other.size
        pieces = [(0, size)]  # offsets (lo, hi]
        for lo, hi in ((o_lo, o_hi), (o_lo - RING, o_hi - RING)):
            nxt = []
            for p_lo, p_hi in pieces:
                if hi <= p_lo or lo >= p_hi:
                    nxt.append((p_lo, p_hi))
                    continue
                if lo > p_lo:
                    nxt.append((p_lo, lo))
                if hi < p_hi:
                    nxt.append((hi, p_hi))
            pieces = nxt
        for lo, hi in pieces:
            if hi > lo:
                out.append(Range((self.start + lo) % RING, (self.start + hi) % RING))
        if len(out) == 2 and out[1].end == out[0].start:
            out = [Range(out[1].start, out[0].end)]  # the two pieces touch across our start
        return out

    def to_wire(self) -> list[bytes]:
        """``[start, end]`` as 32-byte ids."""
        return [id_to_bytes(self.start), id_to_bytes(self.end)]

    def __repr__(self) -> str:
        return f"Range({self.start:064x}..{self.end:064x}]"


@dataclass(frozen=True)
class PeerRef:
    """A ring member: its 256-bit ``id`` (an int) and an opaque ``addr``.

    Real nodes put a multiaddr ending in ``/p2p/<peer id>`` in ``addr``; the
    in-memory network puts anything unique. Equality and hashing use both
    fields; the routing table indexes peers by ``id``.
    """

    id: int
    addr: str

    def __post_init__(self) -> None:
        if not isinstance(self.id, int) or isinstance(self.id, bool) or not 0 <= self.id < RING:
            raise LocalProtocolError("PeerRef.id must be an int in [0, 2**256)", reason="bad-id")
        if not isinstance(self.addr, str):
            raise LocalProtocolError("PeerRef.addr must be a str", reason="bad-addr")

    @classmethod
    def from_public_key(cls, public_key: bytes, addr: str) -> PeerRef:
        """PeerRef of the node whose libp2p Ed25519 public key (32 raw bytes) is given."""
        return cls(node_id(public_key), addr)

    @cached_property
    def id_bytes(self) -> bytes:
        """The id as 32 bytes big-endian."""
        return id_to_bytes(self.id)

    def to_wire(self) -> dict[str, Any]:
        """CBOR-ready form: ``{"id": <32 bytes>, "addr": <text>}``."""
        return {"id": self.id_bytes, "addr": self.addr}

    @classmethod
    def from_wire(cls, obj: Any) -> PeerRef:
        """Parse a peer received from the network; raises RemoteProtocolError with a reason."""
        return _peer_from_wire(*check_peer(obj))

    def __repr__(self) -> str:
        return f"PeerRef({self.id:064x}"[:18] + f"…, {self.addr!r})"


def peer_from_checked(pid: bytes, addr: str) -> PeerRef:
    """The PeerRef of a peer already checked by :func:`note_compute.wire.ring.check_peer`."""
    return _peer_from_wire(pid, addr)


@lru_cache(maxsize=8192)
def _peer_from_wire(pid: bytes, addr: str) -> PeerRef:
    # Peers recur in every reply; a bounded cache saves re-validating them.
    return PeerRef(int.from_bytes(pid, "big"), addr)
