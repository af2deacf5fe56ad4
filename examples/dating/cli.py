"""``note-compute dating ...``: the dating example's commands (entry point ``note_compute.commands``).

``dating demo`` runs a whole population on an embedded local network (node
processes on 127.0.0.1, started and stopped by the command; ``--memory``: the
in-memory network), then a round against a lying node that joins it.
The other commands act for one user against a running devnet
(``note-compute devnet``), keeping the user's client state - deck, swipes,
round scalars - in ``$NOTE_HOME/dating/KEY.json`` (secret: it never leaves
the machine)::

    note-compute dating card --key alice --pseudonym alice --age 30 --region north --interests chess,jazz
    note-compute dating site --key site ALICE_AUTHORITY BOB_AUTHORITY ...   # the site: programs + directory
    note-compute dating swipe --key alice --site SITE --age 25-35          # show the verified deck
    note-compute dating swipe --key alice --site SITE bob --like
    note-compute dating matches --key alice --site SITE --epoch 1          # run again to progress
    note-compute dating profile --key alice --site SITE bob
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from note_compute.cli._common import (
    EXIT_NOT_FOUND,
    EXIT_USAGE,
    CliError,
    emit_json,
    fail,
    json_mode,
    json_option,
    quiet_option,
    run_async,
)

__all__ = ["dating", "register"]


def _fail(exc: Any) -> CliError:
    """A NoteError as the CLI's one-line error (``--json``: the standard error document) and exit code."""
    return fail(exc)


def _state_path(name: str) -> Path:
    from note_compute.keystore import note_home

    return note_home() / "dating" / f"{name}.json"


def _key(name: str) -> Any:
    from note_compute.errors import NoteError
    from note_compute.keystore import load_key

    try:
        return load_key(name)
    except NoteError as exc:
        raise _fail(exc) from None


def _load(name: str) -> tuple[Any, Any]:
    from note_compute.errors import NoteError

    from .app import user_from_state

    key = _key(name)
    path = _state_path(name)
    if not path.exists():
        raise CliError(f"no dating card for key {name!r} yet: run `note-compute dating card --key {name}`",
                       EXIT_NOT_FOUND, code="not-found", reason="no-card")
    try:
        return key, user_from_state(key, json.loads(path.read_text()))
    except (NoteError, ValueError, KeyError, TypeError) as exc:
        raise CliError(f"the dating state {path} is damaged ({type(exc).__name__}: {exc}); "
                       f"run `note-compute dating card --key {name}` again", EXIT_USAGE,
                       reason="damaged-state") from None


def _save(name: str, user: Any) -> None:
    from .app import user_to_state

    path = _state_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(user_to_state(user), indent=1))
    tmp.chmod(0o600)
    tmp.replace(path)


def _run(fn: Any, *args: Any) -> Any:
    """``fn`` under trio; a NoteError (even inside a nursery) becomes the CLI's error with its exit code."""
    return run_async(fn, *args)


def _bootstrap(f: Any) -> Any:
    return click.option("--bootstrap", multiple=True, metavar="MULTIADDR",
                        help="Bootstrap node multiaddr (repeatable); default: $NOTE_HOME/devnet.json.")(f)


def _site_option(f: Any) -> Any:
    return click.option("--site", "site_auth", required=True, metavar="AUTHORITY",
                        help="The dating site's authority (it publishes the programs and the directory).")(f)


@click.group("dating")
def dating() -> None:
    """The dating example: private matching by set intersection, encrypted profiles."""


@dating.command("demo")
@click.option("--users", type=click.IntRange(3, 2000), default=200, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--nodes", type=click.IntRange(3, 32), default=6, show_default=True,
              help="Node processes of the embedded local network.")
@click.option("--memory", is_flag=True, help="Run on the in-memory network (8 compute peers) instead.")
def demo_cmd(users: int, seed: int, nodes: int, memory: bool) -> None:
    """Match a seeded population privately on an embedded local network; check it; catch a lying node."""
    from .demo import main_demo

    def go() -> Any:
        return main_demo(users, seed, nodes=nodes, memory=memory)

    try:
        _run(go)
    except KeyboardInterrupt:
        raise SystemExit(130) from None


