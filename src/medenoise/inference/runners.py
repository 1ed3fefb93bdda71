"""The network call as a strategy the Denoiser runs: eager PyTorch, or ONNX Runtime.

Every runner has `device` and `run(x, params) -> tensor`: the clean estimate of a padded
(N, C, S, S) float32 batch. Tiling, batching, the self-ensemble and I/O stay in the Denoiser.
"""

from __future__ import annotations

from typing import Protocol

import torch

from medenoise.errors import UserError
from medenoise.inference.options import Backend, InferenceOptions, Precision


class Runner(Protocol):
    """What the Denoiser needs from a backend."""

    device: torch.device

    def run(self, x: torch.Tensor, params: torch.Tensor | None) -> torch.Tensor: ...


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A float32 channels_last copy of `x` on `device` (the layout the convolutions prefer)."""
    return x.to(device, torch.float32).contiguous(memory_format=torch.channels_last)


class TorchRunner:
    """The module's own `denoise` on `device`, channels_last, optionally under bf16 autocast
    (the convolutions only: the noise model, likelihood and posterior stay float64)."""

    def __init__(self, module, device: str | torch.device = "cpu", precision=Precision.FP32):
        self.module = module.to(memory_format=torch.channels_last)
        self.device = torch.device(device)
        self.bf16 = Precision.parse(precision) is Precision.BF16

    def run(self, x: torch.Tensor, params: torch.Tensor | None) -> torch.Tensor:
        """The clean estimate of a padded (N, C, S, S) batch, float32 on `device`."""
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.bf16):
            # looked up at each call, so a wrapped `module.denoise` (tests, profiling) is seen
            return self.module.denoise(to_device(x, self.device), params).float()


def make_runner(module, options: InferenceOptions):
    """The runner `options.backend` asks for; ONNX only on the CPU in float32, when installed;
    an automatic precision or backend is chosen by a probe (inference/autopath.py)."""
    if options.backend is Backend.AUTO or options.precision is Precision.AUTO:
        from medenoise.inference.autopath import auto_runner

        return auto_runner(module, options, make_runner)
    if options.backend is Backend.TORCH:
        return TorchRunner(module, options.device, options.precision)
    if options.precision is not Precision.FP32:
        raise UserError("--precision bf16 needs --backend torch")
    if torch.device(options.device).type != "cpu":
        raise UserError("--backend onnx runs on the CPU; use --backend torch on a GPU")
    from medenoise.inference.onnx import OnnxRunner
    from medenoise.inference.ort_session import onnx_available

    if not onnx_available():
        raise UserError(
            "--backend onnx needs onnxruntime and onnxscript: pip install 'medenoise[onnx]'"
        )
    return OnnxRunner(module, threads=options.threads)
