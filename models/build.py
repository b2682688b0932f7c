"""`intentd train`: data folder -> a complete, verified artifact directory.

Order: train (torch) -> export FP32 (fused) + parity -> INT8 + accuracy gate -> calibrate on the
served (INT8, row at a time) graph -> evaluate -> manifest, whose version is derived from its content. The artifact is assembled in a temporary folder and renamed into
place at the end, so a failed build never leaves a half-written artifact behind.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from intentd import __version__
from intentd.errors import IntentdError
from intentd.models.calibrate import BUDGET_CONFIDENCE, DEFAULT_TARGET_FER, RawSet, calibrate, intent_targets, run_raw
from intentd.models.data.checks import check_known_intents, check_training_data
from intentd.models.data.domain import load_domain
from intentd.models.data.schema import DataError, Example, read_jsonl
from intentd.models.config import RecipeError
from intentd.models.evaluate import evaluate
from intentd.models.export import (
    FP32_FILE,
    INT8_FILE,
    INT8_KEEP_FP32,
    INT8_MAX_ACCURACY_DROP,
    QuantizationError,
    check_parity,
    coarsest_inputs,
    export_fp32,
    quantize_int8,
)
from intentd.models.train import TrainConfig, base_encoder, train
from intentd.server.artifact import FILE_KEYS, FORMAT_VERSION, MANIFEST, derive_version, load_artifact, sha256
from intentd.server.engine import Engine
from intentd.server.escalation import EscalationPolicy
from intentd.server.model import CANARY_TEXT, Model
from intentd.server.tokenize import PARTIAL_MARKER, TextEncoder

log = logging.getLogger(__name__)

SERVE_MAX_LENGTH = 128
# the manifest keys naming the artifact's files: what the loader reads, and the FP32 graph `--onnx-file` may pick
LISTED_KEYS = (*FILE_KEYS, "model_fp32")
# the OOD statistics alternate between two names, so that `intentd calibrate` writes the new ones
# beside the ones manifest.json names, never over them (`_evaluate_and_write`); the other name holds
# the previous calibration's until the next one
OOD_STATS_FILES = ("ood_stats.npz", "ood_stats.alt.npz")


@dataclass
class BuildOptions:
    data: Path
    out: Path
    train: TrainConfig
    domain: Path | None = None  # domain.yaml; default: <data>/domain.yaml when present
    name: str | None = None
    target_fer: float | None = None  # None: the domain's escalation.target_false_escalation_rate, else 5 %
    budget_confidence: float | None = None  # None: the domain's escalation.budget_confidence, else 0.9
    int8_max_drop: float = INT8_MAX_ACCURACY_DROP
    progress: bool = True
    strict: bool = False  # warnings about the data or domain.yaml are errors


def load_splits(data: Path) -> dict[str, list[Example]]:
    if not data.is_dir():
        raise DataError("not a folder (expected train.jsonl, valid.jsonl and optionally test.jsonl)", data)
    splits = {}
    for split in ("train", "valid", "test"):
        path = data / f"{split}.jsonl"
        if path.is_file():
            splits[split] = read_jsonl(path)
        elif split != "test":
            raise DataError(f"missing {split}.jsonl (run `intentd data import` to make the splits)", data)
    if not any(not ex.ood for ex in splits["train"]):
        raise DataError("train.jsonl has no in-scope examples", data / "train.jsonl")
    if not any(not ex.ood for ex in splits["valid"]):  # calibration would have nothing to set the threshold on
        what = f"no in-scope example ({len(splits['valid'])} out-of-scope)" if splits["valid"] else "empty"
        raise DataError(f"{what}: training needs in-scope validation queries, as model selection and the OOD "
                        f"threshold are set on them (`intentd data import` carves them from train)",
                        data / "valid.jsonl")
    return splits


def check_out(out: Path, inputs: list[Path]) -> None:
    """`--out` is replaced by the new artifact, so it must be a new folder, an empty one or an
    earlier artifact, and must not hold the data it is built from: a user who passes the project
    folder (`--out .`) must not lose it. Checked before training, not after."""
    out = out.resolve()
    for path in inputs:
        path = path.resolve()
        if path == out or out in path.parents:
            raise DataError(f"--out would replace the folder holding {path}: choose another output folder", out)
    if not out.exists():
        return
    if not out.is_dir():
        raise DataError("--out exists and is not a folder", out)
    if any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise DataError(f"--out is a folder that is neither empty nor an artifact (no {MANIFEST}): it would be "
                        "replaced; choose a new folder, or remove it first", out)


def _process_age_s() -> float:
    """Seconds since this process started (Linux; 0 elsewhere): `--time-budget` counts the imports
    and the start too, as the person who set it does (a 1-minute build ended at 63.7 s)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat, open("/proc/uptime", encoding="ascii") as uptime:
            started_ticks = int(stat.read().rpartition(")")[2].split()[19])
            return max(0.0, float(uptime.read().split()[0]) - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def build(options: BuildOptions) -> dict:
    started = time.perf_counter() - _process_age_s()
    check_out(options.out, [options.data] + ([options.domain] if options.domain else []))
    splits = load_splits(options.data)
    domain_path = options.domain or (options.data / "domain.yaml")
    domain = load_domain(domain_path) if domain_path.is_file() else None
    if options.domain and domain is None:
        raise DataError("domain file not found", options.domain)
    # which copy: `data import` keeps an output folder's own domain.yaml, edited or not
    _say(options.progress)(f"domain: {domain_path}" if domain is not None else f"domain: none ({domain_path} not found)")
    encoder = base_encoder(options.train.base_path(), options.train.max_length)  # which texts it cuts
    for line in check_training_data(splits, domain, domain_path, strict=options.strict, encoder=encoder):
        print(line, file=sys.stderr)
    trained_intents = {ex.intent for ex in splits["train"] if not ex.ood}
    limit = options.train.limit
    groups = len(trained_intents) + any(ex.ood for ex in splits["train"])
    if limit and limit < groups:  # the sample takes one example of each intent first (`spread_sample`)
        raise RecipeError(f"--limit {limit} is fewer than the {len(trained_intents)} intents of train.jsonl"
                         f"{' and its out-of-scope group' if groups > len(trained_intents) else ''}: a sample "
                         f"needs one example of each (use --limit {groups} or more)")
    for split in ("valid", "test"):  # as `intentd eval` does: not scored as out-of-scope queries caught
        if split in splits:
            check_known_intents(splits[split], trained_intents, options.data / f"{split}.jsonl", "train.jsonl lacks")
    if domain is not None:  # fail before training, not after
        _check_domain(domain, domain_path, {ex.intent for ex in splits["train"] if not ex.ood})

    # what runs through the model after training (_assemble): train once (calibration), valid three
    # times (FP32 and INT8 gates, evaluation), test once
    after_rows = len(splits["train"]) + 3 * len(splits["valid"]) + len(splits.get("test", ()))
    trained = train(splits["train"], splits["valid"], options.train, started, after_rows)
    out = options.out
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    # mkdtemp's folder is its owner's alone (0700): a service account serving it from a shared
    # volume was refused. It gets what a folder made here gets (0755 under the usual umask 022).
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)
    try:
        manifest = _assemble(staging, trained, splits, domain, domain_path, options)
        check_out(out, [options.data])  # still an artifact (or gone) after the training
        previous = out.with_name(f".{out.name}.previous") if out.exists() else None
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
            out.rename(previous)  # the old artifact is removed only once the new one is in place
        staging.rename(out)
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _assemble(staging: Path, trained, splits, domain, domain_path: Path, options: BuildOptions) -> dict:
    say = _say(options.progress)
    valid_texts = [ex.text for ex in splits["valid"]][:512] or ["hello"]

    say("exporting ONNX (FP32) ...")
    fp32 = export_fp32(trained.model, trained.encoder, staging, valid_texts)
    parity = check_parity(trained.model, trained.encoder, fp32, valid_texts[:256])
    say(f"parity FP32 vs torch: max abs diff {parity:.2e}")
    say("quantising to INT8 ...")
    keep_fp32 = coarsest_inputs(fp32, trained.encoder, valid_texts[:128], keep=INT8_KEEP_FP32)
    say("left in FP32 (mean |x| in INT8 steps): " + ", ".join(f"{n} {v:.2f}" for n, v in keep_fp32.items()))
    quantize_int8(fp32, staging / INT8_FILE, keep_fp32)

    # what the server reads of a text, within the encoder's positions (a partial's marker is one more)
    positions = trained.model.encoder.config.max_position_embeddings
    serve_max_length = min(SERVE_MAX_LENGTH, positions - bool(trained.config.partial_utterances))
    serve_encoder = TextEncoder(trained.encoder.tokenizer, max_length=serve_max_length)
    serve_encoder.save(staging / "tokenizer.json")
    (staging / "labels.json").write_text(json.dumps(trained.labels.to_json(), indent=2) + "\n", encoding="utf-8")
    if domain is not None:
        shutil.copyfile(domain_path, staging / "domain.yaml")

    name = options.name or (domain or {}).get("name") or options.data.name
    manifest = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "version": "provisional",
        # Served: INT8, one row at a time (its dynamic activation scales would otherwise make a
        # query's answer depend on its batch neighbours); FP32 is an option for batched execution.
        "model": INT8_FILE,
        "model_fp32": FP32_FILE,
        "batch_dependent": [INT8_FILE],
        "tokenizer": "tokenizer.json",
        "labels": "labels.json",
        "domain": "domain.yaml" if domain is not None else None,
        "serve_max_length": serve_max_length,
    }
    if trained.config.partial_utterances:  # the server marks AnalyzeStream's partials for it
        manifest["partial_marker"] = PARTIAL_MARKER
    write_manifest(staging, manifest)

    # INT8 gate: validation intent accuracy from raw logits; the INT8 pass is reused for calibration
    valid = splits["valid"]
    in_scope, targets = intent_targets(valid, trained.labels.intents)
    raw, accuracy, canary = {}, {}, {}
    for file in (FP32_FILE, INT8_FILE):
        model = Model.load(staging, model=file)
        raw[file] = run_raw(model, [ex.text for ex in valid])
        accuracy[file] = float(np.mean(raw[file].logits[in_scope].argmax(-1) == targets)) if in_scope.any() else 0.0
        canary[file] = [round(float(x), 4) for x in run_raw(model, [CANARY_TEXT]).logits[0]]
    drop = accuracy[FP32_FILE] - accuracy[INT8_FILE]
    say(f"valid intent accuracy: FP32 {accuracy[FP32_FILE]:.4f}, INT8 {accuracy[INT8_FILE]:.4f}")
    # a small validation split cannot resolve half a point: one flipped query more is always allowed
    limit = options.int8_max_drop + 1.0 / max(1, int(in_scope.sum()))
    if drop > limit:
        raise QuantizationError(
            f"INT8 loses {100 * drop:.2f} points of validation intent accuracy "
            f"(limit {100 * limit:.2f}); FP32 {accuracy[FP32_FILE]:.4f} vs INT8 {accuracy[INT8_FILE]:.4f}"
        )

    say("calibrating (temperature, OOD statistics, threshold) on the served model ...")
    stats = _calibrate_into(Model.load(staging), manifest, splits,
                            _budget(options.target_fer, options.budget_confidence, domain), domain,
                            valid_raw=raw[INT8_FILE])
    manifest.update(
        {
            "quantization": {"valid_accuracy": accuracy, "kept_fp32": keep_fp32},
            # what each graph answers one fixed text, with this tokenizer and these labels: a load
            # checks it, so files of two builds never serve together (server/model.py)
            "canary": {"text": CANARY_TEXT, "intent_logits": canary,
                       "intent": trained.labels.intents[int(np.argmax(canary[INT8_FILE]))]},
            "training": trained.summary() | {"parity_max_abs_diff": parity},
            "data": {split: len(rows) for split, rows in splits.items()},
            "versions": _versions(),
        }
    )
    _evaluate_and_write(staging, manifest, stats, splits, say)
    return manifest


