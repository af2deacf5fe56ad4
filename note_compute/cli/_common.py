"""What every command shares: exit codes, error reporting, ``--json`` / ``-q``, quiet logs, progress.

Exit codes (the same for every command, documented in ``note-compute --help``):

====  ==========================================================
0     ok
1     verification failed, or fraud found
2     usage error or bad input (a flag, an argument, a file)
3     not found (a record, a key, a running local network)
4     network unavailable (no bootstrap node answers, timeouts)
====  ==========================================================

Errors are one line on stderr (``Error: ...``, as click prints usage errors) naming the cause; the error's
internal reason codes (``[no-entry]``, also those of nested errors) appear only in ``--json`` output, where
the error is ``{"error": {"message", "code", "reason", "exit_code", "detail"}}`` on stdout (``detail``:
the full text, reason tags and each replica's answer included).

A reader that closes the pipe early (``note-compute dataset export URL | head``) ends the command with
exit 141 (128 + SIGPIPE, what a shell reports for a tool killed by SIGPIPE), never 1 (which means
"verification failed"); Ctrl-C ends it with exit 130 (128 + SIGINT).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from ..errors import NoteError

__all__ = [
    "EXIT_OK", "EXIT_VERIFY", "EXIT_USAGE", "EXIT_NOT_FOUND", "EXIT_NETWORK", "EXIT_CODES_HELP",
    "CliError", "fail", "exit_code_for", "run_async", "json_option", "quiet_option", "bootstrap_option",
    "json_mode", "emit_json", "status", "jsonable", "format_amount", "is_terminal", "human_message",
    "EXIT_BROKEN_PIPE", "EXIT_INTERRUPTED", "broken_pipe", "console",
]

EXIT_OK, EXIT_VERIFY, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_NETWORK = 0, 1, 2, 3, 4
EXIT_BROKEN_PIPE = 141
"""The reader of stdout went away (128 + SIGPIPE, as a shell reports a tool killed by SIGPIPE)."""
EXIT_INTERRUPTED = 130
"""Ctrl-C (128 + SIGINT, as shells report it; click's own answer would be 1, "verification failed")."""

EXIT_CODES_HELP = ("Exit codes: 0 ok; 1 verification failed or fraud found; 2 usage error or bad input; "
                   "3 not found; 4 network unavailable.")

F = TypeVar("F", bound=Callable[..., Any])

_state: dict[str, bool] = {"json": False}


def reset_state() -> None:
    """Forget the previous invocation's flags (tests run many in one process)."""
    _state["json"] = False


def json_mode() -> bool:
    """True when the running command was given ``--json``."""
    return _state["json"]


class CliError(click.ClickException):
    """A failure reported as one line naming its cause, with a documented exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE, *, code: str = "usage",
                 reason: str | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it on the class
        self.code = code
        self.reason = reason
        self.detail = detail if detail is not None else message

    def show(self, file: Any = None) -> None:
        if json_mode():
            emit_json({"error": {"message": self.message, "code": self.code, "reason": self.reason,
                                 "exit_code": self.exit_code, "detail": self.detail}})
        click.echo(f"Error: {self.message}", err=True)


_TAG = re.compile(r" \[[a-z][a-z0-9-]*\]")
_NOT_FOUND_DETAIL = re.compile(r" \((?:not-found: [^;()]*(?:; )?)+\)$")


def human_message(exc: NoteError) -> str:
    """``exc``'s message for people: no reason tags (``[no-entry]``), and for "no replica holds URL"
    without the replicas' identical not-found answers (both stay in ``--json``'s ``detail``)."""
    from ..errors import NotFound

    text = _TAG.sub("", exc.message)
    if isinstance(exc, NotFound):
        text = _NOT_FOUND_DETAIL.sub("", text)
        if text.startswith("no replica holds note://"):
            text += " (nothing is published at that URL, or not yet)"
    return text


def exit_code_for(exc: NoteError) -> int:
    """The exit code of an error that reached the command line."""
    from ..errors import (
        InvalidEncoding,
        InvalidURL,
        KeyStoreError,
        NotAMember,
        NotFound,
        PeerUnreachable,
        QuotaExceeded,
        RateLimited,
        Timeout,
    )

    if isinstance(exc, (PeerUnreachable, Timeout, NotAMember, RateLimited, QuotaExceeded)):
        return EXIT_NETWORK
    if isinstance(exc, NotFound) or (isinstance(exc, KeyStoreError) and exc.reason in ("missing", "not-found")):
        return EXIT_NOT_FOUND
    if isinstance(exc, (InvalidURL, KeyStoreError, InvalidEncoding)):
        return EXIT_USAGE
    if getattr(exc, "exit_code", None) in (EXIT_USAGE, EXIT_NOT_FOUND, EXIT_NETWORK):
        return int(exc.exit_code)  # type: ignore[attr-defined]
    return EXIT_VERIFY


def fail(exc: NoteError, exit_code: int | None = None, prefix: str = "") -> CliError:
    """A CliError for ``exc``: its message without reason tags, the exit code of its kind."""
    return CliError(prefix + human_message(exc), exit_code_for(exc) if exit_code is None else exit_code,
                    code=exc.code, reason=exc.reason, detail=prefix + str(exc))


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for e in exc.exceptions for leaf in _leaves(e)]
    return [exc]


def broken_pipe(exc: BaseException) -> bool:
    """True when ``exc`` is (or groups) a write to a closed pipe; then stdout is pointed at /dev/null
    so the interpreter's final flush stays quiet."""
    if not any(isinstance(e, BrokenPipeError) for e in _leaves(exc)):
        return False
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (tests): nothing to flush there
        pass
    return True


