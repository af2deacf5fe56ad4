"""The dating demo: a population matches privately on a network; every match checked; liars caught.

``run_demo(net, console)`` is what ``make demo`` calls after the shop's demo,
on the same network (``net``: a ring client or an in-memory network with the
``Client`` methods). ``note-compute dating demo`` runs :func:`main_demo` on an
embedded in-memory network of compute peers (default 200 users).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from note_compute.crypto import SigningKey

from .app import DatingUser, Site, publish_site
from .liar import make_liar
from .population import Population, make_population

__all__ = ["PopulationRun", "liar_round", "main_demo", "run_demo", "run_population"]

Say = Callable[[str], None]


@dataclass
class PopulationRun:
    site: Site
    users: list[DatingUser]
    pop: Population
    found: dict[bytes, set[bytes]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    rounds: int = 0
    frauds: int = 0
    proof_bytes: int = 0

    def check_ground_truth(self) -> None:
        """Every user's proven matches are exactly their mutual likes (raises AssertionError)."""
        for i, u in enumerate(self.users):
            want = {k for k in self.pop.likes[i] if u.key.public_key in self.pop.likes[self.pop.index(k)]}
            got = self.found.get(u.key.public_key, set())
            if got != want:
                raise AssertionError(f"user {u.card.pseudonym}: matched {len(got)}, ground truth {len(want)}")


def _site_key(seed: int) -> SigningKey:
    import hashlib

    return SigningKey(hashlib.sha256(b"dating-site-%d" % seed).digest())


async def run_population(net: Any, cc: Any, pop: Population, *, epoch: int = 1,
                         say: Say = lambda s: None) -> PopulationRun:
    """Publish the site, load every deck, swipe (seeded), run the three phases, open profiles."""
    t0 = time.perf_counter()
    site = await publish_site(net, _site_key(pop.seed), pop.cards)
    users = [DatingUser(k, c, p) for k, c, p in zip(pop.keys, pop.cards, pop.profiles, strict=False)]
    run = PopulationRun(site, users, pop)
    run.seconds["publish"] = time.perf_counter() - t0
    say(f"the site published psi_match, dating_deck and a directory of {len(users)} signed cards")

    t = time.perf_counter()
    rng = random.Random(pop.seed * 7919 + 1)
    for i, u in enumerate(users):
        await u.load_deck(cc, site, pop.age_ranges[i])
        for card in u.deck:  # swipes: local to each user's client
            like = rng.random() < pop.like_rate
            u.swipe(card, like)
            if like:
                pop.likes[i].add(card.key)
    run.seconds["decks"] = time.perf_counter() - t
    decks = sum(len(u.deck) for u in users)
    say(f"{len(users)} verified deck queries (region + age range proven complete, shared interests re-run): "
        f"{decks} cards, {sum(len(s) for s in pop.likes)} likes kept on the users' side")

    t = time.perf_counter()
    for u in users:
        run.rounds += await u.start_epoch(net, epoch)
    t1 = time.perf_counter()
    for u in users:
        await u.publish_doubles(net)
    t2 = time.perf_counter()
    for u in users:
        out = await u.find_matches(cc, site, net)
        run.found[u.key.public_key] = {c.key for c in out.matches}
        run.frauds += len(out.frauds)
        run.proof_bytes += out.proof_bytes
    t3 = time.perf_counter()
    run.seconds.update(blind=t1 - t, double=t2 - t1, match=t3 - t2, matching=t3 - t)
    say(f"epoch {epoch}: {run.rounds} rounds blinded, doubled and matched on peers in {t3 - t:.1f} s "
        f"(blind {t1 - t:.1f} s, double {t2 - t1:.1f} s, match with proofs {t3 - t2:.1f} s)")

    t = time.perf_counter()
    for u in users:
        for card in list(u.matches.values()):
            await u.share_profile(net, card)
    run.seconds["profiles"] = time.perf_counter() - t
    return run


