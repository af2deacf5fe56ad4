"""The querying side: fan out, verify, audit, merge, and turn lies into fraud proofs.

:class:`ComputeClient` runs over a *transport* with the agreed ``Client``
methods (``get_record``, ``get_blob``, ``replicas``, ``request``): the real
libp2p client or :mod:`note_compute.testing.compute`. One query:

1. resolve the freshest manifest and the program (signature, hash pinned);
2. pick the shards the sort-key range can touch (all for a predicate query);
3. per shard, in parallel: ask a responsible peer (skipping blocked or
   accused ones); verify (:mod:`.verify`); re-run the program on the proven
   range, or on the returned records plus an audit sample (:mod:`.audit`);
   on failure or timeout try the next replica; with ``replicas=k`` collect k
   answers and compare their signed result digests;
4. turn every signed lie into a fraud proof, check it locally
   (:func:`.fraud.verify_fraud_proof`), block the peer and publish it;
5. merge: run the program once more over the union of proven inputs
   (subset stability makes this the global answer), which also sorts and
   limits.
"""

from __future__ import annotations

import builtins
import random
import time
from dataclasses import dataclass, field
from typing import Any

import trio

from .. import encoding, programs, urls
from ..errors import NoteError, Timeout
from ..merkle import BatchProof, verify_batch
from .audit import sample_indices
from .dataset import Manifest
from .fraud import KIND_RANGE, KIND_SUBSET, Evidence, FraudProof, verify_fraud_proof
from .keys import normalize_bound
from .protocol import (
    MAX_BATCH,
    OP_BATCH,
    QueryRequest,
    Receipt,
    RecordsRequest,
    parse_batch_reply,
    parse_records_response,
)
from .server import ProgramCode
from .source import RingSource
from .verify import Claim, OutputMismatch, ShardAnswer, UnprovenClaim, check_output, run_program, verify_answer

__all__ = ["ComputeClient", "QueryResult", "Verification", "peer_id_of"]


def peer_id_of(peer: Any) -> bytes | None:
    """The 32-byte node id of a transport peer reference, when it exposes one."""
    for name in ("node_id", "id_bytes", "id"):
        v = getattr(peer, name, None)
        if isinstance(v, bytes) and len(v) == 32:
            return v
        if type(v) is int and 0 <= v < 2**256:
            return v.to_bytes(32, "big")
    return None


@dataclass
class Verification:
    """What was checked for one query (the CLI prints it; ``--json`` emits it)."""

    ok: bool = True
    dataset: str = ""
    seq: int = 0
    shards: int = 0
    records_proven: int = 0
    completeness: str = ""
    audited_records: int = 0
    audit_rate: float = 0.0
    replicas: int = 1
    peers_used: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    fraud: list[dict[str, str]] = field(default_factory=list)
    bytes_received: int = 0
    verify_seconds: float = 0.0
    resolve_seconds: float = 0.0  # manifest + program resolution (part of total)
    total_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    certificates: list[str] = field(default_factory=list)  # hex of each QuorumCertificate (quorum=True)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class QueryResult:
    """The merged, verified answer: records (canonical CBOR) in the program's order."""

    records: list[bytes]
    extra: bytes
    verification: Verification
    answers: list[ShardAnswer]
    frauds: list[FraudProof]
    certificates: list[Any] = field(default_factory=list)  # QuorumCertificate per shard (quorum=True)

    def values(self) -> list[Any]:
        return [encoding.decode(r) for r in self.records]


