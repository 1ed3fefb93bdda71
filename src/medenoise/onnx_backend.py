"""Former home of the ONNX backend, kept so older imports keep working: see inference/onnx.py."""

from medenoise.inference.onnx import (
    DenoiseGraph,
    OnnxRunner,
    cache_dir,
    export_onnx,
    model_digest,
    onnx_available,
)

__all__ = [
    "DenoiseGraph",
    "OnnxRunner",
    "cache_dir",
    "export_onnx",
    "model_digest",
    "onnx_available",
]
