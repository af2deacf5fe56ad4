"""The shop end to end on the in-memory compute network: publish, search (proven and audited), a lying
peer, cart, checkout, order processing, replies, republishing; and the attackers of each step."""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from typing import Any

import pytest

from examples.shop import orders
from examples.shop.catalog import generate
from examples.shop.search import ShopError, parse_query, reference_search
from examples.shop.shop import Shop, publish_shop, update_products
from note_compute import inbox, records
from note_compute.crypto import SigningKey
from note_compute.errors import InvalidSignature, QuotaExceeded
from note_compute.sandbox import Sandbox
from note_compute.store import Store
from note_compute.testing.compute import ComputeNetwork

SHOP_KEY = SigningKey(hashlib.sha256(b"shop-flow-shop").digest())
BUYER = SigningKey(hashlib.sha256(b"shop-flow-buyer").digest())
MALLORY = SigningKey(hashlib.sha256(b"shop-flow-mallory").digest())
PRODUCTS = generate(300, seed=3)


class ShopNet(ComputeNetwork):
    """The in-memory compute network plus inboxes, checked by a real Store as a node checks them."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.inbox_store = Store(":memory:")

    async def put_inbox(self, owner: bytes, name: str, item: inbox.InboxItem) -> int:
        key = inbox.inbox_key(owner, name)
        self.inbox_store.put_inbox(key, inbox.encode_set(inbox.InboxSet(owner, name, (item,), ())),
                                   peer=b"\x01" * 32)
        return self.r

    async def list_inbox(self, owner: bytes, name: str) -> list[inbox.InboxItem]:
        key = inbox.inbox_key(owner, name)
        if not self.inbox_store.has(key):
            return []
        s = inbox.decode_set(key, self.inbox_store.get(key).data)
        return sorted(s.items, key=lambda x: (x.t, x.id))

    async def remove_inbox(self, owner: SigningKey, name: str, ids: list[bytes]) -> int:
        r = inbox.make_removal(owner, name, ids, int(time.time()))
        self.inbox_store.put_inbox(r.inbox, inbox.encode_set(inbox.InboxSet(owner.public_key, name, (), (r,))),
                                   peer=b"\x01" * 32)
        return self.r


@pytest.fixture(scope="module")
def sandbox() -> Any:
    sb = Sandbox()
    yield sb
    sb.close()


@pytest.fixture
async def world(sandbox: Any, monkeypatch: Any) -> Any:
    import examples.shop.shop as shop_mod

    monkeypatch.setattr(shop_mod, "INDEX_SHARD", 150)  # ~45 index shards: a product's words touch few of them
    net = ShopNet(6, sandbox)
    pub = await publish_shop(net, SHOP_KEY, PRODUCTS)
    return net, pub


async def test_searches_are_verified_and_match_the_reference(world: Any, sandbox: Any) -> None:
    net, _ = world
    shop = Shop(net, sandbox, SHOP_KEY.authority)
    info = await shop.info()
    assert set(info.categories) == {p["category"] for p in PRODUCTS}
    for text, kw in (("red lamp", {}), ("éclair", {}), ("STRASSE", {}), ("steel", {"category": "tools",
                                                                                    "max_price": 4000}),
                     ("lantern", {"in_stock": True, "sort": "price"}), ("", {"category": "Garden", "sort": "name"})):
        q = parse_query(text, categories=info.categories, **kw)
        want, _ = reference_search(PRODUCTS, q)
        res = await shop.search(q)
        assert [p["id"] for p in res.products] == [p["id"] for p in want], text
        assert res.products == want  # the public fields, exactly
        assert res.summary.mode.startswith("proven" if text else "audited")
        if text:
            audited = await shop.search_audited(q)
            assert [p["id"] for p in audited.products] == [p["id"] for p in want]
    everything, size = await shop.download_catalog()
    assert sorted(p["id"] for p in everything) == sorted(p["id"] for p in PRODUCTS) and size > 0


async def test_paging_through_the_proven_search(world: Any, sandbox: Any) -> None:
    net, _ = world
    shop = Shop(net, sandbox, SHOP_KEY.authority)
    seen, cursor = [], None
    while True:
        res = await shop.search(parse_query("steel", sort="price", limit=25, cursor=cursor))
        seen += [p["id"] for p in res.products]
        cursor = res.cursor
        if cursor is None:
            break
    want, _ = reference_search(PRODUCTS, parse_query("steel", sort="price", limit=1000))
    assert seen == [p["id"] for p in want] and len(seen) > 25


async def test_a_peer_hiding_an_index_entry_is_caught(world: Any, sandbox: Any) -> None:
    from note_compute.compute.client import ComputeClient

    net, _ = world
    honest = await Shop(net, sandbox, SHOP_KEY.authority).search(parse_query("lantern"))
    liars = ShopNet(6, sandbox, liars_first=True)
    pub = await publish_shop(liars, SHOP_KEY, PRODUCTS)
    shard = next(sh for sh in pub.index.built.shards if sh.info.lo[0] <= "lantern" <= sh.info.hi[0])
    for p in (await liars.replicas(shard.info.blob))[:2]:  # two of the three replicas of the word's shard lie
        liars.set_mode(p, "hide_one")
    res = await Shop(liars, sandbox, SHOP_KEY.authority,
                     compute=ComputeClient(liars, sandbox, shuffle=False)).search(parse_query("lantern"))
    assert res.products == honest.products  # still the right answer, from honest replicas
    assert res.summary.fraud and "fraud proof" in res.summary.line()


async def test_when_every_replica_lies_the_search_fails_clearly(sandbox: Any) -> None:
    from note_compute.compute.client import ComputeClient

    net = ShopNet(3, sandbox)
    await publish_shop(net, SHOP_KEY, PRODUCTS[:100])
    for p in net.peers:
        net.set_mode(p, "hide_one")
    shop = Shop(net, sandbox, SHOP_KEY.authority, compute=ComputeClient(net, sandbox, shuffle=False))
    with pytest.raises(ShopError, match="could not be verified"):  # never a wrong answer
        await shop.search(parse_query("lamp"))


async def test_cart_is_encrypted_signed_and_refused_when_tampered(world: Any) -> None:
    net, _ = world
    cart = orders.Cart(SHOP_KEY.authority)
    cart.add(PRODUCTS[0]["id"], 2)
    rec = await orders.save_cart(net, BUYER, cart)
    assert PRODUCTS[0]["id"].encode() not in rec.value  # no peer can read it
    assert (await orders.load_cart(net, BUYER, SHOP_KEY.authority)).items == {PRODUCTS[0]["id"]: 2}
    with pytest.raises(ShopError):
        cart.add("p1", 0)
    # a peer flips the ciphertext: the record signature fails
    bad = replace(rec, value=rec.value[:-1] + bytes([rec.value[-1] ^ 1]))
    net.records[rec.url].append(bad)  # what a lying peer would answer
    with pytest.raises(InvalidSignature):
        await orders.load_cart(net, BUYER, SHOP_KEY.authority)
    # a record the buyer signed but whose content does not open with the buyer's key
    other = records.sign_record(BUYER, rec.url, seq=rec.seq + 1, value=b"\x00" * 60, created=rec.created)
    await net.put_record(other)
    with pytest.raises(ShopError) as exc:
        await orders.load_cart(net, BUYER, SHOP_KEY.authority)
    assert exc.value.reason == "tampered-cart"


async def test_checkout_confirmation_and_the_order_attackers(world: Any, sandbox: Any) -> None:
    net, _ = world
    shop = Shop(net, sandbox, SHOP_KEY.authority)
    res = await shop.search(parse_query("lantern", in_stock=True, sort="price"))
    item = res.products[0]
    proc = orders.OrderProcessor(net, SHOP_KEY, PRODUCTS)
    cart = orders.Cart(SHOP_KEY.authority)
    cart.add(item["id"], 1)
    prices = {p["id"]: p["price"] for p in res.products}
    order = await orders.place_order(net, BUYER, SHOP_KEY.authority, cart, prices, "EUR")
    stock0 = proc.catalog[item["id"]]["stock"]

    # attackers: the same order replayed by the buyer in a new item; a forged order (signed by Mallory,
    # sent as the buyer's... no: sent by Mallory claiming the buyer's order); an over-stock order.
    await orders.deliver(net, BUYER, SHOP_KEY.authority, order)  # replay: a new inbox item, same order id
    forged = orders.SignedOrder(order.body, MALLORY.sign(b"note-compute/v1/record\x00", order.body))
    await net.put_inbox(SHOP_KEY.public_key, orders.ORDERS_INBOX, inbox.make_item(
        MALLORY, SHOP_KEY.public_key, orders.ORDERS_INBOX, orders.seal_order(forged, SHOP_KEY.authority),
        int(time.time())))
    rewrapped = inbox.make_item(MALLORY, SHOP_KEY.public_key, orders.ORDERS_INBOX,
                                orders.seal_order(order, SHOP_KEY.authority), int(time.time()) + 1)
    await net.put_inbox(SHOP_KEY.public_key, orders.ORDERS_INBOX, rewrapped)
    big = orders.Cart(SHOP_KEY.authority)
    big.add(item["id"], min(100, stock0 + 1))
    too_many = await orders.place_order(net, BUYER, SHOP_KEY.authority, big, prices, "EUR")
    cheap = orders.make_order(BUYER, SHOP_KEY.authority, [(item["id"], 1, 1)], "EUR")
    await orders.deliver(net, BUYER, SHOP_KEY.authority, cheap)

    outcomes = await proc.process()
    by = [(o.status, o.reason) for o in outcomes]
    assert [s for s, _ in by].count("confirmed") == 1
    assert any(s == "rejected" and "replayed" in r for s, r in by)
    assert sum(1 for s, _ in by if s == "dropped") == 2  # forged signature, re-wrapped by someone else
    assert any(s == "rejected" and "in stock" in r for s, r in by)
    assert any(s == "rejected" and "price" in r for s, r in by)
    assert proc.catalog[item["id"]]["stock"] == stock0 - 1  # only the confirmed order moved stock
    assert await net.list_inbox(SHOP_KEY.public_key, orders.ORDERS_INBOX) == []  # handled items removed
    assert await proc.process() == []

    replies = await orders.read_replies(net, BUYER, SHOP_KEY.authority)
    assert replies[order.hash].status == "confirmed" and replies[order.hash].total == item["price"]
    assert replies[too_many.hash].status == "rejected"
    # a "reply" from Mallory in the buyer's inbox is ignored
    fake = inbox.make_item(MALLORY, BUYER.public_key, orders.REPLIES_INBOX, b"confirmed!", int(time.time()))
    await net.put_inbox(BUYER.public_key, orders.REPLIES_INBOX, fake)
    assert (await orders.read_replies(net, BUYER, SHOP_KEY.authority)).keys() == replies.keys()

    # republish the stock change: only changed shards are uploaded, seq goes up
    changed = [proc.catalog[p["id"]] for p in PRODUCTS]
    cat, idx = await update_products(net, SHOP_KEY, changed)
    from examples.shop.search import index_records

    touched = len(index_records([proc.catalog[item["id"]]]))  # the product's index records: one per word
    assert cat.uploaded == 1 and 1 <= idx.uploaded <= touched < len(idx.built.shards)
    assert cat.record.seq > cat.previous.seq  # type: ignore[union-attr]
    again = await shop.search(parse_query(item["name"]))
    assert next(p for p in again.products if p["id"] == item["id"])["stock"] == stock0 - 1


async def test_an_order_flood_stops_at_the_sender_quota(world: Any) -> None:
    net, _ = world
    cart = orders.Cart(SHOP_KEY.authority)
    cart.add(PRODUCTS[0]["id"])
    prices = {PRODUCTS[0]["id"]: PRODUCTS[0]["price"]}
    for _ in range(inbox.SENDER_QUOTA):
        await orders.place_order(net, MALLORY, SHOP_KEY.authority, cart, prices, "EUR")
    with pytest.raises(QuotaExceeded, match="quota"):
        await orders.place_order(net, MALLORY, SHOP_KEY.authority, cart, prices, "EUR")
    await orders.place_order(net, BUYER, SHOP_KEY.authority, cart, prices, "EUR")  # others still deliver
    senders = [i.sender for i in await net.list_inbox(SHOP_KEY.public_key, orders.ORDERS_INBOX)]
    assert senders.count(MALLORY.public_key) == inbox.SENDER_QUOTA and BUYER.public_key in senders


async def test_a_reply_that_cannot_be_delivered_is_reported_not_fatal(world: Any) -> None:
    net, _ = world
    for i in range(inbox.SENDER_QUOTA):  # the buyer has not read the shop's last 8 replies
        await net.put_inbox(BUYER.public_key, orders.REPLIES_INBOX,
                            inbox.make_item(SHOP_KEY, BUYER.public_key, orders.REPLIES_INBOX, b"old %d" % i,
                                            int(time.time())))
    cart = orders.Cart(SHOP_KEY.authority)
    cart.add(PRODUCTS[20]["id"])
    await orders.place_order(net, BUYER, SHOP_KEY.authority, cart, {PRODUCTS[20]["id"]: PRODUCTS[20]["price"]}, "EUR")
    proc = orders.OrderProcessor(net, SHOP_KEY, PRODUCTS)
    [o] = await proc.process()
    assert o.status == "confirmed" and "reply not delivered" in o.reason and "quota" in o.reason
    assert await net.list_inbox(SHOP_KEY.public_key, orders.ORDERS_INBOX) == []


async def test_a_client_never_goes_back_to_an_older_catalog_or_index(world: Any, sandbox: Any) -> None:
    """After a republish, a ring (or a peer) replaying the older manifest or shards is refused, never shown."""
    from note_compute.compute.client import ComputeClient
    from note_compute.errors import StaleRecord

    net, pub = world
    shop = Shop(net, sandbox, SHOP_KEY.authority, compute=ComputeClient(net, sandbox, shuffle=False))
    q = parse_query("lantern", sort="price", limit=5)
    before = await shop.search(q)
    changed = [dict(p) for p in PRODUCTS]
    target = next(p for p in changed if p["id"] == before.products[0]["id"])
    target["price"] -= 1  # still the cheapest lantern, one cent less
    cat, idx = await update_products(net, SHOP_KEY, changed)
    after = await shop.search(q)
    assert after.products[0]["price"] == target["price"]
    assert after.summary.seqs[idx.record.url] == idx.record.seq > pub.index.record.seq

    # the ring answers with the previous manifests: refused, whatever the search or fetch
    net.stale_reads[idx.record.url] = 100
    net.stale_reads[cat.record.url] = 100
    for attempt in (shop.search(q), shop.fetch_products([target["id"]]), shop.download_catalog()):
        with pytest.raises(StaleRecord, match="rollback refused"):
            await attempt
    net.stale_reads.clear()

    # every replica but one of the word's index shard serves the previous version (signing its seq): their
    # answers are refused and the newer version still comes from the honest one
    shard = next(sh for sh in idx.built.shards if sh.info.lo[0] <= "lantern" <= sh.info.hi[0])
    stale = (await net.replicas(shard.info.blob))[:2]
    for p in stale:
        net.set_mode(p, "stale")
    again = await shop.search(q)
    assert again.products == after.products and again.summary.seqs[idx.record.url] == idx.record.seq


async def test_signed_orders_with_junk_lines_are_rejected_and_the_processor_stays_up(world: Any) -> None:
    """A buyer signs whatever they like: malformed lines, a product on two lines past its stock, not a map."""
    net, _ = world
    proc = orders.OrderProcessor(net, SHOP_KEY, PRODUCTS)
    p = next(x for x in PRODUCTS if 2 <= x["stock"] <= 100)
    half = p["stock"] // 2 + 1  # each line fits the stock, both together do not

    def signed(fields: Any) -> orders.SignedOrder:
        from note_compute import encoding

        body = encoding.encode(fields)
        return orders.SignedOrder(body, orders._raw_sign(BUYER, orders.ORDER + body))

    base = {"v": 1, "shop": SHOP_KEY.authority, "buyer": BUYER.public_key, "currency": "EUR", "t": int(time.time())}
    junk = {
        "unhashable product id": {**base, "id": "o1", "items": [[["x"], 1, 5]], "total": 5},
        "quantity as text": {**base, "id": "o2", "items": [[p["id"], "1", p["price"]]], "total": p["price"]},
        "no lines": {**base, "id": "o3", "items": [], "total": 0},
        "two lines past the stock": {**base, "id": "o4", "items": [[p["id"], half, p["price"]]] * 2,
                                     "total": 2 * half * p["price"]},
        "no id": {**base, "items": [[p["id"], 1, p["price"]]], "total": p["price"]},
    }
    for fields in junk.values():
        await orders.deliver(net, BUYER, SHOP_KEY.authority, signed(fields))
    await orders.deliver(net, BUYER, SHOP_KEY.authority, signed(["not", "a", "map"]))  # names no buyer
    outcomes = await proc.process()
    assert [o.status for o in outcomes].count("rejected") == len(junk), outcomes
    assert [o.status for o in outcomes].count("dropped") == 1
    reasons = " | ".join(o.reason for o in outcomes)
    for expected in ("malformed order line", "must have 1 to", f"only {p['stock']} of {p['id']} in stock",
                     "no valid id", "not a valid signed order"):
        assert expected in reasons, reasons
    assert proc.catalog[p["id"]]["stock"] == p["stock"] and not proc.changed  # nothing changed
    assert await net.list_inbox(SHOP_KEY.public_key, orders.ORDERS_INBOX) == []
    replies = await orders.read_replies(net, BUYER, SHOP_KEY.authority)
    assert {r.status for r in replies.values()} == {"rejected"} and len(replies) == len(junk)


async def test_a_reply_names_the_order_id_the_buyer_saw(world: Any) -> None:
    net, _ = world
    p = next(x for x in PRODUCTS if x["stock"] > 0)
    cart = orders.Cart(SHOP_KEY.authority)
    cart.add(p["id"])
    order = await orders.place_order(net, BUYER, SHOP_KEY.authority, cart, {p["id"]: p["price"]}, "EUR")
    await orders.OrderProcessor(net, SHOP_KEY, PRODUCTS).process()
    reply = (await orders.read_replies(net, BUYER, SHOP_KEY.authority))[order.hash]
    assert reply.id == order.fields["id"] and reply.status == "confirmed"


async def test_an_unknown_product_is_proven_absent_for_the_cart(world: Any, sandbox: Any) -> None:
    net, _ = world
    shop = Shop(net, sandbox, SHOP_KEY.authority)
    with pytest.raises(ShopError, match="not in the shop's catalog") as exc:
        await shop.fetch_products([PRODUCTS[1]["id"], "p424242"], context="cart")
    assert exc.value.reason == "unknown-product"


PLANNED = [("éclair made", {}), ("lantern made", {}), ("made lantern", {"in_stock": True, "sort": "price"}),
           ("red lamp", {}), ("made steel", {"category": "tools", "max_price": 4000}),
           ("made two", {"in_stock": True, "max_price": 3000, "sort": "-price"}), ("tent waterproof", {}),
           ("made nosuchword", {}), ("ÉCLAIR mould", {}), ("steel made built", {"sort": "name"})]


async def test_the_planned_search_equals_the_first_version_and_the_reference(world: Any, sandbox: Any) -> None:
    """Rarest words first, the others checked per candidate when few: the same pages, totals and proofs' worth."""
    net, _ = world
    shop = Shop(net, sandbox, SHOP_KEY.authority)
    pointed = 0
    for text, kw in PLANNED:
        q = parse_query(text, limit=8, **kw)
        want, want_cursor = reference_search(PRODUCTS, q)
        planned, first = await shop.search_index(q), await shop.search_index(q, plan=False)
        assert planned.products == first.products == want, text
        assert planned.cursor == first.cursor == want_cursor and planned.total == first.total, text
        assert planned.summary.records_proven <= first.summary.records_proven, text
        pointed += planned.summary.point_checks
        if text == "éclair made":  # 1 candidate: its catalog record instead of every product's "made" record
            assert planned.summary.point_checks == 1 and planned.summary.records_proven < 10
            assert first.summary.records_proven > len(PRODUCTS) * 0.9
    assert pointed > 10


