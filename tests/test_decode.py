"""Word-level BIO decoding over real tokenizer output (the bundled MiniLM tokenizer)."""

import unicodedata

import numpy as np
import pytest

from intentd.server.decode import best_tag_path, decode_entities, rank_intents, softmax
from intentd.server.labels import Labels
from intentd.server.tokenize import TextEncoder

LABELS = Labels(("a", "b", "c"), ("amount", "city"))  # tags: O B-amount I-amount B-city I-city


@pytest.fixture(scope="module")
def encoder():
    from intentd.models.config import default_base

    return TextEncoder.from_file(default_base() / "tokenizer.json", max_length=64)


def tag_probs(encoded, word_tags, n_tags=5):
    probs = np.full((encoded.word_token.max() + 2, n_tags), 0.01, dtype=np.float32)
    for w, tag in enumerate(word_tags):
        probs[encoded.word_token[w], tag] = 0.96
    return probs


def test_spans_are_code_points_over_unicode(encoder):
    text = "send 😀 €40 to São Paulo"
    enc = encoder.encode([text]).texts[0]
    words = [text[s:e] for s, e in enc.word_spans]
    assert words == ["send", "😀", "€40", "to", "São", "Paulo"]  # € is a symbol, not punctuation
    tags = [0, 0, 1, 0, 3, 4]
    ents = decode_entities(tag_probs(enc, tags), text, enc, LABELS)
    assert [(e.type, e.text) for e in ents] == [("amount", "€40"), ("city", "São Paulo")]
    assert text[ents[1].start : ents[1].end] == "São Paulo"


def test_a_decomposed_accent_after_the_last_letter_stays_in_the_span(encoder):
    """NFD "Zoë" is "Zoe" + U+0308: the tokenizer strips the mark, so the last token ends before
    it; the entity must keep it (the value and the response said "Zoe")."""
    text = unicodedata.normalize("NFD", "dispute the charge from Café Zoë on my visa")
    enc = encoder.encode([text]).texts[0]
    tags = [0, 0, 0, 0, 3, 4, 0, 0, 0]
    ents = decode_entities(tag_probs(enc, tags), text, enc, LABELS)
    assert [e.text for e in ents] == [unicodedata.normalize("NFD", "Café Zoë")]
    assert unicodedata.normalize("NFC", ents[0].text) == "Café Zoë"
    # inside a word, the stripped accent leaves a gap between its pieces: still one word
    for name in ("Gülşen", "Señora Ramírez"):
        text = unicodedata.normalize("NFD", f"pay {name} now")
        enc = encoder.encode([text]).texts[0]
        assert [text[s:e] for s, e in enc.word_spans] == ["pay", *unicodedata.normalize("NFD", name).split(), "now"]
    text = "pay में now"  # a spacing mark (category Mc) after the last letter
    enc = encoder.encode([text]).texts[0]
    ents = decode_entities(tag_probs(enc, [0, 3, 0]), text, enc, LABELS)
    assert [e.text for e in ents] == ["में"]


def test_full_width_latin_is_read_as_ascii_with_offsets_into_the_callers_text(encoder):
    """East Asian keyboards type Latin letters full width; the model had read them as unknown."""
    wide = "ｗｈａｔ＇ｓ　ｍｙ ｓａｖｉｎｇｓ ｂａｌａｎｃｅ"
    narrow = "what's my savings balance"
    assert encoder.encode([wide]).input_ids.tolist() == encoder.encode([narrow]).input_ids.tolist()
    enc = encoder.encode([wide]).texts[0]
    assert [wide[s:e] for s, e in enc.word_spans] == ["ｗｈａｔ＇ｓ", "ｍｙ", "ｓａｖｉｎｇｓ", "ｂａｌａｎｃｅ"]


