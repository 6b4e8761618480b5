"""int8 artifacts: an entry's fp32 ONNX quantized once (onnxruntime.quantization, QDQ), checked against fp32, cached.

One QDQ ONNX graph serves both runtimes, as one fp32 graph does: ONNX Runtime runs it as it is (its QDQ
transformer fuses the Q/DQ pairs into QLinearConv, QGemm and friends) and the OpenVINO IR is converted from it
(its low-precision transformations turn the Q/DQ pairs into u8/i8 kernels). The int8 entry is an entry of its own,
`<model>-int8-<fingerprint>`, whose fingerprint names the fp32 entry's fingerprint, the quantization settings and
the calibration set, so the fp32 entry and its fingerprint stay what they were. Calibration uses seeded synthetic
images, never data: latency only, the weights are random and no accuracy is ever reported.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    new_staging_folder,
    provenance,
    publish_folder,
    read_manifest,
    remove_leftover_staging,
    sha256_file,
    verify_entry,
    write_json,
)
from bench.export.int8_checks import (
    AGREEMENT_INPUTS,
    MIN_COSINE,
    MIN_WEIGHT_SQNR_DB,
    check_agreement,
    synthetic_images,
    weight_sqnr_db,
)
from bench.export.plans import fingerprint_inputs, looks_like_path

if TYPE_CHECKING:
    pass

# Bump when the quantization recipe changes the int8 bytes (old int8 entries then miss; fp32 entries stay).
QUANT_RECIPE = 1

# Calibration: seeded synthetic images with the statistics of normalized ImageNet inputs
# (bench.export.int8_checks.synthetic_images), 16 of them as in the by-hand runs this recipe reproduces (issue 19:
# MobileNetV2 8.7 -> 4.3 ms in ONNX Runtime); MinMax takes each activation's range over them.
CALIBRATION_IMAGES, CALIBRATION_SEED = 16, 0
CALIBRATION: dict[str, Any] = {
    "images": CALIBRATION_IMAGES,
    "seed": CALIBRATION_SEED,
    "distribution": "uniform [0, 1) pixels normalized with the ImageNet mean and std",
    "method": "MinMax",
}
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


def current_identity(recorded: dict[str, Any]) -> dict[str, Any]:
    """An int8 entry's identity as this code would give it (bench.export.plans.current_fingerprint_inputs): today's
    recipe for the ISA it was made for, and today's calibration."""
    isa = str((recorded.get("quantization") or {}).get("isa"))
    return {**recorded, "quantization": quantization_settings([isa]), "calibration": CALIBRATION}


def fallback_note(settings: dict[str, Any]) -> str | None:
    """What a reader should know when the recipe is the no-VNNI variant; None on a VNNI CPU."""
    if not settings.get("reduce_range"):
        return None
    return (
        "this CPU has no VNNI (avx512_vnni, avx_vnni or amx_int8): int8 uses ONNX Runtime's documented fallback, "
        "7-bit weights (reduce_range), and runs on AVX2/AVX-512BW multiply-adds, often no faster than fp32"
    )


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


def quantized_fingerprint_inputs(base: ArtifactSet, settings: dict[str, Any]) -> dict[str, Any]:
    """What determines an int8 entry's bytes: the fp32 entry, the recipe, the calibration, the library versions."""
    identity = {"base_fingerprint": base.fingerprint, "quantization": settings, "calibration": CALIBRATION}
    return fingerprint_inputs("quantized", identity)


def require_quantizer(model: str) -> None:
    """One line naming the extra when ONNX Runtime's quantization tool (or onnx) is missing (for a zoo model, checked
    before its fp32 export)."""
    import importlib.util

    for name in ("onnxruntime", "onnx"):
        if importlib.util.find_spec(name) is None:
            raise EffbenchError(
                f"int8 for {model} needs {name} (ONNX Runtime's quantization tool), which is not installed: "
                "pip install 'effbench[onnx]', or drop int8 from --precision"
            )


def quantizer_problem(model: str) -> str | None:
    """require_quantizer's line when int8 for `model` cannot be made here (a user's file is measured as it is: None)."""
    if looks_like_path(model):
        return None
    try:
        require_quantizer(model)
    except EffbenchError as exc:
        return str(exc)
    return None


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


def int8_source(
    fp32: Callable[[str, tuple[str, ...]], ArtifactSet], cache_dir: Path, say: Callable[[str], Any]
) -> Callable[[str, tuple[str, ...]], ArtifactSet]:
    """The planner's artifact source for int8 cells (bench.engine.plan): the int8 artifacts of what `fp32` gives
    (the cache or a bundle; its ONNX is what is quantized, a quantized file is used as it is)."""

    def int8(model: str, formats: tuple[str, ...]) -> ArtifactSet:
        if not looks_like_path(model):  # a user's file may come quantized: then nothing is needed
            require_quantizer(model)
        base = fp32(model, formats if model.lower().endswith(".xml") else tuple(dict.fromkeys(("onnx", *formats))))
        return int8_artifacts(base, formats, cache_dir, say=say)[0]

    return int8


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
    require_quantizer(base.model_name)
    if flags is None:
        from bench.machine import THIS_MACHINE

        flags = THIS_MACHINE.first_cpuinfo().get("flags") or ()
    settings = quantization_settings(flags)
    if fallback_note(settings):
        say(f"note: {fallback_note(settings)}")
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
        **provenance(("onnx", "onnxruntime", "openvino", "numpy"), timings),
    }


def quantization_record(manifest: dict[str, Any]) -> dict[str, Any] | None:
    """What a result document records of an int8 model (None for an fp32 one): the recipe, the calibration and the
    agreement with fp32 of an int8 entry, or that a user's file came quantized."""
    if manifest.get("precision") == "int8":
        return {key: manifest.get(key) for key in ("quantization", "calibration", "agreement")}
    if (manifest.get("source") or {}).get("quantized"):
        return {"quantization": {"tool": "the file's own (quantized before effbench saw it): measured as it is"}}
    return None