async def test_a_peer_hiding_a_candidates_catalog_record_is_caught(sandbox: Any, monkeypatch: Any) -> None:
    """The other words are settled on the candidates' catalog records: a peer hiding one is convicted."""
    import examples.shop.shop as shop_mod
    from note_compute.compute.client import ComputeClient

    monkeypatch.setattr(shop_mod, "INDEX_SHARD", 50)  # "made" spans several index shards, "lantern" one
    net = ShopNet(6, sandbox, liars_first=True)
    pub = await publish_shop(net, SHOP_KEY, PRODUCTS[:120])
    q = parse_query("lantern made")
    honest = await Shop(net, sandbox, SHOP_KEY.authority).search_index(q)
    assert honest.summary.point_checks and honest.products
    assert honest.products == reference_search(PRODUCTS[:120], q)[0]
    for sh in pub.catalog.built.shards:  # two of the three replicas of every catalog shard hide a match
        for p in (await net.replicas(sh.info.blob))[:2]:
            net.set_mode(p, "hide_one")
    res = await Shop(net, sandbox, SHOP_KEY.authority,
                     compute=ComputeClient(net, sandbox, shuffle=False)).search_index(q)
    assert res.products == honest.products and res.total == honest.total
    assert res.summary.fraud and res.summary.point_checks == honest.summary.point_checks


