"""Text -> model inputs, with dynamic padding and the word boundaries the entity decoder needs.

Training and serving both go through `TextEncoder`, so the model never sees a tokenisation at
serving time that it was not trained on. Entities are tagged per *word* (the first sub-word
token of each word carries the word's BIO tag), which keeps spans on word boundaries; see
`_words` for what a word is.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from tokenizers import Encoding, Tokenizer

#: the token that tells a model trained on partial utterances (`intentd train
#: --partial-utterances`) that the text may go on: an ASR partial. A vocabulary slot no text
#: tokenises to, placed before the closing [SEP]; see models/augment.py `PartialUtterances`.
PARTIAL_MARKER = "[unused0]"


# Full-width ASCII forms (U+FF01-FF5E) and the ideographic space, as East Asian keyboards type
# Latin text: one code point each for its ASCII twin, so offsets into the caller's text hold. The
# tokenizer's normaliser leaves them apart, and "ｗｈａｔ＇ｓ ｍｙ ｂａｌａｎｃｅ" read as unknown words.
_FULL_WIDTH = {0x3000: " ", **{code: chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)}}


_WIDE = re.compile("[\uff01-\uff5e\u3000]")


def fold_width(text: str) -> str:
    return text.translate(_FULL_WIDTH) if _WIDE.search(text) else text


@dataclass(slots=True)
class EncodedText:
    """One text's words: the token that carries each word's tag, and its code-point span."""

    word_token: np.ndarray  # int32 [W]: index of each word's first token in the padded row
    word_spans: list[tuple[int, int]]  # [start, end) code points of each word in the original text
    n_tokens: int  # tokens before padding, specials included
    truncated: bool
    # no word piece with a letter or digit but the vocabulary's unknown token (emoji, an unseen
    # script, "?!", "$"): the model read no word, and whatever it answers is a guess from the
    # sentence's shape
    unreadable: bool = False


@dataclass(slots=True)
class EncodedBatch:
    input_ids: np.ndarray  # int64 [B, T]
    attention_mask: np.ndarray  # int64 [B, T]
    texts: list[EncodedText]

    @property
    def n_tokens(self) -> int:
        return int(self.attention_mask.sum())


class TextEncoder:
    """Wraps a `tokenizer.json`: no fixed-length padding, truncation at `max_length`.

    `partial_id`: the id of `PARTIAL_MARKER` once `mark_partials` was called, for a model trained
    on partial utterances (else None: a partial text is encoded as any other)."""

    def __init__(self, tokenizer: Tokenizer, max_length: int = 128):
        if max_length < 8:
            raise ValueError(f"max_length must be at least 8, got {max_length}")
        self.max_length = max_length
        self.tokenizer = tokenizer
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=max_length)
        pad = self.tokenizer.token_to_id("[PAD]")
        self.pad_id = 0 if pad is None else pad
        self.unk_token = getattr(self.tokenizer.model, "unk_token", None)
        self.partial_id: int | None = None

    @classmethod
    def from_file(cls, path: str | Path, max_length: int = 128) -> "TextEncoder":
        return cls(Tokenizer.from_file(str(path)), max_length)

    @classmethod
    def from_str(cls, text: str, max_length: int = 128) -> "TextEncoder":
        return cls(Tokenizer.from_str(text), max_length)

    def save(self, path: str | Path) -> None:
        """Save with the serving settings baked in: truncation, and padding to the batch's longest."""
        self.tokenizer.enable_padding(pad_id=self.pad_id, pad_token="[PAD]")
        try:
            self.tokenizer.save(str(path))
        finally:
            self.tokenizer.no_padding()

    def encode(self, texts: list[str], partial: Sequence[bool] = ()) -> EncodedBatch:
        return self.collate(self.encodings(texts), partial)

    def encodings(self, texts: Sequence[str]) -> list[Encoding]:
        """The tokenizer's encodings, full-width forms read as ASCII (`fold_width`). `encode_batch`
        releases the GIL (plain `encode` holds it), so a serving event loop keeps going."""
        return self.tokenizer.encode_batch([fold_width(t) for t in texts], add_special_tokens=True)

    def mark_partials(self, marker: str = PARTIAL_MARKER) -> None:
        """Encode partial texts with `marker`. ValueError when the vocabulary lacks it."""
        self.partial_id = self.tokenizer.token_to_id(marker)
        if self.partial_id is None:
            raise ValueError(f"the vocabulary has no {marker!r} to mark partial utterances with")

    def ids(self, encoding: Encoding, partial: bool = False) -> list[int]:
        """The row's token ids: a partial text gets the marker before its closing [SEP] (one
        token past `max_length` at most; the word positions before it do not move)."""
        ids = encoding.ids
        if partial and self.partial_id is not None:
            return [*ids[:-1], self.partial_id, ids[-1]]
        return ids

    def collate(self, encodings: list[Encoding], partial: Sequence[bool] = ()) -> EncodedBatch:
        """Pad a list of encodings to the longest one (dynamic padding). `partial[i]`: row i is an
        utterance that may go on (see `ids`)."""
        rows = [self.ids(enc, bool(partial) and partial[i]) for i, enc in enumerate(encodings)]
        width = max(len(ids) for ids in rows)
        input_ids = np.full((len(encodings), width), self.pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(encodings), width), dtype=np.int64)
        texts = []
        for row, (enc, ids) in enumerate(zip(encodings, rows)):
            n = len(ids)
            input_ids[row, :n] = ids
            attention_mask[row, :n] = 1
            texts.append(_words(enc, n, self.unk_token))
        return EncodedBatch(input_ids, attention_mask, texts)


