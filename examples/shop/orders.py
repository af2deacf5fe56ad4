"""Cart and checkout: an encrypted cart record, orders sealed into the shop's inbox, signed replies.

Theory of operation
-------------------
* **Cart.** ``note://BUYER/carts/SHOP`` is an ordinary signed record of the
  buyer's key whose value is a PyNaCl ``SecretBox`` ciphertext; the box key
  is ``SHA-256(CART_KEY || buyer's Ed25519 seed)``, so only the buyer (on any
  device holding the key) can read it and no peer can. A tampered record
  fails the record signature (the ring client refuses it); a record signed
  by the buyer but not decryptable with the buyer's key is refused here
  (:class:`ShopError`, ``tampered-cart``).
* **Order.** ``{"v", "shop", "buyer", "id", "items": [[product id, qty,
  unit price]], "total", "currency", "t"}``, signed by the buyer
  (``ORDER || CBOR``), sealed to the shop's key (``SealedBox`` to the X25519
  form of the shop's Ed25519 authority key) and appended to the shop's inbox
  ``orders`` as an inbox item signed by the buyer.
* **Processing.** :class:`OrderProcessor` lists the inbox, unseals each
  item, checks the buyer's signature and that the item's sender is the
  buyer (a forged or re-wrapped order is dropped), that the order id was not
  processed before (replay), then prices and stock against its *current*
  catalog. It answers every well-formed order with a reply ``{"v", "order",
  "id", "status": "confirmed" | "rejected", "reason", "total", "t"}`` signed by the
  shop (``ORDER_REPLY``) and sealed to the buyer, appended to the buyer's
  inbox ``shop-replies``; then it removes the items it handled from its
  inbox (an owner-signed removal). A rejected order changes no stock.
* **Verification.** :func:`read_replies` unseals the buyer's replies, checks
  the shop's signature and matches ``order`` (the SHA-256 of the signed
  order) to the buyer's own orders.

Payment is out of scope; the order states the amount.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import nacl.bindings
import nacl.exceptions
import nacl.public
import nacl.secret

from note_compute import encoding, inbox, records, urls
from note_compute.crypto import SigningKey, ed25519_verify, public_key_of_authority
from note_compute.errors import InvalidEncoding, InvalidSignature, NoteError, NotFound

from .search import ShopError

__all__ = ["CART_KEY", "ORDER", "ORDER_REPLY", "Cart", "OrderProcessor", "Reply", "load_cart", "place_order",
           "read_replies", "save_cart"]

# The shop's own domain-separation prefixes (signatures and key derivation), all here.
CART_KEY = b"note-shop/v1/cart-key\x00"
ORDER = b"note-shop/v1/order\x00"
ORDER_REPLY = b"note-shop/v1/order-reply\x00"
ORDERS_INBOX = "orders"
REPLIES_INBOX = "shop-replies"
MAX_QTY = 100
MAX_LINES = 100
MAX_ORDER_AGE = 24 * 3600


def _curve_pk(ed_pk: bytes) -> nacl.public.PublicKey:
    return nacl.public.PublicKey(nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(ed_pk))


def _curve_sk(key: SigningKey) -> nacl.public.PrivateKey:
    return nacl.public.PrivateKey(nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(key.seed + key.public_key))


def _raw_sign(key: SigningKey, msg: bytes) -> bytes:
    import nacl.signing

    return nacl.signing.SigningKey(key.seed).sign(msg).signature


# -- the cart ------------------------------------------------------------------------------------


@dataclass
class Cart:
    shop: str
    items: dict[str, int] = field(default_factory=dict)  # product id -> quantity

    def add(self, pid: str, qty: int = 1) -> None:
        if not isinstance(qty, int) or isinstance(qty, bool) or qty < 1 or self.items.get(pid, 0) + qty > MAX_QTY:
            raise ShopError(f"quantity must be 1 to {MAX_QTY} per product", reason="bad-quantity")
        self.items[pid] = self.items.get(pid, 0) + qty

    def remove(self, pid: str) -> None:
        if pid not in self.items:
            raise ShopError(f"{pid} is not in the cart", reason="not-in-cart")
        del self.items[pid]


def cart_url(buyer: SigningKey, shop: str) -> str:
    return urls.make_url(buyer.authority, f"/carts/{shop}")


def _cart_box(buyer: SigningKey) -> nacl.secret.SecretBox:
    return nacl.secret.SecretBox(hashlib.sha256(CART_KEY + buyer.seed).digest())


async def save_cart(client: Any, buyer: SigningKey, cart: Cart) -> records.Record:
    """Encrypt the cart and store it as a signed record under the buyer's authority."""
    plain = encoding.encode({"v": 1, "shop": cart.shop, "items": sorted([k, v] for k, v in cart.items.items())})
    url = cart_url(buyer, cart.shop)
    try:
        prev = (await client.get_record(url)).seq
    except NoteError:
        prev = 0
    now_ms = int(time.time() * 1000)
    rec = records.sign_record(buyer, url, seq=max(prev + 1, now_ms), value=bytes(_cart_box(buyer).encrypt(plain)),
                              created=now_ms // 1000)
    await client.put_record(rec)
    return rec


def open_cart(buyer: SigningKey, rec: records.Record, shop: str) -> Cart:
    """Decrypt a cart record (verified by the caller); ShopError ``tampered-cart`` if it does not open."""
    if rec.url != cart_url(buyer, shop):
        raise ShopError("this record is not the buyer's cart for this shop", reason="tampered-cart")
    records.verify_record(rec)
    try:
        m = encoding.decode(_cart_box(buyer).decrypt(rec.value or b""))
        items = {str(k): int(v) for k, v in m["items"]}
        if m["shop"] != shop or any(not 1 <= v <= MAX_QTY for v in items.values()):
            raise ValueError("bad cart content")
    except (nacl.exceptions.CryptoError, InvalidEncoding, KeyError, TypeError, ValueError) as exc:
        raise ShopError("the cart record does not decrypt with your key: it was tampered with or made by "
                        "another key; nothing was changed", reason="tampered-cart") from exc
    return Cart(shop, items)


async def load_cart(client: Any, buyer: SigningKey, shop: str) -> Cart:
    """The buyer's cart for ``shop`` (empty if none); raises ShopError / InvalidSignature when tampered."""
    try:
        rec = await client.get_record(cart_url(buyer, shop))
    except NotFound:
        return Cart(shop)
    return open_cart(buyer, rec, shop)


# -- orders --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedOrder:
    body: bytes
    sig: bytes

    @property
    def hash(self) -> bytes:
        return hashlib.sha256(self.body).digest()

    @property
    def fields(self) -> dict[str, Any]:
        return encoding.decode(self.body)  # type: ignore[no-any-return]


def make_order(buyer: SigningKey, shop: str, lines: Sequence[tuple[str, int, int]], currency: str) -> SignedOrder:
    """A signed order for ``lines`` of (product id, quantity, unit price in cents)."""
    body = encoding.encode({"v": 1, "shop": shop, "buyer": buyer.public_key, "id": os.urandom(16).hex(),
                            "items": [list(x) for x in lines], "total": sum(q * p for _, q, p in lines),
                            "currency": currency, "t": int(time.time())})
    return SignedOrder(body, _raw_sign(buyer, ORDER + body))


def seal_order(order: SignedOrder, shop: str) -> bytes:
    return bytes(nacl.public.SealedBox(_curve_pk(public_key_of_authority(shop))).encrypt(
        encoding.encode({"order": order.body, "sig": order.sig})))


async def place_order(client: Any, buyer: SigningKey, shop: str, cart: Cart,
                      prices: dict[str, int], currency: str) -> SignedOrder:
    """Sign and seal an order for the cart at ``prices`` (verified search results) into the shop's inbox."""
    if not cart.items:
        raise ShopError("the cart is empty", reason="empty-cart")
    missing = [p for p in cart.items if p not in prices]
    if missing:
        raise ShopError(f"no verified price for {missing[:3]}", reason="unknown-product")
    order = make_order(buyer, shop, [(p, q, prices[p]) for p, q in sorted(cart.items.items())], currency)
    await deliver(client, buyer, shop, order)
    return order


async def deliver(client: Any, buyer: SigningKey, shop: str, order: SignedOrder) -> None:
    item = inbox.make_item(buyer, public_key_of_authority(shop), ORDERS_INBOX, seal_order(order, shop),
                           int(time.time()))
    await client.put_inbox(public_key_of_authority(shop), ORDERS_INBOX, item)


@dataclass(frozen=True)
class Reply:
    order: bytes  # SHA-256 of the signed order body
    status: str
    reason: str
    total: int
    t: int
    id: str = ""  # the order's id (what checkout printed)


@dataclass
class Outcome:
    """What the processor did with one inbox item."""

    item: bytes
    status: str  # confirmed, rejected, dropped
    reason: str
    order_id: str = ""
    order_hash: bytes = b""
    total: int = 0


class OrderProcessor:
    """The shop's side: checks orders against its current catalog and answers (see the module docstring)."""

    def __init__(self, client: Any, key: SigningKey, products: Sequence[dict[str, Any]],
                 processed: set[str] | None = None) -> None:
        self.client = client
        self.key = key
        self.catalog = {p["id"]: dict(p) for p in products}
        self.processed: set[str] = set() if processed is None else processed
        """Order ids seen (replay protection); pass the saved set back in after a restart."""
        self.changed: set[str] = set()  # product ids whose stock changed (to republish)

    async def process(self) -> list[Outcome]:
        """Handle every order in the inbox once; returns what happened to each."""
        items = await self.client.list_inbox(self.key.public_key, ORDERS_INBOX)
        out = []
        for it in items:
            o = self._check(it)
            if o.status != "dropped":
                try:
                    await self._reply(it.sender, o)
                except NoteError as exc:  # e.g. the buyer's inbox holds our quota of unread replies
                    o.reason += f" (reply not delivered: {exc})"
            out.append(o)
        if items:
            await self.client.remove_inbox(self.key, ORDERS_INBOX, [it.id for it in items])
        return out

    def _check(self, it: inbox.InboxItem) -> Outcome:
        try:
            sealed = nacl.public.SealedBox(_curve_sk(self.key)).decrypt(it.body)
            m = encoding.decode(sealed)
            body, sig = m["order"], m["sig"]
            order = encoding.decode(body)
            buyer = order["buyer"]
            if not (isinstance(body, bytes) and isinstance(sig, bytes) and isinstance(buyer, bytes)):
                raise TypeError("order, signature and buyer must be bytes")
            ed25519_verify(buyer, ORDER + body, sig)
        except (nacl.exceptions.CryptoError, InvalidEncoding, InvalidSignature, KeyError, TypeError,
                ValueError) as exc:
            return Outcome(it.id, "dropped", f"not a valid signed order sealed to this shop: {exc}")
        if buyer != it.sender:
            return Outcome(it.id, "dropped", "the order is signed by someone else than the sender (forged)")
        if not isinstance(order, dict):  # signed by the buyer, so answered, but nothing else is read
            return Outcome(it.id, "rejected", "malformed order", "", hashlib.sha256(body).digest())
        total, oid = order.get("total", 0), order.get("id", "")
        o = Outcome(it.id, "rejected", "", oid if isinstance(oid, str) and 0 < len(oid) <= 64 else "",
                    hashlib.sha256(body).digest(), total if isinstance(total, int) and total >= 0 else 0)
        if order.get("shop") != self.key.authority:
            o.reason = "this order is for another shop"
        elif not o.order_id:
            o.reason = "the order has no valid id"
        elif o.order_id in self.processed:
            o.reason = f"order {o.order_id} was already processed (replayed)"
        elif not isinstance(order.get("t"), int) or abs(time.time() - order["t"]) > MAX_ORDER_AGE:
            o.reason = "the order is too old or dated in the future"
        else:
            o.reason = self._check_lines(order)
        if o.order_id:
            self.processed.add(o.order_id)
        if not o.reason:
            for pid, qty in _quantities(order["items"]).items():
                self.catalog[pid]["stock"] -= qty
                self.changed.add(pid)
            o.status, o.reason = "confirmed", "confirmed; stock reserved"
        return o

    def _check_lines(self, order: dict[str, Any]) -> str:
        """Why the order's lines cannot be confirmed against the current catalog ("" when they can)."""
        items = order.get("items")
        if not isinstance(items, list) or not items or len(items) > MAX_LINES:
            return f"the order must have 1 to {MAX_LINES} lines"
        total = 0
        for line in items:
            if not (isinstance(line, list) and len(line) == 3 and isinstance(line[0], str)
                    and all(type(x) is int for x in line[1:])):
                return "malformed order line (product id, quantity, unit price)"
            pid, qty, price = line
            p = self.catalog.get(pid)
            if p is None:
                return f"unknown product {pid[:40]!r}"
            if not 1 <= qty <= MAX_QTY:
                return f"bad quantity for {pid}"
            if price != p["price"]:
                return f"the price of {pid} is {p['price']} now, not {price}"
            total += qty * price
        for pid, qty in _quantities(items).items():  # a product on several lines counts once, in all
            if qty > self.catalog[pid]["stock"]:
                return f"only {self.catalog[pid]['stock']} of {pid} in stock, {qty} ordered"
        if total != order.get("total") or order.get("currency") != next(iter(self.catalog.values()))["currency"]:
            return "the order's total or currency is wrong"
        return ""

    async def _reply(self, buyer: bytes, o: Outcome) -> None:
        body = encoding.encode({"v": 1, "order": o.order_hash, "id": o.order_id, "status": o.status,
                                "reason": o.reason, "total": o.total, "t": int(time.time())})
        payload = encoding.encode({"reply": body, "sig": _raw_sign(self.key, ORDER_REPLY + body)})
        sealed = bytes(nacl.public.SealedBox(_curve_pk(buyer)).encrypt(payload))
        item = inbox.make_item(self.key, buyer, REPLIES_INBOX, sealed, int(time.time()))
        await self.client.put_inbox(buyer, REPLIES_INBOX, item)


def _quantities(items: list[list[Any]]) -> dict[str, int]:
    """Quantity per product over an order's (checked) lines."""
    out: dict[str, int] = {}
    for pid, qty, _ in items:
        out[pid] = out.get(pid, 0) + qty
    return out


async def read_replies(client: Any, buyer: SigningKey, shop: str) -> dict[bytes, Reply]:
    """The shop's verified replies in the buyer's inbox, by order hash (others' items are ignored).

    An order that was confirmed stays confirmed when a replayed copy of it was
    later rejected as a replay.
    """
    shop_pk = public_key_of_authority(shop)
    out: dict[bytes, Reply] = {}
    for it in await client.list_inbox(buyer.public_key, REPLIES_INBOX):
        if it.sender != shop_pk:
            continue
        try:
            m = encoding.decode(nacl.public.SealedBox(_curve_sk(buyer)).decrypt(it.body))
            ed25519_verify(shop_pk, ORDER_REPLY + m["reply"], m["sig"])
            r = encoding.decode(m["reply"])
            reply = Reply(r["order"], r["status"], r["reason"], r["total"], r["t"], str(r.get("id", "")))
            held = out.get(reply.order)
            if held is None or (held.status != "confirmed" and reply.status == "confirmed"):
                out[reply.order] = reply  # a confirmation wins over the rejection of a replayed copy
        except (nacl.exceptions.CryptoError, InvalidEncoding, InvalidSignature, KeyError, TypeError):
            continue  # not a reply the shop signed: ignored
    return out
