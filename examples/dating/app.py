"""The dating app on the public API: a site, its users, and the three asynchronous PSI phases.

Everything a user does goes through a *transport* with the ``Client``
methods (``put_record``, ``get_record``, ``put_blob``, ``get_blob``; the
real ring client or the in-memory network) and a
:class:`~note_compute.compute.client.ComputeClient` for verified queries.

Epoch ``e``, for each pair {A, B} where each has the other in their deck
(``specs/psi.md`` section 4):

1. **blind** - A draws a fresh scalar for the round and stores, at
   ``note://R_A/dating/round/e`` (R_A: A's round key, derivable only by A
   and B), the signed blinded set ``{H(pair)^a}`` if A likes B, else one
   random group element, plus A's *epoch key* E_A (a fresh pseudonym);
2. **double** - A raises B's blinded point to its scalar and publishes all
   its rounds' doubly-blinded values, padded with random points to
   :data:`DECK_SIZE`, as the dataset ``note://E_A/datasets/dating-e``;
3. **match** - A asks a peer to run ``psi_match`` for its value of the
   round against E_B's set, with a key-range proof: member (a match, both
   liked) or provably absent. A liar is caught by the proof.

After a match each side seals its profile key to the other
(``note://R_A/dating/profile-key/e``); the profile itself is an encrypted blob.
Swipes never leave the user's object.
"""

from __future__ import annotations

import inspect
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from note_compute import encoding, records, urls
from note_compute.crypto import SigningKey, authority_of
from note_compute.errors import InvalidEncoding, InvalidRecord, NoteError, NotFound
from note_compute.programs import make_program, program_url
from note_compute.psi import BLINDED, Party, PsiSet, random_point
from note_compute.psi.matching import match_values, publish_set, published_manifest

from .model import (
    DIRECTORY_SORT_KEY,
    Card,
    decrypt_profile,
    encrypt_profile,
    open_sealed,
    pair_element,
    round_keys,
    seal_key,
)

__all__ = ["DECK_SIZE", "DatingUser", "MatchOutcome", "Round", "Site", "contract", "publish_site"]

DECK_SIZE = 32
"""Rounds per user per epoch, and the fixed size of every published doubly-blinded set."""
ROUND_SET_SIZE = 1
"""A round's blinded set holds the one pair element (or a dummy): see specs/psi.md, why not the whole like-set."""
PSI_PROGRAM, DECK_PROGRAM, DIRECTORY = "psi_match", "dating_deck", "dating-directory"
FUEL = 1_000_000_000
_CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def contract(name: str) -> bytes:
    return (_CONTRACTS / f"{name}.wasm").read_bytes()


def _now_s() -> int:
    return int(time.time())


@dataclass(frozen=True)
class Site:
    """The dating site's public names (its authority publishes the programs and the directory)."""

    authority: str

    @property
    def psi_url(self) -> str:
        return program_url(self.authority, PSI_PROGRAM)

    @property
    def deck_url(self) -> str:
        return program_url(self.authority, DECK_PROGRAM)

    @property
    def directory_url(self) -> str:
        return f"note://{self.authority}/datasets/{DIRECTORY}"


async def publish_site(net: Any, key: SigningKey, cards: list[Card], *, now: int | None = None) -> Site:
    """Publish the two programs and the directory of (verified) cards; returns the :class:`Site`."""
    from note_compute.compute.publish import publish_dataset

    now = _now_s() if now is None else now
    for name in (PSI_PROGRAM, DECK_PROGRAM):
        wasm = contract(name)
        url = program_url(key.authority, name)
        try:
            seq = (await net.get_record(url)).seq + 1
        except NotFound:
            seq = 1
        await net.put_blob(wasm, "application/wasm")
        await net.put_record(make_program(key, name, wasm, fuel=FUEL, seq=seq, created=now))
    for c in cards:
        c.verify()
    await publish_dataset(net, key, [c.encode() for c in cards], name=DIRECTORY, sort_key=DIRECTORY_SORT_KEY,
                          shard_records=64, now_ms=now * 1000)
    return Site(key.authority)


