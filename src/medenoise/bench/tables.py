"""Markdown tables of a bench result (what BENCHMARKS.md shows and the command prints)."""

from __future__ import annotations

from medenoise.tables import markdown_table


def _fmt(value, digits: int = 3) -> str:
    """A cell: None as an en dash, floats to `digits` significant figures below 1, else to
    `digits` decimals without trailing zeros."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return (
            f"{value:.{digits}g}"
            if abs(value) < 1
            else f"{value:.{digits}f}".rstrip("0").rstrip(".")
        )
    return str(value)


def _table(header: list[str], rows: list[list]) -> list[str]:
    """Lines of one markdown table, values formatted by `_fmt`."""
    cells = [[_fmt(v) for v in row] for row in rows]
    return markdown_table(header, cells, rule="---").splitlines()


def markdown(result: dict) -> str:
    """Machine line, then inference, training and equal-time quality tables."""
    m = result["machine"]
    where = m.get("gpu") or m["cpu"]
    out = [
        f"Machine: {where}; {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} "
        f"threads), {m['memory_gib']} GiB; {result['date']}; networks of width "
        f"{result['plan']['width']}.",
    ]
    if "inference" in result:
        out += _inference_table(result)
    if "training" in result:
        out += _training_table(result)
    if "quality" in result:
        out += _quality_table(result)
    return "\n".join(out) + "\n"


def _inference_table(result: dict) -> list[str]:
    out = [
        "",
        "Inference (gray, Gaussian σ=25 on scikit-image `camera`, mirrored for large sizes; "
        "MPix/s of output, peak memory above the start; `vs BM3D`: throughput ratio):",
        "",
    ]
    out += _table(
        ["method", "size", "MPix/s", "vs BM3D", "peak MiB", "PSNR dB", "tiles timed"],
        [
            [
                r["method"],
                f"{r['size']}²" + (f" ×{r['stack']}" if r.get("stack", 1) > 1 else ""),
                r["mpix_s"],
                r["vs_bm3d"],
                r["peak_mib"],
                r.get("psnr"),
                r["tiles"],
            ]
            for r in result["inference"]
        ],
    )
    return out


def _training_table(result: dict) -> list[str]:
    out = ["", "Training (full optimiser steps, equal patch and batch):", ""]
    out += _table(
        ["method", "batch × patch²", "precision", "steps/s", "MPix/s", "cost vs N2C"],
        [
            [
                r["method"],
                f"{r['batch']}×{r['patch']}²",
                r.get("precision", "32"),
                r["steps_s"],
                r["mpix_s"],
                r["cost_vs_n2c"],
            ]
            for r in result["training"]
        ],
    )
    return out


def _quality_table(result: dict) -> list[str]:
    budget = result["plan"]["budget_s"]
    out = [
        "",
        f"Quality after equal wall-clock training ({budget:g} s each; Set12 centre "
        "crops or scikit-image photos, σ=25, seed 0):",
        "",
    ]
    out += _table(
        ["method", "steps", "train s", "PSNR dB", "SSIM", "denoise s"],
        [
            [r["method"], r["steps"], r["train_s"], r["psnr"], r["ssim"], r["denoise_s"]]
            for r in result["quality"]
        ],
    )
    return out
