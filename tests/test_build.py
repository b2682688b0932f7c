"""The model factory end to end: train -> export -> calibrate -> `intentd eval`, and its failure modes."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from intentd.cli import main as cli_main
from intentd.models.build import BuildOptions, build
from intentd.models.config import TrainConfig, default_base
from intentd.models.data.schema import DataError
from intentd.models.export import QuantizationError
from intentd.server.artifact import ArtifactError, load_artifact
from intentd.server.engine import Engine
from intentd.server.model import Model
from intentd.server.tokenize import TextEncoder

from conftest import BANKING

REQUIRED_EVAL_KEYS = {
    "intent_accuracy", "oos_recall", "ood_auroc", "false_escalation_rate", "entity_f1", "exact_match", "n", "latency",
}


def intentd(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "intentd", *args], capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"intentd {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def intentd_here(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`intentd(...)` through the command's own `main` in this process: a new process spends
    longer importing torch than a tiny build takes. Tests of the command itself use `intentd`."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = cli_main(list(args))
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
    if check and code != 0:
        raise AssertionError(f"intentd {' '.join(args)} failed ({code}):\n{stderr.getvalue()[-3000:]}")
    return subprocess.CompletedProcess(["intentd", *args], code, stdout.getvalue(), stderr.getvalue())


def train_tiny(tiny_base: Path, out: Path, *flags: str, epochs: int = 1) -> dict:
    """A quick build on the tiny base (150 banking examples, the INT8 accuracy gate off) with
    `flags`; returns its manifest."""
    intentd_here("train", "--data", str(BANKING), "--out", str(out), "--base", str(tiny_base), "--epochs",
                 str(epochs), "--limit", "150", *flags, "--int8-max-drop", "100", "--quiet")
    return json.loads((out / "manifest.json").read_text())


def test_artifact_has_contract_files(banking_artifact: Path):
    manifest = json.loads((banking_artifact / "manifest.json").read_text())
    assert (banking_artifact / manifest["model"]).is_file()
    assert (banking_artifact / manifest["tokenizer"]).is_file()
    assert manifest["model"] == "model.int8.onnx" and (banking_artifact / manifest["model_fp32"]).is_file()
    assert manifest["batch_dependent"] == ["model.int8.onnx"]  # served one row at a time
    for key in ("model", "tokenizer", "labels", "domain", "ood_stats"):  # every file it uses is hashed
        assert manifest[key] in manifest["files"]
    assert set(manifest["versions"]) >= {"torch", "onnxruntime", "intentd"}
    escalation = yaml.safe_load((BANKING / "domain.yaml").read_text())["escalation"]
    ood = manifest["calibration"]["ood"]
    assert (ood["target_false_escalation_rate"], ood["budget_confidence"]) == (
        escalation["target_false_escalation_rate"], escalation["budget_confidence"])  # from domain.yaml
    # the served tokenizer pads dynamically, never to a fixed 128
    tok = json.loads((banking_artifact / manifest["tokenizer"]).read_text())
    assert tok["padding"]["strategy"] == "BatchLongest"


def test_eval_cli_on_serving_path(banking_artifact: Path, tmp_path: Path):
    plot = tmp_path / "eval.png"
    proc = intentd("eval", "--model", str(banking_artifact), "--data", str(BANKING / "test.jsonl"), "--json",
                   "--plot", str(plot))
    report = json.loads(proc.stdout)
    assert REQUIRED_EVAL_KEYS <= set(report)
    assert report["n"] == sum(1 for line in (BANKING / "test.jsonl").open() if line.strip())
    # a 3-epoch model on this domain: far above chance (1/28), below perfection is fine
    assert report["classification_accuracy"] > 0.8
    assert report["oos_recall"] > 0.5 and report["ood_auroc"] > 0.8
    assert 0 < report["entity_f1"] <= 1
    assert report["per_intent"] and report["per_entity_type"]["amount"]["support"] > 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_analyze_cli_json(banking_artifact: Path):
    proc = intentd("analyze", "--model", str(banking_artifact), "what is my savings balance", "--json")
    out = json.loads(proc.stdout)
    assert out["intents"][0]["name"] == "check_balance"
    assert any(e["type"] == "account" and e["text"] == "savings" for e in out["entities"])
    assert {"escalation", "response", "ood", "modelVersion"} <= set(out)  # AnalyzeResponse in proto3 JSON


def test_onnxruntime_writes_nothing_in_the_shared_temporary_folder(banking_artifact: Path, tmp_path: Path):
    """Importing onnxruntime wrote $TMPDIR/.ses (its telemetry file) following symlinks: a
    co-tenant's link at /tmp/.ses made the server overwrite the file it pointed to."""
    shared = tmp_path / "tmp"
    shared.mkdir()
    code = ("import os, sys; from pathlib import Path; from intentd.server.engine import Engine; "
            "Engine.load(Path(sys.argv[1])); print(os.environ['TMPDIR'])")
    proc = subprocess.run([sys.executable, "-c", code, str(banking_artifact)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TMPDIR": str(shared)}, check=True)
    assert proc.stdout.strip() == str(shared)  # the process's own temporary folder is put back
    assert list(shared.iterdir()) == []


def test_served_int8_and_optional_fp32_agree_on_most_queries(banking_artifact: Path):
    texts = [json.loads(line)["text"] for line in (BANKING / "valid.jsonl").open()][:120]
    manifest = load_artifact(banking_artifact).manifest
    int8 = Engine.load(banking_artifact)
    fp32 = Engine.load(banking_artifact, onnx_file=manifest["model_fp32"])
    assert int8.model.row_wise and not fp32.model.row_wise
    same = np.mean([a.prediction.intent == b.prediction.intent
                    for a, b in zip(fp32.analyze(texts), int8.analyze(texts))])
    assert same > 0.95


def test_served_graph_is_fused(banking_artifact: Path):
    import onnx

    graph = onnx.load(str(banking_artifact / "model.fp32.onnx")).graph
    ops = [node.op_type for node in graph.node]
    assert ops.count("Attention") == 6 and ops.count("EmbedLayerNormalization") == 1  # MiniLM-L6: 6 layers
    assert ops.count("LayerNormalization") == 12 and "SkipLayerNormalization" not in ops


def test_served_session_leaves_residual_layer_norms_unfused(banking_artifact: Path, tmp_path: Path):
    """onnxruntime would fuse each residual Add + LayerNormalization into SkipLayerNormalization
    at load, whose CPU kernel is the slower of the two; the served session keeps them apart."""
    import onnx

    from intentd.server.model import open_session, session_options

    options = session_options(1)
    options.optimized_model_filepath = str(tmp_path / "loaded.onnx")
    open_session(str(banking_artifact / "model.int8.onnx"), options, ["CPUExecutionProvider"])
    ops = [node.op_type for node in onnx.load(str(tmp_path / "loaded.onnx")).graph.node]
    assert "SkipLayerNormalization" not in ops and ops.count("LayerNormalization") == 12


def test_int8_leaves_its_coarsest_input_in_fp32_and_quantises_the_rest(banking_artifact: Path):
    """The one node whose input INT8 resolves worst (measured on validation texts at build time)
    stays an FP32 MatMul; every other projection is quantised."""
    import onnx

    from intentd.models.export import coarsest_inputs

    manifest = load_artifact(banking_artifact).manifest
    kept = manifest["quantization"]["kept_fp32"]
    assert len(kept) == 1
    (name, steps), = kept.items()
    texts = [json.loads(line)["text"] for line in (BANKING / "valid.jsonl").open()][:40]
    encoder = TextEncoder.from_file(banking_artifact / "tokenizer.json")
    ranked = coarsest_inputs(banking_artifact / "model.fp32.onnx", encoder, texts, keep=4)
    assert next(iter(ranked)) == name and list(ranked.values()) == sorted(ranked.values())
    assert 0 < steps < list(ranked.values())[1]
    nodes = {n.name: n.op_type for n in onnx.load(str(banking_artifact / "model.int8.onnx")).graph.node}
    assert nodes[name] == "MatMul"
    assert sum(op == "MatMul" for op in nodes.values()) == 1  # the rest run on INT8 kernels
    assert sum(op in ("MatMulInteger", "QAttention") for op in nodes.values()) >= 17


@pytest.mark.parametrize("damage", ["delete_model", "truncate_model", "corrupt_manifest", "swap_labels"])
def test_damaged_artifact_fails_clearly(banking_artifact: Path, tmp_path: Path, damage: str):
    art = tmp_path / "art"
    shutil.copytree(banking_artifact, art)
    manifest = json.loads((art / "manifest.json").read_text())
    if damage == "delete_model":
        (art / manifest["model"]).unlink()
        expected = "missing"
    elif damage == "truncate_model":
        data = (art / manifest["model"]).read_bytes()
        (art / manifest["model"]).write_bytes(data[: len(data) // 2])
        expected = "corrupt"
    elif damage == "corrupt_manifest":
        (art / "manifest.json").write_text("{not json")
        expected = "corrupt"
    else:
        (art / "labels.json").write_text('{"intents": [], "entity_types": []}')
        expected = "corrupt"
    with pytest.raises(ArtifactError, match=expected):
        Model.load(art)
    proc = intentd("analyze", "--model", str(art), "hello", check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("intentd: error:") and "Traceback" not in proc.stderr


@pytest.mark.parametrize("damage, expected", [
    ("link_inside", "a symbolic link: an artifact holds regular files only"),
    ("truncated_ood_stats", "ood_stats.npz: unreadable"),
    ("ood_stats_without_means", "ood_stats.npz: unreadable (no means)"),
    ("serve_max_length", "manifest.json: serve_max_length must be a whole number"),
])
def test_a_consistent_but_broken_artifact_fails_naming_the_file(banking_artifact: Path, tmp_path: Path, damage,
                                                               expected):
    """Damage the hashes cannot see (the manifest rebuilt over it): still one line naming the file."""
    from intentd.models.build import write_manifest

    art = tmp_path / "art"
    shutil.copytree(banking_artifact, art)
    manifest = json.loads((art / "manifest.json").read_text())
    if damage == "link_inside":
        (art / "labels.copy.json").write_bytes((art / "labels.json").read_bytes())
        (art / "labels.json").unlink()
        (art / "labels.json").symlink_to("labels.copy.json")
    elif damage == "truncated_ood_stats":
        data = (art / "ood_stats.npz").read_bytes()
        (art / "ood_stats.npz").write_bytes(data[: len(data) // 2])
    elif damage == "ood_stats_without_means":
        np.savez(art / "ood_stats.npz", precision=np.eye(3))
    else:
        manifest["serve_max_length"] = "lots"
    write_manifest(art, manifest)
    with pytest.raises(ArtifactError, match=re.escape(expected)):
        Engine.load(art)
    proc = intentd("analyze", "--model", str(art), "hello", check=False)
    assert proc.returncode == 2 and expected.split(":")[0] in proc.stderr and "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    """A random 2-layer BERT beside the real tokenizer: proves `--base` takes any local HF model folder."""
    from transformers import BertConfig, BertModel

    base = tmp_path_factory.mktemp("tiny-base")
    real = default_base()
    config = BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, max_position_embeddings=128)
    BertModel(config).save_pretrained(base)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(real / name, base / name)
    return base


def test_train_cli_with_other_base_and_parity(tiny_base: Path, tmp_path: Path):
    out = tmp_path / "tiny-artifact"
    proc = intentd("train", "--data", str(BANKING), "--out", str(out), "--base", str(tiny_base), "--epochs", "1",
                   "--limit", "200", "--int8-max-drop", "100", "--json", "--quiet")
    summary = json.loads(proc.stdout)
    assert summary["artifact"] == str(out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["training"]["parity_max_abs_diff"] < 1e-3
    assert manifest["training"]["base"] == str(tiny_base)
    assert Engine.load(out).analyze(["hello"])[0].prediction.intents
    # readable as any folder made here is (it was 0700: a service account serving it was refused)
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask


def test_a_base_with_only_a_vocab_txt_trains_and_serves_the_same_tokens(tiny_base: Path, tmp_path: Path):
    """Older Hugging Face models ship a vocab.txt and no tokenizer.json: the build makes one."""
    base = tmp_path / "vocab-only"
    shutil.copytree(tiny_base, base)
    (base / "tokenizer.json").unlink()
    out = tmp_path / "artifact"
    train_tiny(base, out)
    texts = ["Move $200 from checking to savings, naïvely!", "what's my balance"]
    served = TextEncoder.from_file(out / "tokenizer.json").encode(texts)
    reference = TextEncoder.from_file(tiny_base / "tokenizer.json").encode(texts)
    assert np.array_equal(served.input_ids, reference.input_ids)
    assert [t.word_spans for t in served.texts] == [t.word_spans for t in reference.texts]
    assert Engine.load(out).analyze(texts)[0].prediction.intents
    (base / "vocab.txt").unlink()
    proc = intentd("train", "--data", str(BANKING), "--out", str(tmp_path / "none"), "--base", str(base), check=False)
    assert proc.returncode != 0 and f"{base}: no tokenizer.json" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_the_time_budget_counts_from_the_process_start():
    """`--time-budget 1` ended at 63.7 s: the imports and the start before the build were not counted."""
    code = "import time; time.sleep(1.0); from intentd.models.build import _process_age_s; print(_process_age_s())"
    age = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert 1.0 <= age < 60


def test_budget_comes_from_flags_then_the_domain_then_the_defaults():
    from intentd.models.build import _budget
    from intentd.models.calibrate import BUDGET_CONFIDENCE, DEFAULT_TARGET_FER

    domain = {"escalation": {"target_false_escalation_rate": 0.02, "budget_confidence": 0.75}}
    assert _budget(None, None, None) == (DEFAULT_TARGET_FER, BUDGET_CONFIDENCE)
    assert _budget(None, None, domain) == (0.02, 0.75)
    assert _budget(0.1, 0.5, domain) == (0.1, 0.5)
    assert _budget(None, 0.6, {"escalation": {"target_false_escalation_rate": 0.04}}) == (0.04, 0.6)


def test_eval_prints_the_budget_beside_the_observed_rate(banking_artifact: Path):
    manifest = json.loads((banking_artifact / "manifest.json").read_text())
    budget = manifest["calibration"]["ood"]["target_false_escalation_rate"]
    out = intentd("eval", "--model", str(banking_artifact), "--data", str(BANKING / "test.jsonl")).stdout
    line = next(line for line in out.splitlines() if "false escalations" in line)
    assert f"(budget {100 * budget:.2f} %" in line and "out_of_distribution" in line
    # the reasons split the false escalations: they add up to the total (a rightful policy
    # escalation is reported apart, not as a reason of false ones)
    total = float(re.search(r"false escalations\s+([\d.]+) %", line).group(1))
    parts = [float(x) for x in re.findall(r"(?:out_of_distribution|low_confidence|ambiguous|policy|unknown) "
                                          r"([\d.]+) %", line)]
    assert sum(parts) == pytest.approx(total, abs=0.02 * len(parts) + 0.01)
    assert "routed by policy, rightly: " in line  # banking sends fraud reports to a human


def test_the_recipe_follows_the_data(banking_artifact: Path):
    """No data-set flags: entity spans in the data turn on trained embeddings and the tag head's
    sentence context; intent-only data leaves both off; an explicit option always wins."""
    from intentd.models.train import (BATCH_ENTITIES, BATCH_INTENTS, LABEL_SMOOTHING, TOKEN_DROPOUT, VALUE_SWAP,
                                      for_data)

    config = json.loads((banking_artifact / "manifest.json").read_text())["training"]["config"]
    assert config["freeze_embeddings"] is False and config["tag_context"] is True  # banking has entities
    decided = for_data(TrainConfig(), has_entities=False)
    assert decided.freeze_embeddings is True and decided.tag_context is False
    forced = for_data(TrainConfig(freeze_embeddings=True, tag_context=False), has_entities=True)
    assert forced.freeze_embeddings is True and forced.tag_context is False
    # label smoothing without out-of-scope training examples only (the fixture pins it off)
    assert for_data(TrainConfig(), has_entities=True).label_smoothing == LABEL_SMOOTHING > 0
    assert for_data(TrainConfig(), has_entities=False, has_out_of_scope=True).label_smoothing == 0.0
    assert for_data(TrainConfig(label_smoothing=0.0), has_entities=True).label_smoothing == 0.0
    # token dropout on intent-only data only
    assert config["token_dropout"] == 0.0
    assert for_data(TrainConfig(), has_entities=False).token_dropout == TOKEN_DROPOUT > 0
    assert for_data(TrainConfig(token_dropout=0.2), has_entities=True).token_dropout == 0.2
    # smaller batches and names swapped between examples with entity spans only (the fixture pins both)
    with_spans, intents_only = for_data(TrainConfig(), has_entities=True), for_data(TrainConfig(), has_entities=False)
    assert (with_spans.batch_size, with_spans.value_swap) == (BATCH_ENTITIES, VALUE_SWAP)
    assert (intents_only.batch_size, intents_only.value_swap) == (BATCH_INTENTS, 0.0)
    assert BATCH_ENTITIES < BATCH_INTENTS and VALUE_SWAP > 0
    asked = for_data(TrainConfig(batch_size=8, value_swap=0.0), has_entities=True)
    assert (asked.batch_size, asked.value_swap) == (8, 0.0)


def test_the_recipe_says_what_the_data_decided(banking_artifact: Path):
    """The build states its recipe, each part marked as decided by the data or asked for, and
    keeps the line in the manifest (the fixture asks for 3 passes and no label smoothing)."""
    from intentd.models.train import describe_recipe, for_data

    recipe = json.loads((banking_artifact / "manifest.json").read_text())["training"]["recipe"]
    assert recipe.startswith("recipe: 3 passes x ") and "[asked]" in recipe.split(",")[0]
    assert "word embeddings trained [data: entity spans]" in recipe
    assert "tag head reads the sentence embedding [data: entity spans]" in recipe
    assert "label smoothing 0 [asked]" in recipe and "options:" not in recipe
    assert "token dropout 0 [data: entity spans]" in recipe
    assert "batch 32 [asked]" in recipe and "value swap 0 [asked]" in recipe

    asked = TrainConfig(crf=True, rdrop_weight=0.5, patience=0)
    line = describe_recipe(asked, for_data(asked, has_entities=False, has_out_of_scope=True), False, True, 4, 469)
    assert line == ("recipe: 4 passes x 469 steps [data: no entity spans, its size], word embeddings frozen "
                    "[data: no entity spans], label smoothing 0 [data: out-of-scope examples], token dropout 0.1 "
                    "[data: no entity spans], batch 32 [data: no entity spans], outlier exposure 0.5; options: crf, "
                    "R-Drop 0.5")


def test_tag_context_and_checkpoint_averaging_export_with_parity(tiny_base: Path, tmp_path: Path):
    out = tmp_path / "ctx"
    training = train_tiny(tiny_base, out, "--tag-context", "--average-last", "2", epochs=2)["training"]
    assert training["config"]["tag_context"] is True and training["config"]["average_last"] == 2
    assert training["parity_max_abs_diff"] < 1e-3
    # either an epoch won (1 or 2) or the mean of both did (epoch 0, two epochs averaged)
    assert (training["best_epoch"], training["averaged_epochs"]) in {(1, 0), (2, 0), (0, 2)}
    assert Engine.load(out).analyze(["send 40 dollars to my savings"])[0].prediction.intents


def test_cls_pooling_trains_and_exports_with_parity(tiny_base: Path, tmp_path: Path):
    """`--pooling cls`: the sentence embedding the graph outputs (and the OOD scorer reads) is the
    first token's state, not the mean; the export keeps parity either way."""
    import torch

    from intentd.models.joint import JointModel

    out = tmp_path / "cls"
    training = train_tiny(tiny_base, out, "--pooling", "cls")["training"]
    assert training["config"]["pooling"] == "cls" and training["parity_max_abs_diff"] < 1e-3
    ids = torch.tensor([[101, 2000, 2001, 102, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 0]])
    embeddings = {}
    for pooling in ("mean", "cls"):
        model = JointModel.from_base(tiny_base, 3, 3, pooling=pooling).eval()
        hidden = model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        embeddings[pooling] = (model(ids, mask)[2], hidden)
    torch.testing.assert_close(embeddings["cls"][0], embeddings["cls"][1][:, 0])
    torch.testing.assert_close(embeddings["mean"][0], embeddings["mean"][1][:, :4].mean(1))


def test_checkpoint_average_is_the_mean_of_the_weights():
    import torch

    from intentd.models.train import _accumulate

    layer = torch.nn.Linear(2, 2)
    first = {k: v.clone() for k, v in layer.state_dict().items()}
    total = _accumulate(None, layer)
    with torch.no_grad():
        layer.weight.mul_(3.0)
        layer.bias.add_(1.0)
    total = _accumulate(total, layer)
    torch.testing.assert_close(total["weight"] / 2, first["weight"] * 2.0)
    torch.testing.assert_close(total["bias"] / 2, first["bias"] + 0.5)


def test_int8_gate_fails_loudly_and_leaves_nothing(tiny_base: Path, tmp_path: Path):
    out = tmp_path / "never"
    options = BuildOptions(data=BANKING, out=out, train=TrainConfig(base=str(tiny_base), epochs=1, limit=100,
                                                                     progress=False),
                           int8_max_drop=-1.0, progress=False)  # any result breaks a negative limit
    with pytest.raises(QuantizationError, match="INT8 loses"):
        build(options)
    assert not out.exists() and not any(p.name.startswith(".never") for p in tmp_path.iterdir())


def test_bad_data_dir_is_a_clear_cli_error(tmp_path: Path):
    (tmp_path / "train.jsonl").write_text('{"text": "hi", "intent": "greet"}\n{"text": "", "intent": "x"}\n')
    (tmp_path / "valid.jsonl").write_text('{"text": "hi", "intent": "greet"}\n')
    proc = intentd("train", "--data", str(tmp_path), "--out", str(tmp_path / "a"), check=False)
    assert proc.returncode == 2
    assert "train.jsonl:2" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("flags, message", [
    (["--lr", "nan"], "argument --lr: 'nan' is not a finite number"),
    (["--time-budget", "inf"], "argument --time-budget: 'inf' is not a finite number"),
    (["--ood-loss-weight", "nan"], "'nan' is not a finite number"),
    (["--lr", "0"], "--lr must be more than 0"),
    (["--max-length", "0"], "--max-length must be at least 8"),
    (["--limit", "0"], "--limit must be at least 1"),
    (["--average-last", "-1"], "--average-last must be at least 0"),
    (["--tag-layers", "0"], "--tag-layers must be at least 1"),
])
def test_train_flags_out_of_range_are_one_line_before_any_work(tmp_path: Path, flags, message):
    proc = intentd("train", "--data", str(BANKING), "--out", str(tmp_path / "a"), *flags, check=False)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "a").exists()


def test_a_domain_file_that_is_not_yaml_names_its_line_before_training(tmp_path: Path):
    shutil.copytree(BANKING, tmp_path / "data")
    (tmp_path / "data" / "domain.yaml").write_text("intents:\n  check_balance: {response: [oops\n")
    proc = intentd("train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "a"), check=False)
    assert proc.returncode == 2 and "epoch" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"intentd: error: {tmp_path / 'data' / 'domain.yaml'}:3: invalid YAML: expected ',' or ']', but got '<stream end>'"]


def test_lora_option_trains_and_exports(tiny_base: Path, tmp_path: Path):
    out = tmp_path / "lora"
    intentd("train", "--data", str(BANKING), "--out", str(out), "--base", str(tiny_base), "--epochs", "1",
            "--limit", "120", "--lora", "--int8-max-drop", "100", "--quiet")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["training"]["config"]["lora"] is True
    assert manifest["training"]["parity_max_abs_diff"] < 1e-3


def test_invalid_template_fails_before_training_and_at_load(banking_artifact: Path, tmp_path: Path):
    import yaml

    from intentd.models.build import write_manifest

    data = tmp_path / "data"
    shutil.copytree(BANKING, data)
    domain = yaml.safe_load((data / "domain.yaml").read_text())
    domain["intents"]["check_balance"]["response"] = "Your {acount} balance"
    (data / "domain.yaml").write_text(yaml.safe_dump(domain))
    proc = intentd("train", "--data", str(data), "--out", str(tmp_path / "a"), check=False)
    assert proc.returncode == 2 and "domain.yaml" in proc.stderr and "{acount}" in proc.stderr
    assert "epoch" not in proc.stderr  # rejected before any training

    art = tmp_path / "art"
    shutil.copytree(banking_artifact, art)
    shutil.copy(data / "domain.yaml", art / "domain.yaml")
    write_manifest(art, json.loads((art / "manifest.json").read_text()))  # a consistent but invalid artifact
    with pytest.raises(ArtifactError, match="acount"):
        Engine.load(art)


def test_calibrate_cli_changes_budget_and_version(banking_artifact: Path, tmp_path: Path):
    art = tmp_path / "art"
    shutil.copytree(banking_artifact, art)
    before = json.loads((art / "manifest.json").read_text())
    proc = intentd("calibrate", "--model", str(art), "--data", str(BANKING), "--target-fer", "0.10", "--json")
    out = json.loads(proc.stdout)
    assert out["target_false_escalation_rate"] == 0.10
    assert out["version"] != before["version"]
    # a looser budget escalates more in-scope validation queries, and the artifact still verifies
    assert out["valid"]["false_escalation_rate"] >= before["calibration"]["ood"]["valid"]["false_escalation_rate"]
    assert Model.load(art).ood.threshold == pytest.approx(out["threshold"])
    # the same budget held on average (0.5) instead of with 90 % confidence allows more escalations
    looser = json.loads(intentd_here("calibrate", "--model", str(art), "--data", str(BANKING), "--target-fer",
                                     "0.10", "--budget-confidence", "0.5", "--json").stdout)
    ood = json.loads((art / "manifest.json").read_text())["calibration"]["ood"]
    assert ood["budget_confidence"] == 0.5 and out["valid"]["false_escalation_rate"] <= 0.10
    assert looser["threshold"] <= out["threshold"]
    assert looser["valid"]["false_escalation_rate"] >= out["valid"]["false_escalation_rate"]
    for flag, value in (("--budget-confidence", "1"), ("--target-fer", "1.5")):
        proc = intentd_here("calibrate", "--model", str(art), "--data", str(BANKING), flag, value, check=False)
        assert proc.returncode == 2 and flag in proc.stderr


def test_calibrate_refuses_another_domains_data_and_leaves_the_artifact(banking_artifact: Path, tmp_path: Path):
    """Calibrated on data of intents it does not have, a model escalated 97 % of its own queries."""
    art = tmp_path / "art"
    shutil.copytree(banking_artifact, art)
    before = (art / "manifest.json").read_bytes()
    other = tmp_path / "other"
    other.mkdir()
    for split in ("train", "valid"):
        rows = [json.loads(line) for line in (BANKING / f"{split}.jsonl").read_text().splitlines()]
        (other / f"{split}.jsonl").write_text("".join(
            json.dumps({**row, "intent": "track_parcel"} if not row.get("ood") and i % 3 == 0 else row) + "\n"
            for i, row in enumerate(rows)))
    proc = intentd("calibrate", "--model", str(art), "--data", str(other), check=False)
    assert proc.returncode == 2 and "intent this model does not know ('track_parcel' at line 1" in proc.stderr, \
        proc.stderr
    assert (art / "manifest.json").read_bytes() == before


def test_out_never_replaces_a_folder_that_is_not_an_artifact(tmp_path: Path):
    """`--out` is replaced by the new artifact: the data folder, a folder holding it, or any
    folder with other files in it is refused before training, and nothing is touched."""
    project = tmp_path / "project"
    shutil.copytree(BANKING, project / "data")
    (project / "notes.txt").write_text("mine\n")
    for out, needle in ((project, "holding"), (project / "data", "holding"), (tmp_path, "holding")):
        proc = intentd_here("train", "--data", str(project / "data"), "--out", str(out), "--quiet", check=False)
        assert proc.returncode == 2 and needle in proc.stderr, proc.stderr
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    proc = intentd("train", "--data", str(project / "data"), "--out", str(other), "--quiet", check=False)
    assert proc.returncode == 2 and "neither empty nor an artifact" in proc.stderr
    assert (project / "notes.txt").read_text() == "mine\n" and (other / "keep.txt").is_file()
    assert sorted(p.name for p in (project / "data").iterdir()) == sorted(p.name for p in BANKING.iterdir())


def test_out_may_be_an_earlier_artifact_or_an_empty_folder(banking_artifact: Path, tmp_path: Path):
    from intentd.models.build import check_out

    data = tmp_path / "data"
    shutil.copytree(BANKING, data)
    (tmp_path / "empty").mkdir()
    check_out(tmp_path / "empty", [data])
    check_out(tmp_path / "new" / "art", [data])
    check_out(banking_artifact, [data])
    with pytest.raises(DataError, match="not a folder"):
        (tmp_path / "file").write_text("x")
        check_out(tmp_path / "file", [data])


def test_a_limit_too_small_to_hold_every_intent_is_one_clear_line(tmp_path: Path):
    """`--limit 20` on 26 intents failed as mislabelled valid data (or, past that, as templates
    naming intents the model lacks): the sample takes one example of each intent first."""
    proc = intentd("train", "--data", str(BANKING), "--out", str(tmp_path / "sample"), "--limit", "20", check=False)
    intents = len({json.loads(line)["intent"] for line in open(BANKING / "train.jsonl") if '"ood"' not in line})
    assert proc.returncode == 2 and not (tmp_path / "sample").exists()
    assert proc.stderr.strip().splitlines()[-1].startswith(
        f"intentd: error: --limit 20 is fewer than the {intents} intents of train.jsonl")
