"""Attackers for tests, who choose their own data and programs.

A lying publisher: datasets whose shards are not what a well-formed manifest promises.

:func:`junk_manifest` signs a manifest over shards given *as they are*
(records in any order, bounds declared by the caller), so tests and attack
simulations can publish what :func:`~note_compute.compute.dataset.build_dataset`
never would: records out of sort-key order, keys outside the declared shard
bounds, records that are not canonical maps. The manifest itself passes the
reader's structural checks (counts, roots, ordered bounds): only a peer that
checks the shards it holds (:func:`~note_compute.compute.wellformed.check_shard`)
can tell.

A liar crowding genuine evidence against itself out of the index with real,
convicting lies about throwaway datasets, ground for small proof hashes:
:func:`crowding_lies`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import encoding
from ..blobs import split_blob
from ..compute.dataset import DATASET_TYPE, encode_shard
from ..crypto import SigningKey
from ..merkle import MerkleTree, merkle_root
from ..records import Record, sign_record

__all__ = ["JunkDataset", "crowding_lies", "junk_manifest", "publish_junk"]


@dataclass
class JunkDataset:
    """What :func:`junk_manifest` built: the signed record and each shard's blob."""

    record: Record
    blobs: list[bytes]
    url: str


def junk_manifest(
    key: SigningKey,
    name: str,
    shards: Sequence[Sequence[bytes]],
    bounds: Sequence[tuple[list[Any], list[Any]]],
    sort_key: Sequence[str],
    *,
    seq: int = 1,
) -> JunkDataset:
    """Sign a manifest over ``shards`` (record bytes, kept in the given order) with the given ``bounds``."""
    rows: list[dict[str, Any]] = []
    blobs = []
    for recs, (lo, hi) in zip(shards, bounds, strict=True):
        blob = encode_shard(list(recs))
        blobs.append(blob)
        rows.append({"lo": list(lo), "hi": list(hi), "count": len(recs), "root": MerkleTree(list(recs)).root,
                     "blob": split_blob(blob)[0].address, "size": len(blob)})
    value: dict[str, Any] = {"type": DATASET_TYPE, "version": 1, "name": name, "schema": {}, "sort_key": list(sort_key),
             "count": sum(len(s) for s in shards), "root": merkle_root([r["root"] for r in rows]), "shards": rows}
    url = f"note://{key.authority}/datasets/{name}"
    record = sign_record(key, url, seq=seq, value=encoding.encode(value), created=1_700_000_000 + seq)
    return JunkDataset(record, blobs, url)


async def publish_junk(client: Any, junk: JunkDataset) -> str:
    """Store the shard blobs and the manifest through a ring client (``put_blob`` / ``put_record``)."""
    for blob in junk.blobs:
        await client.put_blob(blob)
    await client.put_record(junk.record)
    return junk.url


def crowding_lies(liar: SigningKey, wasm: bytes, records: Sequence[bytes], blob: bytes, n: int, *,
                  below: bytes | None = None, tries: int = 20_000) -> list[Any]:
    """``n`` real, convicting lies signed by ``liar``, each about its own throwaway dataset URL, ground for
    small proof hashes (all below ``below`` when given): the crowd-out attack on the evidence index.

    Each receipt covers the whole shard ``records`` (stored at ``blob``) under the program ``wasm``
    (:data:`~note_compute.testing.compute.ALL_WAT`-like: selects every record) and claims the
    output without its first record: a ``shard`` fraud proof that convicts (``hidden-match``).
    The datasets need not exist: the verifier loads the shard by ``blob`` and the program by hash.
    """
    import hashlib

    from ..compute.fraud import KIND_SHARD, FraudProof
    from ..compute.protocol import (
        QueryRequest,
        digest_of_claim,
        make_receipt,
        record_digests,
    )

    phash = hashlib.sha256(wasm).digest()
    root = MerkleTree(list(records)).root
    claimed = list(range(1, len(records)))
    digests = record_digests([records[i] for i in claimed])
    out: list[tuple[bytes, Any]] = []
    for t in range(tries):
        url = f"note://{liar.authority}/datasets/throwaway-{t}"
        args = encoding.encode(t)
        req = QueryRequest(f"note://{liar.authority}/programs/p", phash, url, 1, 0, args)
        receipt = make_receipt(liar, req, shard_root=root, count=len(records), sort_key=["id"],
                               result=digest_of_claim(claimed, digests, b""), fuel=1)
        fp = FraudProof(KIND_SHARD, receipt.encode(), args, claimed, digests, b"", [], b"", blob)
        h = fp.address
        if below is None or h < below:
            out.append((h, fp))
            if len(out) >= n:
                break
    out.sort(key=lambda x: x[0])
    return [fp for _, fp in out[:n]]
