"""medenoise: self-supervised deep denoising of medical and microscopy images.

`medenoise.load_model(name_or_path).denoise(array)` is the Python entry point; heavy
modules (torch, lightning) load only when used.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["load_model", "__version__"]


def __getattr__(name: str):
    if name == "load_model":
        from medenoise.api import load_model

        return load_model
    raise AttributeError(f"module 'medenoise' has no attribute {name!r}")
