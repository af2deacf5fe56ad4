"""The ``note-compute`` command line.

Each command group lives in its own module with a ``register(group)``
function; heavy imports (libp2p, wasmtime) happen inside the commands so that
``note-compute --help`` stays fast.

Other packages add command groups through the entry-point group
``note_compute.commands``: each entry point names a ``register(group)``
function, and its name is the command it adds (``shop =
"examples.shop.cli:register"`` adds ``note-compute shop``). They are loaded
lazily: the entry points are scanned only when a command name is not a
built-in one or when the command list is shown (``--help``), and a module is
imported only when its command is used or listed. Built-in names always win
over an entry point of the same name. A module that fails to import does not
break the CLI: its command reports the failure (exit 2).
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from .. import __version__

__all__ = ["main", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "note_compute.commands"
"""Entry-point group of extra command groups (each value is a ``register(group)`` function)."""

# Modules under note_compute.cli that add commands; each defines register(group).
_COMMAND_MODULES: list[str] = ["keys", "program", "node", "devnet", "dataset", "query", "site"]


class _MainGroup(click.Group):
    """The top-level group: built-in commands plus lazily loaded entry-point commands."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._builtin: set[str] = set()
        self._plugins: dict[str, Any] | None = None  # name -> EntryPoint, scanned on first need

    def seal_builtins(self) -> None:
        """Remember the commands registered so far as built-in (entry points cannot replace them)."""
        self._builtin = set(self.commands)

    def _entry_points(self) -> dict[str, Any]:
        if self._plugins is None:
            from importlib.metadata import entry_points

            found: dict[str, Any] = {}
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                if ep.name not in self._builtin and ep.name not in found:
                    found[ep.name] = ep
            self._plugins = found
        return self._plugins

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BaseException as exc:
            from ._common import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, broken_pipe

            if broken_pipe(exc):  # `note-compute ... | head`: exit 141, not 1 ("verification failed")
                raise click.exceptions.Exit(EXIT_BROKEN_PIPE) from None
            if isinstance(exc, KeyboardInterrupt):  # Ctrl-C: 130 as shells say, not click's 1
                click.echo("\nInterrupted.", err=True)
                raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
            raise

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self._entry_points()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = self.commands.get(cmd_name)
        if cmd is not None:
            return cmd
        ep = self._entry_points().get(cmd_name)
        if ep is None:
            return None
        cmd = _load_entry_point(ep)
        self.commands[cmd_name] = cmd
        return cmd


def _load_entry_point(ep: Any) -> click.Command:
    """Import entry point ``ep``, call its ``register`` on a scratch group, return the command it adds."""
    scratch = click.Group(ep.name)
    try:
        register = ep.load()
        register(scratch)
    except Exception as exc:  # an optional add-on must never break the core CLI
        return _broken_command(ep, f"{type(exc).__name__}: {exc}")
    cmd = scratch.commands.get(ep.name)
    if cmd is None:
        added = ", ".join(sorted(scratch.commands)) or "nothing"
        return _broken_command(ep, f"its register() added {added}, not a command named {ep.name!r}")
    return cmd


def _broken_command(ep: Any, why: str) -> click.Command:
    def fail(args: tuple[str, ...]) -> None:
        raise click.UsageError(f"the {ep.name!r} commands ({ep.value}) could not be loaded: {why}")

    return click.Command(
        ep.name, callback=fail, help=f"(unavailable: {why})", short_help="(unavailable: could not be loaded)",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)], add_help_option=False,
    )


@click.group(cls=_MainGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Exit codes: 0 ok; 1 verification failed or fraud found; 2 usage error or bad input; "
                    "3 not found; 4 network unavailable (130 interrupted, 141 output pipe closed). "
                    "Ranges are inclusive: [lo, hi].")
@click.version_option(__version__, prog_name="note-compute")
@click.option("-v", "--verbose", count=True, help="Show log lines (libp2p's included) on stderr; -vv for debug.")
@click.pass_context
def main(ctx: click.Context, verbose: int) -> None:
    """Verifiable computation on the Note ring."""
    from ._common import reset_state

    reset_state()
    if ctx.invoked_subcommand != "node":  # a node configures its own logging (its -v)
        ctx.call_on_close(_configure_logging(verbose))


def _configure_logging(verbose: int) -> Any:
    """No third-party log lines (libp2p's "Failed to open TCP stream ...") unless --verbose.

    Returns the function that restores the previous settings (run when the
    command ends: tests invoke many commands in one process).
    """
    import logging
    import warnings

    previous, filters = logging.root.manager.disable, list(warnings.filters)

    def restore() -> None:
        logging.disable(previous)
        warnings.filters[:] = filters  # type: ignore[index]

    if verbose == 0:
        logging.disable(logging.CRITICAL)
        warnings.simplefilter("ignore")
    else:
        logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return restore


for _name in _COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_name}").register(main)
main.seal_builtins()