@dataclass
class Round:
    """One pair's round in one epoch, as one side holds it (the scalar never leaves this object)."""

    partner: Card
    mine: SigningKey              # my round key (R_me)
    theirs: bytes                 # the partner's round public key (R_them)
    party: Party
    double: bytes | None = None   # my doubly-blinded value (their blinded point ^ my scalar)
    their_epoch_key: bytes | None = None
    matched: bool | None = None   # None: not proven yet
    blinded: bytes = b""          # my PsiSet for the round (republished with "ready")
    their_point: bytes | None = None
    their_ready: int | None = None  # their set's seq from which it holds their value for this round
    announced: int | None = None    # the seq of my set I announced as ready


@dataclass
class DoubleReport:
    """What one :meth:`DatingUser.publish_doubles` call did."""

    done: int = 0
    pending: int = 0
    refused: dict[str, NoteError] = field(default_factory=dict)  # partner pseudonym -> why their record was refused


@dataclass
class MatchOutcome:
    """What one :meth:`DatingUser.find_matches` call proved."""

    matches: list[Card] = field(default_factory=list)
    no_match: int = 0
    pending: int = 0
    unproven: int = 0    # every replica asked failed to prove either way: retry later, never "no match"
    frauds: list[Any] = field(default_factory=list)
    proof_bytes: int = 0


def _round_url(key: bytes, epoch: int) -> str:
    return f"note://{authority_of(key)}/dating/round/{epoch}"


def _profile_key_url(key: bytes, epoch: int) -> str:
    return f"note://{authority_of(key)}/dating/profile-key/{epoch}"


def _set_url(epoch_key: bytes, epoch: int) -> str:
    return f"note://{authority_of(epoch_key)}/datasets/dating-{epoch}"


def _takes_direct(net: Any) -> bool:
    """Whether ``net.get_record`` takes ``direct`` (the ring client does; the in-memory network does not)."""
    try:
        return "direct" in inspect.signature(net.get_record).parameters
    except (AttributeError, TypeError, ValueError):
        return False


async def _verified(net: Any, url: str) -> records.Record:
    """The record at ``url``, its signature checked here too (the in-memory network does not).

    On the ring client the replicas computed from its view of the ring are asked first, without a
    lookup (``direct``: one round trip instead of two; a lookup follows when none of them holds the
    record). The answer is the same signed, verified record either way; a replica set guessed wrong can
    only return an older version (a round without ``ready`` yet: still pending, never "no match").
    """
    rec: records.Record = await (net.get_record(url, direct=True) if _takes_direct(net) else net.get_record(url))
    records.verify_record(rec)
    if rec.url != urls.normalize(url):
        raise InvalidRecord("record is for another URL", reason="address-mismatch")
    return rec


