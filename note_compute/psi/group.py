"""The ristretto255 group for PSI: hash-to-group, scalars, batched exponentiation.

Pure arithmetic over bytes (libsodium through ctypes, no I/O runtime):

* a *point* is the 32-byte canonical ristretto255 encoding; anything else
  (non-canonical, bit 255 set, not on the curve, the identity) is refused
  with :class:`InvalidPoint` - libsodium's ``crypto_scalarmult_ristretto255``
  decodes and checks every input and refuses an identity result; bit 255,
  which libsodium 1.0.18 ignores, is checked here;
* ``hash_to_group(x) = from_hash(SHA-512(PSI_HASH_TO_GROUP || x))`` (the
  RFC 9380 / RFC 9496 one-way map: uniform, nobody knows a discrete log);
* a *scalar* is 32 bytes, uniform mod the group order, never zero.

Batches of more than :data:`PARALLEL_MIN` points are split over threads:
ctypes drops the GIL for each call, so both cores work.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from .. import domains
from ..errors import InvalidEncoding
from ._sodium import lib

__all__ = [
    "PARALLEL_MIN",
    "POINT_BYTES",
    "SCALAR_BYTES",
    "InvalidPoint",
    "check_point",
    "exp",
    "exp_many",
    "hash_exp_many",
    "hash_to_group",
    "random_point",
    "random_scalar",
    "scalar_inverse",
]

POINT_BYTES = 32
SCALAR_BYTES = 32
PARALLEL_MIN = 1024
"""Below this many points a batch runs on the calling thread (threads cost more than they give)."""


_IDENTITY = bytes(POINT_BYTES)


class InvalidPoint(InvalidEncoding):
    """A value is not the canonical encoding of a ristretto255 group element."""


_pool: ThreadPoolExecutor | None = None


def _workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=_workers(), thread_name_prefix="psi")
    return _pool


def random_scalar() -> bytes:
    """A fresh uniform non-zero scalar (libsodium's CSPRNG)."""
    buf = ctypes.create_string_buffer(SCALAR_BYTES)
    lib().crypto_core_ristretto255_scalar_random(buf)
    return buf.raw


def scalar_inverse(scalar: bytes) -> bytes:
    """``1/scalar`` mod the group order."""
    buf = ctypes.create_string_buffer(SCALAR_BYTES)
    if len(scalar) != SCALAR_BYTES or lib().crypto_core_ristretto255_scalar_invert(buf, scalar) != 0:
        raise ValueError("scalar is not invertible")
    return buf.raw


def _from_hash(digest: bytes) -> bytes:
    buf = ctypes.create_string_buffer(POINT_BYTES)
    lib().crypto_core_ristretto255_from_hash(buf, digest)
    return buf.raw


def hash_to_group(element: bytes) -> bytes:
    """The group element of ``element`` (domain-separated, see the module docstring)."""
    return _from_hash(hashlib.sha512(domains.PSI_HASH_TO_GROUP + element).digest())


def random_point() -> bytes:
    """A uniformly random group element nobody knows a discrete log of (a padding dummy)."""
    return _from_hash(os.urandom(64))


def check_point(point: bytes) -> None:
    """Raise InvalidPoint unless ``point`` is a canonical, non-identity ristretto255 encoding."""
    if type(point) is not bytes or len(point) != POINT_BYTES or point[31] & 0x80 or point == _IDENTITY or \
            lib().crypto_core_ristretto255_is_valid_point(point) != 1:
        raise InvalidPoint("value is not a ristretto255 group element", reason="not-in-group")


def exp(scalar: bytes, point: bytes) -> bytes:
    """``point ^ scalar`` (raises InvalidPoint for a point not in the group)."""
    return _exp_run(scalar, [point], 0)[0]


def _exp_run(scalar: bytes, points: Sequence[bytes], offset: int) -> list[bytes]:
    fn = lib().crypto_scalarmult_ristretto255
    buf = ctypes.create_string_buffer(POINT_BYTES)
    out = []
    for i, p in enumerate(points):
        # libsodium 1.0.18 ignores bit 255 when decoding: refuse it here (one encoding per element).
        if type(p) is not bytes or len(p) != POINT_BYTES or p[31] & 0x80 or fn(buf, scalar, p) != 0:
            raise InvalidPoint(f"element {offset + i} is not a ristretto255 group element", reason="not-in-group")
        out.append(buf.raw)
    return out


def _hash_exp_run(scalar: bytes, elements: Sequence[bytes], offset: int) -> list[bytes]:
    sod = lib()
    from_hash, mult = sod.crypto_core_ristretto255_from_hash, sod.crypto_scalarmult_ristretto255
    h = ctypes.create_string_buffer(POINT_BYTES)
    buf = ctypes.create_string_buffer(POINT_BYTES)
    prefix = hashlib.sha512(domains.PSI_HASH_TO_GROUP)
    out = []
    for e in elements:
        d = prefix.copy()
        d.update(e)
        from_hash(h, d.digest())
        if mult(buf, scalar, h) != 0:  # probability 2^-252: an element hashing to the identity
            raise InvalidPoint("element hashes to the identity", reason="identity")
        out.append(buf.raw)
    return out


_Run = Callable[[bytes, Sequence[bytes], int], list[bytes]]


def _batched(run: _Run, scalar: bytes, items: Sequence[bytes], parallel: bool | None) -> list[bytes]:
    if len(scalar) != SCALAR_BYTES:
        raise ValueError("a scalar is 32 bytes")
    n = len(items)
    workers = _workers()
    if parallel is False or workers == 1 or (parallel is None and n < PARALLEL_MIN):
        return run(scalar, items, 0)
    step = -(-n // workers)
    futures: list[Future[list[bytes]]] = [_executor().submit(run, scalar, items[i:i + step], i)
                                          for i in range(0, n, step)]
    out: list[bytes] = []
    for f in futures:
        out.extend(f.result())
    return out


def exp_many(scalar: bytes, points: Sequence[bytes], *, parallel: bool | None = None) -> list[bytes]:
    """``[p ^ scalar for p in points]``; raises InvalidPoint naming the first bad index."""
    return _batched(_exp_run, scalar, points, parallel)


def hash_exp_many(scalar: bytes, elements: Sequence[bytes], *, parallel: bool | None = None) -> list[bytes]:
    """``[hash_to_group(e) ^ scalar for e in elements]``."""
    return _batched(_hash_exp_run, scalar, elements, parallel)
