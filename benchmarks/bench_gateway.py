"""Page loads through the gateway vs a plain web server, in Chromium, with the same network delay.

The site has the shape of a typical home page: 36 resources (1 HTML page,
6 stylesheets, 10 scripts, 18 images, 1 web font), 2.2 MB in all, the
largest an 811 KB hero image. It is published on a 16-node local network.

* **Gateway**: Chromium -> ``note-compute``'s gateway on this machine (as a
  user runs it, next to the browser) -> the ring. Every request the
  gateway's libp2p client makes to a ring node goes through a transport
  delay shim: 10 ms before the request leaves and 10 ms before the reply is
  delivered (20 ms round trip per request; lookups pay it too).
* **Plain**: Chromium -> a userspace TCP delay proxy (every chunk delayed
  10 ms in each direction, order kept: 20 ms round trip) -> a plain
  HTTP/1.1 keep-alive server (Python's ``ThreadingHTTPServer``) serving the
  same files with the same caching headers (``ETag`` of the SHA-256,
  ``Cache-Control: no-cache``, ``If-None-Match`` -> 304).

Neither side pays the delay for TCP connection setup (the proxy accepts
locally; the gateway's libp2p connections are open and kept warm, as in
use). **Cold**: a fresh browser context (empty cache) and, for the gateway,
empty gateway caches (no site manifest, no file contents; its connections
and routing knowledge stay warm). **Warm**: a reload in the same context
(the browser revalidates every resource with ``If-None-Match``; the
gateway's manifest is past its 2 s TTL, so it answers from the last verified
manifest and refreshes it behind, as ``specs/site.md`` allows up to 30 s).
Reported: time to first byte of the page and the load event (Navigation
Timing), medians over ROUNDS alternating runs, and the ratios.

Usage: ``python benchmarks/bench_gateway.py [--rounds N] [--nodes N]``.
Needs Debian's ``chromium`` (``make test`` installs it).
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import logging
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from note_compute.client import open_client
from note_compute.crypto import SigningKey
from note_compute.devnet import DEVNET_NODE_ARGS, Devnet, devnet_peers, wait_stable
from note_compute.gateway.app import Gateway
from note_compute.gateway.publish import publish_site
from note_compute.ring import messages as ring_msgs

ONE_WAY = 0.010
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


# -- the site -----------------------------------------------------------------------

def make_site(root: Path, seed: int = 7) -> dict[str, int]:
    """36 resources shaped like a typical home page; returns path -> size."""
    rnd = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    sizes: dict[str, int] = {}

    def write(name: str, data: bytes) -> None:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
        sizes[name] = len(data)

    def pad_text(prefix: str, n: int) -> bytes:
        body = prefix + "/*" + "".join(rnd.choice("abcdefghij klmnop") for _ in range(n)) + "*/\n"
        return body.encode()

    css = [f"css/s{i}.css" for i in range(6)]
    js = [f"js/m{i}.js" for i in range(10)]
    imgs = [f"img/i{i}.png" for i in range(17)] + ["img/hero.jpg"]
    write("fonts/body.woff2", rnd.randbytes(62_000))
    for i, name in enumerate(css):
        extra = "@font-face{font-family:B;src:url(/fonts/body.woff2)}body{font-family:B}" if i == 0 else ""
        write(name, pad_text(extra + f".c{i}{{margin:{i}px}}", rnd.randint(4_000, 40_000)))
    for i, name in enumerate(js):
        write(name, pad_text(f"window.m{i}=1;", rnd.randint(8_000, 150_000)))
    for name in imgs[:-1]:
        write(name, rnd.randbytes(rnd.randint(3_000, 90_000)))
    write(imgs[-1], rnd.randbytes(811_000))
    head = "".join(f'<link rel="stylesheet" href="/{c}">' for c in css)
    body = "".join(f'<img src="/{i}" width="10" height="10">' for i in imgs)
    scripts = "".join(f'<script src="/{j}"></script>' for j in js)
    write("index.html", (f"<!doctype html><html><head><meta charset=utf-8><title>home</title>{head}</head>"
                         f"<body><h1>Home</h1><p>{'text ' * 2000}</p>{body}{scripts}</body></html>").encode())
    assert len(sizes) == 36 and max(sizes.values()) == 811_000
    return sizes


# -- the plain side: HTTP/1.1 keep-alive server + TCP delay proxy ------------------------

def plain_server(root: Path) -> tuple[http.server.ThreadingHTTPServer, int]:
    etags = {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in root.rglob("*") if p.is_file()}

    class Handler(http.server.SimpleHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a: Any) -> None:
            pass

        def send_head(self):  # type: ignore[no-untyped-def]
            rel = self.path.split("?")[0].lstrip("/") or "index.html"
            tag = f'"{etags.get(rel, "")}"'
            if rel in etags and self.headers.get("If-None-Match") == tag:
                self.send_response(304)
                self.send_header("ETag", tag)
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                return None
            return super().send_head()

        def end_headers(self) -> None:
            rel = self.path.split("?")[0].lstrip("/") or "index.html"
            if rel in etags and not any(h.startswith(b"ETag") for h in getattr(self, "_headers_buffer", [])):
                self.send_header("ETag", f'"{etags[rel]}"')
                self.send_header("Cache-Control", "no-cache")
            super().end_headers()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, int(srv.server_address[1])


async def delay_proxy(target_port: int, one_way: float, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Forward TCP to ``target_port``, delaying every chunk ``one_way`` seconds each way (order kept)."""

    async def pump(src: trio.SocketStream, dst: trio.SocketStream) -> None:
        send, recv = trio.open_memory_channel[tuple[float, bytes]](float("inf"))

        async def reader() -> None:
            async with send:
                while data := await src.receive_some(65536):
                    await send.send((trio.current_time() + one_way, data))

        async def writer() -> None:
            async with recv:
                async for due, data in recv:
                    await trio.sleep_until(due)
                    await dst.send_all(data)
            await dst.send_eof()

        async with trio.open_nursery() as n:
            n.start_soon(reader)
            n.start_soon(writer)

    async def handle(client: trio.SocketStream) -> None:
        try:
            upstream = await trio.open_tcp_stream("127.0.0.1", target_port)
            async with client, upstream, trio.open_nursery() as n:
                n.start_soon(pump, client, upstream)
                n.start_soon(pump, upstream, client)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError, BaseExceptionGroup):
            pass  # one side closed or reset the connection: the other side is closed with it

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(handle, listeners)


