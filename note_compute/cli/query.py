"""``note-compute query PROGRAM_URL DATASET_URL --args JSON [--range JSON] [--audit RATE] [--replicas K] [--json]``.

Runs a verified query (``note_compute.compute.client``) and prints the
results as a table plus a verification summary (records proven,
completeness, audits, peers used, fraud found). ``--json`` prints one JSON
object ``{"results": [...every match...], "verification": {...}}``.

Before any peer is asked, the program record and the dataset manifest are
fetched and the input is checked locally: ``--args`` against the program's
interface (unknown argument, wrong type, out of bounds, reversed range: exit
2 naming it) and ``--range`` against the dataset's sort key and schema
(``--range`` is inclusive, see :mod:`.ranges`). A program that rejects its
input anyway is reported once, with the meaning its interface gives the
error code (exit 2). Exit 1 when verification fails or fraud is found.
"""

from __future__ import annotations

import json
import re
from typing import Any

import click

from ..errors import NoteError
from ._common import (
    EXIT_NETWORK,
    EXIT_USAGE,
    EXIT_VERIFY,
    CliError,
    bootstrap_option,
    emit_json,
    fail,
    format_amount,
    json_option,
    jsonable,
    run_async,
    status,
)
from .ranges import RANGE_HELP

__all__ = ["register", "query_cmd", "jsonable", "progress_line", "DEFAULT_AUDIT"]

DEFAULT_AUDIT = 0.05
"""Audit rate for predicate queries when ``--audit`` is not given (its measured cost: BENCHMARKS.md)."""

_TAG = re.compile(r" \[[a-z0-9-]+\]")


def _parse_json(text: str, what: str) -> Any:
    def no_float(s: str) -> Any:
        raise ValueError(f"float {s} not allowed (use integers, e.g. cents)")

    from ..compute.dataset import no_repeated_keys  # the check `dataset publish` makes of each line

    try:
        return json.loads(text, parse_float=no_float, parse_constant=no_float, object_pairs_hook=no_repeated_keys)
    except ValueError as exc:
        raise CliError(f"{what} is not valid JSON: {exc}", EXIT_USAGE, reason="json") from None


@click.command("query")
@click.argument("program_url")
@click.argument("dataset_url")
@click.option("--args", "args_json", default="{}", show_default=True, metavar="JSON",
              help="Program arguments (a JSON object); see `note-compute program show PROGRAM_URL`.")
@click.option("--range", "range_json", default=None, metavar="JSON", help=RANGE_HELP)
@click.option("--audit", type=click.FloatRange(0.0, 1.0), default=None,
              help="Fraction of other records re-checked locally (predicate queries; default "
                   f"{DEFAULT_AUDIT}, see BENCHMARKS.md for its cost).")
