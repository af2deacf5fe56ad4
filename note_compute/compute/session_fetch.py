"""Audit sampling and evidence fetching for a :class:`~.session.QuerySession` (pure; a mixin).

An audit (:class:`~.session_state.AuditJob`) fetches the sampled indices in
request-sized parts, each from the first replica that serves it (other
replicas first, the answering peer last); when no replica serves a part the
answer is dropped: a refused audit is a failure to answer. An accusation
whose records did not verify fetches the real records at the claimed indices
from any replica (they are proven against the root) and convicts a forged
one; a program-dependent accusation waits for its whole shard (``LoadShard``).
"""

from __future__ import annotations

from typing import Any

from ..errors import NoteError, RemoteProtocolError
from ..merkle import BatchProof, verify_batch
from .actions import Ask, LoadShard, peer_id_of, peer_key
from .audit import chunks
from .compact import compact, full_shard
from .dataset import Manifest, decode_shard
from .fraud import KIND_SUBSET, Evidence, FraudProof, shard_needed, shard_proof, verify_fraud_proof
from .protocol import RecordsRequest, parse_records_response
from .result import Verification
from .session_state import AuditJob, ShardTask, fp_shard
from .verify import Claim, ShardAnswer

__all__ = ["Fetches"]


class Fetches:
    """The audit and evidence half of the session (state lives on the session)."""

    manifest: Manifest
    v: Verification
    tasks: dict[int, ShardTask]
    convicted: set[bytes]
    _out: list[Any]
    _shards: dict[bytes, list[bytes]]
    _awaiting: dict[bytes, list[tuple[FraudProof, Any]]]
    _repub: dict[bytes, list[tuple[int, FraudProof]]]
    frauds: list[FraudProof]
    executor: Any
    program: Any

    def _new_tag(self, kind: str, ctx: Any) -> int:
        raise NotImplementedError

    def _ok_peer(self, peer: Any) -> bool:
        raise NotImplementedError

    def _convict(self, fp: FraudProof, peer: Any) -> bool:
        raise NotImplementedError

    def _checked(self, t: ShardTask, ans: ShardAnswer, peer: Any, sample: list[Evidence]) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ audits
    def _ask_sample(self, job: AuditJob, part: int, src: int) -> None:
        if job.closed:
            return
        while src < len(job.sources) and not self._ok_peer(job.sources[src]):
            src += 1
        if src >= len(job.sources):
            self._close_audit(job, f"no peer served audit sample part {part}")
            return
        job.waiting += 1
        msg = RecordsRequest(self.manifest.url, self.manifest.seq, job.shard, job.parts[part]).to_msg()
        self._out.append(Ask(self._new_tag("sample", (job, part, src)), job.sources[src], msg))

    def _on_sample(self, job: AuditJob, part: int, src: int, reply: Any) -> None:
        if job.closed:
            job.waiting -= 1
            return
        idx = job.parts[part]
        try:
            recs, proof = parse_records_response(reply, len(idx))
            info = self.manifest.shards[job.shard]
            verify_batch(info.root, info.count, dict(zip(idx, recs, strict=False)), BatchProof.decode(proof))
        except NoteError as exc:
            self._sample_failed(job, part, exc, src)
            return
        job.waiting -= 1
        job.got.append(Evidence(list(idx), list(recs), proof))
        if job.waiting == 0 and len(job.got) == len(job.parts):
            job.got.sort(key=lambda e: e.indices[0])
            n = sum(len(e.indices) for e in job.got)
            job.answer.audited = n
            self.v.audited_records += n
            self._close_audit(job, None)
            self._checked(self.tasks[job.shard], job.answer, job.peer, job.got)

    def _sample_failed(self, job: AuditJob, part: int, exc: NoteError, src: int) -> None:
        job.waiting -= 1
        if job.closed:
            return
        self.v.failures.append(f"shard {job.shard}: audit fetch: {exc}")
        self._ask_sample(job, part, src + 1)

    def _close_audit(self, job: AuditJob, why: str | None) -> None:
        """End an audit; ``why`` set: nobody served the sample, a failure to answer (answer dropped, shard re-asked)."""
        if job.closed:
            return
        job.closed = True
        self.tasks[job.shard].auditing -= 1
        if why is not None:
            pid = peer_id_of(job.peer)
            self.v.failures.append(f"shard {job.shard}: {why}; the answer of {pid.hex()[:16] if pid else 'a peer'} "
                                   "is dropped (a refused audit is a failure to answer)")
            # Refusing the sample hides nothing from the whole shard (a content-addressed blob anyone
            # can fetch): the signed claim is checked there, and a lie convicts (``.fraud``, 5.0).
            self._convict(shard_proof(job.answer.claim.fraud(KIND_SUBSET), self.manifest.shards[job.shard].blob),
                          job.peer)

    def _on_shard(self, blob: bytes, data: Any) -> None:
        """A whole shard arrived: check it is the manifest's, then the accusations waiting for it."""
        waiting = self._awaiting.pop(blob, [])
        repub = self._repub.pop(blob, [])
        info = next((s for s in self.manifest.shards if s.blob == blob), None)
        if info is None or type(data) is not bytes:
            raise RemoteProtocolError("the shard blob is not one of this manifest's", reason="bad-reply")
        self._shards[blob] = decode_shard(data, root=info.root, count=info.count)
        for fp, peer in waiting:
            if fp.peer not in self.convicted:
                self._convict(fp, peer)
        for at, small in repub:  # a conviction's smaller form, checked before it replaces the larger one
            if self._convicts(small, self._shards[blob]):
                self.frauds[at] = small
                self.v.fraud[at].update(kind=small.kind, proof=small.address.hex())

    # ------------------------------------------------------------------ publishing
    def _await_shard(self, blob: bytes) -> list[tuple[FraudProof, Any]]:
        """The accusations waiting for shard ``blob``; asks for it (``LoadShard``) once."""
        if blob not in self._awaiting:
            self._awaiting[blob] = []
            self._out.append(LoadShard(self._new_tag("shard", blob), blob))
        return self._awaiting[blob]

    def _convicts(self, fp: FraudProof, shard: list[bytes] | None) -> bool:
        try:
            verify_fraud_proof(fp, self.executor, self.program.wasm, fuel=self.program.fuel, shard=shard)
        except NoteError:
            return False
        return True

    def _publishable(self, fp: FraudProof) -> FraudProof:
        """The smallest form of a verified conviction that fits the evidence index (:func:`.compact.compact`),
        itself verified; one that needs a shard not loaded yet replaces ``fp`` when the shard arrives."""
        i = fp_shard(fp)
        blob = self.manifest.shards[i].blob if i is not None and i < len(self.manifest.shards) else None
        small = compact(fp, blob)
        if small is fp:
            return fp
        need = shard_needed(small)
        shard = self._shards.get(need) if need is not None else None
        if need is not None and shard is None:
            full = full_shard(fp)  # its evidence is the whole shard (verified): no need to load it
            if full is not None and need == blob:
                shard = self._shards[need] = full
            else:
                self._await_shard(need)
                self._repub.setdefault(need, []).append((len(self.frauds), small))
                return fp
        return small if self._convicts(small, shard) else fp

    def _accuse_subset(self, t: ShardTask, claim: Claim, peer: Any) -> None:
        """A signed predicate claim whose records did not verify: fetch the real records at the claimed
        indices (from any replica: they are proven against the root) and convict a forged one."""
        count = self.manifest.shards[t.index].count
        inside = sorted(i for i in claim.indices if i < count)
        if len(inside) < len(claim.indices) or not inside:
            self._convict(claim.fraud(KIND_SUBSET), peer)
            return
        sources = [p for p in t.peers + t.candidates if peer_key(p) != peer_key(peer)] + [peer]
        for part in chunks(inside):
            self._ask_evidence(t.index, claim, peer, part, sources, 0)

    def _ask_evidence(self, shard: int, claim: Claim, peer: Any, part: list[int], sources: list[Any],
                      src: int) -> None:
        while src < len(sources) and not (self._ok_peer(sources[src]) or sources[src] is peer):
            src += 1
        if src >= len(sources) or peer_id_of(peer) in self.convicted:
            return
        msg = RecordsRequest(self.manifest.url, self.manifest.seq, shard, part).to_msg()
        self._out.append(Ask(self._new_tag("evidence", (shard, claim, peer, part, sources, src)), sources[src], msg))

    def _on_evidence(self, shard: int, claim: Claim, peer: Any, part: list[int], sources: list[Any], src: int,
                     reply: Any) -> None:
        recs, proof = parse_records_response(reply, len(part))
        info = self.manifest.shards[shard]
        verify_batch(info.root, info.count, dict(zip(part, recs, strict=False)), BatchProof.decode(proof))
        if peer_id_of(peer) not in self.convicted:
            self._convict(claim.fraud(KIND_SUBSET, evidence=[Evidence(part, recs, proof)]), peer)
