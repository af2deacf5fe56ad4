"""The gateway's ASGI app and site publishing, on an in-memory ring (no sockets).

Attackers here: a peer returning tampered chunks, a publisher whose signed
manifest does not match its chunks, a forged manifest record, a rolled-back
manifest, hostile Host headers and paths, oversized and malformed query
bodies. The real-network path (hypercorn, libp2p, Chromium) is in
``test_gateway_browser.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from gateway_ring import MemoryRing

from note_compute import blobs, encoding, records, site, urls
from note_compute.crypto import SigningKey
from note_compute.errors import InvalidRecord, NoteError
from note_compute.gateway.app import Gateway
from note_compute.gateway.publish import fetch_manifest, manifest_url, publish_site


def _site_dir(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    (root / "css").mkdir(parents=True)
    (root / "docs").mkdir()
    (root / "index.html").write_text("<!doctype html><title>home</title><h1>Hello</h1>")
    (root / "css" / "a b.css").write_text("body { color: red }")
    (root / "docs" / "index.html").write_text("<p>docs</p>")
    (root / "big.bin").write_bytes(os.urandom(blobs.CHUNK_SIZE * 2 + 123))
    (root / ".hidden").write_text("not published")
    return root


async def _call(app: Gateway, path: str, *, host: str, method: str = "GET", body: bytes = b"",
                headers: list[tuple[bytes, bytes]] | None = None) -> tuple[int, dict[str, str], bytes]:
    raw, _, _ = path.partition("?")
    scope = {"type": "http", "method": method, "path": raw, "raw_path": raw.encode(),
             "headers": [(b"host", host.encode())] + (headers or [])}
    sent: list[dict[str, Any]] = []
    chunks = [body]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": chunks.pop(0) if chunks else b"", "more_body": False}

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    await app(scope, receive, send)
    start = sent[0]
    hdrs = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], hdrs, b"".join(m.get("body", b"") for m in sent[1:])


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate()


async def test_publish_then_serve_every_file_verified(tmp_path: Path, key: SigningKey) -> None:
    ring = MemoryRing()
    root = _site_dir(tmp_path)
    res = await publish_site(ring, key, root)
    assert res.files == 4 and sorted(res.uploaded) == ["/big.bin", "/css/a%20b.css", "/docs/index.html",
                                                        "/index.html"]
    app = Gateway(ring)
    host = f"{key.authority}.localhost:8080"
    status, hdrs, body = await _call(app, "/", host=host)
    assert status == 200 and body == (root / "index.html").read_bytes()
    assert hdrs["content-type"] == "text/html; charset=utf-8"
    assert hdrs["etag"] == '"' + hashlib.sha256(body).hexdigest() + '"'
    status, hdrs, body = await _call(app, "/css/a%20b.css", host=host)
    assert status == 200 and body == b"body { color: red }" and hdrs["content-type"].startswith("text/css")
    status, _, body = await _call(app, "/docs/", host=host)
    assert status == 200 and body == b"<p>docs</p>"
    status, _, body = await _call(app, "/docs", host=host)
    assert status == 200 and body == b"<p>docs</p>"
    status, hdrs, body = await _call(app, "/big.bin", host=host)
    assert status == 200 and body == (root / "big.bin").read_bytes() and int(hdrs["content-length"]) == len(body)
    # Every file is also a record at its own URL, readable as a blob.
    rec = await ring.get_record(f"note://{key.authority}/index.html")
    assert await ring.get_blob(rec.refs[0]) == (root / "index.html").read_bytes()


async def test_republish_uploads_only_changed_files(tmp_path: Path, key: SigningKey) -> None:
    ring = MemoryRing()
    root = _site_dir(tmp_path)
    first = await publish_site(ring, key, root)
    (root / "index.html").write_text("<h1>changed</h1>")
    second = await publish_site(ring, key, root)
    assert second.uploaded == ["/index.html"]
    assert sorted(second.unchanged) == ["/big.bin", "/css/a%20b.css", "/docs/index.html"]
    assert second.seq > first.seq and second.bytes_uploaded == len(b"<h1>changed</h1>")
    _, manifest = await fetch_manifest(ring, key.authority)
    assert manifest.files["/index.html"].sha256 == hashlib.sha256(b"<h1>changed</h1>").digest()


async def test_cache_and_conditional_requests_skip_the_ring(tmp_path: Path, key: SigningKey) -> None:
    ring = MemoryRing()
    await publish_site(ring, key, _site_dir(tmp_path))
    app = Gateway(ring, manifest_ttl=60)
    host = f"{key.authority}.localhost"
    _, hdrs, _ = await _call(app, "/index.html", host=host)
    assert ring.direct_gets == 1  # the manifest record from its computed replicas, no lookup first
    before = ring.gets
    status, _, body = await _call(app, "/index.html", host=host)
    assert status == 200 and body and ring.gets == before  # served from the verified cache
    status, _, body = await _call(app, "/index.html", host=host, headers=[(b"if-none-match", hdrs["etag"].encode())])
    assert status == 304 and body == b"" and ring.gets == before


async def test_tampered_chunk_is_refused_with_502(tmp_path: Path, key: SigningKey) -> None:
    ring = MemoryRing()
    root = _site_dir(tmp_path)
    await publish_site(ring, key, root)
    _, manifest = await fetch_manifest(ring, key.authority)
    ring.tamper.add(manifest.files["/index.html"].chunks[0])
    status, hdrs, body = await _call(Gateway(ring), "/index.html", host=f"{key.authority}.localhost")
    assert status == 502 and b"failed verification" in body and hdrs["content-type"].startswith("text/html")


async def test_manifest_that_lies_about_the_hash_is_refused(tmp_path: Path, key: SigningKey) -> None:
    """A publisher signs a manifest whose content hash does not match its chunks: nothing is served."""
    ring = MemoryRing()
    chunk = b"real bytes"
    await ring.put_value(chunk)
    bad = site.SiteFile(
        hashlib.sha256(b"other bytes").digest(), len(chunk), "text/plain", (hashlib.sha256(chunk).digest(),)
    )
    rec = records.sign_record(key, manifest_url(key.authority), seq=1, created=1,
                              value=site.SiteManifest({"/a.txt": bad}).encode())
    await ring.put_record(rec)
    status, _, body = await _call(Gateway(ring), "/a.txt", host=f"{key.authority}.localhost")
    assert status == 502 and b"real bytes" not in body


async def test_forged_manifest_record_is_never_served(tmp_path: Path, key: SigningKey) -> None:
    """A peer stores a manifest signed by another key at the authority's address: the client refuses it."""
    ring = MemoryRing()
    await publish_site(ring, key, _site_dir(tmp_path))
    other = SigningKey.generate()
    forged = records.sign_record(other, manifest_url(other.authority), seq=10**12, created=1,
                                 value=site.SiteManifest({}).encode())
    ring.records[urls.address(manifest_url(key.authority))] = forged.encode()
    app = Gateway(ring)
    status, _, body = await _call(app, "/", host=f"{key.authority}.localhost")
    assert status == 502 and b"verification" in body.lower()


