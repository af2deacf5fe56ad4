"""The gateway's ASGI application: note:// sites over HTTP, verified.

Theory of operation. Every authority gets its own origin,
``http://AUTHORITY.localhost:PORT/``, so one site's pages cannot read
another's storage or cookies (the browser's same-origin policy does the
isolation; ``*.localhost`` resolves to loopback in browsers). For a request:

1. the ``Host`` header names the authority (anything else: 400, or the
   gateway's own landing page on plain ``localhost``);
2. the authority's site manifest record is fetched and verified (signature
   by the authority, freshest seq among replicas) and kept for
   ``manifest_ttl`` seconds; concurrent requests share one fetch; between
   ``manifest_ttl`` and ``max_stale`` seconds the last verified manifest
   answers while a fresh one is fetched behind it (stale while
   revalidating), and never a manifest older than one already served;
3. the request path resolves to a manifest entry (``/`` and directories
   serve ``index.html``); its chunks are fetched in parallel, each checked
   against its content address, the whole against the SHA-256 the
   authority signed, and kept in a byte-bounded LRU keyed by that hash; an
   HTML or CSS document's references are prefetched in the background
   (``prefetch.py``) so the browser's next requests find them verified;
4. the response carries the media type the authority signed, an ``ETag``
   of the content hash (``If-None-Match`` answers 304 without touching the
   ring) and ``Cache-Control: no-cache`` (paths are mutable, so browsers
   revalidate; the hash makes revalidation free). Large files stream chunk
   by chunk, each chunk verified before it is sent.

Errors are proper statuses with a short page: 400 bad host or path, 404
unknown authority or path, 405 method, 413 request too large, 502 the ring
answered with something that failed verification, 503 the ring could not be
reached. ``/_note/api/query`` (POST, JSON) runs a verified query and answers
with the values and the verification summary; ``/_note/api/site`` lists the
site's files. ``/_note/app/NAME/...`` goes to an app handler (the shop's
search, cart and checkout, say), which is told the origin's authority and
acts only for that site.
"""

from __future__ import annotations

import hashlib
import html
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import trio

from .. import crypto, encoding, site, urls
from ..errors import (
    InvalidRecord,
    InvalidSignature,
    InvalidURL,
    NoteError,
    NotFound,
    PeerUnreachable,
    Timeout,
)
from . import prefetch
from .publish import fetch_manifest

__all__ = ["API_PREFIX", "APP_PREFIX", "MAX_BODY", "AppHandler", "Gateway"]

API_PREFIX = "/_note/api/"
APP_PREFIX = "/_note/app/"
MAX_BODY = 64 * 1024
Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]
QueryFn = Callable[..., Awaitable[Any]]
AppHandler = Callable[[str, str, str, Any], Awaitable[tuple[int, Any]]]
"""``handler(authority, method, subpath, json_body_or_None) -> (status, json_answer)``."""


