"""What an artifact is checked for at load: the graph against labels.json, ood_stats.npz and
serve_max_length; the manifest's types and ranges; what serve and a reload say about it. Also what a
reload keeps: the served file in the version, the batch-time estimates across a swap."""

from __future__ import annotations

import asyncio
import io
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

from intentd.cli import main
from intentd.protogen import import_stubs
from intentd.server.artifact import ArtifactError
from intentd.server.batcher import Batcher
from intentd.server.config import Settings
from intentd.server.engine import Engine
from intentd.server.metrics import Metrics

from servers import WAIT_S, ThreadServer

pb2, pb2_grpc = import_stubs()
DROP = object()  # a manifest key to remove


def _link(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system
        shutil.copy2(src, dst)


def variant(src: Path, dst: Path, files: dict[str, bytes] | None = None, **manifest_changes) -> Path:
    """A hard-linked copy of an artifact, `files` written anew (never through a link into `src`),
    its manifest changed, re-hashed and re-versioned as `intentd train` writes it."""
    from intentd.models.build import write_manifest

    shutil.copytree(src, dst, copy_function=_link)
    for name, data in (files or {}).items():
        (dst / name).unlink(missing_ok=True)
        (dst / name).write_bytes(data)
    manifest = json.loads((dst / "manifest.json").read_text())
    for key, value in manifest_changes.items():
        if value is DROP:
            manifest.pop(key, None)
        else:
            manifest[key] = value
    (dst / "manifest.json").unlink()
    write_manifest(dst, manifest)
    return dst


def labels_of(artifact: Path) -> dict:
    return json.loads((artifact / "labels.json").read_text())


def with_entity_types(labels: dict, types: list[str]) -> bytes:
    labels = {**labels, "entity_types": types, "tags": ["O"] + [f"{p}-{t}" for t in types for p in "BI"]}
    return json.dumps(labels).encode()


def npz(**arrays) -> bytes:
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def ood_stats_of(artifact: Path) -> dict[str, np.ndarray]:
    with np.load(artifact / "ood_stats.npz") as stats:
        return dict(stats)


def calibration_of(artifact: Path) -> dict:
    return json.loads((artifact / "manifest.json").read_text())["calibration"]


def edited_graph(artifact: Path, edit) -> bytes:
    """The served INT8 graph, edited with the onnx package (training's, not serving's)."""
    onnx = pytest.importorskip("onnx")
    graph = onnx.load_from_string((artifact / "model.int8.onnx").read_bytes())
    edit(graph.graph)
    return graph.SerializeToString()


def load_error(artifact: Path, **kwargs) -> str:
    with pytest.raises(ArtifactError) as err:
        Engine.load(artifact, **kwargs)
    return str(err.value)


# -- the graph against the files that describe it ----------------------------------------------------

def test_labels_that_do_not_match_the_graph_fail_at_load(banking_artifact, tmp_path):
    labels = labels_of(banking_artifact)
    n_intents, types = len(labels["intents"]), labels["entity_types"]
    more = variant(banking_artifact, tmp_path / "more", {"labels.json": json.dumps(
        {**labels, "intents": labels["intents"] + ["zzz_extra"]}).encode()})
    assert load_error(more) == (f"{more / 'labels.json'}: {n_intents + 1} intents, but model.int8.onnx computes "
                                f"intent_logits {n_intents} wide")
    fewer = variant(banking_artifact, tmp_path / "fewer", {"labels.json": with_entity_types(labels, types[:-1])})
    assert load_error(fewer) == (f"{fewer / 'labels.json'}: {len(types) - 1} entity types ({2 * len(types) - 1} BIO "
                                 f"tags), but model.int8.onnx computes tag_logits {2 * len(types) + 1} wide")


def test_ood_stats_that_do_not_match_the_graph_fail_at_load(banking_artifact, tmp_path):
    stats = ood_stats_of(banking_artifact)
    dim = stats["means"].shape[1]
    narrow = variant(banking_artifact, tmp_path / "narrow", {"ood_stats.npz": npz(
        means=stats["means"][:, :-1], precision=stats["precision"][:-1, :-1], bank=stats["bank"][:, :-1])})
    assert load_error(narrow) == (f"{narrow / 'ood_stats.npz'}: statistics of {dim - 1}-dimensional embeddings, but "
                                  f"model.int8.onnx computes sentence_embedding {dim} wide")
    short = variant(banking_artifact, tmp_path / "short",
                    {"ood_stats.npz": npz(**{**stats, "means": stats["means"][1:]})})
    assert load_error(short) == (f"{short / 'ood_stats.npz'}: means has {len(stats['means']) - 1} rows, labels.json "
                                 f"{len(stats['means'])} intents")


def test_a_graph_without_an_output_or_with_other_inputs_fails_at_load(banking_artifact, tmp_path):
    def drop_embedding(graph):
        del graph.output[2]

    def rename_input(graph):
        graph.input[0].name = "ids"
        for node in graph.node:
            node.input[:] = ["ids" if name == "input_ids" else name for name in node.input]

    two = variant(banking_artifact, tmp_path / "two",
                  {"model.int8.onnx": edited_graph(banking_artifact, drop_embedding)})
    assert load_error(two) == (f"{two / 'model.int8.onnx'}: has no output sentence_embedding (it has intent_logits, "
                               "tag_logits)")
    renamed = variant(banking_artifact, tmp_path / "renamed",
                      {"model.int8.onnx": edited_graph(banking_artifact, rename_input)})
    assert load_error(renamed).startswith(f"{renamed / 'model.int8.onnx'}: takes ids tensor(int64), attention_mask")


def test_outputs_are_read_by_name_not_position(banking_artifact, tmp_path):
    def reorder(graph):
        outputs = list(graph.output)
        del graph.output[:]
        graph.output.extend([outputs[2], outputs[0], outputs[1]])

    reordered = variant(banking_artifact, tmp_path / "reordered",
                        {"model.int8.onnx": edited_graph(banking_artifact, reorder)})
    text = "send 50 dollars to john@example.com and call me at +1 415 555 0100"
    ours, theirs = Engine.load(reordered).analyze([text])[0], Engine.load(banking_artifact).analyze([text])[0]
    assert ours.prediction.intents == theirs.prediction.intents
    assert ours.prediction.entities == theirs.prediction.entities


def test_a_width_the_graph_leaves_symbolic_is_checked_by_a_forward_pass(banking_artifact, tmp_path):
    def symbolic_intents(graph):
        dim = graph.output[0].type.tensor_type.shape.dim[1]
        dim.ClearField("dim_value")
        dim.dim_param = "intents"

    labels = labels_of(banking_artifact)
    art = variant(banking_artifact, tmp_path / "symbolic", {
        "model.int8.onnx": edited_graph(banking_artifact, symbolic_intents),
        "labels.json": json.dumps({**labels, "intents": labels["intents"] + ["zzz_extra"]}).encode()})
    n = len(labels["intents"])
    assert load_error(art) == (f"{art / 'labels.json'}: {n + 1} intents, but model.int8.onnx computes intent_logits "
                               f"{n} wide")


def test_serve_max_length_past_the_position_embeddings_fails_at_load(banking_artifact, tmp_path):
    """A 1,399-character request failed in onnxruntime (INVALID_ARGUMENT) on an artifact whose
    serve_max_length (1000) is past the encoder's 512 positions: it now fails at load."""
    art = variant(banking_artifact, tmp_path / "long", serve_max_length=1000)
    for onnx_file in (None, "model.fp32.onnx"):
        served = onnx_file or "model.int8.onnx"
        assert load_error(art, onnx_file=onnx_file).startswith(
            f"{art / served}: fails on an input of 1000 tokens (serve_max_length 1000 in manifest.json")
    longest = variant(banking_artifact, tmp_path / "512", serve_max_length=512)
    assert Engine.load(longest).model.encoder.max_length == 512


def test_a_tokenizer_id_past_the_graphs_vocabulary_fails_at_load(banking_artifact, tmp_path):
    """A tokenizer.json mapping one word ("zebra") past the graph's 30,522 embeddings loaded and
    warmed up; a request with that word then failed in onnxruntime, and with it every request
    batched beside it (INTERNAL "inference failed")."""
    tokenizer = json.loads((banking_artifact / "tokenizer.json").read_text())
    tokenizer["model"]["vocab"]["zebra"] = 40000
    art = variant(banking_artifact, tmp_path / "zebra", {"tokenizer.json": json.dumps(tokenizer).encode()})
    assert load_error(art).startswith(f"{art / 'tokenizer.json'}: ids up to 40000, past model.int8.onnx's vocabulary")


def fails_on_token(token_id: int):
    """A graph edit: the same answers, and an onnxruntime error (a Gather out of its table) for
    any batch that holds `token_id`, as a row onnxruntime refuses for a reason no load check saw."""
    def edit(graph):
        from onnx import TensorProto, helper, numpy_helper

        producer = next(node for node in graph.node if "intent_logits" in node.output)
        producer.output[list(producer.output).index("intent_logits")] = "intent_logits_kept"
        graph.initializer.extend([numpy_helper.from_array(np.array(token_id, np.int64), "bad_id"),
                                  numpy_helper.from_array(np.array(10**6, np.int64), "far_away"),
                                  numpy_helper.from_array(np.zeros((1, 1), np.float32), "one_row")])
        graph.node.extend([
            helper.make_node("Equal", ["input_ids", "bad_id"], ["is_bad"]),
            helper.make_node("Cast", ["is_bad"], ["bad_at"], to=TensorProto.INT64),
            helper.make_node("Mul", ["bad_at", "far_away"], ["row_index"]),  # 0 everywhere, or past the table
            helper.make_node("Gather", ["one_row", "row_index"], ["gathered"], axis=0),
            helper.make_node("ReduceSum", ["gathered"], ["zero"], keepdims=0),
            helper.make_node("Add", ["intent_logits_kept", "zero"], ["intent_logits"]),
        ])
    return edit


def test_a_row_onnxruntime_refuses_fails_only_its_own_request(banking_artifact, tmp_path):
    """A request whose row failed in onnxruntime failed every request batched beside it
    (INTERNAL "inference failed"): an answer depended on its neighbours. The failed pass is run
    again in halves, and only the row that fails alone fails."""
    vocab = json.loads((banking_artifact / "tokenizer.json").read_text())["model"]["vocab"]
    art = variant(banking_artifact, tmp_path / "refuses_zebra",
                  {"model.int8.onnx": edited_graph(banking_artifact, fails_on_token(vocab["zebra"]))})
    texts = [f"send {i} dollars to savings" for i in range(10, 17)]
    texts.insert(3, "a zebra took my card")
    with ThreadServer(model=art, cache_size=0) as server:
        alone = [server.stub.Analyze(pb2.AnalyzeRequest(text=text), timeout=WAIT_S) for text in texts if "zebra" not in text]
        release = server.hold_model()  # every request queues, then goes in one batch
        calls = [server.stub.Analyze.future(pb2.AnalyzeRequest(text=text), timeout=WAIT_S) for text in texts]
        deadline = time.monotonic() + WAIT_S
        while server.app.runner.queued < len(texts) and time.monotonic() < deadline:
            time.sleep(0.01)
        release.set()
        outcomes = []
        for call in calls:
            try:
                outcomes.append(call.result())
            except grpc.RpcError as exc:
                outcomes.append(exc.code())
    assert outcomes[3] == grpc.StatusCode.INTERNAL
    answered = outcomes[:3] + outcomes[4:]
    assert all(a.timing.batch_size == len(texts) for a in answered)  # batched together, answered all the same
    assert [(a.intents[0].name, a.intents[0].confidence, [(e.type, e.text) for e in a.entities]) for a in answered] \
        == [(a.intents[0].name, a.intents[0].confidence, [(e.type, e.text) for e in a.entities]) for a in alone]


def test_a_text_the_graph_refuses_is_one_line_offline(banking_artifact, tmp_path, capsys):
    """`intentd analyze` and `intentd eval` on a text the graph fails on ended in onnxruntime's
    traceback; now one line naming the graph and the text, exit 2. Eval's other texts, batched
    with it, would be answered as alone (the same parts as the server's)."""
    vocab = json.loads((banking_artifact / "tokenizer.json").read_text())["model"]["vocab"]
    art = variant(banking_artifact, tmp_path / "refuses_zebra",
                  {"model.int8.onnx": edited_graph(banking_artifact, fails_on_token(vocab["zebra"]))})
    data = tmp_path / "test.jsonl"
    data.write_text('{"text": "what is my balance", "intent": "check_balance"}\n'
                    '{"text": "a zebra took my card", "intent": "report_lost_card"}\n')
    for argv in (["analyze", "--model", str(art), "a zebra took my card"], ["eval", "--model", str(art), "--data", str(data)]):
        assert main(argv) == 2
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert last.startswith(f"intentd: error: {art / 'model.int8.onnx'}: the model failed on the text "
                               "'a zebra took my card': ") and "INVALID_ARGUMENT" in last, last
    assert main(["analyze", "--model", str(art), "what is my balance"]) == 0


def test_a_tier_the_domain_does_not_list_is_said_at_load(banking_artifact, tmp_path, caplog):
    """`escalate: humans` (a typo of a listed tier) loaded in silence: the data checks warn of it
    at training, the server said nothing, and escalations went to a tier the backend lacks."""
    domain = (banking_artifact / "domain.yaml").read_text(encoding="utf-8")
    art = variant(banking_artifact, tmp_path / "tier",
                  {"domain.yaml": domain.replace("escalate: human", "escalate: humans", 1).encode()})
    with caplog.at_level("WARNING", logger="intentd.server.engine"):
        Engine.load(art)
    assert any(m.endswith("escalation tier(s) not listed in escalation.tiers: humans") for m in caplog.messages)


def test_a_tokenizer_of_another_build_fails_the_canary_at_load(banking_artifact, tmp_path):
    """A tokenizer.json of another model with the same vocabulary size (ids permuted) loaded, and
    every answer was wrong ("send 50 dollars to savings" handed to an agent). The build records
    each graph's answer to one text; a load that answers it otherwise fails."""
    import random

    manifest = json.loads((banking_artifact / "manifest.json").read_text())
    assert set(manifest["canary"]["intent_logits"]) == {"model.int8.onnx", "model.fp32.onnx"}
    for onnx_file in (None, "model.fp32.onnx"):
        Engine.load(banking_artifact, onnx_file=onnx_file)  # its own answers pass
    tokenizer = json.loads((banking_artifact / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    words = sorted(vocab, key=vocab.get)[1000:]  # the special tokens and the first ids stay
    ids = [vocab[w] for w in words]
    random.Random(1).shuffle(ids)
    vocab.update(zip(words, ids))
    art = variant(banking_artifact, tmp_path / "permuted", {"tokenizer.json": json.dumps(tokenizer).encode()})
    assert "model.int8.onnx answers the build's canary text" in load_error(art)
    labels = labels_of(banking_artifact)  # the intents' names in another order: the same graph, other answers
    swapped = variant(banking_artifact, tmp_path / "renamed", {"labels.json": json.dumps(
        {**labels, "intents": labels["intents"][1:] + labels["intents"][:1]}).encode()})
    assert "labels.json of another build?" in load_error(swapped)


def test_a_domain_key_written_twice_fails_at_load_naming_its_line(banking_artifact, tmp_path):
    """YAML keeps the last of two equal keys: a second `greeting:` block replaced the first, its
    slots and prompts with it, and the server served what no one wrote."""
    text = (banking_artifact / "domain.yaml").read_text()
    doubled = text + "\nname: banking again\n"  # `name:` is also the file's first key
    art = variant(banking_artifact, tmp_path / "twice", files={"domain.yaml": doubled.encode()})
    line = doubled.count("\n")  # the last line holds the second `name:`
    assert load_error(art) == f"{art / 'domain.yaml'}:{line}: a key written twice"


# -- the manifest's types and ranges -----------------------------------------------------------------

def analyze_error(artifact: Path, capsys) -> str:
    """`intentd analyze` on the artifact: exit 2 and the one line it prints."""
    capsys.readouterr()
    assert main(["analyze", "--model", str(artifact), "what's my checking balance"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("key, value, says", [
    ("calibration", [], 'calibration must be an object (got [], a list)'),
    ("batch_dependent", 5, "batch_dependent must be a list of file names (got 5)"),
    ("batch_dependent", None, "batch_dependent must be a list of file names (got null)"),
    ("model", ["model.int8.onnx"], 'model must be a file name (got ["model.int8.onnx"], a list)'),
    ("partial_marker", 5, "partial_marker must be a token of the vocabulary or null (got 5)"),
    ("name", 5, "name must be a non-empty string on one line (got 5)"),
    ("name", "bank\ning", 'name must be a non-empty string on one line (got "bank\\ning", a string)'),
    ("format_version", "2", 'format_version must be a number (got "2", a string)'),
])
def test_manifest_values_of_the_wrong_type_are_one_line_naming_the_key(banking_artifact, tmp_path, capsys, key,
                                                                       value, says):
    art = variant(banking_artifact, tmp_path / "art", **{key: value})
    assert analyze_error(art, capsys) == f"intentd: error: {art / 'manifest.json'}: {says}"


def test_calibration_and_statistics_out_of_range_fail_at_load(banking_artifact, tmp_path, capsys):
    calibration = calibration_of(banking_artifact)
    ood = calibration["ood"]
    cases = {
        "calibration.temperature must be a finite number above 0 (got 0)": {"calibration": {**calibration,
                                                                                            "temperature": 0}},
        "calibration.temperature must be a finite number above 0 (got -1)": {"calibration": {**calibration,
                                                                                             "temperature": -1}},
        "no calibration, so ood_stats has no OOD threshold (calibration.ood)": {"calibration": DROP},
        "calibration.ood.threshold must be a finite number (an artifact calibrated by an earlier intentd may "
        "hold Infinity: rebuild it with `intentd train`) (got null)": {
            "calibration": {**calibration, "ood": {k: v for k, v in ood.items() if k != "threshold"}}},
        "calibration.ood.scale must map OOD methods (mahalanobis, msp, energy, knn) to finite numbers above 0": {
            "calibration": {**calibration, "ood": {**ood, "scale": {**ood["scale"], "mahalanobis": 0.0}}}},
    }
    for i, (says, changes) in enumerate(cases.items()):
        art = variant(banking_artifact, tmp_path / str(i), **changes)
        assert analyze_error(art, capsys).startswith(f"intentd: error: {art / 'manifest.json'}: {says}")
    stats = ood_stats_of(banking_artifact)
    nan = variant(banking_artifact, tmp_path / "nan", {"ood_stats.npz": npz(
        **{**stats, "precision": np.full_like(stats["precision"], math.nan)})})
    assert analyze_error(nan, capsys) == (f"intentd: error: {nan / 'ood_stats.npz'}: precision holds NaN or infinite "
                                          "values")


def test_ood_stats_that_is_not_an_npz_says_so(banking_artifact, tmp_path, capsys):
    art = variant(banking_artifact, tmp_path / "art", ood_stats="labels.json")
    assert analyze_error(art, capsys) == f"intentd: error: {art / 'labels.json'}: not an .npz archive (numpy.savez)"


def test_serve_exits_2_with_one_line_naming_the_file(banking_artifact, tmp_path):
    labels = labels_of(banking_artifact)
    mismatched = variant(banking_artifact, tmp_path / "mismatched",
                         {"labels.json": with_entity_types(labels, labels["entity_types"][:-1])})
    mistyped = variant(banking_artifact, tmp_path / "mistyped", calibration=[])
    for art, says in ((mismatched, f"{mismatched / 'labels.json'}: "),
                      (mistyped, f"{mistyped / 'manifest.json'}: calibration must be an object")):
        out = subprocess.run([sys.executable, "-m", "intentd", "serve", "--model", str(art), "--listen", "127.0.0.1:0"],
                             capture_output=True, text=True, timeout=WAIT_S)
        assert out.returncode == 2, out.stderr
        assert out.stderr.strip().splitlines()[-1].startswith(f"intentd: error: {says}")
        assert "Traceback" not in out.stderr


def test_reload_refuses_them_naming_the_file_and_key(banking_artifact, tmp_path, caplog):
    root = tmp_path / "models"
    variant(banking_artifact, root / "banking")
    labels = labels_of(banking_artifact)
    variant(banking_artifact, root / "labels", {"labels.json": json.dumps(
        {**labels, "intents": labels["intents"] + ["zzz_extra"]}).encode()})
    variant(banking_artifact, root / "calibration", calibration=[])
    variant(banking_artifact, root / "name", name=5)
    variant(banking_artifact, root / "temperature", calibration={**calibration_of(banking_artifact), "temperature": 0})
    # a domain.yaml emptied (a truncated copy: it loaded as no domain, and every answer lost its
    # response), of a wrong kind, or with a template naming no slot of its intent: they were all
    # "the artifact could not be loaded (details in the server log)"
    domain = (banking_artifact / "domain.yaml").read_text(encoding="utf-8")
    variant(banking_artifact, root / "empty-domain", {"domain.yaml": b""})
    variant(banking_artifact, root / "kind", {"domain.yaml": domain.replace("kind: pattern", "kind: patern", 1).encode()})
    variant(banking_artifact, root / "template", {"domain.yaml": domain.replace("{account}", "{acount}", 1).encode()})
    with ThreadServer(model=root / "banking", admin_uds=tmp_path / "admin.sock") as server:
        before = server.admin.GetModelInfo(pb2.GetModelInfoRequest(), timeout=10).version
        n = len(labels["intents"])
        for path, says in (("labels", f"labels.json: {n + 1} intents, but model.int8.onnx computes intent_logits {n} "
                                      "wide"),
                           ("calibration", "manifest.json: calibration must be an object"),
                           ("name", "manifest.json: name must be a non-empty string"),
                           ("temperature", "manifest.json: calibration.temperature must be a finite number above 0"),
                           ("empty-domain", "domain.yaml: empty"),
                           ("kind", "domain.yaml:"),
                           ("template", "domain.yaml: invalid response templates:")):
            reply = server.admin.ReloadModel(pb2.ReloadModelRequest(artifact_path=path), timeout=WAIT_S)
            assert not reply.ok and reply.version == before, path
            assert reply.error.startswith(f"reload failed: the artifact could not be loaded: {says}"), reply.error
            assert str(root) not in reply.error and "got" not in reply.error  # no paths, no values
            assert server.admin.GetModelInfo(pb2.GetModelInfoRequest(), timeout=10).version == before
        assert server.stub.Analyze(pb2.AnalyzeRequest(text="what's my balance"), timeout=10).model_version == before
    logged = [r.getMessage() for r in caplog.records if "failed; still serving" in r.getMessage()]
    assert any(f"{root / 'calibration' / 'manifest.json'}: calibration must be an object (got []" in m for m in logged)


# -- what a reload keeps -------------------------------------------------------------------------------

def test_another_onnx_file_answers_under_its_own_version(banking_artifact):
    version = json.loads((banking_artifact / "manifest.json").read_text())["version"]
    assert Engine.load(banking_artifact, onnx_file="model.int8.onnx").version == version  # the default, named
    with ThreadServer(model=banking_artifact, onnx_file="model.fp32.onnx") as server:
        info = server.stub.GetModelInfo(pb2.GetModelInfoRequest(), timeout=10)
        answer = server.stub.Analyze(pb2.AnalyzeRequest(text="what's my checking balance"), timeout=10)
        assert info.version == answer.model_version == f"{version}+model.fp32.onnx"
        assert server.metric("intentd_model_info", {"name": info.name, "version": info.version,
                                                    "provider": info.execution_provider}) == 1


def test_a_swap_to_a_graph_computed_another_way_starts_from_the_old_estimates(banking_artifact):
    """INT8 is computed a row at a time, FP32 batched: each has its own timing model. One that started
    from nothing took FP32's first batch after the swap as its whole estimate, however slow (a stall,
    or the burst of cache misses a swap brings), and shed requests as "too much work ahead" until
    later batches diluted it."""
    int8, fp32 = Engine.load(banking_artifact), Engine.load(banking_artifact, onnx_file="model.fp32.onnx")
    assert int8.model.row_wise and not fp32.model.row_wise
    settings = Settings(model=banking_artifact)
    budget = settings.slo_p95_ms / 1e3

    async def swap() -> tuple[float, float]:
        batcher = Batcher(int8, settings, Metrics())
        for _ in range(50):  # a warmed INT8 server: 2 ms a request of 16 tokens, 1 ms to post-process it
            batcher.timing.observe_forward([16], 0.002)
            batcher.timing.observe_post(1, 0.001)
        before = batcher.expected_wait_s(time.monotonic())
        batcher.swap(fp32)
        batcher.timing.observe_forward([16], 0.030)  # FP32's first batch, a slow one
        after = batcher.expected_wait_s(time.monotonic())
        await batcher.close()
        return before, after

    before, after = asyncio.run(swap())
    assert after < 1.5 * before < budget  # admitted, as before the swap


LOAD_AND_SAY_PEAK = """
import sys
from pathlib import Path
from intentd.server.artifact import ArtifactError, load_artifact

def peak_kb():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))

open("/proc/self/clear_refs", "w").write("5")  # the peak from here
before = peak_kb()
try:
    load_artifact(Path(sys.argv[1]))
except ArtifactError as exc:
    print(exc.public, (peak_kb() - before) // 1024)
"""


def test_a_wrong_file_is_refused_without_being_held_in_memory(banking_artifact, tmp_path):
    """A reload pointed at a folder with a 1.5 GB file in the model's place was refused, and the
    server was 1.5 GB larger (past a 512 MiB Pod's limit) after it: the file was read whole, then
    hashed. It is hashed a chunk at a time first."""
    art = tmp_path / "art"
    shutil.copytree(banking_artifact, art)
    model = art / json.loads((art / "manifest.json").read_text())["model"]
    model.unlink()
    with model.open("wb") as f:  # sparse: no disk taken
        f.truncate(400 * 1024 * 1024)
    out = subprocess.run([sys.executable, "-c", LOAD_AND_SAY_PEAK, str(art)], capture_output=True, text=True,
                         timeout=120)
    said, _, grown_mb = out.stdout.strip().rpartition(" ")
    assert said == f"{model.name}: corrupt (SHA-256 does not match manifest.json)", out
    assert int(grown_mb) < 100, out.stdout  # 400 MB more when read whole
