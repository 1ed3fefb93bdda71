"""`medenoise bench`: inference, training and equal-time quality on this machine (BENCHMARKS.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from medenoise.commands._common import fail, parse_device, user_errors
from medenoise.commands._options import OUTPUT, DeviceOpt, Json, Overwrite, PrecisionOpt

BENCH_HELP = (
    "Measure inference throughput and peak memory (SSDN, plain U-Net, BM3D, VST+BM3D on 512² "
    "and a tiled 4096² image), training speed (SSDN vs N2V vs N2C) and quality after equal "
    "wall-clock training; writes benchmarks/results/<machine>-<date>.json and prints tables."
)


Quick = Annotated[bool, typer.Option(help="Tiny sizes and budgets (seconds; for tests).")]
ResultFolder = Annotated[
    Path, typer.Option("-o", "--out", help="Folder for the result file.", rich_help_panel=OUTPUT)
]
Budget = Annotated[
    float | None, typer.Option(help="Seconds of training per method for the quality part.")
]
TimeCap = Annotated[
    float | None,
    typer.Option(help="Seconds per large-image row before scaling up from tiles done; 0: none."),
]
Sizes = Annotated[str | None, typer.Option(help="Image sides, comma-separated (default 512,4096).")]
Onnx = Annotated[bool, typer.Option(help="Also time SSDN in ONNX Runtime (CPU).")]
Width = Annotated[int | None, typer.Option(help="Network width (default 32, the zoo's).")]
Parts = Annotated[
    str | None, typer.Option(help="Comma-separated subset of inference,training,quality.")
]
Stack = Annotated[
    int,
    typer.Option(
        help="Also time the networks on a stack of this many planes of the smallest size, "
        "sent as batches (what `denoise` does with stacks and volumes; for GPUs)."
    ),
]
PARTS = ("inference", "training", "quality")
Suite = Annotated[
    str,
    typer.Option(
        help="full: the parts above; fast: teacher vs distilled student vs BM3D in one run "
        "(512² time, `denoise` on four 512² photos, the chest radiograph and a 4096² image "
        "in child processes with their own peak RSS; ratios and the speed/memory targets)."
    ),
]
Models = Annotated[
    str | None,
    typer.Option(
        help="--suite fast: comma-separated zoo names, baselines or model files; the first is "
        "the teacher the ratios divide by (default: ssdn-gauss25-gray, its -fast student if "
        "the zoo has it, bm3d)."
    ),
]
Quality = Annotated[
    bool, typer.Option(help="--suite fast: also Set12/BSD68 σ=25 and FMD FOV 19 raw (minutes).")
]
Radiograph = Annotated[
    Path | None,
    typer.Option(help="--suite fast: the large radiograph (default: the benchmark data's)."),
]
BigBudget = Annotated[
    float | None,
    typer.Option(
        help="--suite fast: seconds a non-student may take on the 4096² image, predicted from "
        "its 512² rate, for that run to be attempted (default 300; students always run it)."
    ),
]
ChildTimeout = Annotated[
    float | None, typer.Option(help="--suite fast: seconds before a `denoise` child is stopped.")
]


def bench(
    quick: Quick = False,
    as_json: Json = False,
    out: ResultFolder = Path("benchmarks/results"),
    device: DeviceOpt = "cpu",
    budget: Budget = None,
    time_cap: TimeCap = None,
    sizes: Sizes = None,
    onnx: Onnx = True,
    width: Width = None,
    parts: Parts = None,
    precision: PrecisionOpt = "32",
    stack: Stack = 1,
    suite: Suite = "full",
    models: Models = None,
    quality: Quality = False,
    radiograph: Radiograph = None,
    child_timeout: ChildTimeout = None,
    big_budget: BigBudget = None,
) -> None:
    """Run the benchmark (help text: BENCH_HELP)."""
    import torch

    from medenoise.bench.runner import run_bench, write_result
    from medenoise.bench.tables import markdown

    if suite not in ("full", "fast"):
        with user_errors():
            fail(f"--suite {suite}: choose full or fast")
    if suite == "fast":
        choices = dict(models=models, quality=quality, radiograph=radiograph)
        _fast(quick, as_json, out, timeout=child_timeout, big_budget=big_budget, **choices)
        return
    with user_errors():
        dev = torch.device(parse_device(device).torch)
        if dev.type == "cuda" and not torch.cuda.is_available():
            fail(f"--device {device}: no CUDA device on this machine")
        choices = dict(budget=budget, time_cap=time_cap, sizes=sizes, onnx=onnx, width=width)
        plan = _plan(quick, parts=parts, precision=precision, stack=stack, **choices)
        result = run_bench(plan, dev, log=lambda msg: print(msg, file=sys.stderr, flush=True))
        path = write_result(result, out)
        typer.echo(json.dumps(result, indent=1) if as_json else markdown(result))
        typer.echo(f"result written to {path}", err=True)


def _fast(quick, as_json, out, *, models, quality, radiograph, timeout, big_budget):
    """`--suite fast`: run it, write its JSON beside the full suite's, print its tables."""
    import datetime as dt

    import torch

    from medenoise.bench.machine import describe
    from medenoise.bench.runner import _shared_data, write_result
    from medenoise.bench.suite import SuitePlan, default_models, run_suite
    from medenoise.bench.tables import suite_markdown

    with user_errors():
        names = [m.strip() for m in models.split(",") if m.strip()] if models else None
        names = names or default_models()
        plan = SuitePlan.quick(names) if quick else SuitePlan(models=names)
        plan.quality = quality
        if radiograph is None and (data := _shared_data()) is not None:
            radiograph = data / "chest_xray" / "RG1_UNCR.dcm"
        if radiograph is not None and not radiograph.is_file():
            fail("--radiograph: no such file", radiograph)
        plan.radiograph = radiograph
        if timeout is not None:
            plan.timeout_s = timeout
        if big_budget is not None:
            plan.big_budget_s = big_budget
        result = {"machine": describe(torch.device("cpu")), "date": dt.date.today().isoformat()}
        result.update(run_suite(plan, log=lambda msg: print(msg, file=sys.stderr, flush=True)))
        path = write_result(result, out)
        typer.echo(json.dumps(result, indent=1) if as_json else suite_markdown(result))
        typer.echo(f"result written to {path}", err=True)


