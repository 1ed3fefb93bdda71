"""ONNX export of a trained denoiser, and `OnnxRunner`: the network call in ONNX Runtime.

Why: on CPU, ONNX Runtime fuses conv + activation and runs the blind-spot U-Net faster than
eager PyTorch (see BENCHMARKS.md), and an .onnx file lets users run our models outside
Python. The exported graph is the whole `denoise` (network + SSDN posterior mean), with the
image side dynamic. Exports are cached by content hash, so only the first use of a model
pays the export. Rules: CPU only, float32 only; per-image-level models stay on PyTorch
(tiled inference gives them one level per plane, which the single graph cannot).
This module imports nothing from the denoiser or the public API (no import cycle).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from medenoise.errors import UserError
from medenoise.inference.ort_session import OrtSessions, cache_dir

OPSET = 18


class DenoiseGraph(nn.Module):
    """`module.denoise` as a plain forward: (noisy[, params]) → clean estimate."""

    def __init__(self, module: nn.Module, takes_params: bool):
        super().__init__()
        self.module = module
        self.takes_params = takes_params

    def forward(self, noisy: torch.Tensor, params: torch.Tensor | None = None) -> torch.Tensor:
        return self.module.denoise(noisy, params if self.takes_params else None)


def takes_params(module) -> bool:
    """True when the exported graph takes the noise level as its second input."""
    return bool(module.takes_known_level)


def export_onnx(module, path: str | Path) -> Path:
    """Write `module`'s denoise graph to `path` (float32 in, float32 out; side dynamic)."""
    from torch.export import Dim

    cfg = module.model_config
    if module.estimates_level_per_image:
        raise UserError("ONNX export supports known- and global-level models, not per-image")
    module = module.eval().to("cpu", memory_format=torch.contiguous_format)
    graph = DenoiseGraph(module, takes_params(module))
    x = torch.zeros(1, cfg.channels, 64, 64)
    k = Dim("k", min=1, max=512)
    side = 32 * k
    if module.blind_spot:
        shapes: dict = {"noisy": {2: side, 3: side}}
    else:
        shapes = {"noisy": {2: side, 3: 32 * Dim("kw", min=1, max=512)}}
    args: tuple = (x,)
    names = ["noisy"]
    if graph.takes_params:
        args = (x, module.noise.fixed_params(1).float())
        shapes["params"] = None
        names.append("params")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with torch.no_grad(), _quiet():
        program = torch.onnx.export(
            graph,
            args,
            dynamic_shapes=shapes,
            input_names=names,
            output_names=["clean"],
            opset_version=OPSET,
            dynamo=True,
            verbose=False,
        )
    program.save(str(tmp))
    os.replace(tmp, path)
    return path


@contextlib.contextmanager
def _quiet():
    """The exporter narrates every pass on stdout and warns about torchvision: not for users."""
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        level = logging.getLogger("torch.onnx").level
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        try:
            yield
        finally:
            logging.getLogger("torch.onnx").setLevel(level)


def model_digest(module) -> str:
    """Content hash of a module's config and weights (names the cached export)."""
    h = hashlib.sha256(module.model_config.model_dump_json().encode())
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:24]


def cached_export(module) -> Path:
    """The module's export in the cache (`cache_dir()/onnx/<digest>.onnx`), written once."""
    path = cache_dir() / "onnx" / f"{model_digest(module)}.onnx"
    if not path.is_file():
        export_onnx(module, path)
    return path


class OnnxRunner:
    """Runs a module's denoise graph in ONNX Runtime on the CPU: `run(x, params) -> tensor`."""

    device = torch.device("cpu")

    def __init__(self, module, onnx_path: str | Path | None = None, threads: int | None = None):
        if onnx_path is None:
            onnx_path = cached_export(module)
        elif not Path(onnx_path).is_file():
            export_onnx(module, onnx_path)
        self.onnx_path = Path(onnx_path)
        self.threads = threads or torch.get_num_threads()
        self.takes_params = takes_params(module)
        self.ort = OrtSessions(self.onnx_path, self.threads, self.takes_params)

    def run(self, x: torch.Tensor, params: torch.Tensor | None) -> torch.Tensor:
        """The clean estimate of a padded (N, C, S, S) float32 batch, as a CPU tensor (the
        graph takes one image per call, so a batch runs image by image)."""
        if x.shape[0] > 1:
            one = params is None or params.shape[0] == 1  # one level for the whole batch
            rows = [params if one else params[i : i + 1] for i in range(x.shape[0])]
            return torch.cat([self.run(x[i : i + 1], rows[i]) for i in range(x.shape[0])])
        # Denoiser.noise_params always gives the level to models whose graph takes it
        level = params.cpu().numpy() if self.takes_params else None
        return torch.from_numpy(self.ort.run(x.detach().cpu().numpy(), level))
