"""``note-compute key new|list|show``: signing keys under ``$NOTE_HOME/keys``."""

from __future__ import annotations

import click

from ..errors import NoteError
from ._common import emit_json, fail, json_option, quiet_option

__all__ = ["register", "key"]


def _fail(exc: NoteError) -> click.ClickException:
    return fail(exc)


@click.group()
def key() -> None:
    """Create, list and show signing keys (one key = one authority)."""


@key.command("new")
@click.argument("name")
@json_option
@quiet_option("the authority")
def new(name: str, as_json: bool, quiet: bool) -> None:
    """Create key NAME and print its authority."""
    from .. import keystore

    try:
        k = keystore.create_key(name)
    except NoteError as exc:
        raise _fail(exc) from exc
    if as_json:
        emit_json({"name": name, "authority": k.authority, "path": str(keystore.key_path(name))})
        return
    if not quiet:
        click.echo(f"created key {name!r} at {keystore.key_path(name)}")
    click.echo(k.authority)


@key.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List keys: name and authority."""
    from rich.table import Table

    from .. import keystore

    try:
        names = keystore.list_keys()
    except NoteError as exc:
        raise _fail(exc) from exc
    if as_json:
        out: list[dict[str, str | None]] = []
        for name in names:
            try:
                out.append({"name": name, "authority": keystore.load_key(name).authority})
            except NoteError as exc:
                out.append({"name": name, "authority": None, "error": exc.message})
        emit_json({"keys": out})
        return
    if not names:
        click.echo(f"no keys in {keystore.keys_dir()} (create one with 'note-compute key new NAME')")
        return
    table = Table("name", "authority")
    for name in names:
        try:
            authority = keystore.load_key(name).authority
        except NoteError as exc:
            authority = f"[red]unreadable: {exc.message}[/red]"
        table.add_row(name, authority)
    from ._common import console

    console(width=140).print(table)


@key.command("show")
@click.argument("name")
@click.option("--url", "path", metavar="PATH", default=None, help="Print the note:// URL of PATH under this key.")
@json_option
@quiet_option("the authority or URL (what it prints anyway: accepted for scripts that pass -q everywhere)")
def show(name: str, path: str | None, as_json: bool, quiet: bool) -> None:
    """Print the authority of key NAME (or a full note:// URL with --url)."""
    from .. import keystore, urls

    try:
        k = keystore.load_key(name)
        url = urls.make_url(k.authority, path) if path is not None else None
    except NoteError as exc:
        raise _fail(exc) from exc
    if as_json:
        emit_json({"name": name, "authority": k.authority, **({"url": url} if url else {})})
    else:
        click.echo(url or k.authority)


def register(group: click.Group) -> None:
    """Add the ``key`` command group to the main CLI."""
    group.add_command(key)
