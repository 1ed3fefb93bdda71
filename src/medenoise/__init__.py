"""medenoise: self-supervised deep denoising of medical and microscopy images.

`medenoise.load_model(name_or_path).denoise(array)` is the Python entry point, and
`medenoise.adapt(model, noisy_arrays, steps)` fine-tunes a model on noisy arrays alone first;
heavy modules (torch, lightning) load only when used.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["adapt", "load_model", "__version__"]


def __getattr__(name: str):
    if name == "load_model":
        from medenoise.api import load_model

        return load_model
    if name == "adapt":
        from medenoise.adaptation import adapt

        return adapt
    raise AttributeError(f"module 'medenoise' has no attribute {name!r}")
