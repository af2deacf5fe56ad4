"""Inboxes: ring-stored sets anyone may append a signed entry to (pure).

Theory of operation
-------------------
An inbox belongs to an authority (an Ed25519 public key, the *owner*) and
has a short ``name``; it lives at the ring key
``inbox_key(owner, name) = SHA-256(domains.INBOX || owner || name)``, in a
store entry of kind ``"inbox"`` whose data is :func:`encode_set` of::

    {"owner": bytes(32), "name": text, "items": [item, ...], "removals": [removal, ...]}

* an **item** is the canonical CBOR of ``{"v": 1, "inbox": key, "sender":
  public key, "t": seconds, "body": bytes, "sig": bytes(64)}``, signed by
  the sender (``SIG_INBOX_ITEM`` over the map without ``sig``). The body is
  opaque (an app seals it to the owner's key); its id is SHA-256 of the item;
* a **removal** is ``{"v": 1, "inbox": key, "ids": [item id, ...], "t":
  seconds, "sig"}`` signed by the owner (``SIG_INBOX_REMOVE``). Removals are
  kept as tombstones: a removed item never comes back, not through a replica
  that still holds it nor as a replayed append, and replaying a removal
  changes nothing (it is idempotent and bound to one inbox by its key).

Writes **merge** (like fraud evidence): the union of items and of removals,
minus the removed items, then capped deterministically, so replicas converge
whatever order puts and syncs arrive in, as long as no cap drops an item (a
cap's drop is final, so a removal arriving after it cannot bring the item
back; see ``specs/storage-rpc.md``, "Where convergence stops"):

* at most :data:`SENDER_QUOTA` live items per sender (the oldest ``(t, id)``
  kept), at most :data:`MAX_ITEMS` in all (the oldest kept: a flood cannot
  push out entries already delivered);
* at most :data:`MAX_REMOVALS` removals (the newest kept).

What the store adds for an append from a peer (:func:`check_append`): an
append whose new items all fall to a cap is refused (``quota-exceeded``,
reason ``inbox-sender-quota`` or ``inbox-full``), as is an item already
removed (``invalid-record``, ``inbox-removed``) or dated more than
:data:`MAX_SKEW` seconds ahead of the node's clock, and an append that would
push out an entry already held (a back-dated item) is refused like one over
the cap. Nothing is written on a refusal. A node merging a set it *pulled*
itself during replica sync only merges (the caps still hold); a push from a
replica goes through the append checks, and when they refuse it the two
replicas still converge through each one's own pulls.
Errors: :class:`InvalidRecord` (reason ``bad-inbox`` for structure),
:class:`InvalidSignature`, :class:`QuotaExceeded`.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from . import domains, encoding
from .crypto import SigningKey, domain_hash, verify
from .errors import InvalidEncoding, InvalidRecord, QuotaExceeded

__all__ = [
    "MAX_BODY",
    "MAX_ITEMS",
    "MAX_REMOVALS",
    "MAX_REMOVE_IDS",
    "MAX_SKEW",
    "SENDER_QUOTA",
    "InboxItem",
    "InboxSet",
    "Removal",
    "check_append",
    "decode_item",
    "decode_removal",
    "decode_set",
    "encode_set",
    "inbox_key",
    "make_item",
    "make_removal",
    "merge",
]

SENDER_QUOTA = 8
"""Most live items one sender may have in one inbox."""
MAX_ITEMS = 96
"""Most live items in one inbox (96 full items fit a 1 MiB store entry)."""
MAX_BODY = 8192
"""Largest item body (a sealed order is a few hundred bytes)."""
MAX_REMOVALS = 64
"""Most removals (tombstones) kept per inbox."""
MAX_REMOVE_IDS = 32
"""Most item ids one removal names."""
MAX_SKEW = 600
"""An appended item may be dated at most this many seconds after the node's clock."""

_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}\Z")
_MAX_SET = 1024 * 1024 + 1024


def _bad(message: str) -> InvalidRecord:
    return InvalidRecord(message, reason="bad-inbox")


def _check_name(name: Any) -> str:
    if type(name) is not str or _NAME_RE.match(name) is None:
        raise _bad("an inbox name is 1-64 characters of a-z, 0-9 and '-', starting with a letter or digit")
    return name


def _check_pk(pk: Any, what: str) -> bytes:
    if type(pk) is not bytes or len(pk) != 32:
        raise _bad(f"{what} is a 32-byte Ed25519 public key")
    return pk


def _uint(v: Any, what: str) -> int:
    if type(v) is not int or not 0 <= v < 2**63:
        raise _bad(f"{what} is an unsigned integer")
    return v


def inbox_key(owner: bytes, name: str) -> bytes:
    """The ring key of ``owner``'s inbox called ``name``."""
    return domain_hash(domains.INBOX, _check_pk(owner, "the owner") + _check_name(name).encode("ascii"))


