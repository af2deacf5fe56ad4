"""One verified query as a sans-IO state machine (no trio, no wasmtime, no clock).

Theory of operation. A :class:`QuerySession` is built for one resolved
manifest and program. The driver (:mod:`.client` over libp2p or the
in-memory network) calls :meth:`QuerySession.start` with each shard's
candidate peers, then performs the actions it gets back and feeds every
outcome in with :meth:`~QuerySession.on_result` / :meth:`~QuerySession.on_error`
(``tag`` links the two). Actions:

``Ask(tag, peer, msg)``          send ``msg`` (query, batch, records) to ``peer``
``FindPeers(tag, shard, blob, count)``  more candidates for a shard: the ring's
                                  first ``count`` replicas of the shard blob
``Refresh(tag, dataset, hinted, record)`` a peer proved seq ``hinted`` exists: its
                                  signed record (checked here, ``.hints``); feed
                                  back the Manifest it names
``LoadShard(tag, blob)``         fetch a whole shard blob: a program-dependent
                                  accusation convicts only when re-run on the
                                  whole shard (``.fraud``, "Eligibility")

Programs run through the injected ``executor`` (anything with the sandbox's
``run(wasm, input, fuel=)``), synchronously inside the event handlers;
randomness comes from the ``rng`` passed in. The session is done when
:attr:`done` is true; :meth:`result` then merges the answer.

Per shard (:class:`ShardTask`), the states and transitions, all in
:meth:`_pump`:

* ask up to ``k`` candidates (``replicas=k``), more when answers fail;
* a reply is verified (:func:`.verify.verify_answer`); a predicate answer
  is then audited (:mod:`.audit`: a sample fetched from other replicas, then
  the answering peer; nobody serving it is a failure to answer, so the
  answer is dropped and the shard re-asked) and re-checked
  (:func:`.verify.check_output`; with ``k == 1`` one joint run over all
  shards checks them together first);
* any signed lie becomes a fraud proof, verified here before anyone is
  convicted; a convicted peer's answers are dropped from *every* shard of
  the query and those shards re-asked from peers not convicted;
* ``k`` answers reconcile (:mod:`.reconcile`); when they disagree and
  nobody can be convicted, further replicas are asked; a shard settles with
  its answer and the number of distinct peers that signed it.
"""

from __future__ import annotations

import builtins
import random
from typing import Any

from ..errors import NoteError, RemoteProtocolError
from .actions import (
    Action,
    Ask,
    Executor,
    FindPeers,
    LoadShard,
    Refresh,
    peer_id_of,
    peer_key,
)
from .audit import chunks, sample_indices
from .dataset import Manifest
from .fraud import (
    KIND_RANGE,
    KIND_SUBSET,
    Evidence,
    FraudProof,
    shard_proof,
    verify_fraud_proof,
)
from .hints import SEQ_MISMATCH
from .keys import normalize_bound
from .protocol import (
    MAX_BATCH,
    OP_BATCH,
    QueryRequest,
    parse_batch_reply,
)
from .reconcile import (
    certificate_of,
    conflict_proofs,
    joint_run,
    merge_fuel,
    minimal_subset_proof,
)
from .result import QueryResult, Verification, decide_verdict
from .server import ProgramCode
from .session_faults import PublisherFaults
from .session_fetch import Fetches
from .session_hints import SeqHints
from .session_state import AuditJob, ShardTask, agreement, fp_shard, with_guards
from .verify import (
    OutputMismatch,
    ShardAnswer,
    SignedStatement,
    UnprovenClaim,
    check_output,
    covers_shard,
    receipt_proof,
    run_program,
    verify_answer,
)
from .wellformed import MALFORMED

__all__ = ["Action", "Ask", "Executor", "FindPeers", "LoadShard", "QuerySession", "Refresh", "peer_id_of"]