@dating.command("card")
@click.option("--key", "key_name", required=True, help="Your key (note-compute key new NAME).")
@click.option("--pseudonym", required=True)
@click.option("--age", type=click.IntRange(18, 120), required=True)
@click.option("--region", required=True)
@click.option("--interests", required=True, help="Comma-separated, e.g. chess,jazz,hiking.")
@click.option("--bio", default="", help="Goes in the encrypted profile (matches only).")
@click.option("--contact", default="", help="Goes in the encrypted profile (matches only).")
@json_option
@quiet_option("the card's URL")
@_bootstrap
def card_cmd(key_name: str, pseudonym: str, age: int, region: str, interests: str, bio: str, contact: str,
             as_json: bool, quiet: bool, bootstrap: tuple[str, ...]) -> None:
    """Sign your public card, publish it at note://YOU/dating/card, encrypt your profile."""
    from note_compute import records
    from note_compute.client import open_client
    from note_compute.errors import NoteError
    from note_compute.keystore import load_key

    from .app import DatingUser
    from .model import make_card

    try:
        key = load_key(key_name)
    except NoteError as exc:
        raise _fail(exc) from None
    try:
        card = make_card(key, pseudonym, age, region, interests.split(","))
    except NoteError as exc:  # a field the card format refuses: bad input
        raise fail(exc, EXIT_USAGE) from None
    user = DatingUser(key, card, {"pseudonym": pseudonym, "bio": bio, "contact": contact})

    async def go() -> None:
        async with open_client(list(bootstrap) or None) as client:
            url = f"note://{key.authority}/dating/card"
            await client.put_record(records.sign_record(key, url, seq=int(time.time() * 1000), value=card.encode(),
                                                        created=int(time.time())))
            await user.publish_profile(client)
        blob = user.profile_blob.hex() if user.profile_blob else ""
        if as_json:
            emit_json({"url": url, "authority": key.authority, "profile_blob": blob})
        elif quiet:
            click.echo(url)
        else:
            click.echo(f"card published at {url}\nencrypted profile blob {blob[:16]}... "
                       "(its key is sealed to each match only)")

    _run(go)
    _save(key_name, user)


@dating.command("site")
@click.option("--key", "key_name", required=True, help="The site's key.")
@click.argument("members", nargs=-1, required=True)
@json_option
@quiet_option("the site's authority")
@_bootstrap
def site_cmd(key_name: str, members: tuple[str, ...], as_json: bool, quiet: bool, bootstrap: tuple[str, ...]) -> None:
    """(The site) publish psi_match, dating_deck and the directory of MEMBERS' signed cards."""
    from note_compute.client import open_client

    from .app import publish_site
    from .model import Card

    key = _key(key_name)

    async def go() -> None:
        async with open_client(list(bootstrap) or None) as client:
            cards = []
            for auth in members:
                rec = await client.get_record(f"note://{auth}/dating/card")
                card = Card.decode(rec.value or b"")
                if card.authority != auth:
                    raise CliError(f"the card at {auth} is signed for another key", 1, code="verify",
                                   reason="foreign-card")
                cards.append(card)
            site = await publish_site(client, key, cards)
        if as_json:
            emit_json({"site": site.authority, "directory": site.directory_url, "cards": len(cards),
                       "programs": [site.psi_url, site.deck_url]})
        elif quiet:
            click.echo(site.authority)
        else:
            click.echo(f"site {site.authority}: directory of {len(cards)} cards at {site.directory_url}")

    _run(go)


@dating.command("swipe")
@click.option("--key", "key_name", required=True)
@_site_option
@click.option("--age", "age_range", default=None, metavar="LO-HI", help="Load a fresh deck for this age range.")
@click.argument("pseudonym", required=False)
@click.option("--like/--pass", "like", default=True, help="With PSEUDONYM: like (default) or pass.")
@json_option
@_bootstrap
def swipe_cmd(key_name: str, site_auth: str, age_range: str | None, pseudonym: str | None, like: bool,
              as_json: bool, bootstrap: tuple[str, ...]) -> None:
    """Show your verified deck (--age LO-HI loads it), or like/pass PSEUDONYM (kept locally)."""
    _, user = _load(key_name)
    if age_range is not None:
        from note_compute.client import open_client
        from note_compute.compute.client import ComputeClient
        from note_compute.sandbox import Sandbox

        from .app import Site

        try:
            lo, hi = (int(x) for x in age_range.split("-"))
        except ValueError:
            raise CliError(f"--age is LO-HI, e.g. 25-35 (got {age_range!r})", EXIT_USAGE) from None

        async def go() -> None:
            with Sandbox() as sandbox:
                async with open_client(list(bootstrap) or None) as client:
                    await user.load_deck(ComputeClient(client, sandbox), Site(site_auth), (lo, hi))

        _run(go)
    if pseudonym is not None:
        card = next((c for c in user.deck if c.pseudonym == pseudonym), None)
        if card is None:
            raise CliError(f"{pseudonym!r} is not in your deck (load it with --age LO-HI)", EXIT_NOT_FOUND,
                           code="not-found", reason="not-in-deck")
        user.swipe(card, like)
    _save(key_name, user)
    if as_json:
        emit_json({"deck": [_card_json(c) | {"liked": c.key in user.likes} for c in user.deck]})
        return
    for c in user.deck:
        mark = "liked" if c.key in user.likes else ""
        click.echo(f"{c.pseudonym:24} {c.age:3} {c.region:10} {','.join(c.interests):40} {mark}")


