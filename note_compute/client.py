"""The async (trio) client of the Note ring: put and get records and blobs.

A :class:`Client` is a light libp2p host that is *not* a ring member. It
bootstraps from a few node multiaddrs (by default those in
``$NOTE_HOME/devnet.json``), finds the replicas of a key with the ring
core's iterative :class:`~note_compute.ring.lookup.Lookup` (anonymous: it
never appears in anyone's routing table), keeps its connections open (one
long-lived stream per peer), and verifies everything it receives:

* records with :func:`records.decode_verified` and a check that the record
  sits at the address asked for; across replicas the freshest one wins
  (:func:`records.freshest`: highest seq, then smallest encoding);
* content-addressed values (blob chunks, manifests) against their SHA-256;
* blobs with :func:`blobs.join_blob` (every chunk hash, length, total size);
* fraud evidence and publisher faults with the :class:`EvidenceIndex` it is
  handed (``open_client``: compute's ``RING_EVIDENCE``, the nodes' check);
* inboxes (:mod:`note_compute.inbox`) with
  :func:`~note_compute.inbox.decode_set`: every item's sender signature and
  every removal's owner signature.

Usage::

    async with open_client() as client:
        acks = await client.put_record(record)
        record = await client.get_record(url)
        addr = await client.put_blob(data)
        data = await client.get_blob(addr)
        await client.put_evidence(peer_id, fraud_proof.encode())
        proofs = await client.get_evidence(peer_id)
        item = inbox.make_item(sender_key, owner_pk, "orders", sealed_body, t=now)
        await client.put_inbox(owner_pk, "orders", item)
        items = await client.list_inbox(owner_pk, "orders")
        await client.remove_inbox(owner_key, "orders", [item.id])
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import trio

from . import blobs, inbox, records, urls
from .errors import InvalidRecord, NoteError, NotFound, PeerUnreachable, Timeout, no_replica
from .net.addrs import peer_ref_from_multiaddr
from .ring import messages as ring_msgs
from .ring.ids import PeerRef, distance, id_from_bytes
from .ring.lookup import Lookup
from .transport import Requester
from .wire.storage import EVIDENCE, INBOX, RECORD, VALUE, get_msg, parse_get_reply, parse_put_reply, put_msg

__all__ = ["Client", "PeerRef", "open_client", "peer_ref_from_multiaddr"]

T = TypeVar("T")

_GET_GRACE = 0.25  # after the first good answer, how long to wait for the other replicas
_HEDGE = 0.5  # a direct get also asks the next replica when no answer came this soon (or 3x the usual time)
_MAX_KNOWN = 4096


class EvidenceIndex(Protocol):
    """How evidence sets are keyed, checked and united: compute's rules, handed in (as the store's policy is)."""

    def evidence_key(self, peer_id: bytes) -> bytes: ...
    def fault_key(self, fault: bytes) -> bytes: ...  # the key an encoded publisher fault is indexed under
    def faults_key(self, dataset_url: str) -> bytes: ...
    def validate_entry(self, key: bytes, data: bytes) -> list[bytes]: ...  # raises a NoteError on a bad item
    def encode_set(self, items: Iterable[bytes]) -> bytes: ...
    def union(self, *sets: Iterable[bytes]) -> list[bytes]: ...  # what a reader keeps of several replicas' sets


class Client:
    """A connection to the ring. Create it with :func:`open_client`.

    ``host`` is a :class:`~note_compute.net.NetHost`; ``seeds`` the peers to
    start lookups from. ``replicas`` is r (3). ``timeout`` bounds each
    request to one peer. ``evidence``: the rules of the evidence methods
    (without them those methods raise InvalidRecord, reason ``no-evidence-policy``).
    """

    def __init__(self, host: Requester, seeds: list[PeerRef], *, replicas: int = 3, timeout: float = 2.0,
                 parallel: int = 8, evidence: EvidenceIndex | None = None) -> None:
        self.host = host
        self.evidence = evidence
        self.r = replicas
        self.timeout = timeout
        self.parallel = parallel
        self._known: dict[int, PeerRef] = {p.id: p for p in seeds}
        self._seeds = list(seeds)
        self.last_hops = 0
        self.last_errors: list[NoteError] = []
        self._direct_latency = 0.0  # moving average of direct gets' answer time (seconds)

    # -- public API ------------------------------------------------------------

    async def replicas(self, key: bytes, count: int | None = None) -> list[PeerRef]:
        """The r nodes responsible for a 32-byte key (its successor first); ``count``: that many instead
        (the compute client asks further replicas when the first r disagree)."""
        return list(await self._lookup(key, count or self.r))

    async def request(self, peer: PeerRef, msg: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        """Send a raw request to ``peer`` and return its reply (typed errors raise)."""
        return await self.host.request(peer, msg, timeout)

    async def keep_alive(self, limit: int = 16) -> int:
        """Ping up to ``limit`` known peers at once so their connections stay open (a long-lived process
        calls it every few seconds); a peer that does not answer is forgotten. Returns how many answered."""
        ping = ring_msgs.ping(None)
        answered, _ = await self._gather(lambda p: self._request(p, ping), list(self._known.values())[:limit], None)
        return len(answered)

    async def put_record(self, record: records.Record) -> int:
        """Store ``record`` at the r replicas of its address; returns how many acknowledged.

        Raises the replicas' error (for example :class:`StaleRecord`) when
        none of them accepted it.
        """
        records.verify_record(record)
        return await self._put(RECORD, record.address, record.encode())

    async def get_record(self, url: str, *, direct: bool = False) -> records.Record:
        """The freshest verified record at ``url`` among its replicas; raises NotFound.

        ``direct``: as for :meth:`get_value`, the replicas computed from the
        known ring are asked without a lookup first (a lookup follows when none
        of them holds the record).
        """
        url = urls.normalize(url)
        addr = urls.address(url)

        async def fetch(peer: PeerRef) -> records.Record:
            kind, data = await self._get_entry(peer, addr)
            if kind != RECORD:
                raise InvalidRecord("peer returned a value where a record was expected", reason="kind")
            rec = records.decode_verified(data, now=int(time.time()))
            if rec.url != url:
                raise InvalidRecord("peer returned a record for another URL", reason="address-mismatch")
            return rec

        errors: list[NoteError] = []
        for lookup in ((False, True) if direct and len(self._known) >= 2 * self.r else (True,)):
            peers = await self._lookup(addr, self.r + 2) if lookup else self._computed(addr, self.r + 2)
            found, errs = await self._gather(fetch, list(peers[: self.r]), grace=_GET_GRACE)
            if not found:
                # Churn: the record may still sit a little further along the ring.
                found, more = await self._gather(fetch, list(peers[self.r :]), grace=_GET_GRACE)
                errs += more
            errors += errs
            if found:
                # Highest seq; replicas that equivocate (other bytes at that seq) give the
                # bytewise-smallest encoding, so every client picks the same record.
                return records.freshest(found)
        raise no_replica(f"no replica holds {url}", errors)

    async def put_value(self, data: bytes) -> bytes:
        """Store content-addressed bytes at SHA-256(data) on r replicas; returns the address."""
        addr = hashlib.sha256(data).digest()
        await self._put(VALUE, addr, data)
        return addr

    async def get_value(self, address: bytes, *, prefer: int = 0, direct: bool = False) -> bytes:
        """Fetch content-addressed bytes and check their hash; raises NotFound.

        ``prefer`` rotates which replica is asked first (spreads chunk fetches).
        ``direct``: when the client knows enough of the ring, first ask the
        replicas it computes (no lookup: one round trip instead of two), the
        preferred one, then the next too if no answer came within the hedge
        delay (the first good answer wins); NotFound or no answer from them:
        the usual lookup. The bytes are checked against their hash either way.
        """
        if direct and len(self._known) >= 2 * self.r:
            data = await self._get_direct(address, prefer)
            if data is not None:
                return data
        peers = list(await self._lookup(address, self.r + 2))
        if peers:
            k = prefer % min(len(peers), self.r)
            peers = peers[k:] + peers[:k]
        errors: list[NoteError] = []
        for peer in peers:
            try:
                kind, data = await self._get_entry(peer, address)
                if kind != VALUE:
                    raise InvalidRecord("peer returned a record where a value was expected", reason="kind")
                blobs.verify_chunk(address, data)
                return data
            except NoteError as exc:
                errors.append(exc)
        raise no_replica(f"no replica holds value {address.hex()[:16]}...", errors)

    async def _get_direct(self, address: bytes, prefer: int) -> bytes | None:
        """The value from the replicas computed from the known ring (hedged, see get_value), or None."""
        guessed = self._computed(address, self.r)
        k = prefer % len(guessed)
        found: list[bytes] = []
        wrong_guess = False
        started = trio.current_time()

        async def ask(peer: PeerRef, settled: trio.Event, scope: trio.CancelScope) -> None:
            nonlocal wrong_guess
            try:
                kind, data = parse_get_reply(await self.host.request(peer, get_msg(address), self.timeout), address)
                if kind == VALUE:
                    blobs.verify_chunk(address, data)
                    found.append(data)
                    scope.cancel()
            except NotFound:
                wrong_guess = True  # our view of the ring is off here: the lookup finds the replicas
            except NoteError as exc:  # a bad answer, or none in time: the next computed replica
                if isinstance(exc, PeerUnreachable):
                    self._forget(peer)
            finally:
                settled.set()

        async with trio.open_nursery() as nursery:
            for peer in guessed[k:] + guessed[:k]:
                if found or wrong_guess:
                    break
                settled = trio.Event()
                nursery.start_soon(ask, peer, settled, nursery.cancel_scope)
                with trio.move_on_after(max(_HEDGE, 3 * self._direct_latency)):
                    await settled.wait()
        if not found:
            return None
        # Under load every answer is slower (this process's own queue included): hedge later, not more.
        self._direct_latency += 0.2 * (trio.current_time() - started - self._direct_latency)
        return found[0]

    async def put_blob(self, data: bytes, media_type: str = blobs.DEFAULT_MEDIA_TYPE) -> bytes:
        """Chunk ``data``, store every chunk and the manifest; returns the manifest address."""
        manifest, chunks = blobs.split_blob(data, media_type)
        await self._map(lambda c: self.put_value(c), chunks)
        return await self.put_value(manifest.encode())

    async def get_blob(self, address: bytes) -> bytes:
        """Fetch a blob by manifest address: chunks in parallel from different replicas, all verified."""
        manifest = blobs.BlobManifest.decode(await self.get_value(address))
        if manifest.address != address:
            raise InvalidRecord("manifest does not hash to the blob address", reason="hash")
        idx = list(range(len(manifest.chunks)))
        chunks = await self._map(lambda i: self.get_value(manifest.chunks[i], prefer=i), idx)
        return blobs.join_blob(manifest, chunks)

    async def put_evidence(self, peer_id: bytes, proof: bytes) -> int:
        """Store an encoded fraud proof against ``peer_id`` at the r replicas of its evidence key (they merge
        it into their set). Checked here first as the nodes will (InvalidProof / InvalidSignature when it does
        not accuse ``peer_id`` with a receipt it signed); returns how many replicas acknowledged."""
        ev = self._evidence()
        return await self._put_checked(ev, ev.evidence_key(peer_id), proof)

    async def get_evidence(self, peer_id: bytes) -> list[bytes]:
        """The encoded fraud proofs the ring holds against ``peer_id`` ([] if none): the union of the replicas'
        checked sets (a failing replica is ignored). NotFound only when the lookup fails or no replica answers."""
        ev = self._evidence()
        return await self._evidence_at(ev, ev.evidence_key(peer_id), f"the evidence against {peer_id.hex()[:16]}...")

    async def put_publisher_fault(self, fault: bytes) -> int:
        """Index an encoded publisher-fault proof under its dataset in the ring (checked here first as the
        nodes will); returns how many replicas acknowledged."""
        ev = self._evidence()
        return await self._put_checked(ev, ev.fault_key(fault), fault)

    async def get_publisher_faults(self, dataset_url: str) -> list[bytes]:
        """The publisher-fault proofs the ring indexes against the dataset at ``dataset_url`` ([] if none):
        the union of the replicas' (checked) sets, like :meth:`get_evidence`."""
        ev = self._evidence()
        return await self._evidence_at(ev, ev.faults_key(dataset_url), f"the faults indexed for {dataset_url}")

    def _evidence(self) -> EvidenceIndex:
        if self.evidence is None:
            raise InvalidRecord("this client was given no evidence rules", reason="no-evidence-policy")
        return self.evidence

    async def _put_checked(self, ev: EvidenceIndex, key: bytes, item: bytes) -> int:
        data = ev.encode_set([item])
        ev.validate_entry(key, data)  # the nodes' check, before anything is sent
        return await self._put(EVIDENCE, key, data)

    async def _evidence_at(self, ev: EvidenceIndex, key: bytes, what: str) -> list[bytes]:
        peers = await self._lookup(key, self.r)

        async def fetch(peer: PeerRef) -> list[bytes]:
            try:
                kind, data = await self._get_entry(peer, key)
            except NotFound:
                return []
            if kind != EVIDENCE:
                raise InvalidRecord("peer returned another kind of entry at an evidence key", reason="kind")
            return ev.validate_entry(key, data)

        found, errors = await self._gather(fetch, list(peers), grace=None)
        if not found:
            raise no_replica(f"no replica of {what} answered", errors)
        return ev.union(*found)  # every replica's proofs: a reader keeps them all

    async def put_inbox(self, owner: bytes, name: str, item: inbox.InboxItem) -> int:
        """Append a signed item (:func:`note_compute.inbox.make_item`) to ``owner``'s inbox ``name``.

        Returns how many replicas acknowledged. Raises the replicas' refusal
        when none accepted (QuotaExceeded reason ``inbox-sender-quota`` when
        the sender already has its quota of entries there, InvalidRecord
        ``inbox-removed`` for a replayed entry the owner removed).
        """
        key = inbox.inbox_key(owner, name)
        item = inbox.decode_item(item.raw)
        if item.inbox != key:
            raise InvalidRecord("this item was signed for another inbox", reason="bad-inbox")
        return await self._put(INBOX, key, inbox.encode_set(inbox.InboxSet(owner, name, (item,), ())))

    async def list_inbox(self, owner: bytes, name: str) -> list[inbox.InboxItem]:
        """The live items of ``owner``'s inbox ``name`` (every signature verified), oldest first.

        Unites the replicas' sets with the nodes' merge rule, so an item one
        replica has not received yet is still listed and an item removed on
        one replica is not. A replica whose set fails the checks is ignored;
        [] when no replica holds the inbox.
        """
        key = inbox.inbox_key(owner, name)
        found = await self._inbox_sets(key)
        if not found:
            return []
        merged = inbox.merge(*found)
        return sorted(merged.items, key=lambda x: (x.t, x.id))

    async def remove_inbox(self, owner: Any, name: str, ids: list[bytes], *, now: int | None = None) -> int:
        """Remove items from the inbox ``name`` of ``owner`` (a :class:`~note_compute.crypto.SigningKey`).

        Sends an owner-signed removal (idempotent: replaying it changes
        nothing); returns how many replicas acknowledged.
        """
        t = int(time.time()) if now is None else now
        out = 0
        for i in range(0, len(ids), inbox.MAX_REMOVE_IDS):
            removal = inbox.make_removal(owner, name, ids[i:i + inbox.MAX_REMOVE_IDS], t)
            s = inbox.InboxSet(owner.public_key, name, (), (removal,))
            out = await self._put(INBOX, s.key, inbox.encode_set(s))
        return out

    async def _inbox_sets(self, key: bytes) -> list[inbox.InboxSet]:
        peers = await self._lookup(key, self.r)

        async def fetch(peer: PeerRef) -> inbox.InboxSet | None:
            try:
                kind, data = await self._get_entry(peer, key)
            except NotFound:
                return None
            if kind != INBOX:
                raise InvalidRecord("peer returned another kind of entry at an inbox key", reason="kind")
            return inbox.decode_set(key, data)

        found, errors = await self._gather(fetch, list(peers), grace=None)
        if not found and errors:
            raise no_replica(f"no replica of inbox {key.hex()[:16]}... answered", errors)
        return [s for s in found if s is not None]

    # -- internals ---------------------------------------------------------------

    async def _put(self, kind: str, key: bytes, data: bytes) -> int:
        peers = await self._lookup(key, self.r)
        msg = put_msg(kind, key, data)

        async def one(peer: PeerRef) -> str:
            return parse_put_reply(await self._request(peer, msg))

        done, errors = await self._gather(one, list(peers), grace=None)
        self.last_errors = errors
        if not done:
            if errors and all(isinstance(e, type(errors[0])) for e in errors):
                raise errors[0]
            raise no_replica(f"no replica accepted the {kind}", errors, cls=PeerUnreachable)
        return len(done)

    async def _get_entry(self, peer: PeerRef, key: bytes) -> tuple[str, bytes]:
        return parse_get_reply(await self._request(peer, get_msg(key)), key)

    async def _request(self, peer: PeerRef, msg: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self.host.request(peer, msg, self.timeout)
        except (PeerUnreachable, Timeout):
            self._forget(peer)
            raise

    def _forget(self, peer: PeerRef) -> None:
        if len(self._known) > 1:
            self._known.pop(peer.id, None)

    def _learn(self, reply: Any) -> None:
        if not isinstance(reply, dict):
            return
        for field in ("successors", "closer"):
            for p in reply.get(field) or []:
                try:
                    ref = PeerRef.from_wire(p)
                except NoteError:
                    continue
                if len(self._known) < _MAX_KNOWN:
                    self._known.setdefault(ref.id, ref)

    def _seeds_for(self, target: int) -> list[PeerRef]:
        """Closest preceding known peers of ``target`` (where a full lookup starts)."""
        known = list(self._known.values()) or list(self._seeds)
        return sorted(known, key=lambda p: distance(p.id, target))[:6]

    def _computed(self, key: bytes, count: int) -> list[PeerRef]:
        """The ``count`` known peers at or after ``key`` on the ring: its replicas as far as we know it."""
        target = id_from_bytes(key)
        return sorted(self._known.values(), key=lambda p: distance(target, p.id))[:count]

    def _guess(self, target: int) -> PeerRef | None:
        """Our best guess of the key's successor: the first known peer at or after it."""
        if len(self._known) < 2:
            return None
        return min(self._known.values(), key=lambda p: distance(target, p.id))

    async def _lookup(self, key: bytes, count: int) -> tuple[PeerRef, ...]:
        """The key's live successor and the next nodes (``count`` in all).

        First a one-query lookup seeded with our guess of the successor
        (once the client has seen the ring, that node answers with itself
        first, a claim the lookup accepts as proven: one round trip); if
        that fails, a full iterative lookup from the closest preceding peers.
        """
        target = id_from_bytes(key)
        guess = self._guess(target)
        result: tuple[PeerRef, ...] = ()
        error = "no answer"
        for seeds in ([guess] if guess is not None else [], self._seeds_for(target)):
            if not seeds:
                continue
            result, error, hops = await self._run_lookup(target, seeds, count)
            if result:
                break
        if not result:
            raise NotFound(f"lookup of {key.hex()[:16]}... failed ({error})", reason="lookup-failed")
        self.last_hops = hops
        for p in result:
            self._known.setdefault(p.id, p)
        return result

    async def _run_lookup(self, target: int, seeds: list[PeerRef],
                          count: int) -> tuple[tuple[PeerRef, ...], str, int]:
        lk = Lookup(target, seeds, anonymous=True, replicas=count, count=max(count, 8), timeout=self.timeout)
        send_ch, recv_ch = trio.open_memory_channel[tuple[Any, Any, NoteError | None]](64)

        async def run(send: Any) -> None:
            try:
                reply = await self.host.request(send.peer, send.msg, send.timeout)
                await send_ch.send((send, reply, None))
            except NoteError as exc:
                await send_ch.send((send, None, exc))

        async with trio.open_nursery() as nursery:
            pending = 0
            for s in lk.start(trio.current_time()):
                nursery.start_soon(run, s)
                pending += 1
            while not lk.done and pending:
                send, reply, err = await recv_ch.receive()
                pending -= 1
                now = trio.current_time()
                if err is None:
                    self._learn(reply)
                    new = lk.on_reply(send.peer, reply, now)
                elif isinstance(err, (Timeout, PeerUnreachable)):
                    self._forget(send.peer)
                    new = lk.on_timeout(send.peer, now)
                else:
                    new = lk.on_error(send.peer, now)
                for s in new:
                    nursery.start_soon(run, s)
                    pending += 1
            nursery.cancel_scope.cancel()
        return lk.result, lk.error or "no answer", lk.hops

    async def _gather(self, fn: Callable[[PeerRef], Awaitable[T]], peers: list[PeerRef],
                      grace: float | None) -> tuple[list[T], list[NoteError]]:
        """Run ``fn`` on every peer at once; after the first success wait at most ``grace`` more."""
        ok: list[T] = []
        errors: list[NoteError] = []
        if not peers:
            return ok, errors
        first = trio.Event()
        remaining = len(peers)

        async with trio.open_nursery() as nursery:
            async def one(peer: PeerRef) -> None:
                nonlocal remaining
                try:
                    ok.append(await fn(peer))
                    first.set()
                except NoteError as exc:
                    errors.append(exc)
                finally:
                    remaining -= 1
                    if remaining == 0:
                        nursery.cancel_scope.cancel()

            async def cutoff() -> None:
                await first.wait()
                await trio.sleep(grace or 0.0)
                nursery.cancel_scope.cancel()

            for p in peers:
                nursery.start_soon(one, p)
            if grace is not None:
                nursery.start_soon(cutoff)
        return ok, errors

    async def _map(self, fn: Callable[[Any], Awaitable[T]], items: list[Any]) -> list[T]:
        """``fn`` over ``items`` with at most ``parallel`` at once; results in order; first error raises."""
        out: list[Any] = [None] * len(items)
        limit = trio.CapacityLimiter(self.parallel)
        errors: list[NoteError] = []

        async with trio.open_nursery() as nursery:
            async def one(i: int) -> None:
                async with limit:
                    try:
                        out[i] = await fn(items[i])
                    except NoteError as exc:
                        errors.append(exc)
                        nursery.cancel_scope.cancel()

            for i in range(len(items)):
                nursery.start_soon(one, i)
        if errors:
            raise errors[0]
        return out


@asynccontextmanager
async def open_client(bootstrap: list[str] | None = None, *, home: Path | None = None,
                      replicas: int = 3, timeout: float = 2.0,
                      evidence: EvidenceIndex | None = None) -> AsyncIterator[Client]:
    """Open a client bootstrapped from ``bootstrap`` multiaddrs (None: the local network's, see :mod:`.localnet`).

    Raises PeerUnreachable if no bootstrap node answers, or (reason
    ``devnet-down``) if no addresses are given and no local network runs.
    With no addresses and a running local network that offers a relay, the
    requests go through its supervisor (:mod:`.relay`: no libp2p import here,
    everything still verified here). ``evidence``: the evidence rules (default compute's ``RING_EVIDENCE``).
    """
    from .localnet import read_bootstrap, relay_seeds

    if evidence is None:
        from .compute.ring_evidence import RING_EVIDENCE

        evidence = RING_EVIDENCE

    relay, local = None, bootstrap is None
    if bootstrap is None:
        bootstrap = read_bootstrap(home)
        relay = relay_seeds(home)
    host_cm: Any
    if relay is not None:
        from .relay import RelayHost

        seeds = [PeerRef(i, a) for i, a in relay[1]]
        host_cm = _no_close(RelayHost(relay[0]))
    else:
        from .net import open_host

        seeds = [peer_ref_from_multiaddr(a) for a in bootstrap]
        host_cm = open_host(os.urandom(32), ["/ip4/127.0.0.1/tcp/0"])
    async with host_cm as host:
        client = Client(host, seeds, replicas=replicas, timeout=timeout, evidence=evidence)
        alive: list[PeerRef] = []

        async def ping(p: PeerRef) -> None:
            try:
                await host.request(p, ring_msgs.ping(None), timeout)
                alive.append(p)
            except NoteError:
                pass

        async with trio.open_nursery() as nursery:
            for p in random.sample(seeds, min(len(seeds), 4)):
                nursery.start_soon(ping, p)
        if not alive:
            if local:  # the supervisor runs (read_bootstrap said so) but its nodes do not answer
                raise PeerUnreachable(f"none of the local network's nodes answered ({min(len(seeds), 4)} asked); "
                                      "its supervisor runs: see `note-compute devnet status` and the nodes' logs "
                                      "under $NOTE_HOME/devnet/", reason="devnet-nodes")
            raise PeerUnreachable(f"none of the bootstrap nodes answered ({', '.join(bootstrap[:4])})",
                                  reason="bootstrap")
        yield client


@asynccontextmanager
async def _no_close(host: Any) -> AsyncIterator[Any]:
    yield host
