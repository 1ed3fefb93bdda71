"""`medenoise distill`: a fast plain U-Net student trained to reproduce a teacher's output."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from medenoise.errors import UserError

STUDENT, DATA, RUN = "Student", "Data", "Run and hardware"
Teacher = Annotated[
    str | None,
    typer.Argument(
        help="Teacher: a zoo name, a .safetensors model file or a baseline (its default "
        "self-ensemble is used). Optional with --config (the recipe's `teacher`).",
        show_default=False,
    ),
]
Data = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Training images, files or folders: noisy images used as they are, or clean "
        "ones with --noise.",
        show_default=False,
        readable=False,
    ),
]
Out = Annotated[Path | None, typer.Option("-o", "--out", help="Run folder.", rich_help_panel=RUN)]
Noise = Annotated[
    str | None,
    typer.Option(
        help="DATA are clean: synthesise this noise (e.g. gaussian:25, or gaussian:5-50, each "
        "noisy copy's level drawn from the range).",
        rich_help_panel=DATA,
    ),
]
Copies = Annotated[
    int | None,
    typer.Option(help="Noisy copies of each clean image (with --noise).", rich_help_panel=DATA),
]
Width = Annotated[int | None, typer.Option(help="Student U-Net width.", rich_help_panel=STUDENT)]
Depth = Annotated[
    int | None, typer.Option(help="Student U-Net poolings, 2-5.", rich_help_panel=STUDENT)
]
Steps = Annotated[int | None, typer.Option(help="Optimiser steps.", rich_help_panel=STUDENT)]
Batch = Annotated[int | None, typer.Option(help="Patches per step.", rich_help_panel=STUDENT)]
Patch = Annotated[
    int | None, typer.Option(help="Patch side, multiple of 32.", rich_help_panel=STUDENT)
]
Lr = Annotated[float | None, typer.Option(help="Peak learning rate.", rich_help_panel=STUDENT)]
Seed = Annotated[int | None, typer.Option(help="Seed for noise and patches.", rich_help_panel=RUN)]
Init = Annotated[
    str | None, typer.Option(help="Warm start from this student.", rich_help_panel=STUDENT)
]
Prec = Annotated[
    str | None,
    typer.Option(help="Training arithmetic.", metavar="<32|bf16>", rich_help_panel=RUN),
]
Device = Annotated[
    str | None, typer.Option(help="Device.", metavar="<cpu|cuda|cuda:N>", rich_help_panel=RUN)
]
Config = Annotated[
    Path | None,
    typer.Option(help="YAML recipe (train's format); options override it.", readable=False),
]
Resume = Annotated[bool, typer.Option(help="Continue the run in --out.", rich_help_panel=RUN)]
Progress = Annotated[bool, typer.Option(help="Show progress.", rich_help_panel=RUN)]


def distill(
    teacher: Teacher = None,
    data: Data = None,
    out: Out = None,
    noise: Noise = None,
    realizations: Copies = None,
    width: Width = None,
    depth: Depth = None,
    steps: Steps = None,
    batch_size: Batch = None,
    patch: Patch = None,
    lr: Lr = None,
    precision: Prec = None,
    seed: Seed = None,
    init: Init = None,
    device: Device = None,
    config: Config = None,
    resume: Resume = False,
    progress: Progress = True,
) -> None:
    """Distil a teacher into a plain U-Net student: the teacher denoises the training images
    once, and the student learns to reproduce its output (no clean target is used)."""
    from medenoise.checkpointing import TrainingInterrupted
    from medenoise.commands._common import user_errors
    from medenoise.distill import run_distillation

    values = dict(locals())
    with user_errors():
        cfg = distill_config(values)
        if out is None:
            raise UserError("no run folder: pass -o/--out")
        try:
            path = run_distillation(cfg, out, resume=resume, progress=progress)
        except TrainingInterrupted as stop:
            typer.echo(f"interrupted: {stop}", err=True)
            raise typer.Exit(stop.exit_code) from None
    typer.echo(f"model written to {path}")


def distill_config(values: dict[str, Any]):
    """The recipe, then the options given, as one TrainConfig of a student."""
    from medenoise.config import TrainConfig, merged, validated
    from medenoise.devices import parse_device

    config = values["config"]
    base = TrainConfig.from_yaml(config, recipe=True).model_dump() if config else {}
    keys = ("noise", "realizations", "width", "depth", "steps", "batch_size", "patch", "lr")
    updates = {k: values[k] for k in keys + ("precision", "seed", "init") if values[k] is not None}
    updates["method"] = "student"
    if values["teacher"] is not None:
        updates["teacher"] = values["teacher"]
    if values["data"]:
        updates["data"] = [str(d) for d in values["data"]]
    if values["noise"] is not None:
        updates["data_kind"] = "clean"
    elif not config:
        updates["data_kind"] = "noisy"
    if values["device"] is not None:
        updates["accelerator"], updates["devices"] = parse_device(values["device"])
    raw = merged(base, updates)
    model, dataset = raw.get("model", {}), raw.get("dataset", {})
    if not model.get("teacher"):
        raise UserError("no teacher: give TEACHER or a --config recipe with `teacher`")
    if not dataset.get("data"):
        raise UserError("no training data: give DATA folders or a --config recipe with `data`")
    if "channels" not in model or "noise" not in model:
        teacher = _teacher_config(model["teacher"])
        model.setdefault("channels", teacher.channels)
        model.setdefault("noise", teacher.noise)  # noisy data: the teacher's noise, recorded
    return validated(TrainConfig, raw, config or "options")


def _teacher_config(name: str):
    """The teacher's ModelConfig, read from its file header (a baseline: mono, no level)."""
    from medenoise.config import ModelConfig
    from medenoise.inference.resolve import resolve_model
    from medenoise.modelfile import read_header

    ref = resolve_model(name)
    if ref.path is None:
        return ModelConfig(method="n2c", channels=1, noise="gaussian")
    return read_header(ref.path)[0]
