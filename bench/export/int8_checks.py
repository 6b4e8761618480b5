"""The int8 model against fp32: seeded ImageNet-like inputs, the quantized weights' SQNR and the outputs' agreement,
with the bounds that fail an int8 export (bench.export.quantize) when quantization broke the graph."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.errors import ExportError

if TYPE_CHECKING:
    import numpy as np

# torchvision's ImageNet normalization: a synthetic image is uniform [0, 1) pixels, then (x - mean) / std.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The agreement inputs are drawn like the calibration images from another seed: the check sees images the
# calibration did not.
AGREEMENT_IMAGES, AGREEMENT_SEED = 4, 1
AGREEMENT_INPUTS = {"images": AGREEMENT_IMAGES, "seed": AGREEMENT_SEED}

# The sanity bounds that fail the export when quantization broke the graph. Output agreement cannot be the whole
# check with random weights: the logits depend little on a noise input (the fp32 outputs of two agreement images
# have cosine 0.70 on B0, 0.96 on MobileNetV2, 0.995 on ResNet-50), so any output of the right overall shape, a
# broken one included, has a high cosine with fp32. Measured here (ORT, 4 agreement images, worst):
# cosine with fp32 0.81 on B0 at 224 (0.85 quantizing only the convolutions, which then ran 1.7x slower than
# quantizing all: every block leaves and re-enters int8; 0.77 with percentile calibration), 0.991 on MobileNetV2,
# 0.999 on ResNet-50, and only 0.61 (ORT) / 0.49 (OpenVINO) on B0 at 32x32; yet a graph with one weight scale
# zeroed scored 0.88 on B0 (ORT) and 0.60 (ORT) / 0.69 (OpenVINO) on B0 at 32x32. So the outputs must be finite
# and positively correlated with fp32 (cosine > MIN_COSINE: garbage, a sign flip or NaN fail), and the graph itself
# is checked where a break shows at once: every scale positive and finite, and every quantized weight at least
# MIN_WEIGHT_SQNR_DB of SQNR against its fp32 tensor. 8-bit per-channel weights keep 41-42 dB on B0, MobileNetV2
# and ResNet-50 (35-36 dB with 7-bit weights, the no-VNNI recipe); a zeroed or grossly wrong scale gives 0 dB or less.
MIN_COSINE = 0.0
MIN_WEIGHT_SQNR_DB = 20.0


def synthetic_images(shape: Sequence[int], count: int, seed: int) -> list[np.ndarray]:
    """`count` seeded images of `shape` (NCHW, 3 channels) drawn like normalized ImageNet inputs."""
    import numpy as np

    rng = np.random.default_rng(seed)
    channels = int(shape[1]) if len(shape) == 4 else 0
    mean = np.array(IMAGENET_MEAN, np.float32).reshape(1, 3, 1, 1) if channels == 3 else np.float32(0.449)
    std = np.array(IMAGENET_STD, np.float32).reshape(1, 3, 1, 1) if channels == 3 else np.float32(0.226)
    return [((rng.random(tuple(shape), dtype=np.float32) - mean) / std).astype(np.float32) for _ in range(count)]


@dataclass(frozen=True)
class Agreement:
    """How closely the int8 model follows fp32 on the agreement images (the worst image of each measure)."""

    runtime: str
    rel_error: float  # max|int8 - fp32| / max|fp32|
    cosine: float  # of the flattened outputs

    def failure(self, model: str) -> str | None:
        """Why the int8 outputs cannot come from the network (None when they agree loosely enough)."""
        if math.isfinite(self.cosine) and math.isfinite(self.rel_error) and self.cosine > MIN_COSINE:
            return None
        return (
            f"{model}: the int8 model ({self.runtime}) no longer computes the network: cosine {self.cosine:.3g} "
            f"with fp32 (bound > {MIN_COSINE}; max relative error {self.rel_error:.3g}); nothing was cached. "
            "Measure fp32, or report this with the onnxruntime version"
        )


def weight_sqnr_db(fp32_onnx: Path, int8_onnx: Path) -> tuple[float, str]:
    """The worst signal-to-quantization-noise ratio (dB) of a dequantized 8-bit weight against the fp32 tensor of
    the same name, and that tensor's name; -inf when a scale is zero, negative or not finite. ORT's QDQ graph names a
    quantized weight "<fp32 name>_quantized"."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    original = {t.name: t for t in onnx.load(str(fp32_onnx)).graph.initializer}
    graph = onnx.load(str(int8_onnx)).graph
    consts = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in graph.initializer}
    # Biases are int32 at the scale of input x weight: exact enough for the kernels, but their SQNR says nothing.
    eight_bit = {t.name for t in graph.initializer if t.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)}
    worst, where = math.inf, ""
    for node in graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear") or node.input[1] not in consts:
            continue
        scale = consts[node.input[1]]
        if not (np.all(np.isfinite(scale)) and np.all(scale > 0)):
            return -math.inf, node.input[1]
        name = node.input[0].removesuffix("_quantized")
        if node.op_type != "DequantizeLinear" or node.input[0] not in eight_bit or name not in original:
            continue
        ref = numpy_helper.to_array(original[name]).astype(np.float64)
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        shape = [scale.size if i == axis % max(ref.ndim, 1) and scale.size > 1 else 1 for i in range(ref.ndim)]
        zero = consts[node.input[2]] if len(node.input) > 2 and node.input[2] in consts else np.zeros(1)
        restored = (consts[node.input[0]] - zero.reshape(shape if zero.size > 1 else [])) * scale.reshape(
            shape if scale.size > 1 else []
        )
        signal, noise = float((ref**2).sum()), float(((ref - restored) ** 2).sum())
        if signal == 0.0:
            continue  # an all-zero tensor (a bias) has no signal to keep
        sqnr = 10.0 * math.log10(signal / noise) if noise > 0 else math.inf
        if sqnr < worst:
            worst, where = sqnr, name
    return worst, where


