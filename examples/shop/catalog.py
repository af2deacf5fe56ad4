"""A deterministic, realistic product catalog (fixed seed); shape in ``examples/shop/README.md``.

Each product is a dict::

    {"id": "p000123", "name": "Brass Desk Lamp", "brand": "Lumenor", "category": "Lighting",
     "price": 4599, "currency": "EUR", "stock": 12,
     "description": "A brass desk lamp with an adjustable arm ...", "tags": ["lamp", "brass", "desk"]}

Names are built from a category's product nouns, materials and styles, so a
description describes its product (a "lantern" is described as a lantern).
A fixed list of special products carries the non-ASCII cases the search must
handle ("ÉCLAIR mould", "Łódź", "ångström", "straße", "café" precomposed and
decomposed) and look-alikes that word search must not confuse ("steel
clamp" vs "lamp").
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["CATEGORIES", "SPECIAL", "generate", "product_record"]

# category -> (nouns, materials/styles, brands, uses)
CATEGORIES: dict[str, tuple[list[str], list[str], list[str], list[str]]] = {
    "Lighting": (["lamp", "lantern", "pendant light", "floor lamp", "desk lamp", "string lights", "wall sconce"],
                 ["brass", "rattan", "glass", "ceramic", "matte black", "linen", "oak"],
                 ["Lumenor", "Brightwell", "Nordlys"], ["reading", "the living room", "the bedside", "the patio"]),
    "Kitchen": (["kettle", "frying pan", "chef's knife", "saucepan", "cutting board", "whisk", "tart mould",
                 "coffee grinder"],
                ["stainless steel", "cast iron", "copper", "walnut", "enamel", "carbon steel"],
                ["Cuisinor", "Hearth & Co", "Kochwerk"], ["everyday cooking", "baking", "searing", "morning coffee"]),
    "Garden": (["rake", "garden hose", "pruning shears", "watering can", "planter", "trowel", "wheelbarrow"],
               ["galvanised", "bamboo", "terracotta", "recycled plastic", "ash wood"],
               ["Greenfield", "Jardinot", "Moss & Stone"], ["raised beds", "lawn care", "balcony plants"]),
    "Outdoor": (["tent", "camping stove", "sleeping bag", "hiking backpack", "headlamp", "camping lantern",
                 "folding chair"],
                ["ultralight", "waterproof", "ripstop nylon", "aluminium", "down-filled"],
                ["Trailwise", "Fjellgear", "Summitry"], ["weekend trips", "alpine camping", "festivals"]),
    "Tools": (["hammer", "cordless drill", "wrench set", "hand saw", "steel clamp", "screwdriver set", "tape measure"],
              ["chrome vanadium", "fibreglass", "hardened steel", "rubber-grip"],
              ["Forgeline", "Werkmann", "Boltright"], ["woodworking", "home repairs", "the workshop"]),
    "Clothing": (["rain jacket", "wool scarf", "leather boots", "gloves", "linen shirt", "beanie"],
                 ["merino", "organic cotton", "waxed canvas", "recycled polyester", "suede"],
                 ["Northweave", "Atelier Brume", "Loomhouse"], ["cold mornings", "city walks", "rainy days"]),
    "Office": (["notebook", "fountain pen", "desk organiser", "monitor stand", "office chair", "stapler"],
               ["recycled paper", "bamboo", "aluminium", "felt", "leather"],
               ["Scriptor", "Deskwell", "Papeterie Lune"], ["note taking", "the home office", "long meetings"]),
}
COLOURS = ["red", "blue", "green", "black", "white", "grey", "yellow", "olive", "navy", "sand"]
SIZES = ["small", "medium", "large", "compact", "family-size"]
CURRENCY = "EUR"

# Products every catalog contains (ids p9xxxxx): the Unicode cases and look-alikes.
SPECIAL: list[dict[str, Any]] = [
    {"name": "ÉCLAIR mould", "brand": "Pâtisserie Dubois", "category": "Kitchen", "price": 1850,
     "description": "A non-stick éclair mould for twelve pastries.", "tags": ["baking", "pastry"]},
    {"name": "Łódź city map poster", "brand": "Mapa", "category": "Office", "price": 1299,
     "description": "A framed street map of Łódź, printed on matte paper.", "tags": ["poster", "map"]},
    {"name": "Ångström precision ruler", "brand": "Scriptor", "category": "Office", "price": 2450,
     "description": "A steel ruler etched to a tenth of a millimetre; ångström not included.",
     "tags": ["ruler", "measuring"]},
    {"name": "Straße street sign", "brand": "Schildwerk", "category": "Home", "price": 1999,
     "description": "An enamel straße sign, as seen in Berlin.", "tags": ["sign", "decor"]},
    {"name": "Caf\u00e9 espresso cups", "brand": "Cuisinor", "category": "Kitchen", "price": 2200,
     "description": "Two porcelain cups for the caf\u00e9 at home.", "tags": ["coffee", "cups"]},
    {"name": "Cafe\u0301 au lait bowl", "brand": "Cuisinor", "category": "Kitchen", "price": 1400,
     "description": "A wide bowl for cafe\u0301 au lait, written with a combining accent.", "tags": ["coffee", "bowl"]},
    {"name": "Red lamp", "brand": "Lumenor", "category": "Lighting", "price": 3900,
     "description": "A red lamp with a linen shade.", "tags": ["lamp", "red"]},
    {"name": "Lamp oil, red", "brand": "Brightwell", "category": "Lighting", "price": 650,
     "description": "Red-tinted lamp oil for hurricane lanterns.", "tags": ["oil"]},
    {"name": "Heavy steel clamp", "brand": "Forgeline", "category": "Tools", "price": 1575,
     "description": "A screw clamp for woodworking; holds up to 300 mm.", "tags": ["clamp"]},
]


def _product(rng: random.Random, i: int) -> dict[str, Any]:
    category = rng.choice(sorted(CATEGORIES))
    nouns, materials, brands, uses = CATEGORIES[category]
    noun, material, brand = rng.choice(nouns), rng.choice(materials), rng.choice(brands)
    colour, size, use = rng.choice(COLOURS), rng.choice(SIZES), rng.choice(uses)
    name = " ".join(w[:1].upper() + w[1:] for w in f"{colour} {material} {noun}".split(" "))
    desc = (f"A {size} {noun} in {material}, {colour}, made by {brand} for {use}. "
            f"{rng.choice(['Easy to clean.', 'Built to last.', 'Ships in recycled packaging.', 'Two-year warranty.'])}")
    tags = sorted({noun.split()[-1], material.split()[-1], colour, category.lower()})
    base = {"Lighting": 2500, "Kitchen": 2000, "Garden": 1800, "Outdoor": 6000, "Tools": 3000, "Clothing": 4500,
            "Office": 1500}[category]
    price = max(99, int(rng.lognormvariate(0, 0.6) * base) // 5 * 5 - 1)
    stock = 0 if rng.random() < 0.12 else rng.randrange(1, 200)
    return {"id": f"p{i:06d}", "name": name, "brand": brand, "category": category, "price": price,
            "currency": CURRENCY, "stock": stock, "description": desc, "tags": tags}


def generate(n: int, seed: int = 12) -> list[dict[str, Any]]:
    """``n`` products (``n`` >= 0), the special ones first (as many as fit); the same for the same seed."""
    if not isinstance(n, int) or n < 0:
        raise ValueError("n must be a non-negative integer")
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for j, sp in enumerate(SPECIAL[:n]):
        out.append({"id": f"p9{j:05d}", "currency": CURRENCY, "stock": 5 + j, **sp})
    for i in range(n - len(out)):
        out.append(_product(rng, i))
    return out


def product_record(p: dict[str, Any]) -> bytes:
    """A product as a catalog record: canonical CBOR of the product with its normalized word lists.

    Extra keys for search (``specs/text.md``): ``w1`` name words, ``w2`` brand and
    tag words, ``w3`` description words (each the sorted distinct words),
    ``ck`` the folded category, ``nk`` the name sort key (``text.name_key``).
    """
    from note_compute import encoding

    from .text import fold, name_key, unique_words

    rec = dict(p)
    rec["ck"] = fold(p["category"])
    rec["nk"] = name_key(p["name"])
    rec["w1"] = unique_words(p["name"])
    rec["w2"] = unique_words(" ".join([p["brand"], *p["tags"]]))
    rec["w3"] = unique_words(p["description"])
    return encoding.encode(rec)