# -- the gateway side: a delay shim on the client's transport ------------------------------

class DelayedHost:
    """Wraps a NetHost: every request waits ``one_way`` before it leaves and before its reply arrives."""

    def __init__(self, host: Any, one_way: float) -> None:
        self._host, self.one_way = host, one_way

    def __getattr__(self, name: str) -> Any:
        return getattr(self._host, name)

    async def request(self, peer: Any, msg: dict[str, Any], timeout: float) -> dict[str, Any]:
        await trio.sleep(self.one_way)
        reply = await self._host.request(peer, msg, timeout)
        await trio.sleep(self.one_way)
        return reply


# -- CPU accounting (Linux /proc): where a cold load's CPU goes ----------------------------

def _proc_cpu(pids: list[int]) -> float:
    """User + system CPU seconds of ``pids`` so far (processes that are gone count 0)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / tick


def _browser_pids() -> list[int]:
    """Chromium's processes (descendants of this process whose name says so)."""
    parent: dict[int, int] = {}
    names: dict[int, str] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                head, tail = (d / "stat").read_text().rsplit(")", 1)
                parent[int(d.name)], names[int(d.name)] = int(tail.split()[1]), head.split("(", 1)[1]
            except (OSError, IndexError, ValueError):
                pass
    mine, me = [], os.getpid()
    for pid in parent:
        p = pid
        while p in parent and p != me and p > 1:
            p = parent[p]
        if p == me and ("chrom" in names[pid].lower() or "headless" in names[pid].lower()):
            mine.append(pid)
    return mine


# -- the browser ------------------------------------------------------------------------

def browse(urls_by_side: dict[str, str], rounds: int, before_cold: dict[str, Any],
           node_pids: list[int]) -> dict[str, dict[str, list[float]]]:
    """Cold and warm loads of each side's page, alternating; Navigation Timing in ms, and the CPU
    (ms) each cold load took in this process (gateway, or plain server and proxy), the ring's node
    processes and Chromium."""
    from playwright.sync_api import sync_playwright

    out: dict[str, dict[str, list[float]]] = {s: {"cold_ttfb": [], "cold_load": [], "warm_ttfb": [],
                                                   "warm_load": [], "cpu_here": [], "cpu_nodes": [],
                                                   "cpu_browser": []} for s in urls_by_side}
    timing = ("(() => { const n = performance.getEntriesByType('navigation')[0];"
              " return [n.responseStart - n.startTime, n.loadEventEnd - n.startTime,"
              " performance.getEntriesByType('resource').length]; })()")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                     headless=True, args=CHROMIUM_ARGS)
        try:
            for r in range(rounds + 1):  # round 0 warms everything up and is not counted
                sides = list(urls_by_side) if r % 2 else list(reversed(urls_by_side))
                for side in sides:
                    before_cold[side]()
                    ctx = browser.new_context()
                    page = ctx.new_page()
                    chromium = _browser_pids()
                    cpu = (time.process_time(), _proc_cpu(node_pids), _proc_cpu(chromium))
                    page.goto(urls_by_side[side], wait_until="load")
                    cpu = (time.process_time() - cpu[0], _proc_cpu(node_pids) - cpu[1], _proc_cpu(chromium) - cpu[2])
                    ttfb, load, n = page.evaluate(timing)
                    assert n >= 35, f"{side}: only {n} resources loaded"
                    time.sleep(2.2)  # let the gateway's manifest TTL pass: the warm load revalidates it
                    page.reload(wait_until="load")
                    wttfb, wload, _ = page.evaluate(timing)
                    ctx.close()
                    if r:
                        out[side]["cold_ttfb"].append(ttfb)
                        out[side]["cold_load"].append(load)
                        out[side]["warm_ttfb"].append(wttfb)
                        out[side]["warm_load"].append(wload)
                        for k, v in zip(("cpu_here", "cpu_nodes", "cpu_browser"), cpu, strict=True):
                            out[side][k].append(v * 1000)
        finally:
            browser.close()
    return out


