"""``note-compute site publish`` and ``note-compute gateway``: web sites in the ring.

* ``site publish DIR --key NAME`` puts every file under DIR at
  ``note://AUTHORITY/path`` and signs one site manifest; unchanged files are
  not uploaded again.
* ``gateway [--port 8080]`` serves every site over HTTP on this machine at
  ``http://AUTHORITY.localhost:PORT/`` (one origin per authority), verifying
  everything it serves.
"""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path

import click

__all__ = ["register"]


@click.group("site")
def site_group() -> None:
    """Publish a directory as a web site in the ring."""


@site_group.command("publish")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--key", "key_name", required=True, help="Name of the signing key (the site's authority).")
@click.option("--bootstrap", multiple=True, help="Bootstrap multiaddr (default: the local network).")
@click.option("--json", "as_json", is_flag=True, help="Print what was published as JSON.")
@click.option("-q", "quiet", is_flag=True, help="Print only the site's gateway path (the authority).")
def publish_cmd(directory: Path, key_name: str, bootstrap: tuple[str, ...], as_json: bool, quiet: bool) -> None:
    """Publish every file under DIRECTORY as the site of key NAME."""
    import trio

    from .. import keystore
    from ..client import open_client
    from ..errors import NoteError
    from ..gateway.publish import publish_site

    try:
        key = keystore.load_key(key_name)
    except NoteError as exc:
        raise click.ClickException(str(exc)) from None
    show = sys.stderr.isatty() and not (as_json or quiet)

    def progress(path: str, done: int, total: int) -> None:
        if show:
            click.echo(f"\r  uploaded {done}/{total}: {path[:60]:<60}", nl=False, err=True)

    async def go():  # type: ignore[no-untyped-def]
        async with open_client(list(bootstrap) or None) as client:
            return await publish_site(client, key, directory, progress=progress)

    try:
        res = trio.run(go)
    except NoteError as exc:
        raise click.ClickException(str(exc)) from None
    if show:
        click.echo("", err=True)
    if as_json:
        click.echo(json.dumps({"authority": res.authority, "manifest": res.url, "seq": res.seq, "files": res.files,
                               "uploaded": res.uploaded, "unchanged": res.unchanged,
                               "bytes_uploaded": res.bytes_uploaded}))
    elif quiet:
        click.echo(res.authority)
    else:
        click.echo(f"published {res.files} files ({len(res.uploaded)} uploaded, {len(res.unchanged)} unchanged, "
                   f"{res.bytes_uploaded} bytes) as {res.url} seq {res.seq}")
        click.echo(f"open http://{res.authority}.localhost:8080/ through `note-compute gateway`")


@click.command("gateway")
@click.option("--port", default=8080, show_default=True, help="TCP port on 127.0.0.1.")
@click.option("--bootstrap", multiple=True, help="Bootstrap multiaddr (default: the local network).")
@click.option("--manifest-ttl", default=2.0, show_default=True,
              help="Seconds a verified site manifest is reused before it is fetched again.")
@click.option("--cache-mb", default=64, show_default=True, help="Memory for verified file contents, in MiB.")
@click.option("--key", "key_name", default=None,
              help="The local user's key, for apps that act for you (the shop's cart and orders).")
def gateway_cmd(port: int, bootstrap: tuple[str, ...], manifest_ttl: float, cache_mb: int,
                key_name: str | None) -> None:
    """Serve note:// sites over HTTP at http://AUTHORITY.localhost:PORT/ (verified)."""
    import trio

    from .. import keystore
    from ..errors import NoteError
    from ..gateway.serve import serve_gateway

    try:
        user_key = keystore.load_key(key_name) if key_name else None
    except NoteError as exc:
        raise click.ClickException(str(exc)) from None

    async def go() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(serve_gateway, list(bootstrap) or None, port=port,
                                        manifest_ttl=manifest_ttl, cache_bytes=cache_mb * 1024 * 1024,
                                        user_key=user_key))
            click.echo(f"gateway on http://localhost:{port}/ (sites at http://AUTHORITY.localhost:{port}/); "
                       "Ctrl-C stops it", err=True)

    try:
        trio.run(go)
    except KeyboardInterrupt:
        pass
    except NoteError as exc:
        raise click.ClickException(str(exc)) from None


def register(group: click.Group) -> None:
    group.add_command(site_group)
    group.add_command(gateway_cmd)