def _plan(quick: bool, *, budget, time_cap, sizes, onnx, width, parts, precision, stack):
    """The BenchPlan the options describe (quick or full, then each option given)."""
    from medenoise.bench.runner import BenchPlan
    from medenoise.inference.options import Precision

    plan = BenchPlan.quick() if quick else BenchPlan()
    if budget is not None:
        plan.budget_s = budget
    if time_cap is not None:
        plan.time_cap = time_cap or None  # 0: no cap
    if sizes:
        try:
            plan.sizes = tuple(int(s) for s in sizes.split(","))
        except ValueError:
            fail(f"--sizes {sizes!r}: expected side lengths like 512,4096")
    plan.onnx = onnx
    plan.precision = Precision.parse(precision).value
    if stack < 1:
        fail(f"--stack {stack}: give at least 1")
    plan.stack = stack
    if width is not None:
        plan.width = width
    if parts:
        chosen = tuple(p.strip() for p in parts.split(","))
        unknown = set(chosen) - set(PARTS)
        if unknown:
            fail(f"--parts: unknown {', '.join(sorted(unknown))}")
        plan.parts = chosen
    return plan


def export(
    model: Annotated[str, typer.Argument(help="Model file (.safetensors) or zoo name.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="The .onnx file to write.")],
    overwrite: Overwrite = False,
) -> None:
    """Export a model's whole denoiser (network + SSDN posterior) to ONNX, image side dynamic.

    Inputs: `noisy` (1, C, S, S) float32 in [0, 1], S a multiple of 32 (blind-spot models
    need square inputs: pad reflectively), plus `params` (1, P) for known-level SSDN models.
    """
    with user_errors():
        from medenoise.inference.onnx import cached_export
        from medenoise.inference.ort_session import onnx_available
        from medenoise.inference.resolve import model_path
        from medenoise.modelfile import load_module

        if not onnx_available():
            fail("ONNX export needs onnxscript and onnxruntime: pip install 'medenoise[onnx]'")
        path = model_path(model)
        if out.suffix.lower() != ".onnx":
            fail("output must end in .onnx", out)
        if out.exists() and not overwrite:
            fail("output exists; pass --overwrite to replace it", out)
        # through the export cache, which `--backend onnx` reads: one export serves both
        module = load_module(path, "cpu")
        _copy_atomically(cached_export(module), out)
        typer.echo(f"exported to {out}")
        if (k := module.model_config.pd_stride) > 1:
            typer.echo(
                f"note: this model denoises the stride-{k} pixel-shuffle sub-images of an "
                f"image (x[i::{k}, j::{k}]); split inputs and merge outputs the same way"
            )


def _copy_atomically(src: Path, dst: Path) -> None:
    """Copy `src` to `dst` through a temporary file beside it, so `dst` is never partial."""
    import os
    import shutil

    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".part")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
