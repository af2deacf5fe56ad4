"""``note-compute shop ...``: the shop example's commands (entry point ``note_compute.commands``).

``shop demo`` runs the whole scripted session on an embedded local network.
The other commands work against a running network (``note-compute devnet``)::

    note-compute key new shop && note-compute key new me
    note-compute shop publish --key shop --products 5000          # catalog, word index, programs
    note-compute shop search "red lamp" --shop SHOP --max-price 5000 --in-stock
    note-compute shop cart add --key me --shop SHOP p000123 --qty 2
    note-compute shop cart show --key me --shop SHOP
    note-compute shop checkout --key me --shop SHOP
    note-compute shop orders serve --key shop                      # the shop's order processor
    note-compute shop orders replies --key me --shop SHOP

``SHOP`` is the shop's authority (``note-compute key show shop``). Bad
arguments get a one-line message and exit status 2; nothing is changed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import click

from note_compute.cli._common import EXIT_USAGE, emit_json, json_mode, json_option, quiet_option

__all__ = ["register", "shop"]


def _run(fn: Callable[[], Awaitable[Any]]) -> Any:
    """``fn`` under trio with the CLI's error reporting (``--json`` errors, exit 2 usage / 3 not found /
    4 network / 1 otherwise): a ShopError is a usage error naming its reason."""
    from note_compute.cli._common import CliError, run_async

    from .search import ShopError

    def usage(exc: ShopError) -> CliError:
        return CliError(str(exc), EXIT_USAGE, code="usage", reason=exc.reason)

    try:
        return run_async(fn)
    except ShopError as exc:
        raise usage(exc) from exc
    except BaseExceptionGroup as group:  # an error inside a nursery that run_async left as it was
        for leaf in _leaves(group):
            if isinstance(leaf, ShopError):
                raise usage(leaf) from group
        raise


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for e in exc.exceptions for leaf in _leaves(e)]
    return [exc]


def _progress(quiet: bool) -> Callable[[str], None]:
    """Progress lines: on stdout normally, on stderr under ``--json`` / ``-q`` (stdout holds only the answer)."""
    return lambda text: click.echo(text, err=quiet or json_mode())


def _view(client: Any, sandbox: Any, authority: str) -> Any:
    """The buyer's verified view of a shop: never an older catalog or index than seen before, across runs."""
    from note_compute.compute.client import ComputeClient
    from note_compute.compute.freshness import Freshness

    from .shop import Shop

    return Shop(client, sandbox, authority,
                compute=ComputeClient(client, sandbox, timeout=15.0, freshness=Freshness.at_home()))


def _sync(fn: Callable[[], Any]) -> Callable[[], Awaitable[Any]]:
    async def run() -> Any:
        return fn()
    return run


def _key(name: str) -> Any:
    """Key ``name``; a missing one is "not found" (exit 3, as for every command), its message says how to make it."""
    from note_compute.cli._common import fail
    from note_compute.errors import NoteError
    from note_compute.keystore import load_key

    try:
        return load_key(name)
    except NoteError as exc:
        raise fail(exc) from exc


def _authority(value: str) -> str:
    from note_compute.crypto import public_key_of_authority

    try:
        public_key_of_authority(value)
    except ValueError:
        key = _key(value)  # a key name
        return str(key.authority)
    return value


@click.group()
def shop() -> None:
    """The shop example: verified product search, encrypted cart, sealed orders."""


