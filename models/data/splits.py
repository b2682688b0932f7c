"""Carving a missing valid or test split out of train.

A carved split must look like the data it was carved from, or the figures measured on it
mislead: so the split is stratified by intent (out-of-scope examples form their own stratum),
seeded, and independent of dictionary or hash order, so the same input and seed always give the
same split on every machine.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from typing import Hashable, Sequence

from .schema import Example

__all__ = ["stratified_split", "stratum"]


def stratum(example: Example) -> tuple[str, str]:
    """The group an example is stratified in; out-of-scope cannot collide with an intent name."""
    return ("ood", "") if example.ood else ("intent", example.intent or "")


def _quotas(sizes: dict[Hashable, int], fraction: float, rng: random.Random) -> dict[Hashable, int]:
    """How many to carve from each stratum, by largest remainder.

    Rounding each stratum on its own would carve nothing at all from many small intents (three
    examples at 10% round to zero each); largest remainder keeps the total at round(N * fraction)
    while each stratum stays within one example of its exact share. A stratum of n >= 2 gives at
    most n - 1, and a single example is never carved, so every intent seen in the data is still
    seen in training.
    """
    caps = {key: (n - 1 if n >= 2 else 0) for key, n in sizes.items()}
    exact = {key: n * fraction for key, n in sizes.items()}
    quotas = {key: min(math.floor(exact[key]), caps[key]) for key in sizes}
    target = min(round(sum(sizes.values()) * fraction), sum(caps.values()))
    # Ties in remainder are broken by a seeded shuffle, not by name, so that alphabetically
    # early intents are not favoured.
    order = sorted(sizes, key=repr)
    rng.shuffle(order)
    order.sort(key=lambda key: exact[key] - math.floor(exact[key]), reverse=True)
    missing = target - sum(quotas.values())
    while missing > 0:
        progressed = False
        for key in order:
            if missing == 0:
                break
            if quotas[key] < caps[key]:
                quotas[key] += 1
                missing -= 1
                progressed = True
        if not progressed:
            break
    return quotas


def stratified_split(
    examples: Sequence[Example], fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """Split `examples` into (kept, carved), carving about `fraction` of each intent.

    Both lists keep the input order. Exact duplicate texts move together, whatever their labels,
    so carving never itself puts one copy of an utterance in train and another in test (that
    would inflate the test figures, and a text with two labels would hide its conflict in two
    splits); a stratum's quota may therefore be missed by a few examples when the data holds many
    duplicates. A group of copies is carved with the stratum of its first copy, and only while
    every stratum it touches keeps an example in train.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, example in enumerate(examples):
        groups[stratum(example)].append(index)
    quotas = _quotas({key: len(ix) for key, ix in groups.items()}, fraction, random.Random(f"{seed}:quotas"))

    copies: dict[str, list[int]] = {}  # text -> every index holding it, in input order
    for index, example in enumerate(examples):
        copies.setdefault(example.text, []).append(index)
    remaining = {key: len(ix) for key, ix in groups.items()}
    carved: set[int] = set()
    for key in sorted(groups):
        quota = quotas[key]
        if quota == 0:
            continue
        unit_list = [copies[examples[i].text] for i in groups[key] if copies[examples[i].text][0] == i]
        # A string seed is hashed with SHA-512 by `random`, so this does not depend on
        # PYTHONHASHSEED; seeding per stratum keeps a stratum's split stable when others change.
        random.Random(f"{seed}:{key[0]}:{key[1]}").shuffle(unit_list)
        taken = 0
        for unit in unit_list:
            touched = Counter(stratum(examples[i]) for i in unit)
            if taken + len(unit) <= quota and all(remaining[k] - n >= 1 for k, n in touched.items()):
                carved.update(unit)
                taken += len(unit)
                for k, n in touched.items():
                    remaining[k] -= n
            if taken == quota:
                break

    kept = [ex for i, ex in enumerate(examples) if i not in carved]
    out = [ex for i, ex in enumerate(examples) if i in carved]
    return kept, out