def test_sub_word_pieces_stay_in_their_word(encoder):
    text = "pay starbucksville now"
    enc = encoder.encode([text]).texts[0]
    assert [text[s:e] for s, e in enc.word_spans] == ["pay", "starbucksville", "now"]
    ents = decode_entities(tag_probs(enc, [0, 3, 0]), text, enc, LABELS)
    assert [(e.text, e.start, e.end) for e in ents] == [("starbucksville", 4, 18)]


def test_an_inside_tag_that_cannot_follow_is_repaired_from_the_probabilities(encoder):
    text = "boston paris 5"
    enc = encoder.encode([text]).texts[0]
    probs = np.full((enc.word_token.max() + 2, 5), 0.01, dtype=np.float32)
    rows = enc.word_token
    # word 1: I-city most likely, B-city second: the span starts there and runs on
    probs[rows[0], [0, 3, 4]] = [0.10, 0.30, 0.56]
    probs[rows[1], 4] = 0.96
    # word 3: I-amount after a city; B-amount is the better valid choice than O
    probs[rows[2], [0, 1, 2]] = [0.10, 0.30, 0.56]
    ents = decode_entities(probs, text, enc, LABELS)
    assert [(e.type, e.text) for e in ents] == [("city", "boston paris"), ("amount", "5")]
    assert ents[0].confidence == pytest.approx((0.30 + 0.96) / 2)
    # when O beats B-amount, the stray I-amount is read as O
    probs[rows[2], [0, 1, 2]] = [0.30, 0.10, 0.56]
    ents = decode_entities(probs, text, enc, LABELS)
    assert [(e.type, e.text) for e in ents] == [("city", "boston paris")]


def test_best_tag_path_matches_brute_force():
    """The Viterbi pass against every valid sequence of a small case, on random probabilities."""
    import itertools

    rng = np.random.default_rng(0)
    n_tags = 5

    def valid(seq):
        return all(t == 0 or t % 2 == 1 or (i > 0 and seq[i - 1] in (t - 1, t)) for i, t in enumerate(seq))

    for _ in range(50):
        probs = rng.dirichlet(np.ones(n_tags) * 0.5, size=4)
        best = max(
            (seq for seq in itertools.product(range(n_tags), repeat=4) if valid(seq)),
            key=lambda seq: sum(np.log(probs[i, t] + 1e-12) for i, t in enumerate(seq)),
        )
        assert tuple(best_tag_path(probs).tolist()) == best
    # a valid argmax is returned as it is
    probs = np.eye(n_tags)[[1, 2, 0, 3]] * 0.9 + 0.02
    assert best_tag_path(probs).tolist() == [1, 2, 0, 3]


def test_truncation_is_reported(encoder):
    long = " ".join(["word"] * 200)
    enc = encoder.encode([long, "short"])
    assert enc.texts[0].truncated and not enc.texts[1].truncated
    assert enc.input_ids.shape[1] == 64  # dynamic padding to the longest row, capped at max_length
    assert enc.attention_mask[1].sum() < 64


def test_softmax_temperature_and_ranking():
    logits = np.array([[2.0, 1.0, 0.0]])
    p1, p2 = softmax(logits.copy(), 1.0)[0], softmax(logits.copy(), 2.0)[0]
    assert p1.sum() == pytest.approx(1.0) and p2.max() < p1.max()
    ranked = rank_intents(p1, LABELS, top_k=2)
    assert [name for name, _ in ranked] == ["a", "b"]


def test_begin_tag_right_after_same_type_continues_the_span(encoder):
    text = "on the end of the month"
    enc = encoder.encode([text]).texts[0]
    # B-city on "the", and again on the second "the": one span, not two
    ents = decode_entities(tag_probs(enc, [0, 3, 4, 4, 3, 4]), text, enc, LABELS)
    assert [(e.type, e.text) for e in ents] == [("city", "the end of the month")]
    # an O word between them keeps two entities
    ents = decode_entities(tag_probs(enc, [3, 0, 3, 0, 3, 4]), text, enc, LABELS)
    assert [e.text for e in ents] == ["on", "end", "the month"]