@click.option("--replicas", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Replicas asked per shard; their signed results must agree.")
@click.option("--quorum", is_flag=True,
              help="With --replicas >= 2: keep the agreeing replicas' BLS quorum certificates (slow: ~0.3 s a peer).")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds per peer request.")
@json_option
@bootstrap_option
def query_cmd(program_url: str, dataset_url: str, args_json: str, range_json: str | None, audit: float | None,
              replicas: int, quorum: bool, timeout: float, as_json: bool, bootstrap: tuple[str, ...]) -> None:
    """Run PROGRAM_URL over DATASET_URL on the ring and verify every answer."""
    import trio

    from .. import encoding, programs, urls
    from ..client import open_client
    from ..compute.client import ComputeClient
    from ..compute.freshness import Freshness
    from ..compute.registry import RingFraudRegistry
    from ..program_interface import check_args
    from ..records import verify_record
    from ..sandbox import Sandbox
    from .dataset import verified_manifest
    from .describe import expect_kind
    from .ranges import check_range, check_shape, to_protocol

    args = _parse_json(args_json, "--args")
    rng = _parse_json(range_json, "--range") if range_json is not None else None
    if rng is not None:
        try:
            check_shape(rng)
        except NoteError as exc:
            raise fail(exc) from None
    try:
        program_url, dataset_url = urls.normalize(program_url), urls.normalize(dataset_url)
        args_bytes = encoding.encode(args)
    except NoteError as exc:
        raise fail(exc, EXIT_USAGE) from None
    if audit is None:
        audit = 0.0 if rng is not None else DEFAULT_AUDIT
    box: dict[str, Any] = {}
    sandbox = Sandbox()
    freshness = Freshness.at_home()  # newest dataset seq seen, across runs: no rollback

    async def go() -> Any:
        async with open_client(list(bootstrap) or None) as client:
            async def get_program() -> None:
                record = await client.get_record(program_url)
                verify_record(record)
                expect_kind(record, "program")  # a dataset URL given as the program: exit 2, naming it
                box["program"] = programs.parse_program(record)

            async def get_manifest() -> None:
                box["manifest"] = await verified_manifest(client, dataset_url)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(get_program)
                nursery.start_soon(get_manifest)
            prog, manifest = box["program"], box["manifest"]
            if prog.interface is not None:
                check_args(prog.interface, args)  # InvalidArgument: exit 2, nothing sent to a peer
            protocol_range = None
            if rng is not None:
                check_range(rng, manifest.sort_key, manifest.schema)
                protocol_range = to_protocol(rng)
            what = f"querying {len(manifest.shards)} shard(s) of {manifest.name} ({manifest.count:,} records)"
            update(what)
            # Fraud proofs live in the ring under the accused peer's id: consulted before choosing
            # peers (each proof re-checked here), and the proofs this query finds are published.
            cc = ComputeClient(client, sandbox, timeout=timeout, fraud_registry=RingFraudRegistry(client),
                               freshness=freshness)
            latest: list[Any] = [None]  # the client's newest progress snapshot (its hook: state changes only)

            def seen(p: Any) -> None:
                latest[0] = p

            async with trio.open_nursery() as nursery:
                async def explain_the_wait() -> None:  # after a second: what the query waits for, and how long
                    await trio.sleep(1.0)
                    while True:
                        update(progress_line(latest[0], trio.current_time(), timeout) if latest[0] else
                               f"{len(manifest.shards)} shard(s): waiting for signed answers (a peer silent for "
                               f"{timeout:g} s is replaced)")
                        await trio.sleep(0.25)

                nursery.start_soon(explain_the_wait)
                answer = await cc.query(program_url, dataset_url, args_bytes, range=protocol_range, audit=audit,
                                        replicas=replicas, quorum=quorum, progress=seen)
                nursery.cancel_scope.cancel()
            return answer

    try:
        with status("fetching the program and the dataset manifest") as update:
            result = run_async(go)
    finally:
        sandbox.close()
    prog, manifest = box["program"], box["manifest"]
    values = [jsonable(v) for v in result.values()]
    v = result.verification
    from .describe import explain_rejection

    rejection = explain_rejection(v.failures + v.errors, prog.interface)
    error: CliError | None = None
    unanswered = network_failure(v)
    if not v.ok and rejection:
        error = CliError(rejection, EXIT_USAGE, code="program-error", reason="program-error")
    elif unanswered is not None:  # nobody lied: nobody answered (exit 4, not "verification failed")
        error = CliError(f"no peer answered for shard(s) {unanswered} within --timeout {timeout:g} s: the network "
                         "is unavailable or too slow (see `note-compute ring status`; a longer --timeout may help)",
                         EXIT_NETWORK, code="timeout", reason="unanswered")
    if as_json:  # one document: the results, the verification and the error (if any) together
        out: dict[str, Any] = {"results": values, "verification": v.to_json()}
        if rejection:
            out["rejected"] = rejection
        if error is not None:
            out["error"] = {"message": error.message, "code": error.code, "reason": error.reason,
                            "exit_code": error.exit_code, "detail": error.detail}
        emit_json(out)
    elif error is None:  # a rejection or a network failure is one line (below), not a table
        _print_table(values, v, manifest, prog, rejection)
    if error is not None:
        if as_json:
            click.echo(f"Error: {error.message}", err=True)
            raise SystemExit(error.exit_code)
        raise error
    if not v.ok or v.fraud:
        raise SystemExit(EXIT_VERIFY)


def progress_line(p: Any, now: float, timeout: float) -> str:
    """The status line for a query's progress snapshot (``compute.progress.QueryProgress``) at ``now``:
    "3 of 12 shards verified; waiting on shard 7 from 12D3Koo...ab (2.1 s, replaced at 5 s)"."""
    line = f"{p.shards_verified} of {p.shards_total} shards verified"
    if p.shards_failed:
        line += f", {p.shards_failed} failed"
    if p.waiting_shard is not None:
        line += (f"; waiting on shard {p.waiting_shard} from {p.waiting_peer} ({p.waited(now):.1f} s, "
                 f"replaced at {timeout:g} s)")
    return line


_NETWORK_FAILURE = re.compile(r"^shard (\d+): (?:(?:Timeout|PeerUnreachable|RateLimited|Busy|NotAMember): "
                              r"|no replicas found)")


def network_failure(v: Any) -> str | None:
    """The shards nobody answered, when that is the whole failure (no fraud, no failed check); else None."""
    if v.ok or v.fraud or not v.failures:
        return None
    shards = set()
    for f in v.failures:
        m = _NETWORK_FAILURE.match(f)
        if m is None:
            return None
        shards.add(int(m.group(1)))
    return ", ".join(str(i) for i in sorted(shards))


def _units(prog: Any) -> dict[str, str]:
    itf = prog.interface
    return {f.name: f.unit for f in itf.records if f.unit} if itf is not None else {}


def _columns(values: list[Any], prog: Any, limit: int = 5) -> list[str]:
    """Which fields to show: id, the fields the program reads (short ones first), then other scalars."""
    seen: list[str] = []
    for val in values[:50]:
        if isinstance(val, dict):
            seen.extend(k for k in val if k not in seen)
    rows = [v for v in values[:50] if isinstance(v, dict)]
    scalar = [k for k in seen if all(not isinstance(v.get(k), (list, dict)) for v in rows)]
    itf = [f.name for f in prog.interface.records] if prog.interface is not None else []
    long = {k for k in scalar if any(len(str(v.get(k, ""))) > 60 for v in values[:50] if isinstance(v, dict))}
    order = [k for k in ["id"] if k in scalar] + [k for k in itf if k in scalar and k not in long]
    order += [k for k in scalar if k not in order and k not in long]
    return order[:limit]


def _cell(value: Any, unit: str | None) -> str:
    if unit:
        return format_amount(value, unit)
    return value if isinstance(value, str) else json.dumps(value)


def _print_table(values: list[Any], v: Any, manifest: Any, prog: Any, rejection: str | None) -> None:
    from rich.table import Table

    from ._common import console as _console

    console = _console()
    units = _units(prog)
    if values:
        cols = _columns(values, prog)
        table = Table(title=f"{len(values)} result{'s' if len(values) != 1 else ''}")
        for c in cols or ["value"]:
            table.add_column(c, overflow="fold", max_width=48, justify="right" if c in units else "left")
        for val in values:
            if isinstance(val, dict) and cols:
                table.add_row(*[_cell(val.get(c, ""), units.get(c))[:120] for c in cols])
            else:
                table.add_row(json.dumps(val)[:120])
        console.print(table)
    elif v.ok:
        console.print(f"No results: nothing in {manifest.name} ({manifest.count:,} records) matched.")
    if rejection and not v.ok:
        console.print(f"[red]not answered[/red]: {rejection}")
    else:
        # "verified" only for a verdict of verified-complete or audited (compute/result.py); else what was not checked
        color = {"verified-complete": "green", "audited": "green", "unverified": "yellow"}.get(v.verdict, "red")
        console.print(f"[{color}]{_TAG.sub('', v.summary or v.verdict)}[/{color}]")
    console.print(f"{v.records_proven:,} records proven over {v.shards} shard(s) of {v.dataset} seq {v.seq}")
    completeness = (v.completeness or "n/a") if v.ok else "not established (no verified answer)"
    console.print(f"completeness: {completeness}; audited records: {v.audited_records}")
    console.print(f"peers used: {len(v.peers_used)}; bytes received: {v.bytes_received:,}; "
                  f"time {v.total_seconds * 1000:.0f} ms (verification {v.verify_seconds * 1000:.0f} ms)")
    if v.fraud:
        console.print(f"[red]fraud found: {len(v.fraud)}[/red]")
        for f in v.fraud:
            console.print(f"  peer {f['peer'][:16]}: {f['lie']} (fraud proof {f['proof'][:16]})")
    else:
        console.print("fraud found: none")
    if v.certificates:
        console.print(f"quorum certificates: {len(v.certificates)} (BLS12-381 aggregates, in --json output)")
    if not rejection:
        seen: set[str] = set()
        for e in v.failures:
            text = _TAG.sub("", e)
            if text not in seen and not v.ok:
                seen.add(text)
                console.print(f"  [dim]{text}[/dim]")


def register(group: click.Group) -> None:
    """Add the ``query`` command to the main CLI."""
    group.add_command(query_cmd)
