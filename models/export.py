"""Export the trained joint model to ONNX: FP32 with fused kernels, and dynamic INT8 (served by
default; the one projection whose input INT8 resolves worst stays FP32: coarsest_inputs).
Dynamic INT8 quantises activations with one scale per tensor, so a batch's rows would share a
scale and a query's scores would move with its neighbours: the server runs it one row at a time
(server/model.py), which on CPUs is still faster than batched FP32 (README, "Which graph").

Every export is validated: the FP32 graph against torch (max abs difference), and the INT8
graph's validation intent accuracy against FP32's. Failures raise typed errors; nothing half-valid
is ever written as a servable artifact.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from intentd.errors import IntentdError
from intentd.models.joint import INPUT_NAMES, OUTPUT_NAMES, JointModel
from intentd.server.ortimport import onnxruntime
from intentd.server.tokenize import TextEncoder

ort = onnxruntime()  # its telemetry file kept out of the shared temporary folder (server/ortimport.py)
log = logging.getLogger(__name__)

DEFAULT_OPSET = 17  # the TorchScript exporter's well-trodden opset for BERT fusions
PARITY_ATOL = 1e-3  # FP32 ONNX vs torch, on logits and embeddings
INT8_MAX_ACCURACY_DROP = 0.005  # 0.5 point of validation intent accuracy
# Quantised inputs left in FP32, the coarsest first (coarsest_inputs). One (layer 0's FFN output
# projection for the bundled encoder) brought the INT8 graph to FP32's test accuracy on CLINC150,
# SNIPS and the banking example for +5 % batch-1 time; a second added nothing (docs/performance.md).
INT8_KEEP_FP32 = 1

FP32_FILE = "model.fp32.onnx"
INT8_FILE = "model.int8.onnx"


class ExportError(IntentdError):
    pass


class ParityError(ExportError):
    """The ONNX graph does not compute what the torch model computes."""


class QuantizationError(ExportError):
    """INT8 lost more accuracy than allowed."""


class _Exportable(torch.nn.Module):
    """Output tuple in a fixed order, names given by OUTPUT_NAMES."""

    def __init__(self, model: JointModel):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids, attention_mask)


def export_fp32(model: JointModel, encoder: TextEncoder, out_dir: Path, sample_texts: Sequence[str]) -> Path:
    """TorchScript ONNX export with dynamic batch and sequence axes, then onnxruntime's transformer
    fusions (EmbedLayerNormalization, 6 fused Attention nodes, SkipLayerNormalization, BiasGelu).

    Attention is exported in its eager form, which the fusion recognises (SDPA's is left as ~20
    separate nodes per layer). Parity with torch is checked on padded batches after export.
    """
    model.eval()
    sample = encoder.encode(list(sample_texts[:4]) or ["hello there"])
    raw_path = out_dir / "model.raw.onnx"
    axes = {"batch": 0, "sequence": 1}
    dynamic = {name: {i: n for n, i in axes.items()} for name in (*INPUT_NAMES, "tag_logits")}
    dynamic.update({name: {0: "batch"} for name in ("intent_logits", "sentence_embedding")})
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    # A fresh wrapper module is in training mode, and the exporter restores the wrapper's mode on
    # the whole tree afterwards: eval() it, or the model leaves the export with dropout on.
    wrapper = _Exportable(model).eval()
    with warnings.catch_warnings(), _quiet(), eager_attention(model):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            (torch.from_numpy(sample.input_ids), torch.from_numpy(sample.attention_mask)),
            str(raw_path),
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=dynamic,
            opset_version=DEFAULT_OPSET,
            dynamo=False,
        )
    model.eval()
    path = out_dir / FP32_FILE
    _optimize(raw_path, path, model)
    raw_path.unlink()
    return path


@contextlib.contextmanager
def eager_attention(model: JointModel):
    """Run the encoder's attention in its eager (matmul + softmax) form for the scope."""
    config = model.encoder.config
    previous = getattr(config, "_attn_implementation", None)
    config._attn_implementation = "eager"
    try:
        yield
    finally:
        config._attn_implementation = previous


