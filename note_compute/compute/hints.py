"""Self-proving newer-seq hints (pure: no I/O, no clock).

A peer asked about seq ``s`` of a dataset that holds a newer version ``n > s``
refuses with ``seq-mismatch`` and attaches the **signed dataset record** of
seq ``n`` (``"manifest": Record.encode()``, beside ``"error"`` in the error
reply; ``specs/compute.md`` 3.3). The hint proves itself: the client checks
it (:func:`check_hint`: the record decodes, is signed by the dataset URL's
authority, names the same dataset URL, carries a manifest, and its seq is
above the one in use) and only then follows it. A ``seq-mismatch`` that
claims a newer seq without a record that passes is *ignored* (counted in
``Verification.hints_ignored``, never trusted): one lying peer can no longer
make a query fail, and an old signed record replayed as "newer" cannot move
the client backwards. Honest peers always attach the record, so a genuine
newer version is not missed.

:class:`SeqMismatch` is the error a peer raises (server side) with the
record to attach; :func:`hint_of` reads an attached record back from a typed
error (:func:`note_compute.wire.envelope.raise_if_error` keeps the fields an
error reply carries beside ``"error"`` in ``NoteError.attached``).
"""

from __future__ import annotations

import re
from typing import Any

from .. import urls
from ..errors import InvalidRecord, NoteError, RemoteProtocolError, StaleRecord
from ..records import Record, verify_record
from ..wire.compute import HINT_FIELD, SEQ_MISMATCH, parse_hint
from .dataset import Manifest, parse_manifest, shard_table_value

_SEQ = re.compile(r"seq (\d+)")

__all__ = ["HINT_FIELD", "SEQ_MISMATCH", "SeqMismatch", "check_hint", "claimed_seq", "hint_of", "seq_mismatch"]


class SeqMismatch(RemoteProtocolError):
    """A peer's refusal to answer for a seq it does not hold; ``record`` (bytes) is its newer signed record."""

    def __init__(self, message: str, *, record: bytes | None = None) -> None:
        super().__init__(message, reason=SEQ_MISMATCH)
        if record is not None:
            self.attached = {HINT_FIELD: record}


def seq_mismatch(url: str, held: Manifest, asked: int) -> SeqMismatch:
    """The refusal of a peer holding ``held`` when asked for seq ``asked``: with the record when newer."""
    newer = held.seq > asked and bool(held.record)
    return SeqMismatch(f"this peer holds seq {held.seq}, not {asked}", record=held.record if newer else None)


def hint_of(exc: NoteError) -> Any:
    """The record a ``seq-mismatch`` error carried (unchecked; None when it carried none)."""
    attached = getattr(exc, "attached", None)
    return attached.get(HINT_FIELD) if isinstance(attached, dict) else None


def claimed_seq(exc: NoteError) -> int | None:
    """The seq a ``seq-mismatch`` message names (``this peer holds seq N``): the unproven claim."""
    m = _SEQ.search(str(getattr(exc, "message", exc)))
    return int(m.group(1)) if m else None


def check_hint(data: Any, manifest: Manifest) -> Record:
    """Check a hint's record against the manifest in use; return the record or raise.

    Raises RemoteProtocolError (``bad-hint``: not bytes, too large),
    InvalidEncoding / InvalidRecord (not a record, or ``hint-url``: another
    dataset, ``not-dataset``: no manifest in it), InvalidSignature (not
    signed by the URL's authority), StaleRecord (``hint-not-newer``: its seq
    is not above ``manifest.seq``: a replayed old record). Expiry is the
    driver's to check (it has the clock).
    """
    record = Record.decode(parse_hint(data))
    verify_record(record)
    if urls.normalize(record.url) != manifest.url:
        raise InvalidRecord(f"the hint's record is for {record.url}, not {manifest.url}", reason="hint-url")
    if record.seq <= manifest.seq:
        raise StaleRecord(f"the hint's record has seq {record.seq}, not newer than {manifest.seq} "
                          "(an old record replayed)", reason="hint-not-newer")
    if record.value is None:
        raise InvalidRecord("the hint's record carries no manifest", reason="not-dataset")
    if shard_table_value(record.value) is None:  # inline: parse it now (a shard table is fetched by the driver)
        parse_manifest(record.value, url=record.url, seq=record.seq)
    return record
