"""`note-compute site publish` and `note-compute gateway`: mistakes get the documented exit code and a cause."""

from __future__ import annotations

import socket
from pathlib import Path

from click.testing import CliRunner

from note_compute.cli import main as cli_main


def _run(args: list[str], home: Path) -> tuple[int, str]:
    res = CliRunner().invoke(cli_main, args, env={"NOTE_HOME": str(home)})
    return res.exit_code, res.output


def test_publish_mistakes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert _run(["key", "new", "site"], home)[0] == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out = _run(["site", "publish", str(empty), "--key", "site"], home)
    assert code == 2 and "holds no files" in out and "Traceback" not in out
    (empty / ".only-hidden").write_text("x")
    assert _run(["site", "publish", str(empty), "--key", "site"], home)[0] == 2
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("hi")
    code, out = _run(["site", "publish", str(www), "--key", "nobody"], home)
    assert code == 3 and "nobody" in out
    code, out = _run(["site", "publish", str(tmp_path / "missing"), "--key", "site"], home)
    assert code == 2 and "does not exist" in out
    code, out = _run(["site", "publish", str(www), "--key", "site"], home)  # no local network running
    assert code == 4 and "down" in out.lower() and "Traceback" not in out


def test_gateway_mistakes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code, out = _run(["gateway", "--port", str(port)], home)
        assert code == 2 and "not free" in out
    assert _run(["gateway", "--port", "70000"], home)[0] == 2
    code, out = _run(["gateway", "--key", "nobody"], home)
    assert code == 3 and "nobody" in out
