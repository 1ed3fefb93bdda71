"""`medenoise train`: options and recipe merged into a TrainConfig, then `run_training`.

The options are built from one table, `OPTIONS`: config field → (type, flags, help). A new
knob of TrainConfig costs one line there, or none: `--set KEY=VALUE` reaches every field.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer

from medenoise.errors import UserError

PATHS = list[Path]  # options naming files or folders (checked by us, not by click)

# config field (flat name) → (type on the command line, flags (default --field-name), help)
OPTIONS: dict[str, tuple[Any, tuple[str, ...], str]] = {
    "method": (str, (), "Training method (SSDN: blind spot + noise model)."),
    "noise": (str, (), "Noise model/level, e.g. gaussian:25, gaussian:5-50, poisson:30, "
              "pg:a=0.01,b=0."),
    "noise_param": (str, (), "How SSDN gets the noise level."),
    "covariance": (str, (), "SSDN prior covariance (mu: the μ-only ablation)."),
    "channels": (int, (), "1 (mono) or 3 (RGB)."),
    "width": (int, (), "Base U-Net width (paper: 48)."),
    "pd_stride": (int, (), "Blind-spot training on correlated noise: train on the stride-K "
                  "pixel-shuffle sub-images of patch·K crops (K from `medenoise inspect`'s "
                  "correlation); the model then denoises that way by default."),
    "blind_square": (int, (), "SSDN on correlated noise at full resolution: the side (1, 3, "
                     "5, 7) of the square its blind spot hides around each pixel; 5 when "
                     "the noise is correlated up to 2 pixels apart."),
    "data_kind": (str, (), "clean: add fresh synthetic noise every step; noisy: use the "
                  "images as they are (self-supervised on real noise)."),
    "pairs": (PATHS, (), "Second noisy copies of DATA for Noise2Noise on real pairs: one "
              "folder (or file) per DATA entry, files matched by relative path. Needs "
              "--data-kind noisy."),
    "layout": (str, (), "fmd: DATA are FMD folders (<config>/raw/<fov>/*.png); "
               "two distinct raw frames of one field of view form an N2N pair (ssdn/n2v "
               "train on single frames). Needs --data-kind noisy."),
    "min_patch_mean": (float, (), "Redraw training patches whose mean is below this (0–1), "
                       "so X-ray and MRI training does not waste steps on black background."),
    "matrix_scales": (str, (), "F1,F2,...: clean patches also drawn from F·patch crops averaged "
                      "over F×F blocks (e.g. 1,2,4), so the model knows coarser scan matrices "
                      "(a 128² CT) than its training images."),
    "n2v_fraction": (float, (), "Fraction of pixels Noise2Void masks per patch "
                     "(default 1/64)."),
    "value_range": (str, ("--range",), "LO,HI in the training files' value units (e.g. HU: "
                    "-1024,3071, or a float MRI's 0,150) mapped to [0, 1]; noise levels are "
                    "relative to it. Default: the working range of each file "
                    "(docs/working-range.md)."),
    "val": (PATHS, (), "Clean validation images/folders (PSNR logged)."),
    "steps": (int, (), "Optimiser steps."),
    "batch_size": (int, (), "Patches per step."),
    "patch": (int, (), "Patch side, multiple of 32."),
    "lr": (float, (), "Peak learning rate."),
    "seed": (int, (), "Seed for patches and noise."),
    "checkpoint_every": (int, (), "Checkpoint period, steps."),
    "val_every": (int, (), "Validation period, steps."),
    "init": (str, (), "Start from this model (fine-tune)."),
    "freeze_net_steps": (int, (), "SSDN with a learned level: train only the level for N "
                         "steps first."),
    "freeze_level_after": (int, (), "SSDN with a learned level: stop training the level "
                           "after N steps (0: never)."),
    "ignore_clipped": (bool, ("--ignore-clipped/--keep-clipped",),
                       "SSDN on real data: leave pixels at the range's ends out of the loss."),
    "level_from_measurement": (bool, ("--level-from-measurement/--no-level-from-measurement",),
                               "SSDN per-image Gaussian level on real data: learn it from the "
                               "level measured on each patch."),
    "level_from_synthesis": (bool, ("--level-from-synthesis/--level-from-likelihood",),
                             "SSDN per-image level on synthetic noise: learn it from the "
                             "true level."),
    "objective": (str, (), "SSDN on real noisy data: likelihood (of the noisy pixel), or sure "
                  "(the estimated error of its own output; needs the data's level: a known "
                  "one, or Gaussian noise measured per patch). Fine-tuning only: from "
                  "scratch SURE stalls at the identity."),
    "balance_noise_levels": (bool, ("--balance-noise-levels/--no-balance-noise-levels",),
                             "SSDN over a level range: weight the NLL by σ_y so high noise "
                             "trains as fast."),
    "accelerator": (str, (), "cpu | gpu | auto (or --device)."),
    "devices": (str, (), "Devices per node (or --device)."),
    "num_nodes": (int, (), "Nodes."),
    "strategy": (str, (), "auto | ddp | ..."),
    "precision": (str, (), "Network arithmetic (Lightning's 32-true, bf16-mixed, ... too)."),
    "num_workers": (int, (), "Data-loader processes."),
    "compile": (bool, ("--compile/--no-compile",), "torch.compile the network."),
}  # fmt: skip

# enumerated fields: their values, shown in --help (a test keeps them equal to the config's)
CHOICES = {
    "method": "ssdn|n2c|n2n|n2v|student",
    "noise_param": "known|global|per-image",
    "covariance": "full|diag|mu",
    "channels": "1|3",
    "data_kind": "clean|noisy",
    "layout": "files|fmd",
    "precision": "32|bf16",
    "objective": "likelihood|sure",
}
# --help panels: the config section each option sets (a test keeps them equal to the config's)
PANELS = {
    "Data": ("data_kind", "pairs", "layout", "min_patch_mean", "matrix_scales", "value_range",
             "val", "patch", "batch_size", "num_workers"),
    "Model": ("method", "noise", "noise_param", "covariance", "channels", "width",
              "pd_stride", "blind_square"),
    "Method options": ("n2v_fraction", "freeze_net_steps", "freeze_level_after",
                       "ignore_clipped", "level_from_synthesis", "level_from_measurement",
                       "balance_noise_levels", "objective"),
    "Optimiser": ("steps", "lr", "seed"),
    "Run and hardware": ("checkpoint_every", "val_every", "init", "accelerator", "devices",
                         "num_nodes", "strategy", "precision", "compile"),
}  # fmt: skip
PANEL_OF = {key: panel for panel, keys in PANELS.items() for key in keys}

# the command's own parameters around the table's: name → (annotation, default)
HEAD = {
    "data": (Annotated[PATHS | None, typer.Argument(
        help="Training images: files or folders (searched recursively). Optional with "
        "--config (the recipe's `data`).", show_default=False, readable=False)], None),
}  # fmt: skip
TAIL = {
    "out": (Annotated[Path | None, typer.Option(
        "-o", "--out", help="Run folder: checkpoints, metrics.csv, model.safetensors.",
        rich_help_panel="Run and hardware")], None),
    "device": (Annotated[str | None, typer.Option(
        help="Sets --accelerator and --devices.", metavar="<cpu|cuda|cuda:N>",
        rich_help_panel="Run and hardware")], None),
    "set_": (Annotated[list[str] | None, typer.Option("--set", help="KEY=VALUE for any "
        "config field (flat, e.g. rampup=0.02, or section.key); repeatable.",
        rich_help_panel="Recipe")], None),
    "config": (Annotated[Path | None, typer.Option(
        help="YAML recipe; flags override it.", readable=False, rich_help_panel="Recipe")],
        None),
    "resume": (Annotated[bool, typer.Option(help="Continue the run in --out.",
        rich_help_panel="Run and hardware")], False),
    "progress": (Annotated[bool, typer.Option(help="Show a progress bar.",
        rich_help_panel="Run and hardware")], True),
}  # fmt: skip


def _signature() -> inspect.Signature:
    """The command's parameters: HEAD, one option per OPTIONS row, TAIL."""
    rows = {
        key: (Annotated[kind | None, _option(key, flags, text, kind)], None)
        for key, (kind, flags, text) in sorted(OPTIONS.items(), key=_panel_order)
    }
    return inspect.Signature(
        [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a)
            for name, (a, d) in {**HEAD, **rows, **TAIL}.items()
        ]
    )


