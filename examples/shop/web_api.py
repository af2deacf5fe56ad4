"""The shop's JSON endpoints on the gateway: ``/_note/app/shop/...`` on the shop's own origin.

The web UI (``examples/shop/web/``) is published as the shop's site, so its
pages live at ``http://SHOP.localhost:PORT/`` and call these endpoints on the
same origin; the gateway tells each call which authority's page made it, and
the handler acts only for that shop. Searches are the same verified searches
as ``note-compute shop search`` (proven complete through the word index when
the query has words, audited otherwise); the answer carries the
verification summary the page shows in its badge and details panel.

Cart and checkout act for the gateway's local user (``note-compute gateway
--key NAME``): the cart is that user's encrypted record, the order is
signed by that key and sealed to the shop. Without ``--key`` they answer 403.

Endpoints (JSON): ``GET info``; ``POST search`` {text, category, min_price,
max_price, in_stock, sort, limit, cursor}; ``GET cart``; ``POST cart``
{add: id, qty} or {remove: id}; ``POST checkout``; ``GET orders``.
"""

from __future__ import annotations

from typing import Any

from note_compute.errors import NoteError

from .orders import Cart, load_cart, place_order, read_replies, save_cart
from .search import ShopError, parse_query
from .shop import SearchResult, Shop

__all__ = ["make_app"]

_SEARCH_KEYS = {"text", "category", "min_price", "max_price", "in_stock", "sort", "limit", "cursor"}


def _summary(r: SearchResult) -> dict[str, Any]:
    s = r.summary
    return {"mode": s.mode, "completeness": s.completeness, "proven_complete": s.mode.startswith("proven"),
            "queries": s.queries, "records_proven": s.records_proven, "peers": sorted(s.peers)[:32],
            "peer_count": len(s.peers), "bytes_received": s.bytes_received, "fraud": s.fraud,
            "ms": round(s.seconds * 1000, 1), "seqs": s.seqs}


def make_app(ctx: Any) -> Any:
    """The handler for the gateway (``note_compute.gateway_apps`` entry point ``shop``)."""
    shops: dict[str, Shop] = {}

    def shop_of(authority: str) -> Shop:
        if authority not in shops:
            shops[authority] = Shop(ctx.client, None, authority, compute=ctx.compute)
        return shops[authority]

    def user() -> Any:
        if ctx.user_key is None:
            raise _Refused(403, "this gateway acts for nobody: start it with `note-compute gateway --key NAME` "
                                "to keep a cart and place orders", "no-user")
        return ctx.user_key

    async def cart_view(shop: Shop) -> dict[str, Any]:
        key = user()
        cart = await load_cart(ctx.client, key, shop.authority)
        info = await shop.info()
        ids = sorted(cart.items)
        products = await shop.fetch_products(ids, context="cart") if ids else []
        lines = [{"id": p["id"], "name": p.get("name", ""), "price": p["price"], "qty": cart.items[p["id"]],
                  "subtotal": p["price"] * cart.items[p["id"]]} for p in products]
        return {"ok": True, "buyer": key.authority, "currency": info.currency, "items": lines,
                "total": sum(x["subtotal"] for x in lines)}

    async def handle(authority: str, method: str, sub: str, body: Any) -> tuple[int, Any]:
        try:
            shop = shop_of(authority)
            if sub == "info" and method == "GET":
                info = await shop.info()
                return 200, {"ok": True, "name": info.name, "currency": info.currency,
                             "categories": list(info.categories), "user": ctx.user_key.authority
                             if ctx.user_key is not None else None}
            if sub == "search" and method == "POST":
                if not isinstance(body, dict) or set(body) - _SEARCH_KEYS:
                    extra = sorted(set(body) - _SEARCH_KEYS) if isinstance(body, dict) else []
                    raise ShopError(f"unknown search fields {extra} (accepted: {', '.join(sorted(_SEARCH_KEYS))})",
                                    reason="bad-search")
                info = await shop.info()
                q = parse_query(**{k: v for k, v in body.items()}, categories=info.categories)
                r = await shop.search(q)
                return 200, {"ok": True, "products": r.products, "cursor": r.cursor, "total": r.total,
                             "currency": info.currency, "verification": _summary(r)}
            if sub == "cart" and method == "GET":
                return 200, await cart_view(shop)
            if sub == "cart" and method == "POST":
                key = user()
                if not isinstance(body, dict) or not (("add" in body) ^ ("remove" in body)):
                    raise ShopError("a cart change is {\"add\": id, \"qty\": n} or {\"remove\": id}",
                                    reason="bad-cart-change")
                cart = await load_cart(ctx.client, key, authority)
                pid = body.get("add", body.get("remove"))
                if not isinstance(pid, str):
                    raise ShopError("a product id is text", reason="bad-product")
                if "add" in body:
                    await shop.fetch_products([pid], context="cart")  # the product must exist (proven), or this raises
                    cart.add(pid, body.get("qty", 1))
                else:
                    cart.remove(pid)
                await save_cart(ctx.client, key, cart)
                return 200, await cart_view(shop)
            if sub == "checkout" and method == "POST":
                key = user()
                cart = await load_cart(ctx.client, key, authority)
                info = await shop.info()
                products = await shop.fetch_products(sorted(cart.items), context="cart") if cart.items else []
                order = await place_order(ctx.client, key, authority, cart,
                                          {p["id"]: p["price"] for p in products}, info.currency)
                await save_cart(ctx.client, key, Cart(authority))
                f = order.fields
                return 200, {"ok": True, "order": {"id": f["id"], "hash": order.hash.hex(), "total": f["total"],
                                                   "currency": f["currency"], "items": f["items"]}}
            if sub == "orders" and method == "GET":
                replies = await read_replies(ctx.client, user(), authority)
                return 200, {"ok": True, "replies": [
                    {"order": h.hex(), "status": r.status, "reason": r.reason, "total": r.total, "t": r.t}
                    for h, r in sorted(replies.items(), key=lambda kv: kv[1].t)]}
            return 404, {"ok": False, "error": f"no shop endpoint {method} {sub!r}", "reason": "no-endpoint"}
        except _Refused as exc:
            return exc.status, {"ok": False, "error": str(exc), "reason": exc.reason}
        except ShopError as exc:
            return 400, {"ok": False, "error": str(exc), "reason": exc.reason}
        except TypeError as exc:  # an unexpected field type in the body, caught by parse_query's signature
            return 400, {"ok": False, "error": f"bad search arguments: {exc}", "reason": "bad-search"}
        except NoteError:
            raise  # the gateway maps ring errors to 404/502/503

    return handle


class _Refused(Exception):
    def __init__(self, status: int, message: str, reason: str) -> None:
        super().__init__(message)
        self.status, self.reason = status, reason
