"""The first hour's mistakes, each answered with the right exit code and a message naming the cause.

The CLI runs for real (click, the compute client, the sandbox, the shipped
``shop_search`` contract and sample catalog) over the in-memory compute
network: ``open_client`` is swapped for one that yields it, so nothing here
needs sockets. No output may hold a traceback or an internal reason tag.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from note_compute import keystore
from note_compute.cli import main
from note_compute.sandbox import Sandbox
from note_compute.testing.compute import ComputeNetwork

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "examples" / "data" / "products.jsonl"
WASM = ROOT / "contracts" / "shop_search.wasm"
TAGS = ("[devnet-down]", "[program-error]", "[unknown]", "[type]", "[reversed]", "[missing]", "[no-replica]",
        "[sort-key", "[record-field]", "[dry-run]", "[binary]")


@pytest.fixture
def net(sandbox: Sandbox, cli_network: Callable[[Any], Path]) -> ComputeNetwork:
    network = ComputeNetwork(6, sandbox)
    keystore.create_key("shop", home=cli_network(network))
    return network


def nc(*args: str) -> Result:
    r = CliRunner().invoke(main, list(args))
    assert "Traceback" not in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    for tag in TAGS:
        assert tag not in r.output or "--json" in args, r.output
    return r


def authority() -> str:
    return keystore.load_key("shop").authority


@pytest.fixture
def shop(net: ComputeNetwork) -> tuple[str, str]:
    """shop_search (with its interface) and the sample catalog, published through the CLI."""
    r = nc("program", "publish", str(WASM), "--key", "shop", "--name", "shop_search", "-q")
    assert r.exit_code == 0, r.output
    program = r.output.strip()
    r = nc("dataset", "publish", str(CATALOG), "--key", "shop", "--name", "products", "--sort-key", "price,id",
           "--program", program, "--shard-records", "100", "-q")
    assert r.exit_code == 0, r.output
    return program, r.output.strip()


def products() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CATALOG.read_text().splitlines() if line.strip()]


# -- Build 1: programs describe their arguments ----------------------------------------------------------------

def test_program_show_prints_arguments_and_error_codes(shop: tuple[str, str]) -> None:
    r = nc("program", "show", shop[0])
    assert r.exit_code == 0
    for needle in ("min_price", "inclusive", "uint (cents)", '"-price"', "error codes", "bad arguments"):
        assert needle in r.output, needle
    j = json.loads(nc("program", "show", shop[0], "--json").output)
    assert set(j["interface"]["args"]) == {"text", "category", "min_price", "max_price", "sort", "limit"}
    assert j["interface"]["errors"]["2"].startswith("a record is not a product")


@pytest.mark.parametrize("args, needle", [
    ('{"txt": "lamp"}', "unknown argument 'txt' (accepted: category, limit, max_price, min_price, sort, text); "
                        "did you mean 'text'?"),
    ('{"limit": "10"}', "argument 'limit' must be a non-negative integer, got text \"10\""),
    ('{"sort": "cheap"}', 'argument \'sort\' must be one of "price", "-price", "name", "none"; got "cheap"'),
    ('{"min_price": 5000, "max_price": 1000}', "'min_price' (5000) is above 'max_price' (1000)"),
    ('["lamp"]', "the arguments are a JSON object"),
    ('{"category": "Lighting", "category": "Office"}', "--args is not valid JSON: key 'category' appears twice"),
    ('{"limit": 1.5}', "--args is not valid JSON: float 1.5 not allowed (use integers, e.g. cents)"),
])
def test_bad_arguments_refused_before_any_peer_is_asked(net: ComputeNetwork, shop: tuple[str, str], args: str,
                                                         needle: str) -> None:
    before = net.requests
    r = nc("query", *shop, "--args", args)
    assert r.exit_code == 2
    assert needle in r.output
    assert net.requests == before  # nothing was sent to a peer


def test_rejection_by_the_program_reported_once_with_its_meaning(net: ComputeNetwork, tmp_path: Path) -> None:
    # An interface looser than the program (no list of sort orders): the program itself refuses.
    loose = json.loads((ROOT / "contracts" / "shop_search.json").read_text())
    del loose["args"]["sort"]["values"]
    itf = tmp_path / "loose.json"
    itf.write_text(json.dumps(loose))
    r = nc("program", "publish", str(WASM), "--key", "shop", "--name", "loose", "--interface", str(itf), "-q")
    program = r.output.strip()
    ds = nc("dataset", "publish", str(CATALOG), "--key", "shop", "--name", "p", "--sort-key", "id", "-q").output.strip()
    r = nc("query", program, ds, "--args", '{"sort": "cheap"}', "--replicas", "2")
    assert r.exit_code == 2
    meaning = "error 1: bad arguments: an unknown or repeated key, a value of the wrong type, or an unknown sort order"
    assert r.output.count("the program rejected its input") == 1, r.output
    assert meaning in r.output
    # Without an interface the code is still reported once, and said to be undocumented.
    r = nc("program", "publish", str(WASM), "--key", "shop", "--name", "bare", "--no-interface", "-q")
    r = nc("query", r.output.strip(), ds, "--args", '{"txt": "lamp"}')
    assert r.exit_code == 2
    assert r.output.count("error 1 (the program does not document it)") == 1, r.output
    j = json.loads(nc("query", program, ds, "--args", '{"sort": "cheap"}', "--json").output.splitlines()[0])
    assert "program rejected its input" in j["rejected"]


# -- Build 4: conventions ----------------------------------------------------------------------------------------

def test_zero_results_said_in_words_and_prices_with_their_unit(shop: tuple[str, str]) -> None:
    r = nc("query", *shop, "--args", '{"text": "no such product anywhere"}')
    assert r.exit_code == 0
    assert "No results: nothing in products (300 records) matched." in r.output
    assert "0\nresult" not in r.output
    cheapest = min(products(), key=lambda p: p["price"])
    r = nc("query", *shop, "--args", '{"sort": "price", "limit": 1}')
    assert r.exit_code == 0
    cents = cheapest["price"]
    assert f"{cents // 100}.{cents % 100:02d}" in r.output


def test_not_found_is_exit_3(shop: tuple[str, str]) -> None:
    r = nc("query", shop[0], f"note://{authority()}/datasets/nope")
    assert r.exit_code == 3 and "nope" in r.output
    r = nc("program", "show", f"note://{authority()}/programs/nope")
    assert r.exit_code == 3
    r = nc("put", f"note://{authority()}/x", str(CATALOG), "--key", "nobody")
    assert r.exit_code == 3 and "no key named 'nobody'" in r.output


def test_json_and_quiet_outputs(shop: tuple[str, str]) -> None:
    j = json.loads(nc("dataset", "show", shop[1], "--json").output)
    assert j["records"] == 300 and j["shards"] == 3 and j["sort_key"] == ["price", "id"]
    assert j["schema"]["price"] == ["int"]
    j = json.loads(nc("query", *shop, "--args", '{"text": "lamp"}', "--json").output)
    assert j["verification"]["ok"] and all("lamp" in (p["name"] + p["description"]).lower() for p in j["results"])
    assert nc("key", "show", "shop").output.strip() == authority()


# -- Build 6: ranges, one convention (inclusive) ---------------------------------------------------------------

def test_range_is_inclusive_at_both_ends(shop: tuple[str, str]) -> None:
    prices = sorted({p["price"] for p in products()})
    lo, hi = prices[10], prices[20]
    r = nc("query", *shop, "--range", json.dumps([[lo], [hi]]), "--json")
    assert r.exit_code == 0, r.output
    got = sorted(p["price"] for p in json.loads(r.output)["results"])
    want = sorted(p["price"] for p in products() if lo <= p["price"] <= hi)
    assert got == want and got[0] == lo and got[-1] == hi
    # min_price / max_price follow the same convention
    r = nc("query", *shop, "--args", json.dumps({"min_price": lo, "max_price": hi}), "--json")
    assert sorted(p["price"] for p in json.loads(r.output)["results"]) == want


@pytest.mark.parametrize("rng, needle", [
    ('[["1000"], [5000]]', "'price' is text ('1000'), but the dataset's 'price' values are int"),
    ("[[5000], [1000]]", "--range is reversed: lo [5000] is above hi [1000] (both inclusive)"),
    ("[[1, 2, 3], null]", "--range lo bound has 3 values; the sort key is price,id"),
    ("[1, 2]", "--range is [lo, hi] (inclusive)"),
])
def test_bad_ranges_refused(net: ComputeNetwork, shop: tuple[str, str], rng: str, needle: str) -> None:
    before = net.requests
    r = nc("query", *shop, "--range", rng)
    assert r.exit_code == 2
    assert needle in r.output
    assert net.requests == before


# -- Build 2: data checked before it ships ---------------------------------------------------------------------

def _variant(tmp_path: Path, line: int, edit: Any) -> Path:
    rows = products()
    edit(rows[line - 1])
    f = tmp_path / "variant.jsonl"
    f.write_text("\n".join(json.dumps(p) for p in rows) + "\n")
    return f


@pytest.mark.parametrize("line, edit, extra, needle", [
    (17, lambda p: p.pop("price"), [], "line 17: sort-key field 'price' is missing"),
    (5, lambda p: p.update(price="1999"), [], "line 5: sort-key field 'price' is text ('1999'), but 299 other "
                                               "records hold an integer"),
    (8, lambda p: p.update(price=[1]), [], "line 8: sort-key field 'price' is a list"),
    (3, lambda p: None, ["--sort-key", "cost"], "no record has the sort-key field 'cost'"),
])
def test_publish_refuses_data_the_sort_key_cannot_order(net: ComputeNetwork, tmp_path: Path, line: int, edit: Any,
                                                        extra: list[str], needle: str) -> None:
    f = _variant(tmp_path, line, edit)
    r = nc("dataset", "publish", str(f), "--key", "shop", "--name", "bad", *(extra or ["--sort-key", "price,id"]))
    assert r.exit_code == 2
    assert needle in r.output
    assert not any("/datasets/bad" in u for u in net.records)  # nothing published


def test_publish_refuses_a_repeated_key_naming_line_and_key(net: ComputeNetwork, tmp_path: Path) -> None:
    lines = CATALOG.read_text().splitlines()
    assert lines[41].endswith("}")
    lines[41] = lines[41][:-1] + ', "price": 1}'  # json.loads alone would silently keep price 1
    f = tmp_path / "twice.jsonl"
    f.write_text("\n".join(lines) + "\n")
    r = nc("dataset", "publish", str(f), "--key", "shop", "--name", "twice", "--sort-key", "price,id")
    assert r.exit_code == 2, r.output
    assert "twice.jsonl: line 42: key 'price' appears twice" in r.output
    assert not any("/datasets/twice" in u for u in net.records)  # nothing published


def test_publish_reads_a_file_with_a_byte_order_mark(net: ComputeNetwork, tmp_path: Path) -> None:
    f = tmp_path / "excel.jsonl"
    f.write_bytes(b"\xef\xbb\xbf" + CATALOG.read_bytes())
    r = nc("dataset", "publish", str(f), "--key", "shop", "--name", "bom", "--sort-key", "price,id", "--json")
    assert r.exit_code == 0 and json.loads(r.output)["records"] == 300, r.output


def test_publish_checks_records_against_the_programs_interface(net: ComputeNetwork, shop: tuple[str, str],
                                                               tmp_path: Path) -> None:
    f = _variant(tmp_path, 9, lambda p: p.pop("description"))
    r = nc("dataset", "publish", str(f), "--key", "shop", "--name", "bad", "--sort-key", "id", "--program", shop[0])
    assert r.exit_code == 2
    assert "line 9: field 'description' is missing (product description)" in r.output
    assert not any("/datasets/bad" in u for u in net.records)


def test_publish_dry_runs_the_program(net: ComputeNetwork, tmp_path: Path) -> None:
    # A local binary without an interface file: only the dry run can tell, and it names the line.
    wasm = tmp_path / "search.wasm"
    shutil.copy(WASM, wasm)
    f = _variant(tmp_path, 123, lambda p: p.update(category=7))
    r = nc("dataset", "publish", str(f), "--key", "shop", "--name", "bad", "--sort-key", "id", "--program", str(wasm))
    assert r.exit_code == 2
    assert "line 123: search rejects this record (error 2)" in r.output
    assert not any("/datasets/bad" in u for u in net.records)


def test_show_and_export_round_trip_the_catalog(shop: tuple[str, str], tmp_path: Path) -> None:
    r = nc("dataset", "show", shop[1])
    assert r.exit_code == 0
    assert "300 records in 3 shard(s)" in r.output and "sorted by price, id" in r.output
    out = tmp_path / "out.jsonl"
    r = nc("dataset", "export", shop[1], "-o", str(out))
    assert r.exit_code == 0
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    key = lambda p: p["id"]  # noqa: E731
    assert sorted(exported, key=key) == sorted(products(), key=key)
    assert [p["price"] for p in exported] == sorted(p["price"] for p in exported)  # sort-key order


def test_get_never_prints_binary_to_a_terminal(shop: tuple[str, str], monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    import note_compute.cli.node as node_cli

    monkeypatch.setattr(node_cli, "is_terminal", lambda stream=None: True)
    r = nc("get", shop[1])
    assert r.exit_code == 2
    assert "binary data (a dataset manifest: see `note-compute dataset show URL`)" in r.output
    assert "not printing it to a terminal" in r.output
    out = tmp_path / "m.cbor"
    assert nc("get", shop[1], "-o", str(out)).exit_code == 0 and out.stat().st_size > 100
