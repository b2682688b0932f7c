"""The model's label spaces: intents, the BIO tags derived from the entity types, and (for a
model trained with a CRF tag loss) the learned scores of one tag following another."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Labels:
    intents: tuple[str, ...]
    entity_types: tuple[str, ...]
    # CRF transition scores (models/crf.py): [from][to] and [first tag]; None: tags are read
    # word by word (the most probable valid BIO sequence, server/decode.py)
    tag_transitions: tuple[tuple[float, ...], ...] | None = None
    tag_start: tuple[float, ...] | None = None

    @property
    def tags(self) -> tuple[str, ...]:
        """Tag 0 is `O`; entity type i has `B-` at 2i+1 and `I-` at 2i+2."""
        out = ["O"]
        for etype in self.entity_types:
            out += [f"B-{etype}", f"I-{etype}"]
        return tuple(out)

    def begin_tag(self, etype: str) -> int:
        return 2 * self.entity_types.index(etype) + 1

    @cached_property
    def transition_scores(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(start [T], transitions [T, T]) as float64 with -inf where BIO forbids the step (an
        `I-x` that does not continue an `x` span), or None for a model without a CRF."""
        if self.tag_transitions is None or self.tag_start is None:
            return None
        allowed_start, allowed = bio_allowed(len(self.tags))
        start = np.where(allowed_start, np.asarray(self.tag_start, dtype=np.float64), -np.inf)
        transitions = np.where(allowed, np.asarray(self.tag_transitions, dtype=np.float64), -np.inf)
        return start, transitions

    def to_json(self) -> dict:
        out = {"intents": list(self.intents), "entity_types": list(self.entity_types), "tags": list(self.tags)}
        if self.tag_transitions is not None and self.tag_start is not None:
            out["tag_transitions"] = [list(row) for row in self.tag_transitions]
            out["tag_start"] = list(self.tag_start)
        return out

    @classmethod
    def from_json(cls, obj: dict) -> "Labels":
        labels = cls(tuple(obj["intents"]), tuple(obj["entity_types"]))
        if "tags" in obj and tuple(obj["tags"]) != labels.tags:
            raise ValueError("labels.json: 'tags' do not match the entity types")
        if "tag_transitions" in obj or "tag_start" in obj:
            n = len(labels.tags)
            transitions, start = obj.get("tag_transitions"), obj.get("tag_start")
            if not (_numbers(start, n) and isinstance(transitions, list) and len(transitions) == n
                    and all(_numbers(row, n) for row in transitions)):
                raise ValueError(f"labels.json: 'tag_transitions' must be {n} x {n} and 'tag_start' {n} "
                                 "finite numbers (one per tag)")
            labels = cls(labels.intents, labels.entity_types, tuple(tuple(float(v) for v in row) for row in transitions),
                         tuple(float(v) for v in start))
        if not labels.intents:
            raise ValueError("labels.json: no intents")
        return labels


def bio_allowed(n_tags: int) -> tuple[np.ndarray, np.ndarray]:
    """Which tags may open a sentence, and which may follow which ([from, to]), in the tag layout
    above: `I-x` only right after `B-x` or `I-x`; everything else anywhere."""
    tags = np.arange(n_tags)
    inside = (tags > 0) & (tags % 2 == 0)
    start = ~inside
    allowed = np.ones((n_tags, n_tags), dtype=bool)
    allowed[:, inside] = False
    for t in tags[inside]:
        allowed[t - 1, t] = allowed[t, t] = True
    return start, allowed


def _numbers(values, n: int) -> bool:
    return (isinstance(values, list) and len(values) == n
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values))
