"""``note-compute gateway``: the HTTP gateway on hypercorn's trio worker.

One libp2p client (a light, non-member host) serves every request: its
connections to the ring stay open and are pinged every
:data:`KEEPALIVE` seconds so the first page after a pause does not pay for
new connections. Queries run through one :class:`ComputeClient` sharing
that client and one sandbox. Apps (entry-point group
``note_compute.gateway_apps``: ``factory(AppContext) -> handler``) add JSON
endpoints under ``/_note/app/NAME/``; the gateway tells each call the
origin's authority, so an app acts only for the site whose page called it.
With ``--key``, apps may act for the local user (the shop signs its cart
and orders with it).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import trio

from .app import AppHandler, Gateway

__all__ = ["KEEPALIVE", "AppContext", "load_apps", "serve_gateway"]


@dataclass
class AppContext:
    """What a gateway app gets: the ring client, the compute client (and its ``query``), the local user's key."""

    client: Any
    compute: Any
    user_key: Any = None

    @property
    def query(self) -> Any:
        return self.compute.query

KEEPALIVE = 15.0


async def _keep_warm(client: Any) -> None:
    while True:
        await trio.sleep(KEEPALIVE)
        await client.keep_alive(16)


def load_apps(context: AppContext) -> dict[str, AppHandler]:
    """App handlers from the ``note_compute.gateway_apps`` entry points (a broken one is skipped, logged)."""
    from importlib.metadata import entry_points

    apps: dict[str, AppHandler] = {}
    for ep in entry_points(group="note_compute.gateway_apps"):
        try:
            apps[ep.name] = ep.load()(context)
        except Exception as exc:  # noqa: BLE001 - an app that fails to load must not stop the gateway
            logging.getLogger("note_compute.gateway").warning("gateway app %s not loaded: %s", ep.name, exc)
    return apps


async def serve_gateway(bootstrap: list[str] | None, *, port: int = 8080, host: str = "127.0.0.1",
                        manifest_ttl: float = 2.0, cache_bytes: int = 64 * 1024 * 1024,
                        user_key: Any = None,
                        shutdown: Callable[[], Awaitable[None]] | None = None,
                        task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Serve until ``shutdown`` returns (or forever); ``task_status.started`` gets the bound URLs."""
    from hypercorn.config import Config
    from hypercorn.trio import serve

    from ..client import open_client
    from ..compute.client import ComputeClient
    from ..compute.registry import RingFraudRegistry
    from ..sandbox import Sandbox

    sandbox = Sandbox()
    try:
        async with open_client(bootstrap) as client:
            cc = ComputeClient(client, sandbox, fraud_registry=RingFraudRegistry(client))
            apps = load_apps(AppContext(client=client, compute=cc, user_key=user_key))
            app = Gateway(client, query=cc.query, manifest_ttl=manifest_ttl, cache_bytes=cache_bytes, apps=apps)
            config = Config()
            config.bind = [f"{host}:{port}"]
            config.accesslog = None
            config.errorlog = logging.getLogger("note_compute.gateway")
            config.keep_alive_timeout = 30
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_keep_warm, client)
                await nursery.start(partial(serve, app, config, shutdown_trigger=shutdown))  # type: ignore[arg-type]
                task_status.started(app)
                # serve() returns when shutdown fires; then stop the keep-alive loop too.
                await _wait_forever_or(shutdown)
                nursery.cancel_scope.cancel()
    finally:
        close = getattr(sandbox, "close", None)
        if close is not None:
            close()


async def _wait_forever_or(shutdown: Callable[[], Awaitable[None]] | None) -> None:
    if shutdown is None:
        await trio.sleep_forever()
    else:
        await shutdown()
