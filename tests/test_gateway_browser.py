"""Sites through the gateway in a real browser: Debian's Chromium driven by Playwright.

A user's whole path, each step a real process: ``note-compute devnet``,
``note-compute site publish`` for two authorities, ``note-compute gateway``,
then headless Chromium loads both sites at ``http://AUTHORITY.localhost:PORT/``.
Checked: every resource of the page arrives verified (the page's own script
and stylesheet run), a screenshot is taken, and the browser's same-origin
policy isolates the two authorities (B cannot read A's localStorage, cookies
or API answers).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{name}</title>
<link rel="stylesheet" href="style.css"><script src="app.js"></script></head>
<body><h1 id="title">{name}</h1><p id="status">loading</p></body></html>"""
SCRIPT = """document.addEventListener('DOMContentLoaded', () => {{
  localStorage.setItem('owner', '{name}');
  document.cookie = 'owner={name}; path=/';
  document.getElementById('status').textContent = 'script ran on ' + location.host.split('.')[0].slice(0, 8);
}});"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str, env: dict[str, str], timeout: float = 120) -> str:
    out = subprocess.run(
        [sys.executable, "-c", "from note_compute.cli import main; main()", *args],
        env=env,
        check=False,
        capture_output=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    return out.stdout.decode()


def _wait(pred: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not pred():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def gateway_sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, dict[str, str], Path]]:
    tmp = tmp_path_factory.mktemp("gw")
    home = tmp / "home"
    env = {**os.environ, "NOTE_HOME": str(home)}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen([sys.executable, "-c", "from note_compute.cli import main; main()", "devnet",
                                       "--nodes", "4", "--dir", str(tmp / "nodes")], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _wait(lambda: (home / "devnet.json").exists(), "the devnet")
        authorities: dict[str, str] = {}
        for name in ("alpha", "beta"):
            _cli("key", "new", name, env=env)
            authorities[name] = _cli("key", "show", name, env=env).strip().splitlines()[-1]
            site = tmp / name
            site.mkdir()
            (site / "index.html").write_text(PAGE.format(name=name))
            (site / "app.js").write_text(SCRIPT.format(name=name))
            (site / "style.css").write_text("h1 { color: rgb(0, 128, 0) }")
            (site / "logo.bin").write_bytes(os.urandom(600_000))  # three chunks, streamed
            res = json.loads(_cli("site", "publish", str(site), "--key", name, "--json", env=env))
            assert res["files"] == 4 and res["authority"] == authorities[name]
        port = _free_port()
        procs.append(subprocess.Popen([sys.executable, "-c", "from note_compute.cli import main; main()", "gateway",
                                       "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE))

        def up() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return True
            except OSError:
                assert procs[-1].poll() is None, procs[-1].stderr.read().decode() if procs[-1].stderr else ""
                return False

        _wait(up, "the gateway")
        yield port, authorities, tmp
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def test_site_loads_in_chromium_and_origins_are_isolated(gateway_sites: tuple[int, dict[str, str], Path]) -> None:
    from playwright.sync_api import sync_playwright

    port, auth, tmp = gateway_sites
    a = f"http://{auth['alpha']}.localhost:{port}"
    b = f"http://{auth['beta']}.localhost:{port}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            failed: list[str] = []
            page.on("requestfailed", lambda r: failed.append(r.url))
            resp = page.goto(a + "/")
            assert resp is not None and resp.status == 200
            page.wait_for_function("document.getElementById('status').textContent.startsWith('script ran')")
            assert page.text_content("#title") == "alpha"
            assert page.eval_on_selector("h1", "e => getComputedStyle(e).color") == "rgb(0, 128, 0)"
            size = page.evaluate("fetch('/logo.bin').then(r => r.arrayBuffer()).then(b => b.byteLength)")
            assert size == 600_000 and not failed
            shot = tmp / "alpha.png"
            page.screenshot(path=str(shot))
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert page.evaluate("localStorage.getItem('owner')") == "alpha"

            page.goto(b + "/")
            page.wait_for_function("document.getElementById('status').textContent.startsWith('script ran')")
            # Origin isolation: beta's page sees only beta's storage and cookies ...
            assert page.evaluate("localStorage.getItem('owner')") == "beta"
            assert page.evaluate("localStorage.length") == 1
            assert page.evaluate("document.cookie") == "owner=beta"
            # ... and cannot read alpha's pages or API answers (no CORS grant).
            verdict = page.evaluate(
                "fetch(%r).then(r => r.text()).then(() => 'read', e => 'blocked')" % (a + "/_note/api/site"))
            assert verdict == "blocked"
            # An unknown path is a proper 404 page, a bad authority a 400.
            assert page.goto(a + "/missing.html").status == 404  # type: ignore[union-attr]
            assert page.goto(f"http://notakey.localhost:{port}/").status == 400  # type: ignore[union-attr]
        finally:
            browser.close()


@pytest.fixture(scope="module")
def shop_site(gateway_sites: tuple[int, dict[str, str], Path]) -> Iterator[tuple[int, str]]:
    """The shop (150 products) and its web UI published by the owner; a gateway acting for a buyer."""
    _, _, tmp = gateway_sites
    home = tmp / "home"
    env = {**os.environ, "NOTE_HOME": str(home)}
    _cli("key", "new", "owner", env=env)
    _cli("key", "new", "buyer", env=env)
    ready = tmp / "shop-ready"
    helper = Path(__file__).resolve().parent / "shop_web_helper.py"
    owner = subprocess.Popen([sys.executable, str(helper), "owner", "150", str(ready)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    port = _free_port()
    gateway = None
    try:
        def published() -> bool:
            assert owner.poll() is None, owner.stderr.read().decode()[-2000:] if owner.stderr else ""
            return ready.exists()

        _wait(published, "the shop to be published", timeout=120)
        gateway = subprocess.Popen([sys.executable, "-c", "from note_compute.cli import main; main()", "gateway",
                                    "--port", str(port), "--key", "buyer"], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(lambda: _open(port), "the buyer's gateway")
        yield port, ready.read_text()
    finally:
        for p in (gateway, owner):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def _open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def test_shop_in_the_browser_search_cart_checkout(shop_site: tuple[int, str], tmp_path: Path) -> None:
    """Search (verified badge and details), add to cart, check out, the shop's signed confirmation."""
    from playwright.sync_api import sync_playwright

    port, shop = shop_site
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"http://{shop}.localhost:{port}/")
            page.wait_for_selector("body[data-ready='1']", timeout=60_000)
            assert page.text_content("#shop-name") == "Verified Goods"
            page.fill("#q", "lamp")
            page.click("#search-btn")
            page.wait_for_selector("#results tbody tr", timeout=60_000)
            badge = page.text_content("#verdict") or ""
            assert "Verified complete" in badge, badge
            names = page.eval_on_selector_all("#results tbody tr td:first-child", "els => els.map(e => e.textContent)")
            assert names and all("lamp" in n.lower() for n in names), names
            page.click("#details summary")
            details = page.text_content("#details-list") or ""
            assert "Records proven" in details and "Fraud caught" in details
            # A search the shop cannot answer is said in words, not a crash.
            page.select_option("#category", index=1)
            page.fill("#q", "zzzqqqxxy")
            page.click("#search-btn")
            page.wait_for_function("document.getElementById('message').textContent.includes('No products')",
                                   timeout=60_000)
            page.fill("#q", "lamp")
            page.select_option("#category", value="")
            page.click("#search-btn")
            page.wait_for_selector("#results tbody tr button.add:not([disabled])", timeout=60_000)
            page.click("#results tbody tr button.add:not([disabled]) >> nth=0")
            page.wait_for_selector("#cart-items li", timeout=60_000)
            assert "Total" in (page.text_content("#cart-total") or "")
            page.click("#checkout")
            page.wait_for_selector("#order-status[data-status]", timeout=90_000)
            assert page.get_attribute("#order-status", "data-status") == "confirmed", page.text_content("#order-status")
            assert "Confirmed by the shop" in (page.text_content("#order-status") or "")
            shot = Path(os.environ.get("NOTE_SCREENSHOTS", tmp_path)) / "shop.png"  # NOTE_SCREENSHOTS: keep it
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
