"""The shop's whole flow on real libp2p nodes (4 node processes): publish, proven search, cart, checkout,
order processing, verified replies, an inbox flood stopped at the sender's quota; then the CLI as a user
runs it against that network (a product not in the catalog refused from the cart; `orders serve` checks
orders against the catalog as published, after a stock change)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from examples.shop import orders
from examples.shop.catalog import generate
from examples.shop.search import parse_query, reference_search
from examples.shop.shop import Shop, publish_shop, update_products
from note_compute import inbox, keystore
from note_compute.crypto import SigningKey
from note_compute.errors import QuotaExceeded
from note_compute.sandbox import Sandbox

pytestmark = pytest.mark.slow

SHOP = SigningKey(hashlib.sha256(b"e2e-shop").digest())
BUYER = SigningKey(hashlib.sha256(b"e2e-buyer").digest())
FLOODER = SigningKey(hashlib.sha256(b"e2e-flooder").digest())
ROOT = Path(__file__).resolve().parents[1]


async def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    import trio

    env = {**os.environ, "NOTE_HOME": str(home), "PYTHONPATH": str(ROOT)}
    return await trio.run_process([sys.executable, "-m", "note_compute.cli", "shop", *args], env=env,
                                  capture_stdout=True, capture_stderr=True, check=False, cwd=ROOT)


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
            await orders.OrderProcessor(client, SHOP, products).process()  # empty the inbox (flood dropped)

            # the CLI, as a user runs it against this network
            keystore.create_key("shop", home=tmp_path, seed=SHOP.seed)
            keystore.create_key("me", home=tmp_path, seed=BUYER.seed)
            out = await cli(tmp_path, "cart", "add", "--key", "me", "--shop", SHOP.authority, "p424242")
            assert out.returncode == 2 and b"not in the shop's catalog (proven absent)" in out.stderr, out
            assert (await orders.load_cart(client, BUYER, SHOP.authority)).items == cart.items  # unchanged

            # the shop sold all but one of a product elsewhere and republished; an order for 2 is refused by
            # `orders serve`, which checks against the published catalog (not the generated one)
            item = res.products[1]
            published = [dict(p, stock=1) if p["id"] == item["id"] else p for p in products]
            await update_products(client, SHOP, published)
            two = orders.Cart(SHOP.authority)
            two.add(item["id"], 2)
            late = await orders.place_order(client, BUYER, SHOP.authority, two, {item["id"]: item["price"]},
                                            info.currency)
            out = await cli(tmp_path, "orders", "serve", "--key", "shop", "--once")
            assert out.returncode == 0 and b"rejected" in out.stdout, out
            reply = (await orders.read_replies(client, BUYER, SHOP.authority))[late.hash]
            assert reply.status == "rejected" and f"only 1 of {item['id']} in stock" in reply.reason
            assert reply.id == late.fields["id"]
