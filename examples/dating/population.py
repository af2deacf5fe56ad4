"""A seeded synthetic population for the demo, the tests and the benchmark, with its ground truth."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from note_compute.crypto import SigningKey

from .model import Card, make_card

__all__ = ["INTERESTS", "REGIONS", "Population", "make_population"]

REGIONS = ["north", "south", "east", "west"]
INTERESTS = ["chess", "climbing", "cooking", "cinema", "dancing", "gardening", "hiking", "jazz", "poetry",
             "running", "sailing", "travel"]
ADJ = ["quiet", "bold", "sunny", "witty", "gentle", "brave", "curious", "calm"]
NOUN = ["otter", "fox", "heron", "lynx", "owl", "wren", "badger", "seal"]


@dataclass
class Population:
    keys: list[SigningKey]
    cards: list[Card]
    profiles: list[dict[str, Any]]
    age_ranges: list[tuple[int, int]]
    like_rate: float
    seed: int
    likes: list[set[bytes]] = field(default_factory=list)  # filled by the swipes (ground truth)

    def mutual(self) -> set[frozenset[bytes]]:
        """Every pair that liked each other (the ground truth the matching must reproduce)."""
        out = set()
        for i, k in enumerate(self.keys):
            for other in self.likes[i]:
                j = self.index(other)
                if k.public_key in self.likes[j]:
                    out.add(frozenset((k.public_key, other)))
        return out

    def index(self, public_key: bytes) -> int:
        return self._by_key[public_key]

    def __post_init__(self) -> None:
        self._by_key = {k.public_key: i for i, k in enumerate(self.keys)}
        if not self.likes:
            self.likes = [set() for _ in self.keys]


def make_population(n: int = 200, *, seed: int = 1, like_rate: float = 0.5) -> Population:
    rng = random.Random(seed)
    keys: list[SigningKey] = []
    cards: list[Card] = []
    profiles: list[dict[str, Any]] = []
    ages: list[tuple[int, int]] = []
    for i in range(n):
        key = SigningKey(hashlib.sha256(b"dating-user-%d-%d" % (seed, i)).digest())
        age = rng.randrange(21, 45)
        name = f"{rng.choice(ADJ)}-{rng.choice(NOUN)}-{i}"
        card = make_card(key, name, age, rng.choice(REGIONS), rng.sample(INTERESTS, rng.randrange(2, 5)))
        keys.append(key)
        cards.append(card)
        profiles.append({"pseudonym": name, "bio": f"{name} likes {', '.join(card.interests)}",
                         "contact": f"{name}@example.invalid"})
        ages.append((max(18, age - 6), age + 6))
    return Population(keys, cards, profiles, ages, like_rate, seed)
