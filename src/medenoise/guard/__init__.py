"""The guard on what a denoiser removed: `checks` compares the method noise (input − output)
with the inspector's noise measurement and words its findings; `session` runs it on every
file of `denoise` (warnings, `--strict`, `--report`) and picks a model when none is given."""

from medenoise.guard.checks import (
    GuardResult,
    ModelInfo,
    check_output,
    derivation_note,
    model_info,
    to_profile_scale,
    warning_line,
)

__all__ = [
    "GuardResult",
    "ModelInfo",
    "check_output",
    "derivation_note",
    "model_info",
    "to_profile_scale",
    "warning_line",
]
