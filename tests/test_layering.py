"""Layers that hold: pure cores import no I/O runtime; imports follow the layer table; no cycles.

The table (``LAYERS``) ranks every top-level module and package of
``note_compute``; an import may go to an equal or lower rank only. Imports
are read with ``ast`` from every module, including those inside functions
and under ``if TYPE_CHECKING`` (an import the type checker follows is a
dependency all the same).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PURE = [
    "note_compute.errors", "note_compute.domains", "note_compute.encoding", "note_compute.crypto",
    "note_compute.urls", "note_compute.records", "note_compute.blobs", "note_compute.merkle",
    "note_compute.ring", "note_compute.programs", "note_compute.sandbox.abi",
    "note_compute.compute.dataset", "note_compute.compute.protocol", "note_compute.compute.verify",
    "note_compute.compute.fraud", "note_compute.compute.audit", "note_compute.compute.evidence",
    "note_compute.inbox", "note_compute.wire", "note_compute.transport", "note_compute.store.policy",
    "note_compute.compute.session", "note_compute.compute.actions", "note_compute.compute.hints",
    "note_compute.compute.reconcile", "note_compute.compute.result", "note_compute.compute.session_state",
    "note_compute.compute.session_fetch", "note_compute.program_interface", "note_compute.localnet",
    "note_compute.compute.progress",
]
FORBIDDEN = ("trio", "libp2p", "wasmtime")


def test_pure_cores_import_no_io_runtime():
    code = (
        "import importlib, sys\n"
        f"for m in {PURE!r}: importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"pure modules pulled in: {out.stdout.strip()}"


# -- the layer table, read from the imports ------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]

LAYERS: dict[str, int] = {
    # 0: pure cores and wire formats (errors, encodings, signed objects, every message schema)
    "errors": 0, "domains": 0, "encoding": 0, "crypto": 0, "urls": 0, "records": 0, "blobs": 0,
    "merkle": 0, "wire": 0, "inbox": 0, "site": 0, "keystore": 0, "localnet": 0, "programs": 0,
    "program_interface": 0,
    # 1: the sans-IO ring and the transport interface it runs over
    "ring": 1, "transport": 1,
    # 2: resources a node owns: the store, the wasm sandbox, the libp2p adapter (and the local relay transport)
    "store": 2, "sandbox": 2, "net": 2, "relay": 2,
    # 3: verifiable computation (datasets, protocol, verification, fraud proofs)
    "compute": 3,
    # 4: the ring client (handed its evidence rules as a policy; only open_client names compute, for the
    #    default) and the PSI protocol built on compute and the client
    "client": 4, "psi": 4,
    # 5: the node runtime (storage service, replication)
    "node": 5,
    # 6: applications and development tools
    "testing": 6, "devnet": 6, "gateway": 6, "cli": 6, "demo": 6,
}
"""Rank of each top-level module or package of note_compute: an import may only go to an equal or lower
rank. Inside rank 0 and between packages of one rank, only the cycle check applies."""


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for p in (ROOT / "note_compute").rglob("*.py"):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (p, is_pkg)
    return out


MODULES = _modules()


def _targets(mod: str, is_pkg: bool, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = mod.split(".") if is_pkg else mod.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        names = [f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target for a in node.names]
    out = []
    for t in names:
        if not t.startswith("note_compute"):
            continue
        while t not in MODULES and "." in t:
            t = t.rsplit(".", 1)[0]
        out.append(t)
    return out


def _edges() -> dict[str, set[str]]:
    """Every import of every module (inside functions and ``if TYPE_CHECKING`` too).

    Importing ``a.b.c`` from outside package ``a.b`` runs ``a.b/__init__`` first: that is an edge too.
    """
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for mod, (path, is_pkg) in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for t in _targets(mod, is_pkg, node):
                if t != mod:
                    edges[mod].add(t)
                parts = t.split(".")
                for i in range(2, len(parts)):
                    parent = ".".join(parts[:i])
                    if parent in MODULES and not (mod == parent or mod.startswith(parent + ".")):
                        edges[mod].add(parent)
    return edges


def _unit(mod: str) -> str:
    return mod.split(".")[1] if "." in mod else "note_compute"


def _arrows_the_wrong_way(edges: dict[str, set[str]]) -> list[str]:
    bad = []
    for a, targets in edges.items():
        for b in targets:
            ua, ub = _unit(a), _unit(b)
            if ua == ub or ub == "note_compute":
                continue
            if ua not in LAYERS or ub not in LAYERS:
                bad.append(f"{a} -> {b}: {ua if ua not in LAYERS else ub} has no row in LAYERS")
            elif LAYERS[ub] > LAYERS[ua]:
                bad.append(f"{a} -> {b}: {ua} (layer {LAYERS[ua]}) imports {ub} (layer {LAYERS[ub]})")
    return sorted(bad)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_every_package_has_a_layer() -> None:
    units = {_unit(m) for m in MODULES} - {"note_compute"}
    assert units <= set(LAYERS), f"add a row to LAYERS for {sorted(units - set(LAYERS))}"


def test_no_import_runs_against_the_layers() -> None:
    bad = _arrows_the_wrong_way(_edges())
    assert not bad, "imports against the layer table:\n" + "\n".join(bad)


def test_no_import_cycle() -> None:
    cycles = _cycles(_edges())
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_checker_sees_hidden_and_relative_imports() -> None:
    """The table is only as good as the import reader: function-level and relative imports count."""
    src = "def f():\n    from ..compute import evidence\n    import note_compute.node.storage\n"
    node_a, node_b = ast.parse(src).body[0].body  # type: ignore[attr-defined]
    assert _targets("note_compute.store.db", False, node_a) == ["note_compute.compute.evidence"]
    assert _targets("note_compute.store.db", False, node_b) == ["note_compute.node.storage"]
    edges = {"note_compute.store.db": {"note_compute.compute.evidence"}, "note_compute.compute.evidence": set()}
    assert _arrows_the_wrong_way(edges) == [
        "note_compute.store.db -> note_compute.compute.evidence: store (layer 2) imports compute (layer 3)"
    ]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_ring_client_is_handed_its_evidence_rules() -> None:
    """client -> compute: only ``open_client`` names compute, for the default evidence rules it hands the
    client (``compute.ring_evidence``); the ``Client`` class takes them as a policy, as the store does."""
    edges = _edges()
    assert {t for t in edges["note_compute.client"] if _unit(t) == "compute"} <= {
        "note_compute.compute", "note_compute.compute.ring_evidence"}
    tree = ast.parse(MODULES["note_compute.client"][0].read_text())
    owners = []
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("compute"):
                    owners.append(fn.name)
    assert owners == ["open_client"]