def run_async(fn: Callable[..., Any], *args: Any) -> Any:
    """``trio.run(fn, *args)``, turning a NoteError (even inside an exception group) into a CliError."""
    import trio

    try:
        return trio.run(fn, *args)
    except NoteError as exc:
        raise fail(exc) from exc
    except BaseExceptionGroup as group:
        leaves = _leaves(group)
        for leaf in leaves:
            if isinstance(leaf, click.ClickException):
                raise leaf from group
        notes = [e for e in leaves if isinstance(e, NoteError)]
        if notes:
            raise fail(notes[0]) from group
        if any(isinstance(e, KeyboardInterrupt) for e in leaves):
            raise KeyboardInterrupt from group
        raise


def _set_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        _state["json"] = True
    return value


def json_option(f: F) -> F:
    """``--json``: print one JSON document on stdout (errors too, with their reason code)."""
    return click.option("--json", "as_json", is_flag=True, callback=_set_json, expose_value=True,
                        help="Print JSON on stdout (errors as {\"error\": ...}).")(f)


def quiet_option(what: str) -> Callable[[F], F]:
    def deco(f: F) -> F:
        return click.option("-q", "--quiet", is_flag=True, help=f"Print only {what}.")(f)
    return deco


def bootstrap_option(f: F) -> F:
    return click.option(
        "--bootstrap", "bootstrap", multiple=True, metavar="MULTIADDR",
        help="Bootstrap node multiaddr (repeatable); default: the local network in $NOTE_HOME.",
    )(f)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(jsonable(value)))


def jsonable(value: Any) -> Any:
    """CBOR values as JSON (byte strings become ``{"hex": ...}``)."""
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def is_terminal(stream: Any = None) -> bool:
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@contextmanager
def status(message: str) -> Iterator[Callable[[str], None]]:
    """A live status line (spinner + elapsed time) on stderr while work runs; silent when not a terminal.

    Yields ``update(text)`` to change the message.
    """
    if not is_terminal() or json_mode():
        yield lambda text: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console(stderr=True), transient=True) as bar:
        task = bar.add_task(message, total=None)
        yield lambda text: bar.update(task, description=text)


def console(**kwargs: Any) -> Any:
    """A rich Console for command output whose closed pipe raises BrokenPipeError (exit 141, see the module
    docstring) instead of rich's own ``SystemExit(1)``, which would read as "verification failed"."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError(32, "Broken pipe")

    return _Console(**kwargs)


def format_amount(value: Any, unit: str | None) -> str:
    """``1999`` with unit ``cents`` -> ``19.99``; other units are appended (``12 kg``)."""
    if unit == "cents" and type(value) is int:
        sign = "-" if value < 0 else ""
        return f"{sign}{abs(value) // 100:,}.{abs(value) % 100:02d}"
    if unit and type(value) is int:
        return f"{value:,} {unit}"
    return str(value)