async def test_manifest_never_rolls_back(tmp_path: Path, key: SigningKey) -> None:
    ring = MemoryRing()
    root = _site_dir(tmp_path)
    await publish_site(ring, key, root)
    old = dict(ring.records)
    (root / "index.html").write_text("<h1>v2</h1>")
    await publish_site(ring, key, root)
    app = Gateway(ring, manifest_ttl=0)
    host = f"{key.authority}.localhost"
    assert (await _call(app, "/", host=host))[2] == b"<h1>v2</h1>"
    ring.records = old  # a replica set answering with the older manifest
    assert (await _call(app, "/", host=host))[2] == b"<h1>v2</h1>"


async def test_hostile_hosts_paths_and_methods(tmp_path: Path, key: SigningKey) -> None:
    ring = MemoryRing()
    await publish_site(ring, key, _site_dir(tmp_path))
    app = Gateway(ring)
    host = f"{key.authority}.localhost:8080"
    assert (await _call(app, "/", host="evil.example"))[0] == 400
    assert (await _call(app, "/", host="notakey.localhost"))[0] == 400
    assert (await _call(app, "/", host=key.authority.upper()[:-1] + "!.localhost"))[0] == 400
    status, _, body = await _call(app, "/", host="localhost:8080")
    assert status == 200 and b"AUTHORITY.localhost:8080" in body
    assert (await _call(app, "/../../etc/passwd", host=host))[0] == 400
    assert (await _call(app, "/nope.html", host=host))[0] == 404
    assert (await _call(app, "/%zz", host=host))[0] == 400
    assert (await _call(app, "/.note-site", host=host))[0] == 404
    assert (await _call(app, "/", host=host, method="DELETE"))[0] == 405
    unknown = SigningKey.generate().authority
    status, _, body = await _call(app, "/", host=f"{unknown}.localhost")
    assert status == 404 and b"no site is published" in body
    ring.down = True
    status, _, _ = await _call(Gateway(ring), "/", host=host)
    assert status == 503


