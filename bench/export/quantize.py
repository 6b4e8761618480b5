"""int8 artifacts: an entry's fp32 ONNX quantized once (onnxruntime.quantization, QDQ), checked against fp32, cached.

One QDQ ONNX graph serves both runtimes, as one fp32 graph does: ONNX Runtime runs it as it is (its QDQ
transformer fuses the Q/DQ pairs into QLinearConv, QGemm and friends) and the OpenVINO IR is converted from it
(its low-precision transformations turn the Q/DQ pairs into u8/i8 kernels). The int8 entry is an entry of its own,
`<model>-int8-<fingerprint>`, whose fingerprint names the fp32 entry's fingerprint, the quantization settings and
the calibration set, so the fp32 entry and its fingerprint stay what they were. Calibration uses seeded synthetic
images, never data: latency only, the weights are random and no accuracy is ever reported.
"""

from __future__ import annotations

import math
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import __version__
from bench.errors import EffbenchError, ExportError, first_line
from bench.export.cache import (
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    MANIFEST_VERSION,
    ArtifactSet,
    artifact_sha256,
    artifacts_from_manifest,
    compute_fingerprint,
    describe_files,
    ensure_writable_folder,
    entry_folder_name,
    entry_lock,
    library_versions,
    new_staging_folder,
    publish_folder,
    read_manifest,
    remove_leftover_staging,
    sha256_file,
    verify_entry,
    write_json,
)
from bench.export.plans import fingerprint_inputs

if TYPE_CHECKING:
    import numpy as np

# Bump when the quantization recipe changes the int8 bytes (old int8 entries then miss; fp32 entries stay).
QUANT_RECIPE = 1

# Calibration: seeded synthetic images with the statistics of normalized ImageNet inputs (pixels uniform in [0, 1)
# per channel, then (x - mean) / std with torchvision's ImageNet mean and std). 16 images: ORT's MinMax
# calibration of B0 gave the same scales from 16 as from 64 to within a quantization step here, and 16 keep a B0
# quantization near 6 s on one core.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CALIBRATION_IMAGES, CALIBRATION_SEED = 16, 0
CALIBRATION: dict[str, Any] = {
    "images": CALIBRATION_IMAGES,
    "seed": CALIBRATION_SEED,
    "distribution": "uniform [0, 1) pixels normalized with the ImageNet mean and std",
    "method": "MinMax",
}
# The agreement inputs are drawn like the calibration images from another seed: the check sees images the
# calibration did not.
AGREEMENT_IMAGES, AGREEMENT_SEED = 4, 1
AGREEMENT_INPUTS = {"images": AGREEMENT_IMAGES, "seed": AGREEMENT_SEED}

# The sanity bounds that fail the export when quantization broke the graph. Output agreement cannot be the whole
# check with random weights: EfficientNet's logits barely depend on a noise input (fp32 outputs of different
# images have cosine ~0.99), so int8 noise hides what is left. Measured here (ORT, 4 agreement images, worst):
# cosine with fp32 0.81 on B0 at 224 (0.85 quantizing only the convolutions, which ran 1.7x slower: every block
# leaves and re-enters int8; 0.77 with percentile calibration), 0.991 on MobileNetV2, 0.999 on ResNet-50, and
# only 0.61 (ORT) / 0.49 (OpenVINO) on B0 at 32x32; yet a graph with one weight scale zeroed scored 0.88 on B0 and
# 0.69 on B0 at 32x32. So the outputs must be finite and positively correlated with fp32 (cosine > MIN_COSINE:
# garbage, a sign flip or NaN fail), and the graph itself is checked where a break shows at once: every scale
# positive and finite, and every quantized weight within MIN_WEIGHT_SQNR_DB of its fp32 tensor. 8-bit per-channel
# weights keep 41-42 dB on B0, MobileNetV2 and ResNet-50 (7-bit, the no-VNNI recipe, about 6 dB less); a zeroed
# or wrong scale gives 0 dB or less.
MIN_COSINE = 0.0
MIN_WEIGHT_SQNR_DB = 20.0

# ONNX ops that only a quantized graph holds: a user's file with any of them is measured as it is.
QUANTIZED_OPS = frozenset(
    {
        "QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger",
        "DynamicQuantizeLinear", "QGemm", "QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearGlobalAveragePool",
    }
)  # fmt: skip
# VNNI (AVX-512 VNNI, AVX-VNNI) and AMX-INT8 multiply u8 x s8 pairs into 32-bit sums without the 16-bit
# intermediate of AVX2/AVX-512BW's VPMADDUBSW, which saturates.
VNNI_FLAGS = ("amx_int8", "avx512_vnni", "avx_vnni")


