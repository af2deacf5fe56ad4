"""Diffie-Hellman PSI in ristretto255: the two parties' steps, as pure functions over bytes.

Theory of operation (``specs/psi.md`` is the normative text)::

    A: SA = sort(pad({H(x)^a : x in X}))          B: SB = sort(pad({H(y)^b : y in Y}))
    A: DA = sort({p^a : p in SB})                 B: DB = sort({p^b : p in SA})
    anyone holding DA and DB: DA & DB = {H(z)^ab : z in X & Y}

``H`` is :func:`~.group.hash_to_group`; ``a`` and ``b`` are fresh per epoch
(:class:`Party` draws its scalar when it is created and refuses sets of any
other epoch); ``pad`` adds uniformly random group elements (nobody knows
their discrete log, so they never meet the other side) up to the set's fixed
``size``, so the length of a set says nothing about how many real elements
it holds; sorting hides the input order. Sizes are capped at
:data:`MAX_SET_SIZE`. Every point received is checked to be in the group.

:class:`PsiSet` is the wire form of a set: ``{"kind", "epoch", "size",
"points"}`` in canonical CBOR, with the points concatenated in ascending
order (32 bytes each: 64 bytes per element cross the wire each way, a
blinded and a doubly-blinded point). Signing is the record layer's job: the
app stores a set as the value of a signed record (``records.sign_record``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .. import encoding
from ..errors import InvalidEncoding, InvalidRecord
from .group import POINT_BYTES, exp_many, hash_exp_many, random_point, random_scalar

__all__ = [
    "BLINDED",
    "DOUBLE",
    "MAX_SET_SIZE",
    "EpochMismatch",
    "Party",
    "PsiSet",
    "SetSizeError",
    "intersect_sorted",
    "pad_size",
]

MAX_SET_SIZE = 1 << 17
"""No set (real elements plus padding) holds more elements than this."""
BLINDED, DOUBLE = "blinded", "double"
_KINDS = (BLINDED, DOUBLE)


class SetSizeError(InvalidRecord):
    """A set has the wrong number of elements (or more than the cap)."""


class EpochMismatch(InvalidRecord):
    """A set belongs to another epoch than the one being run (a replay, or a stale set)."""


def pad_size(n: int, minimum: int = 1) -> int:
    """A fixed padded size for ``n`` elements: the next power of two (at least ``minimum``)."""
    size = max(1, minimum)
    while size < n:
        size *= 2
    return size


def _check_size(size: Any) -> int:
    if type(size) is not int or not 1 <= size <= MAX_SET_SIZE:
        raise SetSizeError(f"set size must be 1..{MAX_SET_SIZE}, got {size!r}", reason="set-size")
    return size


@dataclass(frozen=True)
class PsiSet:
    """A blinded or doubly-blinded set: ascending, distinct 32-byte points."""

    kind: str
    epoch: int
    points: tuple[bytes, ...]

    @property
    def size(self) -> int:
        return len(self.points)

    def encode(self) -> bytes:
        return encoding.encode({"kind": self.kind, "epoch": self.epoch, "size": self.size,
                                "points": b"".join(self.points)})

    @classmethod
    def decode(cls, data: bytes, *, kind: str, epoch: int, size: int, ordered: bool = True) -> PsiSet:
        """Parse and check a set: its kind, its epoch (a replay is refused), its exact size, its order.

        ``ordered=False`` accepts a doubly-blinded set returned in the order of
        the set it was computed from (:meth:`Party.double` with ``keep_order``);
        its points must still be distinct.

        Points are checked for group membership when they are used
        (:meth:`Party.double` raises InvalidPoint naming the index).
        Raises InvalidEncoding, SetSizeError or EpochMismatch.
        """
        _check_size(size)
        try:
            v = encoding.decode(data, max_size=MAX_SET_SIZE * POINT_BYTES + 256)
        except InvalidEncoding as exc:
            raise InvalidEncoding(f"PSI set is not canonical CBOR: {exc.message}", reason="bad-set") from exc
        if not isinstance(v, dict) or set(v) != {"kind", "epoch", "size", "points"}:
            raise InvalidEncoding("a PSI set is a map {kind, epoch, size, points}", reason="bad-set")
        if v["kind"] != kind:
            raise InvalidEncoding(f"expected a {kind} set, got {v['kind']!r}", reason="bad-set")
        if type(v["epoch"]) is not int or v["epoch"] != epoch:
            raise EpochMismatch(
                f"set is for epoch {v['epoch']!r}, this round is epoch {epoch}", reason="replayed-epoch"
            )
        raw = v["points"]
        if type(raw) is not bytes or len(raw) % POINT_BYTES:
            raise InvalidEncoding("points is a byte string of 32-byte points", reason="bad-set")
        n = len(raw) // POINT_BYTES
        if v["size"] != n or n != size:
            raise SetSizeError(f"set holds {n} points (says {v['size']!r}), the round fixes {size}",
                               reason="set-size")
        pts = split_points(raw, ordered=ordered)
        if not ordered and len(set(pts)) != len(pts):
            raise InvalidEncoding("set points are not distinct", reason="duplicate")
        return cls(kind, epoch, pts)


def split_points(raw: bytes, *, ordered: bool) -> tuple[bytes, ...]:
    """Cut concatenated 32-byte points; with ``ordered`` require strictly ascending (distinct) points."""
    pts = tuple(raw[i:i + POINT_BYTES] for i in range(0, len(raw), POINT_BYTES))
    if ordered and any(pts[i] >= pts[i + 1] for i in range(len(pts) - 1)):
        raise InvalidEncoding("set points are not strictly ascending", reason="unsorted")
    return pts


class Party:
    """One side of one epoch: draws a fresh scalar, blinds its set, doubly-blinds the other's.

    ``size`` is the fixed padded size of both sets in this epoch. The
    scalar never leaves the object (``forget()`` drops it when the epoch
    ends). ``scalar`` may be given to resume a saved epoch.
    """

    def __init__(self, epoch: int, size: int, *, scalar: bytes | None = None) -> None:
        if type(epoch) is not int or epoch < 0:
            raise ValueError("epoch is a non-negative integer")
        self.epoch = epoch
        self.size = _check_size(size)
        self._scalar: bytes | None = scalar if scalar is not None else random_scalar()
        self._mine: dict[bytes, bytes] = {}  # my blinded point -> my element (never leaves the object)
        self._sent: tuple[bytes, ...] = ()

    @property
    def scalar(self) -> bytes:
        if self._scalar is None:
            raise InvalidRecord(f"epoch {self.epoch} is over: its scalar was forgotten", reason="replayed-epoch")
        return self._scalar

    def forget(self) -> None:
        self._scalar = None

    def blind(self, elements: Iterable[bytes], *, parallel: bool | None = None) -> PsiSet:
        """``sort(pad({H(x)^a}))``; raises SetSizeError when there are more distinct elements than ``size``."""
        distinct = sorted(set(elements))
        if len(distinct) > self.size:
            raise SetSizeError(f"{len(distinct)} elements do not fit a set of {self.size}", reason="set-size")
        real = hash_exp_many(self.scalar, distinct, parallel=parallel)
        self._mine = dict(zip(real, distinct, strict=False))
        pts = set(real)
        while len(pts) < self.size:
            pts.add(random_point())
        self._sent = tuple(sorted(pts))
        return PsiSet(BLINDED, self.epoch, self._sent)

    def double(self, other: PsiSet, *, parallel: bool | None = None, keep_order: bool = False) -> PsiSet:
        """``sort({p^a : p in other})``: checks the epoch, the size and every point (InvalidPoint).

        ``keep_order``: return the points in ``other``'s order instead, so that
        the other party can tell which of *its* elements are in the
        intersection (:meth:`reveal`); the sorted form tells nobody more
        than the intersection's size.
        """
        if other.kind != BLINDED:
            raise InvalidEncoding("only a blinded set can be doubly blinded", reason="bad-set")
        if other.epoch != self.epoch:
            raise EpochMismatch(f"set is for epoch {other.epoch}, this party runs epoch {self.epoch}",
                                reason="replayed-epoch")
        if other.size != self.size:
            raise SetSizeError(f"set holds {other.size} points, the round fixes {self.size}", reason="set-size")
        out = exp_many(self.scalar, list(other.points), parallel=parallel)
        return PsiSet(DOUBLE, self.epoch, tuple(out if keep_order else sorted(out)))

    def element_at(self, i: int) -> bytes | None:
        """My element behind point ``i`` of the set I last blinded (None for a padding dummy)."""
        return self._mine.get(self._sent[i])

    def reveal(self, mine_doubled: PsiSet, theirs_doubled: PsiSet) -> list[bytes]:
        """My elements in the intersection (sorted).

        ``mine_doubled``: the other party's :meth:`double` of the set I last
        blinded, with ``keep_order`` (point i is my point i raised to their
        scalar); ``theirs_doubled``: my :meth:`double` of their set.
        """
        if mine_doubled.epoch != self.epoch or theirs_doubled.epoch != self.epoch:
            raise EpochMismatch("sets of another epoch", reason="replayed-epoch")
        if len(mine_doubled.points) != len(self._sent):
            raise SetSizeError("the doubled set does not match the set I sent", reason="set-size")
        theirs = set(theirs_doubled.points)
        return sorted(self._mine[p] for p, d in zip(self._sent, mine_doubled.points, strict=False)
                      if d in theirs and p in self._mine)


def intersect_sorted(a: Sequence[bytes], b: Sequence[bytes]) -> list[bytes]:
    """Ascending values in both ascending sequences (a linear merge: what psi_match computes)."""
    i = j = 0
    out = []
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            out.append(a[i])
            i += 1
            j += 1
        elif a[i] < b[j]:
            i += 1
        else:
            j += 1
    return out
