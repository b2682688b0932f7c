"""Soft targets from a teacher: any artifact `intentd train` built (a bigger base fine-tuned
with `--base`, or one of the same size), read through onnxruntime, so the teacher needs no torch
model and no training code of its own.

The student learns from `(1 - w) * cross-entropy + w * T^2 * KL(teacher_T || student_T)` on its
in-scope examples (Hinton et al. 2015): the teacher's probabilities over the wrong intents say
which intents a query resembles, which one-hot labels cannot. Out-of-scope examples keep the
outlier-exposure loss. On data with entity spans, each word's entity tag is learnt the same way from the
teacher's tag distribution for that word (where the teacher's tokenizer splits the text into
the same words; elsewhere, and on texts changed in training, from the labels only).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from intentd.errors import IntentdError
from intentd.models.data.schema import Example
from intentd.server.artifact import load_artifact
from intentd.server.decode import softmax
from intentd.server.labels import Labels
from intentd.server.model import Model
from intentd.server.tokenize import TextEncoder


class TeacherError(IntentdError):
    """The teacher cannot teach this student (another intent set, or not an artifact)."""


@dataclass
class Lesson:
    """What the teachers teach: `intents` [N, n_intents] (the mean of their intent distributions
    at the temperature, in the student's intent order; out-of-scope rows are computed too and the
    loss skips them) and, when asked, `tags`: per example [T, n_tags] on the student's word
    pieces, at each word's first piece the teachers' mean tag distribution for that word in the
    student's tag order, zero rows elsewhere; None where no teacher read the text as the same words."""

    intents: np.ndarray
    tags: list[np.ndarray | None] | None = None


def teach(teachers: Sequence[str | Path], examples: Sequence[Example], labels: Labels, temperature: float,
          encoder: TextEncoder | None = None) -> Lesson:
    """One pass of each teacher over `examples`; `encoder` (the student's) asks for the tags too.
    Several teachers teach the mean of their distributions: an ensemble of a few models of the
    student's own size is a larger teacher that needs no larger encoder."""
    if not teachers:
        raise TeacherError("no teacher given")
    readings = [_read(t, examples, labels, temperature, tags=encoder is not None) for t in teachers]
    intents = np.mean([r.intents for r in readings], axis=0).astype(np.float32)
    if encoder is None:
        return Lesson(intents)
    return Lesson(intents, _on_student_pieces(readings, examples, labels, encoder))


@dataclass
class _Reading:
    """One teacher's pass: intent distributions [N, n_intents], and per example its word spans
    and [W, n_tags] word tag distributions (student orders)."""

    intents: np.ndarray
    words: list[tuple[list[tuple[int, int]], np.ndarray] | None]


def _read(teacher: str | Path, examples: Sequence[Example], labels: Labels, temperature: float,
          tags: bool) -> _Reading:
    from intentd.models.evaluate import length_sorted_batches

    model = _load(teacher)
    intent_order = _order(teacher, "intents", model.labels.intents, labels.intents)
    tag_order = _order(teacher, "entity tags", model.labels.tags, labels.tags) if tags else None
    texts = [ex.text for ex in examples]
    intents = np.zeros((len(texts), len(labels.intents)), dtype=np.float64)
    words: list = [None] * len(texts)
    for rows in length_sorted_batches(texts, 64):
        batch = model.encode([texts[r] for r in rows])
        raw = model.infer(batch)
        intents[rows] = softmax(raw.intent_logits.astype(np.float64)[:, intent_order], temperature)
        if tag_order is None:
            continue
        tag_probs = softmax(raw.tag_logits.astype(np.float64)[..., tag_order], temperature)
        for k, r in enumerate(rows):
            words[r] = (batch.texts[k].word_spans, tag_probs[k, batch.texts[k].word_token])
    return _Reading(intents, words)


def _order(teacher: str | Path, what: str, theirs: Sequence[str], ours: Sequence[str]) -> list[int]:
    """Where each of the student's labels sits in the teacher's outputs."""
    theirs = list(theirs)
    if sorted(theirs) != sorted(ours):
        missing, extra = sorted(set(ours) - set(theirs)), sorted(set(theirs) - set(ours))
        raise TeacherError(f"{teacher}: the teacher's {what} differ from the training data's "
                           f"(missing {missing[:5]}, extra {extra[:5]}): train it on the same data")
    return [theirs.index(name) for name in ours]


def _on_student_pieces(readings: Sequence[_Reading], examples: Sequence[Example], labels: Labels,
                       encoder: TextEncoder) -> list[np.ndarray | None]:
    student_words = encoder.collate(encoder.encodings([ex.text for ex in examples])).texts
    out: list[np.ndarray | None] = []
    for i, mine in enumerate(student_words):
        same = [probs for spans, probs in (r.words[i] for r in readings) if spans == mine.word_spans]
        if not same:
            out.append(None)
            continue
        rows = np.zeros((mine.n_tokens, len(labels.tags)), dtype=np.float32)
        rows[mine.word_token] = np.mean(same, axis=0)
        out.append(rows)
    return out


def _load(teacher: str | Path) -> Model:
    """The teacher's FP32 graph when its artifact has one (no quantisation noise in the soft
    labels), otherwise its served graph."""
    from intentd.models.export import FP32_FILE

    files = load_artifact(teacher).manifest["files"]
    return Model.load(teacher, model=FP32_FILE if FP32_FILE in files else None)
