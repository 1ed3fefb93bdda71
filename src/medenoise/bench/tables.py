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


def suite_markdown(result: dict) -> str:
    """The fast suite: one row per model (time, MPix/s, ratios, child runs' wall and peak
    RSS), the targets each student meets, and quality when measured."""
    size, big = result["size"], result["big"]
    header = ["model", f"{size}² s", "MPix/s", "× teacher", "× BM3D", f"CLI 4×{size}² s",
              "CLI × BM3D", "radiograph s", "CPU s", "peak GiB", f"{big}² s", "peak GiB",
              "load"]  # fmt: skip
    rows = []
    for r in result["rows"]:
        net, four = r["net"], r.get("four", {})
        rad, bg = r.get("radiograph", {}), r.get("big", {})
        loads = [v for part in (net, four, rad, bg) for v in part.get("load", [])]
        rows.append([
            r["model"], net["seconds"], net["mpix_s"], net.get("x_teacher"), net.get("x_bm3d"),
            _wall(four), four.get("x_bm3d"), _wall(rad), rad.get("cpu_s"), _gib(rad),
            _wall(bg), _gib(bg), f"{min(loads):.1f}–{max(loads):.1f}" if loads else None,
        ])  # fmt: skip
    out = _table(header, rows)
    if result.get("targets"):
        out += ["", *_table(
            ["model", "target", "measured", "limit", "met"],
            [[t["model"], t["what"], t["value"], ("≥ " if t["at_least"] else "≤ ") +
              _fmt(float(t["limit"])), {True: "yes", False: "**no**"}.get(t["met"], "–")]
             for t in result["targets"]],
        )]  # fmt: skip
    quality = [(r["model"], r["quality"]) for r in result["rows"] if "quality" in r]
    if quality:
        sets = sorted({s for _, q in quality for s in q if s != "skipped"})
        out += ["", *_table(
            ["model", *(f"{s} PSNR / SSIM" for s in sets)],
            [[m, *(f"{q[s]['psnr']:.2f} / {q[s]['ssim']:.4f}" if s in q else None for s in sets)]
             for m, q in quality],
        )]  # fmt: skip
    return "\n".join(out) + "\n"


def _wall(part: dict):
    """A child run's wall seconds, '> N' when it was stopped, its reason when skipped."""
    if not part:
        return None
    if part.get("skipped"):
        return part["skipped"]
    if part.get("timed_out"):
        return f"> {part['wall_s']:.0f}"
    return "failed" if part.get("rc") else part["wall_s"]


def _gib(part: dict):
    """A child run's peak RSS in GiB (None when it did not run)."""
    return round(part["peak_mib"] / 1024, 2) if part.get("peak_mib") else None