def _decode_map(data: Any, fields: set[str], what: str, max_size: int) -> dict[str, Any]:
    if type(data) is not bytes:
        raise _bad(f"{what} is sent as bytes")
    try:
        m = encoding.decode(data, max_size=max_size, max_depth=3)
    except InvalidEncoding as exc:
        raise _bad(f"{what} is not canonical CBOR: {exc}") from exc
    if not isinstance(m, dict) or set(m) != fields:
        raise _bad(f"{what} is a map with exactly the fields {sorted(fields)}")
    if m["v"] != 1:
        raise _bad(f"{what} has an unknown version")
    return m


@dataclass(frozen=True)
class InboxItem:
    """One verified item: who sent it, when (their clock), what (opaque bytes)."""

    inbox: bytes
    sender: bytes
    t: int
    body: bytes
    raw: bytes

    @property
    def id(self) -> bytes:
        return hashlib.sha256(self.raw).digest()


@dataclass(frozen=True)
class Removal:
    """One verified removal by the owner."""

    inbox: bytes
    ids: tuple[bytes, ...]
    t: int
    raw: bytes

    @property
    def hash(self) -> bytes:
        return hashlib.sha256(self.raw).digest()


def make_item(sender: SigningKey, owner: bytes, name: str, body: bytes, t: int) -> InboxItem:
    """Sign ``body`` for ``owner``'s inbox ``name`` as ``sender`` (``t``: the sender's clock, seconds)."""
    if type(body) is not bytes or len(body) > MAX_BODY:
        raise _bad(f"an item body is at most {MAX_BODY} bytes")
    m: dict[str, Any] = {"v": 1, "inbox": inbox_key(owner, name), "sender": sender.public_key,
                         "t": _uint(t, "t"), "body": body}
    m["sig"] = sender.sign(domains.SIG_INBOX_ITEM, encoding.encode(m))
    return decode_item(encoding.encode(m))


def decode_item(data: bytes) -> InboxItem:
    """Decode and verify an item (schema, canonical form, the sender's signature)."""
    m = _decode_map(data, {"v", "inbox", "sender", "t", "body", "sig"}, "an inbox item", MAX_BODY + 512)
    if type(m["inbox"]) is not bytes or len(m["inbox"]) != 32:
        raise _bad("an item names a 32-byte inbox key")
    sender = _check_pk(m["sender"], "the sender")
    if type(m["body"]) is not bytes or len(m["body"]) > MAX_BODY:
        raise _bad(f"an item body is at most {MAX_BODY} bytes")
    t = _uint(m["t"], "t")
    sig = m.pop("sig")
    if type(sig) is not bytes:
        raise _bad("sig is bytes")
    verify(domains.SIG_INBOX_ITEM, sender, encoding.encode(m), sig)
    return InboxItem(m["inbox"], sender, t, m["body"], data)


def make_removal(owner: SigningKey, name: str, ids: Iterable[bytes], t: int) -> Removal:
    """The owner's signed removal of the items ``ids`` from its inbox ``name``."""
    m: dict[str, Any] = {"v": 1, "inbox": inbox_key(owner.public_key, name), "ids": sorted(set(ids)),
                         "t": _uint(t, "t")}
    m["sig"] = owner.sign(domains.SIG_INBOX_REMOVE, encoding.encode(m))
    return decode_removal(encoding.encode(m), owner.public_key)


def decode_removal(data: bytes, owner: bytes) -> Removal:
    """Decode a removal and verify it is signed by ``owner``."""
    m = _decode_map(data, {"v", "inbox", "ids", "t", "sig"}, "an inbox removal", 64 * MAX_REMOVE_IDS + 256)
    ids = m["ids"]
    if (
        not isinstance(ids, list)
        or not 1 <= len(ids) <= MAX_REMOVE_IDS
        or any(type(i) is not bytes or len(i) != 32 for i in ids)
        or any(a >= b for a, b in itertools.pairwise(ids))
    ):
        raise _bad(f"a removal names 1 to {MAX_REMOVE_IDS} distinct sorted 32-byte item ids")
    if type(m["inbox"]) is not bytes or len(m["inbox"]) != 32:
        raise _bad("a removal names a 32-byte inbox key")
    t = _uint(m["t"], "t")
    sig = m.pop("sig")
    if type(sig) is not bytes:
        raise _bad("sig is bytes")
    verify(domains.SIG_INBOX_REMOVE, owner, encoding.encode(m), sig)
    return Removal(m["inbox"], tuple(ids), t, data)


@dataclass(frozen=True)
class InboxSet:
    """A decoded, verified inbox entry."""

    owner: bytes
    name: str
    items: tuple[InboxItem, ...]
    removals: tuple[Removal, ...]

    @property
    def key(self) -> bytes:
        return inbox_key(self.owner, self.name)

    @property
    def removed(self) -> frozenset[bytes]:
        return frozenset(i for r in self.removals for i in r.ids)


