"""ctypes binding to libsodium's ristretto255 functions (pure: no I/O runtime).

PyNaCl 1.6 links its own libsodium statically and exposes no ristretto255
symbol, so the group comes from the system library (Debian ``libsodium23``,
1.0.18 or later; the Makefile's ``system-deps`` installs it). Loading it
writes nothing anywhere. ctypes releases the GIL during each call, so the
batch loops in :mod:`.group` run on several threads at once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

from ..errors import NoteError

__all__ = ["PsiUnavailable", "lib"]

_NAMES = ("libsodium.so.23", "libsodium.so.26", "libsodium.so", "libsodium.dylib")


class PsiUnavailable(NoteError):
    """libsodium with ristretto255 (1.0.18+) is not installed on this machine."""

    code = "internal"


def _load() -> Any:
    candidates = [ctypes.util.find_library("sodium"), *_NAMES]
    errors = []
    for name in candidates:
        if not name:
            continue
        try:
            dll = ctypes.CDLL(name)
        except OSError as exc:
            errors.append(str(exc))
            continue
        if not hasattr(dll, "crypto_scalarmult_ristretto255"):
            errors.append(f"{name} has no ristretto255 (libsodium older than 1.0.18)")
            continue
        if dll.sodium_init() < 0:
            errors.append(f"{name}: sodium_init failed")
            continue
        return dll
    raise PsiUnavailable(
        "PSI needs libsodium >= 1.0.18 (ristretto255): apt-get install libsodium23 "
        f"(tried: {'; '.join(errors) or 'nothing found'})", reason="no-libsodium")


_lib: Any = None


def lib() -> Any:
    """The loaded library (raises PsiUnavailable, once per call, when it is missing)."""
    global _lib
    if _lib is None:
        dll = _load()
        u8p = ctypes.c_char_p
        for name, args in (
            ("crypto_core_ristretto255_from_hash", (ctypes.c_void_p, u8p)),
            ("crypto_core_ristretto255_is_valid_point", (u8p,)),
            ("crypto_core_ristretto255_scalar_invert", (ctypes.c_void_p, u8p)),
            ("crypto_scalarmult_ristretto255", (ctypes.c_void_p, u8p, u8p)),
        ):
            fn = getattr(dll, name)
            fn.argtypes = args
            fn.restype = ctypes.c_int
        for name, args in (  # type: ignore[assignment]
            ("crypto_core_ristretto255_scalar_random", (ctypes.c_void_p,)),
            ("crypto_core_ristretto255_scalar_reduce", (ctypes.c_void_p, u8p)),
        ):
            fn = getattr(dll, name)
            fn.argtypes = args
            fn.restype = None
        _lib = dll
    return _lib
