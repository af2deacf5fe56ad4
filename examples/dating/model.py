"""The dating app's values, pure: signed cards, pair elements, round keys and tags, sealed keys.

* A **card** is a user's public profile line: pseudonym, age, region,
  interests and Ed25519 key, signed by that key (``SIG_DATING_CARD``). The
  site publishes the cards as a dataset sorted by (region, age, id).
* The **element** of a pair is ``SHA-256(DATING_PAIR || min(kA, kB) ||
  max(kA, kB))``: "A likes B" and "B likes A" are the same element, so the
  intersection of A's and B's like-sets is exactly their mutual like.
* A **round** between A and B in epoch e lives at keys only A and B can
  derive: ``s = X25519(A, B)`` (their Ed25519 keys converted), then a round
  signing key per side, ``seed = SHA-256(DATING_ROUND || s || e || side)``.
  Nobody else can link a round record to A or B.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import nacl.public
import nacl.secret
import nacl.signing

from note_compute import crypto, domains, encoding
from note_compute.crypto import SigningKey
from note_compute.errors import InvalidRecord, InvalidSignature

__all__ = [
    "DIRECTORY_SORT_KEY",
    "MAX_INTERESTS",
    "Card",
    "decrypt_profile",
    "encrypt_profile",
    "make_card",
    "open_sealed",
    "pair_element",
    "round_keys",
    "seal_key",
    "shared_secret",
]

DIRECTORY_SORT_KEY = ["region", "age", "id"]
MAX_INTERESTS = 12
_WORD = re.compile(r"^[a-z0-9][a-z0-9 -]{0,23}$")


def _bad(msg: str) -> InvalidRecord:
    return InvalidRecord(f"bad dating card: {msg}", reason="bad-card")


@dataclass(frozen=True)
class Card:
    """A user's signed public card (one record of the site's directory dataset)."""

    pseudonym: str
    age: int
    region: str
    interests: tuple[str, ...]
    key: bytes
    sig: bytes = b""

    def body(self) -> dict[str, Any]:
        return {"id": self.pseudonym, "age": self.age, "region": self.region, "interests": list(self.interests),
                "key": self.key}

    def encode(self) -> bytes:
        """The directory record: canonical CBOR of the body plus ``sig``."""
        return encoding.encode({**self.body(), "sig": self.sig})

    @property
    def authority(self) -> str:
        return crypto.authority_of(self.key)

    def check(self) -> None:
        """Field rules (raises InvalidRecord)."""
        if not isinstance(self.pseudonym, str) or not re.match(r"^[A-Za-z0-9_-]{1,32}$", self.pseudonym):
            raise _bad("pseudonym is 1-32 of [A-Za-z0-9_-]")
        if type(self.age) is not int or not 18 <= self.age <= 120:
            raise _bad("age is 18..120")
        if not isinstance(self.region, str) or not _WORD.match(self.region):
            raise _bad("region is 1-24 lower-case letters, digits, spaces or dashes")
        if len(self.interests) > MAX_INTERESTS or any(not isinstance(i, str) or not _WORD.match(i)
                                                       for i in self.interests):
            raise _bad(f"at most {MAX_INTERESTS} interests, each 1-24 lower-case letters, digits, spaces or dashes")
        if list(self.interests) != sorted(set(self.interests)):
            raise _bad("interests are sorted and distinct")
        if type(self.key) is not bytes or len(self.key) != 32:
            raise _bad("key is a 32-byte Ed25519 public key")

    def verify(self) -> None:
        """Check the fields and the signature by ``key`` (raises InvalidRecord / InvalidSignature)."""
        self.check()
        crypto.verify(domains.SIG_DATING_CARD, self.key, encoding.encode(self.body()), self.sig)

    @classmethod
    def decode(cls, data: bytes) -> Card:
        """Parse and verify a directory record (raises InvalidRecord / InvalidSignature)."""
        try:
            v = encoding.decode(data, max_size=4096)
        except Exception as exc:
            raise _bad(f"not canonical CBOR ({exc})") from exc
        if not isinstance(v, dict) or set(v) != {"id", "age", "region", "interests", "key", "sig"}:
            raise _bad("a card is {id, age, region, interests, key, sig}")
        if not isinstance(v["interests"], list) or type(v["sig"]) is not bytes:
            raise _bad("interests is a list, sig bytes")
        card = cls(v["id"], v["age"], v["region"], tuple(v["interests"]), v["key"], v["sig"])
        card.verify()
        return card


def make_card(key: SigningKey, pseudonym: str, age: int, region: str, interests: list[str]) -> Card:
    """Sign a card for ``key`` (interests lower-cased, sorted, deduplicated)."""
    card = Card(pseudonym, age, region.lower(), tuple(sorted({i.strip().lower() for i in interests if i.strip()})),
                key.public_key)
    card.check()
    sig = key.sign(domains.SIG_DATING_CARD, encoding.encode(card.body()))
    return Card(card.pseudonym, card.age, card.region, card.interests, card.key, sig)


def pair_element(a: bytes, b: bytes) -> bytes:
    """The PSI element of the unordered pair {a, b} (32-byte Ed25519 public keys)."""
    if a == b:
        raise ValueError("a pair is two different users")
    lo, hi = sorted((a, b))
    return crypto.domain_hash(domains.DATING_PAIR, lo + hi)


def _x25519(key: SigningKey) -> nacl.public.PrivateKey:
    return nacl.signing.SigningKey(key.seed).to_curve25519_private_key()


def _x25519_pub(public_key: bytes) -> nacl.public.PublicKey:
    try:
        return nacl.signing.VerifyKey(public_key).to_curve25519_public_key()
    except Exception as exc:  # PyNaCl raises RuntimeError / CryptoError on a bad point
        raise InvalidSignature("not a usable Ed25519 public key", reason="bad-key") from exc


def shared_secret(me: SigningKey, other: bytes) -> bytes:
    """The 32-byte secret only ``me`` and ``other`` can compute (X25519 + HSalsa20, PyNaCl's Box)."""
    return bytes(nacl.public.Box(_x25519(me), _x25519_pub(other)).shared_key())


def round_keys(me: SigningKey, other: bytes, epoch: int) -> tuple[SigningKey, bytes]:
    """(my round signing key, the other side's round public key) for this pair and epoch."""
    s = shared_secret(me, other)
    e = epoch.to_bytes(8, "big")

    def side(pub: bytes) -> SigningKey:
        tag = b"lo" if pub == min(me.public_key, other) else b"hi"
        return SigningKey(crypto.domain_hash(domains.DATING_ROUND, s + e + tag))

    return side(me.public_key), side(other).public_key


def seal_key(secret: bytes, to: bytes) -> bytes:
    """Seal ``secret`` to the X25519 key of Ed25519 public key ``to`` (only its owner can open it)."""
    return bytes(nacl.public.SealedBox(_x25519_pub(to)).encrypt(secret))


def open_sealed(me: SigningKey, sealed: bytes) -> bytes:
    """Open a value sealed to ``me`` (raises InvalidSignature when it was not)."""
    try:
        return bytes(nacl.public.SealedBox(_x25519(me)).decrypt(sealed))
    except Exception as exc:
        raise InvalidSignature("sealed value does not open with this key", reason="not-sealed-to-us") from exc


def encrypt_profile(profile_key: bytes, profile: dict[str, Any]) -> bytes:
    """The profile blob: XSalsa20-Poly1305 over its canonical CBOR (random nonce inside)."""
    return bytes(nacl.secret.SecretBox(profile_key).encrypt(encoding.encode(profile)))


def decrypt_profile(profile_key: bytes, blob: bytes) -> dict[str, Any]:
    try:
        value = encoding.decode(nacl.secret.SecretBox(profile_key).decrypt(blob))
    except Exception as exc:
        raise InvalidSignature("profile does not decrypt with this key", reason="profile-key") from exc
    if not isinstance(value, dict):
        raise InvalidRecord("a profile is a map", reason="bad-profile")
    return value


def profile_tag(profile_key: bytes) -> str:
    """A short fingerprint of a profile key (for display)."""
    return hashlib.sha256(profile_key).hexdigest()[:8]
