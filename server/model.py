"""The ONNX part of the served model: one onnxruntime session, its tokenizer, and decoding of its
raw outputs (intent ranking, entity spans, OOD scores). No torch.

`encode`, `infer` and `decode` are separate stages; `server/engine.py` chains them with entity
resolution and responses into the one path that eval, analyze and the server share.

The graph is checked against the files that describe it when it loads (`_check_graph`): its
inputs, its outputs' widths against labels.json and ood_stats.npz, and an input of
serve_max_length tokens, so a mismatched artifact fails naming the file, not a request.
"""

from __future__ import annotations

import itertools
import logging
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .artifact import Artifact, ArtifactError, load_artifact
from .config import DEFAULT_PROVIDERS, rows_side_by_side, usable_cores
from .decode import Prediction, decode_entities, rank_intents, softmax
from .ood import OODScorer
from .ortimport import onnxruntime
from .threads import named_pool
from .tokenize import EncodedBatch, TextEncoder

ort = onnxruntime()  # its telemetry file kept out of the shared temporary folder (ortimport.py)

log = logging.getLogger(__name__)

# onnxruntime fusions left off at load on CPU: its CPU SkipLayerNormalization kernel took 5-8x the
# time of the Add + LayerNormalization it replaces (models/export.py `_optimize` leaves them unfused;
# on a GPU provider onnxruntime still fuses them at load, as before: not measured without a GPU)
CPU_NO_FUSIONS = ("SkipLayerNormFusion",)
# the graph's inputs and outputs, as models/joint.py names them at export; outputs are fetched by name
INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAMES = ("intent_logits", "tag_logits", "sentence_embedding")
# The text whose intent logits a build records per graph file (manifest.json `canary`), and how far
# a load may find them: another CPU's or provider's kernels round differently (even INT8 against
# FP32 is 0.15 apart on the example), while the permuted vocabulary of another tokenizer was 5.1
CANARY_TEXT = "send 200 dollars from my checking account to savings on friday"
CANARY_TOLERANCE = 0.5


@dataclass(slots=True)
class RawOutputs:
    intent_logits: np.ndarray  # [B, I]
    tag_logits: np.ndarray  # [B, T, K]
    embedding: np.ndarray  # [B, D]


def available_providers(preferred: Sequence[str] = DEFAULT_PROVIDERS) -> list[str]:
    have = set(ort.get_available_providers())
    chosen = [p for p in preferred if p in have]
    return chosen or ["CPUExecutionProvider"]


def session_options(intra_op_threads: int, inter_op_threads: int = 1, spin: str = "run") -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    if spin == "never":  # idle threads sleep at once: the cores go to whatever else runs there
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    elif spin == "run":  # spin between the operators of a forward pass, stop when it returns
        options.add_session_config_entry("session.force_spinning_stop", "1")
    options.inter_op_num_threads = inter_op_threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def open_session(model: bytes | str, options: ort.SessionOptions,
                 providers: Sequence[str] = DEFAULT_PROVIDERS) -> ort.InferenceSession:
    """A session on the first available of `providers`, without the fusions that slow it on CPU."""
    chosen = available_providers(providers)
    disabled = list(CPU_NO_FUSIONS) if chosen == ["CPUExecutionProvider"] else []
    return ort.InferenceSession(model, sess_options=options, providers=chosen, disabled_optimizers=disabled)