async def run(rounds: int, nodes: int) -> None:
    base = Path(tempfile.mkdtemp(prefix="bench-gw-"))
    site_dir = base / "site"
    sizes = make_site(site_dir)
    print(f"site: {len(sizes)} resources, {sum(sizes.values())} bytes, largest {max(sizes.values())}")
    net = Devnet(base / "net", nodes, node_args=DEVNET_NODE_ARGS)
    try:
        await net.start(timeout=180)
        async with open_client(net.bootstrap) as client:
            await wait_stable(net, client, timeout=120)
            key = SigningKey.generate()
            t = time.perf_counter()
            res = await publish_site(client, key, site_dir)
            print(f"published {res.files} files in {time.perf_counter() - t:.2f} s on {nodes} nodes")
            client.host = DelayedHost(client.host, ONE_WAY)
            for p in devnet_peers(net):
                await client.request(p, ring_msgs.ping(None), 2.0)
            app = Gateway(client, manifest_ttl=2.0)
            srv, plain_port = plain_server(site_dir)
            from hypercorn.config import Config
            from hypercorn.trio import serve

            config = Config()
            config.bind = ["127.0.0.1:0"]
            config.accesslog = None
            config.errorlog = logging.getLogger("bench.gateway")
            async with trio.open_nursery() as nursery:
                binds = await nursery.start(partial(serve, app, config))  # type: ignore[arg-type]
                gw_port = int(binds[0].rsplit(":", 1)[1])
                proxy_port = await nursery.start(delay_proxy, plain_port, ONE_WAY)

                def clear_gateway() -> None:
                    app.cache = type(app.cache)(app.cache.limit)
                    app._sites.clear()

                sides = {"gateway": f"http://{key.authority}.localhost:{gw_port}/",
                         "plain": f"http://127.0.0.1:{proxy_port}/"}
                out = await trio.to_thread.run_sync(browse, sides, rounds,
                                                    {"gateway": clear_gateway, "plain": lambda: None},
                                                    [n.proc.pid for n in net.nodes if n.proc is not None])
                nursery.cancel_scope.cancel()
            srv.shutdown()
    finally:
        await net.stop()
        shutil.rmtree(base, ignore_errors=True)
    med = {s: {k: statistics.median(v) for k, v in d.items()} for s, d in out.items()}
    print(f"\n{rounds} rounds, 20 ms round trip injected on both sides, medians (ms):")
    print(f"{'':10} {'cold TTFB':>10} {'cold load':>10} {'warm TTFB':>10} {'warm load':>10}")
    for s in ("gateway", "plain"):
        m = med[s]
        print(f"{s:10} {m['cold_ttfb']:10.1f} {m['cold_load']:10.1f} {m['warm_ttfb']:10.1f} {m['warm_load']:10.1f}")
    g, p = med["gateway"], med["plain"]
    print(f"ratio gateway/plain: cold load {g['cold_load'] / p['cold_load']:.2f} (target <= 1.5), "
          f"warm load {g['warm_load'] / p['warm_load']:.2f} (target <= 1.1), "
          f"cold TTFB {g['cold_ttfb'] / p['cold_ttfb']:.2f}, warm TTFB {g['warm_ttfb'] / p['warm_ttfb']:.2f}")
    print("CPU per cold load, ms (this process: the gateway, or the plain server and its delay proxy; "
          "the ring's node processes, busy or idle; Chromium):")
    for s in ("gateway", "plain"):
        m = med[s]
        print(f"{s:10} here {m['cpu_here']:7.1f}  nodes {m['cpu_nodes']:7.1f}  chromium {m['cpu_browser']:7.1f}")
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("all runs:", {s: {k: [round(x, 1) for x in v] for k, v in d.items()} for s, d in out.items()})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--nodes", type=int, default=16)
    a = ap.parse_args()
    logging.disable(logging.WARNING)
    os.environ.setdefault("NOTE_HOME", tempfile.mkdtemp(prefix="bench-gw-home-"))
    trio.run(run, a.rounds, a.nodes)


if __name__ == "__main__":
    main()
