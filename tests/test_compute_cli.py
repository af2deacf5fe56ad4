"""CLI bad input for `dataset publish` and `query` (refused before any network use)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from note_compute import keystore
from note_compute.cli import main
from note_compute.cli.query import jsonable

URL = "note://" + "a" * 52 + "/programs/p"
DS = "note://" + "a" * 52 + "/datasets/d"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NOTE_HOME", str(tmp_path / "home"))
    keystore.create_key("k", home=tmp_path / "home")
    return tmp_path


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--args", "{nope"], "--args is not valid JSON"),
        (["--args", '{"max_price": 1.5}'], "float 1.5 not allowed"),
        (["--range", "[1, 2]"], "--range is [lo, hi]"),
        (["--range", "[[1]]"], "--range is [lo, hi]"),
        (["--audit", "2"], "2"),
        (["--replicas", "0"], "0"),
    ],
)
def test_query_bad_options(argv: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["query", URL, DS, *argv])
    assert result.exit_code == 2
    assert message in result.output


def test_publish_refuses_floats_naming_the_line(home: Path) -> None:
    f = home / "d.jsonl"
    f.write_text('{"id": 1, "price": 5}\n{"id": 2, "price": 5.5}\n')
    result = CliRunner().invoke(main, ["dataset", "publish", str(f), "--key", "k", "--name", "d",
                                       "--sort-key", "price"])
    assert result.exit_code == 2  # bad input
    assert "line 2" in result.output and "5.5" in result.output


@pytest.mark.parametrize("argv, code", [
    (["--sort-key", "a,,b"], 2),
    (["--sort-key", "a,a"], 2),
    (["--sort-key", "a", "--shard-size", "10"], 2),
    (["--sort-key", "a", "--shard-size", "1000", "--shard-records", "5"], 2),
    (["--sort-key", "a", "--key", "missing"], 3),  # not found
])
def test_publish_bad_options(home: Path, argv: list[str], code: int) -> None:
    f = home / "d.jsonl"
    f.write_text('{"a": 1}\n')
    base = ["dataset", "publish", str(f), "--name", "d"]
    if "--key" not in argv:
        base += ["--key", "k"]
    result = CliRunner().invoke(main, base + argv)
    assert result.exit_code == code, result.output


def test_jsonable() -> None:
    assert jsonable({"a": b"\x01", "b": [1, {"c": None}]}) == {"a": {"hex": "01"}, "b": [1, {"c": None}]}