@shop.command()
@click.option("--nodes", type=click.IntRange(3, 64), default=6, show_default=True, help="node processes to start")
@click.option("--products", type=click.IntRange(20, 200_000), default=5000, show_default=True)
@click.option("--keep-running", is_flag=True, help="keep the network up after the session (Ctrl-C stops it)")
def demo(nodes: int, products: int, keep_running: bool) -> None:
    """Start a local network, publish a shop, run a scripted session, stop."""
    import trio

    from examples.demo import embedded_network

    from .demo import _say, run_demo

    async def main() -> None:
        import tempfile
        from pathlib import Path

        t0 = time.monotonic()
        say = _say(None, t0)
        with tempfile.TemporaryDirectory(prefix="note-shop-") as tmp:
            async with embedded_network(nodes, Path(tmp), say, started=t0) as net:
                summary = await run_demo(net, None, products=products)
                if keep_running:
                    say(f"network kept running; in another shell: NOTE_HOME={tmp} note-compute shop search "
                        f"lantern --shop {summary['shop']} (Ctrl-C here stops it)")
                    await trio.sleep_forever()
        say(f"summary: {json.dumps(summary)}")

    try:
        _run(main)
    except KeyboardInterrupt:
        pass


@shop.command()
@click.option("--key", "key_name", required=True, help="the shop's key (its authority)")
@click.option("--products", type=click.IntRange(1, 200_000), default=5000, show_default=True)
@click.option("--seed", type=int, default=12, show_default=True)
@json_option
@quiet_option("the shop's authority")
def publish(key_name: str, products: int, seed: int, as_json: bool, quiet: bool) -> None:
    """Publish the generated catalog, its word index, the programs and the shop record."""
    from note_compute.client import open_client

    from .catalog import generate
    from .shop import SHOP_PATH, publish_shop

    key = _key(key_name)

    async def main() -> None:
        async with open_client() as client:
            pub = await publish_shop(client, key, generate(products, seed=seed), progress=_progress(quiet),
                                     ready_timeout=30.0)
        if as_json:
            i = pub.info
            emit_json({"shop": key.authority, "url": f"note://{key.authority}{SHOP_PATH}", "name": i.name,
                       "products": pub.products, "index_records": pub.index_records, "currency": i.currency,
                       "catalog": i.catalog, "index": i.index, "programs": {"find": i.find, "echo": i.echo},
                       "inbox": i.inbox, "seconds": round(pub.seconds, 3)})
        elif quiet:
            click.echo(key.authority)
        else:
            click.echo(f"shop {key.authority} published: {pub.products} products in {pub.seconds:.1f} s")

    _run(main)


@shop.command()
@click.argument("text", default="")
@click.option("--shop", "shop_ref", required=True, help="the shop's authority (or a local key name)")
@click.option("--category")
@click.option("--min-price", type=int, help="cents, inclusive")
@click.option("--max-price", type=int, help="cents, inclusive")
@click.option("--in-stock", is_flag=True)
@click.option("--sort", default="relevance", show_default=True)
@click.option("--limit", type=int, default=10, show_default=True)
@click.option("--cursor", help="continue after the previous page (printed under it)")
@click.option("--audited", is_flag=True, help="use the audited predicate search instead of the word index")
@json_option
def search(text: str, shop_ref: str, category: str | None, min_price: int | None, max_price: int | None,
           in_stock: bool, sort: str, limit: int, cursor: str | None, audited: bool, as_json: bool) -> None:
    """Search the shop; every answer is verified (proven complete for text)."""
    from note_compute.client import open_client
    from note_compute.sandbox import Sandbox

    from .demo import print_table
    from .search import parse_query

    def parse(categories: Any = None) -> Any:
        return parse_query(text, category=category, min_price=min_price, max_price=max_price, in_stock=in_stock,
                           sort=sort, limit=limit, cursor=cursor, categories=categories)

    authority = _authority(shop_ref)
    _run(_sync(parse))  # every argument checked before anything is sent

    async def main() -> None:
        async with open_client() as client:
            with Sandbox() as sandbox:
                s = _view(client, sandbox, authority)
                info = await s.info()
                q = parse(info.categories)
                res = await (s.search_audited(q) if audited else s.search(q))
        if as_json:
            emit_json({"shop": authority, "products": res.products, "cursor": res.cursor, "total": res.total,
                       "verification": res.summary.line()})
            return
        print_table(click.echo, res.products, info.currency)
        click.echo(f"verified: {res.summary.line()}")
        if res.cursor:
            click.echo(f"more: --cursor {res.cursor}")

    _run(main)


