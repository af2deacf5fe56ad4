"""An in-memory set of compute peers, honest or malicious, for tests and benchmarks.

:class:`ComputeNetwork` is a tiny ring: N peers with Ed25519 keys (node id =
SHA-256 of the public key), a shared record/blob store, ``replicas(key)`` =
the r clockwise successors of the key. It offers the transport methods of the
agreed ``Client`` API (``get_record``, ``get_blob``, ``replicas``,
``request``, ``put_record``, ``put_blob``), so :class:`~note_compute.compute.client.ComputeClient`
runs on it unchanged; ``put_evidence`` / ``get_evidence`` keep fraud proofs
under the accused peer's id in a real (in-memory) :class:`~note_compute.store.Store`,
so :class:`~note_compute.compute.registry.RingFraudRegistry` works on it with the
nodes' checks and merge rule. Each :class:`ComputePeer` runs the real
:class:`~note_compute.compute.server.ComputeServer`; its ``mode`` makes it lie:

``honest``         answer truthfully
``hide_one``       leave out one match (``hide`` matches), sign the smaller output
``hide_all``       return no matches, signed
``forge``          replace (or add) a returned record with forged bytes, signed
``stale``          answer from the previous dataset version
``wrong_program``  run another program (``alt_wasm``), sign with the requested hash
``truncate``       drop the last record of the key range (range queries) or the
                   last match (predicate queries), signed
``false_receipt``  sign a result digest that is not the returned output (nor any output: a lie)
``bad_signature``  corrupt the receipt signature
``refuse``         answer with an error
``timeout``        never answer
``everything``     return every record of the shard (predicate queries), signed
``extra``          sign a different ``extra`` output (same records)
``refuse_audit``   hide one match like ``hide_one`` and refuse every ``compute.records``
                   request (the audit fetch that would expose it)
``no_records``     answer queries honestly, refuse every ``compute.records`` request
``loose``          sign the receipt with ``true`` where the request's range has ``1``
                   (a receipt for another query; loose equality would accept it), hiding one match:
                   a lie about the range it names too (counted in ``signed_lies`` when it is one)
``other_range``    answer truthfully for another range than asked (the request's ``1`` read as
                   ``true``): refused, but no lie (never convicted)
``newer_hint``     claim a newer dataset version exists (``seq-mismatch``, seq + 1), no record attached
``forged_hint``    the same, attaching the dataset record altered to seq + 1 (its signature fails)
``replay_hint``    the same, attaching the dataset's *first* signed record (an old version replayed)
``other_hint``     the same, attaching a validly signed record of the liar's own dataset at a high seq

The peers live on the shared simulated ring (:mod:`note_compute.testing.sim`:
one :class:`~note_compute.ring.core.RingCore` per peer, converged tables):
``replicas(key, count=r)`` runs a real lookup on the simulated ring and
takes the replica set by the ring's own rule
(:func:`note_compute.ring.plan.replica_set`). Records are stored and served
as real nodes do: ``put_record`` checks the signature and address and
refuses a lower seq or an equivocation; ``get_record`` decodes and verifies
what it returns, so a test that plants a record with a bad signature sees it
refused. ``stale_reads[url] = n`` makes the next ``n`` client reads of ``url``
return the previous version (a client view lagging behind the peers').

WAT programs shipped for tests: :data:`SUBSTRING_WAT` (args = CBOR text of at
most 23 bytes; selects the records whose bytes contain it) and
:data:`ALL_WAT` (selects every record).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, cast

import trio

from .. import encoding, urls
from ..blobs import split_blob
from ..compute import evidence
from ..compute.dataset import BuiltDataset, build_dataset
from ..compute.protocol import QueryRequest, Receipt, result_digest
from ..compute.server import ComputeServer, execute
from ..compute.source import RingSource
from ..crypto import SigningKey
from ..errors import InvalidRecord, NotFound, RemoteProtocolError
from ..merkle import MerkleTree
from ..programs import make_program
from ..records import Record, decode_verified, select, sign_record, verify_record
from ..ring import PeerRef
from ..ring.plan import replica_set
from .sim import SimNetwork

__all__ = [
    "ALL_WAT",
    "MODES",
    "SIGNED_LIE_MODES",
    "SUBSTRING_WAT",
    "ComputeNetwork",
    "ComputePeer",
    "MemoryFraudRegistry",
    "signed_claim_proof",
]

MODES = ("honest", "hide_one", "hide_all", "forge", "stale", "wrong_program", "truncate", "false_receipt",
         "bad_signature", "refuse", "timeout", "everything", "extra", "refuse_audit", "no_records", "loose",
         "newer_hint", "other_range", "forged_hint", "replay_hint", "other_hint")
HINT_LIES = ("newer_hint", "forged_hint", "replay_hint", "other_hint")

SIGNED_LIE_MODES = ("hide_one", "hide_all", "forge", "wrong_program", "truncate", "everything", "extra",
                    "refuse_audit")
"""Modes that sign an output other than the honest one for the very query asked (counted in ``signed_lies``)."""

_ALLOC = """
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "nc_abi_version") (result i32) (i32.const 1))
  (func $alloc (export "nc_alloc") (param $size i32) (result i32)
    (local $p i32) (local $need i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (local.get $p) (local.get $size)) (i32.const 7)) (i32.const -8)))
    (local.set $need (i32.sub (i32.shr_u (i32.add (global.get $heap) (i32.const 65535)) (i32.const 16)) (memory.size)))
    (if (i32.gt_s (local.get $need) (i32.const 0))
      (then (if (i32.lt_s (memory.grow (local.get $need)) (i32.const 0)) (then unreachable))))
    (local.get $p))