class DatingUser:
    """One user's client: keys, card, deck, swipes (local only), rounds, matches."""

    def __init__(self, key: SigningKey, card: Card, profile: dict[str, Any] | None = None) -> None:
        card.verify()
        if card.key != key.public_key:
            raise InvalidRecord("the card is not this user's", reason="bad-card")
        self.key, self.card = key, card
        self.profile = profile or {"pseudonym": card.pseudonym}
        self.profile_key = os.urandom(32)
        self.profile_blob: bytes | None = None
        self.deck: list[Card] = []
        self.likes: set[bytes] = set()
        self.epoch: int | None = None
        self.epoch_key: SigningKey | None = None
        self.rounds: dict[bytes, Round] = {}
        self.matches: dict[bytes, Card] = {}
        self.shared: set[bytes] = set()   # matches my profile key is already sealed to (this epoch)
        self.set_version: Any = "read"    # my set's current version when this object published it (else read)

    # -- cards, deck, swipes ------------------------------------------------------------------
    async def load_deck(self, cc: Any, site: Site, age: tuple[int, int], *, min_shared: int = 1) -> list[Card]:
        """A verified query over the site's directory: my region, ``age`` (inclusive), shared interests."""
        rng = [[self.card.region, age[0]], [self.card.region, age[1] + 1]]
        args = {"interests": list(self.card.interests), "min_shared": min_shared}
        res = await cc.query(site.deck_url, site.directory_url, args, range=rng)
        if not res.verification.ok:
            raise InvalidRecord(f"deck query not verified: {res.verification.errors}", reason="unverified")
        deck = []
        for raw in res.records:
            try:
                card = Card.decode(raw)  # each card is signed by its owner: the site cannot forge users
            except NoteError:
                continue
            if card.key != self.key.public_key:
                deck.append(card)
        self.deck = deck[:DECK_SIZE]
        return self.deck

    def swipe(self, card: Card, like: bool) -> None:
        """Like or pass; stays in this object (nothing is published)."""
        if card.key == self.key.public_key:
            raise ValueError("cannot swipe on yourself")
        (self.likes.add if like else self.likes.discard)(card.key)

    async def publish_profile(self, net: Any) -> bytes:
        """Encrypt the full profile under a fresh key and store it as a blob; returns its address."""
        self.profile_blob = await net.put_blob(encrypt_profile(self.profile_key, self.profile))
        return self.profile_blob

    # -- phase 1: blind -----------------------------------------------------------------------
    async def start_epoch(self, net: Any, epoch: int, *, now: int | None = None) -> int:
        """Draw a fresh epoch key and one fresh scalar per round; publish the blinded sets."""
        now = _now_s() if now is None else now
        self.epoch, self.epoch_key, self.rounds = epoch, SigningKey(os.urandom(32)), {}
        self.shared = set()
        self.set_version = None  # a key made just now: no set under it yet, nothing to read back
        for card in self.deck[:DECK_SIZE]:
            mine, theirs = round_keys(self.key, card.key, epoch)
            party = Party(epoch, ROUND_SET_SIZE)
            liked = {pair_element(self.key.public_key, card.key)} if card.key in self.likes else set()
            blinded = party.blind(liked)  # one point either way: H(pair)^a or a random element
            value = encoding.encode({"set": blinded.encode(), "epoch_key": self.epoch_key.public_key})
            rec = records.sign_record(mine, _round_url(mine.public_key, epoch), seq=epoch + 1, value=value,
                                      created=now)
            await net.put_record(rec)
            self.rounds[card.key] = Round(card, mine, theirs, party, blinded=blinded.encode())
        return len(self.rounds)

    # -- phase 2: double ----------------------------------------------------------------------
    async def read_round(self, net: Any, rnd: Round) -> PsiSet:
        """The partner's blinded set for this round: signed by their round key, this epoch, one point.

        Also reads ``ready``: the sequence number of the partner's published set
        from which it holds their doubly-blinded value for this round.
        """
        assert self.epoch is not None
        rec = await _verified(net, _round_url(rnd.theirs, self.epoch))
        try:
            v = encoding.decode(rec.value or b"")
        except InvalidEncoding as exc:
            raise InvalidEncoding(f"round record is not canonical CBOR: {exc.message}", reason="bad-round") from exc
        if not isinstance(v, dict) or not {"set", "epoch_key"} <= set(v) <= {"set", "epoch_key", "ready"} or \
                type(v["set"]) is not bytes or type(v["epoch_key"]) is not bytes or len(v["epoch_key"]) != 32 or \
                ("ready" in v and (type(v["ready"]) is not int or v["ready"] < 1)):
            raise InvalidEncoding("a round record is {set, epoch_key, ready?}", reason="bad-round")
        s = PsiSet.decode(v["set"], kind=BLINDED, epoch=self.epoch, size=ROUND_SET_SIZE)
        if rnd.their_point is not None and (s.points[0] != rnd.their_point or v["epoch_key"] != rnd.their_epoch_key):
            raise InvalidRecord("the partner changed its blinded point or epoch key within the epoch",
                                reason="round-changed")
        rnd.their_point, rnd.their_epoch_key = s.points[0], v["epoch_key"]
        rnd.their_ready = v.get("ready")
        return s

    async def publish_doubles(self, net: Any, *, now: int | None = None) -> DoubleReport:
        """Doubly-blind every partner's point that is published; publish my padded set.

        Rounds whose partner has not published yet stay pending (run again
        later: the set is republished with a higher sequence number). A
        partner's record that fails a check (signature, epoch, size, group)
        is refused with its typed error in ``refused``; that round gets no
        value and the other rounds go on.
        """
        assert self.epoch is not None and self.epoch_key is not None
        now = _now_s() if now is None else now
        report = DoubleReport()
        for rnd in self.rounds.values():
            if rnd.double is None:
                try:
                    theirs = await self.read_round(net, rnd)
                    rnd.double = rnd.party.double(theirs).points[0]
                except NotFound:
                    report.pending += 1
                    continue
                except NoteError as exc:
                    rnd.their_epoch_key = rnd.their_point = None
                    report.refused[rnd.partner.pseudonym] = exc
                    continue
            report.done += 1
        points = {r.double for r in self.rounds.values() if r.double is not None}
        while len(points) < DECK_SIZE:
            points.add(random_point())
        pub = await publish_set(net, self.epoch_key, f"dating-{self.epoch}", sorted(points), now_ms=now * 1000,
                                previous=self.set_version)
        self.set_version = published_manifest(pub)
        # Tell each partner whose value my set now holds: "ready from seq S" on my round record.
        for rnd in self.rounds.values():
            if rnd.double is not None and rnd.announced is None:
                value = encoding.encode({"set": rnd.blinded, "epoch_key": self.epoch_key.public_key,
                                         "ready": pub.record.seq})
                await net.put_record(records.sign_record(rnd.mine, _round_url(rnd.mine.public_key, self.epoch),
                                                         seq=pub.record.seq, value=value, created=now))
                rnd.announced = pub.record.seq
        return report

    # -- phase 3: match -----------------------------------------------------------------------
    async def find_matches(self, cc: Any, site: Site, net: Any) -> MatchOutcome:
        """Prove, round by round, whether my doubly-blinded value is in the partner's set."""
        assert self.epoch is not None
        out = MatchOutcome()
        todo = []
        for rnd in self.rounds.values():
            if rnd.matched is not None:
                if rnd.matched:
                    out.matches.append(rnd.partner)
                else:
                    out.no_match += 1
                continue
            if rnd.double is None:
                out.pending += 1
                continue
            if rnd.their_ready is None:
                try:
                    await self.read_round(net, rnd)  # has the partner's set taken our round in yet?
                except NoteError:
                    out.pending += 1
                    continue
            if rnd.their_ready is None:
                out.pending += 1
                continue
            todo.append(rnd)

        async def one(rnd: Round) -> None:
            assert rnd.double is not None and rnd.their_epoch_key is not None and self.epoch is not None
            report = await match_values(cc, site.psi_url, _set_url(rnd.their_epoch_key, self.epoch), [rnd.double],
                                        min_seq=rnd.their_ready or 0)
            out.frauds.extend(report.frauds)
            out.proof_bytes += report.proof_bytes
            if report.unproven:
                out.unproven += 1
                return
            rnd.matched = bool(report.members)
            if rnd.matched:
                out.matches.append(rnd.partner)
                self.matches[rnd.partner.key] = rnd.partner
            else:
                out.no_match += 1

        async with trio.open_nursery() as nursery:
            for rnd in todo:
                nursery.start_soon(one, rnd)
        return out

    # -- profiles -----------------------------------------------------------------------------
    async def share_profile(self, net: Any, partner: Card, *, now: int | None = None) -> None:
        """Seal my profile key (and the blob address) to a match, at my round key's URL."""
        if partner.key not in self.matches or self.epoch is None:
            raise InvalidRecord("profiles are shared with matches only", reason="not-a-match")
        if partner.key in self.shared:
            return
        if self.profile_blob is None:
            await self.publish_profile(net)
        assert self.profile_blob is not None
        rnd = self.rounds[partner.key]
        sealed = seal_key(self.profile_key + self.profile_blob, partner.key)
        rec = records.sign_record(rnd.mine, _profile_key_url(rnd.mine.public_key, self.epoch), seq=self.epoch + 1,
                                  value=sealed, created=_now_s() if now is None else now)
        await net.put_record(rec)
        self.shared.add(partner.key)

    async def open_profile(self, net: Any, partner: Card) -> dict[str, Any]:
        """A match's full profile: open their sealed key, fetch and decrypt the blob."""
        if partner.key not in self.matches or self.epoch is None:
            raise InvalidRecord("only a match's profile can be opened", reason="not-a-match")
        rnd = self.rounds[partner.key]
        rec = await _verified(net, _profile_key_url(rnd.theirs, self.epoch))
        opened = open_sealed(self.key, rec.value or b"")
        if len(opened) != 64:
            raise InvalidRecord("a sealed profile key is key || blob address", reason="bad-profile")
        return decrypt_profile(opened[:32], await net.get_blob(opened[32:]))