class ComputeClient:
    """Verified queries over a transport; see the module docstring."""

    def __init__(self, transport: Any, sandbox: Any, *, timeout: float = 5.0, rng: random.Random | None = None,
                 fraud_registry: Any = None, shuffle: bool = True, parallel: int = 32, batch: bool = True,
                 replica_ttl: float = 30.0, program_ttl: float = 60.0) -> None:
        self.transport = transport
        self.sandbox = sandbox
        self.timeout = timeout
        self.rng = rng or random.Random()
        self.source = RingSource(transport)
        self.blocked: set[bytes] = set()
        self.registry = fraud_registry
        self.shuffle = shuffle
        self.limiter = trio.CapacityLimiter(parallel)
        self.batch = batch
        self.replica_ttl = replica_ttl
        self._replicas: dict[bytes, tuple[float, list[Any]]] = {}
        self.program_ttl = program_ttl
        self._programs: dict[str, tuple[float, ProgramCode]] = {}
        self._accused: dict[bytes, float] = {}  # peer id -> until when "not accused" holds
        self.accused_ttl = 30.0
        self._checking: dict[bytes, trio.Event] = {}

    async def resolve_program(self, url: str) -> ProgramCode:
        """The program at ``url`` (signed record, binary hash checked); cached for ``program_ttl`` seconds."""
        url = urls.normalize(url)
        hit = self._programs.get(url)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        record = await self.transport.get_record(url)
        prog = programs.parse_program(record)
        code = await self.source.program(record.url, prog.wasm)
        self._programs[url] = (time.monotonic() + self.program_ttl, code)
        return code

    async def query(self, program_url: str, dataset_url: str, args: Any, *, range: list[Any] | None = None,
                    audit: float = 0.0, replicas: int = 1, quorum: bool = False) -> QueryResult:
        """Run a verified query. ``args`` is a value (encoded here) or canonical CBOR bytes."""
        t0 = time.perf_counter()
        args_bytes = args if isinstance(args, bytes) else encoding.encode(args)
        encoding.decode(args_bytes)
        if not 0.0 <= audit <= 1.0:
            raise ValueError("audit rate is in [0, 1]")
        if replicas < 1:
            raise ValueError("replicas >= 1")
        box: dict[str, Any] = {}

        async def get_manifest() -> None:
            try:
                box["m"] = await self.source.latest_manifest(dataset_url)
            except NoteError as exc:
                box["err_m"] = exc

        async def get_program() -> None:
            try:
                box["p"] = await self.resolve_program(program_url)
            except NoteError as exc:
                box["err_p"] = exc

        async with trio.open_nursery() as nursery:  # the freshest manifest and the program, concurrently
            nursery.start_soon(get_manifest)
            nursery.start_soon(get_program)
        for err in ("err_m", "err_p"):
            if err in box:
                raise box[err]
        manifest, program = box["m"], box["p"]
        t_resolved = time.perf_counter()
        v = Verification(dataset=manifest.url, seq=manifest.seq, audit_rate=audit, replicas=replicas)
        if range is not None:
            lo = normalize_bound(range[0], manifest.sort_key, upper=False)
            hi = normalize_bound(range[1], manifest.sort_key, upper=True)
            shard_ids = manifest.shards_touching(lo, hi) if lo <= hi else []
        else:
            shard_ids = list(builtins.range(len(manifest.shards)))
        v.shards = len(shard_ids)
        answers: dict[int, ShardAnswer] = {}
        frauds: list[FraudProof] = []

        qc = quorum and replicas > 1
        reqs = {i: QueryRequest(program.url, program.hash, manifest.url, manifest.seq, i, args_bytes, range, qc)
                for i in shard_ids}
        certificates: list[Any] = []
        candidates: dict[int, list[Any] | None] = {}

        async def resolve(i: int) -> None:
            try:
                peers = await self._peers_for(manifest.shards[i].blob, program)
            except NoteError as exc:
                v.failures.append(f"shard {i}: no replicas: {exc}")
                peers = None
            if peers and self.shuffle and len(peers) > 1:
                off = self.rng.randrange(len(peers))
                peers = peers[off:] + peers[:off]
            candidates[i] = peers

        async with trio.open_nursery() as nursery:
            for i in shard_ids:
                nursery.start_soon(resolve, i)
        first: dict[int, tuple[Any, Any]] = {}
        if self.batch and replicas == 1:
            await self._batched_first_round(reqs, candidates, first, v)

        defer = range is None and replicas == 1

        async def one(i: int, again: bool = False) -> None:
            peers = candidates.get(i)
            if not peers:
                return
            ans = await self._query_shard(reqs[i], manifest, program, audit, replicas, v, frauds, peers,
                                          None if again else first.get(i), certificates if qc else None,
                                          defer=defer and not again)
            if ans is not None:
                answers[i] = ans
            else:
                answers.pop(i, None)

        async with trio.open_nursery() as nursery:
            for i in shard_ids:
                nursery.start_soon(one, i)
        merged: tuple[list[bytes], bytes] | None = None
        if defer and answers:
            tc = time.perf_counter()
            merged, suspects = self._joint_check(answers, program, args_bytes)
            for i in suspects:  # re-check alone; a liar is convicted and the shard asked again elsewhere
                a = answers[i]
                try:
                    check_output(a, self.sandbox, program.wasm, program.fuel, sample=a.sample)
                except OutputMismatch as exc:
                    self._convict(exc.fraud, program, None, v, frauds)
                    v.verify_seconds += time.perf_counter() - tc
                    await one(i, again=True)
                    tc = time.perf_counter()
                    merged = None
            if any(a.sample for a in answers.values()):
                merged = None
            v.verify_seconds += time.perf_counter() - tc
        missing = [i for i in shard_ids if i not in answers]
        if missing:
            v.ok = False
            v.errors.append(f"no verified answer for shards {missing}")
        tv = time.perf_counter()
        ordered = [answers[i] for i in shard_ids if i in answers]
        if range is not None:
            pool = [r for a in ordered for r in (a.range_records or [])]
            v.completeness = "proven (key-range proofs, program re-run on every record in range)"
        else:
            pool = [r for a in ordered for _, r in sorted(zip(a.indices, a.records, strict=False))]
            v.completeness = (f"audited at rate {audit}" if audit > 0 else "not audited") + (
                f", {replicas} replicas compared" if replicas > 1 else "")
        v.records_proven = sum(len(a.range_records if a.range_records is not None else a.records) for a in ordered)
        if merged is not None and len(ordered) == len(answers):
            records, extra = merged
        elif len(ordered) == 1:
            # One shard: its verified output already is the program's answer over the whole input.
            records, extra = list(ordered[0].records), ordered[0].claim.extra
        elif pool:
            rel, extra = run_program(self.sandbox, program.wasm, args_bytes, pool, program.fuel)
            records = [pool[j] for j in rel]
        else:
            records, extra = [], b""
        v.verify_seconds += time.perf_counter() - tv
        v.total_seconds = time.perf_counter() - t0
        v.resolve_seconds = t_resolved - t0
        v.peers_used = sorted({a.peer.hex()[:16] for a in ordered})
        await self.publish_frauds(frauds)
        v.certificates = [c.encode().hex() for c in certificates]
        return QueryResult(records, extra, v, ordered, frauds, certificates)

    async def _peers_for(self, info_blob: bytes, program: ProgramCode | None = None) -> list[Any]:
        hit = self._replicas.get(info_blob)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            peers = list(hit[1])
        else:
            peers = list(await self.transport.replicas(info_blob))
            self._replicas[info_blob] = (now + self.replica_ttl, list(peers))
        out = []
        for p in peers:
            pid = peer_id_of(p)
            if pid is not None and (pid in self.blocked or await self._is_accused(pid, program)):
                continue
            out.append(p)
        return out

    async def _is_accused(self, pid: bytes, program: ProgramCode | None = None) -> bool:
        """True when the registry holds a fraud proof against ``pid`` that *we* verified.

        A proof is believed only after :func:`verify_fraud_proof` convicts with
        the program binary its receipt names (one this client has resolved:
        the current query's, or any cached one); then the peer is blocked for
        the client's life. Proofs we cannot check yet leave the peer usable;
        the answer is cached for ``accused_ttl`` seconds.
        """
        if self.registry is None:
            return False
        if pid in self.blocked:
            return True
        now = time.monotonic()
        hit = self._accused.get(pid)
        if hit is not None and hit > now:
            return False
        pending = self._checking.get(pid)
        if pending is not None:  # another shard is asking about this peer already
            await pending.wait()
            return pid in self.blocked
        self._checking[pid] = trio.Event()
        try:
            return await self._check_accusations(pid, program, now)
        finally:
            self._checking.pop(pid).set()

    async def _check_accusations(self, pid: bytes, program: ProgramCode | None, now: float) -> bool:
        try:
            found = await self.registry.lookup(pid)
        except NoteError:
            found = []
        codes = {c.hash: c for _, c in self._programs.values()}
        if program is not None:
            codes[program.hash] = program
        for item in found:
            try:
                fp = item if isinstance(item, FraudProof) else FraudProof.decode(item)
                if fp.peer != pid:
                    continue
                code = codes.get(Receipt.decode(fp.receipt)["program"])
                if code is None:
                    continue
                verify_fraud_proof(fp, self.sandbox, code.wasm, fuel=code.fuel)
            except NoteError:
                continue
            self.blocked.add(pid)
            return True
        self._accused[pid] = now + self.accused_ttl
        return False

    async def _request(self, peer: Any, msg: dict[str, Any], v: Verification) -> dict[str, Any]:
        async with self.limiter:
            with trio.move_on_after(self.timeout) as scope:
                reply = await self.transport.request(peer, msg, timeout=self.timeout)
        if scope.cancelled_caught:
            raise Timeout("peer did not answer in time", reason="timeout")
        v.bytes_received += len(encoding.encode(reply)) if isinstance(reply, dict) else 0
        out: dict[str, Any] = reply
        return out

    async def _batched_first_round(self, reqs: dict[int, QueryRequest], candidates: dict[int, list[Any] | None],
                                   first: dict[int, tuple[Any, Any]], v: Verification) -> None:
        """Ask each shard's first candidate, one ``compute.batch`` per peer; outcomes land in ``first``."""
        groups: dict[Any, tuple[Any, list[int]]] = {}
        for i, peers in candidates.items():
            if not peers:
                continue
            peer = peers[0]
            key = peer_id_of(peer) or id(peer)
            groups.setdefault(key, (peer, []))[1].append(i)

        async def run(peer: Any, shards: list[int]) -> None:
            msg = {"op": OP_BATCH, "queries": [reqs[i].to_msg() for i in shards]}
            try:
                replies: list[Any] = parse_batch_reply(await self._request(peer, msg, v), len(shards))
            except NoteError as exc:
                for i in shards:
                    first[i] = (peer, exc)
                return
            for i, r in zip(shards, replies, strict=False):
                first[i] = (peer, r)

        async with trio.open_nursery() as nursery:
            for peer, shards in groups.values():
                for j in builtins.range(0, len(shards), MAX_BATCH):
                    nursery.start_soon(run, peer, shards[j:j + MAX_BATCH])

    async def _sample(self, req: QueryRequest, manifest: Manifest, indices: list[int], peers: list[Any],
                      v: Verification) -> tuple[list[int], list[bytes], bytes] | None:
        info = manifest.shards[req.shard]
        for peer in peers:
            try:
                reply = await self._request(peer, RecordsRequest(req.dataset, req.seq, req.shard, indices).to_msg(), v)
                recs, proof = parse_records_response(reply, len(indices))
                verify_batch(info.root, info.count, dict(zip(indices, recs, strict=False)), BatchProof.decode(proof))
                return indices, recs, proof
            except NoteError as exc:
                v.failures.append(f"audit fetch: {exc}")
        return None

    def _convict(self, fp: FraudProof, program: ProgramCode, peer: Any, v: Verification,
                 frauds: list[FraudProof]) -> bool:
        try:
            what = verify_fraud_proof(fp, self.sandbox, program.wasm, fuel=program.fuel)
        except NoteError as exc:
            v.failures.append(f"unproven accusation dropped: {exc}")
            return False
        pid = fp.peer
        self.blocked.add(pid)
        frauds.append(fp)
        v.fraud.append({"peer": pid.hex(), "lie": what, "kind": fp.kind, "proof": fp.address.hex()})
        return True

    async def publish_frauds(self, frauds: list[FraudProof]) -> None:
        """Store fraud proofs through the registry (if any)."""
        if self.registry is None:
            return
        for fp in frauds:
            try:
                await self.registry.publish(fp)
            except NoteError:
                pass

    async def _query_shard(self, req: QueryRequest, manifest: Manifest, program: ProgramCode, audit: float,
                           k: int, v: Verification, frauds: list[FraudProof], peers: list[Any],
                           first: tuple[Any, Any] | None = None,
                           certificates: list[Any] | None = None, defer: bool = False) -> ShardAnswer | None:
        info = manifest.shards[req.shard]
        good: list[tuple[ShardAnswer, Any]] = []
        pending: list[tuple[Claim, Any]] = []
        for peer in peers:
            if len(good) >= k:
                break
            pid = peer_id_of(peer)
            if pid is not None and pid in self.blocked:
                continue
            try:
                if first is not None and first[0] is peer:
                    outcome, first = first[1], None
                    if isinstance(outcome, NoteError):
                        raise outcome
                    reply = outcome
                else:
                    reply = await self._request(peer, req.to_msg(), v)
            except NoteError as exc:
                v.failures.append(f"shard {req.shard}: {type(exc).__name__}: {exc}")
                continue
            t = time.perf_counter()
            try:
                try:
                    ans = verify_answer(req, reply, manifest, peer_id=pid)
                except UnprovenClaim as exc:
                    pending.append((exc.claim, peer))
                    v.failures.append(f"shard {req.shard}: unproven signed claim: {exc}")
                    continue
                except NoteError as exc:
                    v.failures.append(f"shard {req.shard}: rejected answer: {exc}")
                    continue
                sample = None
                if audit > 0 and req.range is None:
                    idx = sample_indices(info.count, audit, self.rng, exclude=set(ans.indices))
                    if idx:
                        others = [p for p in peers if p is not peer] + [peer]
                        v.verify_seconds += time.perf_counter() - t
                        sample = await self._sample(req, manifest, idx, others, v)
                        t = time.perf_counter()
                        if sample is None:
                            v.ok = False
                            v.errors.append(f"shard {req.shard}: audit sample could not be fetched")
                        else:
                            ans.audited = len(idx)
                            ans.sample = sample
                            v.audited_records += len(idx)
                try:
                    if not defer:  # deferred: one program run over all shards checks them together (query)
                        check_output(ans, self.sandbox, program.wasm, program.fuel, sample=sample)
                except OutputMismatch as exc:
                    self._convict(exc.fraud, program, peer, v, frauds)
                    continue
                except NoteError as exc:
                    v.failures.append(f"shard {req.shard}: re-run failed: {exc}")
                    continue
                if certificates is not None and isinstance(reply, dict):
                    ans.extra_fields["qc"] = reply.get("qc")
                good.append((ans, peer))
            finally:
                v.verify_seconds += time.perf_counter() - t
        if not good:
            return None
        honest, hpeer = good[0]
        if len(good) > 1:
            honest, hpeer = self._reconcile(good, program, v, frauds)
        for claim, peer in pending:
            await self._convict_pending(claim, peer, honest, hpeer, req, manifest, program, v, frauds)
        if certificates is not None and len(good) > 1:
            cert = self._certificate(
                [a for a, _ in good if a.claim.receipt["result"] == honest.claim.receipt["result"]]
            )
            if cert is not None:
                certificates.append(cert)
        return honest

    def _joint_check(self, answers: dict[int, ShardAnswer], program: ProgramCode,
                     args: bytes) -> tuple[tuple[list[bytes], bytes], list[int]]:
        """One program run over every shard's returned (and sampled) records, in dataset order.

        For a subset-stable program the run's output, restricted to one shard,
        must be exactly what that shard's peer claimed (in its order); shards
        where it is not are returned as suspects and re-checked alone (a
        limit can legitimately cut a shard's tail, a lie cannot survive the
        re-check). Also returns the merged answer (valid when no sample was
        mixed in and nobody was a suspect).
        """
        pool: list[tuple[int, int, bytes]] = []
        for i in sorted(answers):
            a = answers[i]
            recs = dict(zip(a.indices, a.records, strict=False))
            if a.sample is not None:
                recs.update(zip(a.sample[0], a.sample[1], strict=False))
            pool.extend((i, leaf, recs[leaf]) for leaf in sorted(recs))
        if not pool:
            return ([], b""), []
        rel, extra = run_program(self.sandbox, program.wasm, args, [r for _, _, r in pool], program.fuel)
        chosen = [pool[j] for j in rel]
        per: dict[int, list[int]] = {}
        for shard, leaf, _ in chosen:
            per.setdefault(shard, []).append(leaf)
        suspects = [i for i, a in answers.items() if per.get(i, []) != list(a.indices)]
        return ([r for _, _, r in chosen], extra), suspects

    @staticmethod
    def _certificate(agreeing: list[ShardAnswer]) -> Any:
        """Aggregate the BLS endorsements of answers that agree (None if fewer than two are usable)."""
        from .quorum import Endorsement, make_certificate

        ends = []
        for a in agreeing:
            try:
                e = Endorsement.from_value(a.extra_fields.get("qc"))
                if e.key != a.claim.receipt["key"]:
                    continue
                e.check_binding()
                ends.append(e)
            except NoteError:
                continue
        if len(ends) < 2:
            return None
        return make_certificate(agreeing[0].claim.receipt.body, ends)

    def _reconcile(self, good: list[tuple[ShardAnswer, Any]], program: ProgramCode, v: Verification,
                   frauds: list[FraudProof]) -> tuple[ShardAnswer, Any]:
        """k answers: if their signed digests differ, prove who lied using the union of their proven records."""
        digests = {a.claim.receipt["result"] for a, _ in good}
        if len(digests) == 1:
            return good[0]
        evidence = [Evidence(list(a.indices), list(a.records), a.proof) for a, _ in good if a.indices]
        survivors = []
        for a, peer in good:
            fp = a.claim.fraud(KIND_SUBSET, evidence=evidence)
            if a.range_records is not None or not self._convict(fp, program, peer, v, frauds):
                survivors.append((a, peer))
        return survivors[0] if survivors else good[0]

    async def _convict_pending(self, claim: Claim, peer: Any, honest: ShardAnswer, hpeer: Any, req: QueryRequest,
                               manifest: Manifest, program: ProgramCode, v: Verification,
                               frauds: list[FraudProof]) -> None:
        if honest.range_records is not None:
            self._convict(claim.fraud(KIND_RANGE, range_proof=honest.range_proof), program, peer, v, frauds)
            return
        info = manifest.shards[req.shard]
        inside = [i for i in claim.indices if i < info.count]
        if len(inside) < len(claim.indices):
            self._convict(claim.fraud(KIND_SUBSET), program, peer, v, frauds)
            return
        sample = await self._sample(req, manifest, sorted(inside), [hpeer], v) if inside else None
        if sample is not None:
            self._convict(claim.fraud(KIND_SUBSET, evidence=[Evidence(*sample)]), program, peer, v, frauds)
