"""ONNX → OpenVINO IR: the IR is converted from the very ONNX file ONNX Runtime runs, so both runtimes see one
graph, with fp32 weights (no silent fp16 compression).

Each conversion runs in a fresh Python process. OpenVINO names the nodes it creates from a process-wide counter
("Reshape_28" in a fresh process, "Reshape_11106" after one earlier conversion), so the same ONNX file gave other
IR bytes depending on what the process had converted before: a suite exporting B0 then B1 wrote another B1 IR than
`effbench export --model b1`, and two machines could never run the same IR. A fresh process makes the IR a
function of the ONNX file (and the OpenVINO version) alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.errors import EffbenchError, first_line

# A conversion of the largest zoo model takes a few seconds; this only catches a hung process.
CONVERT_TIMEOUT_S = 600.0


def convert_to_openvino(onnx_path: Path, xml_path: Path, error: type[EffbenchError]) -> dict[str, Any]:
    """Convert the ONNX file to IR with fp32 weights in a fresh process; returns what was recorded."""
    from bench.engine.launchers import child_env

    cmd = [sys.executable, "-m", "bench.export.convert", str(onnx_path), str(xml_path)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), timeout=CONVERT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise error(
            f"OpenVINO did not convert {onnx_path.name} within {CONVERT_TIMEOUT_S:.0f} s; nothing was cached"
        ) from None
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        result = {}
    if done.returncode != 0 or "error" in result or "constant_element_types" not in result:
        why = result.get("error") or first_line(RuntimeError(done.stderr.strip() or f"exit {done.returncode}"))
        raise error(f"OpenVINO could not convert {onnx_path.name} ({why}); nothing was cached")
    return result


def _convert_here(onnx_path: str, xml_path: str) -> dict[str, Any]:
    from collections import Counter

    import openvino as ov

    model = ov.convert_model(onnx_path)
    ov.save_model(model, xml_path, compress_to_fp16=False)
    types = Counter(
        op.get_output_element_type(0).get_type_name()
        for op in model.get_ordered_ops()
        if op.get_type_name() == "Constant"
    )
    return {"constant_element_types": dict(sorted(types.items())), "openvino": ov.get_version()}


def main(argv: list[str]) -> int:
    """`python -m bench.export.convert ONNX XML`: one JSON line on stdout, the record or {"error": …}."""
    try:
        result = _convert_here(argv[0], argv[1])
    except Exception as exc:  # OpenVINO raises many types for a bad file
        print(json.dumps({"error": first_line(exc)}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
