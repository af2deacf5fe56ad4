"""Signed mutable records and the selection rule.

A :class:`Record` is what an authority publishes at a ``note://`` URL. Wire
form: a canonical CBOR map with short text keys (see ``specs/records.md``)::

    "u"   url       text   normal-form note URL (at most 2048 bytes)
    "s"   seq       uint   0 .. 2**64-1; higher replaces lower
    "c"   created   uint   Unix time, seconds
    "v"   value     bytes  inline value, at most 64 KiB    } exactly one
    "r"   refs      array  1..256 32-byte content hashes   } of v / r
    "e"   expires   uint   optional Unix time (seconds), >= created
    "sig" signature bytes  64-byte Ed25519 signature

Absent optional fields are omitted, never ``null``. The signature is
Ed25519 by the URL's authority over ``domains.SIG_RECORD || body``, where
``body`` is the canonical CBOR of the same map without ``"sig"``. There is no
key field: the public key *is* the URL's authority.

Selection (:func:`select`): a higher seq wins; a lower seq raises
:class:`StaleRecord`; an equal seq with different bytes raises
:class:`Equivocation` carrying an :class:`EquivocationProof`; identical bytes
keep the current record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import domains, encoding, urls
from .crypto import AUTHORITY_LENGTH, SIGNATURE_SIZE, SigningKey, ed25519_verify, public_key_of_authority
from .errors import Equivocation, InvalidRecord, RemoteProtocolError, StaleRecord
from .wire.record import HASH_SIZE, MAX_REFS, MAX_VALUE_SIZE, check_fields, parse_record_map

__all__ = [
    "Record",
    "EquivocationProof",
    "sign_record",
    "verify_record",
    "decode_verified",
    "select",
    "next_seq",
    "freshest",
    "MAX_VALUE_SIZE",
    "MAX_REFS",
    "MAX_RECORD_SIZE",
    "HASH_SIZE",
]

# Largest possible encoding: value + URL + fixed fields, rounded up generously.
MAX_RECORD_SIZE = MAX_VALUE_SIZE + urls.MAX_URL_LENGTH + 1024
MAX_PROOF_SIZE = 2 * MAX_RECORD_SIZE + 64

_SIG_ENTRY_SIZE = 4 + 2 + SIGNATURE_SIZE


def _invalid(message: str, reason: str) -> InvalidRecord:
    return InvalidRecord(message, reason=reason)


@dataclass(frozen=True)
class Record:
    """A signed record; construct with :func:`sign_record` or :meth:`decode`.

    Constructing a Record checks its schema (types, limits, URL in normal
    form) but not its signature: call :func:`verify_record` for that.
    """

    url: str
    seq: int
    created: int
    value: bytes | None
    refs: tuple[bytes, ...]
    expires: int | None
    signature: bytes
    # Derived caches, never passed in (init=False keeps dataclasses.replace
    # from carrying a stale signed body over to a changed record).
    _public_key: bytes = field(default=b"", init=False, repr=False, compare=False)
    _body: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:  # the field checks of the wire module (wire/record.py), in their stated order
            check_fields(self.url, self.seq, self.created, self.value, self.refs, self.expires, self.signature)
        except RemoteProtocolError as exc:
            raise _invalid(exc.message, exc.reason or "schema") from None
        object.__setattr__(self, "_public_key", public_key_of_authority(self.url[7 : 7 + AUTHORITY_LENGTH]))

    # -- derived -----------------------------------------------------------
    @property
    def authority(self) -> str:
        """The signer: the URL's authority (52-character base32 key)."""
        return self.url[7 : 7 + AUTHORITY_LENGTH]

    @property
    def public_key(self) -> bytes:
        """The signer's 32-byte Ed25519 public key (from the URL)."""
        return self._public_key

    @property
    def address(self) -> bytes:
        """Storage address: ``urls.address(url)``."""
        return urls.parse(self.url).address

    # -- wire form ---------------------------------------------------------
    def body(self) -> bytes:
        """The signed bytes (without the domain prefix): CBOR map minus ``sig``."""
        if self._body is None:
            body = encoding.encode(_body_map(self.url, self.seq, self.created, self.value, self.refs, self.expires))
            object.__setattr__(self, "_body", body)
            return body
        return self._body

    def encode(self) -> bytes:
        """Canonical CBOR wire form, signature included."""
        m = _body_map(self.url, self.seq, self.created, self.value, self.refs, self.expires)
        m["sig"] = self.signature
        return encoding.encode(m)

    @classmethod
    def decode(cls, data: bytes) -> Record:
        """Decode the wire form (structure and schema only; no signature check).

        Raises InvalidEncoding (not canonical CBOR) or InvalidRecord (schema).
        """
        m = encoding.decode(data, max_size=MAX_RECORD_SIZE, max_depth=2)
        record = cls._from_map(m)
        # The wire form is canonical (checked above) and "sig" (a 3-character
        # key) sorts after every 1-character key, so the signed body is the
        # wire bytes minus the last entry (4-byte key + 2-byte header + 64
        # bytes), with the map's one-byte entry count decremented.
        object.__setattr__(record, "_body", bytes((data[0] - 1,)) + bytes(data[1:-_SIG_ENTRY_SIZE]))
        return record

    @classmethod
    def _from_map(cls, m: Any) -> Record:
        try:  # the shape (wire/record.py's RECORD); the field checks run in the constructor
            f = parse_record_map(m)
        except RemoteProtocolError as exc:
            raise _invalid(exc.message, exc.reason or "schema") from None
        refs = f.get("r")
        return cls(
            url=f["u"],
            seq=f["s"],
            created=f["c"],
            value=f.get("v"),
            refs=() if refs is None else tuple(refs),
            expires=f.get("e"),
            signature=f["sig"],
        )