async def test_query_api_validates_and_answers(tmp_path: Path, key: SigningKey) -> None:
    ring = MemoryRing()
    await publish_site(ring, key, _site_dir(tmp_path))
    calls: list[tuple[Any, ...]] = []

    class V:
        ok = True

        def to_json(self) -> dict[str, Any]:
            return {"ok": True, "records_proven": 1}

    class R:
        verification = V()

        def values(self) -> list[Any]:
            return [{"id": 1, "name": "lamp"}]

    async def query(program: str, dataset: str, args: bytes, **kw: Any) -> R:
        calls.append((program, dataset, encoding.decode(args), kw))
        return R()

    app = Gateway(ring, query=query)
    host = f"{key.authority}.localhost"
    body = json.dumps({"program": "programs/shop_search", "dataset": "datasets/products",
                       "args": {"text": "lamp"}, "audit": 0.2}).encode()
    status, hdrs, out = await _call(app, "/_note/api/query", host=host, method="POST", body=body)
    assert status == 200 and hdrs["content-type"] == "application/json"
    reply = json.loads(out)
    assert reply["values"] == [{"id": 1, "name": "lamp"}] and reply["verification"]["records_proven"] == 1
    assert calls[0][0] == f"note://{key.authority}/programs/shop_search" and calls[0][2] == {"text": "lamp"}
    assert calls[0][3]["audit"] == 0.2
    for bad in (b"not json", b"[1]", json.dumps({"program": 5}).encode(),
                json.dumps({"program": "p", "dataset": "d", "audit": 2}).encode(),
                json.dumps({"program": "p", "dataset": "d", "replicas": True}).encode(),
                json.dumps({"program": "p?x", "dataset": "d"}).encode()):
        status, _, out = await _call(app, "/_note/api/query", host=host, method="POST", body=bad)
        assert status == 400 and json.loads(out)["ok"] is False
    status, _, _ = await _call(app, "/_note/api/query", host=host, method="POST", body=b"x" * 70_000)
    assert status == 413
    assert len(calls) == 1  # nothing bad reached the ring
    status, _, out = await _call(app, "/_note/api/site", host=host)
    assert status == 200 and "/index.html" in json.loads(out)["files"]


def test_site_manifest_decoding_is_strict(key: SigningKey) -> None:
    f, _ = site.SiteFile.of_bytes(b"x" * 10, "text/plain")
    good = site.SiteManifest({"/a": f}).encode()
    assert site.SiteManifest.decode(good).files["/a"] == f
    for mutate in (lambda m: m.update(v=2), lambda m: m["f"]["/a"].update(n=blobs.CHUNK_SIZE + 1),
                   lambda m: m["f"]["/a"].update(h=b"x"), lambda m: m["f"]["/a"].update(c=[]),
                   lambda m: m["f"]["/a"].update(m="no type"), lambda m: m["f"].update({"/b/": m["f"]["/a"]}),
                   lambda m: m["f"].update({"/.note-site": m["f"]["/a"]}), lambda m: m["f"]["/a"].update(z=1)):
        bad = encoding.decode(good)
        mutate(bad)
        with pytest.raises(InvalidRecord):
            site.SiteManifest.decode(encoding.encode(bad))
    with pytest.raises(NoteError):
        site.SiteManifest.decode(b"\xff\x00")


