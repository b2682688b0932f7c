"""Exact-match answer cache: repeated utterances ("yes", "agent please") skip the model.

Key: normalised text (NFKC, casefold, whitespace collapsed) + RequestOptions + model version.
Two rules keep a hit exactly what the model would have answered:
- Entity offsets and surface text point into the request's own text, so an answer with entities
  is only reused for the identical raw text; one without entities serves every spelling that
  normalises the same (the uncased tokenizer sees them alike anyway).
- Dates resolve against the reference time. With an explicit reference_time it is part of the
  key; without one ("now") an answer holding a datetime resolution is not stored at all, since
  it would go stale - everything else does not depend on the clock.
"""

from __future__ import annotations

import re
import unicodedata
from collections import OrderedDict

from .analysis import Analysis, RequestOptions

_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _clock_dependent(analysis: Analysis) -> bool:
    return any((e.resolution or {}).get("kind") in ("datetime", "date", "time", "duration")
               for e in analysis.entities)


class AnalysisCache:
    """A bounded LRU. Not thread-safe: used from the event loop only."""

    def __init__(self, size: int, metrics=None):
        self.size = size
        self.metrics = metrics
        self._entries: OrderedDict[tuple, tuple[str, Analysis]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def key(text: str, options: RequestOptions, version: str) -> tuple:
        # session_id is tracing only: it must not split the cache per conversation.
        return (normalise(text), options.top_k, options.reference_time, options.time_zone, options.locale,
                options.filled_slots, options.previous_intent, version)

    def get(self, text: str, options: RequestOptions, version: str) -> Analysis | None:
        if not self.size:
            return None
        key = self.key(text, options, version)
        hit = self._entries.get(key)
        if hit is not None and (hit[0] == text or not hit[1].entities):
            self._entries.move_to_end(key)
            if self.metrics:
                self.metrics.cache_hits.inc()
            return hit[1]
        if self.metrics:
            self.metrics.cache_misses.inc()
        return None

    def put(self, text: str, options: RequestOptions, analysis: Analysis) -> None:
        if not self.size or (options.reference_time is None and _clock_dependent(analysis)):
            return
        key = self.key(text, options, analysis.model_version)
        self._entries[key] = (text, analysis)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
