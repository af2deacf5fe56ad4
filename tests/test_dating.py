"""The dating example: matching, privacy as observable facts, lying peers, bad input, asynchrony."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from examples.dating import app as dating
from examples.dating.app import DatingUser, publish_site, user_from_state, user_to_state
from examples.dating.demo import _trio_population, liar_round, run_population
from examples.dating.liar import make_liar
from examples.dating.model import Card, make_card, open_sealed, pair_element, round_keys
from examples.dating.population import make_population
from note_compute import encoding, records
from note_compute.compute.client import ComputeClient
from note_compute.crypto import SigningKey
from note_compute.errors import InvalidEncoding, InvalidRecord, InvalidSignature
from note_compute.psi import (
    BLINDED,
    EpochMismatch,
    InvalidPoint,
    Party,
    PsiSet,
    SetSizeError,
    group,
)
from note_compute.testing.compute import ComputeNetwork

SITE = SigningKey(b"\x07" * 32)



async def _three(sandbox: Any, net: Any, likes: dict[int, list[int]]) -> tuple[list[DatingUser], Any, Any]:
    """Users 0, 1, 2 (each in the others' decks); ``likes[i]`` = whom i likes; one epoch run to the end."""
    pop = _trio_population()
    site = await publish_site(net, SITE, pop.cards)
    cc = ComputeClient(net, sandbox)
    users = [DatingUser(k, c, {"bio": f"user {i}"}) for i, (k, c) in enumerate(zip(pop.keys, pop.cards, strict=False))]
    for i, u in enumerate(users):
        await u.load_deck(cc, site, (18, 99))
        assert {c.key for c in u.deck} == {v.key.public_key for v in users if v is not u}
        for j in likes.get(i, []):
            u.swipe(pop.cards[j], True)
    for u in users:
        await u.start_epoch(net, 1)
    for u in users:
        await u.publish_doubles(net)
    return users, cc, site


async def test_a_mutual_like_is_found_by_both_and_opens_the_profiles(sandbox: Any) -> None:
    net = ComputeNetwork(6, sandbox)
    users, cc, site = await _three(sandbox, net, {0: [1, 2], 1: [0], 2: []})  # 0<->1 mutual, 0->2 one-sided
    outs = [await u.find_matches(cc, site, net) for u in users]
    assert [c.key for c in outs[0].matches] == [users[1].key.public_key]
    assert [c.key for c in outs[1].matches] == [users[0].key.public_key]
    assert outs[2].matches == [] and outs[2].no_match == 2 and outs[0].no_match == 1
    for u in users[:2]:
        await u.share_profile(net, next(iter(u.matches.values())))
    assert await users[0].open_profile(net, users[1].card) == {"bio": "user 1"}
    assert await users[1].open_profile(net, users[0].card) == {"bio": "user 0"}
    with pytest.raises(InvalidRecord, match="matches only"):
        await users[0].share_profile(net, users[2].card)
    with pytest.raises(InvalidRecord, match="only a match"):
        await users[2].open_profile(net, users[0].card)
    # the sealed key opens for the match only, not for user 2 who can read the record
    rnd = users[0].rounds[users[1].key.public_key]
    sealed = (await net.get_record(dating._profile_key_url(rnd.mine.public_key, 1))).value
    with pytest.raises(InvalidSignature):
        open_sealed(users[2].key, sealed)


async def test_liars_that_drop_or_invent_a_match_are_caught(sandbox: Any) -> None:
    result = await liar_round(sandbox)
    for lie in ("drop", "invent"):
        assert result[lie]["correct"], result
        assert result[lie]["frauds"] >= 1 and result[lie]["blocked"] >= 1, result


async def test_every_peer_dropping_matches_cannot_hide_one(sandbox: Any) -> None:
    net = ComputeNetwork(5, sandbox)
    users, cc, site = await _three(sandbox, net, {0: [1], 1: [0]})
    for p in net.peers:
        make_liar(net, p, "drop")
    out = await users[0].find_matches(cc, site, net)
    # every replica lies: each lie is convicted from its own signed output and proof, and the round is
    # reported unproven (retry later), never "no match"
    assert out.frauds and all(p.node_id in cc.blocked for p in net.peers if p.calls)
    assert out.matches == [] and out.unproven == 1 and out.no_match == 1  # (user 2: nothing to hide)
    assert users[0].rounds[users[1].key.public_key].matched is None


async def test_population_matches_equal_the_ground_truth(sandbox: Any) -> None:
    net = ComputeNetwork(8, sandbox)
    run = await run_population(net, ComputeClient(net, sandbox), make_population(30, seed=4))
    run.check_ground_truth()
    assert run.pop.mutual(), "the seed should give some mutual pairs"
    assert run.rounds == sum(len(u.deck) for u in run.users) > 0   # users ran concurrently: every round counted
    # one user at a time: the same seeded likes, the same matches
    one = await run_population(net, ComputeClient(net, sandbox), make_population(30, seed=4), epoch=2, parallel=1)
    one.check_ground_truth()
    assert one.found == run.found and one.rounds == run.rounds
    for u in run.users:
        for card in u.matches.values():
            partner = run.users[run.pop.index(card.key)]
            assert u.key.public_key in partner.matches  # found by both sides
            assert (await partner.open_profile(net, u.card))["pseudonym"] == u.card.pseudonym


async def test_rounds_run_asynchronously_and_survive_a_restart(sandbox: Any) -> None:
    net = ComputeNetwork(6, sandbox)
    pop = _trio_population()
    site = await publish_site(net, SITE, pop.cards)
    cc = ComputeClient(net, sandbox)
    a, b = DatingUser(pop.keys[0], pop.cards[0]), DatingUser(pop.keys[1], pop.cards[1])
    for u, other in ((a, pop.cards[1]), (b, pop.cards[0])):
        await u.load_deck(cc, site, (18, 99))
        u.swipe(other, True)
    await a.start_epoch(net, 5)
    saved = user_to_state(a)                      # a goes offline with its round scalars
    await b.start_epoch(net, 5)
    await b.publish_doubles(net)
    early = await b.find_matches(cc, site, net)   # a's set is not there yet
    assert early.pending == 2 and not early.matches
    a2 = user_from_state(a.key, encoding.decode(encoding.encode(saved)))  # back online later
    assert a2.rounds[b.key.public_key].party.scalar == a.rounds[b.key.public_key].party.scalar
    await a2.publish_doubles(net)
    assert [c.key for c in (await a2.find_matches(cc, site, net)).matches] == [b.key.public_key]
    assert [c.key for c in (await b.find_matches(cc, site, net)).matches] == [a.key.public_key]


# ---------------------------------------------------------------- bad input

async def _ab(sandbox: Any) -> tuple[ComputeNetwork, DatingUser, DatingUser]:
    net = ComputeNetwork(4, sandbox)
    pop = _trio_population()
    site = await publish_site(net, SITE, pop.cards)
    cc = ComputeClient(net, sandbox)
    a, b, c = (DatingUser(k, card) for k, card in zip(pop.keys, pop.cards, strict=True))
    for u in (a, b, c):
        await u.load_deck(cc, site, (18, 99))
        await u.start_epoch(net, 3)
    return net, a, b


def _forge_round(net: ComputeNetwork, b: DatingUser, a: DatingUser, epoch: int, value: bytes,
                 key: SigningKey | None = None) -> None:
    """Store, as b's round record for the pair, ``value`` signed by b's round key (or ``key``)."""
    mine, _ = round_keys(b.key, a.key.public_key, 3)
    url = dating._round_url(mine.public_key, 3)
    signer = key or mine
    rec = records.sign_record(signer, url, seq=99, value=value, created=1) if key is None else \
        dataclasses.replace(records.sign_record(signer, f"note://{signer.authority}/x", seq=99, value=value,
                                                created=1), url=url)
    net.records.setdefault(url, []).append(rec)


def _round_value(points: list[bytes], *, epoch: int = 3, size: int | None = None) -> bytes:
    body = {"kind": BLINDED, "epoch": epoch, "size": len(points) if size is None else size,
            "points": b"".join(sorted(points))}
    return encoding.encode({"set": encoding.encode(body), "epoch_key": b"\x01" * 32})


@pytest.mark.parametrize("bad, error, message", [
    (_round_value([b"\x00" * 32]), InvalidPoint, "not a ristretto255 group element"),
    (_round_value([(2**255 - 19 + 2).to_bytes(32, "little")]), InvalidPoint, "not a ristretto255"),
    ("two points", SetSizeError, "the round fixes 1"),
    ("old epoch", EpochMismatch, "epoch 2"),
    (encoding.encode({"set": b"junk", "epoch_key": b"\x01" * 32}), InvalidEncoding, "not canonical CBOR"),
    (encoding.encode({"points": b""}), InvalidEncoding, "a round record is"),
])
async def test_bad_round_records_are_refused_and_the_other_rounds_go_on(sandbox: Any, bad: Any, error: type,
                                                                      message: str) -> None:
    net, a, b = await _ab(sandbox)
    if bad == "two points":
        bad = _round_value([group.random_point(), group.random_point()])
    elif bad == "old epoch":
        bad = _round_value([Party(2, 1).blind(set()).points[0]], epoch=2)
    _forge_round(net, b, a, 3, bad)
    report = await a.publish_doubles(net)
    refused = report.refused[b.card.pseudonym]
    assert isinstance(refused, error) and message in str(refused)
    assert a.rounds[b.key.public_key].double is None      # nothing computed or published for that round
    assert report.done == 1                               # the round with user 2 went on
    published = await net.get_record(dating._set_url(a.epoch_key.public_key, 3))  # type: ignore[union-attr]
    assert published is not None


async def test_tampered_and_unsigned_round_records_are_refused(sandbox: Any) -> None:
    net, a, b = await _ab(sandbox)
    mine, _ = round_keys(b.key, a.key.public_key, 3)
    url = dating._round_url(mine.public_key, 3)
    good = net.records[url][-1]
    pts = PsiSet.decode(encoding.decode(good.value)["set"], kind=BLINDED, epoch=3, size=1).points
    other = encoding.encode({"set": PsiSet(BLINDED, 3, (group.random_point(),)).encode(),
                             "epoch_key": encoding.decode(good.value)["epoch_key"]})
    assert other != good.value and pts
    for bad in (dataclasses.replace(good, value=other),         # tampered
                dataclasses.replace(good, signature=bytes(64))):    # unsigned
        net.records[url].append(bad)
        assert isinstance((await a.publish_doubles(net)).refused[b.card.pseudonym], InvalidSignature)
    _forge_round(net, b, a, 3, other, key=SigningKey(b"\x09" * 32))            # signed by a stranger
    assert isinstance((await a.publish_doubles(net)).refused[b.card.pseudonym], InvalidSignature)
    assert a.rounds[b.key.public_key].double is None
    net.records[url].append(good)                                              # the real one: accepted
    assert (await a.publish_doubles(net)).refused == {}
    assert a.rounds[b.key.public_key].double is not None


async def test_a_forged_card_never_enters_a_deck(sandbox: Any) -> None:
    net = ComputeNetwork(4, sandbox)
    pop = _trio_population()
    real = pop.cards
    forged = dataclasses.replace(make_card(SigningKey(b"\x05" * 32), "fake", 30, "north", ["chess"]),
                                 key=real[2].key)  # the site slips in a card claiming user 2's key
    with pytest.raises(InvalidSignature):
        forged.verify()
    site = SigningKey(b"\x06" * 32)
    await publish_site(net, site, real[:2])
    from note_compute.compute.publish import publish_dataset

    await publish_dataset(net, site, [c.encode() for c in real[:2]] + [forged.encode()], name=dating.DIRECTORY,
                          sort_key=["region", "age", "id"], now_ms=2**41)
    u = DatingUser(pop.keys[0], real[0])
    deck = await u.load_deck(ComputeClient(net, sandbox), dating.Site(site.authority), (18, 99))
    assert [c.pseudonym for c in deck] == [real[1].pseudonym]


def test_card_rules() -> None:
    k = SigningKey(b"\x01" * 32)
    card = make_card(k, "ann", 30, "North", ["Jazz", "chess", "jazz"])
    assert card.interests == ("chess", "jazz") and card.region == "north"
    assert Card.decode(card.encode()) == card
    for bad in ({"age": 17}, {"pseudonym": "a b"}, {"region": "Ünïcode"}, {"interests": [f"i{n}" for n in range(13)]}):
        args = {"pseudonym": "ann", "age": 30, "region": "north", "interests": ["chess"]} | bad
        with pytest.raises(InvalidRecord):
            make_card(k, **args)  # type: ignore[arg-type]
    assert pair_element(b"\x01" * 32, b"\x02" * 32) == pair_element(b"\x02" * 32, b"\x01" * 32)
    with pytest.raises(ValueError):
        pair_element(b"\x01" * 32, b"\x01" * 32)


def test_dating_demo_command_runs_and_checks_itself() -> None:
    from click.testing import CliRunner

    from note_compute.cli import main

    r = CliRunner().invoke(main, ["dating", "demo", "--users", "16", "--seed", "2", "--memory"])
    assert r.exit_code == 0, r.output
    assert "equal the ground truth" in r.output and "invents a match" in r.output and "opened" in r.output


async def test_scalars_and_epoch_keys_are_fresh_per_round_and_epoch(sandbox: Any) -> None:
    net = ComputeNetwork(4, sandbox)
    pop = _trio_population()
    site = await publish_site(net, SITE, pop.cards)
    a = DatingUser(pop.keys[0], pop.cards[0])
    await a.load_deck(ComputeClient(net, sandbox), site, (18, 99))
    seen_scalars, seen_keys = set(), set()
    for epoch in (1, 2, 3):
        assert await a.start_epoch(net, epoch) == 2
        scalars = {r.party.scalar for r in a.rounds.values()}
        assert len(scalars) == 2 and not scalars & seen_scalars     # one fresh scalar per round, per epoch
        assert a.epoch_key is not None and a.epoch_key.public_key not in seen_keys
        seen_scalars |= scalars
        seen_keys.add(a.epoch_key.public_key)
        round_keys_now = {r.mine.public_key for r in a.rounds.values()}
        assert all(round_keys(a.key, c.key, epoch)[0].public_key in round_keys_now for c in a.deck)


def test_cli_bad_input_gets_a_one_line_refusal_and_changes_nothing(tmp_path: Any) -> None:
    import json

    from click.testing import CliRunner

    from note_compute import keystore
    from note_compute.cli import main

    home = tmp_path / "home"
    key = keystore.create_key("ann", home=home)
    state_file = home / "dating" / "ann.json"
    state_file.parent.mkdir(parents=True)
    state_file.write_text(json.dumps(user_to_state(DatingUser(key, make_card(key, "ann", 30, "north", ["chess"])))))
    before = state_file.read_text()
    env = {"NOTE_HOME": str(home)}
    site = ["--site", SITE.authority]
    for argv, words in (
        (["swipe", "--key", "ann", *site, "zed", "--like"], "'zed' is not in your deck"),
        (["swipe", "--key", "ann", *site, "--age", "x"], "--age is LO-HI"),
        (["matches", "--key", "nobody", *site, "--epoch", "1"], "no key named 'nobody'"),
        (["swipe", "--key", "nobody", *site], "no key named 'nobody'"),
        (["site", "--key", "nobody", SITE.authority], "no key named 'nobody'"),
        (["profile", "--key", "ann", "bo"], "'bo' is not one of your matches"),
        (["card", "--key", "ann", "--pseudonym", "a b", "--age", "30", "--region", "north", "--interests", "x"],
         "bad dating card: pseudonym"),
        (["card", "--key", "ann", "--pseudonym", "ab", "--age", "17", "--region", "north", "--interests", "x"],
         "17 is not in the range"),
    ):
        r = CliRunner().invoke(main, ["dating", *argv], env=env)
        assert r.exit_code in (2, 3) and words in r.output, (argv, r.output)  # usage or not found (issue 11)
        assert "Traceback" not in r.output and not isinstance(r.exception, (AssertionError, KeyError, TypeError))
        assert state_file.read_text() == before
    state_file.write_text('{"card": "00"}')
    r = CliRunner().invoke(main, ["dating", "swipe", "--key", "ann", *site], env=env)
    assert r.exit_code == 2 and "is damaged" in r.output, r.output  # a bad input file: usage (issue 11)


async def test_an_older_version_of_the_partners_set_is_never_read_as_no_match(sandbox: Any) -> None:
    net = ComputeNetwork(6, sandbox)
    pop = _trio_population()
    site = await publish_site(net, SITE, pop.cards)
    a, b = DatingUser(pop.keys[0], pop.cards[0]), DatingUser(pop.keys[1], pop.cards[1])
    for u, other in ((a, pop.cards[1]), (b, pop.cards[0])):
        await u.load_deck(ComputeClient(net, sandbox), site, (18, 99))
        u.swipe(other, True)                                   # mutual
    await b.start_epoch(net, 4)
    assert (await b.publish_doubles(net)).pending == 2         # b's set, version 1: no value for a's round yet
    await a.start_epoch(net, 4)
    await b.publish_doubles(net)                               # version 2 holds it; b's round record says "ready"
    await a.publish_doubles(net)
    assert b.epoch_key is not None
    url = dating._set_url(b.epoch_key.public_key, 4)
    assert len(net.records[url]) == 2
    net.stale_reads[url] = 1000                                # the ring serves a the older version of b's set
    for p in net.peers:
        net.set_mode(p, "stale")                               # and every peer answers from it
    out = await a.find_matches(ComputeClient(net, sandbox), site, net)
    assert out.matches == [] and out.no_match == 0 and out.unproven == 1   # unproven, never "no match"
    assert a.rounds[b.key.public_key].matched is None
    net.stale_reads.clear()                                    # later, the current version: the match
    for p in net.peers:
        net.set_mode(p, "honest")
    out = await a.find_matches(ComputeClient(net, sandbox), site, net)
    assert [c.key for c in out.matches] == [b.key.public_key]


async def test_a_peer_hiding_or_forging_a_card_in_a_deck_is_caught_and_the_deck_stays_whole(sandbox: Any) -> None:
    pop = make_population(40, seed=3)
    honest_net = ComputeNetwork(8, sandbox)
    site = await publish_site(honest_net, SITE, pop.cards)
    me = DatingUser(pop.keys[0], pop.cards[0])
    want = [c.key for c in await me.load_deck(ComputeClient(honest_net, sandbox), site, (18, 99), min_shared=0)]
    assert len(want) >= 3
    for mode in ("hide_one", "forge"):
        net = ComputeNetwork(8, sandbox, liars_first=True)
        await publish_site(net, SITE, pop.cards)
        for p in net.peers[0:8:3]:
            net.set_mode(p, mode)
        cc = ComputeClient(net, sandbox, shuffle=False)
        got = [c.key for c in await me.load_deck(cc, site, (18, 99), min_shared=0)]
        assert got == want, mode
        assert cc.blocked, mode   # the lying peer was convicted and skipped


async def test_a_tampered_or_unsigned_published_set_is_never_read_as_no_match(sandbox: Any) -> None:
    from note_compute.compute.source import manifest_from_record

    net = ComputeNetwork(6, sandbox)
    users, cc, site = await _three(sandbox, net, {0: [1], 1: [0]})   # 0 <-> 1 mutual
    a, b, _ = users
    assert b.epoch_key is not None
    url = dating._set_url(b.epoch_key.public_key, 1)
    good = net.records[url][-1]
    blob = manifest_from_record(good).shards[0].blob
    honest_shard = net.blobs[blob]
    net.blobs[blob] = honest_shard.replace(honest_shard[-32:], bytes(32))     # the shard's bytes changed
    out = await a.find_matches(ComputeClient(net, sandbox), site, net)
    assert out.matches == [] and out.no_match == 1 and out.unproven == 1         # (the round with user 2: absent)
    net.blobs[blob] = honest_shard
    net.records[url].append(dataclasses.replace(good, signature=bytes(64)))     # the set's record unsigned
    out = await a.find_matches(ComputeClient(net, sandbox), site, net)
    assert out.matches == [] and out.unproven == 1
    net.records[url].pop()
    out = await a.find_matches(ComputeClient(net, sandbox), site, net)
    assert [c.key for c in out.matches] == [b.key.public_key]


async def test_a_lying_nodes_peer_switches_between_lies_and_back_to_honest(sandbox: Any) -> None:
    from examples.dating.liar import set_lie

    net = ComputeNetwork(8, sandbox, liars_first=True)
    users, cc, site = await _three(sandbox, net, {0: [1], 1: [0], 2: [0]})   # 0<->1 mutual, 2->0 one-sided
    with pytest.raises(ValueError, match="unknown lie"):
        set_lie(net.peers[0], "hide_all")
    for lie in ("invent", "drop", "honest"):
        for p in net.peers[0:8:3]:  # 3 of 8 (0, 3, 6): every replica triple has a liar (first) and an honest peer
            set_lie(p, lie)
        lied = ComputeClient(net, sandbox, shuffle=False)
        outs = [await u.find_matches(lied, site, net) for u in (users[0], users[2])]
        for u in (users[0], users[2]):
            for rnd in u.rounds.values():
                rnd.matched = None   # ask again next time
        frauds = sum(len(o.frauds) for o in outs)
        assert (frauds == 0) == (lie == "honest"), (lie, frauds)


class _Counting:
    """An in-memory network that counts record reads (and, like the ring client, takes ``direct``)."""

    def __init__(self, net: ComputeNetwork, direct: bool) -> None:
        self.net, self.reads = net, 0
        self.urls: list[tuple[str, bool]] = []  # (url, direct) of every record read
        if direct:
            self.get_record = self._get_direct  # type: ignore[method-assign]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.net, name)

    async def get_record(self, url: str) -> records.Record:
        self.reads += 1
        self.urls.append((url, False))
        return await self.net.get_record(url)

    async def _get_direct(self, url: str, *, direct: bool = False) -> records.Record:
        self.reads += 1
        self.urls.append((url, direct))
        return await self.net.get_record(url)


async def test_a_set_republished_from_its_known_version_is_not_read_back_and_cannot_roll_back(sandbox: Any) -> None:
    from note_compute.compute.source import RingSource
    from note_compute.errors import StaleRecord
    from note_compute.psi.matching import publish_set, published_manifest

    net = _Counting(ComputeNetwork(4, sandbox), direct=False)
    key = SigningKey(b"\x09" * 32)
    one = sorted(group.random_point() for _ in range(4))
    two = sorted(group.random_point() for _ in range(4))
    first = await publish_set(net, key, "s", one, now_ms=1000, previous=None)  # a key made just now
    assert net.reads == 0 and first.record.seq == 1000 and first.uploaded == 1
    second = await publish_set(net, key, "s", two, now_ms=500, previous=published_manifest(first))
    assert net.reads == 0 and second.record.seq == 1001 and second.previous.root == first.built.manifest.root
    third = await publish_set(net, key, "s", one, now_ms=500)  # by default the current version is read
    assert net.reads == 1 and third.record.seq == 1002
    with pytest.raises(StaleRecord):  # a caller wrong about the version cannot roll the set back
        await publish_set(net, key, "s", two, now_ms=500, previous=None)
    m = await RingSource(net.net).latest_manifest(third.record.url)
    assert m.seq == 1002 and m.root == third.built.manifest.root


@pytest.mark.parametrize("direct", [True, False])
async def test_round_records_are_read_direct_where_the_transport_can(sandbox: Any, direct: bool) -> None:
    net = _Counting(ComputeNetwork(8, sandbox), direct)
    users, cc, site = await _three(sandbox, net, {0: [1], 1: [0], 2: [0]})
    outs = [await u.find_matches(cc, site, net) for u in users]
    assert [[c.key for c in o.matches] for o in outs] == [[users[1].key.public_key], [users[0].key.public_key], []]
    rounds = [d for url, d in net.urls if "/dating/round/" in url]
    assert len(rounds) >= 6 and set(rounds) == {direct}  # every round read direct where it can be, none else
