"""Inboxes: anyone appends a signed entry under a per-sender quota; only the owner removes.

Attackers played here: a flooding sender, a forger of entries (bad or missing
signature, entry signed for another inbox), a forger of owner removals, a
replayer of removed entries and of removals, a replica that sends a set not
in merged form, and a replica that withholds or has not yet received items.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from note_compute import domains, encoding, inbox
from note_compute.client import Client
from note_compute.crypto import SigningKey
from note_compute.errors import InvalidRecord, InvalidSignature, NotFound, QuotaExceeded
from note_compute.node.storage import StorageService, put_msg, sync_msg
from note_compute.ring.ids import PeerRef, id_from_bytes
from note_compute.store import INBOX, Store

OWNER = SigningKey(hashlib.sha256(b"inbox-owner").digest())
MALLORY = SigningKey(hashlib.sha256(b"inbox-mallory").digest())
SENDERS = [SigningKey(hashlib.sha256(b"inbox-sender-%d" % i).digest()) for i in range(4)]
NAME = "orders"
KEY = inbox.inbox_key(OWNER.public_key, NAME)
NOW = 1_800_000_000
P = b"\x0a" * 32  # the peer that sent the put


def item(sender: SigningKey, body: bytes, t: int = NOW) -> inbox.InboxItem:
    return inbox.make_item(sender, OWNER.public_key, NAME, body, t)


def one(x: inbox.InboxItem) -> bytes:
    return inbox.encode_set(inbox.InboxSet(OWNER.public_key, NAME, (x,), ()))


def removal_set(r: inbox.Removal, owner: bytes = OWNER.public_key) -> bytes:
    return inbox.encode_set(inbox.InboxSet(owner, NAME, (), (r,)))


def held_items(store: Store) -> list[bytes]:
    return [x.body for x in inbox.decode_set(KEY, store.get(KEY).data).items]


def test_flood_from_one_sender_stops_at_its_quota_and_others_still_deliver(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as s:
        flooder, honest = SENDERS[0], SENDERS[1]
        for i in range(inbox.SENDER_QUOTA):
            assert s.put_inbox(KEY, one(item(flooder, b"spam %d" % i, NOW + i)), peer=b"\x01" * 32, now=NOW) in (
                "stored", "merged")
        before = s.get(KEY).data
        for i in range(inbox.SENDER_QUOTA, inbox.SENDER_QUOTA + 20):
            with pytest.raises(QuotaExceeded) as exc:
                s.put_inbox(KEY, one(item(flooder, b"spam %d" % i, NOW + i)), peer=b"\x01" * 32, now=NOW)
            assert exc.value.reason == "inbox-sender-quota" and "quota" in str(exc.value)
        assert s.get(KEY).data == before  # nothing changed
        # an older-dated flood item does not push out a delivered one either (same rule at merge)
        with pytest.raises(QuotaExceeded):
            s.put_inbox(KEY, one(item(flooder, b"early", NOW - 100)), peer=b"\x01" * 32, now=NOW)
        assert s.put_inbox(KEY, one(item(honest, b"order 1")), peer=b"\x02" * 32, now=NOW) == "merged"
        bodies = held_items(s)
        assert b"order 1" in bodies and sum(b.startswith(b"spam") for b in bodies) == inbox.SENDER_QUOTA


def test_inbox_full_keeps_the_entries_already_delivered(tmp_path: Path) -> None:
    keys = [SigningKey(hashlib.sha256(b"sybil-%d" % i).digest()) for i in range(inbox.MAX_ITEMS // 8 + 1)]
    with Store(tmp_path / "s.sqlite") as s:
        first = item(SENDERS[2], b"first order", NOW - 50)
        s.put_inbox(KEY, one(first), peer=P, now=NOW)
        n = 1
        for k in keys:
            for j in range(inbox.SENDER_QUOTA):
                if n == inbox.MAX_ITEMS:
                    break
                s.put_inbox(KEY, one(item(k, b"x%d" % j, NOW + j)), peer=P, now=NOW)
                n += 1
        with pytest.raises(QuotaExceeded) as exc:
            s.put_inbox(KEY, one(item(SENDERS[3], b"late")), peer=P, now=NOW)
        assert exc.value.reason == "inbox-full"
        with pytest.raises(QuotaExceeded):  # back-dated: would push out a delivered entry
            s.put_inbox(KEY, one(item(SENDERS[3], b"back-dated", NOW - 10_000)), peer=P, now=NOW)
        assert b"first order" in held_items(s) and len(held_items(s)) == inbox.MAX_ITEMS


def test_forged_and_unsigned_entries_are_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    good = item(SENDERS[0], b"hello")
    m = encoding.decode(good.raw)
    forged = dict(m, body=b"tampered")  # signature no longer covers the body
    unsigned = dict(m, sig=b"\x00" * 64)
    impostor = dict(m, sender=SENDERS[1].public_key)  # claims another sender
    missing = {k: v for k, v in m.items() if k != "sig"}
    other_inbox = inbox.make_item(SENDERS[0], MALLORY.public_key, NAME, b"hello", NOW)
    with Store(tmp_path / "s.sqlite") as s:
        for bad, err in ((forged, InvalidSignature), (unsigned, InvalidSignature), (impostor, InvalidSignature),
                         (missing, InvalidRecord)):
            raw = encoding.encode({"owner": OWNER.public_key, "name": NAME, "items": [encoding.encode(bad)],
                                   "removals": []})
            with pytest.raises(err):
                s.put_inbox(KEY, raw, peer=P, now=NOW)
        with pytest.raises(InvalidRecord, match="another inbox"):
            s.put_inbox(KEY, encoding.encode({"owner": OWNER.public_key, "name": NAME, "items": [other_inbox.raw],
                                              "removals": []}), peer=P, now=NOW)
        # a set claiming to be Mallory's inbox but sent to the owner's key
        with pytest.raises(InvalidRecord, match="does not belong"):
            s.put_inbox(KEY, inbox.encode_set(inbox.InboxSet(MALLORY.public_key, NAME, (), ())), peer=P, now=NOW)
        for junk in (b"", b"\xa0", encoding.encode([1, 2]), b"\xff" * 40):
            with pytest.raises(InvalidRecord):
                s.put_inbox(KEY, junk, peer=P, now=NOW)
        with pytest.raises(InvalidRecord, match="future"):
            s.put_inbox(KEY, one(item(SENDERS[0], b"later", NOW + 3600)), peer=P, now=NOW)
        assert not s.has(KEY) and s.count() == 0


def test_only_the_owner_removes_and_removals_are_replay_safe(tmp_path: Path) -> None:
    a, b = item(SENDERS[0], b"order a"), item(SENDERS[1], b"order b")
    with Store(tmp_path / "s.sqlite") as s:
        s.put_inbox(KEY, one(a), peer=P, now=NOW)
        s.put_inbox(KEY, one(b), peer=P, now=NOW)
        before = s.get(KEY).data
        # Mallory signs a removal of the owner's inbox items: refused (wrong key), nothing changes.
        fake = inbox.make_removal(MALLORY, NAME, [a.id], NOW)
        with pytest.raises(InvalidSignature):
            s.put_inbox(KEY, removal_set(fake), peer=P, now=NOW)
        # ... and a removal the owner signed for another inbox name cannot be moved here.
        moved = inbox.make_removal(OWNER, "other", [a.id], NOW)
        with pytest.raises(InvalidRecord):
            s.put_inbox(KEY, removal_set(moved), peer=P, now=NOW)
        assert s.get(KEY).data == before
        real = inbox.make_removal(OWNER, NAME, [a.id], NOW)
        assert s.put_inbox(KEY, removal_set(real), now=NOW) == "merged"
        assert held_items(s) == [b"order b"]
        # replaying the removal changes nothing; replaying the removed entry is refused
        assert s.put_inbox(KEY, removal_set(real), now=NOW) == "unchanged"
        with pytest.raises(InvalidRecord) as exc:
            s.put_inbox(KEY, one(a), peer=P, now=NOW)
        assert exc.value.reason == "inbox-removed"
        assert held_items(s) == [b"order b"]
        # the sender's quota is freed by the removal
        assert s.get(KEY).kind == INBOX


def test_a_set_not_in_merged_form_is_refused(tmp_path: Path) -> None:
    a, b = item(SENDERS[0], b"a"), item(SENDERS[1], b"b")
    unsorted = sorted([a, b], key=lambda x: x.id, reverse=True)
    raw = encoding.encode({"owner": OWNER.public_key, "name": NAME, "items": [x.raw for x in unsorted],
                           "removals": []})
    with Store(tmp_path / "s.sqlite") as s, pytest.raises(InvalidRecord, match="merged form"):
        s.put_inbox(KEY, raw, peer=P, now=NOW)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 12)), min_size=1, max_size=30),
       st.lists(st.integers(0, 29), max_size=6), st.randoms(use_true_random=False))
def test_merge_converges_whatever_the_order(sends: list[tuple[int, int]], removed: list[int], rnd: Any) -> None:
    # Within the caps (what appends that pass check_append build), every order gives the same set.
    per: dict[int, int] = {}
    within = []
    for s, t in sends:
        per[s] = per.get(s, 0) + 1
        if per[s] <= inbox.SENDER_QUOTA:
            within.append((s, t))
    _check_orders(within, removed, rnd)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 12)), min_size=1, max_size=30),
       st.lists(st.integers(0, 29), max_size=6), st.randoms(use_true_random=False))
def test_merge_over_the_caps_keeps_the_caps_whatever_the_order(sends: list[tuple[int, int]], removed: list[int],
                                                               rnd: Any) -> None:
    # Over the caps a drop is final (see "Where convergence stops"), but every order keeps the
    # caps, never brings a removed item back, and any order that learns the removals first
    # ends where the whole union merged at once does.
    _check_orders(sends, removed, rnd, exact=False)


def test_a_removal_after_a_cap_drop_does_not_bring_the_item_back() -> None:
    # The known limit, pinned: nine items from one sender, the ninth dropped by the quota; the
    # owner's removal of the first arrives afterwards, so the ninth is not there to come back.
    items = [item(SENDERS[0], b"n%d" % i, NOW + i) for i in range(inbox.SENDER_QUOTA + 1)]
    rem = inbox.make_removal(OWNER, NAME, [items[0].id], NOW + 20)
    parts = [inbox.InboxSet(OWNER.public_key, NAME, (x,), ()) for x in items]
    late = inbox.merge(inbox.merge(*parts), inbox.InboxSet(OWNER.public_key, NAME, (), (rem,)))
    first = inbox.merge(inbox.InboxSet(OWNER.public_key, NAME, (), (rem,)), *parts)
    assert {x.id for x in first.items} == {x.id for x in items[1:]}
    assert {x.id for x in late.items} == {x.id for x in items[1:-1]}


def _check_orders(sends: list[tuple[int, int]], removed: list[int], rnd: Any, exact: bool = True) -> None:
    if not sends:
        return
    items = [item(SENDERS[s], b"m%d-%d" % (i, t), NOW + t) for i, (s, t) in enumerate(sends)]
    removals = [inbox.make_removal(OWNER, NAME, [items[r % len(items)].id], NOW + k) for k, r in enumerate(removed)]
    parts = [inbox.InboxSet(OWNER.public_key, NAME, (x,), ()) for x in items] + \
            [inbox.InboxSet(OWNER.public_key, NAME, (), (r,)) for r in removals]
    whole = inbox.merge(*parts)
    rnd.shuffle(parts)
    acc = parts[0]
    for p in parts[1:]:
        acc = inbox.merge(acc, p)
    gone = {items[r % len(items)].id for r in removed}
    for s in (whole, acc):
        assert not gone & {x.id for x in s.items}
        per: dict[bytes, int] = {}
        for x in s.items:
            per[x.sender] = per.get(x.sender, 0) + 1
        assert max(per.values(), default=0) <= inbox.SENDER_QUOTA
    if exact:
        assert inbox.encode_set(acc) == inbox.encode_set(whole)
    else:
        ahead = inbox.merge(*[p for p in parts if p.removals or p is parts[0]])
        for p in parts:
            if not p.removals:
                ahead = inbox.merge(ahead, p)
        assert inbox.encode_set(ahead) == inbox.encode_set(whole)


async def test_storage_rpc_put_and_sync_of_inboxes(tmp_path: Path) -> None:
    with Store(tmp_path / "a.sqlite") as a, Store(tmp_path / "b.sqlite") as b:
        sa, sb = StorageService(a, wall=lambda: NOW), StorageService(b, wall=lambda: NOW)
        peer = b"\x07" * 32
        assert (await sa.handle(peer, put_msg("inbox", KEY, one(item(SENDERS[0], b"to a")))))["result"] == "stored"
        assert (await sb.handle(peer, put_msg("inbox", KEY, one(item(SENDERS[1], b"to b")))))["result"] == "stored"
        reply = await sb.handle(peer, sync_msg(KEY, KEY, a.digests(KEY, KEY)))
        assert reply["want"] == [KEY] and reply["newer"] == [KEY]  # an unordered set: both directions
        got = await sb.handle(peer, {"op": "store.get", "key": KEY})
        assert got["kind"] == "inbox"
        a.put("inbox", KEY, got["data"], now=NOW)  # the node's own pull: merged
        b.put("inbox", KEY, a.get(KEY).data, now=NOW)
        assert a.get(KEY).data == b.get(KEY).data and sorted(held_items(a)) == [b"to a", b"to b"]
        reply = await sb.handle(peer, sync_msg(KEY, KEY, a.digests(KEY, KEY)))
        assert reply == {"op": "store.sync.reply", "want": [], "newer": []}


# -- the client, against in-memory storage services standing in for three replicas ----------------------


class FakeHost:
    """Three replicas that answer ring.find with themselves and storage ops from their stores."""

    def __init__(self, services: list[StorageService]) -> None:
        self.peers = [PeerRef(id_from_bytes(hashlib.sha256(b"replica-%d" % i).digest()), f"/fake/{i}")
                      for i in range(len(services))]
        self.services = {p.id: s for p, s in zip(self.peers, services, strict=False)}
        self.withhold: set[int] = set()

    async def request(self, peer: PeerRef, msg: dict[str, Any], timeout: float) -> dict[str, Any]:
        if msg["op"] == "ring.find":
            target = int.from_bytes(msg["key"], "big")
            order = sorted(self.peers, key=lambda p: (p.id - target) % 2**256)
            return {"op": "ring.find.reply", "successors": [p.to_wire() for p in order], "closer": []}
        if peer.id in self.withhold and msg["op"] == "store.get":
            raise NotFound("nothing here")
        return await self.services[peer.id].handle(b"\x09" * 32, msg)


async def test_client_appends_lists_and_removes(tmp_path: Path) -> None:
    stores = [Store(tmp_path / f"{i}.sqlite") for i in range(3)]
    try:
        host = FakeHost([StorageService(s) for s in stores])
        client = Client(host, host.peers)
        now = int(__import__("time").time())
        x = inbox.make_item(SENDERS[0], OWNER.public_key, NAME, b"sealed order", now)
        assert await client.put_inbox(OWNER.public_key, NAME, x) == 3
        y = inbox.make_item(SENDERS[1], OWNER.public_key, NAME, b"second", now + 1)
        stores[2].put_inbox(KEY, one(y))  # only one replica has it yet
        host.withhold = {host.peers[0].id}  # and another withholds everything
        listed = await client.list_inbox(OWNER.public_key, NAME)
        assert [i.body for i in listed] == [b"sealed order", b"second"]
        with pytest.raises(InvalidRecord):  # an item signed for another inbox is refused before sending
            await client.put_inbox(OWNER.public_key, NAME,
                                   inbox.make_item(SENDERS[0], MALLORY.public_key, NAME, b"x", now))
        assert await client.remove_inbox(OWNER, NAME, [x.id]) == 3
        host.withhold = set()
        assert [i.body for i in await client.list_inbox(OWNER.public_key, NAME)] == [b"second"]
        assert await client.list_inbox(MALLORY.public_key, NAME) == []
    finally:
        for s in stores:
            s.close()


def test_domains_are_distinct() -> None:
    assert domains.SIG_INBOX_ITEM in domains.SIGNATURE_DOMAINS and domains.INBOX in domains.HASH_DOMAINS