class Model:
    def __init__(
        self,
        artifact: Artifact,
        providers: Sequence[str] = DEFAULT_PROVIDERS,
        intra_op_threads: int = 0,
        inter_op_threads: int = 1,
        spin: str = "run",
        row_threads: int = 0,
    ):
        """`intra_op_threads` and `row_threads` 0: for offline throughput (eval, analyze, build),
        a row-wise graph computes one row per core side by side on one thread each (~1.3x the
        rows a second of onnxruntime's threads on one row here), a batched graph uses onnxruntime's
        threads on all cores. The server passes both (`intentd serve` settings)."""
        self.artifact = artifact
        self.labels = artifact.labels
        # graphs `intentd train` marks as batch-dependent (dynamic INT8) run one row at a time
        self.row_wise = artifact.manifest["model"] in artifact.manifest.get("batch_dependent", ())
        if not self.row_wise:
            row_threads = 1
        elif not row_threads:
            intra_op_threads = intra_op_threads or 1
            row_threads = rows_side_by_side(usable_cores(), intra_op_threads)
        # rows of one batch side by side: helpers take rows beside the calling thread
        self.row_threads = row_threads
        try:
            self.session = open_session(artifact.model_bytes, session_options(intra_op_threads, inter_op_threads, spin),
                                        providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad graphs
            raise ArtifactError(f"{artifact.model_path}: onnxruntime cannot load it ({exc})",
                                f"{artifact.manifest['model']}: onnxruntime cannot load it") from None
        self.provider = self.session.get_providers()[0]
        self._row_helpers = (named_pool(self.row_threads - 1, "intentd-rows")
                             if self.row_threads > 1 else None)
        try:
            self.encoder = TextEncoder.from_str(artifact.tokenizer_json, max_length=artifact.max_length)
        except Exception as exc:
            raise ArtifactError(f"{artifact.tokenizer_path}: cannot load tokenizer ({exc})",
                                f"{artifact.manifest['tokenizer']}: cannot load tokenizer") from None
        if (marker := artifact.manifest.get("partial_marker")) is not None:  # trained on partial utterances too
            try:
                self.encoder.mark_partials(marker)
            except ValueError as exc:
                raise ArtifactError(f"{artifact.tokenizer_path}: {exc} (manifest.json partial_marker)",
                                    "manifest.json: partial_marker is not in the tokenizer's vocabulary") from None
        self._check_graph()
        self._check_canary()
        artifact.model_bytes = b""  # onnxruntime keeps its own copy
        calibration = artifact.calibration
        self.temperature = float(calibration.get("temperature", 1.0))
        self.ood = OODScorer(artifact.ood_stats, calibration) if artifact.ood_stats else None
        log.info("model %s %s on %s", artifact.name, artifact.version, self.provider)

    def _check_graph(self) -> None:
        """The graph's inputs and outputs against what feeds and reads them: declared shapes,
        then the widths of one forward pass of the longest input the encoder can make."""
        artifact = self.artifact
        model_path, model_file = artifact.model_path, artifact.manifest["model"]
        inputs = {i.name: i.type for i in self.session.get_inputs()}
        if set(inputs) != set(INPUT_NAMES) or any(t != "tensor(int64)" for t in inputs.values()):
            got = ", ".join(f"{name} {kind}" for name, kind in inputs.items())
            raise ArtifactError(f"{model_path}: takes {got}; intentd feeds input_ids and attention_mask, int64",
                                f"{model_file}: takes other inputs than input_ids and attention_mask")
        declared = {o.name: o.shape for o in self.session.get_outputs()}
        missing = [name for name in OUTPUT_NAMES if name not in declared]
        if missing:
            raise ArtifactError(f"{model_path}: has no output {', '.join(missing)} (it has {', '.join(declared)})",
                                f"{model_file}: has no output {', '.join(missing)}")
        labels_file, ood_file = artifact.manifest["labels"], artifact.manifest.get("ood_stats")
        n_intents, n_tags = len(self.labels.intents), len(self.labels.tags)
        # output: (rank, expected width, the file that says so, what it says)
        expected = {
            "intent_logits": (2, n_intents, labels_file, f"{n_intents} intents"),
            "tag_logits": (3, n_tags, labels_file, f"{len(self.labels.entity_types)} entity types ({n_tags} BIO "
                                                    "tags)"),
        }
        if artifact.ood_stats:
            dim = artifact.ood_stats["means"].shape[1]
            expected["sentence_embedding"] = (2, dim, ood_file, f"statistics of {dim}-dimensional embeddings")
        for name, (rank, _, _, _) in expected.items():
            shape = declared[name]
            if len(shape) != rank:
                raise ArtifactError(f"{model_path}: output {name} has {len(shape)} dimensions, not {rank}",
                                    f"{model_file}: output {name} has {len(shape)} dimensions, not {rank}")
            if isinstance(shape[-1], int):  # else symbolic: the forward pass below tells
                self._check_width(name, shape[-1], expected[name])
        if artifact.ood_stats and len(artifact.ood_stats["means"]) != n_intents:  # one mean per intent
            problem = f"means has {len(artifact.ood_stats['means'])} rows, labels.json {n_intents} intents"
            raise ArtifactError(f"{artifact.root / ood_file}: {problem}", f"{ood_file}: {problem}")
        # one forward pass of the longest input the encoder makes: a serve_max_length past the
        # graph's position embeddings fails here, not on a long request (~5 ms at 128 tokens)
        n = artifact.max_length + (self.encoder.partial_id is not None)  # + a partial's marker
        try:
            outputs = self.session.run(OUTPUT_NAMES, {"input_ids": np.zeros((1, n), np.int64),
                                                      "attention_mask": np.ones((1, n), np.int64)})
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ArtifactError(f"{model_path}: fails on an input of {n} tokens (serve_max_length "
                                f"{artifact.max_length} in manifest.json; more than its position embeddings "
                                f"hold?): {exc}",
                                f"{model_file}: fails on an input of {n} tokens (serve_max_length)") from None
        for name, value in zip(OUTPUT_NAMES, outputs):
            if name in expected:
                self._check_width(name, value.shape[-1], expected[name])
        # and of the tokenizer's largest id: one past the graph's vocabulary failed every request
        # of a batch holding a word that maps to it, not the artifact at load
        largest = max(self.encoder.tokenizer.get_vocab(with_added_tokens=True).values())
        try:
            self.session.run(OUTPUT_NAMES, {"input_ids": np.array([[largest]], np.int64),
                                            "attention_mask": np.ones((1, 1), np.int64)})
        except Exception as exc:  # onnxruntime raises its own untyped errors
            tokenizer_file = artifact.manifest["tokenizer"]
            raise ArtifactError(f"{artifact.tokenizer_path}: ids up to {largest}, past {model_file}'s vocabulary "
                                f"(the tokenizer of another model?): {exc}",
                                f"{tokenizer_file}: ids up to {largest}, past {model_file}'s vocabulary") from None

    def _check_canary(self) -> None:
        """The graph's answer to the build's canary text, as the build recorded it for this file:
        a tokenizer.json or a graph of another build (the same vocabulary size, the same labels)
        loaded, and every answer was wrong."""
        canary = self.artifact.manifest.get("canary")
        model_file = self.artifact.manifest["model"]
        if not isinstance(canary, dict) or not isinstance(canary.get("text"), str):
            return  # an artifact built before canaries
        recorded = (canary.get("intent_logits") or {}).get(model_file)
        if not isinstance(recorded, list) or len(recorded) != len(self.labels.intents):
            return
        batch = self.encoder.encode([canary["text"]])
        logits = self.session.run(["intent_logits"], {"input_ids": batch.input_ids,
                                                     "attention_mask": batch.attention_mask})[0][0]
        differs = float(np.max(np.abs(logits - np.asarray(recorded, dtype=np.float64))))
        if differs > CANARY_TOLERANCE or int(np.argmax(logits)) != int(np.argmax(recorded)):
            files = f"{self.artifact.manifest['tokenizer']} or {model_file}"
            raise ArtifactError(f"{self.artifact.root}: {model_file} answers the build's canary text {differs:.2f} "
                                f"apart from what the build recorded (manifest.json canary): {files} of another "
                                "build?", f"{files}: not the build's (its canary answer differs)")
        top = self.labels.intents[int(np.argmax(logits))]
        if top != canary.get("intent", top):  # labels.json of another build: the same graph, other names
            raise ArtifactError(f"{self.artifact.root}: the canary text reads as {top!r}, the build's as "
                                f"{canary['intent']!r} (manifest.json canary): labels.json of another build?",
                                f"{self.artifact.manifest['labels']}: not the build's (its canary answer differs)")

    def _check_width(self, name: str, width: int, expected: tuple[int, int, str, str]) -> None:
        _, wanted, file, says = expected
        if width != wanted:
            problem = f"{says}, but {self.artifact.manifest['model']} computes {name} {width} wide"
            raise ArtifactError(f"{self.artifact.root / file}: {problem}", f"{file}: {problem}")

    @classmethod
    def load(cls, path: str | Path, model: str | None = None, **kwargs) -> "Model":
        return cls(load_artifact(path, model=model), **kwargs)

    @property
    def version(self) -> str:
        return self.artifact.version

    def encode(self, texts: Sequence[str]) -> EncodedBatch:
        return self.encoder.encode(list(texts))

    def infer(self, batch: EncodedBatch) -> RawOutputs:
        """One forward pass for the batch; for a graph whose answers depend on its batch
        (dynamic INT8: one activation scale per tensor), one pass per row, on the row's own
        tokens, so every text gets exactly the answer it gets alone."""
        if not self.row_wise or len(batch.texts) == 1:
            intent, tags, emb = self.session.run(
                OUTPUT_NAMES, {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
            )
            return RawOutputs(intent, tags, emb)
        inputs = [(ids[None, : encoded.n_tokens], np.ones((1, encoded.n_tokens), np.int64))
                  for ids, encoded in zip(batch.input_ids, batch.texts)]
        rows = self._run_rows(inputs)
        tags = np.zeros((len(rows), batch.input_ids.shape[1], rows[0][1].shape[-1]), dtype=rows[0][1].dtype)
        for i, row in enumerate(rows):
            tags[i, : row[1].shape[1]] = row[1][0]  # padding positions stay 0: decoding never reads them
        return RawOutputs(np.concatenate([r[0] for r in rows]), tags, np.concatenate([r[2] for r in rows]))

    def _run_rows(self, inputs: list[tuple[np.ndarray, np.ndarray]]) -> list[list[np.ndarray]]:
        """One onnxruntime call per row; with `row_threads` > 1, helper threads take rows too, each
        the next one not yet taken (onnxruntime releases the GIL and its session takes concurrent
        calls), so a batch of n rows on t cores takes about n / t row times instead of n, and a
        helper that gets no core leaves its rows to the calling thread instead of holding them."""
        rows: list = [None] * len(inputs)
        taken = itertools.count()  # next() is atomic under the GIL

        def run() -> None:
            for i in iter(taken.__next__, None):
                if i >= len(inputs):
                    return
                ids, mask = inputs[i]
                rows[i] = self.session.run(OUTPUT_NAMES, {"input_ids": ids, "attention_mask": mask})

        helpers = [self._row_helpers.submit(run) for _ in range(min(self.row_threads, len(inputs)) - 1)]
        run()
        for helper in helpers:
            helper.result()  # re-raises a helper's failure here
        return rows

    def decode(self, texts: Sequence[str], batch: EncodedBatch, raw: RawOutputs, top_k: int = 5) -> list[Prediction]:
        probs = softmax(raw.intent_logits.astype(np.float64), self.temperature)
        if self.ood is not None:
            method_scores = self.ood.method_scores(raw.embedding, raw.intent_logits, probs)
            combined = self.ood.combine(method_scores)
            flags = combined >= self.ood.threshold
        else:
            method_scores, combined, flags = {}, np.zeros(len(texts)), np.zeros(len(texts), dtype=bool)
        tag_probs = softmax(raw.tag_logits.astype(np.float32))
        out = []
        for row, text in enumerate(texts):
            out.append(
                Prediction(
                    intents=rank_intents(probs[row], self.labels, top_k),
                    entities=decode_entities(tag_probs[row], text, batch.texts[row], self.labels),
                    ood_score=float(combined[row]),
                    ood_scores={m: float(s[row]) for m, s in method_scores.items()},
                    is_ood=bool(flags[row]) or batch.texts[row].unreadable,
                    truncated=batch.texts[row].truncated,
                    unreadable=batch.texts[row].unreadable,
                    analyzed_chars=_analyzed_chars(text, batch.texts[row]),
                )
            )
        return out


def _analyzed_chars(text: str, encoded) -> int:
    if not encoded.truncated:
        return len(text)
    if not encoded.word_spans:
        return 0
    end = encoded.word_spans[-1][1]
    while end < len(text) and unicodedata.category(text[end]).startswith("M"):  # the last word's marks (NFD)
        end += 1
    return end