# -- local state (the CLI keeps one user's client between commands) ------------------------------

def user_to_state(u: DatingUser) -> dict[str, Any]:
    """Everything the user's client keeps locally (JSON-able; holds secrets: keep it private)."""
    return {
        "card": u.card.encode().hex(), "profile": u.profile, "profile_key": u.profile_key.hex(),
        "profile_blob": u.profile_blob.hex() if u.profile_blob else None,
        "deck": [c.encode().hex() for c in u.deck], "likes": sorted(k.hex() for k in u.likes),
        "epoch": u.epoch, "epoch_key": u.epoch_key.seed.hex() if u.epoch_key else None,
        "rounds": {k.hex(): {"scalar": r.party.scalar.hex(), "double": r.double.hex() if r.double else None,
                             "their_epoch_key": r.their_epoch_key.hex() if r.their_epoch_key else None,
                             "matched": r.matched, "partner": r.partner.encode().hex(), "blinded": r.blinded.hex(),
                             "their_point": r.their_point.hex() if r.their_point else None,
                             "their_ready": r.their_ready, "announced": r.announced}
                   for k, r in u.rounds.items()},
        "matches": sorted(k.hex() for k in u.matches), "shared": sorted(k.hex() for k in u.shared),
    }


def user_from_state(key: SigningKey, state: dict[str, Any]) -> DatingUser:
    """Rebuild a :class:`DatingUser` saved by :func:`user_to_state` (cards re-verified)."""
    u = DatingUser(key, Card.decode(bytes.fromhex(state["card"])), state.get("profile"))
    u.profile_key = bytes.fromhex(state["profile_key"])
    u.profile_blob = bytes.fromhex(state["profile_blob"]) if state.get("profile_blob") else None
    u.deck = [Card.decode(bytes.fromhex(c)) for c in state.get("deck", [])]
    u.likes = {bytes.fromhex(k) for k in state.get("likes", [])}
    u.epoch = state.get("epoch")
    u.epoch_key = SigningKey(bytes.fromhex(state["epoch_key"])) if state.get("epoch_key") else None
    for k, r in state.get("rounds", {}).items():
        assert u.epoch is not None
        partner = Card.decode(bytes.fromhex(r["partner"]))
        mine, theirs = round_keys(key, partner.key, u.epoch)
        rnd = Round(partner, mine, theirs, Party(u.epoch, ROUND_SET_SIZE, scalar=bytes.fromhex(r["scalar"])),
                    bytes.fromhex(r["double"]) if r["double"] else None,
                    bytes.fromhex(r["their_epoch_key"]) if r["their_epoch_key"] else None, r["matched"],
                    bytes.fromhex(r["blinded"]), bytes.fromhex(r["their_point"]) if r["their_point"] else None,
                    r["their_ready"], r["announced"])
        u.rounds[bytes.fromhex(k)] = rnd
        if r["matched"]:
            u.matches[partner.key] = partner
    u.shared = {bytes.fromhex(k) for k in state.get("shared", [])}
    return u