def int8_isa(flags: Collection[str]) -> str | None:
    """The CPU flag int8 multiply-adds use here (AMX-INT8 first, then AVX-512 VNNI, AVX-VNNI); None without VNNI."""
    return next((flag for flag in VNNI_FLAGS if flag in flags), None)


def quantization_settings(flags: Collection[str]) -> dict[str, Any]:
    """The recipe for this CPU: ONNX Runtime's static QDQ quantization with the types it documents for x86.

    ONNX Runtime's quantization guide: U8S8 (activations QUInt8, weights QInt8) with per-channel weights for CNNs
    on x86-64; on CPUs without VNNI, U8S8 can saturate in VPMADDUBSW's 16-bit sums, and the documented remedy is
    reduce_range (7-bit weights). The ISA decides, and the settings (hence the fingerprint) record which.
    """
    isa = int8_isa(flags)
    return {
        "recipe": QUANT_RECIPE,
        "tool": "onnxruntime.quantization.quantize_static",
        "pre_process": "onnxruntime.quantization.shape_inference.quant_pre_process(skip_symbolic_shape=True)",
        "format": "QDQ",
        "activation_type": "QUInt8",
        "weight_type": "QInt8",
        "per_channel": True,
        "reduce_range": isa is None,
        "isa": isa or "no VNNI",
    }


def fallback_note(settings: dict[str, Any]) -> str | None:
    """What a reader should know when the recipe is the no-VNNI variant; None on a VNNI CPU."""
    if not settings.get("reduce_range"):
        return None
    return (
        "this CPU has no VNNI (avx512_vnni, avx_vnni or amx_int8): int8 uses ONNX Runtime's documented fallback, "
        "7-bit weights (reduce_range), and runs on AVX2/AVX-512BW multiply-adds, often no faster than fp32"
    )


def synthetic_images(shape: Sequence[int], count: int, seed: int) -> list[np.ndarray]:
    """`count` seeded images of `shape` (NCHW, 3 channels) drawn like normalized ImageNet inputs."""
    import numpy as np

    rng = np.random.default_rng(seed)
    channels = int(shape[1]) if len(shape) == 4 else 0
    mean = np.array(IMAGENET_MEAN, np.float32).reshape(1, 3, 1, 1) if channels == 3 else np.float32(0.449)
    std = np.array(IMAGENET_STD, np.float32).reshape(1, 3, 1, 1) if channels == 3 else np.float32(0.226)
    return [((rng.random(tuple(shape), dtype=np.float32) - mean) / std).astype(np.float32) for _ in range(count)]


def is_quantized_onnx(path: Path) -> bool:
    """Whether the ONNX file is already quantized (holds Q/DQ or integer ops): it is then measured as it is."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return any(node.op_type in QUANTIZED_OPS for node in model.graph.node)


def already_quantized(arts: ArtifactSet) -> bool:
    """Whether an entry's model is quantized already (a user's int8 ONNX file, or an IR with FakeQuantize)."""
    if "onnx" in arts.files:
        return is_quantized_onnx(arts.files["onnx"])
    xml = arts.files.get("openvino")
    return xml is not None and 'type="FakeQuantize"' in xml.read_text(encoding="utf-8", errors="replace")


def quantize_onnx(source: Path, dest: Path, input_name: str, input_shape: Sequence[int], settings: dict) -> None:
    """Pre-process and statically quantize `source` into `dest` with `settings`, calibrated on CALIBRATION."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    images = iter(synthetic_images(input_shape, CALIBRATION_IMAGES, CALIBRATION_SEED))

    class Reader(CalibrationDataReader):
        def get_next(self) -> dict[str, Any] | None:
            image = next(images, None)
            return None if image is None else {input_name: image}

    with tempfile.TemporaryDirectory(prefix="effbench-quantize-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # ORT's guide: symbolic shape inference is for transformers with dynamic shapes; ONNX's own shape inference
        # serves these static CNNs, and skipping the symbolic pass takes B0's pre-processing from 12 s to 1 s.
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(dest),
            Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=getattr(QuantType, settings["activation_type"]),
            weight_type=getattr(QuantType, settings["weight_type"]),
            per_channel=bool(settings["per_channel"]),
            reduce_range=bool(settings["reduce_range"]),
        )


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