class QuerySession(Fetches, PublisherFaults, SeqHints):
    """See the module docstring."""

    def __init__(self, manifest: Manifest, program: ProgramCode, args: bytes, *, executor: Executor,
                 rng: random.Random, range: list[Any] | None = None, audit: float = 0.0, replicas: int = 1,
                 blocked: set[bytes] | None = None, batch: bool = True, quorum: bool = False,
                 max_find: int = 16) -> None:
        if not 0.0 <= audit <= 1.0:
            raise ValueError("audit rate is in [0, 1]")
        if replicas < 1:
            raise ValueError("replicas >= 1")
        self.manifest, self.program, self.args = manifest, program, args
        self.executor, self.rng = executor, rng
        self.range, self.audit, self.k = range, audit, replicas
        self.blocked = blocked if blocked is not None else set()
        self.convicted: set[bytes] = set()
        self.batch, self.quorum = batch and replicas == 1, quorum and replicas > 1
        self.max_find = max_find
        self.v = Verification(dataset=manifest.url, seq=manifest.seq, audit_rate=audit, replicas=replicas)
        self.frauds: list[FraudProof] = []
        self.newer: Manifest | None = None  # set when a seq hint led to a newer manifest: restart there
        self._tag = 0
        self._asks: dict[int, tuple[str, Any]] = {}
        self._out: list[Action] = []
        self._refreshing: int | None = None
        self._hint: tuple[int, str] | None = None
        self._defer = range is None and replicas == 1
        self._joint: tuple[list[bytes], bytes] | None = None
        self._joint_done = False
        if range is not None:
            lo = normalize_bound(range[0], manifest.sort_key, upper=False)
            hi = normalize_bound(range[1], manifest.sort_key, upper=True)
            ids = with_guards(manifest, lo, hi, manifest.shards_touching(lo, hi)) if lo <= hi else []
        else:
            ids = list(builtins.range(len(manifest.shards)))
        self.shard_ids: list[int] = list(ids)
        self.v.shards = len(self.shard_ids)
        self.tasks: dict[int, ShardTask] = {
            i: ShardTask(i, QueryRequest(program.url, program.hash, manifest.url, manifest.seq, i, args, range,
                                      self.quorum), [])
            for i in self.shard_ids}
        self.certificates: dict[int, Any] = {}  # shard -> QuorumCertificate of its settled answer
        self._shards: dict[bytes, list[bytes]] = {}                          # whole shards loaded (by blob)
        self._awaiting: dict[bytes, list[tuple[FraudProof, Any]]] = {}       # accusations waiting for a shard
        self._repub: dict[bytes, list[tuple[int, FraudProof]]] = {}          # smaller forms waiting for a shard
        self._wf_checked: set[int] = set()                                  # shards checked after a refusal

    # ------------------------------------------------------------------ driving
    @property
    def done(self) -> bool:
        if self.newer is not None:
            return True
        return not self._asks and all(t.settled for t in self.tasks.values())

    def start(self, candidates: dict[int, list[Any] | None]) -> list[Action]:
        """Begin with each shard's candidate peers (None: the lookup failed)."""
        for i, t in self.tasks.items():
            peers = candidates.get(i)
            if peers is None:
                self.v.failures.append(f"shard {i}: no replicas found")
            t.candidates = self._usable(peers or [])
        if self.batch:
            self._first_round_batched()
        return self._step()

    def on_result(self, tag: int, value: Any) -> list[Action]:
        """The outcome of the action ``tag``: a reply map, a peer list (FindPeers) or a Manifest (Refresh)."""
        kind, ctx = self._asks.pop(tag)
        try:
            if kind == "query":
                self._on_reply(ctx[0], ctx[1], value)
            elif kind == "batch":
                self._on_batch(ctx, value)
            elif kind == "sample":
                self._on_sample(ctx[0], ctx[1], ctx[2], value)
            elif kind == "evidence":
                self._on_evidence(ctx[0], ctx[1], ctx[2], ctx[3], ctx[4], ctx[5], value)
            elif kind == "find":
                self._on_peers(ctx, value)
            elif kind == "refresh":
                self._on_refresh(value)
            elif kind == "shard":
                self._on_shard(ctx, value)
            elif kind == "wellformed":
                self._on_wellformed(ctx, value)
        except NoteError as exc:  # anything a peer sent that we could not use: its failure, never ours
            self._fail_ctx(kind, ctx, exc)
        except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:  # hostile shapes
            self._fail_ctx(kind, ctx, RemoteProtocolError(f"unusable reply ({type(exc).__name__}: {exc})",
                                                          reason="bad-reply"))
        return self._step()

    def on_error(self, tag: int, exc: NoteError) -> list[Action]:
        """The action ``tag`` failed (timeout, unreachable, typed error reply)."""
        kind, ctx = self._asks.pop(tag)
        self._fail_ctx(kind, ctx, exc)
        return self._step()

    def _fail_ctx(self, kind: str, ctx: Any, exc: NoteError) -> None:
        if kind == "query":
            self._query_failed(ctx[0], ctx[1], exc)
        elif kind == "batch":
            for i in ctx[1]:
                self._query_failed(i, ctx[0], exc)
        elif kind == "sample":
            self._sample_failed(ctx[0], ctx[1], exc, ctx[2])
        elif kind == "evidence":
            self.v.failures.append(f"evidence fetch for an accusation: {exc}")
            self._ask_evidence(ctx[0], ctx[1], ctx[2], ctx[3], ctx[4], ctx[5] + 1)
        elif kind == "find":
            self.tasks[ctx].finding = False
            self.v.failures.append(f"shard {ctx}: finding more replicas failed: {exc}")
        elif kind == "refresh":
            self._on_refresh(None)
        elif kind == "wellformed":
            self.v.failures.append(f"shard {ctx}: loading it to check a malformed-dataset refusal failed: {exc}")
        elif kind == "shard":
            dropped = self._awaiting.pop(ctx, [])
            self._repub.pop(ctx, None)  # the proofs found keep their larger form
            self.v.failures.append(f"loading a shard to check {len(dropped)} accusation(s) failed: {exc}")

    # ------------------------------------------------------------------ plumbing
    def _new_tag(self, kind: str, ctx: Any) -> int:
        self._tag += 1
        self._asks[self._tag] = (kind, ctx)
        return self._tag

    def _usable(self, peers: list[Any]) -> list[Any]:
        out, seen = [], set()
        for p in peers:
            pid, key = peer_id_of(p), peer_key(p)
            if key in seen or (pid is not None and (pid in self.blocked or pid in self.convicted)):
                continue
            seen.add(key)
            out.append(p)
        return out

    def _ok_peer(self, peer: Any) -> bool:
        pid = peer_id_of(peer)
        return pid is None or (pid not in self.blocked and pid not in self.convicted)

    def _ask(self, t: ShardTask, peer: Any) -> None:
        t.asked.add(peer_key(peer))
        t.peers.append(peer)
        t.inflight += 1
        self._out.append(Ask(self._new_tag("query", (t.index, peer)), peer, t.req.to_msg()))

    def _first_round_batched(self) -> None:
        groups: dict[Any, tuple[Any, list[int]]] = {}
        for i, t in self.tasks.items():
            if t.candidates:
                peer = t.candidates.pop(0)
                groups.setdefault(peer_key(peer), (peer, []))[1].append(i)
        for peer, shards in groups.values():
            for j in builtins.range(0, len(shards), MAX_BATCH):
                part = shards[j:j + MAX_BATCH]
                for i in part:
                    self.tasks[i].asked.add(peer_key(peer))
                    self.tasks[i].peers.append(peer)
                    self.tasks[i].inflight += 1
                msg = {"op": OP_BATCH, "queries": [self.tasks[i].req.to_msg() for i in part]}
                self._out.append(Ask(self._new_tag("batch", (peer, part)), peer, msg))

    def _step(self) -> list[Action]:
        if self.newer is None:
            k = self.k
            for t in self.tasks.values():
                # Every task is looked at after every event: skip here the two cases where _pump returns at
                # once (settled or awaiting the joint check; no answer yet and enough requests out).
                if t.final is None and t.failed is None and t.tentative is None and (
                        t.good or t.inflight + t.auditing < (1 if t.disagreement else k)):
                    self._pump(t)
            if self._defer and not self._joint_done and self._ready_for_joint():
                self._joint_check()
                for t in self.tasks.values():
                    self._pump(t)
        out, self._out = self._out, []
        return out

    # ------------------------------------------------------------------ per-shard state
    def _pump(self, t: ShardTask) -> None:
        if t.settled or t.tentative is not None:  # settled, or waiting for the joint check
            return
        if t.good:
            self._reconcile(t, short_ok=False)  # may settle, convict (dropping answers) or disagree
            if t.settled:
                return
        want = (1 if t.disagreement else self.k - len(t.good)) - t.inflight - t.auditing
        while want > 0 and t.candidates:
            peer = t.candidates.pop(0)
            if peer_key(peer) in t.asked or not self._ok_peer(peer):
                continue
            self._ask(t, peer)
            want -= 1
        if t.inflight or t.auditing or t.finding or want <= 0:
            return
        if t.find < 2:  # ask the ring for further replicas (a wider set, then wider still)
            t.find += 1
            t.finding = True
            count = min(self.max_find, (len(t.asked) + self.k) * (2 if t.find == 1 else 4))
            self._out.append(FindPeers(self._new_tag("find", t.index), t.index,
                                       self.manifest.shards[t.index].blob, count))
            return
        self._settle_short(t)

    def _settle_short(self, t: ShardTask) -> None:
        """No candidate left: settle with what agrees, or fail."""
        if t.tentative is not None:
            return
        if t.good:
            self._reconcile(t, short_ok=True)
            if t.settled:
                return
        if t.disagreement:
            t.failed = f"shard {t.index}: replicas disagree and none could be convicted"
            self.v.suspicions.append(t.failed)
        else:
            t.failed = f"shard {t.index}: no verified answer"

    def _reconcile(self, t: ShardTask, *, short_ok: bool) -> None:
        """Convict whoever the answers' union proves lied; settle when the rest agree and are k (or ``short_ok``)."""
        digests = {agreement(a) for a, _ in t.good}
        seen = frozenset(peer_key(p) for _, p in t.good)
        if len(digests) > 1 and t.tried != seen:
            t.tried = seen
            for fp, peer in conflict_proofs([(a, p) for a, p in t.good]):
                self._convict(fp, peer)
            digests = {agreement(a) for a, _ in t.good}
        if len(digests) > 1:
            t.disagreement = True  # nobody convictable: ask further replicas
            return
        self._dispute_outputs(t, seen)
        t.disagreement = False
        if t.good and (short_ok or len(t.good) >= self.k):
            t.final, t.agreeing = t.good[0][0], len(t.good)
            self._after_settle(t)

    def _dispute_outputs(self, t: ShardTask, seen: frozenset[Any]) -> None:
        """Predicate answers that agree on their records but sign different outputs (the ``extra``, which the
        client never uses): at most one is true, so each is re-run on the whole shard (``LoadShard``, 5.0)
        and whoever signed a false one is convicted."""
        if self.range is not None or t.disputed == seen:
            return
        if len({bytes(a.claim.receipt["result"]) for a, _ in t.good}) < 2:
            return
        t.disputed = seen
        blob = self.manifest.shards[t.index].blob
        for a, peer in list(t.good):
            self._convict(shard_proof(a.claim.fraud(KIND_SUBSET), blob), peer)

    def _after_settle(self, t: ShardTask) -> None:
        assert t.final is not None
        for claim, peer in t.pending:  # range claims whose proof failed: the honest range proof convicts
            if peer_id_of(peer) not in self.convicted and t.final.range_records is not None:
                self._convict(claim.fraud(KIND_RANGE, range_proof=t.final.range_proof), peer)
        t.pending = []
        self.certificates.pop(t.index, None)
        if self.quorum and t.agreeing > 1:
            cert = certificate_of([a for a, _ in t.good])
            if cert is not None:
                self.certificates[t.index] = cert

    # ------------------------------------------------------------------ replies
    def _on_batch(self, ctx: tuple[Any, list[int]], reply: Any) -> None:
        peer, shards = ctx
        replies = parse_batch_reply(reply, len(shards))
        for i, r in zip(shards, replies, strict=False):
            self._on_reply(i, peer, r)  # handles every NoteError itself

    def _query_failed(self, shard: int, peer: Any, exc: NoteError) -> None:
        t = self.tasks[shard]
        t.inflight -= 1
        self.v.failures.append(f"shard {shard}: {type(exc).__name__}: {exc}")
        if getattr(exc, "reason", None) == MALFORMED and shard not in self._wf_checked:
            # A peer says the publisher's shard is malformed: check it ourselves on the whole shard.
            self._wf_checked.add(shard)
            self._out.append(LoadShard(self._new_tag("wellformed", shard), self.manifest.shards[shard].blob))
        if getattr(exc, "reason", None) == SEQ_MISMATCH:
            self._seq_hint(exc, peer)

    def _on_reply(self, shard: int, peer: Any, reply: Any) -> None:
        t = self.tasks[shard]
        self._publisher_fault(reply)
        if not self._ok_peer(peer):  # convicted meanwhile: its answer is dropped
            t.inflight -= 1
            return
        try:
            ans = verify_answer(t.req, reply, self.manifest, peer_id=peer_id_of(peer))
        except UnprovenClaim as exc:
            t.inflight -= 1
            self.v.failures.append(f"shard {shard}: unproven signed claim: {exc}")
            if self.range is not None:
                t.pending.append((exc.claim, peer))
            else:
                self._accuse_subset(t, exc.claim, peer)
            return
        except SignedStatement as exc:  # not an answer, but signed: a false digest for what it names convicts
            self._query_failed(shard, peer, exc)
            self._convict(receipt_proof(exc, reply, t.req, self.manifest.shards[shard].blob), peer)
            return
        except NoteError as exc:
            self._query_failed(shard, peer, exc)
            return
        if self.quorum and isinstance(reply, dict):
            ans.extra_fields["qc"] = reply.get("qc")
        t.inflight -= 1
        if self.audit > 0 and self.range is None:
            idx = sample_indices(self.manifest.shards[shard].count, self.audit, self.rng, exclude=set(ans.indices))
            if idx:
                others = [p for p in self._replica_pool(t) if peer_key(p) != peer_key(peer)] + [peer]
                job = AuditJob(shard, ans, peer, others, chunks(idx))
                t.auditing += 1
                for n in range(len(job.parts)):
                    self._ask_sample(job, n, 0)
                return
        self._checked(t, ans, peer, [])

    def _replica_pool(self, t: ShardTask) -> list[Any]:
        seen = [p for a, p in t.good] + list(t.candidates)
        return [p for p in seen if self._ok_peer(p)]

    # ------------------------------------------------------------------ checks and convictions
    def _checked(self, t: ShardTask, ans: ShardAnswer, peer: Any, sample: list[Evidence]) -> None:
        if not self._ok_peer(peer) or t.settled:
            return
        ans.sample = sample or None
        if self._defer and not self._joint_done:
            if t.tentative is None:
                t.tentative = (ans, peer)
            return
        try:
            check_output(ans, self.executor, self.program.wasm, self.program.fuel, sample=sample or None)
        except OutputMismatch as exc:
            self._convict(self._small(exc.fraud, ans, sample), peer)
            return
        except NoteError as exc:  # the re-run failed (fuel, trap): skip the peer, never crash the query
            self.v.failures.append(f"shard {t.index}: re-run failed: {exc}")
            return
        t.good.append((ans, peer))

    def _small(self, fp: FraudProof, ans: ShardAnswer, sample: list[Evidence]) -> FraudProof:
        """A publishable fraud proof: the claimed records plus one hidden match when that suffices."""
        if fp.kind != KIND_SUBSET or not sample:
            return fp
        return minimal_subset_proof(fp, ans, sample, self.executor, self.program) or fp

    def _convict(self, fp: FraudProof, peer: Any) -> bool:
        """Convict on a verified proof; a program-dependent one waits for its whole shard (``LoadShard``)."""
        try:
            try:
                what = verify_fraud_proof(fp, self.executor, self.program.wasm, fuel=self.program.fuel,
                                          shard=self._shards.get(fp.blob) if fp.blob else None)
            except NoteError as exc:
                if getattr(exc, "reason", None) not in ("ineligible", "need-shard"):
                    raise
                i = fp_shard(fp)
                if i is None or i >= len(self.manifest.shards):
                    raise
                full = shard_proof(fp, self.manifest.shards[i].blob)
                if full.blob not in self._shards:
                    self._await_shard(full.blob).append((full, peer))
                    return False
                fp = full
                what = verify_fraud_proof(fp, self.executor, self.program.wasm, fuel=self.program.fuel,
                                          shard=self._shards[fp.blob])
        except NoteError as exc:
            self.v.failures.append(f"unproven accusation dropped: {exc}")
            return False
        pid = fp.peer
        if pid not in self.convicted:
            pub = self._publishable(fp)  # what conviction needs only, to fit the evidence index (.compact)
            self.frauds.append(pub)
            self.v.fraud.append({"peer": pid.hex(), "lie": what, "kind": pub.kind, "proof": pub.address.hex()})
        self.convicted.add(pid)
        self.blocked.add(pid)
        self._drop(pid)
        return True

    def _drop(self, pid: bytes) -> None:
        """Every answer of a convicted peer in this query goes; its shards are asked again elsewhere."""
        for t in self.tasks.values():
            t.good = [(a, p) for a, p in t.good if peer_id_of(p) != pid and a.peer != pid]
            if t.tentative is not None and (peer_id_of(t.tentative[1]) == pid or t.tentative[0].peer == pid):
                t.tentative = None
            t.pending = [(c, p) for c, p in t.pending if peer_id_of(p) != pid]
            t.candidates = [p for p in t.candidates if peer_id_of(p) != pid]
            if t.final is not None and t.final.peer == pid or t.final is not None and len(t.good) < t.agreeing:
                t.final, t.agreeing = None, 0
            if t.failed and t.disagreement:
                t.failed = None
                self.v.suspicions = [s for s in self.v.suspicions if not s.startswith(f"shard {t.index}:")]
        for kind, ctx in list(self._asks.values()):
            if kind == "sample" and peer_id_of(ctx[0].peer) == pid:
                self._close_audit(ctx[0], None)

    def _on_peers(self, shard: int, peers: Any) -> None:
        t = self.tasks[shard]
        t.finding = False
        fresh = [p for p in self._usable(list(peers)) if peer_key(p) not in t.asked
                 and peer_key(p) not in {peer_key(c) for c in t.candidates}]
        t.candidates.extend(fresh)
        if not fresh:
            t.find = 2

    # ------------------------------------------------------------------ joint check (k == 1, predicate)
    def _ready_for_joint(self) -> bool:
        if any(kind in ("query", "batch", "sample") for kind, _ in self._asks.values()):
            return False
        return all(t.tentative is not None or t.settled for t in self.tasks.values()) and any(
            t.tentative is not None for t in self.tasks.values())

    def _joint_check(self) -> None:
        """One run over all tentative answers (:func:`.reconcile.joint_run`); the rest re-checked alone."""
        self._joint_done = True
        tent = {i: t.tentative for i, t in self.tasks.items() if t.tentative is not None}
        passed, merged = joint_run({i: a for i, (a, _) in tent.items()}, self.executor, self.program, self.args)
        for i, (a, peer) in tent.items():
            t = self.tasks[i]
            t.tentative = None
            if not self._ok_peer(peer):  # convicted while an earlier shard was re-checked: dropped
                merged = None
                continue
            if i in passed and not covers_shard(a, a.sample):
                t.good.append((a, peer))
            else:
                merged = None
                self._checked(t, a, peer, list(a.sample or []))
        if merged is not None and all(t.good for t in self.tasks.values()):
            self._joint = merged

    # ------------------------------------------------------------------ the answer
    def result(self) -> QueryResult:
        """Merge the settled shards into the answer and decide the verdict."""
        v = self.v
        ordered, agree = [], []
        for i in self.shard_ids:
            t = self.tasks[i]
            if t.final is not None and t.final.peer in self.convicted:  # never (see _drop); belt and braces
                t.final = None
            if t.final is not None:
                ordered.append(t.final)
                agree.append(t.agreeing)
        missing = [i for i in self.shard_ids if self.tasks[i].final is None]
        if missing:
            v.ok = False
            v.errors.append(f"no verified answer for shards {missing}")
        v.replicas_agreeing = min(agree) if agree else 0
        if self.k > 1 and ordered and v.replicas_agreeing < self.k:
            v.ok = False
            short = [i for i in self.shard_ids if self.tasks[i].final is not None and self.tasks[i].agreeing < self.k]
            v.errors.append(f"fewer than {self.k} replicas agreed for shards {short} "
                            f"(fewest: {v.replicas_agreeing})")
        if self.range is not None:
            pool = [r for a in ordered for r in (a.range_records or [])]
            v.completeness = "proven (key-range proofs, program re-run on every record in range)"
            v.extra_scope = "every record in the range (complete input)"
        else:
            pool = [r for a in ordered for _, r in sorted(zip(a.indices, a.records, strict=False))]
            v.completeness = (f"audited at rate {self.audit}" if self.audit > 0 else "not audited") + (
                f", {v.replicas_agreeing} replicas compared" if self.k > 1 else "")
            v.extra_scope = "the returned (verified) matches only"
        v.records_proven = sum(len(a.range_records if a.range_records is not None else a.records) for a in ordered)
        records: list[bytes] = []
        extra = b""
        if self._joint is not None and len(ordered) == len(self.shard_ids) and not self.frauds:
            records, extra = self._joint
        elif pool:
            try:
                rel, extra = run_program(self.executor, self.program.wasm, self.args, pool,
                                         merge_fuel(self.program.fuel, len(ordered)))
                records = [pool[j] for j in rel]
            except NoteError as exc:
                v.ok = False
                v.errors.append(f"merging the verified answers failed: {exc}")
                extra = b""
        v.peers_used = sorted({a.peer.hex()[:16] for a in ordered})
        certs = [self.certificates[i] for i in self.shard_ids
                 if i in self.certificates and self.tasks[i].final is not None]
        v.certificates = [c.encode().hex() for c in certs]
        decide_verdict(v, ranged=self.range is not None)
        return QueryResult(records, extra, v, ordered, list(self.frauds), certs)
