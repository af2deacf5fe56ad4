"""``note-compute query PROGRAM_URL DATASET_URL --args JSON [options]``.

Options: ``[--range JSON] [--audit RATE] [--replicas K] [--quorum] [--json]``.

Runs a verified query (``note_compute.compute.client``) and prints the
results as a table plus a verification summary (records proven,
completeness, audits, peers used, fraud found). ``--json`` prints one JSON
object ``{"results": [...every match...], "verification": {...}}``. Exit
code 1 when verification fails.
"""

from __future__ import annotations

import json
from typing import Any

import click

from ..errors import NoteError

__all__ = ["register", "query_cmd", "jsonable", "DEFAULT_AUDIT"]

DEFAULT_AUDIT = 0.05
"""Audit rate for predicate queries when ``--audit`` is not given (its measured cost: BENCHMARKS.md)."""


def jsonable(value: Any) -> Any:
    """CBOR values as JSON (byte strings become ``{"hex": ...}``)."""
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def _parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text, parse_float=lambda s: (_ for _ in ()).throw(ValueError(f"float {s} not allowed")))
    except ValueError as exc:
        raise click.BadParameter(f"{what} is not valid JSON without floats: {exc}") from None


@click.command("query")
@click.argument("program_url")
@click.argument("dataset_url")
@click.option("--args", "args_json", default="{}", show_default=True, metavar="JSON", help="Program arguments.")
@click.option("--range", "range_json", default=None, metavar="JSON",
              help='Sort-key range [lo, hi) as JSON, e.g. \'[[1000], [5000]]\' or \'[null, ["m"]]\'.')
@click.option("--audit", type=click.FloatRange(0.0, 1.0), default=None,
              help="Fraction of other records re-checked locally (predicate queries; default "
                   f"{DEFAULT_AUDIT}, see BENCHMARKS.md for its cost).")
@click.option("--replicas", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Replicas asked per shard; their signed results must agree.")
@click.option("--quorum", is_flag=True,
              help="With --replicas >= 2: keep the agreeing replicas' BLS quorum certificates (slow: ~0.3 s a peer).")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds per peer request.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (results + verification).")
@click.option("--bootstrap", "bootstrap", multiple=True, metavar="MULTIADDR",
              help="Bootstrap node multiaddr (repeatable); default: $NOTE_HOME/devnet.json.")
def query_cmd(program_url: str, dataset_url: str, args_json: str, range_json: str | None, audit: float | None,
              replicas: int, quorum: bool, timeout: float, as_json: bool, bootstrap: tuple[str, ...]) -> None:
    """Run PROGRAM_URL over DATASET_URL on the ring and verify every answer."""
    import trio

    from .. import encoding
    from ..client import open_client
    from ..compute.client import ComputeClient
    from ..compute.freshness import Freshness
    from ..compute.registry import RingFraudRegistry
    from ..sandbox import Sandbox

    args = _parse_json(args_json, "--args")
    rng = _parse_json(range_json, "--range") if range_json is not None else None
    if rng is not None and not (isinstance(rng, list) and len(rng) == 2
                                and all(b is None or isinstance(b, list) for b in rng)):
        raise click.BadParameter("--range is [lo, hi] where each bound is a list of sort-key values or null")
    try:
        args_bytes = encoding.encode(args)
    except NoteError as exc:
        raise click.BadParameter(f"--args: {exc}") from None

    if audit is None:
        audit = 0.0 if rng is not None else DEFAULT_AUDIT
    sandbox = Sandbox()
    freshness = Freshness.at_home()  # newest dataset seq seen, across runs: no rollback

    async def go():  # type: ignore[no-untyped-def]
        async with open_client(list(bootstrap) or None) as client:
            # Fraud proofs live in the ring under the accused peer's id: consulted before choosing
            # peers (each proof re-checked here), and the proofs this query finds are published.
            cc = ComputeClient(client, sandbox, timeout=timeout, fraud_registry=RingFraudRegistry(client),
                               freshness=freshness)
            return await cc.query(program_url, dataset_url, args_bytes, range=rng, audit=audit, replicas=replicas,
                                  quorum=quorum)

    try:
        result = trio.run(go)
    except NoteError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        close = getattr(sandbox, "close", None)
        if close is not None:
            close()
    values = [jsonable(v) for v in result.values()]
    v = result.verification
    if as_json:
        click.echo(json.dumps({"results": values, "verification": v.to_json()}))
    else:
        _print_table(values, v)
    if not v.ok:
        raise SystemExit(1)


def _print_table(values: list[Any], v: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    cols: list[str] = []
    for val in values[:50]:
        if isinstance(val, dict):
            for k in val:
                if k not in cols and len(cols) < 8:
                    cols.append(k)
    table = Table(title=f"{len(values)} result(s)")
    for c in cols or ["value"]:
        table.add_column(c, overflow="fold", max_width=40)
    for val in values:
        if isinstance(val, dict) and cols:
            table.add_row(*[str(val.get(c, ""))[:120] for c in cols])
        else:
            table.add_row(json.dumps(val)[:120])
    console.print(table)
    # "verified" only for a verdict of verified-complete or audited (compute/result.py); else what was not checked
    color = {"verified-complete": "green", "audited": "green", "unverified": "yellow"}.get(v.verdict, "red")
    console.print(f"[{color}]{v.summary or v.verdict}[/{color}]")
    console.print(f"{v.records_proven} records proven over {v.shards} shard(s) of {v.dataset} seq {v.seq}")
    console.print(f"completeness: {v.completeness}; audited records: {v.audited_records}")
    console.print(f"peers used: {len(v.peers_used)}; bytes received: {v.bytes_received}; "
                  f"time {v.total_seconds * 1000:.1f} ms (verification {v.verify_seconds * 1000:.1f} ms)")
    if v.fraud:
        console.print(f"[red]fraud found: {len(v.fraud)}[/red]")
        for f in v.fraud:
            console.print(f"  peer {f['peer'][:16]}: {f['lie']} (fraud proof {f['proof'][:16]})")
    else:
        console.print("fraud found: none")
    if v.certificates:
        console.print(f"quorum certificates: {len(v.certificates)} (BLS12-381 aggregates, in --json output)")
    for e in v.errors:
        console.print(f"[red]error:[/red] {e}")


def register(group: click.Group) -> None:
    """Add the ``query`` command to the main CLI."""
    group.add_command(query_cmd)
