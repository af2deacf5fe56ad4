"""Every file under specs/vectors/ is loaded by a named test, and the vector files follow the conventions.

``LOADED_BY`` is the explicit map (file -> test module that loads it). A new
file under ``specs/vectors/`` fails this test until it is added here with the
test that loads it; the test module must name the file (it reads it, or runs
the generator). Map entries for files absent from this checkout (a vector
still on another branch) are allowed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "specs" / "vectors"

LOADED_BY: dict[str, str] = {
    "README.md": "tests/test_vectors_loaded.py",
    "rfc8032_ed25519.json": "tests/test_crypto.py",
    "ed25519_edge.json": "tests/test_vectors_ed25519.py",
    "gen_ed25519_edge.py": "tests/test_vectors_ed25519.py",
    "records.json": "tests/test_records_vectors.py",
    "gen_records.py": "tests/test_records_vectors.py",
    "refusals.json": "tests/test_vectors_refusals.py",
    "gen_refusals.py": "tests/test_vectors_refusals.py",
    "urls.json": "tests/test_vectors_urls.py",
    "gen_urls.py": "tests/test_vectors_urls.py",
    "merkle.json": "tests/test_merkle.py",
    "gen_merkle.py": "tests/test_merkle.py",
    "ring.json": "tests/test_ring_vectors.py",
    "gen_ring.py": "tests/test_ring_vectors.py",
    "ring_rules.json": "tests/test_vectors_ring_rules.py",
    "gen_ring_rules.py": "tests/test_vectors_ring_rules.py",
    "client_rules.json": "tests/test_vectors_client_rules.py",
    "gen_client_rules.py": "tests/test_vectors_client_rules.py",
    "wire_samples.json": "tests/test_wire_samples.py",
    "text.json": "tests/test_shop_text.py",
    "inbox.json": "tests/test_inbox_vectors.py",
    "gen_inbox.py": "tests/test_inbox_vectors.py",
    "gen_wire_samples.py": "tests/test_wire_samples.py",
    "wire_refusals.json": "tests/test_vectors_wire_refusals.py",
    "gen_wire_refusals.py": "tests/test_vectors_wire_refusals.py",
    "vectorgen.py": "tests/test_vectors_loaded.py",
    "psi_ristretto255.json": "tests/test_psi.py",
}


def _files() -> list[Path]:
    return sorted(p for p in VECTORS.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def test_every_vector_file_is_loaded_by_a_named_test() -> None:
    unloaded = []
    for path in _files():
        name = path.relative_to(VECTORS).as_posix()
        test = LOADED_BY.get(name)
        if test is None:
            unloaded.append(f"{name}: not in LOADED_BY")
            continue
        source = ROOT / test
        if not source.is_file():
            unloaded.append(f"{name}: {test} does not exist")
        elif name not in source.read_text():
            unloaded.append(f"{name}: {test} never names it")
    assert not unloaded, "vector files no test loads:\n" + "\n".join(unloaded)


def test_the_map_is_not_vacuous() -> None:
    present = {p.relative_to(VECTORS).as_posix() for p in _files()}
    # The files this checkout is known to ship are all there and mapped.
    assert {"records.json", "merkle.json", "ring.json", "rfc8032_ed25519.json", "ed25519_edge.json",
            "refusals.json", "README.md"} <= present
    assert all(LOADED_BY[n].startswith("tests/test_") for n in present if n in LOADED_BY)


def test_readme_lists_every_file() -> None:
    readme = (VECTORS / "README.md").read_text()
    missing = [p.name for p in _files() if p.name != "README.md" and p.name not in readme]
    assert not missing, f"specs/vectors/README.md does not describe: {missing}"


def _numbers(x: Any, where: str) -> list[str]:
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return []
    if isinstance(x, (int, float)):
        return [where]
    if isinstance(x, list):
        return [w for i, v in enumerate(x) for w in _numbers(v, f"{where}[{i}]")]
    return [w for k, v in x.items() for w in _numbers(v, f"{where}.{k}")]


def test_no_json_numbers_integers_are_decimal_strings() -> None:
    """A JSON parser without big integers (JavaScript's) must read every u64 exactly."""
    for path in VECTORS.glob("*.json"):
        found = _numbers(json.loads(path.read_text()), path.name)
        assert not found, f"JSON numbers (write them as decimal strings): {found[:5]}"


def test_every_json_vector_states_its_provenance() -> None:
    for path in VECTORS.glob("*.json"):
        doc = json.loads(path.read_text())
        prov = doc.get("_provenance")
        if prov is None:  # a hand-written file may state it as one sentence
            assert isinstance(doc.get("provenance"), str) and len(doc["provenance"]) > 40, path.name
            continue
        assert isinstance(prov, dict), path.name
        assert "generator" in prov or "source" in prov, path.name
        gen = prov.get("generator")
        if gen is not None:
            assert (ROOT / gen).is_file(), f"{path.name}: generator {gen} missing"


def _load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


# Every rule the specs pin down for a second implementation (issue 8, item 6),
# with where its vectors are: a rule without a vector fails here.
RULES: dict[str, tuple[str, Any]] = {
    "records.md 3.2.1 Ed25519: small-order A refused": (
        "ed25519_edge.json", lambda d: [v for v in d["signatures"] if v["rule"] == "small-order-A"]),
    "records.md 3.2.1 Ed25519: small-order R refused": (
        "ed25519_edge.json", lambda d: [v for v in d["signatures"] if v["rule"] == "small-order-R"]),
    "records.md 3.2.1 Ed25519: non-canonical S refused": (
        "ed25519_edge.json", lambda d: [v for v in d["signatures"] if v["rule"] == "non-canonical-S"]),
    "records.md 3.2.1 Ed25519: non-canonical A refused": (
        "ed25519_edge.json", lambda d: [v for v in d["signatures"] if v["rule"] == "non-canonical-A"]),
    "records.md 3.2.1 Ed25519: cofactorless equation": (
        "ed25519_edge.json", lambda d: [v for v in d["signatures"] if v["rule"] == "cofactorless"]),
    "records.md 1.1 CBOR nesting depth": (
        "refusals.json", lambda d: [v for v in d["cbor"] if v["name"].startswith("depth:")]),
    "records.md 1.2 refusal precedence": (
        "refusals.json", lambda d: [v for v in d["cbor"] if ", then" in v["name"]]),
    "records.md 1.3 too-large cases": (
        "refusals.json", lambda d: [v for v in d["records"] if v["expected_reason"] == "too-large"]),
    "records.md 3.1.1 record refusal order": (
        "refusals.json", lambda d: [v for v in d["records"] if v["expected_code"] != "accept"]),
    "records.md 2.3 ASCII-only case folding": (
        "urls.json", lambda d: [v for v in d["urls"] if "not folded" in v["name"]]),
    "records.md 2.3.1 the scheme reason": (
        "urls.json", lambda d: [v for v in d["urls"] if v.get("reason") == "scheme"]),
    "records.md 2.3.1 order of # ? @ :": (
        "urls.json", lambda d: [v for v in d["urls"] if "before" in v["name"] or "beats" in v["name"]]),
    "records.md 2.3 lengths in code points": (
        "urls.json", lambda d: [v for v in d["urls"] if "code_points" in v]),
    "records.md 5.1 media-type grammar": ("urls.json", lambda d: d["media_types"]["cases"]),
    "records.md 5.1 CLI default media type": ("urls.json", lambda d: [d["media_types"]["cli_put_default"]]),
    "ring.md successor lists may repeat peers": (
        "ring_rules.json", lambda d: [v for v in d["find"]
                                      if len(set(v["reply_successors"])) < len(v["reply_successors"])]),
    "ring.md claimed-peer fallback": (
        "ring_rules.json", lambda d: [v for v in d["lookups"] if v["via"] == "fallback"]),
    "storage-rpc.md the count a client sends": ("client_rules.json", lambda d: [d["lookup"]["find_request"]]),
    "storage-rpc.md peers kept for get and put": ("client_rules.json", lambda d: d["lookup"]["operations"]),
    "storage-rpc.md equivocating replicas": ("client_rules.json", lambda d: d["equivocation"]["cases"]),
    "storage-rpc.md the kind reason": (
        "client_rules.json", lambda d: [v for v in d["kind"] if v["reason"] == "kind"]),
    "transport.md optional error-reply fields": (
        "client_rules.json", lambda d: [v for v in d["error_replies"]["cases"] if "absent" in v["name"]]),
    "transport.md no op with error": ("client_rules.json", lambda d: d["error_replies"]["responder_sends"]),
}


def test_every_spec_rule_has_a_vector() -> None:
    missing = [rule for rule, (name, pick) in RULES.items() if not pick(_load(name))]
    assert not missing, f"spec rules without a vector: {missing}"


def test_every_generator_reproduces_its_file_through_vectorgen() -> None:
    """Every ``gen_*.py`` writes and checks through the shared ``vectorgen.run``, and ``--check`` passes:
    each vector file is byte for byte what its generator writes."""
    import subprocess
    import sys

    gens = sorted(VECTORS.glob("gen_*.py"))
    assert len(gens) >= 11
    stale = []
    for gen in gens:
        assert "vectorgen.run(" in gen.read_text(), f"{gen.name} does not use vectorgen.run"
        done = subprocess.run([sys.executable, str(gen), "--check"], capture_output=True, text=True)
        if done.returncode != 0:
            stale.append(f"{gen.name}: {done.stderr.strip()[-300:]}")
    assert not stale, "\n".join(stale)
