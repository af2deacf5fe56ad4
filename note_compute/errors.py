"""The project's error hierarchy.

Every error the package raises on purpose is a :class:`NoteError`. Each class
carries a short, stable ``code`` (sent in error replies on the wire) and each
instance may carry a finer ``reason`` (for example ``"non-canonical"`` for an
:class:`InvalidEncoding`). Verification functions raise; they never return a
bool.

Local vs remote: a :class:`RemoteProtocolError` means a *peer* sent us
something wrong; the node answers with an error reply and carries on. A
:class:`LocalProtocolError` means *we* tried to do something the protocol
forbids (a bug or a misuse of the API). Any other exception is a bug.
"""

from __future__ import annotations

__all__ = [
    "no_replica",
    "NoteError",
    "InvalidEncoding",
    "InvalidSignature",
    "InvalidProof",
    "InvalidRecord",
    "StaleRecord",
    "Equivocation",
    "InvalidURL",
    "KeyStoreError",
    "NotFound",
    "ProtocolError",
    "LocalProtocolError",
    "RemoteProtocolError",
    "QuotaExceeded",
    "RateLimited",
    "Timeout",
    "PeerUnreachable",
    "NotAMember",
    "InternalError",
    "SandboxError",
    "StorageError",
    "Busy",
    "error_from_code",
]


class NoteError(Exception):
    """Root of every error note_compute raises on purpose."""

    code = "error"

    def __init__(self, message: str = "", *, reason: str | None = None) -> None:
        self.message = message or (self.__class__.__doc__ or self.code).strip().splitlines()[0]
        super().__init__(self.message)
        self.reason = reason
        self.attached: dict[str, object] = {}
        """Fields an error reply carried beside ``"error"`` (e.g. a seq hint's signed record), unchecked."""

    def __str__(self) -> str:
        if self.reason:
            return f"{self.message} [{self.reason}]"
        return self.message


class InvalidEncoding(NoteError):
    """Bytes are not valid canonical CBOR for what was expected."""

    code = "invalid-encoding"


class InvalidSignature(NoteError):
    """A signature does not verify."""

    code = "invalid-signature"


class InvalidProof(NoteError):
    """A Merkle proof (inclusion, range or batch) does not verify."""

    code = "invalid-proof"


class InvalidRecord(NoteError):
    """A record is malformed, or inconsistent with where it was found."""

    code = "invalid-record"


class StaleRecord(InvalidRecord):
    """A record's sequence number is lower than one already held."""

    code = "stale-record"


class Equivocation(InvalidRecord):
    """Two different records signed by one authority with the same URL and seq.

    ``proof`` holds the :class:`~note_compute.records.EquivocationProof` (both
    signed records) when raised locally; it is ``None`` when rebuilt from a
    wire error reply.
    """

    code = "equivocation"

    def __init__(self, message: str = "", *, reason: str | None = None, proof: object | None = None) -> None:
        super().__init__(message, reason=reason)
        self.proof = proof


class InvalidURL(NoteError):
    """A note:// URL does not parse or is not in normal form."""

    code = "invalid-url"


class KeyStoreError(NoteError):
    """A key file is missing, unreadable or malformed."""

    code = "keystore"


class NotFound(NoteError):
    """The requested key, record or blob is not held."""

    code = "not-found"


class ProtocolError(NoteError):
    """A protocol rule was broken (see the Local / Remote children)."""

    code = "protocol"


class LocalProtocolError(ProtocolError):
    """We tried to do something the protocol forbids."""

    code = "local-protocol"


class RemoteProtocolError(ProtocolError):
    """A peer sent something the protocol forbids."""

    code = "remote-protocol"


class QuotaExceeded(NoteError):
    """A per-peer storage quota would be exceeded."""

    code = "quota-exceeded"


class RateLimited(NoteError):
    """Too many requests from one peer in too short a time."""

    code = "rate-limited"


class Timeout(NoteError):
    """A request or operation did not finish in time."""

    code = "timeout"


class PeerUnreachable(NoteError):
    """A peer could not be dialled, or its connection dropped mid-request."""

    code = "unreachable"


class NotAMember(NoteError):
    """The peer is not (or no longer) a ring member, so it cannot answer ring requests."""

    code = "not-a-member"


class InternalError(NoteError):
    """A peer failed while serving a request (a bug on its side, not our input)."""

    code = "internal"


class StorageError(NoteError):
    """The node's own storage failed (``reason`` ``disk-full`` or ``io-error``); nothing was stored."""

    code = "storage"


class Busy(NoteError):
    """The node is at capacity for this kind of work right now; retry later or ask another replica."""

    code = "busy"


class SandboxError(NoteError):
    """A WebAssembly program failed; ``reason`` says how (out-of-fuel, trap, ...)."""

    code = "sandbox"


def _all_subclasses(cls: type[NoteError]) -> list[type[NoteError]]:
    out = [cls]
    for sub in cls.__subclasses__():
        out.extend(_all_subclasses(sub))
    return out


def no_replica(message: str, errors: list[NoteError], cls: type[NoteError] | None = None) -> NoteError:
    """The error for "no replica gave a good answer", from the replicas' own errors.

    ``cls`` (default NotFound, reason ``no-replica``) names the failure; when
    some replica answered with something invalid (not a plain not-found,
    timeout or unreachable), that error's type and reason are given instead.
    """
    cls = cls or NotFound
    if errors:
        detail = "; ".join(sorted({f"{e.code}: {e}" for e in errors}))[:300]
        bad = [e for e in errors if not isinstance(e, (NotFound, Timeout, PeerUnreachable))]
        if bad and cls is NotFound:
            return type(bad[0])(f"{message} ({detail})", reason=bad[0].reason)
        return cls(f"{message} ({detail})", reason="no-replica")
    return cls(message, reason="no-replica")


def error_from_code(code: str, message: str, reason: str | None = None) -> NoteError:
    """Rebuild a typed error from a wire error reply (unknown codes give NoteError)."""
    for cls in _all_subclasses(NoteError):
        if cls.code == code:
            return cls(message, reason=reason)
    return NoteError(message, reason=reason)