"""

SUBSTRING_WAT = "(module" + _ALLOC + """
  (func $contains (param $h i32) (param $hl i32) (param $nd i32) (param $nl i32) (result i32)
    (local $s i32) (local $j i32)
    (if (i32.gt_u (local.get $nl) (local.get $hl)) (then (return (i32.const 0))))
    (block $done
      (loop $outer
        (br_if $done (i32.gt_u (local.get $s) (i32.sub (local.get $hl) (local.get $nl))))
        (local.set $j (i32.const 0))
        (block $miss
          (loop $inner
            (if (i32.eq (local.get $j) (local.get $nl)) (then (return (i32.const 1))))
            (br_if $miss (i32.ne (i32.load8_u (i32.add (local.get $h) (i32.add (local.get $s) (local.get $j))))
                                 (i32.load8_u (i32.add (local.get $nd) (local.get $j)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $inner)))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $outer)))
    (i32.const 0))
  (func (export "nc_run") (param $ptr i32) (param $len i32) (result i64)
    (local $al i32) (local $hd i32) (local $nd i32) (local $nl i32) (local $n i32) (local $p i32)
    (local $out i32) (local $cnt i32) (local $i i32) (local $rl i32)
    (local.set $al (i32.load (local.get $ptr)))
    (if (i32.lt_u (local.get $al) (i32.const 1)) (then unreachable))
    (local.set $hd (i32.load8_u (i32.add (local.get $ptr) (i32.const 4))))
    (if (i32.or (i32.lt_u (local.get $hd) (i32.const 0x60)) (i32.gt_u (local.get $hd) (i32.const 0x77)))
      (then unreachable))
    (local.set $nl (i32.sub (local.get $hd) (i32.const 0x60)))
    (if (i32.ne (local.get $al) (i32.add (local.get $nl) (i32.const 1))) (then unreachable))
    (local.set $nd (i32.add (local.get $ptr) (i32.const 5)))
    (local.set $n (i32.load (i32.add (i32.add (local.get $ptr) (i32.const 4)) (local.get $al))))
    (local.set $p (i32.add (i32.add (local.get $ptr) (i32.const 8)) (local.get $al)))
    (local.set $out (call $alloc (i32.add (i32.const 8) (i32.mul (local.get $n) (i32.const 4)))))
    (block $end
      (loop $each
        (br_if $end (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $rl (i32.load (local.get $p)))
        (if (call $contains (i32.add (local.get $p) (i32.const 4)) (local.get $rl) (local.get $nd) (local.get $nl))
          (then
            (i32.store (i32.add (local.get $out) (i32.add (i32.const 4) (i32.mul (local.get $cnt) (i32.const 4))))
                       (local.get $i))
            (local.set $cnt (i32.add (local.get $cnt) (i32.const 1)))))
        (local.set $p (i32.add (local.get $p) (i32.add (i32.const 4) (local.get $rl))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each)))
    (i32.store (local.get $out) (local.get $cnt))
    (i32.store (i32.add (local.get $out) (i32.add (i32.const 4) (i32.mul (local.get $cnt) (i32.const 4))))
               (i32.const 0))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
            (i64.extend_i32_u (i32.add (i32.const 8) (i32.mul (local.get $cnt) (i32.const 4)))))))
"""

ALL_WAT = "(module" + _ALLOC + """
  (func (export "nc_run") (param $ptr i32) (param $len i32) (result i64)
    (local $al i32) (local $n i32) (local $out i32) (local $i i32)
    (local.set $al (i32.load (local.get $ptr)))
    (local.set $n (i32.load (i32.add (i32.add (local.get $ptr) (i32.const 4)) (local.get $al))))
    (local.set $out (call $alloc (i32.add (i32.const 8) (i32.mul (local.get $n) (i32.const 4)))))
    (i32.store (local.get $out) (local.get $n))
    (block $end
      (loop $each
        (br_if $end (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store (i32.add (local.get $out) (i32.add (i32.const 4) (i32.mul (local.get $i) (i32.const 4))))
                   (local.get $i))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each)))
    (i32.store (i32.add (local.get $out) (i32.add (i32.const 4) (i32.mul (local.get $n) (i32.const 4))))
               (i32.const 0))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $out)) (i64.const 32))
            (i64.extend_i32_u (i32.add (i32.const 8) (i32.mul (local.get $n) (i32.const 4)))))))
