"""The node store: validation on every write, seq rule, ranges, quotas, durability."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from pathlib import Path

import pytest

from note_compute import domains, records, urls
from note_compute.crypto import SigningKey
from note_compute.errors import (
    Equivocation,
    InvalidEncoding,
    InvalidRecord,
    InvalidSignature,
    NotFound,
    QuotaExceeded,
    StaleRecord,
)
from note_compute.store import RECORD, VALUE, Store, StoreLimits

NOW = 1_700_000_000
ALICE = SigningKey(bytes(range(32)))
MALLORY = SigningKey(bytes(range(1, 33)))
PEER_A = b"\xaa" * 32
PEER_B = b"\xbb" * 32


def rec(
    seq: int, value: bytes = b"hello", *, key: SigningKey = ALICE, path: str = "/a", **kw: object
) -> records.Record:
    url = urls.make_url(key.authority, path)
    return records.sign_record(key, url, seq=seq, value=value, created=NOW, **kw)  # type: ignore[arg-type]


def snapshot(s: Store) -> list[tuple[bytes, bytes]]:
    return [(e.key, e.data) for e in s.iter_entries()]


# -- records ---------------------------------------------------------------------


def test_record_stored_at_its_address_and_read_back(store: Store) -> None:
    r = rec(1)
    assert store.put_record(r.encode(), peer=PEER_A, now=NOW) == "stored"
    e = store.get(r.address)
    assert e.kind == RECORD and e.seq == 1 and e.data == r.encode() and e.owner == PEER_A
    assert e.hash == hashlib.sha256(r.encode()).digest()
    assert store.get_record(r.address) == r
    assert store.get(int.from_bytes(r.address, "big")).data == r.encode()  # ring positions as ints too


def test_higher_seq_replaces_lower_refused_equal_is_idempotent(store: Store) -> None:
    store.put_record(rec(5).encode(), now=NOW)
    assert store.put_record(rec(6, b"newer").encode(), now=NOW) == "replaced"
    with pytest.raises(StaleRecord) as e:
        store.put_record(rec(4, b"older").encode(), now=NOW)
    assert "4" in str(e.value) and "6" in str(e.value)
    assert store.put_record(rec(6, b"newer").encode(), now=NOW) == "unchanged"
    assert store.get_record(rec(6).address).value == b"newer"
    assert store.stats().records == 1


def test_equivocation_keeps_held_record_and_files_proof(store: Store) -> None:
    first, second = rec(3, b"one"), rec(3, b"two")
    store.put_record(first.encode(), now=NOW)
    with pytest.raises(Equivocation) as e:
        store.put_record(second.encode(), now=NOW)
    assert e.value.proof is not None
    assert store.get_record(first.address) == first
    proofs = store.equivocations(first.address)
    assert len(proofs) == 1
    proof = records.EquivocationProof.decode(proofs[0])
    proof.verify()
    assert {proof.first, proof.second} == {first, second}
    with pytest.raises(Equivocation):  # filed once, not twice
        store.put_record(second.encode(), now=NOW)
    assert len(store.equivocations()) == 1


def test_forged_signature_refused_nothing_stored(store: Store) -> None:
    r = rec(1)
    forged = dataclasses.replace(r, value=b"evil")  # same signature, different body
    with pytest.raises(InvalidSignature):
        store.put_record(forged.encode(), now=NOW)
    sig = bytearray(r.signature)
    sig[0] ^= 1
    with pytest.raises(InvalidSignature):
        store.put_record(dataclasses.replace(r, signature=bytes(sig)).encode(), now=NOW)
    assert snapshot(store) == []


def test_record_signed_by_someone_else_refused(store: Store) -> None:
    # Mallory signs a record for Alice's URL: the signature is checked with Alice's key.
    r = rec(1)
    body_sig = MALLORY.sign(records.domains.SIG_RECORD, r.body())
    with pytest.raises(InvalidSignature):
        store.put_record(dataclasses.replace(r, signature=body_sig).encode(), now=NOW)
    assert store.count() == 0


def test_garbage_and_non_canonical_records_refused(store: Store) -> None:
    for bad in (b"", b"\x00", b"\xff" * 10, b"\xa1\x61u\x61x"):
        with pytest.raises((InvalidEncoding, InvalidRecord)):
            store.put_record(bad, now=NOW)
    assert store.count() == 0


def test_expired_record_refused(store: Store) -> None:
    r = rec(1, expires=NOW + 10)
    with pytest.raises(InvalidRecord) as e:
        store.put_record(r.encode(), now=NOW + 10)
    assert e.value.reason == "expired"
    assert store.put_record(r.encode(), now=NOW + 9) == "stored"


def test_record_sent_for_the_wrong_key_refused(store: Store) -> None:
    r = rec(1)
    with pytest.raises(InvalidRecord) as e:
        store.put(RECORD, b"\x01" * 32, r.encode(), now=NOW)
    assert e.value.reason == "address-mismatch"
    assert store.count() == 0
    assert store.put(RECORD, r.address, r.encode(), now=NOW) == "stored"


# -- content-addressed values ----------------------------------------------------


def test_value_stored_at_its_hash(store: Store) -> None:
    data = b"chunk" * 1000
    key = hashlib.sha256(data).digest()
    assert store.put_value(data, key=key, peer=PEER_A) == "stored"
    assert store.put_value(data) == "unchanged"
    e = store.get(key)
    assert e.kind == VALUE and e.data == data and e.seq == 0


def test_wrong_hash_refused_nothing_stored(store: Store) -> None:
    with pytest.raises(InvalidRecord) as e:
        store.put_value(b"data", key=hashlib.sha256(b"other").digest())
    assert e.value.reason == "hash-mismatch"
    with pytest.raises(InvalidRecord):
        store.put(VALUE, b"\x00" * 32, b"data")
    with pytest.raises(InvalidRecord) as e:
        store.put(VALUE, b"short", b"data")
    assert e.value.reason == "bad-key"
    with pytest.raises(InvalidRecord) as e:
        store.put("other", hashlib.sha256(b"data").digest(), b"data")
    assert e.value.reason == "bad-kind"
    assert store.count() == 0


def test_get_missing_and_delete(store: Store) -> None:
    with pytest.raises(NotFound):
        store.get(b"\x00" * 32)
    store.put_value(b"x")
    k = hashlib.sha256(b"x").digest()
    with pytest.raises(NotFound):
        store.get_record(k)  # a value, not a record
    assert store.has(k)
    assert store.delete(k) is True
    assert store.delete(k) is False
    assert not store.has(k)


def test_entry_size_cap(tmp_path: Path) -> None:
    s = Store(tmp_path / "s.sqlite", limits=StoreLimits(max_entry_size=100))
    with pytest.raises(QuotaExceeded) as e:
        s.put_value(b"x" * 101)
    assert e.value.reason == "entry-too-large"
    assert s.count() == 0
    s.close()


# -- ranges ----------------------------------------------------------------------


def _fill(store: Store, n: int) -> list[bytes]:
    keys = []
    for i in range(n):
        data = f"v{i}".encode()
        store.put_value(data)
        keys.append(hashlib.sha256(data).digest())
    return sorted(keys)


def test_clockwise_ranges(store: Store) -> None:
    keys = _fill(store, 40)
    lo, hi = keys[5], keys[20]
    got = [d.key for d in store.digests(lo, hi)]
    assert got == keys[6:21]  # (lo, hi]
    # wrapping arc: (keys[30], keys[3]] = keys[31:] then keys[:4], in clockwise order
    got = [d.key for d in store.digests(keys[30], keys[3])]
    assert got == keys[31:] + keys[:4]
    # lo == hi: the whole ring, starting just after lo
    got = [d.key for d in store.digests(keys[10], keys[10])]
    assert got == keys[11:] + keys[:11]
    assert [e.key for e in store.entries(lo, hi)] == keys[6:21]


def test_range_paging_covers_the_arc_once(store: Store) -> None:
    keys = _fill(store, 50)
    for lo, hi in [(keys[3], keys[40]), (keys[45], keys[10]), (keys[7], keys[7])]:
        everything = [d.key for d in store.digests(lo, hi)]
        paged: list[bytes] = []
        after = None
        while True:
            page = store.digests(lo, hi, limit=7, after=after)
            if not page:
                break
            paged += [d.key for d in page]
            after = page[-1].key
        assert paged == everything


def test_delete_range_and_stats(store: Store) -> None:
    keys = _fill(store, 30)
    store.put_record(rec(1).encode(), now=NOW)
    st = store.stats()
    assert (st.entries, st.records, st.values) == (31, 1, 30)
    assert st.bytes == sum(len(e.data) for e in store.iter_entries())
    n = store.delete_range(keys[9], keys[19])
    assert n == sum(1 for k in [*keys, rec(1).address] if keys[9] < k <= keys[19])
    assert all(not (keys[9] < e.key <= keys[19]) for e in store.iter_entries())


def test_record_digest_carries_seq(store: Store) -> None:
    r = rec(2**64 - 1)  # the largest seq survives the round trip
    store.put_record(r.encode(), now=NOW)
    (d,) = store.digests(r.address, r.address)
    assert d.seq == 2**64 - 1 and d.kind == RECORD and d.hash == hashlib.sha256(r.encode()).digest()


def test_iter_entries_batches(store: Store) -> None:
    keys = _fill(store, 600)  # more than one internal batch
    assert [e.key for e in store.iter_entries()] == keys


# -- quotas ----------------------------------------------------------------------


def test_peer_entry_quota(tmp_path: Path) -> None:
    s = Store(tmp_path / "q.sqlite", limits=StoreLimits(peer_max_entries=3))
    for i in range(3):
        s.put_value(bytes([i]), peer=PEER_A)
    before = snapshot(s)
    with pytest.raises(QuotaExceeded) as e:
        s.put_value(b"\x09", peer=PEER_A)
    assert e.value.reason == "peer-entries" and "3" in str(e.value)
    assert snapshot(s) == before
    s.put_value(b"\x09", peer=PEER_B)  # another peer has its own quota
    s.put_value(b"\x0a")  # the node itself is not charged
    assert s.usage(PEER_A) == (3, 3) and s.usage(PEER_B) == (1, 1)
    s.close()


def test_peer_byte_quota_and_replacement_credit(tmp_path: Path) -> None:
    s = Store(tmp_path / "q.sqlite", limits=StoreLimits(peer_max_bytes=2 * len(rec(1, b"x" * 100).encode()) + 10))
    s.put_record(rec(1, b"x" * 100).encode(), peer=PEER_A, now=NOW)
    s.put_record(rec(1, b"x" * 100, path="/b").encode(), peer=PEER_A, now=NOW)
    with pytest.raises(QuotaExceeded) as e:
        s.put_record(rec(1, b"x" * 100, path="/c").encode(), peer=PEER_A, now=NOW)
    assert e.value.reason == "peer-bytes"
    # replacing its own record is charged the difference only
    assert s.put_record(rec(2, b"y" * 100).encode(), peer=PEER_A, now=NOW) == "replaced"
    with pytest.raises(QuotaExceeded):
        s.put_record(rec(3, b"y" * 200).encode(), peer=PEER_A, now=NOW)
    assert s.get_record(rec(1).address).seq == 2
    s.close()


def test_store_wide_cap(tmp_path: Path) -> None:
    s = Store(tmp_path / "q.sqlite", limits=StoreLimits(max_total_bytes=10))
    s.put_value(b"0123456789")
    with pytest.raises(QuotaExceeded) as e:
        s.put_value(b"z")
    assert e.value.reason == "store-full"
    s.close()


def test_int_peer_ids_accepted(store: Store) -> None:
    store.put_value(b"abc", peer=int.from_bytes(PEER_A, "big"))
    assert store.usage(PEER_A) == (3, 1)


# -- durability ------------------------------------------------------------------


def test_reopened_store_serves_what_it_stored(tmp_path: Path) -> None:
    d = tmp_path / "node"
    s = Store.in_dir(d)
    r = rec(7, b"persist me")
    s.put_record(r.encode(), peer=PEER_A, now=NOW)
    s.put_value(b"blob bytes", peer=PEER_A)
    with pytest.raises(Equivocation):
        s.put_record(rec(7, b"other").encode(), now=NOW)
    s.close()
    s2 = Store.in_dir(d)
    assert s2.get_record(r.address) == r
    assert s2.get(hashlib.sha256(b"blob bytes").digest()).data == b"blob bytes"
    assert s2.usage(PEER_A)[1] == 2
    assert len(s2.equivocations()) == 1
    with pytest.raises(StaleRecord):  # the seq rule survives a restart
        s2.put_record(rec(6).encode(), now=NOW)
    s2.close()


def test_wal_mode(store: Store) -> None:
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_threads_can_share_a_store(store: Store) -> None:
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            for j in range(30):
                store.put_value(f"{i}-{j}".encode())
                store.stats()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and store.count() == 120


def test_running_totals_match_the_entries(tmp_path: Path) -> None:
    s = Store(tmp_path / "t.sqlite")
    keys = []
    for i in range(20):
        data = bytes([i]) * (i + 1)
        s.put_value(data, peer=PEER_A if i % 2 else PEER_B)
        keys.append(hashlib.sha256(data).digest())
    s.put_record(rec(1, b"x" * 10).encode(), peer=PEER_A, now=NOW)
    s.put_record(rec(2, b"y" * 30).encode(), peer=PEER_B, now=NOW)  # replaced by another peer
    s.delete(keys[0])
    ks = sorted(keys)
    s.delete_range(ks[3], ks[9])

    def truth(owner: bytes | None) -> tuple[int, int]:
        es = [e for e in s.iter_entries() if owner is None or e.owner == owner]
        return sum(len(e.data) for e in es), len(es)

    assert s.usage(PEER_A) == truth(PEER_A) and s.usage(PEER_B) == truth(PEER_B)
    assert (s.total_bytes(), s.count()) == truth(None)
    assert s.stats().bytes == s.total_bytes() and s.stats().entries == s.count()
    expect_a, expect_all = truth(PEER_A), truth(None)
    s.close()
    s2 = Store(tmp_path / "t.sqlite")  # totals persist
    assert s2.usage(PEER_A) == expect_a and (s2.total_bytes(), s2.count()) == expect_all
    s2.close()


def test_schema_1_store_gets_its_totals_rebuilt(tmp_path: Path) -> None:
    import sqlite3

    s = Store(tmp_path / "old.sqlite")
    s.put_value(b"abc", peer=PEER_A)
    s.close()
    db = sqlite3.connect(tmp_path / "old.sqlite")
    db.execute("DELETE FROM usage")
    db.execute("UPDATE meta SET v = 1 WHERE k = 'schema'")
    db.commit()
    db.close()
    s = Store(tmp_path / "old.sqlite")
    assert s.usage(PEER_A) == (3, 1) and s.count() == 1
    s.close()


def test_store_from_the_future_refused(tmp_path: Path) -> None:
    import sqlite3

    Store(tmp_path / "new.sqlite").close()
    db = sqlite3.connect(tmp_path / "new.sqlite")
    db.execute("UPDATE meta SET v = 99 WHERE k = 'schema'")
    db.commit()
    db.close()
    with pytest.raises(InvalidRecord) as e:
        Store(tmp_path / "new.sqlite")
    assert e.value.reason == "schema-version"


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@given(data=st.binary(max_size=400), key=st.binary(min_size=32, max_size=32))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fuzz_puts_raise_typed_errors_and_store_nothing(store: Store, data: bytes, key: bytes) -> None:
    from note_compute.errors import NoteError

    for call in (
        lambda: store.put_record(data, now=NOW),
        lambda: store.put(RECORD, key, data, now=NOW),
        lambda: store.put(VALUE, key, data),
    ):
        with pytest.raises(NoteError):
            call()
    assert store.count() == 0


@given(st.lists(st.tuples(st.integers(1, 6), st.binary(max_size=20)), max_size=12))
@settings(max_examples=60, deadline=None)
def test_seq_rule_property(puts: list[tuple[int, bytes]]) -> None:
    """Whatever order records arrive in, the store holds the first-seen record of the highest seq."""
    s = Store(":memory:")
    first_of_seq: dict[int, records.Record] = {}
    for seq, value in puts:
        r = rec(seq, value)
        first_of_seq.setdefault(seq, r)
        try:
            s.put_record(r.encode(), now=NOW)
        except (StaleRecord, Equivocation):
            pass
    if puts:
        top = max(seq for seq, _ in puts)
        # the held record is the first one seen among those that were ever the highest so far
        held = s.get_record(rec(1).address)
        assert held.seq == top
        assert held == first_of_seq[top]
    else:
        assert s.count() == 0
    s.close()


def test_url_bytes_are_an_ordinary_value_apart_from_the_record(store: Store) -> None:
    """Record addresses are SHA-256(ADDR_RECORD || URL): a URL's bytes stored as a value land elsewhere
    (they used to hash to the record's address and lock the record out with kind-conflict)."""
    r = rec(1)
    url_bytes = r.url.encode("ascii")
    assert hashlib.sha256(url_bytes).digest() != r.address
    assert r.address == hashlib.sha256(domains.ADDR_RECORD + url_bytes).digest()
    assert store.put_value(url_bytes, peer=PEER_A) == "stored"
    assert store.put_record(r.encode(), peer=PEER_B, now=NOW) == "stored"
    assert store.get_record(r.address) == r
    assert store.get(hashlib.sha256(url_bytes).digest()).data == url_bytes
    # The preimage of the record's address is refused as a value (values never begin with a domain).
    with pytest.raises(InvalidRecord) as e:
        store.put_value(domains.ADDR_RECORD + url_bytes, peer=PEER_A)
    assert e.value.reason == "reserved-address"
    assert store.count() == 2


def test_an_old_store_moves_its_records_to_their_domain(tmp_path: Path) -> None:
    """Schema 5 kept records at SHA-256(URL); opening it re-keys them (and their equivocation proofs)."""
    import sqlite3

    r = rec(1)
    with Store(tmp_path / "old.sqlite") as s:
        s.put_record(r.encode(), peer=PEER_A, now=NOW)
        with pytest.raises(Equivocation):
            s.put_record(rec(1, b"fork").encode(), now=NOW)
        s.put_value(b"a value", now=NOW)
    old = hashlib.sha256(r.url.encode()).digest()
    db = sqlite3.connect(tmp_path / "old.sqlite")
    db.execute("UPDATE entries SET key=? WHERE key=?", (old, r.address))
    db.execute("UPDATE equivocations SET key=? WHERE key=?", (old, r.address))
    db.execute("UPDATE meta SET v = 5 WHERE k = 'schema'")
    db.commit()
    db.close()
    with Store(tmp_path / "old.sqlite") as s:
        assert s.get_record(r.address) == r
        assert not s.has(old)
        assert len(s.equivocations(r.address)) == 1 and s.equivocations(old) == []
        assert s.get(hashlib.sha256(b"a value").digest()).data == b"a value"
        assert s.usage(PEER_A)[1] == 1


def test_non_bytes_refused(store: Store) -> None:
    for bad in (5, "text", None, [1]):
        with pytest.raises(InvalidRecord):
            store.put_record(bad, now=NOW)  # type: ignore[arg-type]
        with pytest.raises(InvalidRecord):
            store.put_value(bad)  # type: ignore[arg-type]
    assert store.count() == 0


def test_purge_expired(store: Store) -> None:
    soon, later, never = rec(1, expires=NOW + 10), rec(1, path="/b", expires=NOW + 100), rec(1, path="/c")
    huge = rec(1, path="/d", expires=2**64 - 1)  # beyond SQLite's integer range: stored clamped
    for r in (soon, later, never, huge):
        store.put_record(r.encode(), now=NOW)
    store.put_value(b"values never expire")
    assert store.purge_expired(NOW + 9) == 0
    assert store.purge_expired(NOW + 10) == 1  # expired at `expires` exactly, as verify_record says
    assert not store.has(soon.address) and store.has(later.address)
    assert store.purge_expired(NOW + 10**6) == 1
    assert {e.key for e in store.iter_entries()} == {
        never.address,
        huge.address,
        hashlib.sha256(b"values never expire").digest(),
    }
    assert store.count() == 3


def test_schema_2_store_gets_expiry_filled_in(tmp_path: Path) -> None:
    import sqlite3

    s = Store(tmp_path / "v2.sqlite")
    r = rec(1, expires=NOW + 10)
    s.put_record(r.encode(), peer=PEER_A, now=NOW)
    s.put_record(rec(1, path="/keep").encode(), now=NOW)
    s.close()
    db = sqlite3.connect(tmp_path / "v2.sqlite")
    db.execute("DROP INDEX entries_expires")
    db.execute("ALTER TABLE entries DROP COLUMN expires")
    db.execute("UPDATE meta SET v = 2 WHERE k = 'schema'")
    db.commit()
    db.close()
    s = Store(tmp_path / "v2.sqlite")
    assert s.purge_expired(NOW + 10) == 1 and not s.has(r.address)
    assert s.usage(PEER_A) == (0, 0) and s.count() == 1
    s.close()
