"""The dating demo: a population matches privately on a network; every match checked; liars caught.

``run_demo(net, console)`` is what ``make demo`` calls after the shop's demo,
on the same embedded local network (``net``: its ``DemoNet``, or a ring
client or an in-memory network with the ``Client`` methods).
``note-compute dating demo`` runs :func:`main_demo`: an embedded local
network of node processes (``examples.demo.embedded_network``), 200 users by
default, then one round against a lying node that joins that network
(:func:`ring_liar_round`); ``--memory`` runs the same on the in-memory
network instead.

The users act concurrently (``parallel`` of them at a time), as separate
people would; each phase ends before the next starts, so every partner's
record is there when a user looks for it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from note_compute.crypto import SigningKey

from .app import DatingUser, Site, publish_site
from .liar import make_liar
from .population import Population, make_population

__all__ = ["PopulationRun", "liar_round", "main_demo", "ring_liar_round", "run_demo", "run_population"]

PARALLEL = 16
"""Users acting at the same time in :func:`run_population` on a real network (0.79 of the time of one at a
time for 60 users on 6 local nodes; on the in-memory network, all in one process, it gains nothing)."""

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


async def _each(users: list[DatingUser], fn: Callable[[DatingUser], Awaitable[None]], parallel: int,
                progress: Say | None = None) -> None:
    """``fn(u)`` for every user, ``parallel`` at a time (in order when ``parallel`` is 1); ``progress`` is told
    when each quarter of the users is done (a long phase on a real network is not silent)."""
    done = 0
    marks = {len(users) * q // 4 for q in (1, 2, 3)} if progress is not None and len(users) >= 40 else set()

    async def step(u: DatingUser) -> None:
        nonlocal done
        await fn(u)
        done += 1
        if done in marks and progress is not None:
            progress(f"  {fn.__name__}: {done}/{len(users)} users")

    if parallel <= 1:
        for u in users:
            await step(u)
        return
    limiter = trio.CapacityLimiter(parallel)

    async def one(u: DatingUser) -> None:
        async with limiter:
            await step(u)

    async with trio.open_nursery() as nursery:
        for u in users:
            nursery.start_soon(one, u)


async def run_population(net: Any, cc: Any, pop: Population, *, epoch: int = 1, say: Say = lambda s: None,
                         parallel: int = PARALLEL) -> PopulationRun:
    """Publish the site, load every deck, swipe (seeded), run the three phases, open profiles."""
    t0 = time.perf_counter()
    site = await publish_site(net, _site_key(pop.seed), pop.cards)
    users = [DatingUser(k, c, p) for k, c, p in zip(pop.keys, pop.cards, pop.profiles, strict=False)]
    run = PopulationRun(site, users, pop)
    run.seconds["publish"] = time.perf_counter() - t0
    say(f"the site published psi_match, dating_deck and a directory of {len(users)} signed cards")

    t = time.perf_counter()

    async def deck(u: DatingUser) -> None:
        await u.load_deck(cc, site, pop.age_ranges[pop.index(u.key.public_key)])

    # One client resolves each program once before its users start at once (else each of the first
    # ``parallel`` queries misses the client's program cache and fetches the same record and binary).
    await cc.resolve_program(site.deck_url)
    await _each(users, deck, parallel)
    rng = random.Random(pop.seed * 7919 + 1)
    for i, u in enumerate(users):
        for card in u.deck:  # swipes: local to each user's client (seeded, in user order)
            like = rng.random() < pop.like_rate
            u.swipe(card, like)
            if like:
                pop.likes[i].add(card.key)
    run.seconds["decks"] = time.perf_counter() - t
    decks = sum(len(u.deck) for u in users)
    say(f"{len(users)} verified deck queries (region + age range proven complete, shared interests re-run): "
        f"{decks} cards, {sum(len(s) for s in pop.likes)} likes kept on the users' side")

    async def blind(u: DatingUser) -> None:
        started = await u.start_epoch(net, epoch)
        run.rounds += started  # (not ``run.rounds += await ...``: that reads run.rounds before the await)

    async def double(u: DatingUser) -> None:
        await u.publish_doubles(net)

    async def match(u: DatingUser) -> None:
        out = await u.find_matches(cc, site, net)
        run.found[u.key.public_key] = {c.key for c in out.matches}
        run.frauds += len(out.frauds)
        run.proof_bytes += out.proof_bytes

    t = time.perf_counter()
    await cc.resolve_program(site.psi_url)  # once, as for the decks (the match phase's queries all run it)
    await _each(users, blind, parallel, say)
    t1 = time.perf_counter()
    await _each(users, double, parallel, say)
    t2 = time.perf_counter()
    await _each(users, match, parallel, say)
    t3 = time.perf_counter()
    run.seconds.update(blind=t1 - t, double=t2 - t1, match=t3 - t2, matching=t3 - t)
    say(f"epoch {epoch}: {run.rounds} rounds blinded, doubled and matched on peers in {t3 - t:.1f} s "
        f"(blind {t1 - t:.1f} s, double {t2 - t1:.1f} s, match with proofs {t3 - t2:.1f} s)")

    t = time.perf_counter()

    async def share(u: DatingUser) -> None:
        for card in list(u.matches.values()):
            await u.share_profile(net, card)

    await _each(users, share, parallel)
    run.seconds["profiles"] = time.perf_counter() - t
    return run


async def _trio_round(net: Any, cc: Any, site: Site, epoch: int,
                      before_match: Callable[[list[DatingUser]], Awaitable[None]],
                      deck_cc: Any = None) -> tuple[bool, int, list[Any]]:
    """Users a, b, c of :func:`_trio_population`: a and b like each other, c likes a (one-sided).

    Loads the decks (with ``deck_cc``, default ``cc``), runs blind and double, then
    ``before_match(users)`` (where the liars are set up), then every user's match with ``cc``. Returns
    (every answer right, fraud proofs found while matching, those proofs)."""
    pop = _trio_population()
    a, b, c = users = [DatingUser(k, card) for k, card in zip(pop.keys, pop.cards, strict=True)]
    for u in users:
        await u.load_deck(deck_cc or cc, site, (18, 99))
    a.swipe(pop.cards[1], True)
    b.swipe(pop.cards[0], True)   # a and b: mutual
    c.swipe(pop.cards[0], True)   # c likes a, a passes: one-sided
    for u in users:
        await u.start_epoch(net, epoch)
    for u in users:
        await u.publish_doubles(net)
    await before_match(users)
    res = [await u.find_matches(cc, site, net) for u in users]
    frauds = [fp for r in res for fp in r.frauds]
    ok = ({m.key for m in res[0].matches} == {b.key.public_key} and {m.key for m in res[1].matches} ==
          {a.key.public_key} and not res[2].matches and all(r.pending == r.unproven == 0 for r in res))
    return ok, len(frauds), frauds


def _what(lie: str) -> str:
    return "hides a real match" if lie == "drop" else "invents a match that is not there"


async def liar_round(sandbox: Any, say: Say = lambda s: None) -> dict[str, Any]:
    """One round against lying peers on an in-memory network: a dropped and an invented match, both caught."""
    from note_compute.compute.client import ComputeClient
    from note_compute.testing.compute import ComputeNetwork

    out: dict[str, Any] = {}
    for lie in ("drop", "invent"):
        net = ComputeNetwork(8, sandbox, liars_first=True, seed=11)
        site = await publish_site(net, _site_key(99), _trio_population().cards)
        cc = ComputeClient(net, sandbox, shuffle=False)

        async def liars(users: list[DatingUser], lie: str = lie, net: Any = net) -> None:
            # 3 of 8 (0, 3, 6): every replica triple (r = 3, consecutive) holds a liar, asked first
            # (liars_first), and an honest peer: every query meets the lie, every value can be proven
            for p in net.peers[0:8:3]:
                make_liar(net, p, lie)

        ok, frauds, _ = await _trio_round(net, cc, site, 1, liars)
        out[lie] = {"frauds": frauds, "correct": ok, "blocked": len(cc.blocked)}
        say(f"in-memory network: 3 of 8 peers each {_what(lie)} and sign it: {frauds} fraud proof(s) checked by "
            f"re-running psi_match on the proven range, {len(cc.blocked)} liar(s) blocked; "
            f"every answer still right: {ok}")
    return out


async def ring_liar_round(bootstrap: list[str], peers: list[Any], client: Any, sandbox: Any,
                          say: Say = lambda s: None, *, timeout: float = 120.0) -> dict[str, Any]:
    """The liar round on the real local network: a lying node joins it, is asked first, lies, is caught.

    A node process (:mod:`note_compute.testing.lying_node` telling :mod:`.liar`'s lies: libp2p, its own
    store) joins the running local network at ``bootstrap``; once the ring (``peers``, its nodes, and the
    liar) is stable, users a, b, c run one epoch. a and b republish their doubly-blinded sets (fresh
    padding, so a new shard address) until the lying node is one of the replicas of each set's shard, and
    the client asks replicas in an order that puts it first (``AskFirst``; the order is each client's own
    choice, by default a random rotation). It lies (``drop``: it
    hides a and b's match; ``invent``: it claims c's value is in a's set); the client convicts it from its
    own signed answer and proof, blocks it, gets the right answer from the next replica, and stores the
    fraud proof in the ring under the liar's id, where the nodes check it before keeping it.
    """
    import tempfile
    from pathlib import Path

    from note_compute.compute.client import ComputeClient
    from note_compute.compute.registry import RingFraudRegistry
    from note_compute.devnet import collect_status, ring_is_stable, wait_until
    from note_compute.testing.lying_node import AskFirst, lying_node

    from .app import _set_url
    from .liar import LIES_SPEC

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="dating-liar-") as tmp:
        async with lying_node(bootstrap, Path(tmp) / "liar", lies=LIES_SPEC, timeout=timeout) as liar:
            liar_id = liar.node_id

            async def joined() -> bool:
                ring = [*peers, liar.peer]
                statuses = await collect_status(client, ring, timeout=2.0)
                return len(statuses) == len(ring) and ring_is_stable(statuses, 3)

            await wait_until(joined, timeout, what="a stable ring with the lying node")
            say(f"a lying node {liar_id.hex()[:12]} (its own process) joined the local network ({len(peers)} + 1 "
                "nodes, real libp2p connections; the ring is stable)")
            site = await publish_site(client, _site_key(99), _trio_population().cards)
            for epoch, lie in ((1_000_001, "drop"), (1_000_002, "invent")):
                liar.lie(lie)
                cc = ComputeClient(AskFirst(client, {liar_id}), sandbox, shuffle=False)
                tries: list[int] = []

                async def place(users: list[DatingUser], cc: Any = cc, tries: list[int] = tries) -> None:
                    for u in users[:2]:  # a's and b's sets: every query of this round that can meet the lie
                        assert u.epoch_key is not None and u.epoch is not None
                        url = _set_url(u.epoch_key.public_key, u.epoch)
                        seq = 0
                        for n in range(48):
                            async def fresh(url: str = url, seq: int = seq) -> bool:
                                return bool((await cc.latest_manifest(url)).seq >= seq)

                            await wait_until(fresh, timeout, what="the ring serving the newest set")
                            m = await cc.latest_manifest(url)
                            if liar_id in {p.id_bytes for p in await client.replicas(m.shards[0].blob)}:
                                tries.append(n + 1)
                                break
                            await u.publish_doubles(client)  # new random padding: a new shard address
                            seq = m.seq + 1
                        else:
                            raise AssertionError("the lying node was never a replica of the set")

                # decks through a client of its own: the match queries are the ones that meet the lie first
                ok, frauds, proofs = await _trio_round(client, cc, site, epoch, place, ComputeClient(client, sandbox))
                caught = {fp.peer for fp in proofs}
                stored = 0
                for fp in proofs[:1]:
                    await RingFraudRegistry(client).publish(fp)
                    stored = len(await client.get_evidence(liar_id))
                out[lie] = {"frauds": frauds, "correct": ok, "blocked": liar_id in cc.blocked,
                            "convicted": caught == {liar_id}, "stored": stored, "publishes": tries}
                say(f"local network: the lying node {_what(lie)} and signs it (a replica of a's and b's sets "
                    f"after {'+'.join(map(str, tries))} publish(es), asked first): {frauds} fraud proof(s), "
                    f"convicted only the liar: {caught == {liar_id}}, blocked: {liar_id in cc.blocked}, "
                    f"proofs held by the ring against it: {stored}; every answer still right: {ok}")
    say("the lying node left the ring")
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


async def _population_and_liars(net: Any, users: int, seed: int, say: Say,
                                parallel: int = PARALLEL) -> tuple[PopulationRun, dict[str, Any]]:
    """The population on ``net`` (a ``DemoNet``, a ring client or an in-memory network), checked against the
    ground truth, a few matches and opened profiles shown, then the liar round: on the local network when
    ``net`` is one (a lying node joins it), else on an in-memory network."""
    from note_compute.compute.client import ComputeClient
    from note_compute.sandbox import Sandbox

    transport = getattr(net, "client", net)
    with Sandbox() as sandbox:
        cc = ComputeClient(transport, sandbox)
        run = await run_population(transport, cc, make_population(users, seed=seed), say=say, parallel=parallel)
        run.check_ground_truth()
        say(f"checked: every user's matches equal the ground truth ({len(run.pop.mutual())} mutual pairs, each "
            f"found by both sides; one-sided likes found by nobody); {run.proof_bytes // max(1, 2 * run.rounds)} "
            "bytes of answers+proofs per match query")
        await _show(run, transport, say)
        devnet = getattr(net, "devnet", None)
        if devnet is not None:
            from note_compute.devnet import devnet_peers

            result = await ring_liar_round(devnet.bootstrap, devnet_peers(devnet), transport, sandbox, say)
            assert all(r["correct"] and r["frauds"] and r["blocked"] and r["convicted"] for r in result.values()), \
                result
        else:
            result = await liar_round(sandbox, say)
            assert all(r["correct"] and r["frauds"] for r in result.values()), result
        return run, result


async def run_demo(net: Any, console: Any = None, *, users: int = 24, seed: int = 1) -> None:
    """The dating part of ``make demo`` on ``net`` (the shop's network); raises AssertionError on failure."""
    await _population_and_liars(net, users, seed, _say(console))


async def main_demo(users: int = 200, seed: int = 1, console: Any = None, *, nodes: int = 6,
                    memory: bool = False) -> PopulationRun:
    """``note-compute dating demo``: an embedded local network of ``nodes`` node processes (``memory``: an
    in-memory network of 8 compute peers instead)."""
    say = _say(console)
    if memory:
        from note_compute.sandbox import Sandbox
        from note_compute.testing.compute import ComputeNetwork

        with Sandbox() as sandbox:
            net = ComputeNetwork(8, sandbox)
            say(f"embedded network: 8 compute peers (in memory), {users} users, seed {seed}")
            run, _ = await _population_and_liars(net, users, seed, say, parallel=1)  # one process: no gain
        return run
    import tempfile
    from pathlib import Path

    from examples.demo import embedded_network

    with tempfile.TemporaryDirectory(prefix="note-dating-") as tmp:
        async with embedded_network(nodes, Path(tmp), say) as dnet:
            say(f"{users} users, seed {seed}, on the local network of {nodes} node processes")
            run, _ = await _population_and_liars(dnet, users, seed, say)
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