def recalibrate(artifact: Path, data: Path, target_fer: float | None = None, progress: bool = True,
                budget_confidence: float | None = None) -> dict:
    """`intentd calibrate`: refit calibration and the OOD threshold of an existing artifact (no
    retraining), e.g. to change the escalation budget. The version changes with the calibration.
    Nothing in the folder changes until the new state is complete (`_evaluate_and_write`)."""
    splits = load_splits(data)
    model = Model.load(artifact)  # verifies every file, and the graph against labels.json, before the data
    _check_calibration_data(splits, model.labels.intents, data)
    loaded = model.artifact
    manifest = dict(loaded.manifest)
    stats = _calibrate_into(model, manifest, splits, _budget(target_fer, budget_confidence, loaded.domain),
                            loaded.domain)
    _evaluate_and_write(artifact, manifest, stats, splits, _say(progress))
    return manifest


def _check_calibration_data(splits: dict, intents: tuple[str, ...], data: Path) -> None:
    """Calibrating on another domain's data rewrote this one's threshold; on data that lacks some
    of the model's intents it left their OOD statistics empty (a zero mean, no k-NN rows), so their
    queries read as out of scope: OOS recall on test fell from 76.5 % to 34.6 % with 2 of 28
    intents present. Both refused."""
    for split, examples in splits.items():
        check_known_intents(examples, intents, data / f"{split}.jsonl")
    present = {ex.intent for ex in splits["train"] if not ex.ood}
    missing = [intent for intent in intents if intent not in present]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise DataError(f"no in-scope example of {len(missing)} of the model's {len(intents)} intents ({shown}): "
                        "an intent's OOD statistics are fitted on its examples, and without them its queries read "
                        "as out of scope; calibrate on data with every intent the model was trained on",
                        data / "train.jsonl")