@shop.group()
def cart() -> None:
    """Your cart: encrypted with your key, stored as your signed record."""


def _cart_op(key_name: str, shop_ref: str, op: Callable[[Any], None] | None, check: str | None = None, *,
             as_json: bool = False, quiet: bool = False) -> None:
    """Load the cart, apply ``op``, save it; ``check``: a product id that must be in the shop's catalog."""
    from note_compute.client import open_client
    from note_compute.sandbox import Sandbox

    from .orders import cart_url, load_cart, save_cart

    key, authority = _key(key_name), _authority(shop_ref)

    async def main() -> None:
        async with open_client() as client:
            c = await load_cart(client, key, authority)
            if op is not None:
                op(c)  # a bad quantity or a product not in the cart is refused before anything is sent
                if check is not None:
                    with Sandbox() as sandbox:
                        await _view(client, sandbox, authority).fetch_products([check], context="cart")
                await save_cart(client, key, c)
        url = cart_url(key, authority)
        if as_json:
            emit_json({"url": url, "shop": authority, "items": c.items,
                       "count": sum(c.items.values())})
        elif quiet:
            click.echo(url)
        else:
            click.echo(json.dumps(c.items) if c.items else "the cart is empty")

    _run(main)


@cart.command("add")
@click.option("--key", "key_name", required=True)
@click.option("--shop", "shop_ref", required=True)
@click.argument("product")
@click.option("--qty", type=int, default=1, show_default=True)
@json_option
@quiet_option("the cart's URL (your signed, encrypted record)")
def cart_add(key_name: str, shop_ref: str, product: str, qty: int, as_json: bool, quiet: bool) -> None:
    """Add a product (by id) to the cart (checked against the shop's catalog, with a proof)."""
    _cart_op(key_name, shop_ref, lambda c: c.add(product, qty), check=product, as_json=as_json, quiet=quiet)


@cart.command("remove")
@click.option("--key", "key_name", required=True)
@click.option("--shop", "shop_ref", required=True)
@click.argument("product")
@json_option
@quiet_option("the cart's URL (your signed, encrypted record)")
def cart_remove(key_name: str, shop_ref: str, product: str, as_json: bool, quiet: bool) -> None:
    """Remove a product from the cart."""
    _cart_op(key_name, shop_ref, lambda c: c.remove(product), as_json=as_json, quiet=quiet)


@cart.command("show")
@click.option("--key", "key_name", required=True)
@click.option("--shop", "shop_ref", required=True)
@json_option
@quiet_option("the cart's URL (your signed, encrypted record)")
def cart_show(key_name: str, shop_ref: str, as_json: bool, quiet: bool) -> None:
    """Show the cart (decrypted here; no peer can read it)."""
    _cart_op(key_name, shop_ref, None, as_json=as_json, quiet=quiet)


@shop.command()
@click.option("--key", "key_name", required=True)
@click.option("--shop", "shop_ref", required=True)
@json_option
@quiet_option("the order's id")
def checkout(key_name: str, shop_ref: str, as_json: bool, quiet: bool) -> None:
    """Order the cart at the shop's current, verified prices (a signed order sealed into its inbox)."""
    from note_compute.client import open_client
    from note_compute.sandbox import Sandbox

    from .orders import Cart, load_cart, place_order, save_cart
    from .search import ShopError

    key, authority = _key(key_name), _authority(shop_ref)

    async def main() -> None:
        async with open_client() as client:
            c = await load_cart(client, key, authority)
            if not c.items:
                raise ShopError("the cart is empty (add products with `note-compute shop cart add`)",
                                reason="empty-cart")
            with Sandbox() as sandbox:
                s = _view(client, sandbox, authority)
                info = await s.info()
                products = await s.fetch_products(sorted(c.items), context="cart")
            order = await place_order(client, key, authority, c, {p["id"]: p["price"] for p in products},
                                      info.currency)
            await save_cart(client, key, Cart(authority))  # ordered: the cart starts empty again
        f = order.fields
        if as_json:
            emit_json({"order": f["id"], "hash": order.hash.hex(), "shop": authority, "items": f["items"],
                       "total": f["total"], "currency": f["currency"], "inbox": info.inbox})
            return
        if quiet:
            click.echo(f["id"])
            return
        click.echo(f"order {order.fields['id']} sent (total {order.fields['total'] / 100:.2f} {info.currency}); "
                   f"the cart is empty again; see `note-compute shop orders replies --key {key_name} "
                   f"--shop {authority}`")

    _run(main)


