"""A shop owner's process for the shop web UI test: publish the shop and its web UI, then answer orders.

Usage: ``python tests/shop_web_helper.py KEY_NAME PRODUCTS READY_FILE`` with NOTE_HOME pointing at a
running local network. Writes READY_FILE (the shop's authority) once everything is published, then
processes the order inbox every 0.3 s until terminated.
"""

from __future__ import annotations

import sys
from pathlib import Path

import trio

from examples.shop.catalog import generate
from examples.shop.orders import OrderProcessor
from examples.shop.shop import publish_shop
from note_compute import keystore
from note_compute.client import open_client
from note_compute.errors import NoteError
from note_compute.gateway.publish import publish_site

WEB = Path(__file__).resolve().parents[1] / "examples" / "shop" / "web"


async def main(key_name: str, n: int, ready: Path) -> None:
    key = keystore.load_key(key_name)
    products = generate(n)
    async with open_client() as client:
        await publish_shop(client, key, products, name="Verified Goods")
        await publish_site(client, key, WEB)
        ready.write_text(key.authority)
        processor = OrderProcessor(client, key, products)
        while True:
            try:
                await processor.process()
            except NoteError:
                pass  # a busy replica: try again next round
            await trio.sleep(0.3)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
