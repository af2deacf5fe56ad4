"""Write ``examples/data/products.jsonl``: the README's sample catalog (300 products, deterministic).

Run from the repository root: ``python examples/data/make_products.py``. The
products come from the shop's catalog generator (``examples/shop/catalog.py``,
fixed seed); each line is one product::

    {"id": "p000123", "name": "Brass Desk Lamp", "brand": "Lumenor", "category": "Lighting",
     "price": 4599, "currency": "EUR", "stock": 12, "description": "...", "tags": ["lamp", "brass"]}

``price`` is in cents (an integer: datasets refuse floats).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from examples.shop.catalog import generate  # noqa: E402

N = 300


def main() -> None:
    out = Path(__file__).with_name("products.jsonl")
    lines = [json.dumps(p, ensure_ascii=False, sort_keys=True) for p in generate(N, seed=12)]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} products to {out}")


if __name__ == "__main__":
    main()