async def test_app_handlers_act_only_for_the_calling_origin(tmp_path: Path, key: SigningKey) -> None:
    from note_compute.errors import NotFound

    ring = MemoryRing()
    await publish_site(ring, key, _site_dir(tmp_path))
    seen: list[tuple[str, str, str, Any]] = []

    async def cart(authority: str, method: str, sub: str, body: Any) -> tuple[int, Any]:
        seen.append((authority, method, sub, body))
        if sub == "missing":
            raise NotFound("no cart yet", reason="missing")
        return 200, {"ok": True, "for": authority}

    app = Gateway(ring, apps={"shop": cart})
    host = f"{key.authority}.localhost"
    status, _, out = await _call(app, "/_note/app/shop/cart", host=host, method="POST", body=b'{"add": "p1"}')
    assert status == 200 and json.loads(out) == {"ok": True, "for": key.authority}
    assert seen == [(key.authority, "POST", "cart", {"add": "p1"})]
    other = SigningKey.generate().authority
    status, _, out = await _call(app, "/_note/app/shop/cart", host=f"{other}.localhost")
    assert status == 200 and json.loads(out)["for"] == other  # the handler is told the calling origin
    status, _, out = await _call(app, "/_note/app/shop/missing", host=host)
    assert status == 404 and json.loads(out)["reason"] == "missing"
    status, _, out = await _call(app, "/_note/app/nope/x", host=host)
    assert status == 404 and "shop" in json.loads(out)["error"]
    status, _, _ = await _call(app, "/_note/app/shop/cart", host=host, method="POST", body=b"{bad")
    assert status == 400
    assert (await _call(app, "/_note/app/shop/cart", host=host, method="PUT"))[0] == 405
    assert len(seen) == 3


def test_references_in_html_and_css() -> None:
    from note_compute.gateway.prefetch import references

    html = (b'<link rel=stylesheet href="css/a.css"><script src=\'/js/m.js\'></script><img src=img/x.png>'
            b'<a href="https://elsewhere.example/x">x</a><a href="#top">t</a><img src="data:image/png;base64,AA">'
            b'<a href="../up.html">up</a><a href="css/a.css">again</a>')
    assert references(html, "text/html; charset=utf-8", "/docs/index.html") == [
        "/docs/css/a.css", "/js/m.js", "/docs/img/x.png", "/up.html"]
    css = b"@import 'b.css'; body { background: url(../img/bg.png) } @font-face { src: url(\"/f/a.woff2\") }"
    assert references(css, "text/css", "/css/a.css") == ["/css/b.css", "/img/bg.png", "/f/a.woff2"]
    assert references(b"<img src=x>", "image/png", "/") == []


async def test_page_prefetches_what_it_refers_to(tmp_path: Path, key: SigningKey, nursery: Any) -> None:
    root = tmp_path / "www"
    (root / "css").mkdir(parents=True)
    (root / "index.html").write_text('<link rel="stylesheet" href="css/s.css"><img src="/big.bin">')
    (root / "css" / "s.css").write_text("@font-face { src: url(../font.woff2) }")
    (root / "font.woff2").write_bytes(b"F" * 5000)
    (root / "big.bin").write_bytes(os.urandom(blobs.CHUNK_SIZE + 10))
    (root / "unrelated.html").write_text("never asked for")
    ring = MemoryRing()
    await publish_site(ring, key, root)
    app = Gateway(ring, manifest_ttl=60)
    app.background = nursery
    host = f"{key.authority}.localhost"
    assert (await _call(app, "/", host=host))[0] == 200
    import trio.testing

    await trio.testing.wait_all_tasks_blocked()  # every prefetch, the font's (started by the stylesheet's) too
    assert app.stats["prefetched"] == 3  # the stylesheet, the image and, through the stylesheet, the font
    before = ring.gets
    for path in ("/css/s.css", "/font.woff2", "/big.bin"):
        status, _, body = await _call(app, path, host=host)
        assert status == 200 and body == (root / path.lstrip("/")).read_bytes()
    assert ring.gets == before  # all three came from the verified cache


