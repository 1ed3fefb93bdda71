"""Render a study's results: results.csv, tables.md, figures/*.png and report.html.

Pure function of the cached results and run folders, so a finished study re-renders in
seconds. Tables put variants in rows and evaluations in columns, with the noisy input as
the last row, and name the metric protocol.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from medenoise.eval.evaluate import PROTOCOL_TEXT

CSV_COLUMNS = [
    "variant", "label", "evaluation", "dataset", "level", "images", "psnr", "ssim",
    "psnr_8bit", "psnr_noisy", "ssim_noisy", "psnr_8bit_noisy", "psnr_var", "ssim_var",
    "seconds", "model",
]  # fmt: skip
MEAN_KEYS = CSV_COLUMNS[6:-1]  # the metrics taken from each result's mean
DIGITS = {"psnr": ".2f", "psnr_8bit": ".2f", "ssim": ".4f", "psnr_var": ".4f", "ssim_var": ".4f"}


def result_rows(run, results: dict) -> list[dict]:
    """One flat row per (variant, evaluation) with mean metrics, in study order."""
    rows = []
    for e in run.study.evaluations:
        for v in run.study.evaluated(e):
            res = results.get((v.name, e.name))
            if res is None:
                continue
            m = res["mean"]
            rows.append({
                "variant": v.name, "label": v.title, "evaluation": e.name,
                "dataset": e.dataset, "level": e.level, "images": len(res["images"]),
                **{k: m.get(k) for k in MEAN_KEYS}, "model": res.get("model", ""),
            })  # fmt: skip
    return rows


def write_csv(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def pivot(run, rows: list[dict], metric: str, evaluations=None, variants=None) -> dict:
    """Table dict (rows, columns) for report/markdown: variants × evaluations of `metric`.

    Rows are variant labels, so variants of one method trained per dataset (e.g. "n2c" for
    X-ray and for MRI) share a row, as in the report's tables."""
    evals = [e for e in run.study.evaluations if not evaluations or e.name in evaluations]
    picked = [v for v in run.study.variants if not variants or v.name in variants]
    by_key = {(r["label"], r["evaluation"]): r for r in rows}
    columns = ["variant"] + [f"{e.dataset} {e.level}" for e in evals]
    table = []
    for label in dict.fromkeys(v.title for v in picked):
        cells = {
            f"{e.dataset} {e.level}": by_key.get((label, e.name), {}).get(metric) for e in evals
        }
        if any(c is not None for c in cells.values()):
            table.append({"variant": label, **cells})
    noisy_key = {"psnr": "psnr_noisy", "ssim": "ssim_noisy", "psnr_8bit": "psnr_8bit_noisy"}
    if metric in noisy_key and table:
        noisy = {}
        for e in evals:
            first = next((r for r in rows if r["evaluation"] == e.name), None)
            noisy[f"{e.dataset} {e.level}"] = first[noisy_key[metric]] if first else None
        table.append({"variant": "(noisy input)", **noisy})
    fmt = DIGITS.get(metric, ".2f")
    return {"rows": table, "columns": columns, "floatfmt": fmt}


def tables(run, rows: list[dict]) -> list[tuple[str, str, dict]]:
    """(title, metric, table) for each table the study asks for (default: PSNR and SSIM)."""
    specs = run.study.tables
    if not specs:
        return [(f"Mean {m.upper()}", m, pivot(run, rows, m)) for m in ("psnr", "ssim")]
    return [(t.title, t.metric, pivot(run, rows, t.metric, t.evaluations, t.variants))
            for t in specs]  # fmt: skip


def crop_figures(run, results: dict, folder: Path) -> list[dict]:
    from medenoise.eval.figures import crop_grid

    figures = []
    for i, c in enumerate(run.study.figures.crops):
        e = next(x for x in run.study.evaluations if x.name == c.evaluation)
        base = run.out / "results" / e.name
        noisy, clean = base / f"_noisy.{c.image}.npy", base / f"_clean.{c.image}.npy"
        if not (noisy.is_file() and clean.is_file()):
            continue
        names = c.variants or [v.name for v in run.study.evaluated(e)]
        outputs = {
            n: _gray(np.load(base / f"{n}.{c.image}.npy"))
            for n in names
            if (base / f"{n}.{c.image}.npy").is_file() and (n, e.name) in results
        }
        clean_img = _gray(np.load(clean))
        if clean_img.ndim == 3 and any(o.ndim == 2 for o in outputs.values()):
            clean_img = clean_img.mean(axis=-1)  # gray models in the grid: show all in gray
        panels = [_panel("noisy", np.load(noisy), results, None, e.name, c.image, clean_img)]
        for name, out in outputs.items():
            label = run.study.variant(name).title
            panels.append(_panel(label, out, results, name, e.name, c.image, clean_img))
        panels.append({"label": "clean", "image": clean_img})
        path = crop_grid(panels, folder / f"crops_{i}_{e.name}.png", box=c.box, crop=c.crop,
                         title=f"{e.dataset}, {e.level}, image {c.image}")  # fmt: skip
        figures.append({"path": path, "caption": f"Zoomed crops: {e.dataset}, {e.level}"})
    return figures


