"""Store kinds separated at the root, equivocation proofs bounded, a full disk reported as a typed error."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import trio

from note_compute import domains, records, urls
from note_compute import inbox as _inbox
from note_compute.compute.evidence import FRAUD_EVIDENCE, encode_set, evidence_key
from note_compute.crypto import SigningKey
from note_compute.errors import Equivocation, InvalidRecord, NoteError, StorageError
from note_compute.inbox import inbox_key
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


def test_every_kind_has_its_own_address_domain() -> None:
    """The same key bytes give four unrelated addresses: SHA-256 over the kind's domain plus the key."""
    url = urls.make_url(AUTHOR.authority, "/x")
    assert urls.address(url) == hashlib.sha256(domains.ADDR_RECORD + url.encode()).digest()
    assert evidence_key(PID) == hashlib.sha256(domains.FRAUD_INDEX + PID).digest()
    assert inbox_key(AUTHOR.public_key, "x") == hashlib.sha256(domains.INBOX + AUTHOR.public_key + b"x").digest()
    assert urls.address(url) != hashlib.sha256(url.encode()).digest()  # no longer a value's address
    assert set(domains.ADDRESS_DOMAINS) == {domains.ADDR_RECORD, domains.FRAUD_INDEX, domains.INBOX,
                                            domains.PUBLISHER_FAULTS}
    for a in domains.ADDRESS_DOMAINS:  # prefix-free: no preimage of one domain is a preimage of another
        assert a.endswith(b"\x00") and a.count(b"\x00") == 1
        assert not any(b != a and b.startswith(a) for b in domains.ADDRESS_DOMAINS)


def test_a_squatter_cannot_take_any_address_of_another_kind(tmp_path: Path) -> None:
    """The attacker: a peer that wants a victim's record, the evidence against itself and a shop's inbox
    unstorable, by putting (through the node's storage RPC) anything of another kind at those addresses."""
    attacker = SigningKey(b"\x0a" * 32)
    aid = hashlib.sha256(attacker.public_key).digest()
    victim_url = urls.make_url(AUTHOR.authority, "/catalog")
    record_addr, ev_addr, inbox_addr = (urls.address(victim_url), evidence_key(aid),
                                        inbox_key(AUTHOR.public_key, "orders"))
    preimages = {record_addr: domains.ADDR_RECORD + victim_url.encode(), ev_addr: domains.FRAUD_INDEX + aid,
                 inbox_addr: domains.INBOX + AUTHOR.public_key + b"orders"}
    own_record = records.sign_record(attacker, urls.make_url(attacker.authority, "/r"), seq=1, value=b"x",
                                     created=NOW).encode()
    own_inbox = _inbox.encode_set(_inbox.InboxSet(attacker.public_key, "box", (
        _inbox.make_item(attacker, attacker.public_key, "box", b"hi", NOW),), ()))
    with Store(tmp_path / "s.sqlite", evidence=FRAUD_EVIDENCE) as store:
        service = StorageService(store, wall=lambda: NOW)
        for addr, preimage in preimages.items():
            attempts = [("value", preimage), ("value", victim_url.encode()), ("value", b"anything"),
                        ("record", own_record), ("inbox", own_inbox),
                        ("evidence", encode_set([signed_claim_proof(attacker, 1).encode()]))]
            for kind, data in attempts:
                if kind == "evidence" and addr == ev_addr:
                    continue  # genuine evidence against the attacker, it may store (that is no squat)
                with pytest.raises(NoteError):
                    trio.run(service.handle, aid, put_msg(kind, addr, data))
            # The preimage under its own content address: refused, it would be the derived address.
            with pytest.raises(InvalidRecord) as e:
                trio.run(service.handle, aid, put_msg("value", hashlib.sha256(preimage).digest(), preimage))
            assert e.value.reason == "reserved-address"
        assert store.count() == 0
        # The URL's bytes are an ordinary value now, and sit elsewhere.
        trio.run(service.handle, aid, put_msg("value", hashlib.sha256(victim_url.encode()).digest(),
                                              victim_url.encode()))
        # Every genuine entry still takes its address.
        genuine = records.sign_record(AUTHOR, victim_url, seq=1, value=b"catalog", created=NOW)
        assert store.put_record(genuine.encode(), now=NOW) == "stored"
        proof = signed_claim_proof(attacker, 2).encode()
        assert store.put_evidence(ev_addr, encode_set([proof]), now=NOW) == "stored"
        order = _inbox.make_item(attacker, AUTHOR.public_key, "orders", b"order", NOW)
        assert store.put_inbox(inbox_addr, _inbox.encode_set(_inbox.InboxSet(AUTHOR.public_key, "orders",
                                                                               (order,), ())), now=NOW) == "stored"
        assert store.get_record(record_addr) == genuine and store.get_evidence(ev_addr) == [proof]
        assert store.count() == 4


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
