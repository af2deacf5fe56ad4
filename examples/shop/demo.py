"""The shop demo: publish a shop, search it with proofs, fill a cart, check out, catch a lying peer.

``run_demo(net, console)`` is what ``make demo`` (``python -m examples.demo``)
and ``note-compute shop demo`` call on a running network: ``net`` has a ring
``client`` (or is one); ``console`` has ``print`` (a rich Console or None for
stdout). Raises AssertionError when something the demo shows does not hold.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from note_compute.crypto import SigningKey

__all__ = ["print_table", "run_demo"]

Say = Callable[[str], None]


def _say(console: Any, t0: float | None = None) -> Say:
    """Print lines stamped with the seconds since ``t0`` (default: now)."""
    t0 = time.monotonic() if t0 is None else t0

    def say(msg: str) -> None:
        line = f"[{time.monotonic() - t0:5.1f}s] {msg}"
        if console is not None and hasattr(console, "print"):
            if type(console).__module__.startswith("rich"):
                console.print(line, markup=False, highlight=False)
            else:
                console.print(line)
        else:
            print(line, flush=True)

    return say


def print_table(say: Say, products: Sequence[dict[str, Any]], currency: str = "EUR") -> None:
    """Products as a small text table (id, name, brand, category, price, stock)."""
    rows = [("id", "name", "brand", "category", "price", "stock")]
    for p in products:
        rows.append((p["id"], p["name"][:34], p["brand"][:18], p["category"], f"{p['price'] / 100:.2f} {currency}",
                     str(p["stock"])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        say(
            "    "
            + "  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=False)))
        )


async def run_demo(net: Any, console: Any = None, *, products: int = 5000, seed: int = 12) -> dict[str, Any]:
    """The scripted shop session on ``net`` (see the module docstring); returns a summary."""
    from note_compute.compute.client import ComputeClient
    from note_compute.sandbox import Sandbox

    from . import orders
    from .catalog import generate
    from .search import parse_query
    from .shop import Shop, publish_shop

    say = _say(console, getattr(net, "started", None) or None)
    client = getattr(net, "client", net)
    shop_key = SigningKey(hashlib.sha256(b"note-shop-demo/shop-%d" % seed).digest())
    buyer = SigningKey(hashlib.sha256(b"note-shop-demo/buyer-%d" % seed).digest())
    catalog = generate(products, seed=seed)
    say(f"generated a catalog of {len(catalog)} products (seed {seed}); shop authority {shop_key.authority[:16]}...")
    # wait for the replicas to load their shards (at most 60 s a dataset): the first search finds them ready
    pub = await publish_shop(client, shop_key, catalog, progress=lambda m: say("  " + m), ready_timeout=60.0)
    say(f"shop published in {pub.seconds:.1f} s: {pub.products} products, {pub.index_records} word-index records")
    summary: dict[str, Any] = {"shop": shop_key.authority, "products": len(catalog),
                               "publish_seconds": round(pub.seconds, 1)}

    with Sandbox() as sandbox:
        # a generous per-peer timeout: the demo must also finish on a loaded 2-core machine
        shop = Shop(client, sandbox, shop_key.authority, compute=ComputeClient(client, sandbox, timeout=20.0))
        info = await shop.info()
        searches: list[tuple[str, dict[str, Any]]] = [
            ("lantern", {}),
            ("ÉCLAIR", {}),
            ("strasse", {}),
            ("red lamp", {"max_price": 6000}),
            ("steel", {"category": "tools", "in_stock": True, "sort": "price"}),
            ("", {"category": "Garden" if "Garden" in info.categories else info.categories[0], "max_price": 1500,
                  "sort": "price"}),
        ]
        found: dict[str, dict[str, Any]] = {}
        for text, kw in searches:
            q = parse_query(text, categories=info.categories, limit=5, **kw)
            res = await shop.search(q)
            what = f'"{text}"' if text else "browse"
            extra = ", ".join(f"{k}={v}" for k, v in kw.items())
            say(f"search {what}{' (' + extra + ')' if extra else ''}: "
                f"{res.total if res.total is not None else len(res.products)} match(es), first {len(res.products)}")
            print_table(say, res.products, info.currency)
            say(f"    verified: {res.summary.line()}")
            if text in ("ÉCLAIR", "strasse", "red lamp", "steel"):  # every catalog has these (catalog.SPECIAL)
                assert res.products, f"no results for {text!r}"
            for p in res.products:
                found[p["id"]] = p
        bad: list[tuple[str, dict[str, Any]]] = [("lamp", {"min_price": -5}), ("lamp", {"category": "Spaceships"})]
        for text, kw in bad:
            try:
                parse_query(text, categories=info.categories, **kw)
                raise AssertionError("bad search arguments were accepted")
            except ValueError as exc:
                say(f"refused: search {text!r} {kw}: {exc}")

        # cart: encrypted, signed, stored under the buyer's authority
        lantern = (await shop.search(parse_query("lantern", in_stock=True, sort="price", limit=3))).products
        picks = [*lantern, *(p for p in found.values() if p["stock"] >= 2 and p not in lantern)][:2]  # (tiny catalogs)
        scarves = (await shop.search(parse_query("scarf", in_stock=True, limit=10))).products
        # the over-stock order: the scarcest product seen that a cart can over-order (at most MAX_QTY a line)
        scarce = min([p for p in [*scarves, *found.values()] if 0 < p["stock"] < orders.MAX_QTY],
                     key=lambda p: (p["stock"], p["id"]))
        cart = orders.Cart(shop_key.authority)
        cart.add(picks[0]["id"], 2)
        cart.add(picks[1]["id"], 1)
        rec = await orders.save_cart(client, buyer, cart)
        back = await orders.load_cart(client, buyer, shop_key.authority)
        assert back.items == cart.items
        say(f"cart saved as a signed record {rec.url[:30]}... ({len(rec.value or b'')} bytes of SecretBox "
            f"ciphertext), read back and decrypted: {back.items}")

        # checkout: a signed order sealed to the shop, into the shop's inbox; the shop's processor answers
        prices = {p["id"]: p["price"] for p in [*picks, scarce]}
        order = await orders.place_order(client, buyer, shop_key.authority, cart, prices, info.currency)
        say(f"order {order.fields['id'][:8]} signed and sealed to the shop's key, appended to its inbox "
            f"(total {order.fields['total'] / 100:.2f} {info.currency})")
        greedy = orders.Cart(shop_key.authority)
        greedy.add(scarce["id"], scarce["stock"] + 1)  # one more than the shop has
        over = await orders.place_order(client, buyer, shop_key.authority, greedy, prices, info.currency)
        await orders.deliver(client, buyer, shop_key.authority, order)  # a replay of the first order
        proc = orders.OrderProcessor(client, shop_key, catalog)
        outcomes = await proc.process()
        for o in outcomes:
            say(f"  shop's order processor: {o.status}: {o.reason}")
        replies = await orders.read_replies(client, buyer, shop_key.authority)
        conf, rej = replies[order.hash], replies[over.hash]
        assert conf.status == "confirmed" and rej.status == "rejected"
        say(f"buyer's client verified the shop's signed replies: order {conf.status} "
            f"({conf.total / 100:.2f} {info.currency}); over-stock order {rej.status}: {rej.reason}")
        summary["orders"] = {o.status: sum(1 for x in outcomes if x.status == o.status) for o in outcomes}

        summary["fraud"] = await _liar(say, net, sandbox, shop_key, catalog[: min(len(catalog), 400)])
    say("(price and stock changes republish only the changed shards: `note-compute shop orders serve` does it "
        "after confirmed orders; figures in BENCHMARKS.md)")
    say(f"shop demo done: {summary}")
    return summary


async def _liar(say: Say, net: Any, sandbox: Any, key: SigningKey, catalog: list[dict[str, Any]]) -> int:
    """A search asked first of a lying peer that hides a match: on the demo's local network when ``net`` is one
    (a lying node process joins it: :mod:`.liar`), else 2 of the 3 replicas of the word's index shard on an
    in-memory network of 8 (``catalog``)."""
    if getattr(net, "devnet", None) is not None:
        from .liar import ring_liar_round

        r = await ring_liar_round(net, sandbox, key.authority, say)
        say(f"lying node (a real node process in the ring of {net.nodes} + 1): asked first for the index range of "
            f"'lamp', it hid a match and signed it: {r['frauds']} fraud proof(s) ({', '.join(r['lies'])}) "
            f"convicting it{' alone' if r['convicted'] else ''}, blocked: {r['blocked']}, proofs the ring keeps "
            f"against it: {r['stored']}; answer still complete: {r['complete']} (equal to the honest one); "
            "it left the ring")
        assert r["frauds"] and r["convicted"] and r["blocked"] and r["complete"], r
        return int(r["frauds"])
    from note_compute.compute.client import ComputeClient
    from note_compute.testing.compute import ComputeNetwork

    from .search import parse_query
    from .shop import Shop, publish_shop

    net = ComputeNetwork(8, sandbox, liars_first=True)
    pub = await publish_shop(net, key, catalog)
    honest = await Shop(net, sandbox, key.authority).search(parse_query("lamp", limit=50))
    shard = next(s for s in pub.index.built.shards if s.info.lo[0] <= "lamp" <= s.info.hi[0])
    liars = (await net.replicas(shard.info.blob))[:2]
    for p in liars:
        net.set_mode(p, "hide_one")
    shop = Shop(net, sandbox, key.authority, compute=ComputeClient(net, sandbox, shuffle=False))
    res = await shop.search(parse_query("lamp", limit=50))
    ok = [p["id"] for p in res.products] == [p["id"] for p in honest.products]
    say(f"lying peers (in-memory network of 8): 2 of the 3 replicas of the index shard of 'lamp' hide a match "
        f"and sign it; asked first: {len(res.summary.fraud)} fraud proof(s) "
        f"({', '.join(sorted({f['lie'] for f in res.summary.fraud}))}), liars blocked; answer still complete: {ok}")
    assert res.summary.fraud and ok
    return len(res.summary.fraud)