def _gray(a: np.ndarray) -> np.ndarray:
    """(H, W, 1) → (H, W); RGB stays."""
    return a[..., 0] if a.ndim == 3 and a.shape[-1] == 1 else a


def _panel(label, image, results, variant, evaluation, k, clean) -> dict:
    image = _gray(np.asarray(image))
    if image.ndim == 3 and clean.ndim == 2:  # RGB output shown next to gray: its mean
        image = image.mean(axis=-1)
    if image.shape != clean.shape:
        raise ValueError(f"{label}: image {image.shape} does not match clean {clean.shape}")
    panel = {"label": label, "image": np.clip(image, 0, 1)}
    if variant is None:
        source = next((r for (v, e), r in results.items() if e == evaluation), None)
        keys = ("psnr_noisy", "ssim_noisy")
    else:
        source, keys = results[(variant, evaluation)], ("psnr", "ssim")
    if source is not None and k < len(source["images"]):
        row = source["images"][k]
        panel["psnr"], panel["ssim"] = row[keys[0]], row[keys[1]]
    return panel


def bar_figures(run, rows: list[dict], folder: Path) -> list[dict]:
    from medenoise.eval.figures import bar_chart

    figures = []
    for i, b in enumerate(run.study.figures.bars):
        picked = [r for r in rows if (not b.evaluations or r["evaluation"] in b.evaluations)
                  and (not b.variants or r["variant"] in b.variants)]  # fmt: skip
        if not picked:
            continue
        data = [{"level": r["level"], "variant": r["label"], b.metric: r[b.metric]} for r in picked]
        title = b.title or f"{b.metric} per variant and noise level"
        path = bar_chart(data, folder / f"bars_{i}_{b.metric}.png", metric=b.metric,
                         title=title, ylabel=b.metric)  # fmt: skip
        figures.append({"path": path, "caption": title})
    return figures


def curve_figure(run, folder: Path) -> list[dict]:
    from medenoise.eval.figures import training_curves

    curves = {v.title: run.run_dir(v) / "metrics.csv" for v in run.study.variants if v.trained}
    curves = {k: p for k, p in curves.items() if p.is_file()}
    if not run.study.figures.curves or not curves:
        return []
    path = training_curves(curves, folder / "training_curves.png")
    return [{"path": path, "caption": "Training curves (validation PSNR, or smoothed loss)"}]


def render(run, results: dict) -> Path:
    """Write results.csv, tables.md, figures and report.html; returns the report path."""
    from medenoise.eval.report import markdown_table, write_report

    rows = result_rows(run, results)
    write_csv(run.out / "results.csv", rows)
    folder = run.out / "figures"
    made = tables(run, rows)
    md = [f"# {run.study.title}", "", f"Budget: {run.budget_name}. Protocol: {PROTOCOL_TEXT}", ""]
    for title, _, table in made:
        md += [f"## {title}", "", markdown_table(table["rows"], table["columns"],
                                                  table["floatfmt"]), ""]  # fmt: skip
    tmp = run.out / "tables.md.tmp"
    tmp.write_text("\n".join(md))
    os.replace(tmp, run.out / "tables.md")
    sections = (
        [{"heading": "Study", "text": run.study.description.strip()}]
        if run.study.description
        else []
    )
    sections += [{"heading": t, "table": table} for t, _, table in made]
    missing = _missing(run, results)
    if missing:
        sections.append({"heading": "Not yet run", "text": missing})
    sections.append({"heading": "Zoomed crops", "figures": crop_figures(run, results, folder)})
    sections.append({"heading": "Relative gains", "figures": bar_figures(run, rows, folder)})
    sections.append({"heading": "Training", "figures": curve_figure(run, folder)})
    if run.study.notes:
        sections.append({"heading": "Notes and deviations", "text": run.study.notes.strip()})
    config = (run.out / "study.yaml").read_text()
    return write_report(run.out, run.study.title, [s for s in sections if _has(s)], config,
                        PROTOCOL_TEXT)  # fmt: skip


def _has(section: dict) -> bool:
    return bool(section.get("text") or section.get("table") or section.get("figures"))


def _missing(run, results: dict) -> str:
    gaps = [f"{v.name} on {e.name}" for e in run.study.evaluations
            for v in run.study.evaluated(e) if (v.name, e.name) not in results]  # fmt: skip
    return ("Results missing (re-render only): " + ", ".join(gaps)) if gaps else ""