def _panel_order(row: tuple[str, Any]) -> int:
    """Rows sorted by their panel, in PANELS order (typer shows panels as first met)."""
    return list(PANELS).index(PANEL_OF.get(row[0], "Run and hardware"))


def _option(key: str, flags: tuple[str, ...], text: str, kind: Any):
    """One table row as a typer option: its panel, its values for enumerated fields, and
    no click-side existence check for paths (unreadable files get our one-line error)."""
    extra: dict[str, Any] = {"rich_help_panel": PANEL_OF.get(key, "Run and hardware")}
    if key in CHOICES:
        extra["metavar"] = f"<{CHOICES[key]}>"
    if kind is PATHS:
        extra["readable"] = False
    return typer.Option(*flags, help=text, **extra)


def train(**values: Any) -> None:
    """Train a denoiser on a folder of images (clean + synthetic noise, or already noisy)."""
    from medenoise.checkpointing import TrainingInterrupted
    from medenoise.commands._common import user_errors
    from medenoise.train import run_training

    with user_errors():
        cfg = train_config(values)
        if values["out"] is None:
            raise UserError("no run folder: pass -o/--out")
        try:
            path = run_training(
                cfg, values["out"], resume=values["resume"], progress=values["progress"]
            )
        except TrainingInterrupted as stop:
            typer.echo(f"interrupted: {stop}", err=True)
            raise typer.Exit(stop.exit_code) from None
        from lightning.pytorch.utilities import rank_zero_only

        if rank_zero_only.rank == 0:  # DDP: every rank returns here; one line is enough
            typer.echo(f"model written to {path}")


