"""First version: passes the model's spans through, unresolved. Catalog, builtin and pattern
resolution replace this (issue: entity resolution and constrained responses)."""

from __future__ import annotations

from ..analysis import RequestOptions, ResolvedEntity
from ..decode import EntitySpan


class Resolver:
    def __init__(self, domain: dict | None):
        self.domain = domain or {}

    def resolve(self, text: str, spans: list[EntitySpan], options: RequestOptions) -> list[ResolvedEntity]:
        return [ResolvedEntity(s.type, s.text, s.start, s.end, s.confidence) for s in spans]

    def warm_up(self) -> None:
        pass
