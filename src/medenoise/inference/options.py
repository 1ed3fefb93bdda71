"""How a loaded model runs: one frozen record instead of loose keyword arguments."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Precision(StrEnum):
    """Arithmetic of the network's convolutions; the noise model and posterior stay float64."""

    FP32 = "32"
    BF16 = "bf16"
    AUTO = "auto"  # inference: the faster of the two whose output agrees (inference/autopath)

    @classmethod
    def parse(cls, value: str | Precision) -> Precision:
        """'32'/'32-true'/'fp32' → FP32, 'bf16'/'bf16-mixed' → BF16 (Lightning's names too),
        'auto' → AUTO."""
        text = value.value if isinstance(value, Precision) else str(value).lower()
        aliases = {"32": cls.FP32, "32-true": cls.FP32, "fp32": cls.FP32, "auto": cls.AUTO}
        aliases |= {"bf16": cls.BF16, "bf16-mixed": cls.BF16}
        if text not in aliases:
            from medenoise.errors import UserError

            raise UserError(f"precision {value!r}: choose 32, bf16 or auto")
        return aliases[text]

    @property
    def lightning(self) -> str:
        """The same precision in Lightning's vocabulary (training, where auto means float32:
        the automatic choice is made for inference only, e.g. after `denoise --adapt`)."""
        return "bf16-mixed" if self is Precision.BF16 else "32-true"


class Backend(StrEnum):
    """What runs the network: eager PyTorch, ONNX Runtime on the CPU, or the faster of the two
    whose output agrees (auto; inference/autopath)."""

    TORCH = "torch"
    ONNX = "onnx"
    AUTO = "auto"


@dataclass(frozen=True)
class InferenceOptions:
    """How to run a model: tile side (None: from free memory), planes/tiles per call (None:
    automatic), precision, self-ensemble (None: zoo default), backend, device, exact tiling,
    CPU threads the runner uses (None: torch's current setting)."""

    tile: int | None = None
    batch: int | None = None
    precision: Precision = Precision.FP32
    ensemble: bool | None = None
    backend: Backend = Backend.TORCH
    device: str = "cpu"
    exact: bool = False  # tile overlap covering the whole receptive field (else: a tolerance)
    threads: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "precision", Precision.parse(self.precision))
        object.__setattr__(self, "backend", _backend(self.backend))

    def with_(self, **changes) -> InferenceOptions:
        """A copy with some fields changed."""
        return replace(self, **changes)


def _backend(value: str | Backend) -> Backend:
    try:
        return Backend(value)
    except ValueError:
        from medenoise.errors import UserError

        raise UserError(f"unknown backend {value!r}: choose torch, onnx or auto") from None