def quantized_fingerprint_inputs(base: ArtifactSet, settings: dict[str, Any]) -> dict[str, Any]:
    """What determines an int8 entry's bytes: the fp32 entry, the recipe, the calibration, the library versions."""
    identity = {"base_fingerprint": base.fingerprint, "quantization": settings, "calibration": CALIBRATION}
    return fingerprint_inputs("quantized", identity)


def _require_quantizer(model: str) -> None:
    import importlib.util

    for name in ("onnxruntime", "onnx"):
        if importlib.util.find_spec(name) is None:
            raise EffbenchError(
                f"int8 for {model} needs {name} (ONNX Runtime's quantization tool), which is not installed: "
                "pip install 'effbench[onnx]', or drop int8 from --precision"
            )


def int8_artifacts(
    base: ArtifactSet,
    formats: tuple[str, ...],
    cache_dir: Path,
    *,
    force: bool = False,
    say: Callable[[str], None],
    flags: Collection[str] | None = None,
) -> tuple[ArtifactSet, str, Path]:
    """What an int8 cell of `base` loads: the model itself when it is quantized already (a user's int8 file, said
    so), else its int8 entry (export_int8). (artifacts, "prebuilt" | "cached" | "exported", entry folder)."""
    folder = next(iter(base.files.values())).parent
    if already_quantized(base):
        say(f"{base.model_name} is already quantized: measured as it is, not quantized again")
        return base, "prebuilt", folder
    if "onnx" not in base.files:
        raise EffbenchError(
            f"{base.model_name} is an fp32 OpenVINO IR, which effbench cannot quantize: pass the ONNX file it came "
            "from, or an IR already quantized (with NNCF)"
        )
    return export_int8(base, formats, cache_dir, force=force, say=say, flags=flags)