@contextlib.contextmanager
def _quiet():
    """The exporter prints its progress on stdout; keep stdout for results (e.g. --json)."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _optimize(src: Path, dst: Path, model: JointModel) -> None:
    """Fuse attention / LayerNorm / GELU with onnxruntime's transformer optimiser (CPU-safe fusions).

    The residual Add + LayerNormalization pairs stay unfused: onnxruntime's CPU kernel for the
    fused SkipLayerNormalization took 5-8x the time of the two nodes it replaces (23 against 7 us
    on a query's 11 x 384 states), 16 % of a batch-1 INT8 forward pass (README, "Which graph is
    served"). Sessions disable the same fusion at load (server/model.py `CPU_NO_FUSIONS`)."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    config = model.encoder.config
    options = FusionOptions("bert")
    options.enable_skip_layer_norm = False
    options.enable_bias_skip_layer_norm = False
    optimized = optimize_model(
        str(src),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
        optimization_options=options,
        opt_level=1,
        use_gpu=False,
    )
    fused = optimized.get_fused_operator_statistics()
    log.info("ORT fusions: %s", {k: v for k, v in fused.items() if v})
    optimized.save_model_to_file(str(dst))


def coarsest_inputs(fp32_path: Path, encoder: TextEncoder, texts: Sequence[str], keep: int = 1) -> dict[str, float]:
    """The `keep` quantisable nodes whose input INT8 resolves worst, with their steps per value.

    Dynamic INT8 gives each input tensor one scale, its range / 255; a tensor with a few huge
    values (here the input of layer 0's FFN output projection: typical |x| 0.14, range 24 on
    CLINC150) then has most of its values on 0 or one step either side. Measured on `texts` with
    the FP32 graph: mean |x| / step, per node, averaged over the texts; lowest first."""
    import onnx

    graph = onnx.load(str(fp32_path))
    weights = {init.name for init in graph.graph.initializer}
    nodes = {n.input[0]: n.name for n in graph.graph.node
             if n.op_type == "Attention" or (n.op_type == "MatMul" and n.input[1] in weights)}
    known = {o.name for o in graph.graph.output}
    for tensor in nodes:
        if tensor not in known:
            graph.graph.output.append(onnx.helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    steps: dict[str, list[float]] = {tensor: [] for tensor in nodes}
    for text in texts:
        batch = encoder.encode([text])
        feed = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        out = dict(zip(names, session.run(None, feed)))
        for tensor in nodes:
            x = out[tensor]
            step = (max(float(x.max()), 0.0) - min(float(x.min()), 0.0)) / 255.0
            steps[tensor].append(float(np.abs(x).mean()) / step if step > 0 else float("inf"))
    ranked = sorted((float(np.mean(v)), nodes[t]) for t, v in steps.items())
    return {name: value for value, name in ranked[:keep]}


def quantize_int8(fp32_path: Path, path: Path, keep_fp32: Sequence[str] = ()) -> Path:
    """Dynamic INT8 with per-channel weights, written to `path`; nodes named in `keep_fp32` stay FP32."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet():
        logging.getLogger().disabled = True  # the quantiser logs a pre-processing hint on every call
        try:
            quantize_dynamic(str(fp32_path), str(path), weight_type=QuantType.QInt8, per_channel=True,
                             nodes_to_exclude=list(keep_fp32),
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})  # fused ops lack shapes
        finally:
            logging.getLogger().disabled = False
    return path


def check_parity(model: JointModel, encoder: TextEncoder, onnx_path: Path, texts: Sequence[str]) -> float:
    """Max abs difference between torch and ONNX outputs over `texts`; raises ParityError past tolerance."""
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    worst = 0.0
    with torch.inference_mode():
        for i in range(0, len(texts), 64):
            batch = encoder.encode(list(texts[i : i + 64]))
            ours = session.run(None, {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask})
            theirs = model(torch.from_numpy(batch.input_ids), torch.from_numpy(batch.attention_mask))
            mask = batch.attention_mask.astype(bool)
            for name, a, b in zip(OUTPUT_NAMES, ours, theirs):
                b = b.numpy()
                diff = np.abs(a - b)
                if name == "tag_logits":
                    diff = diff[mask]  # padding positions are never read
                worst = max(worst, float(diff.max()))
    if worst > PARITY_ATOL:
        raise ParityError(f"{onnx_path.name}: max abs difference to torch is {worst:.2e} (> {PARITY_ATOL:.0e})")
    return worst
