"""`note-compute key ...` through click's CliRunner with NOTE_HOME in a tmp dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from note_compute import keystore, urls
from note_compute.cli import main


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(main, list(args), env={"NOTE_HOME": str(tmp_path)})

    return invoke


def test_new_show_list(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = run("key", "new", "site")
    assert r.exit_code == 0, r.output
    authority = r.output.strip().splitlines()[-1]
    assert keystore.load_key("site", home=tmp_path).authority == authority
    r = run("key", "show", "site")
    assert r.exit_code == 0 and r.output.strip() == authority
    r = run("key", "show", "site", "--url", "programs/search")
    assert r.exit_code == 0 and r.output.strip() == urls.make_url(authority, "programs/search")
    run("key", "new", "other")
    r = run("key", "list")
    assert r.exit_code == 0
    assert "site" in r.output and "other" in r.output and authority in r.output


def test_list_empty(run) -> None:  # type: ignore[no-untyped-def]
    r = run("key", "list")
    assert r.exit_code == 0 and "no keys" in r.output


def test_list_marks_unreadable_keys(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("key", "new", "site")
    os.chmod(keystore.key_path("site", tmp_path), 0o644)
    r = run("key", "list")
    assert r.exit_code == 0 and "unreadable" in r.output


@pytest.mark.parametrize(
    "args,needle",
    [
        (("key", "show", "nope"), "no key named 'nope'"),
        (("key", "new", "Bad/Name"), "invalid key name"),
        (("key", "show", "site", "--url", "a?b"), "query"),
    ],
)
def test_errors_are_one_line_and_non_zero(run, args: tuple[str, ...], needle: str) -> None:  # type: ignore[no-untyped-def]
    run("key", "new", "site")
    r = run(*args)
    assert r.exit_code != 0
    assert needle in r.output
    assert "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_new_refuses_to_overwrite(run) -> None:  # type: ignore[no-untyped-def]
    first = run("key", "new", "site").output
    r = run("key", "new", "site")
    assert r.exit_code != 0 and "already exists" in r.output
    assert run("key", "show", "site").output.strip() == first.strip().splitlines()[-1]


def test_key_help_lists_the_commands() -> None:
    r = CliRunner().invoke(main, ["key", "--help"])
    assert r.exit_code == 0 and "new" in r.output and "list" in r.output and "show" in r.output
