"""The ``note-compute`` command line.

Each command group lives in its own module with a ``register(group)``
function; heavy imports (libp2p, wasmtime) happen inside the commands so that
``note-compute --help`` stays fast.
"""

from __future__ import annotations

import importlib

import click

from .. import __version__

# Modules under note_compute.cli that add commands; each defines register(group).
_COMMAND_MODULES: list[str] = ["keys", "program", "node", "dataset", "query", "site"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="note-compute")
def main() -> None:
    """Verifiable computation on the Note ring."""


for _name in _COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_name}").register(main)
