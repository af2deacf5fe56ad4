"""The dating app's privacy claims as observable facts (``specs/psi.md`` 4.4).

Two worlds run the same three users through one epoch on the in-memory
ring; they differ only in whether user 0 likes user 1 (user 1 passes on 0
in both, so that like is one-sided). In both, users 0 and 2 like each other
(a real match is in the traffic too). A recorder sits between every client
and the ring and keeps every record and blob stored or read and every
request and reply to a peer: that is the view of a recorder of all ring
traffic, and a superset of what the matching peers see. The tests show:

* the recordings of the two worlds have the same multiset of *shapes* (every
  message and record with its bytes replaced by their length, strings by
  their length, integers kept), after one normalisation: a key-range
  proof's position in the set (``start``, how many neighbours and hashes it
  carries, and a reply's match index) depends only on where the queried
  value falls among the set's sorted points, which is uniform in both
  worlds; its size and its count of in-range leaves are kept. So what differs between the worlds is only the
  value of byte strings of fixed length: group elements (blinded points,
  padded sets), signatures, keys, hashes over those;
* every group element a user put on the ring is a valid ristretto255 point,
  and the values the liked user could test with its own secrets (``H(pair)``
  and ``H(pair)^b``) appear in neither world;
* the liked user's client ends in the same state shape and the same
  outcome in both worlds (its round with user 0: proven no match).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from examples.dating import app as dating
from examples.dating.app import DatingUser, publish_site, user_to_state
from examples.dating.demo import _trio_population
from examples.dating.model import pair_element
from note_compute import encoding, records
from note_compute.compute.client import ComputeClient
from note_compute.crypto import SigningKey
from note_compute.errors import NoteError
from note_compute.psi import check_point, group
from note_compute.testing.compute import ComputeNetwork

SITE = SigningKey(b"\x07" * 32)
NOW = 1_800_000_000
_KEY_RANGE_PROOF = {"size", "start", "end", "leaves", "hashes"}


class RingRecorder:
    """A transport that records everything crossing it: records and blobs stored and read, requests and replies."""

    def __init__(self, net: ComputeNetwork) -> None:
        self.net = net
        self.log: list[tuple[Any, ...]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.net, name)

    async def put_record(self, rec: records.Record) -> int:
        self.log.append(("put_record", rec.encode()))
        return await self.net.put_record(rec)

    async def get_record(self, url: str) -> records.Record:
        try:
            rec = await self.net.get_record(url)
        except NoteError as exc:
            self.log.append(("get_record", url, type(exc).__name__))
            raise
        self.log.append(("get_record", url, rec.encode()))
        return rec

    async def put_blob(self, data: bytes, media_type: str = "application/octet-stream") -> bytes:
        self.log.append(("put_blob", data, media_type))
        return await self.net.put_blob(data, media_type)

    async def get_blob(self, address: bytes) -> bytes:
        data = await self.net.get_blob(address)
        self.log.append(("get_blob", address, data))
        return data

    async def get_value(self, address: bytes) -> bytes:
        data = await self.net.get_value(address)
        self.log.append(("get_value", address, data))
        return data

    async def request(self, peer: Any, msg: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        reply = await self.net.request(peer, msg, timeout)
        self.log.append(("request", encoding.encode(msg), encoding.encode(reply)))
        return reply

    def byte_values(self) -> bytes:
        return b"".join(x for item in self.log for x in item if isinstance(x, bytes))


def shape(v: Any) -> Any:
    """``v`` with every byte string replaced by its length (nested canonical CBOR decoded first)."""
    if isinstance(v, bytes):
        if len(v) > 1:
            try:
                inner = encoding.decode(v)
            except NoteError:
                inner = None
            if isinstance(inner, (dict, list)):
                return ("cbor", shape(inner))
        return ("bytes", len(v))
    if isinstance(v, str):
        return ("str", len(v))
    if isinstance(v, dict):
        if set(v) == _KEY_RANGE_PROOF:  # where the value falls in the sorted random set: uniform, dropped
            return ("key-range-proof", v["size"], v["end"] - v["start"],
                    tuple(sorted({shape(x) for x in v["leaves"]})))
        if "range_proof" in v and isinstance(v.get("indices"), list):  # a match's index in the set: uniform too
            v = {**v, "indices": ("matches", len(v["indices"]))}
        return tuple(sorted((k, shape(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return tuple(shape(x) for x in v)
    return v


async def _world(sandbox: Any, one_sided_like: bool) -> tuple[RingRecorder, list[DatingUser], list[Any]]:
    rec = RingRecorder(ComputeNetwork(6, sandbox))
    pop = _trio_population()
    site = await publish_site(rec, SITE, pop.cards, now=NOW)
    cc = ComputeClient(rec, sandbox)
    users = [DatingUser(k, c, {"bio": f"user {i}"}) for i, (k, c) in enumerate(zip(pop.keys, pop.cards, strict=True))]
    likes = {0: [2] + ([1] if one_sided_like else []), 2: [0]}   # 0<->2 mutual in both worlds; 1 likes nobody
    for i, u in enumerate(users):
        await u.load_deck(cc, site, (18, 99))
        for j in likes.get(i, []):
            u.swipe(pop.cards[j], True)
    for u in users:
        await u.start_epoch(rec, 1, now=NOW)
    for u in users:
        await u.publish_doubles(rec, now=NOW)
    outs = [await u.find_matches(cc, site, rec) for u in users]
    for u in (users[0], users[2]):
        for card in list(u.matches.values()):
            await u.share_profile(rec, card, now=NOW)
    return rec, users, outs


async def test_a_one_sided_like_and_a_pass_leave_the_same_traffic_shapes(sandbox: Any) -> None:
    worlds = {like: await _world(sandbox, like) for like in (True, False)}
    views = {like: Counter(shape(list(item)) for item in rec.log) for like, (rec, _, _) in worlds.items()}
    assert views[True] == views[False]
    assert sum(views[True].values()) > 50  # the recording holds the whole run, not a few messages
    kinds = Counter(item[0] for item in worlds[True][0].log)
    assert kinds["put_record"] and kinds["put_blob"] and kinds["get_record"] and kinds["request"]
    for _, (_, users, outs) in worlds.items():
        # the real match is found by both sides in both worlds; nothing else matched
        assert [c.key for c in outs[0].matches] == [users[2].key.public_key]
        assert [c.key for c in outs[2].matches] == [users[0].key.public_key]
        assert outs[1].matches == [] and outs[1].no_match == 2 and all(o.pending == o.unproven == 0 for o in outs)


async def test_the_liked_user_ends_in_the_same_state_as_after_a_pass(sandbox: Any) -> None:
    states = {}
    for like in (True, False):
        rec, users, outs = await _world(sandbox, like)
        a, b, _ = users
        rnd = b.rounds[a.key.public_key]
        assert rnd.matched is False and b.matches == {}
        # b holds a's blinded point and its own double of it: valid group elements either way
        check_point(rnd.their_point or b"")
        check_point(rnd.double or b"")
        state = user_to_state(b)
        state["rounds"] = {k: {f: bytes.fromhex(v) if isinstance(v, str) else v for f, v in r.items()}
                           for k, r in state["rounds"].items()}
        states[like] = shape(state)
        # What b could test with its own secrets appears nowhere on the ring: H(pair), H(pair)^b.
        h = group.hash_to_group(pair_element(a.key.public_key, b.key.public_key))
        seen = rec.byte_values()
        assert h not in seen and group.exp(rnd.party.scalar, h) not in seen
        # every point anyone published (round sets, doubly-blinded sets) is a group element
        published = rounds = 0
        for item in rec.log:
            if item[0] == "put_record":
                value = records.Record.decode(item[1]).value or b""
                try:
                    v = encoding.decode(value)
                except NoteError:  # a sealed profile key: ciphertext, not CBOR
                    v = None
                if isinstance(v, dict) and "set" in v:
                    rounds += 1
                    check_point(encoding.decode(v["set"])["points"])
            if item[0] == "put_blob" and shape(item[1])[0] == "cbor":
                shard = encoding.decode(item[1])
                if isinstance(shard, list) and shard and shape(shard[0]) == ("cbor", (("v", ("bytes", 32)),)):
                    published += 1
                    assert len(shard) == dating.DECK_SIZE     # padded: always 32 points
                    for r in shard:
                        check_point(encoding.decode(r)["v"])
        assert published == 3 and rounds >= 6
    assert states[True] == states[False]
