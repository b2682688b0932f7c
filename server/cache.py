"""Exact-match answer cache: repeated utterances ("yes", "agent please") skip the model.

Key: the text as the model's tokenizer normalises it (`Engine.reads_as`: for the bundled
encoder, lower case without accents) + RequestOptions (whether the text is a stream's partial counts
only for a model trained on partials) + model version. Texts with the same key
get the same token ids, so the same intents, OOD score and tags; nothing looser is safe (casefold
or NFKC would reuse "Straße" for "STRASSE" and "ﬁle" for "file", which the model reads apart).
Two rules keep a hit exactly what the model would have answered:
- Entity offsets and surface text point into the request's own text, and so does the read length
  of a truncated text; a follow-up turn reads the raw words. Such answers are only reused for the
  identical raw text. Any other answer serves every spelling with the same key, with its
  `analyzed_chars` set to the new text's length.
- Dates resolve against the reference time. With an explicit reference_time it is part of the
  key; without one ("now") an answer holding a datetime resolution is not stored at all, since
  it would go stale - everything else does not depend on the clock.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from typing import TYPE_CHECKING

from .analysis import Analysis, RequestOptions

if TYPE_CHECKING:
    from .engine import Engine


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
    def key(text: str, options: RequestOptions, engine: "Engine") -> tuple:
        # session_id is tracing only: it must not split the cache per conversation; a partial is
        # answered apart only by a model that reads the difference.
        return (engine.reads_as(text), options.top_k, options.reference_time, options.time_zone, options.locale,
                options.filled_slots, options.previous_intent, options.partial and engine.reads_partials,
                engine.version)

    def get(self, text: str, options: RequestOptions, engine: "Engine") -> Analysis | None:
        """The answer `engine` would give `text` with `options`, when one is stored."""
        if not self.size:
            return None
        key = self.key(text, options, engine)
        hit = self._entries.get(key)
        answer = None
        if hit is not None:
            raw, stored = hit
            if raw == text:
                answer = stored
            elif not (stored.entities or stored.prediction.truncated or options.previous_intent is not None):
                answer = replace(stored, prediction=replace(stored.prediction, analyzed_chars=len(text)))
        if self.metrics:
            (self.metrics.cache_misses if answer is None else self.metrics.cache_hits).inc()
        if answer is not None:
            self._entries.move_to_end(key)
        return answer

    def put(self, text: str, options: RequestOptions, analysis: Analysis, engine: "Engine") -> None:
        """Store `engine`'s answer (one computed by a model swapped in meanwhile is not stored:
        its key would be made by the wrong tokenizer)."""
        if (not self.size or analysis.model_version != engine.version
                or (options.reference_time is None and _clock_dependent(analysis))):
            return
        key = self.key(text, options, engine)
        self._entries[key] = (text, analysis)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