def _is_punctuation(token: str) -> bool:
    return all(unicodedata.category(ch).startswith("P") for ch in token)


def _words(enc: Encoding, n_tokens: int, unk_token: str | None = None) -> EncodedText:
    """Group tokens into words: a run of tokens with no whitespace between them is one word
    ("2026-01-15", "billing@bank.com", "$1,200.00"), except that punctuation at either end of
    the run stands alone ("savings." -> "savings", "."), so entity spans never swallow it."""
    chunks: list[list[int]] = []
    previous_end, previous_word = -1, None
    for index, (word, (start, end)) in enumerate(zip(enc.word_ids, enc.offsets)):
        if word is None:
            previous_end, previous_word = -1, None
            continue
        # pieces of one word can have a gap between them: an accent the normaliser stripped from
        # decomposed text ("Gu" U+0308 "lsen")
        if chunks and (start == previous_end or word == previous_word):
            chunks[-1].append(index)
        else:
            chunks.append([index])
        previous_end, previous_word = end, word
    tokens, offsets = enc.tokens, enc.offsets
    first: list[int] = []
    spans: list[tuple[int, int]] = []
    for chunk in chunks:
        lo, hi = 0, len(chunk)
        while lo < hi - 1 and _is_punctuation(tokens[chunk[lo]]):
            lo += 1
        while hi - 1 > lo and _is_punctuation(tokens[chunk[hi - 1]]):
            hi -= 1
        for i in range(lo):
            first.append(chunk[i])
            spans.append(offsets[chunk[i]])
        first.append(chunk[lo])
        spans.append((offsets[chunk[lo]][0], offsets[chunk[hi - 1]][1]))
        for i in range(hi, len(chunk)):
            first.append(chunk[i])
            spans.append(offsets[chunk[i]])
    pieces = [tokens[i] for chunk in chunks for i in chunk]
    return EncodedText(
        word_token=np.asarray(first, dtype=np.int32),
        word_spans=spans,
        n_tokens=n_tokens,
        truncated=bool(enc.overflowing),
        unreadable=bool(pieces) and not any(p != unk_token and any(c.isalnum() for c in p) for p in pieces),
    )
