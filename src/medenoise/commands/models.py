"""`medenoise models`: the pretrained models shipped with this install."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from medenoise.commands._common import fail, user_errors
from medenoise.commands._options import Json


def models(
    as_json: Json = False,
) -> None:
    """List the shipped pretrained models: name, method, noise model, channels, training
    data and measured quality. Use a name wherever a model file is accepted."""
    from medenoise.zoo import registry

    rows = registry()
    if as_json:
        typer.echo(json.dumps([r.model_dump() for r in rows], indent=1, ensure_ascii=False))
        return
    if not rows:
        typer.echo(
            "No pretrained models ship with this version yet. Train one with a recipe from "
            "configs/zoo/: medenoise train --config configs/zoo/<name>.yaml -o runs/<name>"
        )
        return
    header = ("name", "method", "noise", "level", "ch", "training data", "measured")
    table = [header]
    for r in rows:
        measured = "; ".join(f"{k} {v:g}" for k, v in r.measured.items())
        if r.ensemble:
            measured += " (self-ensemble on by default; --no-ensemble: 2x faster)"
        # a model whose default is each image's measured level says so beside its mode
        level = r.noise_param + (", measured" if r.default_level == "measured" else "")
        table.append((r.name, r.method, r.noise, level, str(r.channels), r.training_data, measured))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def demo(
    out: Annotated[Path, typer.Option("-o", "--out", help="Folder for images and figure.")] = Path(
        "demo"
    ),
    model: Annotated[
        str | None,
        typer.Option(
            help="Zoo model (or model file) to show [default: ssdn-med-gray when the zoo "
            "ships it, else ssdn-gauss25-gray]."
        ),
    ] = None,
    finetune_steps: Annotated[
        int, typer.Option(help="Self-supervised fine-tuning steps on each noisy image.")
    ] = 40,
    as_json: Json = False,
) -> None:
    """Denoise a real MRI slice (matplotlib's s1045) and CT slice (pydicom's CT_small) with
    Gaussian σ=25 noise (seed 0) by the shipped SSDN model and by BM3D, then fine-tune SSDN on
    each noisy image alone; prints PSNR/SSIM/time and writes images and comparison.png."""
    import sys

    from medenoise.demo import default_model, run_demo
    from medenoise.zoo import entry

    with user_errors():
        model = model or default_model()
        if entry(model) is None and not Path(model).is_file():
            fail(
                f"model {model!r} is neither a shipped zoo model nor a file; this version "
                "ships none yet (see `medenoise models`); pass a model file with --model"
            )

        def log(msg: str) -> None:
            print(msg, file=sys.stderr, flush=True)

        result = run_demo(out, model, finetune_steps, log=log)
    if as_json:
        typer.echo(json.dumps(result, indent=1))
        return
    typer.echo(f"{'image':10s} {'method':16s} {'PSNR dB':>8s} {'SSIM':>7s} {'s':>6s}")
    for r in result["rows"]:
        typer.echo(
            f"{r['image']:10s} {r['method']:16s} {r['psnr']:8.2f} {r['ssim']:7.4f} "
            f"{r['seconds']:6.2f}"
        )
    typer.echo(
        f"fine-tuned {result['finetune_steps']} steps in {result['finetune_seconds']} s "
        "on each noisy image only (no clean reference)"
    )
    typer.echo(f"images and comparison.png written to {out}")