@dating.command("matches")
@click.option("--key", "key_name", required=True)
@_site_option
@click.option("--epoch", type=click.IntRange(0, 2**40), required=True)
@json_option
@_bootstrap
def matches_cmd(key_name: str, site_auth: str, epoch: int, as_json: bool, bootstrap: tuple[str, ...]) -> None:
    """Run this epoch's rounds as far as they go now (blind, double, match with proofs); re-run to progress."""
    from note_compute.client import open_client
    from note_compute.compute.client import ComputeClient
    from note_compute.sandbox import Sandbox

    from .app import Site

    _, user = _load(key_name)
    site = Site(site_auth)

    async def go() -> Any:
        with Sandbox() as sandbox:
            async with open_client(list(bootstrap) or None) as client:
                if user.epoch != epoch:
                    blinded = await user.start_epoch(client, epoch)  # on stderr under --json: stdout is the document
                    click.echo(f"epoch {epoch}: {blinded} rounds blinded and published", err=json_mode())
                done = await user.publish_doubles(client)
                out = await user.find_matches(ComputeClient(client, sandbox), site, client)
                for card in out.matches:
                    await user.share_profile(client, card)
                return done, out

    done, out = _run(go)
    _save(key_name, user)
    if as_json:
        emit_json({
            "epoch": epoch, "doubled": done.done, "matches": [_card_json(c) for c in out.matches],
            "no_match": out.no_match, "pending": out.pending, "unproven": out.unproven,
            "liars_caught": sorted({fp.peer.hex() for fp in out.frauds}),
            "refused": {who: f"{type(exc).__name__}: {exc}" for who, exc in done.refused.items()},
        })
        return
    for who, exc in done.refused.items():
        click.echo(f"  refused {who}'s round record: {type(exc).__name__}: {exc}")
    click.echo(f"{done.done} round(s) doubly blinded; {len(out.matches)} match(es), {out.no_match} proven "
               f"non-match(es), {out.pending} pending, {out.unproven} unproven; {len(out.frauds)} lying peer(s) caught")
    for c in out.matches:
        click.echo(f"  match: {c.pseudonym} ({c.age}, {c.region})")


@dating.command("profile")
@click.option("--key", "key_name", required=True)
@click.argument("pseudonym")
@json_option
@quiet_option("the match's card URL")
@_bootstrap
def profile_cmd(key_name: str, pseudonym: str, as_json: bool, quiet: bool, bootstrap: tuple[str, ...]) -> None:
    """Open a match's encrypted profile (their key is sealed to you only after the match)."""
    from note_compute.client import open_client

    _, user = _load(key_name)
    card = next((c for c in user.matches.values() if c.pseudonym == pseudonym), None)
    if card is None:
        raise CliError(f"{pseudonym!r} is not one of your matches", EXIT_NOT_FOUND, code="not-found",
                       reason="not-a-match")

    async def go() -> Any:
        async with open_client(list(bootstrap) or None) as client:
            return await user.open_profile(client, card)

    url = f"note://{card.authority}/dating/card"
    if quiet:  # the card's URL needs nothing from the network
        click.echo(url)
        return
    profile = _run(go)
    if as_json:
        emit_json({"pseudonym": pseudonym, "authority": card.authority, "url": url, "profile": profile})
        return
    click.echo(f"{pseudonym} ({card.age}, {card.region}) at {url}")
    for field, value in profile.items():
        click.echo(f"  {field}: {value}")


def _card_json(card: Any) -> dict[str, Any]:
    return {"pseudonym": card.pseudonym, "age": card.age, "region": card.region, "interests": list(card.interests),
            "authority": card.authority}


def register(group: click.Group) -> None:
    group.add_command(dating)