class HTTPError(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


def _ring_error(exc: NoteError) -> HTTPError:
    if isinstance(exc, NotFound):
        return HTTPError(404, "Not found", str(exc))
    if isinstance(exc, (InvalidRecord, InvalidSignature)):
        return HTTPError(502, "Verification failed", f"the ring answered with data that failed verification: {exc}")
    if isinstance(exc, (PeerUnreachable, Timeout)):
        return HTTPError(503, "Ring unavailable", f"no peer of the ring answered: {exc}")
    return HTTPError(502, "Ring error", str(exc))


@dataclass
class _Site:
    seq: int
    manifest: site.SiteManifest
    fetched: float


class ByteLRU:
    """Verified file contents by SHA-256, bounded in total bytes."""

    def __init__(self, limit: int) -> None:
        self.limit, self.size = limit, 0
        self._d: OrderedDict[bytes, bytes] = OrderedDict()

    def get(self, key: bytes) -> bytes | None:
        data = self._d.get(key)
        if data is not None:
            self._d.move_to_end(key)
        return data

    def put(self, key: bytes, data: bytes) -> None:
        if len(data) > self.limit // 4 or key in self._d:
            return
        self._d[key] = data
        self.size += len(data)
        while self.size > self.limit:
            _, old = self._d.popitem(last=False)
            self.size -= len(old)


class Gateway:
    """The ASGI app. ``ring`` has ``get_record``, ``get_value``, ``get_blob`` (a Client)."""

    def __init__(self, ring: Any, *, query: QueryFn | None = None, manifest_ttl: float = 2.0,
                 cache_bytes: int = 64 * 1024 * 1024, clock: Callable[[], float] = time.monotonic,
                 apps: dict[str, AppHandler] | None = None, prefetch_bytes: int = 16 * 1024 * 1024,
                 max_stale: float = 30.0) -> None:
        self.ring, self.query = ring, query
        self.apps = dict(apps or {})
        self.manifest_ttl, self.clock = manifest_ttl, clock
        self.max_stale = max(max_stale, manifest_ttl)
        self.cache = ByteLRU(cache_bytes)
        self._sites: dict[str, _Site] = {}
        self._inflight: dict[str, trio.Event] = {}
        self._fetching: dict[bytes, trio.Event] = {}
        self.background: trio.Nursery | None = None  # set by the ASGI lifespan (or a test)
        self.prefetch_bytes = prefetch_bytes
        self.stats = {"requests": 0, "ring_fetches": 0, "cache_hits": 0, "not_modified": 0, "prefetched": 0}

    # -- ASGI --------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            async with trio.open_nursery() as nursery:  # background prefetches live as long as the server
                self.background = nursery
                while True:
                    msg = await receive()
                    if msg["type"] == "lifespan.startup":
                        await send({"type": "lifespan.startup.complete"})
                    elif msg["type"] == "lifespan.shutdown":
                        self.background = None
                        nursery.cancel_scope.cancel()
                        await send({"type": "lifespan.shutdown.complete"})
                        return
        if scope["type"] != "http":
            return
        self.stats["requests"] += 1
        try:
            await self._http(scope, receive, send)
        except HTTPError as err:
            await self._error(scope, send, err)

    async def _http(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        authority = self._authority(headers.get("host", ""))
        method = scope["method"]
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1").split("?", 1)[0]
        if authority is None:
            await self._respond(send, 200, _landing_page(headers.get("host", "")), "text/html; charset=utf-8",
                                head=method == "HEAD")
            return
        if path.startswith(API_PREFIX):
            await self._api(authority, path[len(API_PREFIX):], method, receive, send)
            return
        if path.startswith(APP_PREFIX):
            await self._app(authority, path[len(APP_PREFIX):], method, receive, send)
            return
        if method not in ("GET", "HEAD"):
            raise HTTPError(405, "Method not allowed", f"{method} is not allowed on a site page (GET or HEAD)")
        try:
            normal = urls.normalize(f"{urls.SCHEME}://{authority}{path or '/'}")
        except InvalidURL as exc:
            raise HTTPError(400, "Bad path", f"{path!r} is not a valid path: {exc}") from None
        req_path = normal[len(urls.SCHEME) + 3 + len(authority):] or "/"
        st = await self._site(authority)
        resolved = site.resolve_path(st.manifest, req_path)
        if resolved is None:
            raise HTTPError(404, "Not found", f"the site of {authority[:12]}... (seq {st.seq}) has no {req_path}")
        entry = st.manifest.files[resolved]
        etag = f'"{entry.sha256.hex()}"'
        base = [(b"etag", etag.encode()), (b"cache-control", b"no-cache"),
                (b"x-note-site-seq", str(st.seq).encode()), (b"x-note-verified", b"sha256")]
        if etag in [t.strip() for t in headers.get("if-none-match", "").split(",")]:
            self.stats["not_modified"] += 1
            await send({"type": "http.response.start", "status": 304, "headers": base})
            await send({"type": "http.response.body", "body": b""})
            return
        start = {"type": "http.response.start", "status": 200,
                 "headers": base + [(b"content-type", entry.media_type.encode()),
                                    (b"content-length", str(entry.size).encode()),
                                    (b"x-content-type-options", b"nosniff")]}
        if method == "HEAD":
            await send(start)
            await send({"type": "http.response.body", "body": b""})
            return
        data = self.cache.get(entry.sha256)
        if data is None and entry.sha256 in self._fetching:
            await self._fetching[entry.sha256].wait()  # a prefetch or another request is already on it
            data = self.cache.get(entry.sha256)
        if data is not None:
            self.stats["cache_hits"] += 1
        elif len(entry.chunks) > 1 and entry.size > self.cache.limit // 4:
            await self._stream(entry, start, send)  # too big to keep: stream it, each chunk verified
            return
        else:
            data = await self._fetch(entry)
        await send(start)
        await send({"type": "http.response.body", "body": data})
        self._prefetch(st, resolved, entry, data)

    async def _fetch(self, entry: site.SiteFile) -> bytes:
        """The verified bytes of ``entry`` (chunks in parallel), cached; concurrent callers share one fetch."""
        ev = self._fetching.get(entry.sha256)
        if ev is not None:
            await ev.wait()
            data = self.cache.get(entry.sha256)
            if data is not None:
                return data
        ev = self._fetching[entry.sha256] = trio.Event()
        try:
            return await self._chunks(entry)
        finally:
            del self._fetching[entry.sha256]
            ev.set()

    async def _chunks(self, entry: site.SiteFile, each: Send | None = None) -> bytes:
        """The one chunk fetcher: every chunk of ``entry`` at once, the whole checked and cached.

        Each chunk comes from one of its replicas (``prefer`` spreads a file's
        chunks over them; the ring client checks each against its address).
        ``each``, if given, is called with every chunk in order as soon as it
        and those before it are in (streaming a file of several chunks, too
        big to keep: nothing is returned or cached). A ring failure raises
        HTTPError, or BrokenResourceError once chunks were handed on; so does
        a file whose bytes do not match the SHA-256 and size the authority
        signed (nothing is cached then).
        """
        self.stats["ring_fetches"] += 1
        n = len(entry.chunks)
        got: list[bytes] = [b""] * n
        ready = [trio.Event() for _ in range(n)]
        failure: list[NoteError] = []

        async def one(i: int) -> None:
            try:
                got[i] = await self.ring.get_value(entry.chunks[i], prefer=i, direct=True)
            except NoteError as exc:
                failure.append(exc)
            finally:
                ready[i].set()

        digest = hashlib.sha256()
        handed = 0
        gone: Exception | None = None  # the HTTP client went away while streaming
        async with trio.open_nursery() as nursery:
            for i in range(n):
                nursery.start_soon(one, i)
            for i in range(n):
                await ready[i].wait()
                if failure:
                    nursery.cancel_scope.cancel()
                    break
                if n > 1:
                    digest.update(got[i])
                if each is not None and i == n - 1 and not self._whole_ok(entry, got, digest):
                    break  # the last chunk would complete the response: the whole is checked first
                if each is not None:
                    try:
                        await each({"type": "http.response.body", "body": got[i], "more_body": i < n - 1})
                    except Exception as exc:  # noqa: BLE001 - re-raised below, outside the nursery
                        gone = exc
                        nursery.cancel_scope.cancel()
                        break
                    handed += 1
        if gone is not None:
            raise gone
        if failure:
            if handed:
                raise trio.BrokenResourceError("a chunk failed after the response started")
            raise _ring_error(failure[0])
        if not self._whole_ok(entry, got, digest):
            if handed:
                raise trio.BrokenResourceError("file hash mismatch after streaming")  # abort the connection
            raise HTTPError(502, "Verification failed", "the file's bytes do not match the signed site manifest")
        if each is not None:
            return b""  # streamed: a file this big is not kept
        data = got[0] if n == 1 else b"".join(got)
        self.cache.put(entry.sha256, data)
        return data

    @staticmethod
    def _whole_ok(entry: site.SiteFile, got: list[bytes], digest: Any) -> bool:
        """The file's size and SHA-256 (``digest`` has every chunk when there are several) as signed."""
        if sum(map(len, got)) != entry.size:
            return False
        if len(got) > 1:
            return bool(digest.copy().digest() == entry.sha256)
        # One chunk: the ring client checked it against its address; when that is the file's signed
        # SHA-256 (it always is for an honest manifest), hashing it again would check nothing new.
        return entry.chunks[0] == entry.sha256 or hashlib.sha256(got[0]).digest() == entry.sha256

    def _prefetch(self, st: _Site, path: str, entry: site.SiteFile, data: bytes) -> None:
        """Start fetching what this HTML or CSS document refers to (in the background, budgeted)."""
        if self.background is None:
            return
        budget = self.prefetch_bytes
        for ref in prefetch.references(data, entry.media_type, path):
            target = site.resolve_path(st.manifest, ref)
            if target is None:
                continue
            e = st.manifest.files[target]
            if e.size > budget or e.sha256 in self._fetching or self.cache.get(e.sha256) is not None:
                continue
            budget -= e.size
            self.stats["prefetched"] += 1
            self.background.start_soon(self._prefetch_one, st, target, e)

    async def _prefetch_one(self, st: _Site, path: str, entry: site.SiteFile) -> None:
        try:
            data = await self._fetch(entry)
        except (HTTPError, NoteError):
            return  # the browser's own request will report it
        self._prefetch(st, path, entry, data)  # a stylesheet's fonts and images

    async def _stream(self, entry: site.SiteFile, start: dict[str, Any], send: Send) -> None:
        """A file of several chunks too big to keep: the status line, then each chunk once it is verified."""
        started = False

        async def each(msg: dict[str, Any]) -> None:
            nonlocal started
            if not started:
                await send(start)
                started = True
            await send(msg)

        await self._chunks(entry, each)

    # -- the site manifest ---------------------------------------------------------

    async def _site(self, authority: str) -> _Site:
        now = self.clock()
        st = self._sites.get(authority)
        if st is not None and now - st.fetched < self.manifest_ttl:
            return st
        if st is not None and now - st.fetched < self.max_stale and self.background is not None:
            # Stale while revalidating: answer from the last verified manifest, refresh it behind.
            if authority not in self._inflight:
                self.background.start_soon(self._refresh, authority)
            return st
        return await self._site_fetch(authority)

    async def _site_fetch(self, authority: str) -> _Site:
        st = self._sites.get(authority)
        now = self.clock()
        ev = self._inflight.get(authority)
        if ev is not None:
            await ev.wait()
            st = self._sites.get(authority)
            if st is None:
                raise HTTPError(404, "Unknown site", f"no site is published by {authority}")
            return st
        ev = self._inflight[authority] = trio.Event()
        try:
            try:
                record, manifest = await fetch_manifest(self.ring, authority, direct=True)
            except NoteError as exc:
                if st is not None and not isinstance(exc, (InvalidRecord, InvalidSignature, NotFound)):
                    return st  # ring briefly unreachable: keep serving the last verified manifest
                if isinstance(exc, NotFound):
                    raise HTTPError(404, "Unknown site", f"no site is published by {authority}") from None
                raise _ring_error(exc) from None
            if st is None or record.seq >= st.seq:  # never roll back to an older manifest
                st = _Site(record.seq, manifest, now)
            else:
                st.fetched = now
            self._sites[authority] = st
            return st
        finally:
            del self._inflight[authority]
            ev.set()

    async def _refresh(self, authority: str) -> None:
        try:
            await self._site_fetch(authority)
        except HTTPError:
            pass  # the next request past max_stale reports it

    @staticmethod
    def _authority(host: str) -> str | None:
        name = host.rsplit(":", 1)[0].lower() if not host.startswith("[") else host
        if name in ("localhost", "127.0.0.1", "[::1]"):
            return None
        if not name.endswith(".localhost"):
            raise HTTPError(400, "Unknown host", f"this gateway serves AUTHORITY.localhost, not {host!r}")
        label = name[: -len(".localhost")]
        try:
            crypto.public_key_of_authority(label)
        except ValueError:
            raise HTTPError(400, "Bad authority", f"{label!r} is not an authority (52 base32 characters)") from None
        return label

    # -- the JSON API ---------------------------------------------------------------

    async def _api(self, authority: str, name: str, method: str, receive: Receive, send: Send) -> None:
        if name == "site" and method == "GET":
            st = await self._site(authority)
            body = {"authority": authority, "seq": st.seq, "files": {
                p: {"sha256": f.sha256.hex(), "size": f.size, "media_type": f.media_type}
                for p, f in st.manifest.files.items()}}
            await self._json(send, 200, body)
            return
        if name != "query":
            raise HTTPError(404, "Not found", f"no API {name!r} (site, query)")
        if method != "POST":
            raise HTTPError(405, "Method not allowed", "the query API takes POST with a JSON body")
        if self.query is None:
            raise HTTPError(503, "No compute", "this gateway runs without a compute client")
        req = await _read_json(receive)
        program = _url(authority, req.get("program"), "program")
        dataset = _url(authority, req.get("dataset"), "dataset")
        audit = req.get("audit", 0.1)
        replicas = req.get("replicas", 1)
        rng = req.get("range")
        if not isinstance(audit, (int, float)) or isinstance(audit, bool) or not 0 <= audit <= 1:
            raise HTTPError(400, "Bad query", "audit is a number in [0, 1]")
        if type(replicas) is not int or not 1 <= replicas <= 5:
            raise HTTPError(400, "Bad query", "replicas is an integer in [1, 5]")
        try:
            args = encoding.encode(req.get("args", {}))
        except NoteError as exc:
            raise HTTPError(400, "Bad query", f"args: {exc}") from None
        t0 = time.perf_counter()
        try:
            result = await self.query(program, dataset, args, range=rng, audit=float(audit), replicas=replicas)
        except NoteError as exc:
            err = _ring_error(exc)
            await self._json(send, err.status, {"ok": False, "error": err.detail, "reason": exc.reason})
            return
        v = result.verification
        summary = v.to_json()
        verdict = getattr(result, "verdict", None)
        await self._json(send, 200, {
            "ok": bool(v.ok), "values": [_jsonable(x) for x in result.values()], "verification": summary,
            "verdict": _jsonable(verdict) if verdict is not None else ("verified" if v.ok else "failed"),
            "gateway_ms": round((time.perf_counter() - t0) * 1000, 1)})

    async def _app(self, authority: str, rest: str, method: str, receive: Receive, send: Send) -> None:
        name, _, sub = rest.partition("/")
        handler = self.apps.get(name)
        if handler is None:
            raise HTTPError(
                404, "Not found", f"no app {name!r} on this gateway ({', '.join(sorted(self.apps)) or 'none'})"
            )
        if method not in ("GET", "POST"):
            raise HTTPError(405, "Method not allowed", "apps take GET or POST")
        body = await _read_json(receive) if method == "POST" else None
        try:
            status, answer = await handler(authority, method, sub, body)
        except NoteError as exc:
            err = _ring_error(exc)
            status, answer = err.status, {"ok": False, "error": err.detail, "reason": exc.reason}
        await self._json(send, status, answer)

    # -- responses --------------------------------------------------------------------

    async def _respond(self, send: Send, status: int, body: bytes, ctype: str, *, head: bool = False,
                       extra: list[tuple[bytes, bytes]] | None = None) -> None:
        headers = [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode()),
                   (b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store")] + (extra or [])
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else body})

    async def _json(self, send: Send, status: int, body: Any) -> None:
        await self._respond(send, status, json.dumps(body).encode(), "application/json")

    async def _error(self, scope: dict[str, Any], send: Send, err: HTTPError) -> None:
        accept = dict(scope.get("headers", [])).get(b"accept", b"").decode("latin-1")
        if scope.get("path", "").startswith(("/_note/", )) or "application/json" in accept:
            await self._json(send, err.status, {"ok": False, "error": err.detail, "status": err.status})
            return
        page = (f"<!doctype html><meta charset=utf-8><title>{err.status} {html.escape(err.title)}</title>"
                f"<h1>{err.status} {html.escape(err.title)}</h1><p>{html.escape(err.detail)}</p>"
                "<p><small>note-compute gateway</small></p>").encode()
        await self._respond(send, err.status, page, "text/html; charset=utf-8", head=scope.get("method") == "HEAD")


async def _read_json(receive: Receive) -> dict[str, Any]:
    body = b""
    while True:
        msg = await receive()
        body += msg.get("body", b"")
        if len(body) > MAX_BODY:
            raise HTTPError(413, "Request too large", f"a query body is at most {MAX_BODY} bytes")
        if not msg.get("more_body"):
            break
    try:
        req = json.loads(body)
    except ValueError:
        raise HTTPError(400, "Bad query", "the body is not JSON") from None
    if not isinstance(req, dict):
        raise HTTPError(400, "Bad query", "the body is a JSON object")
    return req


def _url(authority: str, value: Any, what: str) -> str:
    """A program or dataset URL; a bare path is taken under the site's own authority."""
    if not isinstance(value, str) or not value:
        raise HTTPError(400, "Bad query", f"{what} is a note:// URL or a path of this site")
    try:
        return urls.normalize(value if value.startswith(f"{urls.SCHEME}://") else urls.make_url(authority, value))
    except InvalidURL as exc:
        raise HTTPError(400, "Bad query", f"{what}: {exc}") from None


def _jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


def _landing_page(host: str) -> bytes:
    port = host.rsplit(":", 1)[1] if ":" in host else "PORT"
    return (f"<!doctype html><meta charset=utf-8><title>note-compute gateway</title>"
            f"<h1>note-compute gateway</h1><p>Open a site at <code>http://AUTHORITY.localhost:{html.escape(port)}/"
            "</code>, where AUTHORITY is the publisher's 52-character key. Every authority is its own origin.</p>"
            ).encode()
