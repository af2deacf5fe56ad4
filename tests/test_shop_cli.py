"""``note-compute shop``: found through the entry point, bad arguments refused before anything is sent."""

from __future__ import annotations

import hashlib

import pytest
from click.testing import CliRunner

from note_compute.cli import main
from note_compute.crypto import SigningKey

SHOP = SigningKey(hashlib.sha256(b"cli-shop").digest()).authority


def test_shop_commands_are_registered() -> None:
    out = CliRunner().invoke(main, ["shop", "--help"])
    assert out.exit_code == 0, out.output
    for cmd in ("demo", "search", "cart", "checkout", "orders", "publish"):
        assert cmd in out.output


@pytest.mark.parametrize("args, message", [
    (["--min-price", "-5"], "cannot be negative"),
    (["--min-price", "500", "--max-price", "100"], "above max_price"),
    (["--sort", "cheapest"], "unknown sort"),
    (["--limit", "0"], "limit must be"),
    (["--cursor", "%%%"], "malformed cursor"),
])
def test_bad_search_arguments_get_a_clear_message(args: list[str], message: str, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NOTE_HOME", str(tmp_path))  # no network recorded: nothing could be sent anyway
    out = CliRunner().invoke(main, ["shop", "search", "lamp", "--shop", SHOP, *args])
    assert out.exit_code == 2 and message in out.output, out.output


def test_unknown_key_is_a_usage_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NOTE_HOME", str(tmp_path))
    out = CliRunner().invoke(main, ["shop", "cart", "show", "--key", "nobody", "--shop", SHOP])
    assert out.exit_code == 2 and "note-compute key new nobody" in out.output
