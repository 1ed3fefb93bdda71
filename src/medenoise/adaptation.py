"""Self-supervised adaptation: fine-tune a model on the very noisy images it is about to
denoise, with no clean reference, then denoise them with the result (`denoise --adapt`).

A pretrained prior is only as good as its match to the data: `ssdn-gauss25-gray` learned it
on photos, which are never exactly black, and keeps a bias in an MRI slice's black background
until a few dozen steps on the noisy slice alone remove it (`medenoise demo`). Only methods
that train on noisy images alone can do this: SSDN and Noise2Void.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from medenoise.errors import UserError

ADAPTABLE = ("ssdn", "n2v")
DEFAULT_LR = 1e-4
"""The demo's rate: 40 steps of 4×64² took the MRI slice from 30.84 to 31.95 dB."""


def adaptable_config(model: str):
    """The model's config; refuses models that cannot learn from noisy images alone."""
    from medenoise.api import load_model
    from medenoise.methods.baselines import is_baseline_name

    if is_baseline_name(model):
        raise UserError(f"--adapt fine-tunes a network; {model} is a training-free baseline")
    config = load_model(model).config
    method = config.method
    if method not in ADAPTABLE:
        raise UserError(
            f"--adapt needs a self-supervised model (SSDN or Noise2Void); {model} is {method}, "
            "which trains on clean or paired images"
        )
    return config


def _accelerator(device: str) -> tuple[str, int | str]:
    """`denoise --device` → Lightning's (accelerator, devices)."""
    if device == "cpu":
        return "cpu", 1
    if device.startswith("cuda"):
        _, _, index = device.partition(":")
        return "gpu", f"{int(index)}," if index else 1
    raise UserError(f"--device {device!r}: choose cpu, cuda or cuda:N")


def adapt_model(
    model: str,
    data: Sequence[Path],
    steps: int,
    workdir: Path,
    *,
    noise: str | None = None,
    value_range: tuple[float, float] | None = None,
    lr: float = DEFAULT_LR,
    batch_size: int = 4,
    patch: int = 64,
    seed: int = 0,
    device: str = "cpu",
    precision: str = "32",
    progress: bool = True,
) -> Path:
    """Train `model` (zoo name or model file) `steps` steps on the noisy `data` files and
    return the adapted model file (under `workdir`). `noise`: the data's level for a model
    that takes a known one (its training level otherwise)."""
    from medenoise.api import takes_known_level
    from medenoise.config import ModelConfig, TrainConfig, validated
    from medenoise.noise.spec import parse_noise_spec
    from medenoise.train import run_training

    if steps < 1:
        raise UserError(f"--adapt {steps}: give a number of steps, at least 1")
    base = adaptable_config(model)
    fields = {**base.model_dump(), "training": {}}
    if noise is not None and takes_known_level(base):
        spec = parse_noise_spec(noise)
        if spec.kind != parse_noise_spec(base.noise).kind or not spec.is_fixed:
            raise UserError(
                f"--noise {noise} with --adapt: give one {parse_noise_spec(base.noise).kind} "
                f"level, the model's noise model ({base.noise})"
            )
        fields["noise"] = str(spec)
    accelerator, devices = _accelerator(device)
    cfg = validated(
        TrainConfig,
        dict(
            data=[str(p) for p in data],
            data_kind="noisy",
            init=model,
            steps=steps,
            batch_size=batch_size,
            patch=patch,
            lr=lr,
            rampup=0.0,
            rampdown=0.5,
            seed=seed,
            checkpoint_every=steps,
            val_every=steps,
            accelerator=accelerator,
            devices=devices,
            precision="bf16-mixed" if precision == "bf16" else "32-true",
            value_range=value_range,
            model=validated(ModelConfig, fields, model).model_dump(),
        ),
        "--adapt",
    )
    if progress:
        print(
            f"adapting {model} to {len(data)} noisy file(s): {steps} self-supervised steps",
            file=sys.stderr,
            flush=True,
        )
    return run_training(cfg, Path(workdir) / "adapt-run", progress=progress)


def adapt(
    model: str,
    images: Sequence,
    steps: int,
    *,
    noise: str | None = None,
    lr: float = DEFAULT_LR,
    seed: int = 0,
    device: str = "cpu",
    precision: str = "32",
    ensemble: bool | None = None,
    progress: bool = False,
):
    """Python face of `--adapt`: fine-tune `model` on noisy arrays ((H, W) or (H, W, C);
    uint8/uint16 or float on [0, 1], as `denoise` takes them) and return the adapted
    denoiser. Values are kept as given (float32 TIFF), so noise below 0 is not clipped."""
    import tempfile

    import numpy as np
    import tifffile

    from medenoise.data.io import from_array

    with tempfile.TemporaryDirectory(prefix="medenoise-adapt-") as tmp:
        folder = Path(tmp) / "noisy"
        folder.mkdir()
        for i, array in enumerate(images):
            plane = from_array(np.asarray(array)).array.astype(np.float32)
            gray = plane.shape[-1] == 1
            tifffile.imwrite(folder / f"{i:05d}.tif", plane[..., 0] if gray else plane)
        path = adapt_model(
            model, [folder], steps, Path(tmp), noise=noise, lr=lr, seed=seed, device=device,
            precision=precision, progress=progress,
        )  # fmt: skip
        return load_adapted(path, model, steps, device, ensemble, precision=precision)


def adapt_denoiser(
    model: str,
    files: Sequence[Path],
    steps: int,
    *,
    options,
    noise: str | None = None,
    value_range: tuple[float, float] | None = None,
    lr: float = DEFAULT_LR,
    trust_pickle: bool = False,
):
    """`denoise --adapt`: `model` fine-tuned `steps` steps on the noisy `files`, loaded as a
    denoiser that runs with `options` (an InferenceOptions)."""
    import tempfile

    loading = dict(
        tile=options.tile, trust_pickle=trust_pickle, backend=options.backend.value,
        batch=options.batch, precision=options.precision.value,
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="medenoise-adapt-") as tmp:
        adapted = adapt_model(
            model, list(files), steps, Path(tmp), noise=noise, value_range=value_range, lr=lr,
            device=options.device, precision=options.precision.value,
        )  # fmt: skip
        return load_adapted(adapted, model, steps, options.device, options.ensemble, **loading)


def load_adapted(path: Path, model: str, steps: int, device: str, ensemble, **loading):
    """Load the adapted weights (into memory: `path` may be deleted after), with `model`'s
    self-ensemble default and a source naming `model`, not the temporary file."""
    from medenoise.api import load_model
    from medenoise.zoo import default_ensemble

    if ensemble is None:
        ensemble = default_ensemble(model)
    denoiser = load_model(path, device, ensemble=ensemble, **loading)
    denoiser.source = f"{Path(model).name} adapted {steps} steps"
    return denoiser