def _body_map(
    url: str, seq: int, created: int, value: bytes | None, refs: tuple[bytes, ...], expires: int | None
) -> dict[str, Any]:
    m: dict[str, Any] = {"u": url, "s": seq, "c": created}
    if value is not None:
        m["v"] = value
    if refs:
        m["r"] = list(refs)
    if expires is not None:
        m["e"] = expires
    return m


def sign_record(
    key: SigningKey,
    url: str,
    *,
    seq: int,
    value: bytes | None = None,
    refs: Iterable[bytes] = (),
    created: int,
    expires: int | None = None,
) -> Record:
    """Sign a record for ``url`` (normalised here) with ``key``.

    ``key`` must be the URL's authority; ``created``/``expires`` are Unix
    seconds. Raises InvalidURL or InvalidRecord (authority, schema, limits).
    """
    url = urls.normalize(url)
    if isinstance(value, (bytearray, memoryview)):
        value = bytes(value)
    refs_t = tuple(bytes(r) if isinstance(r, (bytearray, memoryview)) else r for r in refs)
    # Validate the schema with a placeholder signature before signing.
    unsigned = Record(url, seq, created, value, refs_t, expires, bytes(SIGNATURE_SIZE))
    if unsigned.public_key != key.public_key:
        raise _invalid(
            f"key {key.authority} is not the authority of {url[:120]}", "authority"
        )
    body = unsigned.body()
    # ``unsigned`` has not escaped yet: fill in its signature rather than
    # validating the same fields a second time.
    object.__setattr__(unsigned, "signature", key.sign(domains.SIG_RECORD, body))
    return unsigned


def verify_record(record: Record, *, now: int | None = None) -> None:
    """Check ``record``'s signature (by its URL's authority) and expiry.

    ``now`` is Unix seconds; ``None`` skips the expiry check. Raises
    InvalidSignature, or InvalidRecord with reason ``"expired"``.
    """
    if type(record) is not Record:
        raise _invalid("not a Record", "schema")
    ed25519_verify(record.public_key, domains.SIG_RECORD + record.body(), record.signature)
    if now is not None and record.expires is not None and now >= record.expires:
        raise _invalid(f"record expired at {record.expires} (now {now})", "expired")


def decode_verified(data: bytes, *, now: int | None = None) -> Record:
    """Decode the wire form and verify it; the usual entry point for peer data."""
    record = Record.decode(data)
    verify_record(record, now=now)
    return record