"""


def signed_claim_proof(key: SigningKey, n: int, *, kind: str = "subset", program: bytes = bytes(32)) -> Any:
    """A :class:`~note_compute.compute.fraud.FraudProof` over a receipt ``key`` really signed (query
    number ``n``: distinct ``n`` give distinct proofs; ``program``: the program hash it names), with
    the claim the receipt signs but no evidence. It passes the nodes' cheap evidence checks and
    convicts of nothing (store tests)."""
    from ..compute.fraud import FraudProof
    from ..compute.protocol import digest_of_claim, make_receipt

    args = encoding.encode(f"query {n}")
    req = QueryRequest(f"note://{key.authority}/programs/p", program, f"note://{key.authority}/datasets/d{n}",
                       1, 0, args)  # one dataset per n: distinct (program, dataset) evidence slots
    indices, digests, extra = [n % 5], [hashlib.sha256(b"record %d" % n).digest()], b""
    receipt = make_receipt(key, req, shard_root=bytes(32), count=8, sort_key=["id"],
                           result=digest_of_claim(indices, digests, extra), fuel=1)
    return FraudProof(kind, receipt.encode(), args, indices, digests, extra)


class MemoryFraudRegistry:
    """Fraud proofs by accused peer id, shared by every client of a network."""

    def __init__(self) -> None:
        self.proofs: dict[bytes, list[bytes]] = {}

    async def publish(self, proof: Any) -> None:
        self.proofs.setdefault(proof.peer, []).append(proof.encode())

    async def lookup(self, peer_id: bytes) -> list[bytes]:
        return list(self.proofs.get(peer_id, []))


class _History:
    """The store's view for one peer: ``stale`` peers see the previous record version."""

    def __init__(self, net: ComputeNetwork, stale: bool) -> None:
        self.net, self.stale = net, stale

    async def get_record(self, url: str) -> Record:
        versions = self.net.records.get(url)
        if not versions:
            raise NotFound(f"no record at {url}")
        rec = versions[-2] if self.stale and len(versions) > 1 else versions[-1]
        return decode_verified(rec.encode(), now=int(time.time()))  # as a node reads it: verified

    async def get_blob(self, address: bytes) -> bytes:
        return await self.net.get_blob(address)