def decode_set(key: bytes, data: bytes) -> InboxSet:
    """Decode the inbox entry sent for ``key`` and verify every item and removal in it.

    The set must be in merged form (sorted, capped, no removed item), so
    honest replicas' sets compare bytewise.
    """
    try:
        m = encoding.decode(data, max_size=_MAX_SET, max_depth=2) if type(data) is bytes else None
    except InvalidEncoding as exc:
        raise _bad(f"an inbox is not canonical CBOR: {exc}") from exc
    if not isinstance(m, dict) or set(m) != {"owner", "name", "items", "removals"}:
        raise _bad("an inbox is a map of owner, name, items, removals")
    owner = _check_pk(m["owner"], "the owner")
    name = _check_name(m["name"])
    if inbox_key(owner, name) != key:
        raise _bad("this inbox does not belong at this key")
    if not isinstance(m["items"], list) or not isinstance(m["removals"], list):
        raise _bad("items and removals are lists")
    items = tuple(decode_item(b) for b in m["items"])
    removals = tuple(decode_removal(b, owner) for b in m["removals"])
    if any(x.inbox != key for x in items) or any(r.inbox != key for r in removals):
        raise _bad("an item or removal names another inbox")
    s = InboxSet(owner, name, items, removals)
    if encode_set(merge(s)) != data:
        raise _bad("an inbox must be sent in merged form (sorted, capped, removed items dropped)")
    return s


def merge(*sets: InboxSet) -> InboxSet:
    """The union of sets of one inbox, removed items dropped, capped (see the module docstring)."""
    if not sets:
        raise ValueError("merge needs at least one set")
    first = sets[0]
    if any((s.owner, s.name) != (first.owner, first.name) for s in sets):
        raise _bad("cannot merge two different inboxes")
    rem = {r.hash: r for s in sets for r in s.removals}
    kept_rem = sorted(rem.values(), key=lambda r: (-r.t, r.hash))[:MAX_REMOVALS]
    removed = {i for r in kept_rem for i in r.ids}
    items = {x.id: x for s in sets for x in s.items if x.id not in removed}
    per_sender: dict[bytes, int] = {}
    kept: list[InboxItem] = []
    for x in sorted(items.values(), key=lambda x: (x.t, x.id)):
        n = per_sender.get(x.sender, 0)
        if n >= SENDER_QUOTA or len(kept) >= MAX_ITEMS:
            continue
        per_sender[x.sender] = n + 1
        kept.append(x)
    kept.sort(key=lambda x: x.id)
    kept_rem.sort(key=lambda r: r.hash)
    return InboxSet(first.owner, first.name, tuple(kept), tuple(kept_rem))


def encode_set(s: InboxSet) -> bytes:
    """Canonical encoding of a (merged) set."""
    return encoding.encode({"owner": s.owner, "name": s.name, "items": [x.raw for x in s.items],
                            "removals": [r.raw for r in s.removals]})


def check_append(held: InboxSet | None, incoming: InboxSet, now: int, *, strict: bool = True) -> InboxSet:
    """What an inbox put from a peer may do; returns the merged set or raises (nothing to write then).

    Refuses items dated more than :data:`MAX_SKEW` seconds ahead of ``now``,
    items already removed, a put whose new items all fall to a cap, and a
    put that would push out a held item. ``strict=False`` (a node merging a
    set it pulled from another replica itself) only merges.
    """
    sets = [incoming] if held is None else [held, incoming]
    merged = merge(*sets)
    if not strict:
        return merged
    held_ids = {x.id for x in held.items} if held is not None else set()
    new = [x for x in incoming.items if x.id not in held_ids]
    for x in new:
        if x.t > now + MAX_SKEW:
            raise InvalidRecord(f"an inbox item is dated {x.t - now} s in the future", reason="inbox-future")
    if new:
        removed = merged.removed
        if all(x.id in removed for x in new):
            raise InvalidRecord("this item was removed from the inbox by its owner (a replay?)",
                                reason="inbox-removed")
        kept = {x.id for x in merged.items}
        displaced = held is not None and any(x.id not in kept and x.id not in removed for x in held.items)
        if displaced or not any(x.id in kept for x in new):
            sender = new[0].sender
            if sum(1 for x in merged.items if x.sender == sender) >= SENDER_QUOTA:
                raise QuotaExceeded(f"sender {sender.hex()[:16]} already has {SENDER_QUOTA} entries in this "
                                    "inbox (its quota); wait for the owner to remove some",
                                    reason="inbox-sender-quota")
            raise QuotaExceeded(f"the inbox is full ({MAX_ITEMS} entries)", reason="inbox-full")
    return merged