def next_seq(previous: int | None, now_ms: int) -> int:
    """The seq of an authority's next record at a URL: ``max(previous + 1, now_ms)``.

    Always forward, and readable as a time in milliseconds.
    """
    return now_ms if previous is None else max(previous + 1, now_ms)


def select(current: Record | None, incoming: Record) -> Record:
    """Apply the selection rule; both records must already be verified.

    Returns the record to keep. Raises StaleRecord if ``incoming`` has a lower
    seq, Equivocation (with ``.proof``) if it has the same seq but different
    bytes, InvalidRecord (reason ``"url"``) if the URLs differ.
    """
    if current is None:
        return incoming
    if current.url != incoming.url:
        raise _invalid("records for different URLs cannot be compared", "url")
    if incoming.seq > current.seq:
        return incoming
    if incoming.seq < current.seq:
        raise StaleRecord(
            f"seq {incoming.seq} is lower than the held seq {current.seq}", reason="stale"
        )
    a, b = current.encode(), incoming.encode()
    if a == b:
        return current
    proof = EquivocationProof(current, incoming)
    raise Equivocation(
        f"two different records with seq {current.seq} for {current.url[:120]}",
        reason="equivocation",
        proof=proof,
    )


def freshest(candidates: Iterable[Record]) -> Record:
    """The record a reader keeps among verified answers for one URL.

    The highest seq wins; among different records at that seq (the authority
    equivocated) the one whose encoding is bytewise smallest wins, so every
    reader that saw the same answers keeps the same record whatever order
    they arrived in. Raises ValueError on no candidates, InvalidRecord
    (reason ``"url"``) if the URLs differ.
    """
    best: Record | None = None
    best_enc = b""
    for rec in candidates:
        if best is None:
            best, best_enc = rec, rec.encode()
            continue
        if rec.url != best.url:
            raise _invalid("records for different URLs cannot be compared", "url")
        if rec.seq > best.seq:
            best, best_enc = rec, rec.encode()
        elif rec.seq == best.seq:
            enc = rec.encode()
            if enc < best_enc:
                best, best_enc = rec, enc
    if best is None:
        raise ValueError("no records to choose from")
    return best


@dataclass(frozen=True)
class EquivocationProof:
    """Two different records signed for the same URL and seq.

    Wire form: canonical CBOR array of the two record encodings, sorted
    bytewise (so a pair has one encoding). Anyone can check it with
    :meth:`verify`.
    """

    first: Record
    second: Record

    def encode(self) -> bytes:
        """Canonical CBOR: ``[record_a, record_b]`` sorted bytewise."""
        return encoding.encode(sorted([self.first.encode(), self.second.encode()]))

    @classmethod
    def decode(cls, data: bytes) -> EquivocationProof:
        """Decode (structure only); raises InvalidEncoding / InvalidRecord."""
        v = encoding.decode(data, max_size=MAX_PROOF_SIZE, max_depth=1)
        if type(v) is not list or len(v) != 2 or type(v[0]) is not bytes or type(v[1]) is not bytes:
            raise _invalid("an equivocation proof is an array of two encoded records", "schema")
        if not v[0] < v[1]:
            raise _invalid("equivocation proof records must differ and be sorted bytewise", "schema")
        return cls(Record.decode(v[0]), Record.decode(v[1]))

    def verify(self) -> None:
        """Raise unless both records verify, share URL and seq, and differ.

        Expiry is not checked: an expired record still proves equivocation.
        Raises InvalidSignature or InvalidRecord (reason ``"not-equivocation"``).
        """
        if self.first.url != self.second.url:
            raise _invalid("the two records are for different URLs", "not-equivocation")
        if self.first.seq != self.second.seq:
            raise _invalid("the two records have different seqs", "not-equivocation")
        if self.first.encode() == self.second.encode():
            raise _invalid("the two records are identical", "not-equivocation")
        verify_record(self.first)
        verify_record(self.second)

    @property
    def authority(self) -> str:
        """The authority that equivocated."""
        return self.first.authority