@dataclass(eq=False)
class ComputePeer:
    """One in-memory compute peer (``node_id`` is what ``replicas`` hands out)."""

    key: SigningKey
    server: ComputeServer
    mode: str = "honest"
    alt_wasm: bytes | None = None
    hide: int = 1  # how many matches ``hide_one`` leaves out
    calls: int = 0
    signed_lies: int = 0  # answers whose signed output differs from the honest one for the same query
    node_id: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.node_id = hashlib.sha256(self.key.public_key).digest()

    async def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        mode = self.mode
        if mode == "timeout":
            await trio.sleep_forever()
        if mode == "refuse":
            return {"error": {"code": "rate-limited", "message": "go away", "reason": None}}
        if msg.get("op") == "compute.records" and mode in ("refuse_audit", "no_records"):
            return {"error": {"code": "rate-limited", "message": "not now", "reason": None}}
        if msg.get("op") == "compute.batch" and isinstance(msg.get("queries"), list) and mode != "honest":
            return {"replies": [await self.handle(q) for q in msg["queries"]]}
        if msg.get("op") != "compute.query" or mode in ("honest", "no_records"):
            return await self.server.handle(None, msg)
        if mode in HINT_LIES and isinstance(msg.get("seq"), int):
            return self._false_hint(msg, mode)
        try:
            return await self._lie(QueryRequest.from_msg(msg), mode)
        except RemoteProtocolError as exc:
            return {"error": {"code": exc.code, "message": exc.message, "reason": exc.reason}}

    def _false_hint(self, msg: dict[str, Any], mode: str) -> dict[str, Any]:
        """A ``seq-mismatch`` refusal claiming seq + 1, with a record that does not prove it (or none)."""
        seq = msg["seq"]
        reply: dict[str, Any] = {"error": {"code": "remote-protocol", "reason": "seq-mismatch",
                                           "message": f"this peer holds seq {seq + 1}, not {seq}"}}
        versions = cast(Any, self.server.source).client.net.records.get(msg.get("dataset"), [])
        if not versions or mode == "newer_hint":
            return reply
        if mode == "forged_hint":
            rec = versions[-1]
            reply["manifest"] = dataclasses.replace(rec, seq=seq + 1).encode()  # the old signature
        elif mode == "replay_hint":
            reply["manifest"] = versions[0].encode()
        else:
            url = f"note://{self.key.authority}/datasets/other"
            reply["manifest"] = sign_record(self.key, url, seq=seq + 100, value=versions[-1].value,
                                            created=1_700_000_000).encode()
        return reply

    async def _lie(self, req: QueryRequest, mode: str) -> dict[str, Any]:
        src: Any = self.server.source
        if mode == "stale":  # answer from whatever version this peer holds, signing its seq
            manifest = await cast(Any, src).latest_manifest(req.dataset)  # the test network's RingSource
            req = QueryRequest(req.program, req.program_hash, req.dataset, manifest.seq, req.shard, req.args,
                               req.range)
            if req.shard >= len(manifest.shards):
                raise RemoteProtocolError("no such shard", reason="no-shard")
        manifest = await src.manifest(req.dataset, req.seq)
        program = await src.program(req.program, req.program_hash)
        shard = await src.shard(manifest, req.shard)
        named = _loosened(req.range)
        if mode == "other_range" and named is not None:  # the honest answer for the range it names
            return execute(self.key, self.server.sandbox, QueryRequest(
                req.program, req.program_hash, req.dataset, req.seq, req.shard, req.args, named), program, manifest,
                shard)
        if mode == "wrong_program":
            assert self.alt_wasm is not None
            honest = execute(self.key, self.server.sandbox, req, program, manifest, shard)
            program = type(program)(program.url, program.hash, self.alt_wasm, program.fuel)
        reply = execute(self.key, self.server.sandbox, req, program, manifest, shard)
        if mode == "wrong_program" and Receipt.decode(reply["receipt"])["result"] != \
                Receipt.decode(honest["receipt"])["result"]:
            self.signed_lies += 1
        if mode in ("wrong_program", "stale"):
            return reply
        receipt = Receipt.decode(reply["receipt"])
        ranged = req.range is not None
        indices = list(reply["indices"])
        records = [shard.records[i] for i in indices]
        extra = reply["extra"]
        if mode == "false_receipt":  # a signed digest that is no output's: a lie (convicted by re-execution)
            self.signed_lies += 1
            body = dict(receipt.body, result=hashlib.sha256(b"not the output").digest())
            return dict(reply, receipt=_sign(self.key, body))
        if mode == "bad_signature":
            bad = bytes([receipt.sig[0] ^ 1]) + receipt.sig[1:]
            return dict(reply, receipt=Receipt(receipt.body, bad).encode())
        if mode == "extra":
            extra = extra + b"+forged"
        elif mode == "everything" and not ranged:
            indices, records = list(range(len(shard.records))), list(shard.records)
        elif mode == "loose":
            indices, records = indices[self.hide:], records[self.hide:]
            if named is not None:
                receipt = Receipt(dict(receipt.body, range=named), receipt.sig)
                honest_named = execute(self.key, self.server.sandbox, QueryRequest(
                    req.program, req.program_hash, req.dataset, req.seq, req.shard, req.args, named), program,
                    manifest, shard)
                if result_digest(indices, records, extra) != Receipt.decode(honest_named["receipt"])["result"]:
                    self.signed_lies += 1  # false for the range it names: a lie, convictable
            elif indices != list(reply["indices"]):
                self.signed_lies += 1  # a predicate query: a hidden match, signed
        elif mode in ("hide_one", "refuse_audit"):
            indices, records = indices[self.hide:], records[self.hide:]
        elif mode == "hide_all":
            indices, records = [], []
        elif mode == "forge":
            forged = encoding.encode({"forged": True, "n": len(indices)})
            if ranged:
                from dataclasses import replace

                from ..merkle import KeyRangeProof

                krp = KeyRangeProof.decode(reply["range_proof"])
                if krp.end > krp.start:
                    pos = indices[0] if indices else krp.start
                    leaves = list(krp.leaves)
                    leaves[pos - krp.first] = forged
                    reply["range_proof"] = replace(krp, leaves=tuple(leaves)).encode()
                    if pos in indices:
                        records[indices.index(pos)] = forged
                    else:
                        indices, records = [pos] + indices, [forged] + records
            elif records:
                records[0] = forged
            else:
                indices, records = [0], [forged]
        elif mode == "truncate":
            if ranged and reply.get("range_proof"):
                from ..merkle import KeyRangeProof

                krp = KeyRangeProof.decode(reply["range_proof"])
                if krp.end > krp.start:  # drop the last in-range leaf by claiming the range ends before it
                    keys = shard.keys
                    cut = MerkleTree(shard.records).key_range_proof(keys, keys[krp.start], keys[krp.end - 1]) \
                        if krp.end - 1 > krp.start else None
                    if cut is not None and cut.end == krp.end - 1:
                        reply["range_proof"] = cut.encode()
                        keep = [(i, r) for i, r in zip(indices, records, strict=False) if i < cut.end]
                        indices, records = [i for i, _ in keep], [r for _, r in keep]
            else:
                indices, records = indices[:-1], records[:-1]
        body = dict(receipt.body, result=result_digest(indices, records, extra))
        if mode in SIGNED_LIE_MODES and body["result"] != Receipt.decode(reply["receipt"])["result"]:
            self.signed_lies += 1
        out = dict(reply, receipt=_sign(self.key, body), indices=indices, extra=extra)
        if not ranged:
            out["records"] = records
            real = [i for i in indices if i < len(shard.records)]
            out["proof"] = shard.tree.batch_proof(sorted(real)).encode() if real else b""
        return out


