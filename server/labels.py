"""The model's label spaces: intents, and the BIO tags derived from the entity types."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Labels:
    intents: tuple[str, ...]
    entity_types: tuple[str, ...]

    @property
    def tags(self) -> tuple[str, ...]:
        """Tag 0 is `O`; entity type i has `B-` at 2i+1 and `I-` at 2i+2."""
        out = ["O"]
        for etype in self.entity_types:
            out += [f"B-{etype}", f"I-{etype}"]
        return tuple(out)

    def begin_tag(self, etype: str) -> int:
        return 2 * self.entity_types.index(etype) + 1

    def to_json(self) -> dict:
        return {"intents": list(self.intents), "entity_types": list(self.entity_types), "tags": list(self.tags)}

    @classmethod
    def from_json(cls, obj: dict) -> "Labels":
        labels = cls(tuple(obj["intents"]), tuple(obj["entity_types"]))
        if "tags" in obj and tuple(obj["tags"]) != labels.tags:
            raise ValueError("labels.json: 'tags' do not match the entity types")
        if not labels.intents:
            raise ValueError("labels.json: no intents")
        return labels
