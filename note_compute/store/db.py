"""A node's durable store: SQLite in WAL mode, every write validated.

Theory of operation
-------------------
One table holds every entry under its 32-byte key (its ring position):

* a **record** (kind ``"record"``) lives at ``urls.address(record.url)``; it
  is stored only after :func:`records.decode_verified` (signature by the
  URL's authority, expiry) and :func:`records.select` against the held one:
  higher seq replaces, lower raises :class:`StaleRecord`, equal seq with
  other bytes keeps the held record, files the equivocation proof and raises
  :class:`Equivocation`;
* a **value** (kind ``"value"``) is content-addressed: its key must be
  ``SHA-256(data)`` (else :class:`InvalidRecord`, reason ``"hash-mismatch"``);
* **evidence** (kind ``"evidence"``) is the set of fraud proofs held against
  one peer, at ``SHA-256(FRAUD_INDEX || peer id)``
  (:mod:`note_compute.compute.evidence`): every proof is checked cheaply
  (decodes, accuses the peer of the key, receipt signed by that peer), and a
  put **merges** with the held set (union, sorted by proof hash, capped) so
  replicas converge whatever order puts arrive in;
* an **inbox** (kind ``"inbox"``) is an authority's append-only mailbox at
  ``SHA-256(INBOX || owner || name)`` (:mod:`note_compute.inbox`): sender-signed
  items and owner-signed removals, every signature checked, merged like
  evidence, with a per-sender quota.

Each entry remembers the peer it was stored for (``owner``); the sum of
sizes and the count per owner are the peer's quota use
(:class:`~note_compute.store.limits.StoreLimits`). ``peer=None`` means the
node itself (its own publishing, or replication it pulled): not charged.

Every check happens before the write, and each put ends in a single SQL
statement (its usage totals are kept by triggers inside that statement), all
under one lock: a refused put writes nothing, and a crash cannot leave half
a put behind. Calls are synchronous and short; the connection is
shared by threads behind a lock, so a trio caller may use
``trio.to_thread.run_sync``.

Key ranges are clockwise arcs ``(lo, hi]`` over 32-byte big-endian keys,
as in :mod:`note_compute.ring.ids` (``lo == hi`` is the whole ring).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import inbox as _inbox
from .. import records
from ..errors import Equivocation, InvalidRecord, NotFound, QuotaExceeded
from ..wire.storage import EVIDENCE, INBOX, KINDS, MERGED_KINDS, RECORD, VALUE, PutResult
from .entries import KIND_CODE as _KIND_CODE
from .entries import KIND_NAME as _KIND_NAME
from .entries import Digest, Entry, StoreStats
from .entries import arc as _arc
from .entries import as_key as _key
from .entries import as_peer as _peer
from .entries import entry_of_row as _entry
from .entries import seq_of as _seq
from .entries import typed_storage_errors as _typed_storage_errors
from .kinds import held_of_kind, merged_evidence, merged_inbox, value_address
from .limits import StoreLimits
from .policy import EvidencePolicy
from .schema import COLUMNS as _COLUMNS
from .schema import MAX_SQL_INT as _MAX_SQL_INT
from .schema import TOTAL as _TOTAL
from .schema import setup

__all__ = ["Store", "Entry", "Digest", "StoreStats", "PutResult", "RECORD", "VALUE", "EVIDENCE", "INBOX", "KINDS",
           "MERGED_KINDS", "DB_FILE"]

DB_FILE = "store.sqlite"
"""File name of the database inside a node's data directory."""

# The entry kinds and put results are wire values, declared in note_compute.wire.storage; the entry
# types and row codecs are in .entries, the per-kind put rules (values, merged sets) in .kinds.

_BATCH = 256
EQUIVOCATIONS_PER_KEY = 1
"""Equivocation proofs filed per record address (one convicts the authority)."""