def _loosened(rng: list[Any] | None) -> list[Any] | None:
    """The range with every integer 1 read as ``true`` (None when that changes nothing)."""
    if rng is None:
        return None
    out = [None if b is None else [True if v == 1 and type(v) is int else v for v in b] for b in rng]
    return out if encoding.encode(out) != encoding.encode(rng) else None


def _sign(key: SigningKey, body: dict[str, Any]) -> bytes:
    from .. import domains

    return Receipt(body, key.sign(domains.SIG_RECEIPT, encoding.encode(body))).encode()


class ComputeNetwork:
    """N in-memory peers on the simulated ring over one verified store; the transport of a ComputeClient."""

    def __init__(self, n: int, sandbox: Any, *, r: int = 3, seed: int = 1, liars_first: bool = False) -> None:
        self.sandbox = sandbox
        self.r = r
        self.liars_first = liars_first
        self.records: dict[str, list[Record]] = {}
        self.blobs: dict[bytes, bytes] = {}
        self.values: dict[bytes, bytes] = {}
        self.registry = MemoryFraudRegistry()
        self.stale_reads: dict[str, int] = {}
        self._evidence: Any = None  # a Store in memory, opened on first use
        self.peers: list[ComputePeer] = []
        for i in range(n):
            key = SigningKey(hashlib.sha256(b"peer-%d-%d" % (seed, i)).digest())
            peer = ComputePeer(key, ComputeServer(key, sandbox, RingSource(_History(self, False))))
            self.peers.append(peer)
        self.peers.sort(key=lambda p: p.node_id)
        self._by_int = {int.from_bytes(p.node_id, "big"): p for p in self.peers}
        # The shared simulated ring: one RingCore per peer, tables converged (maintenance off: the
        # membership is fixed), so lookups and the replica rule are the ring's own.
        self.ring = SimNetwork(seed=seed, maintenance=False, n_successors=max(8, min(n, 32)))
        for pid in sorted(self._by_int):
            self.ring.new_node(PeerRef(pid, f"mem://{pid:064x}"))
        self.ring.build_converged(0)
        self.requests = 0
        self.lookups = 0

    def set_mode(self, peer: ComputePeer, mode: str, alt_wasm: bytes | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        peer.mode, peer.alt_wasm = mode, alt_wasm
        peer.server.source = RingSource(_History(self, mode == "stale"))

    # -- the agreed Client surface --------------------------------------------------------
    async def get_record(self, url: str) -> Record:
        """The freshest record at ``url``, decoded and verified as a node serves it (raises NotFound)."""
        url = urls.normalize(url)
        versions = self.records.get(url)
        if not versions:
            raise NotFound(f"no record at {url}")
        rec = versions[-1]
        if self.stale_reads.get(url, 0) > 0 and len(versions) > 1:
            self.stale_reads[url] -= 1
            rec = versions[-2]
        out = decode_verified(rec.encode(), now=int(time.time()))
        if out.url != url:
            raise InvalidRecord("record for another URL", reason="address-mismatch")
        return out

    async def put_record(self, record: Record) -> int:
        """Store ``record`` as a node would: signature checked, no lower seq, no equivocation."""
        verify_record(record)
        versions = self.records.setdefault(record.url, [])
        if versions:
            kept = select(versions[-1], record)  # raises StaleRecord / Equivocation
            if kept is versions[-1]:
                return self.r
        versions.append(record)
        return self.r

    async def get_blob(self, address: bytes) -> bytes:
        if address not in self.blobs:
            raise NotFound("no such blob")
        return self.blobs[address]

    async def put_blob(self, data: bytes, media_type: str = "application/octet-stream") -> bytes:
        manifest, chunks = split_blob(data, media_type)
        self.blobs[manifest.address] = bytes(data)
        for c in chunks:  # content-addressed chunks, as the ring stores them (a program binary is one)
            self.values[hashlib.sha256(c).digest()] = c
        return manifest.address

    async def get_value(self, address: bytes) -> bytes:
        """A content-addressed chunk by its SHA-256 (``Client.get_value``)."""
        if address not in self.values:
            raise NotFound("no such value")
        return self.values[address]

    @property
    def evidence_store(self) -> Any:
        """The store holding the network's fraud evidence (kind ``"evidence"``)."""
        if self._evidence is None:
            from ..store import Store

            self._evidence = Store(":memory:", evidence=evidence.FRAUD_EVIDENCE)
        return self._evidence

    async def put_evidence(self, peer_id: bytes, proof: bytes) -> int:
        """Store an encoded fraud proof against ``peer_id`` (checked and merged as a node does)."""
        key = evidence.evidence_key(peer_id)
        evidence.check_proof(proof, key)
        self.evidence_store.put_evidence(key, evidence.encode_set([proof]))
        return self.r

    async def put_publisher_fault(self, fault: bytes) -> int:
        """Index a publisher-fault proof under its dataset (checked and merged as a node does)."""
        from ..compute import fault_index
        from ..compute.wellformed import PublisherFault

        key = fault_index.fault_key(PublisherFault.decode(fault).url)
        self.evidence_store.put_evidence(key, evidence.encode_set([fault]))
        return self.r

    async def get_publisher_faults(self, dataset_url: str) -> list[bytes]:
        """The publisher-fault proofs indexed against ``dataset_url`` ([] if none)."""
        from ..compute import fault_index

        faults: list[bytes] = self.evidence_store.get_evidence(fault_index.fault_key(dataset_url))
        return faults

    async def get_evidence(self, peer_id: bytes) -> list[bytes]:
        """The encoded fraud proofs held against ``peer_id`` ([] if none)."""
        proofs: list[bytes] = self.evidence_store.get_evidence(evidence.evidence_key(peer_id))
        return proofs

    async def replicas(self, key: bytes, count: int | None = None) -> list[ComputePeer]:
        """The ``count`` (default r) peers responsible for ``key``: a lookup on the simulated ring from
        the first peer, then the ring's replica rule from the key's successor's neighbourhood."""
        want = min(count or self.r, len(self.peers))
        k = int.from_bytes(key, "big")
        self.lookups += 1
        done = self.ring.lookup(self.ring.nodes[min(self._by_int)], k)
        if not done.peers:
            raise NotFound("lookup failed on the simulated ring", reason="no-replicas")
        node = self.ring.nodes[done.peers[0].id]
        t = node.core.table
        chosen = replica_set(k, node.core.me, t.predecessors, t.successors, want)
        if chosen is None:  # the neighbourhood shows fewer: what the lookup found
            chosen = done.peers[:want]
        out = [self._by_int[p.id] for p in chosen]
        if self.liars_first:
            out.sort(key=lambda p: p.mode == "honest")
        return out

    async def request(self, peer: ComputePeer, msg: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        self.requests += 1
        # round-trip through canonical CBOR, as on the wire
        reply = await peer.handle(encoding.decode(encoding.encode(msg)))
        back: dict[str, Any] = encoding.decode(encoding.encode(reply), max_size=64 * 1024 * 1024)
        return back

    # -- publishing helpers ----------------------------------------------------------------
    async def publish_program(self, key: SigningKey, name: str, wasm: bytes, *, fuel: int = 10**9,
                              seq: int = 1) -> str:
        record = make_program(key, name, wasm, fuel=fuel, seq=seq, created=1_700_000_000)
        await self.put_blob(wasm, "application/wasm")
        await self.put_record(record)
        return record.url

    async def publish_dataset(self, key: SigningKey, name: str, records: list[bytes], sort_key: list[str], *,
                              seq: int = 1, **shard_opts: Any) -> BuiltDataset:
        built = build_dataset(records, name=name, sort_key=sort_key, **shard_opts)
        for s in built.shards:
            await self.put_blob(s.blob)
        if built.table_blob is not None:
            await self.put_blob(built.table_blob)
        url = f"note://{key.authority}/datasets/{name}"
        await self.put_record(sign_record(key, url, seq=seq, value=built.value, created=1_700_000_000 + seq))
        return built

    def peer(self, node_id: bytes) -> ComputePeer:
        for p in self.peers:
            if p.node_id == node_id:
                return p
        raise KeyError(node_id.hex())