train.__signature__ = _signature()  # typer reads the parameters from here


def train_config(values: dict[str, Any]):
    """The recipe (`--config`), then the options given, then `--set`, as one TrainConfig."""
    from medenoise.config import TrainConfig, merged, validated
    from medenoise.devices import parse_device

    config = values["config"]
    base = TrainConfig.from_yaml(config, recipe=True).model_dump() if config else {}
    updates = {k: _cli_value(k, v) for k, v in values.items() if k in OPTIONS and v is not None}
    if values["device"] is not None:
        if values["accelerator"] is not None or values["devices"] is not None:
            raise UserError("give --device or --accelerator/--devices, not both")
        updates["accelerator"], updates["devices"] = parse_device(values["device"])
    if values["data"]:
        updates["data"] = [str(d) for d in values["data"]]
    try:
        raw = merged(merged(base, updates), _settings(values["set_"] or []))
    except ValueError as exc:
        raise UserError(str(exc), config or "options") from None
    if not raw.get("dataset", {}).get("data"):
        raise UserError("no training data: give DATA folders or a --config recipe with `data`")
    return validated(TrainConfig, raw, config or "options")


def _cli_value(key: str, value: Any) -> Any:
    """An option's value as the config takes it."""
    from medenoise.commands._common import parse_range

    if key == "value_range":
        return parse_range(value)
    if key == "devices":
        return int(value) if value.isdigit() else value
    if key == "matrix_scales":
        factors = value.split(",")
        if not all(f.strip().isdigit() for f in factors):
            raise UserError(f"--matrix-scales {value!r}: give whole factors, e.g. 1,2,4")
        return [int(f) for f in factors]
    if isinstance(value, list):
        return [str(v) for v in value]
    return value


def _settings(items: list[str]) -> dict[str, Any]:
    """`--set KEY=VALUE` items as config updates; VALUE is read as YAML (numbers, lists)."""
    import yaml

    from medenoise.config import FLAT, SECTIONS, TrainConfig

    known = set(FLAT) | set(TrainConfig.model_fields)  # flat fields and `init`
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        section, _, field = key.strip().rpartition(".")
        if not sep or (section and section not in SECTIONS) or (field not in known and not section):
            raise UserError(f"--set {item!r}: give KEY=VALUE with a config field as KEY")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise UserError(f"--set {item!r}: VALUE is not valid YAML") from None
        if section:
            out.setdefault(section, {})[field] = value
        else:
            out[field] = value
    return out
