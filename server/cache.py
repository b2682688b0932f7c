"""Exact-match answer cache: repeated utterances ("yes", "agent please") skip the model.

Key: the request's own text, character for character, + RequestOptions (whether the text is a
stream's partial counts only for a model trained on partials) + model version. Nothing looser is
safe: two spellings the model reads alike ("TXN 123456", "txn 123456") can still resolve apart,
since the resolvers, the follow-up rules and the entity offsets read the raw text.
- Dates resolve against the reference time. With an explicit reference_time it is part of the
  key; without one ("now") an answer holding a date, resolved or not, or a request carrying one
  from an earlier turn, is not stored at all, since it would go stale ("this morning" said at
  13:00 is unresolved, the next morning it is 9:00; a carried date shows its year once it is far
  away, and is no value once it has passed) - everything else does not depend on the clock.
- Bounded in entries, and each entry in size: a request whose text and carried slots run over
  `MAX_KEY_CHARS` is not stored (it is no repeated utterance, and 4,096 keys of 2,000-character
  texts with 64 long slots each held over 1 GB). The largest answer stored (a 511-character
  text of ~40 amounts) takes ~24 KB, so 4,096 entries hold ~100 MB at worst (~1 MB for short
  texts).
- Each stored answer is offered to the review capture once (`first_offer`): a repeat is not
  captured again, but an answer first computed for a request that is never captured (a stream's
  partial, an n-best alternative not used) still is when a captured request meets it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

from .analysis import Analysis, RequestOptions

if TYPE_CHECKING:
    from .engine import Engine


MAX_KEY_CHARS = 512  # text + carried slot names and values, in code points


def _clock_dependent(analysis: Analysis, options: RequestOptions, engine: "Engine") -> bool:
    """Whether the answer holds a span of a date type, resolved or not, or the request carries a
    date from an earlier turn: any of them may read otherwise later (a carried date is shown with
    its year once it is far enough away, and is no value once it has passed). So may any turn read
    against a previous one: its untagged words are tried as dates of today, and what they are not
    is read otherwise ("make it this morning" after a bill), leaving no date in the answer."""
    specs = engine.resolver.specs
    return (options.previous_intent is not None
            or any((e.resolution or {}).get("kind") in ("datetime", "date", "time", "duration")
                   or (specs.get(e.type) or {}).get("builtin") == "datetime" for e in analysis.entities)
            or any((specs.get(slot.partition(".")[0]) or {}).get("builtin") == "datetime"  # "date", "date.day"
                   for slot, _ in options.filled_slots or ()))


def _key_chars(text: str, options: RequestOptions) -> int:
    return (len(text) + sum(len(name) + len(value) for name, value in options.filled_slots or ())
            + sum(len(name) for name in options.slots_missing))


class AnalysisCache:
    """A bounded LRU. Not thread-safe: used from the event loop only."""

    def __init__(self, size: int, metrics=None):
        self.size = size
        self.metrics = metrics
        self._entries: OrderedDict[tuple, Analysis] = OrderedDict()
        self._offered: set[tuple] = set()  # keys of stored answers already offered to the capture

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def key(text: str, options: RequestOptions, engine: "Engine") -> tuple:
        # session_id is tracing only: it must not split the cache per conversation; a partial is
        # answered apart only by a model that reads the difference.
        return (text, options.top_k, options.reference_time, options.time_zone, options.locale,
                options.filled_slots, options.slots_missing, options.previous_intent,
                options.partial and engine.reads_partials,
                engine.version)

    def get(self, text: str, options: RequestOptions, engine: "Engine") -> Analysis | None:
        """The answer `engine` would give `text` with `options`, when one is stored."""
        if not self.size:
            return None
        key = self.key(text, options, engine)
        answer = self._entries.get(key)
        if self.metrics:
            (self.metrics.cache_misses if answer is None else self.metrics.cache_hits).inc()
        if answer is not None:
            self._entries.move_to_end(key)
        return answer

    def put(self, text: str, options: RequestOptions, analysis: Analysis, engine: "Engine") -> None:
        """Store `engine`'s answer (one computed by a model swapped in meanwhile is not stored: its
        key would name the wrong model version)."""
        if (not self.size or analysis.model_version != engine.version
                or (options.reference_time is None and _clock_dependent(analysis, options, engine))
                or _key_chars(text, options) > MAX_KEY_CHARS):
            return
        key = self.key(text, options, engine)
        self._entries[key] = analysis
        self._offered.discard(key)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._offered.discard(self._entries.popitem(last=False)[0])

    def first_offer(self, text: str, options: RequestOptions, engine: "Engine") -> bool:
        """Whether this request's answer is to be offered to the review capture now: once per
        stored answer, and every time for an answer that is not stored."""
        key = self.key(text, options, engine)
        if key not in self._entries:
            return True
        if key in self._offered:
            return False
        self._offered.add(key)
        return True

    def clear(self) -> None:
        self._entries.clear()
        self._offered.clear()