def export_int8(
    base: ArtifactSet,
    formats: tuple[str, ...],
    cache_dir: Path,
    *,
    force: bool = False,
    say: Callable[[str], None],
    flags: Collection[str] | None = None,
) -> tuple[ArtifactSet, str, Path]:
    """The int8 artifacts of the fp32 entry `base` in `formats`: (artifacts, "cached" | "exported", entry folder).
    The entry beside `base` (in its bundle) is used when it has them; otherwise the cache's, exported if needed.

    `flags` are the CPU's ISA flags (default: this machine's /proc/cpuinfo), which choose the recipe."""
    _require_quantizer(base.model_name)
    if flags is None:
        from bench.machine import THIS_MACHINE

        flags = THIS_MACHINE.first_cpuinfo().get("flags") or ()
    settings = quantization_settings(flags)
    inputs = quantized_fingerprint_inputs(base, settings)
    fingerprint = compute_fingerprint(inputs)
    folder_name = entry_folder_name(f"{base.model_name}-int8", fingerprint)
    final = cache_dir / folder_name
    wanted = tuple(f for f in ("onnx", "openvino") if f in formats or f == "onnx")
    for place in dict.fromkeys([base.files["onnx"].parent.parent / folder_name, final]):
        hit = None if force else _cached(place, fingerprint, wanted)
        if hit is not None:
            say(f"{base.model_name}: int8 cache hit {place}")
            return hit, "cached", place
    ensure_writable_folder(cache_dir, "cache folder", "pass --cache-dir DIR or set [paths] cache_dir in bench.toml")
    with entry_lock(cache_dir, folder_name, say):
        remove_leftover_staging(cache_dir, folder_name)
        raced = None if force else _cached(final, fingerprint, wanted)
        if raced is not None:
            return raced, "cached", final
        existing = read_manifest(final)
        if existing and existing.get("fingerprint") == fingerprint:
            wanted = tuple(f for f in ("onnx", "openvino") if f in wanted or f in existing.get("artifacts", {}))
        staging = new_staging_folder(cache_dir, folder_name)
        try:
            manifest = build_int8_entry(base, staging, wanted, settings, fingerprint, inputs, say)
            write_json(staging / MANIFEST_NAME, manifest)
            publish_folder(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    say(f"{base.model_name}: int8 exported to {final}")
    return artifacts_from_manifest(final, manifest), "exported", final


def _cached(final: Path, fingerprint: str, formats: tuple[str, ...]) -> ArtifactSet | None:
    manifest = read_manifest(final)
    if manifest is None or manifest.get("fingerprint") != fingerprint or verify_entry(final, manifest, formats):
        return None
    return artifacts_from_manifest(final, manifest)


def build_int8_entry(
    base: ArtifactSet,
    staging: Path,
    formats: tuple[str, ...],
    settings: dict[str, Any],
    fingerprint: str,
    inputs: dict[str, Any],
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Quantize the base ONNX into `staging` (and convert the IR), check the agreement; returns the manifest."""
    from bench.export.convert import convert_to_openvino

    name, timings = base.model_name, {}
    say(f"{name}: quantizing to int8 (QDQ, {settings['activation_type']}/{settings['weight_type']}, per-channel, "
        f"{CALIBRATION['images']} seeded calibration images)")  # fmt: skip
    started = time.perf_counter()
    try:
        quantize_onnx(base.files["onnx"], staging / "model.onnx", base.input_name, base.input_shape, settings)
    except Exception as exc:
        why = first_line(exc)
        raise ExportError(f"{name}: ONNX Runtime could not quantize the model ({why}); nothing was cached") from None
    timings["quantize_s"] = time.perf_counter() - started
    ov_info: dict[str, Any] = {}
    if "openvino" in formats:
        say(f"{name}: converting the int8 ONNX file to OpenVINO IR")
        started = time.perf_counter()
        ov_info = convert_to_openvino(staging / "model.onnx", staging / "model.xml", error=ExportError)
        timings["convert_openvino_s"] = time.perf_counter() - started
    say(f"{name}: checking the int8 model's weights and its agreement with fp32")
    started = time.perf_counter()
    sqnr, tensor = weight_sqnr_db(base.files["onnx"], staging / "model.onnx")
    if not sqnr >= MIN_WEIGHT_SQNR_DB:
        raise ExportError(
            f"{name}: quantization broke the graph: {tensor} keeps {sqnr:.3g} dB of its fp32 values (bound "
            f"{MIN_WEIGHT_SQNR_DB:g} dB: a zero, negative or wrong scale); nothing was cached. Measure fp32, or "
            "report this with the onnxruntime version"
        )
    found = check_agreement(base.files["onnx"], staging, formats, base.input_name, base.input_shape, name)
    timings["agreement_s"] = time.perf_counter() - started
    agreement = {
        **{a.runtime: {"rel_error": a.rel_error, "cosine": a.cosine} for a in found},
        "weights": {"worst_sqnr_db": sqnr, "tensor": tensor, "min_sqnr_db": MIN_WEIGHT_SQNR_DB},
        "inputs": AGREEMENT_INPUTS,
        "min_cosine": MIN_COSINE,
        "versus": "fp32 ONNX in ONNX Runtime",
    }
    return _manifest(base, staging, formats, settings, fingerprint, inputs, ov_info, agreement, timings)


def _manifest(
    base: ArtifactSet,
    staging: Path,
    formats: tuple[str, ...],
    settings: dict[str, Any],
    fingerprint: str,
    inputs: dict[str, Any],
    ov_info: dict[str, Any],
    agreement: dict[str, Any],
    timings: dict[str, float],
) -> dict[str, Any]:
    artifacts: dict[str, Any] = {"onnx": {"file": "model.onnx", "sha256": sha256_file(staging / "model.onnx")}}
    names = ["model.onnx"]
    if "openvino" in formats:
        artifacts["openvino"] = {
            "file": "model.xml", "weights": "model.bin", "sha256": artifact_sha256("openvino", staging / "model.xml"),
            "sha256_of": "model.xml bytes followed by model.bin bytes", "converted_from": "model.onnx",
            "compress_to_fp16": False, **ov_info,
        }  # fmt: skip
        names += ["model.xml", "model.bin"]
    return {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_VERSION,
        "model_name": base.model_name,
        "spec": base.manifest.get("spec"),
        "fingerprint": fingerprint,
        "fingerprint_inputs": inputs,
        "source": {"kind": "quantized", "base_fingerprint": base.fingerprint, "base_sha256": base.sha256["onnx"]},
        "precision": "int8",
        "quantization": {**settings, "note": fallback_note(settings)},
        "calibration": CALIBRATION,
        "agreement": agreement,
        "input": {"name": base.input_name, "shape": list(base.input_shape), "dtype": base.input_dtype},
        "outputs": base.manifest.get("outputs"),
        "files": describe_files(staging, names),
        "artifacts": artifacts,
        "exporter": None,
        "parity": {"results": {}, "note": "int8: see agreement"},
        "versions": {
            "effbench": __version__,
            "python": platform.python_version(),
            **library_versions(("onnx", "onnxruntime", "openvino", "numpy")),
        },
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "export_seconds": {k: round(v, 4) for k, v in timings.items()},
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine()},
    }


def agreement_of(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """The agreement record of an int8 entry's manifest (None for an fp32 entry)."""
    found = manifest.get("agreement")
    return dict(found) if isinstance(found, dict) else None
