"""``note-compute site publish`` and ``note-compute gateway``: web sites in the ring.

* ``site publish DIR --key NAME`` puts every file under DIR at
  ``note://AUTHORITY/path`` and signs one site manifest; unchanged files are
  not uploaded again.
* ``gateway [--port 8080]`` serves every site over HTTP on this machine at
  ``http://AUTHORITY.localhost:PORT/`` (one origin per authority), verifying
  everything it serves.

Exit codes and ``--json`` / ``-q`` follow every command's conventions
(``cli/_common.py``).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import click

from ._common import (
    EXIT_CODES_HELP,
    EXIT_USAGE,
    CliError,
    bootstrap_option,
    emit_json,
    fail,
    json_option,
    quiet_option,
    run_async,
    status,
)

__all__ = ["register"]


@click.group("site", epilog=EXIT_CODES_HELP)
def site_group() -> None:
    """Publish a directory as a web site in the ring."""


def _load_key(name: str) -> object:
    from .. import keystore
    from ..errors import NoteError

    try:
        return keystore.load_key(name)
    except NoteError as exc:
        raise fail(exc) from None


@site_group.command("publish", epilog=EXIT_CODES_HELP)
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--key", "key_name", required=True, help="Name of the signing key (the site's authority).")
@bootstrap_option
@json_option
@quiet_option("the site's authority")
def publish_cmd(directory: Path, key_name: str, bootstrap: tuple[str, ...], as_json: bool, quiet: bool) -> None:
    """Publish every file under DIRECTORY as the site of key NAME.

    Hidden files (a path segment starting with '.') are not published.
    Files whose bytes did not change since the last publish are not
    uploaded again; the signed site manifest always gets a new seq.
    """
    from .. import site
    from ..client import open_client
    from ..errors import InvalidRecord
    from ..gateway.publish import publish_site

    key = _load_key(key_name)
    try:
        site.scan_directory(directory)  # refuse an empty or unpublishable directory before connecting
    except InvalidRecord as exc:
        raise CliError(exc.message, EXIT_USAGE, code=exc.code, reason=exc.reason) from None

    with status("connecting") as update:
        def progress(path: str, done: int, total: int) -> None:
            update(f"uploaded {done}/{total}: {path[:60]}")

        async def go():  # type: ignore[no-untyped-def]
            async with open_client(list(bootstrap) or None) as client:
                update("reading the previous site manifest")
                return await publish_site(client, key, directory, progress=progress)  # type: ignore[arg-type]

        res = run_async(go)
    if as_json:
        emit_json({"authority": res.authority, "manifest": res.url, "seq": res.seq, "files": res.files,
                   "uploaded": res.uploaded, "unchanged": res.unchanged, "bytes_uploaded": res.bytes_uploaded})
    elif quiet:
        click.echo(res.authority)
    else:
        click.echo(f"published {res.files} files ({len(res.uploaded)} uploaded, {len(res.unchanged)} unchanged, "
                   f"{res.bytes_uploaded:,} bytes) as {res.url} seq {res.seq}")
        click.echo(f"open http://{res.authority}.localhost:8080/ through `note-compute gateway`")


@click.command("gateway", epilog=EXIT_CODES_HELP)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="TCP port on 127.0.0.1.")
@bootstrap_option
@click.option("--manifest-ttl", default=2.0, show_default=True, type=click.FloatRange(0, 3600),
              help="Seconds a verified site manifest is used before it is fetched again.")
@click.option("--cache-mb", default=64, show_default=True, type=click.IntRange(1, 65536),
              help="Memory for verified file contents, in MiB.")
@click.option("--key", "key_name", default=None,
              help="The local user's key, for apps that act for you (the shop's cart and orders).")
def gateway_cmd(port: int, bootstrap: tuple[str, ...], manifest_ttl: float, cache_mb: int,
                key_name: str | None) -> None:
    """Serve note:// sites over HTTP at http://AUTHORITY.localhost:PORT/ (verified).

    Every authority is its own origin. Everything served is checked against
    the manifest its authority signed; failures are HTTP errors (502), never
    unverified bytes. Ctrl-C stops it.
    """
    import socket

    import trio

    from ..gateway.serve import serve_gateway

    user_key = _load_key(key_name) if key_name else None
    with socket.socket() as probe:  # a taken port is a clear usage error, not a traceback from the server
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise CliError(f"port {port} on 127.0.0.1 is not free ({exc.strerror})", EXIT_USAGE,
                           reason="port-taken") from None

    async def go() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(partial(serve_gateway, list(bootstrap) or None, port=port,
                                        manifest_ttl=manifest_ttl, cache_bytes=cache_mb * 1024 * 1024,
                                        user_key=user_key))
            click.echo(f"gateway on http://localhost:{port}/ (sites at http://AUTHORITY.localhost:{port}/); "
                       "Ctrl-C stops it", err=True)

    try:
        run_async(go)
    except KeyboardInterrupt:
        pass


def register(group: click.Group) -> None:
    group.add_command(site_group)
    group.add_command(gateway_cmd)