async def test_stale_while_revalidate_within_max_stale(tmp_path: Path, key: SigningKey, nursery: Any) -> None:
    import trio.testing

    ring = MemoryRing()
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_text("v1")
    await publish_site(ring, key, root)
    now = [0.0]
    app = Gateway(ring, manifest_ttl=1, max_stale=10, clock=lambda: now[0])
    app.background = nursery
    host = f"{key.authority}.localhost"
    assert (await _call(app, "/", host=host))[2] == b"v1"
    (root / "index.html").write_text("v2")
    await publish_site(ring, key, root)
    now[0] = 2.0  # past the TTL, within max_stale: the old page now, the new manifest fetched behind it
    assert (await _call(app, "/", host=host))[2] == b"v1"
    await trio.testing.wait_all_tasks_blocked()  # the refresh has run
    assert (await _call(app, "/", host=host))[2] == b"v2"
    (root / "index.html").write_text("v3")
    await publish_site(ring, key, root)
    now[0] = 30.0  # past max_stale: the request waits for the fresh manifest
    assert (await _call(app, "/", host=host))[2] == b"v3"


async def _stream_call(app: Gateway, path: str, host: str,
                       sent: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every ASGI message the app sends, into ``sent`` (kept when the call raises)."""
    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
             "headers": [(b"host", host.encode())]}
    sent = [] if sent is None else sent

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)

    await app(scope, receive, send)
    return sent


async def test_a_file_too_big_to_keep_streams_chunk_by_chunk_each_verified(tmp_path: Path, key: SigningKey) -> None:
    """The same chunk fetcher streams a large file: status first, each chunk once it is checked; a chunk
    that fails after the status line aborts the connection; nothing streamed is kept."""
    import trio

    ring = MemoryRing()
    root = _site_dir(tmp_path)
    await publish_site(ring, key, root)
    _, manifest = await fetch_manifest(ring, key.authority)
    big = manifest.files["/big.bin"]
    host = f"{key.authority}.localhost"
    app = Gateway(ring, cache_bytes=4 * blobs.CHUNK_SIZE)  # big.bin (3 chunks) is over a quarter of it
    sent = await _stream_call(app, "/big.bin", host)
    assert sent[0]["status"] == 200 and [m.get("more_body") for m in sent[1:]] == [True, True, False]
    assert b"".join(m["body"] for m in sent[1:]) == (root / "big.bin").read_bytes()
    assert app.cache.get(big.sha256) is None and app.stats["cache_hits"] == 0
    ring.tamper.add(big.chunks[0])  # fails before anything is sent: a proper 502
    sent = await _stream_call(app, "/big.bin", host)
    assert sent[0]["status"] == 502
    # The last chunk comes in (tampered) only after the first two went out: the connection is aborted.
    ring.tamper = {big.chunks[2]}
    two_sent = trio.Event()
    plain_get = ring.get_value

    async def late_last(address: bytes, **kw: Any) -> bytes:
        if address == big.chunks[2]:
            await two_sent.wait()
        return await plain_get(address, **kw)

    ring.get_value = late_last  # type: ignore[method-assign]
    sent: list[dict[str, Any]] = []

    async def send(msg: dict[str, Any]) -> None:
        sent.append(msg)
        if len(sent) == 3:
            two_sent.set()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "GET", "path": "/big.bin", "raw_path": b"/big.bin",
             "headers": [(b"host", host.encode())]}
    with pytest.raises(trio.BrokenResourceError):
        await app(scope, receive, send)
    assert sent[0]["status"] == 200 and len(sent) == 3 and sent[-1]["more_body"] is True


async def test_a_streamed_file_whose_whole_hash_lies_is_aborted(key: SigningKey) -> None:
    """Every chunk matches its address but the authority signed another SHA-256 for the whole: the
    stream is cut before its end, never completed."""
    import trio

    ring = MemoryRing()
    chunks = [os.urandom(blobs.CHUNK_SIZE), os.urandom(100)]
    addrs = tuple([await ring.put_value(c) for c in chunks])
    lie = site.SiteFile(hashlib.sha256(b"something else").digest(), sum(map(len, chunks)),
                        "application/octet-stream", addrs)
    rec = records.sign_record(key, manifest_url(key.authority), seq=1, created=1,
                              value=site.SiteManifest({"/x.bin": lie}).encode())
    await ring.put_record(rec)
    sent: list[dict[str, Any]] = []
    with pytest.raises(trio.BrokenResourceError):
        await _stream_call(Gateway(ring, cache_bytes=blobs.CHUNK_SIZE), "/x.bin", f"{key.authority}.localhost", sent)
    # The status and the first chunk went out; the last one never did, so the response is never complete.
    assert sent[0]["status"] == 200 and len(sent) == 2 and sent[1]["more_body"] is True
