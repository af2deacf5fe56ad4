"""Ed25519 keys and domain-separated signing and hashing (PyNaCl).

Low level: :func:`ed25519_sign` / :func:`ed25519_verify` sign raw messages
exactly as RFC 8032 says (the test vectors run through them). Everything the
protocol signs goes through :meth:`SigningKey.sign` / :func:`verify` with a
domain prefix from :mod:`note_compute.domains`. Verification raises
:class:`~note_compute.errors.InvalidSignature`; it never returns a bool.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re

import nacl.bindings
import nacl.exceptions
import nacl.signing

from . import domains
from .errors import InvalidSignature

__all__ = [
    "SigningKey",
    "verify",
    "ed25519_sign",
    "ed25519_verify",
    "sha256",
    "domain_hash",
    "authority_of",
    "public_key_of_authority",
    "PUBLIC_KEY_SIZE",
    "SIGNATURE_SIZE",
    "AUTHORITY_LENGTH",
]

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
AUTHORITY_LENGTH = 52


def sha256(data: bytes) -> bytes:
    """Plain SHA-256 (content addresses, URL addresses)."""
    return hashlib.sha256(data).digest()


def domain_hash(domain: bytes, data: bytes) -> bytes:
    """SHA-256 over ``domain || data``; ``domain`` must be one of domains.HASH_DOMAINS."""
    if domain not in domains.HASH_DOMAINS:
        raise ValueError("unknown hash domain")
    return hashlib.sha256(domain + data).digest()


def ed25519_sign(seed: bytes, message: bytes) -> bytes:
    """RFC 8032 Ed25519 signature of ``message`` with the 32-byte ``seed``."""
    return nacl.signing.SigningKey(seed).sign(message).signature


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Verify an RFC 8032 signature; raise InvalidSignature if it does not verify."""
    if type(public_key) is not bytes or type(signature) is not bytes:
        if not isinstance(public_key, (bytes, bytearray, memoryview)) or not isinstance(
            signature, (bytes, bytearray, memoryview)
        ):
            raise InvalidSignature("public key and signature must be bytes", reason="type")
        public_key, signature = bytes(public_key), bytes(signature)
    if len(public_key) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        raise InvalidSignature("wrong key or signature length", reason="length")
    try:
        # libsodium's crypto_sign_open: the same check as VerifyKey.verify
        # without building a VerifyKey per call (this is the hot path).
        nacl.bindings.crypto_sign_open(signature + bytes(message), public_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError) as exc:
        raise InvalidSignature("signature does not verify", reason="bad-signature") from exc


def verify(domain: bytes, public_key: bytes, message: bytes, signature: bytes) -> None:
    """Verify a domain-separated signature made by :meth:`SigningKey.sign`."""
    if domain not in domains.SIGNATURE_DOMAINS:
        raise ValueError("unknown signature domain")
    ed25519_verify(public_key, domain + message, signature)


def authority_of(public_key: bytes) -> str:
    """The 52-character authority: base32, lower-case, unpadded public key."""
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return base64.b32encode(public_key).decode("ascii").rstrip("=").lower()


# 52 base32 characters carry 260 bits; the last character's low 4 bits are
# padding and must be zero (only "a" and "q" end a canonical authority).
_AUTHORITY_RE = re.compile(r"[a-z2-7]{51}[aq]\Z")


def public_key_of_authority(authority: str) -> bytes:
    """Inverse of :func:`authority_of`; raises ValueError on anything else."""
    if type(authority) is not str or len(authority) != AUTHORITY_LENGTH:
        raise ValueError("an authority is 52 lower-case base32 characters")
    return _public_key_of_authority(authority)


@functools.lru_cache(maxsize=4096)
def _public_key_of_authority(authority: str) -> bytes:
    # Cached: records from one authority arrive in bursts, and decoding base32
    # costs more than the rest of a record's schema check.
    if _AUTHORITY_RE.match(authority) is None:
        raise ValueError("an authority is 52 lower-case base32 characters (canonical padding bits)")
    key = base64.b32decode(authority.upper() + "====")
    if len(key) != PUBLIC_KEY_SIZE or authority_of(key) != authority:  # belt and braces; cached
        raise ValueError("authority is not the canonical encoding of a public key")
    return key


class SigningKey:
    """An Ed25519 key pair. ``seed`` is the 32-byte secret."""

    __slots__ = ("_sk", "seed", "public_key")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self._sk = nacl.signing.SigningKey(seed)
        self.seed = bytes(seed)
        self.public_key = bytes(self._sk.verify_key)

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(bytes(nacl.signing.SigningKey.generate()))

    @property
    def authority(self) -> str:
        return authority_of(self.public_key)

    def sign(self, domain: bytes, message: bytes) -> bytes:
        """Sign ``domain || message``; ``domain`` must be in domains.SIGNATURE_DOMAINS."""
        if domain not in domains.SIGNATURE_DOMAINS:
            raise ValueError("unknown signature domain")
        return self._sk.sign(domain + message).signature

    def __repr__(self) -> str:
        return f"SigningKey(authority={self.authority!r})"