class Store:
    """The validated, durable entry store of one node.

    ``Store(path)`` opens (creating) the SQLite file ``path``;
    ``Store.in_dir(data_dir)`` opens ``data_dir/store.sqlite``. Use as a
    context manager or call :meth:`close`.
    """

    def __init__(self, path: Path | str, *, limits: StoreLimits | None = None,
                 evidence: EvidencePolicy | None = None) -> None:
        self.path = Path(path)
        self.limits = limits or StoreLimits()
        self.evidence = evidence
        """How evidence sets are checked and merged (None: evidence writes are refused)."""
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        try:
            setup(self._db)
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def in_dir(cls, data_dir: Path | str, *, limits: StoreLimits | None = None,
               evidence: EvidencePolicy | None = None) -> Store:
        """Open the store of the node whose data directory is ``data_dir`` (created if needed)."""
        d = Path(data_dir)
        d.mkdir(parents=True, exist_ok=True)
        return cls(d / DB_FILE, limits=limits, evidence=evidence)

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self._lock:
            try:
                self._db.close()
            except sqlite3.ProgrammingError:
                pass

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes ---------------------------------------------------------------

    @_typed_storage_errors
    def put_record(
        self, data: bytes, *, peer: bytes | int | None = None, now: int | None = None, key: bytes | None = None
    ) -> PutResult:
        """Verify and store an encoded signed record at its address.

        ``now`` (Unix seconds) refuses expired records and stamps the entry
        (default: wall clock). ``key``, if given, must be the record's address.
        Raises InvalidEncoding / InvalidRecord / InvalidSignature (bad input),
        StaleRecord, Equivocation (proof filed, held record kept),
        QuotaExceeded. Nothing is written when it raises.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidRecord("a record is sent as bytes", reason="schema")
        now = int(time.time()) if now is None else now
        self._check_size(data)
        record = records.decode_verified(bytes(data), now=now)
        addr = record.address
        if key is not None and _key(key) != addr:
            raise InvalidRecord("the record's address is not the key it was sent for", reason="address-mismatch")
        data = record.encode()  # canonical bytes (decode already refused anything else)
        owner = _peer(peer)
        with self._lock:
            row = self._db.execute("SELECT data, owner, size, kind FROM entries WHERE key=?", (addr,)).fetchone()
            # A value at a record's address (impossible since addresses are domain-separated,
            # short of a SHA-256 collision) is not a held record: the record takes the address.
            current = records.Record.decode(row[0]) if row is not None and row[3] == _KIND_CODE[RECORD] else None
            if current is not None:
                try:
                    winner = records.select(current, record)
                except Equivocation as exc:
                    if isinstance(exc.proof, records.EquivocationProof):
                        self._file_equivocation(addr, exc.proof.encode())
                    raise
                if winner is current:
                    return "unchanged"
            old_owner, old_size = (row[1], row[2]) if row is not None else (None, 0)
            self._check_quota(owner, len(data), old_owner, old_size, replacing=row is not None)
            expires = None if record.expires is None else min(record.expires, _MAX_SQL_INT)
            values = (
                1, record.seq.to_bytes(8, "big"), hashlib.sha256(data).digest(), data, len(data), owner, now, expires
            )
            if row is None:
                self._db.execute(
                    f"INSERT INTO entries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (addr, *values)
                )
            else:
                self._db.execute(
                    "UPDATE entries SET kind=?, seq=?, hash=?, data=?, size=?, owner=?, stored_at=?, expires=? "
                    "WHERE key=?",
                    (*values, addr),
                )
        return "replaced" if row is not None else "stored"

    @_typed_storage_errors
    def put_value(
        self, data: bytes, *, key: bytes | None = None, peer: bytes | int | None = None, now: int | None = None
    ) -> PutResult:
        """Store content-addressed bytes at SHA-256(data).

        If ``key`` is given it must equal SHA-256(data), else InvalidRecord
        with reason ``"hash-mismatch"``. Raises QuotaExceeded. Returns
        ``"unchanged"`` if already held (not charged again).
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidRecord("a value is bytes", reason="schema")
        data = bytes(data)
        self._check_size(data)
        h = value_address(data, key)
        now = int(time.time()) if now is None else now
        owner = _peer(peer)
        with self._lock:
            if self._db.execute("SELECT 1 FROM entries WHERE key=?", (h,)).fetchone() is not None:
                return "unchanged"
            self._check_quota(owner, len(data), None, 0, replacing=False)
            self._db.execute(
                f"INSERT INTO entries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                (h, 2, None, h, data, len(data), owner, now),
            )
        return "stored"

    @_typed_storage_errors
    def put_evidence(
        self, key: bytes, data: bytes, *, peer: bytes | int | None = None, now: int | None = None,
        replica: bool = False,
    ) -> PutResult:
        """Check a set of fraud proofs against the peer of ``key`` and merge it into the held set.

        The store's :attr:`evidence` policy checks and merges (nodes hand it
        :data:`~note_compute.compute.evidence.FRAUD_EVIDENCE`: ``data`` is
        ``encode_set`` of one or more proofs, every proof must pass
        ``check_proof``); a store without a policy refuses every evidence
        write (InvalidRecord reason ``no-evidence-policy``). One bad proof
        refuses the whole put (InvalidRecord / InvalidProof /
        InvalidSignature / InvalidEncoding) and nothing is written. Returns
        ``"stored"`` (new key), ``"merged"`` (the held set grew or changed)
        or ``"unchanged"``. Raises QuotaExceeded. ``replica``: ``data`` is
        another replica's held set (anti-entropy), merged with the policy's
        replica room (``compute.evidence.merge``: replicas converge).
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidRecord("evidence is sent as bytes", reason="schema")
        key = _key(key)
        data = bytes(data)
        self._check_size(data)
        policy = self._policy()
        incoming = policy.validate_entry(key, data)
        now = int(time.time()) if now is None else now
        owner = _peer(peer)
        with self._lock:
            row = self._db.execute("SELECT data, owner, size, kind FROM entries WHERE key=?", (key,)).fetchone()
            out = merged_evidence(policy, held_of_kind(row, EVIDENCE), incoming, replica=replica)
            if out is None:
                return "unchanged"
            self._check_size(out)
            return self._write_merged(key, EVIDENCE, out, row, owner, now)

    @_typed_storage_errors
    def put_inbox(
        self, key: bytes, data: bytes, *, peer: bytes | int | None = None, now: int | None = None
    ) -> PutResult:
        """Merge an inbox set (new items, owner removals) into the one held at ``key``.

        Every item and removal is verified (:func:`note_compute.inbox.decode_set`);
        the merge rule and the append checks are
        :func:`note_compute.inbox.check_append` (per-sender quota, removed
        items, items dated in the future, no held item pushed out), applied
        to puts from a peer; ``peer=None`` (the node's own pulls) only merges. One bad item refuses the whole
        put and nothing is written. Returns ``"stored"``, ``"merged"`` or
        ``"unchanged"``. Raises InvalidRecord / InvalidSignature / QuotaExceeded.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidRecord("an inbox is sent as bytes", reason="schema")
        key = _key(key)
        data = bytes(data)
        self._check_size(data)
        incoming = _inbox.decode_set(key, data)
        now = int(time.time()) if now is None else now
        owner = _peer(peer)
        with self._lock:
            row = self._db.execute("SELECT data, owner, size, kind FROM entries WHERE key=?", (key,)).fetchone()
            out = merged_inbox(key, held_of_kind(row, INBOX), incoming, now, strict=owner is not None)
            if out is None:
                return "unchanged"
            self._check_size(out)
            return self._write_merged(key, INBOX, out, row, owner, now)

    def _write_merged(self, key: bytes, kind: str, out: bytes, row: Any, owner: bytes | None, now: int) -> PutResult:
        """Write a merged set (evidence, inbox) over ``row`` (the held entry or None); call under the lock."""
        old_owner, old_size = (row[1], row[2]) if row is not None else (None, 0)
        self._check_quota(owner, len(out), old_owner, old_size, replacing=row is not None)
        values = (_KIND_CODE[kind], None, hashlib.sha256(out).digest(), out, len(out), owner, now, None)
        if row is None:
            self._db.execute(f"INSERT INTO entries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (key, *values))
            return "stored"
        self._db.execute(
            "UPDATE entries SET kind=?, seq=?, hash=?, data=?, size=?, owner=?, stored_at=?, expires=? WHERE key=?",
            (*values, key),
        )
        return "merged"

    def get_evidence(self, key: bytes | int) -> list[bytes]:
        """The encoded fraud proofs held at ``key`` (checked when stored); [] if none."""
        try:
            e = self.get(key)
        except NotFound:
            return []
        if e.kind != EVIDENCE:
            return []
        return self._policy().decode_set(e.data)

    def check_evidence(self, key: bytes, data: bytes) -> list[bytes]:
        """The items of an evidence set sent for ``key``, each checked by the policy (nothing stored)."""
        return self._policy().validate_entry(_key(key), bytes(data))

    def _policy(self) -> EvidencePolicy:
        if self.evidence is None:
            raise InvalidRecord("this store was given no evidence policy", reason="no-evidence-policy")
        return self.evidence

    def put(
        self, kind: str, key: bytes, data: bytes, *, peer: bytes | int | None = None, now: int | None = None,
        replica: bool = False,
    ) -> PutResult:
        """Store an entry of ``kind`` (``"record"``, ``"value"``, ``"evidence"`` or ``"inbox"``) sent for ``key``
        (replica sync, hand-off; ``replica``: it is another replica's entry, see :meth:`put_evidence`)."""
        if kind == RECORD:
            return self.put_record(data, peer=peer, now=now, key=key)
        if kind == VALUE:
            return self.put_value(data, key=key, peer=peer, now=now)
        if kind == EVIDENCE:
            return self.put_evidence(key, data, peer=peer, now=now, replica=replica)
        if kind == INBOX:
            return self.put_inbox(key, data, peer=peer, now=now)
        raise InvalidRecord(f"unknown entry kind {kind!r}", reason="bad-kind")

    @_typed_storage_errors
    def delete(self, key: bytes | int) -> bool:
        """Remove the entry at ``key``; True if there was one."""
        with self._lock:
            cur = self._db.execute("DELETE FROM entries WHERE key=?", (_key(key),))
            return cur.rowcount > 0

    @_typed_storage_errors
    def purge_expired(self, now: int) -> int:
        """Remove every record that has expired at ``now`` (Unix seconds); returns how many."""
        with self._lock:
            return self._db.execute("DELETE FROM entries WHERE expires IS NOT NULL AND expires <= ?", (now,)).rowcount

    @_typed_storage_errors
    def delete_range(self, lo: bytes | int, hi: bytes | int) -> int:
        """Remove every entry on the clockwise arc ``(lo, hi]``; returns how many."""
        where, args = _arc(_key(lo), _key(hi))
        with self._lock:
            return self._db.execute(f"DELETE FROM entries WHERE {where}", args).rowcount

    # -- reads ----------------------------------------------------------------

    def get(self, key: bytes | int) -> Entry:
        """The entry at ``key``; raises NotFound."""
        with self._lock:
            row = self._db.execute(
                "SELECT key, kind, data, seq, hash, owner, stored_at FROM entries WHERE key=?", (_key(key),)
            ).fetchone()
        if row is None:
            raise NotFound(f"no entry at {_key(key).hex()[:16]}...", reason="no-entry")
        return _entry(row)

    def get_record(self, key: bytes | int) -> records.Record:
        """The record at ``key`` (verified when stored); raises NotFound if none is held."""
        e = self.get(key)
        if e.kind != RECORD:
            raise NotFound("the entry at this key is not a record", reason="not-a-record")
        return records.Record.decode(e.data)

    def has(self, key: bytes | int) -> bool:
        """True if an entry is held at ``key``."""
        with self._lock:
            return self._db.execute("SELECT 1 FROM entries WHERE key=?", (_key(key),)).fetchone() is not None

    def digests(self, lo: bytes | int, hi: bytes | int, *, limit: int | None = None,
                after: bytes | None = None) -> list[Digest]:
        """Digests of entries on the arc ``(lo, hi]``, clockwise from ``lo``.

        ``limit`` pages the answer: pass the last key returned as ``after``
        to continue. Cheap (no data column read).
        """
        rows = self._range("key, kind, seq, hash", _key(lo), _key(hi), limit, after)
        return [Digest(r[0], _KIND_NAME[r[1]], _seq(r[2]), r[3]) for r in rows]

    def digests_of(self, keys: list[bytes]) -> dict[bytes, Digest]:
        """Digests of the entries held at ``keys`` (absent keys are left out).

        Reads only the key, kind, seq and hash columns (the hash is stored
        with every entry), never an entry's bytes: answering a replica's
        digest list costs index lookups, whatever size the entries are.
        """
        out: dict[bytes, Digest] = {}
        ks = [_key(k) for k in keys]
        with self._lock:
            for i in range(0, len(ks), _BATCH):
                part = ks[i : i + _BATCH]
                marks = ",".join("?" * len(part))
                rows = self._db.execute(f"SELECT key, kind, seq, hash FROM entries WHERE key IN ({marks})", part)
                for r in rows.fetchall():
                    out[r[0]] = Digest(r[0], _KIND_NAME[r[1]], _seq(r[2]), r[3])
        return out

    def entries(self, lo: bytes | int, hi: bytes | int, *, limit: int | None = None,
                after: bytes | None = None) -> list[Entry]:
        """Entries on the arc ``(lo, hi]``, clockwise from ``lo`` (paged like :meth:`digests`)."""
        rows = self._range("key, kind, data, seq, hash, owner, stored_at", _key(lo), _key(hi), limit, after)
        return [_entry(r) for r in rows]

    def iter_entries(self) -> Iterator[Entry]:
        """Every entry in key order, fetched in small batches (no long-held lock)."""
        last = b""
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT key, kind, data, seq, hash, owner, stored_at FROM entries WHERE key > ? "
                    "ORDER BY key LIMIT ?",
                    (last, _BATCH),
                ).fetchall()
            if not rows:
                return
            for r in rows:
                yield _entry(r)
            last = rows[-1][0]

    def stats(self) -> StoreStats:
        """Entry counts by kind and total bytes (counts by kind scan the table: not for hot paths)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT kind, COUNT(*), COALESCE(SUM(size), 0) FROM entries GROUP BY kind"
            ).fetchall()
        by = {r[0]: (r[1], r[2]) for r in rows}
        rec, val, ev, ib = by.get(1, (0, 0)), by.get(2, (0, 0)), by.get(3, (0, 0)), by.get(4, (0, 0))
        return StoreStats(rec[0] + val[0] + ev[0] + ib[0], rec[0], val[0], rec[1] + val[1] + ev[1] + ib[1], ev[0],
                          ib[0])

    def count(self) -> int:
        """Number of entries held (cheap: a running total)."""
        with self._lock:
            return self._usage(_TOTAL)[1]

    def total_bytes(self) -> int:
        """Sum of entry sizes held (cheap: a running total)."""
        with self._lock:
            return self._usage(_TOTAL)[0]

    def usage(self, peer: bytes | int) -> tuple[int, int]:
        """``(bytes, entries)`` held on behalf of ``peer``."""
        with self._lock:
            return self._usage(_peer(peer))

    def equivocations(self, key: bytes | int | None = None) -> list[bytes]:
        """Encoded equivocation proofs filed (for ``key``, or all)."""
        with self._lock:
            if key is None:
                rows = self._db.execute("SELECT proof FROM equivocations ORDER BY key, hash").fetchall()
            else:
                rows = self._db.execute(
                    "SELECT proof FROM equivocations WHERE key=? ORDER BY hash", (_key(key),)
                ).fetchall()
        return [r[0] for r in rows]

    def equivocation_bytes(self) -> int:
        """Bytes of equivocation proofs filed (bounded: see :meth:`_file_equivocation`)."""
        with self._lock:
            return int(self._db.execute("SELECT COALESCE(SUM(LENGTH(proof)), 0) FROM equivocations").fetchone()[0])

    # -- internals ------------------------------------------------------------

    def _file_equivocation(self, addr: bytes, proof: bytes) -> None:
        """File one proof per record address, within the store's budget for proofs (caller holds the lock).

        One proof convicts the authority; more for the same address add
        nothing, so a peer replaying distinct same-seq records files one
        proof, not one per put (each was ~120 KiB, outside every quota). The
        proofs of all addresses together stay under
        ``limits.max_equivocation_bytes``; past it nothing more is filed (the
        put is still refused as an equivocation).
        """
        held = self._db.execute("SELECT COUNT(*) FROM equivocations WHERE key=?", (addr,)).fetchone()[0]
        if held >= EQUIVOCATIONS_PER_KEY:
            return
        used = self._db.execute("SELECT COALESCE(SUM(LENGTH(proof)), 0) FROM equivocations").fetchone()[0]
        if used + len(proof) > self.limits.max_equivocation_bytes:
            return
        self._db.execute("INSERT OR IGNORE INTO equivocations VALUES (?, ?, ?)",
                         (addr, hashlib.sha256(proof).digest(), proof))

    def _check_size(self, data: bytes) -> None:
        if len(data) > self.limits.max_entry_size:
            raise QuotaExceeded(
                f"entry is {len(data)} bytes, over the {self.limits.max_entry_size}-byte cap", reason="entry-too-large"
            )

    def _usage(self, owner: bytes | None) -> tuple[int, int]:
        row = self._db.execute("SELECT bytes, entries FROM usage WHERE owner=?", (owner,)).fetchone()
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    def _check_quota(self, owner: bytes | None, size: int, old_owner: bytes | None, old_size: int,
                     *, replacing: bool) -> None:
        lim = self.limits
        if lim.max_total_bytes is not None:
            total = self._usage(_TOTAL)[0]
            if total - old_size + size > lim.max_total_bytes:
                raise QuotaExceeded(
                    f"store is full ({total} of {lim.max_total_bytes} bytes used)", reason="store-full"
                )
        if owner is None:
            return
        used_bytes, used_entries = self._usage(owner)
        if replacing and old_owner == owner:
            used_bytes -= old_size
            used_entries -= 1
        if used_bytes + size > lim.peer_max_bytes:
            raise QuotaExceeded(
                f"peer {owner.hex()[:16]} would hold {used_bytes + size} bytes here, over its "
                f"{lim.peer_max_bytes}-byte quota",
                reason="peer-bytes",
            )
        if used_entries + 1 > lim.peer_max_entries:
            raise QuotaExceeded(
                f"peer {owner.hex()[:16]} already holds {used_entries} entries here, its quota is "
                f"{lim.peer_max_entries}",
                reason="peer-entries",
            )

    def _range(self, cols: str, lo: bytes, hi: bytes, limit: int | None, after: bytes | None) -> list[tuple[Any, ...]]:
        if after is not None:
            # `after` lies on (lo, hi]: what is left, clockwise, is the arc (after, hi].
            after = _key(after)
            if after == hi:
                return []
            lo = after
        if limit is not None and limit <= 0:
            return []
        # Clockwise from lo: keys above lo first, then (if the arc wraps) keys from 0 up to hi.
        parts = [("key > ? AND key <= ?", (lo, hi))] if lo < hi else [("key > ?", (lo,)), ("key <= ?", (hi,))]
        out: list[tuple[Any, ...]] = []
        with self._lock:
            for where, args in parts:
                n = None if limit is None else limit - len(out)
                if n is not None and n <= 0:
                    break
                sql = f"SELECT {cols} FROM entries WHERE {where} ORDER BY key" + (
                    "" if n is None else f" LIMIT {int(n)}"
                )
                out.extend(self._db.execute(sql, args).fetchall())
        return out