async def test_a_pinned_manifest_older_than_seen_is_refused(world: Any, sandbox: Any) -> None:
    from note_compute.compute.client import ComputeClient
    from note_compute.errors import StaleRecord

    net, pub = world
    cc = ComputeClient(net, sandbox)
    old = await cc.latest_manifest(pub.index.record.url)
    await update_products(net, SHOP_KEY, [dict(p, stock=p["stock"] + 1) for p in PRODUCTS])
    await cc.latest_manifest(pub.index.record.url)  # sees the newer seq
    with pytest.raises(StaleRecord, match="rollback refused"):
        await cc.query(pub.info.echo, pub.index.record.url, {}, range=[["lamp"], ["lamp\x00"]], manifest=old)
    with pytest.raises(ValueError, match="not one of dataset_url"):
        await cc.query(pub.info.echo, pub.catalog.record.url, {}, range=[["p"], ["q"]], manifest=old)


@pytest.mark.parametrize("n", [20, 120])
async def test_the_demo_session_runs_on_the_smallest_catalogs(sandbox: Any, n: int, capsys: Any) -> None:
    """`shop demo --products 20` (the CLI's minimum): no category, search or stock the script relies on is missing."""
    from examples.shop.demo import run_demo

    summary = await run_demo(ShopNet(6, sandbox), None, products=n)
    assert summary["products"] == n and summary["fraud"] >= 1
    assert summary["orders"] == {"confirmed": 1, "rejected": 2}
    out = capsys.readouterr().out
    assert "over-stock order rejected" in out and "answer still complete: True" in out