async def liar_round(sandbox: Any, say: Say = lambda s: None) -> dict[str, Any]:
    """One round against lying peers on an in-memory network: a dropped and an invented match, both caught."""
    from note_compute.compute.client import ComputeClient
    from note_compute.testing.compute import ComputeNetwork

    out: dict[str, Any] = {}
    for lie in ("drop", "invent"):
        net = ComputeNetwork(8, sandbox, liars_first=True, seed=11)
        pop = _trio_population()
        site = await publish_site(net, _site_key(99), pop.cards)
        cc = ComputeClient(net, sandbox, shuffle=False)
        a, b, c = (DatingUser(k, card) for k, card in zip(pop.keys, pop.cards, strict=True))
        for u in (a, b, c):
            await u.load_deck(cc, site, (18, 99))
        a.swipe(pop.cards[1], True)
        b.swipe(pop.cards[0], True)   # a and b: mutual
        c.swipe(pop.cards[0], True)   # c likes a, a passes: one-sided
        for u in (a, b, c):
            await u.start_epoch(net, 1)
        for u in (a, b, c):
            await u.publish_doubles(net)
        for p in net.peers[0:6:2]:  # 3 of 8, never all the replicas of one key (r = 3, consecutive)
            make_liar(net, p, lie)
        res = {u.card.pseudonym: await u.find_matches(cc, site, net) for u in (a, b, c)}
        frauds = sum(len(r.frauds) for r in res.values())
        ok = ({m.key for m in res[a.card.pseudonym].matches} == {b.key.public_key}
              and {m.key for m in res[b.card.pseudonym].matches} == {a.key.public_key}
              and not res[c.card.pseudonym].matches)
        out[lie] = {"frauds": frauds, "correct": ok, "blocked": len(cc.blocked)}
        what = "hide a real match" if lie == "drop" else "invent a match that is not there"
        say(f"in-memory network: 3 of 8 peers {what} and sign it: {frauds} fraud proof(s) checked by "
            f"re-running psi_match on the proven range, {len(cc.blocked)} liar(s) blocked; "
            f"every answer still right: {ok}")
    return out


def _trio_population() -> Population:
    """Three users in one region, same age and interests: each is in the others' decks."""
    from .model import make_card

    base = make_population(3, seed=5)
    cards = [
        make_card(k, c.pseudonym, 30, "north", ["chess", "jazz"]) for k, c in zip(base.keys, base.cards, strict=False)
    ]
    return Population(base.keys, cards, base.profiles, [(18, 99)] * 3, 0.0, 5)


async def _show(run: PopulationRun, net: Any, say: Say, count: int = 3) -> None:
    shown = 0
    for u in run.users:
        if not u.matches or shown >= count:
            continue
        shown += 1
        names = ", ".join(c.pseudonym for c in u.matches.values())
        say(f"  {u.card.pseudonym} ({u.card.age}, {u.card.region}) matched: {names}")
        card = next(iter(u.matches.values()))
        prof = await u.open_profile(net, card)
        say(f"    opened {card.pseudonym}'s sealed profile: {prof.get('bio')!r} <{prof.get('contact')}>")


async def run_demo(net: Any, console: Any = None, *, users: int = 24, seed: int = 1) -> None:
    """The dating part of ``make demo`` on ``net`` (the shop's network); raises AssertionError on failure."""
    from note_compute.compute.client import ComputeClient
    from note_compute.sandbox import Sandbox

    say = _say(console)
    transport = getattr(net, "client", net)
    with Sandbox() as sandbox:
        cc = ComputeClient(transport, sandbox)
        run = await run_population(transport, cc, make_population(users, seed=seed), say=say)
        run.check_ground_truth()
        pairs = len(run.pop.mutual())
        say(f"every user's matches equal the ground truth ({pairs} mutual pairs, each found by both sides); "
            f"one-sided likes found by nobody")
        await _show(run, transport, say)
        result = await liar_round(sandbox, say)
        assert all(r["correct"] and r["frauds"] for r in result.values()), result


async def main_demo(users: int = 200, seed: int = 1, console: Any = None) -> PopulationRun:
    """``note-compute dating demo``: an embedded in-memory network of 8 compute peers."""
    from note_compute.compute.client import ComputeClient
    from note_compute.sandbox import Sandbox
    from note_compute.testing.compute import ComputeNetwork

    say = _say(console)
    with Sandbox() as sandbox:
        net = ComputeNetwork(8, sandbox)
        say(f"embedded network: 8 compute peers (in memory), {users} users, seed {seed}")
        cc = ComputeClient(net, sandbox)
        run = await run_population(net, cc, make_population(users, seed=seed), say=say)
        run.check_ground_truth()
        say(
            f"checked: every user's matches equal the ground truth ({len(run.pop.mutual())} mutual pairs, "
            f"found by both sides); {run.proof_bytes // max(1, 2 * run.rounds)} bytes of answers+proofs per match query"
        )
        await _show(run, net, say)
        result = await liar_round(sandbox, say)
        assert all(r["correct"] and r["frauds"] for r in result.values()), result
        return run


def _say(console: Any) -> Say:
    t0 = time.monotonic()

    def say(msg: str) -> None:
        line = f"[{time.monotonic() - t0:5.1f}s] {msg}"
        if console is not None and hasattr(console, "print"):
            console.print(line, markup=False, highlight=False) if _is_rich(console) else console.print(line)
        else:
            print(line, flush=True)

    return say


def _is_rich(console: Any) -> bool:
    return type(console).__module__.startswith("rich")
