"""Canonical examples -> training tensors: token ids, word-level BIO targets, intent targets.

Targets are aligned with the serving tokeniser (server/tokenize.py): the first token of each
word carries the word's tag; every other position is ignored by the loss.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from intentd.models.data.schema import Example
from intentd.server.labels import Labels
from intentd.server.tokenize import TextEncoder

IGNORE = -100
OUTSIDE = 0  # the tag of a word in no entity span (B-/I- tags follow: Labels.begin_tag)
OOD_INTENT = -1  # intent target of an out-of-scope example (trained towards a uniform distribution)


@dataclass(slots=True)
class Features:
    ids: np.ndarray  # int64 [T]
    tags: np.ndarray  # int64 [T], IGNORE where no word starts
    intent: int
    soft: np.ndarray | None = None  # float32 [n_intents]: a teacher's intent distribution (distillation)
    soft_tags: np.ndarray | None = None  # float32 [T, n_tags]: a teacher's tag distribution at each word's first piece


@dataclass
class AlignmentReport:
    """Entity boundaries that fall inside a word cannot be represented, and spans past the
    `max_length` cut are never seen; say how many of each, never hide them."""

    spans: int = 0
    inexact: int = 0
    truncated: int = 0  # spans that end past where a text was cut (--max-length)


def build_labels(examples: Sequence[Example]) -> Labels:
    intents = sorted({ex.intent for ex in examples if not ex.ood})
    types = sorted({s.type for ex in examples for s in ex.entities})
    return Labels(tuple(intents), tuple(types))


def featurize(
    examples: Sequence[Example], encoder: TextEncoder, labels: Labels, report: AlignmentReport | None = None,
    every_piece: bool = False, partial: bool = False,
) -> list[Features]:
    """`every_piece`: a word's later pieces carry a target too, its tag's inside form (I-x, or O),
    so the loss reads every piece of a rare name, not only the first (decoding still reads the
    first). `partial`: the texts are ASR partials, marked as the server marks them
    (`TextEncoder.ids`), with no tag targets: a name cut mid-way would teach the tag head that
    names end early (on SNIPS, tag targets on partials cost 1.6 points of span F1)."""
    intent_index = {name: i for i, name in enumerate(labels.intents)}
    out = []
    encodings = encoder.encodings([ex.text for ex in examples])
    for ex, enc in zip(examples, encodings):
        ids = encoder.ids(enc, partial)
        words = encoder.collate([enc], [partial]).texts[0]
        tags = np.full(len(ids), IGNORE, dtype=np.int64)
        word_tags = np.full(len(words.word_spans), OUTSIDE, dtype=np.int64)
        for span in ex.entities:
            if span.type not in labels.entity_types:
                continue  # a type unseen in training: the model cannot learn it
            begin = labels.begin_tag(span.type)
            covered = [w for w, (ws, we) in enumerate(words.word_spans) if ws < span.end and we > span.start]
            if report is not None:
                report.spans += 1
                if words.truncated and (not words.word_spans or span.end > words.word_spans[-1][1]):
                    report.truncated += 1
                elif not covered or words.word_spans[covered[0]][0] != span.start or words.word_spans[covered[-1]][1] != span.end:
                    report.inexact += 1
            for k, w in enumerate(covered):
                word_tags[w] = begin if k == 0 else begin + 1
        if not partial:
            tags[words.word_token] = word_tags
        if every_piece and not partial:
            bounds = [*words.word_token.tolist(), len(enc.ids) - 1]  # the last word ends at [SEP]
            for w, tag in enumerate(word_tags.tolist()):
                tags[bounds[w] + 1 : bounds[w + 1]] = tag + (tag % 2)  # B-x -> I-x; I-x and O stay
        intent = OOD_INTENT if ex.ood else intent_index.get(ex.intent, OOD_INTENT)
        out.append(Features(np.asarray(ids, dtype=np.int64), tags, intent))
    return out


def batches(
    features: Sequence[Features], batch_size: int, pad_id: int, shuffle: bool, seed: int = 0
) -> Iterator[dict[str, torch.Tensor]]:
    """Length-grouped batches: shuffle, then sort within windows of 50 batches to limit padding."""
    order = list(range(len(features)))
    rng = random.Random(seed)
    if shuffle:
        rng.shuffle(order)
        window = batch_size * 50
        order = [
            i
            for start in range(0, len(order), window)
            for i in sorted(order[start : start + window], key=lambda j: len(features[j].ids))
        ]
    groups = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if shuffle:
        rng.shuffle(groups)
    for group in groups:
        yield collate([features[i] for i in group], pad_id)


def collate(items: Sequence[Features], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(f.ids) for f in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    tags = torch.full((len(items), width), IGNORE, dtype=torch.long)
    for row, f in enumerate(items):
        n = len(f.ids)
        ids[row, :n] = torch.from_numpy(f.ids)
        mask[row, :n] = 1
        tags[row, :n] = torch.from_numpy(f.tags)
    intents = torch.tensor([f.intent for f in items], dtype=torch.long)
    batch = {"input_ids": ids, "attention_mask": mask, "tags": tags, "intents": intents}
    if items[0].soft is not None:
        batch["soft"] = torch.from_numpy(np.stack([f.soft for f in items]))
    taught = [(row, f.soft_tags) for row, f in enumerate(items) if f.soft_tags is not None]
    if taught:  # zero rows where no teacher speaks: the tag loss reads those from the labels alone
        soft_tags = torch.zeros((len(items), width, taught[0][1].shape[-1]))
        for row, rows in taught:
            soft_tags[row, :len(rows)] = torch.from_numpy(rows)
        batch["soft_tags"] = soft_tags
    return batch
