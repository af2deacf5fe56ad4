"""Private set intersection: Diffie-Hellman PSI in ristretto255 (``specs/psi.md``).

Pure: :mod:`.group` (the group, libsodium through ctypes) and
:mod:`.protocol` (the parties' steps and the set wire form) import no I/O
runtime. :mod:`.matching` runs the intersection on a ring peer with the
``psi_match`` contract and checks a Merkle proof for every element.
"""

from ._sodium import PsiUnavailable
from .group import InvalidPoint, check_point, hash_to_group, random_point, random_scalar
from .protocol import (
                       BLINDED,
                       DOUBLE,
                       MAX_SET_SIZE,
                       EpochMismatch,
                       Party,
                       PsiSet,
                       SetSizeError,
                       intersect_sorted,
                       pad_size,
)

__all__ = [
                       "BLINDED",
                       "DOUBLE",
                       "MAX_SET_SIZE",
                       "EpochMismatch",
                       "InvalidPoint",
                       "Party",
                       "PsiSet",
                       "PsiUnavailable",
                       "SetSizeError",
                       "check_point",
                       "hash_to_group",
                       "intersect_sorted",
                       "pad_size",
                       "random_point",
                       "random_scalar",
]