def _budget(rate: float | None, confidence: float | None, domain: dict | None) -> tuple[float, float]:
    """(target false-escalation rate, the confidence that it holds): flags, else the domain's
    `escalation:` section, else the defaults."""
    section = (domain or {}).get("escalation") or {}
    return (float(rate if rate is not None else section.get("target_false_escalation_rate", DEFAULT_TARGET_FER)),
            float(confidence if confidence is not None else section.get("budget_confidence", BUDGET_CONFIDENCE)))


def _calibrate_into(
    model: Model, manifest: dict, splits: dict, budget: tuple[float, float], domain: dict | None,
    valid_raw: RawSet | None = None
) -> dict[str, np.ndarray]:
    """Fit the temperature, OOD statistics and threshold on the served model into `manifest`,
    which names the statistics' new file; returns them, for `_evaluate_and_write` to write."""
    target_fer, confidence = budget
    calibration, stats = calibrate(model, splits["train"], splits["valid"], target_fer, valid_raw,
                                   EscalationPolicy(domain), confidence)
    unused = next(name for name in OOD_STATS_FILES if name != manifest.get("ood_stats"))
    manifest.update({"calibration": calibration, "ood_stats": unused})
    return stats


def _evaluate_and_write(root: Path, manifest: dict, stats: dict[str, np.ndarray], splits: dict, say) -> None:
    """Headline metrics on valid (and test) through the serving path with the new calibration,
    then the artifact written so that a loader (a hot reload too) reads the old one or the new
    one, wherever this stops: the statistics under the name the manifest on disk does not use,
    then manifest.json (atomically). The old statistics stay, for a loader that has just read
    the old manifest."""
    artifact = dataclasses.replace(load_artifact(root), manifest=manifest, ood_stats=stats)  # as it will be
    served = Engine(Model(artifact), root)
    metrics = {"valid": _headline(evaluate(served, splits["valid"], latency=False))}
    if "test" in splits:
        say("evaluating on test ...")
        metrics["test"] = _headline(evaluate(served, splits["test"], latency=False))
    manifest["metrics"] = metrics
    manifest["created"] = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    path = root / manifest["ood_stats"]
    path.unlink(missing_ok=True)  # the calibration before last: a new file, never written through a hard link
    np.savez(path, **stats)
    write_manifest(root, manifest)