def _cosine_and_error(ref: np.ndarray, out: np.ndarray) -> tuple[float, float]:
    import numpy as np

    a, b = ref.ravel().astype(np.float64), out.ravel().astype(np.float64)
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    cosine = float(a @ b) / norms if norms > 0 else float("nan")
    scale = float(np.abs(a).max())
    return cosine, float(np.abs(a - b).max()) / scale if scale > 0 else float("inf")


def measure_agreement(
    fp32_outputs: Sequence[np.ndarray], run_int8: Callable[[np.ndarray], np.ndarray], images: Sequence[np.ndarray]
) -> tuple[float, float]:
    """(worst cosine, worst relative error) of `run_int8` against the fp32 outputs on the same images."""
    found = [_cosine_and_error(ref, run_int8(x)) for ref, x in zip(fp32_outputs, images, strict=True)]
    cosines = [c for c, _ in found]
    worst = min(cosines) if all(math.isfinite(c) for c in cosines) else float("nan")
    return worst, max(e for _, e in found)


def check_agreement(
    fp32_onnx: Path, staging: Path, formats: tuple[str, ...], input_name: str, shape: Sequence[int], model: str
) -> list[Agreement]:
    """Each built int8 artifact against the fp32 ONNX in ONNX Runtime, on AGREEMENT_INPUTS; ExportError when the
    outputs are not finite or not positively correlated with fp32 (MIN_COSINE). OpenVINO is checked on the IR it
    will load, at f32 inference precision as its cells run it."""
    import onnxruntime as ort

    images = synthetic_images(shape, AGREEMENT_IMAGES, AGREEMENT_SEED)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    reference = ort.InferenceSession(str(fp32_onnx), options, providers=["CPUExecutionProvider"])
    fp32_outputs = [reference.run(None, {input_name: x})[0] for x in images]
    found: list[Agreement] = []
    int8 = ort.InferenceSession(str(staging / "model.onnx"), options, providers=["CPUExecutionProvider"])
    cosine, error = measure_agreement(fp32_outputs, lambda x: int8.run(None, {input_name: x})[0], images)
    found.append(Agreement("onnxruntime", error, cosine))
    if "openvino" in formats:
        import openvino as ov

        compiled = ov.Core().compile_model(
            str(staging / "model.xml"), "CPU", {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 1}
        )
        cosine, error = measure_agreement(fp32_outputs, lambda x: compiled(x)[0], images)
        found.append(Agreement("openvino", error, cosine))
    for agreement in found:
        why = agreement.failure(model)
        if why:
            raise ExportError(why)
    return found
