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


def test_unknown_key_is_not_found(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NOTE_HOME", str(tmp_path))  # exit 3, as every command answers a missing key
    out = CliRunner().invoke(main, ["shop", "cart", "show", "--key", "nobody", "--shop", SHOP])
    assert out.exit_code == 3 and "note-compute key new nobody" in out.output


# -- --json and -q on the in-memory network (issue 11: one JSON document on stdout, errors included) -----------

@pytest.fixture
def shopnet(sandbox, cli_network, monkeypatch):
    """The in-memory compute network with inboxes (test_shop_flow's), as every command's ``open_client``."""
    from test_shop_flow import ShopNet

    import examples.shop.shop as shop_mod
    from note_compute import keystore

    net = ShopNet(6, sandbox)
    home = cli_network(net)
    monkeypatch.setattr(shop_mod, "INDEX_SHARD", 150)
    for name in ("shop", "me"):
        keystore.create_key(name, home=home)
    return net


def _nc(*args: str):
    r = CliRunner().invoke(main, list(args))
    assert "Traceback" not in r.output and (r.exception is None or isinstance(r.exception, SystemExit)), r.output
    return r


def _doc(*args: str) -> dict:
    """The one JSON document a command printed on stdout (exit 0)."""
    import json

    r = _nc(*args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)  # the whole of stdout: progress lines went to stderr


def test_every_shop_command_prints_one_json_document_and_q_prints_the_address(shopnet) -> None:
    import json

    from note_compute import keystore

    shop, me = keystore.load_key("shop").authority, keystore.load_key("me").authority
    pub = _doc("shop", "publish", "--key", "shop", "--products", "60")
    assert pub["shop"] == shop and pub["url"] == f"note://{shop}/shop" and pub["products"] == 60
    assert pub["catalog"].startswith(f"note://{shop}/datasets/") and pub["inbox"]
    found = _doc("shop", "search", "--shop", "shop", "--limit", "3")
    assert found["shop"] == shop and len(found["products"]) == 3 and "no fraud" in found["verification"]
    pid = found["products"][0]["id"]
    cart = _doc("shop", "cart", "add", "--key", "me", "--shop", shop, pid, "--qty", "2")
    assert cart == {"url": f"note://{me}/carts/{shop}", "shop": shop, "items": {pid: 2}, "count": 2}
    r = _nc("shop", "cart", "show", "--key", "me", "--shop", shop, "-q")
    assert r.exit_code == 0 and r.stdout == f"note://{me}/carts/{shop}\n"
    assert _doc("shop", "cart", "remove", "--key", "me", "--shop", shop, pid)["items"] == {}
    assert _doc("shop", "cart", "add", "--key", "me", "--shop", shop, pid)["items"] == {pid: 1}
    order = _doc("shop", "checkout", "--key", "me", "--shop", shop)
    assert order["shop"] == shop and order["items"] == [[pid, 1, found["products"][0]["price"]]]
    assert order["total"] == found["products"][0]["price"] and len(order["order"]) == 32
    assert _doc("shop", "cart", "show", "--key", "me", "--shop", shop)["items"] == {}  # ordered: empty again
    assert _doc("shop", "orders", "replies", "--key", "me", "--shop", shop) == {"shop": shop, "replies": []}
    assert _nc("shop", "orders", "serve", "--key", "shop", "--once").exit_code == 0
    replies = _doc("shop", "orders", "replies", "--key", "me", "--shop", shop)["replies"]
    assert [(x["order"], x["status"], x["total"]) for x in replies] == [(order["order"], "confirmed", order["total"])]

    # Errors: the CLI's standard JSON error on stdout, with the exit code of their kind.
    r = _nc("shop", "checkout", "--key", "me", "--shop", shop, "--json")  # the cart is empty now
    err = json.loads(r.stdout)["error"]
    assert r.exit_code == 2 and err["exit_code"] == 2 and err["reason"] == "empty-cart"
    r = _nc("shop", "search", "lamp", "--shop", SHOP, "--json")  # nothing published at that authority
    err = json.loads(r.stdout)["error"]
    assert r.exit_code == 3 and err["exit_code"] == 3 and "Error: " in r.stderr
    r = _nc("shop", "cart", "add", "--key", "me", "--shop", shop, "nope-123", "--json")  # not in the catalog
    assert r.exit_code in (2, 3) and json.loads(r.stdout)["error"]["exit_code"] == r.exit_code
    r = _nc("shop", "cart", "show", "--key", "nobody", "--shop", shop, "--json")
    assert r.exit_code == 3 and "note-compute key new nobody" in json.loads(r.stdout)["error"]["message"]
    r = _nc("shop", "search", "--shop", shop, "--limit", "0", "--json")
    assert r.exit_code == 2 and json.loads(r.stdout)["error"]["exit_code"] == 2


def test_publish_q_prints_only_the_shop_authority(shopnet) -> None:
    from note_compute import keystore

    r = _nc("shop", "publish", "--key", "shop", "--products", "20", "-q")
    assert r.exit_code == 0 and r.stdout == keystore.load_key("shop").authority + "\n", r.output
