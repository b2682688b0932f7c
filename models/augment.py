"""Entity value swapping: each pass, some mentions of open entity types (names: most mentions a
value of their own) are replaced by another value of the same type seen in training, so the tag
head learns where a name sits from the words around it, not only which names it has met.

A small model's errors on data with entities are mostly long free-text values (names of playlists,
films, places) whose words it saw once or never; swapping values across examples shows each
context with many values and each value in many contexts (slot substitution, as in data
augmentation for spoken language understanding). The intent and the entity types stay what they
were, so every target is still true; the texts are built per pass from a seeded generator, so a
rerun of the same build trains on the same texts.
"""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from typing import Sequence

from intentd.models.data.schema import Example, Span


#: a type is open (names: most mentions a value of their own) when at least this share of its
#: mentions are distinct values; a closed type's few values (sort words, relations, units) each
#: belong to their own phrasing, and swapping them writes sentences no one says
OPEN_TYPE_SHARE = 0.5


class ValueSwap:
    def __init__(self, examples: Sequence[Example], rate: float, seed: int, open_share: float = OPEN_TYPE_SHARE) -> None:
        """`rate`: the chance that each mention of an open type is swapped in a pass."""
        self.rate = rate
        self.seed = seed
        values: dict[str, set[str]] = defaultdict(set)
        mentions: Counter[str] = Counter()
        for ex in examples:
            for span in ex.entities:
                values[span.type].add(ex.span_text(span))
                mentions[span.type] += 1
        # sorted: the same build draws the same values whatever the set's iteration order
        self.values = {kind: sorted(found) for kind, found in values.items()
                       if len(found) > 1 and len(found) >= open_share * mentions[kind]}

    def epoch(self, examples: Sequence[Example], epoch: int) -> list[Example]:
        """The training texts of one pass: `examples` with some of their mentions swapped."""
        rng = random.Random(f"{self.seed}:{epoch}")
        return [self.swap(ex, rng) for ex in examples]

    def swap(self, example: Example, rng: random.Random) -> Example:
        if not example.entities:
            return example
        text, spans, shift, changed = [], [], 0, False
        cursor = 0
        for span in sorted(example.entities, key=lambda s: s.start):
            value = original = example.span_text(span)
            pool = self.values.get(span.type)
            if pool is not None and rng.random() < self.rate:
                value = pool[rng.randrange(len(pool))]
                changed = True
            text.append(example.text[cursor : span.start])
            start = span.start + shift
            text.append(value)
            # a swapped value's canonical form is unknown: the gold value is dropped, not carried
            kept = span.value if value == original else None
            spans.append(Span(start, start + len(value), span.type, kept))
            shift += len(value) - (span.end - span.start)
            cursor = span.end
        if not changed:
            return example
        text.append(example.text[cursor:])
        return Example("".join(text), example.intent, tuple(spans), example.ood, example.meta, example.origin)


class PartialUtterances:
    """Each pass, some training texts also train as an ASR partial: their first few words, with
    `PARTIAL_MARKER` (server/tokenize.py) saying the utterance may go on, and the whole
    utterance's intent as the target.

    A model trained on whole utterances reads an opener ("hi um i", "can you tell me") as a
    complete greeting, with high confidence, for as many words as the opener lasts, so a
    streaming caller cannot tell a settled partial from an early one. Trained on prefixes, the
    intent distribution of a marked text is the model's estimate of the final intent given the
    words so far: openers shared by many intents get a flat one. The marker keeps whole
    utterances as they were: "hi" alone is still a greeting. A partial keeps the spans so far
    ("send money to john" of "... to john smith": the span cut), but trains the intent only
    (`featurize(partial=True)`): tag targets on cut names cost SNIPS 1.6 points of span F1."""

    def __init__(self, examples: Sequence[Example], rate: float, seed: int) -> None:
        """`rate`: the share of the texts of two words or more that add a partial to each pass."""
        self.seed = seed
        self._ends = [[m.end() for m in _WORD.finditer(ex.text)] for ex in examples]
        self._eligible = [i for i, ends in enumerate(self._ends) if len(ends) > 1]  # a proper prefix exists
        self.per_epoch = round(rate * len(self._eligible))

    def epoch(self, examples: Sequence[Example], epoch: int) -> list[tuple[int, Example]]:
        """One pass's partials (`per_epoch` of them), each with the index of the example it was
        cut from."""
        rng = random.Random(f"partial:{self.seed}:{epoch}")
        out = []
        for i in sorted(rng.sample(self._eligible, self.per_epoch)):
            ex, ends = examples[i], self._ends[i]
            cut = ends[rng.randrange(len(ends) - 1)]
            spans = tuple(Span(s.start, min(s.end, cut), s.type, s.value if s.end <= cut else None)
                          for s in ex.entities if s.start < cut)
            out.append((i, Example(ex.text[:cut], ex.intent, spans, ex.ood, ex.meta, ex.origin)))
        return out


_WORD = re.compile(r"\S+")
