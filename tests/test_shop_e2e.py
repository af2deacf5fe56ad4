"""The shop's whole flow on real libp2p nodes (4 node processes): publish, proven search, cart, checkout,
order processing, verified replies, an inbox flood stopped at the sender's quota."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from examples.shop import orders
from examples.shop.catalog import generate
from examples.shop.search import parse_query, reference_search
from examples.shop.shop import Shop, publish_shop
from note_compute import inbox
from note_compute.crypto import SigningKey
from note_compute.errors import QuotaExceeded
from note_compute.sandbox import Sandbox

pytestmark = pytest.mark.slow

SHOP = SigningKey(hashlib.sha256(b"e2e-shop").digest())
BUYER = SigningKey(hashlib.sha256(b"e2e-buyer").digest())
FLOODER = SigningKey(hashlib.sha256(b"e2e-flooder").digest())


async def test_shop_flow_on_real_nodes(tmp_path: Path) -> None:
    from examples.demo import embedded_network

    products = generate(300, seed=4)
    async with embedded_network(4, tmp_path, lambda m: None) as net:
        client = net.client
        await publish_shop(client, SHOP, products)
        with Sandbox() as sandbox:
            shop = Shop(client, sandbox, SHOP.authority)
            info = await shop.info()
            q = parse_query("lantern", categories=info.categories, in_stock=True, sort="price")
            res = await shop.search(q)
            want, _ = reference_search(products, q)
            assert res.products == want and res.products
            assert res.summary.records_proven > 0 and not res.summary.fraud

            cart = orders.Cart(SHOP.authority)
            cart.add(res.products[0]["id"], 1)
            await orders.save_cart(client, BUYER, cart)
            assert (await orders.load_cart(client, BUYER, SHOP.authority)).items == cart.items
            order = await orders.place_order(client, BUYER, SHOP.authority, cart,
                                             {p["id"]: p["price"] for p in res.products}, info.currency)
            await orders.deliver(client, BUYER, SHOP.authority, order)  # replayed
            proc = orders.OrderProcessor(client, SHOP, products)
            outcomes = await proc.process()
            assert sorted(o.status for o in outcomes) == ["confirmed", "rejected"]
            replies = await orders.read_replies(client, BUYER, SHOP.authority)
            assert replies[order.hash].status == "confirmed"
            assert await client.list_inbox(SHOP.public_key, orders.ORDERS_INBOX) == []

            for i in range(inbox.SENDER_QUOTA):
                await client.put_inbox(SHOP.public_key, "orders", inbox.make_item(
                    FLOODER, SHOP.public_key, "orders", b"junk %d" % i, int(time.time())))
            with pytest.raises(QuotaExceeded):
                await client.put_inbox(SHOP.public_key, "orders", inbox.make_item(
                    FLOODER, SHOP.public_key, "orders", b"one more", int(time.time())))
            await orders.place_order(client, BUYER, SHOP.authority, cart,
                                     {p["id"]: p["price"] for p in res.products}, info.currency)
            senders = [i.sender for i in await client.list_inbox(SHOP.public_key, "orders")]
            assert senders.count(FLOODER.public_key) == inbox.SENDER_QUOTA and BUYER.public_key in senders
