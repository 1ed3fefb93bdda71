"""`medenoise bench`: inference, training and equal-time quality on this machine (BENCHMARKS.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

BENCH_HELP = (
    "Measure inference throughput and peak memory (SSDN, plain U-Net, BM3D, VST+BM3D on 512² "
    "and a tiled 4096² image), training speed (SSDN vs N2V vs N2C) and quality after equal "
    "wall-clock training; writes benchmarks/results/<machine>-<date>.json and prints tables."
)


def bench(
    quick: Annotated[
        bool, typer.Option(help="Tiny sizes and budgets (seconds; for tests).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    out: Annotated[Path, typer.Option("-o", "--out", help="Folder for the result file.")] = Path(
        "benchmarks/results"
    ),
    device: Annotated[str, typer.Option(help="cpu | cuda | cuda:1 ...")] = "cpu",
    budget: Annotated[
        float | None, typer.Option(help="Seconds of training per method for the quality part.")
    ] = None,
    time_cap: Annotated[
        float | None,
        typer.Option(
            help="Seconds per large-image row before scaling up from tiles done; 0: none."
        ),
    ] = None,
    sizes: Annotated[
        str | None, typer.Option(help="Image sides, comma-separated (default 512,4096).")
    ] = None,
    onnx: Annotated[bool, typer.Option(help="Also time SSDN in ONNX Runtime (CPU).")] = True,
    width: Annotated[
        int | None, typer.Option(help="Network width (default 32, the zoo's).")
    ] = None,
    parts: Annotated[
        str | None, typer.Option(help="Comma-separated subset of inference,training,quality.")
    ] = None,
    precision: Annotated[
        str, typer.Option(help="32 | bf16 (networks under bfloat16 autocast; for GPUs).")
    ] = "32",
    stack: Annotated[
        int,
        typer.Option(
            help="Also time the networks on a stack of this many planes of the smallest size, "
            "sent as batches (what `denoise` does with stacks and volumes; for GPUs)."
        ),
    ] = 1,
) -> None:
    import torch

    from medenoise.bench.runner import BenchPlan, run_bench, write_result
    from medenoise.bench.tables import markdown
    from medenoise.commands._common import fail, user_errors

    with user_errors():
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            fail(f"--device {device}: no CUDA device on this machine")
        plan = BenchPlan.quick() if quick else BenchPlan()
        if budget is not None:
            plan.budget_s = budget
        if time_cap is not None:
            plan.time_cap = time_cap or None
        if sizes:
            try:
                plan.sizes = tuple(int(s) for s in sizes.split(","))
            except ValueError:
                fail(f"--sizes {sizes!r}: expected side lengths like 512,4096")
        plan.onnx = onnx
        plan.precision = precision
        if stack < 1:
            fail(f"--stack {stack}: give at least 1")
        plan.stack = stack
        if width is not None:
            plan.width = width
        if parts:
            chosen = tuple(p.strip() for p in parts.split(","))
            unknown = set(chosen) - {"inference", "training", "quality"}
            if unknown:
                fail(f"--parts: unknown {', '.join(sorted(unknown))}")
            plan.parts = chosen

        def log(msg: str) -> None:
            print(msg, file=sys.stderr, flush=True)

        result = run_bench(plan, dev, log=log)
        path = write_result(result, out)
        if as_json:
            typer.echo(json.dumps(result, indent=1))
        else:
            typer.echo(markdown(result))
        typer.echo(f"result written to {path}", err=True)


def export(
    model: Annotated[str, typer.Argument(help="Model file (.safetensors) or zoo name.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="The .onnx file to write.")],
    overwrite: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
) -> None:
    """Export a model's whole denoiser (network + SSDN posterior) to ONNX, image side dynamic.

    Inputs: `noisy` (1, C, S, S) float32 in [0, 1], S a multiple of 32 (blind-spot models
    need square inputs: pad reflectively), plus `params` (1, P) for known-level SSDN models.
    """
    from medenoise.commands._common import fail, user_errors

    with user_errors():
        from medenoise.modelfile import load_module
        from medenoise.onnx_backend import export_onnx, onnx_available
        from medenoise.train import resolve_model_path

        if not onnx_available():
            fail("ONNX export needs onnxscript and onnxruntime: pip install 'medenoise[onnx]'")
        path = resolve_model_path(model)
        if out.suffix.lower() != ".onnx":
            fail("output must end in .onnx", out)
        if out.exists() and not overwrite:
            fail("output exists; pass --overwrite to replace it", out)
        export_onnx(load_module(path, "cpu"), out)
        typer.echo(f"exported to {out}")
