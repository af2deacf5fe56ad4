"""Store kinds separated at the root, equivocation proofs bounded, a full disk reported as a typed error."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import trio

from note_compute import domains, records, urls
from note_compute.compute.evidence import FRAUD_EVIDENCE, encode_set, evidence_key
from note_compute.crypto import SigningKey
from note_compute.errors import Equivocation, InvalidRecord, StorageError
from note_compute.node.storage import StorageService, put_msg
from note_compute.store import Store, StoreLimits
from note_compute.testing.compute import signed_claim_proof

NOW = 1_700_000_000
ACCUSED = SigningKey(hashlib.sha256(b"kinds-accused").digest())
PID = hashlib.sha256(ACCUSED.public_key).digest()
AUTHOR = SigningKey(b"\x09" * 32)


def test_a_value_cannot_squat_on_an_evidence_address(tmp_path: Path) -> None:
    """The accused stored FRAUD_INDEX || its id as a value: every proof against it was then refused."""
    with Store(tmp_path / "s.sqlite", evidence=FRAUD_EVIDENCE) as store:
        squat = domains.FRAUD_INDEX + PID
        assert hashlib.sha256(squat).digest() == evidence_key(PID)
        with pytest.raises(InvalidRecord) as e:
            store.put_value(squat, peer=PID, now=NOW)
        assert e.value.reason == "reserved-address"
        assert not store.has(evidence_key(PID))
        proof = signed_claim_proof(ACCUSED, 1).encode()
        assert store.put_evidence(evidence_key(PID), encode_set([proof]), now=NOW) == "stored"
        assert store.get_evidence(evidence_key(PID)) == [proof]


def test_a_value_cannot_squat_on_an_inbox_address(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        preimage = domains.INBOX + AUTHOR.public_key + b"orders"
        with pytest.raises(InvalidRecord) as e:
            store.put("value", hashlib.sha256(preimage).digest(), preimage, now=NOW)
        assert e.value.reason == "reserved-address"
        assert store.count() == 0
        # Ordinary bytes that merely mention the domains in text are still values.
        text = b"see note-compute/v1/inbox and note-compute/v1/fraud-index"
        assert store.put_value(text, now=NOW) == "stored"


def _rec(seq: int, value: bytes) -> records.Record:
    return records.sign_record(AUTHOR, urls.make_url(AUTHOR.authority, "/eq"), seq=seq, value=value, created=NOW)


def test_equivocation_proofs_are_capped_per_address_and_in_total(tmp_path: Path) -> None:
    """Each distinct same-seq put used to file a new proof outside every quota (23.5 MiB from 200 puts)."""
    with Store(tmp_path / "s.sqlite", limits=StoreLimits(max_equivocation_bytes=64 * 1024)) as store:
        store.put_record(_rec(1, b"genuine" * 1000).encode(), now=NOW)
        for i in range(200):
            with pytest.raises(Equivocation):
                store.put_record(_rec(1, b"fork %d " % i * 1000).encode(), peer=b"\x05" * 32, now=NOW)
        assert len(store.equivocations()) == 1
        assert store.equivocation_bytes() < 64 * 1024
        # Other addresses file theirs until the total budget is spent.
        for n in range(40):
            url = urls.make_url(AUTHOR.authority, f"/eq{n}")
            a = records.sign_record(AUTHOR, url, seq=1, value=b"a" * 4000, created=NOW)
            b = records.sign_record(AUTHOR, url, seq=1, value=b"b" * 4000, created=NOW)
            store.put_record(a.encode(), now=NOW)
            with pytest.raises(Equivocation):
                store.put_record(b.encode(), now=NOW)
        assert store.equivocation_bytes() <= 64 * 1024
        assert 1 < len(store.equivocations()) < 41


def test_a_full_disk_is_a_typed_storage_error(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.put_value(b"first", now=NOW)
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is now full
        with pytest.raises(StorageError) as e:
            store.put_value(b"x" * 200_000, now=NOW)
        assert e.value.reason == "disk-full" and e.value.code == "storage"
        service = StorageService(store, wall=lambda: NOW)
        msg = put_msg("value", hashlib.sha256(b"y" * 100_000).digest(), b"y" * 100_000)
        with pytest.raises(StorageError):
            trio.run(service.handle, b"\x01" * 32, msg)
        assert store.get(hashlib.sha256(b"first").digest()).data == b"first"  # what was held is intact
        store._db.execute("PRAGMA max_page_count = 1073741823")
        assert store.put_value(b"x" * 200_000, now=NOW) == "stored"
