"""`medenoise train`: options and recipe merged into a TrainConfig, then `run_training`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medenoise.errors import UserError


def train(
    data: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Training images: files or folders (searched recursively). "
            "Optional with --config (the recipe's `data`).",
            show_default=False,
            readable=False,  # unreadable files get our one-line error, not a usage box
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "-o", "--out", help="Run folder: checkpoints, metrics.csv, model.safetensors."
        ),
    ] = None,
    method: Annotated[str | None, typer.Option(help="ssdn | n2n | n2v | n2c.")] = None,
    noise: Annotated[
        str | None,
        typer.Option(
            help="Noise model/level, e.g. gaussian:25, gaussian:5-50, poisson:30, pg:a=0.01,b=0."
        ),
    ] = None,
    noise_param: Annotated[
        str | None, typer.Option(help="How SSDN gets the noise level: known | global | per-image.")
    ] = None,
    covariance: Annotated[
        str | None, typer.Option(help="SSDN prior: full | diag | mu (μ-only ablation).")
    ] = None,
    channels: Annotated[int | None, typer.Option(help="1 (mono) or 3 (RGB).")] = None,
    width: Annotated[int | None, typer.Option(help="Base U-Net width (paper: 48).")] = None,
    data_kind: Annotated[
        str | None,
        typer.Option(
            help="clean: add fresh synthetic noise every step; noisy: use the images as they "
            "are (self-supervised on real noise)."
        ),
    ] = None,
    pairs: Annotated[
        list[Path] | None,
        typer.Option(
            readable=False,
            help="Second noisy copies of DATA for Noise2Noise on real pairs: one folder "
            "(or file) per DATA entry, files matched by relative path. Needs --data-kind noisy.",
        ),
    ] = None,
    layout: Annotated[
        str | None,
        typer.Option(
            help="files | fmd. fmd: DATA are FMD folders (<config>/raw/<fov>/*.png); two "
            "distinct raw frames of one field of view form an N2N pair (ssdn/n2v train on "
            "single frames). Needs --data-kind noisy."
        ),
    ] = None,
    min_patch_mean: Annotated[
        float | None,
        typer.Option(
            help="Redraw training patches whose mean is below this (0–1), so X-ray and MRI "
            "training does not waste steps on black background."
        ),
    ] = None,
    n2v_fraction: Annotated[
        float | None,
        typer.Option(help="Fraction of pixels Noise2Void masks per patch (default 1/64)."),
    ] = None,
    value_range: Annotated[
        str | None,
        typer.Option(
            "--range",
            help="LO,HI in the training files' value units (e.g. HU: -1024,3071, or a float "
            "MRI's 0,150) mapped to [0, 1]; noise levels are relative to it. Default: each "
            "format's nominal range.",
        ),
    ] = None,
    val: Annotated[
        list[Path] | None,
        typer.Option(help="Clean validation images/folders (PSNR logged).", readable=False),
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Optimiser steps.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Patches per step.")] = None,
    patch: Annotated[int | None, typer.Option(help="Patch side, multiple of 32.")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for patches and noise.")] = None,
    checkpoint_every: Annotated[int | None, typer.Option(help="Checkpoint period, steps.")] = None,
    val_every: Annotated[int | None, typer.Option(help="Validation period, steps.")] = None,
    init: Annotated[str | None, typer.Option(help="Start from this model (fine-tune).")] = None,
    freeze_net_steps: Annotated[
        int | None,
        typer.Option(help="SSDN with a learned level: train only the level for N steps first."),
    ] = None,
    level_from_synthesis: Annotated[
        bool | None,
        typer.Option(
            "--level-from-synthesis/--level-from-likelihood",
            help="SSDN per-image level on synthetic noise: learn it from the true level.",
        ),
    ] = None,
    balance_noise_levels: Annotated[
        bool | None,
        typer.Option(
            "--balance-noise-levels/--no-balance-noise-levels",
            help="SSDN over a level range: weight the NLL by σ_y so high noise trains as fast.",
        ),
    ] = None,
    accelerator: Annotated[str | None, typer.Option(help="cpu | gpu | auto.")] = None,
    devices: Annotated[str | None, typer.Option(help="Devices per node.")] = None,
    num_nodes: Annotated[int | None, typer.Option(help="Nodes.")] = None,
    strategy: Annotated[str | None, typer.Option(help="auto | ddp | ...")] = None,
    precision: Annotated[str | None, typer.Option(help="32-true | bf16-mixed | ...")] = None,
    num_workers: Annotated[int | None, typer.Option(help="Data-loader processes.")] = None,
    compile_net: Annotated[
        bool | None, typer.Option("--compile/--no-compile", help="torch.compile the network.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML recipe; flags override it.", readable=False)
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Train a denoiser on a folder of images (clean + synthetic noise, or already noisy)."""
    from medenoise.checkpointing import TrainingInterrupted
    from medenoise.commands._common import parse_range, user_errors
    from medenoise.config import ModelConfig, TrainConfig, validated
    from medenoise.train import run_training

    with user_errors():
        base = TrainConfig.from_yaml(config, recipe=True).model_dump() if config else {"data": []}
        model = {
            k: v
            for k, v in dict(
                method=method,
                noise=noise,
                noise_param=noise_param,
                covariance=covariance,
                channels=channels,
                width=width,
            ).items()
            if v is not None
        }
        run = dict(
            val=[str(v) for v in val] if val else None,
            pairs=[str(p) for p in pairs] if pairs else None,
            layout=layout,
            n2v_fraction=n2v_fraction,
            value_range=parse_range(value_range),
            min_patch_mean=min_patch_mean,
            data_kind=data_kind,
            steps=steps,
            batch_size=batch_size,
            patch=patch,
            lr=lr,
            seed=seed,
            checkpoint_every=checkpoint_every,
            val_every=val_every,
            init=init,
            level_from_synthesis=level_from_synthesis,
            freeze_net_steps=freeze_net_steps,
            balance_noise_levels=balance_noise_levels,
            accelerator=accelerator,
            devices=_devices(devices),
            num_nodes=num_nodes,
            strategy=strategy,
            precision=precision,
            num_workers=num_workers,
            compile=compile_net,
        )
        base.update({k: v for k, v in run.items() if v is not None})
        if data:
            base["data"] = [str(d) for d in data]
        if not base["data"]:
            raise UserError("no training data: give DATA folders or a --config recipe with `data`")
        if out is None:
            raise UserError("no run folder: pass -o/--out")
        base["model"] = validated(
            ModelConfig, {**base.get("model", {}), **model}, config or "options"
        ).model_dump()
        cfg = validated(TrainConfig, base, config or "options")
        try:
            path = run_training(cfg, out, resume=resume, progress=progress)
        except TrainingInterrupted as stop:
            typer.echo(f"interrupted: {stop}", err=True)
            raise typer.Exit(stop.exit_code) from None
        from lightning.pytorch.utilities import rank_zero_only

        if rank_zero_only.rank == 0:  # DDP: every rank returns here; one line is enough
            typer.echo(f"model written to {path}")


def _devices(value: str | None) -> int | str | None:
    if value is None:
        return None
    return int(value) if value.isdigit() else value
