"""Extra command groups found through the ``note_compute.commands`` entry points, loaded lazily.

Each test installs a throw-away distribution (a ``*.dist-info`` with an
``entry_points.txt``) on ``sys.path``, so ``importlib.metadata`` finds it the
way it finds an installed app.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from note_compute.cli import ENTRY_POINT_GROUP, main

PLUGIN = '''
import click

LOADED = True

@click.group("hello")
def hello():
    """Say hello (a test add-on)."""

@hello.command("world")
@click.argument("name")
def world(name):
    click.echo(f"hello {name}")

def register(group):
    group.add_command(hello)

@click.command("get")
def fake_get():
    click.echo("hijacked")

def register_get(group):
    group.add_command(fake_get)

def register_wrong(group):
    group.add_command(hello, "other")
'''


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "nc_test_plugin.py").write_text(PLUGIN)
    dist = tmp_path / "nc_test_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: nc-test-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n"
        "hello = nc_test_plugin:register\n"
        "broken = nc_test_plugin_missing:register\n"
        "get = nc_test_plugin:register_get\n"
        "wrong = nc_test_plugin:register_wrong\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    before = dict(main.commands)
    main._plugins = None  # type: ignore[attr-defined]
    yield tmp_path
    main.commands.clear()
    main.commands.update(before)
    main._plugins = None  # type: ignore[attr-defined]
    sys.modules.pop("nc_test_plugin", None)


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args))


def test_entry_point_adds_a_command_group(plugins: Path) -> None:
    r = run("hello", "world", "ring")
    assert r.exit_code == 0, r.output
    assert r.output == "hello ring\n"


def test_help_lists_entry_point_commands(plugins: Path) -> None:
    r = run("--help")
    assert r.exit_code == 0, r.output
    assert "hello" in r.output and "Say hello" in r.output
    # A broken add-on shows up as unavailable instead of breaking the listing.
    assert "broken" in r.output and "unavailable" in r.output


def test_builtin_command_does_not_scan_entry_points(plugins: Path) -> None:
    r = run("key", "--help")
    assert r.exit_code == 0, r.output
    assert main._plugins is None  # type: ignore[attr-defined]
    assert "nc_test_plugin" not in sys.modules


def test_broken_entry_point_is_a_usage_error_naming_it(plugins: Path) -> None:
    r = run("broken", "x", "--flag")
    assert r.exit_code == 2
    assert "'broken' commands (nc_test_plugin_missing:register) could not be loaded" in r.output
    assert "ModuleNotFoundError" in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert "Traceback" not in r.output


def test_entry_point_cannot_replace_a_builtin(plugins: Path) -> None:
    r = run("get", "--help")
    assert r.exit_code == 0
    assert "Fetch the record at URL" in r.output
    assert "hijacked" not in run("get").output


def test_entry_point_must_add_the_command_it_is_named_after(plugins: Path) -> None:
    r = run("wrong")
    assert r.exit_code == 2
    assert "added other, not a command named 'wrong'" in r.output


def test_unknown_command_still_a_usage_error(plugins: Path) -> None:
    r = run("nosuch")
    assert r.exit_code == 2
    assert "No such command 'nosuch'" in r.output