@shop.group()
def orders() -> None:
    """The shop's order processor and the buyer's replies."""


@orders.command("serve")
@click.option("--key", "key_name", required=True, help="the shop's key")
@click.option("--interval", type=click.FloatRange(0.1, 3600), default=2.0, show_default=True)
@click.option("--once", is_flag=True, help="process the inbox once and exit")
def orders_serve(key_name: str, interval: float, once: bool) -> None:
    """Process orders from the shop's inbox against its current published catalog; republish stock changes."""
    import trio

    from note_compute.client import open_client
    from note_compute.keystore import note_home
    from note_compute.sandbox import Sandbox

    from .orders import OrderProcessor
    from .shop import update_products

    key = _key(key_name)
    state = note_home() / "shop" / f"processed-{key_name}.json"  # order ids seen: replays stay refused after a restart
    seen = set(json.loads(state.read_text())) if state.exists() else set()

    async def main() -> None:
        async with open_client() as client:
            with Sandbox() as sandbox:  # the catalog as published (stock after earlier orders), hash-checked
                current, _ = await _view(client, sandbox, key.authority).download_catalog()
            click.echo(f"{time.strftime('%H:%M:%S')} serving orders against the published catalog "
                       f"({len(current)} products)")
            proc = OrderProcessor(client, key, current, processed=seen)
            while True:
                for o in await proc.process():
                    click.echo(f"{time.strftime('%H:%M:%S')} {o.status}: {o.order_id[:8]} {o.reason}")
                state.parent.mkdir(parents=True, exist_ok=True)
                state.write_text(json.dumps(sorted(proc.processed)))
                if proc.changed:
                    cat, idx = await update_products(client, key, list(proc.catalog.values()))
                    click.echo(f"stock republished: {cat.uploaded} catalog and {idx.uploaded} index shards")
                    proc.changed.clear()
                if once:
                    return
                await trio.sleep(interval)

    try:
        _run(main)
    except KeyboardInterrupt:
        pass


@orders.command("replies")
@click.option("--key", "key_name", required=True)
@click.option("--shop", "shop_ref", required=True)
@json_option
def orders_replies(key_name: str, shop_ref: str, as_json: bool) -> None:
    """The shop's signed replies to your orders (verified)."""
    from note_compute.client import open_client

    from .orders import read_replies

    key, authority = _key(key_name), _authority(shop_ref)

    async def main() -> None:
        async with open_client() as client:
            replies = await read_replies(client, key, authority)
        if as_json:
            emit_json({"shop": authority, "replies": [
                {"order": r.id, "hash": h.hex(), "status": r.status, "reason": r.reason, "total": r.total, "t": r.t}
                for h, r in sorted(replies.items(), key=lambda kv: kv[1].t)]})
            return
        if not replies:
            click.echo("no replies yet")
        for h, r in sorted(replies.items(), key=lambda kv: kv[1].t):
            click.echo(f"order {r.id or h.hex()[:16]}: {r.status} ({r.total / 100:.2f}): {r.reason}")

    _run(main)


def register(group: click.Group) -> None:
    """Add ``shop`` to the ``note-compute`` command group."""
    group.add_command(shop)
