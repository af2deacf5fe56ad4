"""The querying side's trio driver: I/O for the sans-IO :class:`~.session.QuerySession`.

:class:`ComputeClient` runs over a *transport* with the agreed ``Client``
methods (``get_record``, ``get_blob``, ``replicas``, ``request``): the real
libp2p client or :mod:`note_compute.testing.compute` (the in-memory network
on the simulated ring, under trio's virtual clock in tests). One query:

1. resolve the freshest manifest (never older than the newest seq this
   client has seen for the dataset, :mod:`.freshness`) and the program;
2. find each shard's replicas (skipping peers proven to have lied);
3. run the session: perform its actions (requests with a timeout, replica
   lookups, manifest refreshes), feed their outcomes back, until it is
   done; when a peer's ``seq-mismatch`` refusal proves a newer version (its
   signed record, :mod:`.hints`), start over on it;
4. publish the fraud proofs the session produced (with those found before
   any restart: a lie on an older version is still a lie); return its merged
   result with its verdict (:mod:`.result`).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import Any

import trio

from .. import encoding, programs, records, urls
from ..errors import NoteError, RemoteProtocolError, StaleRecord, Timeout
from .accuse import AccusationChecker
from .dataset import Manifest
from .fault_index import faults_for
from .fraud import FraudProof
from .freshness import Freshness
from .progress import QueryProgress, QueryWatch
from .result import QueryResult, Verification
from .server import ProgramCode
from .session import Ask, FindPeers, LoadShard, QuerySession, Refresh, peer_id_of
from .source import RingSource

__all__ = ["ComputeClient", "QueryProgress", "QueryResult", "Verification", "peer_id_of"]

MAX_RESTARTS = 3


class ComputeClient:
    """Verified queries over a transport; see the module docstring."""

    def __init__(self, transport: Any, sandbox: Any, *, timeout: float = 5.0, rng: random.Random | None = None,
                 fraud_registry: Any = None, shuffle: bool = True, parallel: int = 32, batch: bool = True,
                 replica_ttl: float = 30.0, program_ttl: float = 60.0, freshness: Freshness | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.transport = transport
        self.sandbox = sandbox
        self.timeout = timeout
        self.rng = rng or random.Random()
        self.source = RingSource(transport)
        self.blocked: set[bytes] = set()
        self.registry = fraud_registry
        self.shuffle = shuffle
        self.parallel = parallel
        self.batch = batch
        self.replica_ttl = replica_ttl
        self.freshness = freshness if freshness is not None else Freshness()
        self.clock = clock or trio.current_time
        self._replicas: dict[bytes, tuple[float, list[Any]]] = {}
        self.program_ttl = program_ttl
        self._programs: dict[str, tuple[float, ProgramCode]] = {}
        self._accused: dict[bytes, float] = {}  # peer id -> until when "not accused" holds
        self.accused_ttl = 30.0
        self._checking: dict[bytes, trio.Event] = {}
        self._known: dict[bytes, tuple[bytes, int]] = {}  # program hash -> (wasm, fuel) resolved by this client

        def known() -> dict[bytes, tuple[bytes, int]]:
            for _, c in self._programs.values():
                self._known.setdefault(c.hash, (c.wasm, c.fuel))
            return self._known

        self.accusations = AccusationChecker(sandbox, get_value=getattr(transport, "get_value", None),
                                             get_blob=getattr(transport, "get_blob", None), programs=known)
        """Checks stored proofs against candidate peers: any valid proof convicts (bounded cost, ``.accuse``)."""

    async def resolve_program(self, url: str) -> ProgramCode:
        """The program at ``url`` (signed record, binary hash checked); cached for ``program_ttl`` seconds."""
        url = urls.normalize(url)
        hit = self._programs.get(url)
        if hit is not None and hit[0] > self.clock():
            return hit[1]
        record = await self.transport.get_record(url)
        prog = programs.parse_program(record)
        code = await self.source.program(record.url, prog.wasm)
        self._programs[url] = (self.clock() + self.program_ttl, code)
        return code

    async def latest_manifest(self, url: str) -> Manifest:
        """The freshest manifest found, refused if older than the newest seq seen for ``url`` (raises StaleRecord)."""
        m = await self.source.latest_manifest(url)
        newest = self.freshness.newest(m.url)
        if newest is not None and m.seq < newest:
            raise StaleRecord(f"the ring returned seq {m.seq} for {m.url}, older than seq {newest} seen before "
                              "(rollback refused)", reason="stale")
        self.freshness.saw(m.url, m.seq)
        return m

    async def follow_hint(self, record: bytes) -> Manifest:
        """The manifest a peer's newer-seq hint proves (its signed record, already checked by the session):
        expiry checked, the shard table fetched when not inline, never older than seen (``.hints``)."""
        m = await self.source.manifest_of_record(records.decode_verified(record, now=int(time.time())))
        newest = self.freshness.newest(m.url)
        if newest is not None and m.seq < newest:
            raise StaleRecord(f"a hint names seq {m.seq} of {m.url}, older than seq {newest} seen before",
                              reason="stale")
        self.freshness.saw(m.url, m.seq)
        return m

    async def query(self, program_url: str, dataset_url: str, args: Any, *, range: list[Any] | None = None,
                    audit: float = 0.0, replicas: int = 1, quorum: bool = False,
                    manifest: Manifest | None = None,
                    progress: Callable[[QueryProgress], None] | None = None) -> QueryResult:
        """Run a verified query. ``args`` is a value (encoded here) or canonical CBOR bytes.

        ``manifest``: a version of ``dataset_url`` this client resolved (:meth:`latest_manifest`), queried
        without resolving it again, so that several queries of one search see one version; it is refused
        when older than the newest seq seen since, and a peer's proof of a newer one still restarts the query.

        ``progress``: called with a :class:`~.progress.QueryProgress` (shards done of total, peers asked, the
        shard and peer waited on longest) at the session's start and after each request's outcome when what
        it reports changed; never per byte, and no bookkeeping at all when None (:mod:`.progress`).
        """
        t0 = time.perf_counter()
        args_bytes = args if isinstance(args, bytes) else encoding.encode(args)
        encoding.decode(args_bytes)
        if not 0.0 <= audit <= 1.0:
            raise ValueError("audit rate is in [0, 1]")
        if replicas < 1:
            raise ValueError("replicas >= 1")
        box: dict[str, Any] = {}

        async def get(name: str, fn: Any, arg: str) -> None:
            try:
                box[name] = await fn(arg)
            except NoteError as exc:
                box[name] = exc

        if manifest is not None:
            if manifest.url != urls.normalize(dataset_url):
                raise ValueError("the manifest given is not one of dataset_url")
            newest = self.freshness.newest(manifest.url)
            if newest is not None and manifest.seq < newest:
                raise StaleRecord(f"seq {manifest.seq} of {manifest.url} is older than seq {newest} seen since "
                                  "(rollback refused)", reason="stale")
            box["m"] = manifest

        async with trio.open_nursery() as nursery:  # manifest, program and publisher-fault index, concurrently
            if manifest is None:
                nursery.start_soon(get, "m", self.latest_manifest, dataset_url)
            nursery.start_soon(get, "p", self.resolve_program, program_url)
            nursery.start_soon(get, "f", self._fault_index, dataset_url)
        for name in ("m", "p"):
            if isinstance(box[name], NoteError):
                raise box[name]
        manifest, program = box["m"], box["p"]
        resolved = time.perf_counter() - t0
        restarts = 0
        watch = QueryWatch(progress, self.clock) if progress is not None else None
        carried: tuple[list[FraudProof], list[dict[str, str]]] = ([], [])  # proofs found before a restart
        while True:
            session = QuerySession(manifest, program, args_bytes, executor=self.sandbox, rng=self.rng, range=range,
                                   audit=audit, replicas=replicas, blocked=self.blocked, batch=self.batch,
                                   quorum=quorum)
            # A lie on an older version is still a lie: its proof stays in the result (and is published
            # below) after a restart; the liar is blocked, so no session convicts it twice.
            session.frauds.extend(carried[0])
            session.v.fraud.extend(carried[1])
            if restarts:  # a newer version: its faults may have been indexed since
                box["f"] = await self._fault_index(dataset_url)
            self._indexed_faults(session, box["f"] if isinstance(box["f"], list) else [])
            counters: dict[str, Any] = {"bytes": 0, "verify": 0.0}
            await self._run(session, program, counters, watch=watch)
            if session.newer is None or restarts >= MAX_RESTARTS:
                break
            restarts += 1
            carried = (list(session.frauds), list(session.v.fraud))
            if watch is not None:
                watch.restart()
            manifest = session.newer
            self.freshness.saw(manifest.url, manifest.seq)
        result = session.result()
        v = result.verification
        if session.newer is not None:
            v.ok = False
            v.errors.append(f"the dataset kept changing under the query ({restarts} restarts)")
            v.verdict, v.summary = "failed", "FAILED. errors: " + "; ".join(v.errors)
        v.restarts = restarts
        v.bytes_received = counters["bytes"]
        v.verify_seconds = counters["verify"]
        v.resolve_seconds = resolved
        v.total_seconds = time.perf_counter() - t0
        await self.publish_frauds(result.frauds)
        await self.publish_faults(v)
        return result

    async def _fault_index(self, dataset_url: str) -> list[bytes]:
        """The publisher-fault proofs the ring indexes for the dataset (unchecked; [] without a registry)."""
        lookup = getattr(self.registry, "lookup_faults", None)
        if lookup is None:
            return []
        try:
            found: list[bytes] = await lookup(dataset_url)
        except NoteError:
            return []
        return found

    def _indexed_faults(self, s: QuerySession, items: list[bytes]) -> None:
        """Apply the ring's publisher-fault index to the session's dataset version (``.fault_index``).

        Every indexed proof is re-checked here. One for a shard the query uses
        is reported at once (``Verification.publisher_faults``, an error: that
        shard has no honest answer); one for another shard is noted under
        ``checked`` (the answer does not depend on it).
        """
        v = s.v
        for fault, defect in faults_for(items, s.manifest):
            if any((f["shard"], f["defect"]) == (str(fault.shard), defect) for f in v.publisher_faults):
                continue
            v.publisher_faults.append({"shard": str(fault.shard), "defect": defect, "proof": fault.encode().hex(),
                                       "source": "ring index"})
            if fault.shard in s.tasks:
                v.ok = False
                v.errors.append(f"shard {fault.shard} of the dataset is malformed by its publisher ({defect}; "
                                "a proof indexed in the ring, checked here): peers refuse to serve it and "
                                "nobody is convicted")
            else:
                v.checked.append(f"publisher fault indexed for shard {fault.shard} ({defect}) of this version; "
                                 "this query does not use that shard")

    async def publish_faults(self, v: Verification) -> None:
        """Index the publisher faults this query found (verified by the session) in the ring, through the registry."""
        publish = getattr(self.registry, "publish_fault", None)
        if publish is None:
            return
        for f in v.publisher_faults:
            if f.get("source") == "ring index":
                continue
            try:
                await publish(bytes.fromhex(f["proof"]))
            except NoteError:
                pass

    async def _run(self, s: QuerySession, program: ProgramCode, counters: dict[str, Any], *,
                   watch: QueryWatch | None = None) -> None:
        """Perform the session's actions concurrently and feed their outcomes back until it is done."""
        shard_ids = s.shard_ids
        candidates: dict[int, list[Any] | None] = {}

        async def resolve(i: int) -> None:
            try:
                peers = await self._peers_for(s.manifest.shards[i].blob, program)
            except NoteError:
                peers = None
            if peers and self.shuffle and len(peers) > 1:
                off = self.rng.randrange(len(peers))
                peers = peers[off:] + peers[:off]
            candidates[i] = peers

        async with trio.open_nursery() as nursery:
            for i in shard_ids:
                nursery.start_soon(resolve, i)
        send, recv = trio.open_memory_channel[tuple[int, bool, Any]](math.inf)
        limiter = trio.CapacityLimiter(self.parallel)

        async def perform(action: Any) -> None:
            try:
                if isinstance(action, Ask):
                    async with limiter:
                        with trio.move_on_after(self.timeout) as scope:
                            reply = await self.transport.request(action.peer, action.msg, timeout=self.timeout)
                    if scope.cancelled_caught:
                        raise Timeout("peer did not answer in time", reason="timeout")
                    counters["bytes"] += len(encoding.encode(reply)) if isinstance(reply, dict) else 0
                    value: Any = reply
                elif isinstance(action, FindPeers):
                    value = await self._more_peers(action.blob, action.count)
                elif isinstance(action, LoadShard):
                    value = await self.transport.get_blob(action.blob)
                elif isinstance(action, Refresh):
                    try:
                        value = await self.follow_hint(action.record) if action.record is not None else \
                            await self.latest_manifest(action.dataset)
                    except NoteError:
                        value = None
                else:  # pragma: no cover
                    raise TypeError(action)
                await send.send((action.tag, True, value))
            except NoteError as exc:
                await send.send((action.tag, False, exc))
            except (ValueError, TypeError, KeyError, OverflowError) as exc:  # a hostile reply's shape
                await send.send((action.tag, False, RemoteProtocolError(f"unusable reply: {type(exc).__name__}",
                                                                        reason="bad-reply")))

        async with trio.open_nursery() as nursery:
            def dispatch(actions: list[Any]) -> None:
                for a in actions:
                    if watch is not None:
                        watch.sent(a)
                    nursery.start_soon(perform, a)

            t = time.perf_counter()
            dispatch(s.start(candidates))
            counters["verify"] += time.perf_counter() - t
            if watch is not None:
                watch.emit(s)
            while not s.done:
                tag, ok, value = await recv.receive()
                if watch is not None:
                    watch.answered(tag)
                t = time.perf_counter()
                dispatch(s.on_result(tag, value) if ok else s.on_error(tag, value))
                counters["verify"] += time.perf_counter() - t
                if watch is not None:
                    watch.emit(s)
            nursery.cancel_scope.cancel()

    async def _more_peers(self, blob: bytes, count: int) -> list[Any]:
        try:
            peers = list(await self.transport.replicas(blob, count=count))
        except TypeError:  # a transport without ``count``: the usual replica set only
            peers = list(await self.transport.replicas(blob))
        return [p for p in peers if peer_id_of(p) not in self.blocked]

    async def _peers_for(self, info_blob: bytes, program: ProgramCode | None = None) -> list[Any]:
        hit = self._replicas.get(info_blob)
        now = self.clock()
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

    async def accused(self, peer_id: bytes) -> bool:
        """True when the registry holds a fraud proof against ``peer_id`` that this client
        verified itself; the peer is then blocked for the client's life (see ``blocked``)."""
        return await self._is_accused(peer_id)

    async def _is_accused(self, pid: bytes, program: ProgramCode | None = None) -> bool:
        """True when the registry holds a fraud proof against ``pid`` that *we* verified.

        A proof is believed only after :func:`.fraud.verify_fraud_proof` convicts
        with the program binary its receipt names (resolved by this client, or
        fetched by its hash) and, for range and shard proofs, the shard it
        names (:class:`.accuse.AccusationChecker`: any valid proof, whoever
        found it, at most 4 checks per lookup); then the peer is blocked for
        the client's life. Proofs that do not convict leave the peer usable;
        the answer is cached for ``accused_ttl`` seconds.
        """
        if self.registry is None:
            return False
        if pid in self.blocked:
            return True
        now = self.clock()
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
        """Any valid stored proof convicts, whoever found it and whatever program it names
        (:class:`.accuse.AccusationChecker`: bounded re-check cost)."""
        try:
            found = await self.registry.lookup(pid)
        except NoteError:
            found = []
        if program is not None:
            self._known[program.hash] = (program.wasm, program.fuel)
        if await self.accusations.first_conviction(pid, found) is not None:
            self.blocked.add(pid)
            return True
        self._accused[pid] = now + self.accused_ttl
        return False

    async def publish_frauds(self, frauds: list[FraudProof]) -> None:
        """Store fraud proofs through the registry (if any), each once."""
        if self.registry is None:
            return
        seen: set[bytes] = set()
        for fp in frauds:
            if fp.address in seen:
                continue
            seen.add(fp.address)
            try:
                await self.registry.publish(fp)
            except NoteError:
                pass