def _headline(report: dict) -> dict:
    keys = ("n", "intent_accuracy", "classification_accuracy", "entity_f1", "exact_match", "oos_recall",
            "false_escalation_rate", "ood_auroc")
    return {k: report[k] for k in keys}


def write_manifest(root: Path, manifest: dict) -> None:
    """Hash the files the manifest names (LISTED_KEYS), derive the version from the result, and
    write manifest.json last (atomically). Any other file in the folder (notes, a leftover
    temporary file, a link) is no part of the artifact: neither listed nor required."""
    named = [manifest.get(key) for key in LISTED_KEYS]  # a value of the wrong type: for the loader to refuse
    manifest["files"] = {name: sha256(root / name) for name in sorted({n for n in named if isinstance(n, str) and n})}
    manifest["version"] = derive_version(json.loads(json.dumps(manifest)))  # as the loader will read it
    tmp = root / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(root / MANIFEST)


def _check_domain(domain: dict, path: Path, intents: set[str]) -> None:
    from intentd.server.resolve import Resolver
    from intentd.server.respond import validate_templates

    try:
        validate_templates(domain, sorted(intents))
        Resolver(domain)
    except IntentdError as exc:
        raise DataError(str(exc), path) from None


def _versions() -> dict:
    import onnx
    import torch

    from intentd.server.ortimport import onnxruntime as _ort

    onnxruntime = _ort()
    import transformers

    return {
        "intentd": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def _say(enabled: bool):
    def say(message: str) -> None:
        if enabled:
            from tqdm import tqdm

            tqdm.write(message, file=sys.stderr)
        log.info(message)

    return say
