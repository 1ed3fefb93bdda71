"""`medenoise bench --suite fast`: teacher, distilled student and BM3D side by side, one run.

Per model: seconds and MPix/s on a noisy 512² gray image (scikit-image `camera`, Gaussian
σ=25, seed 0) through the loaded model's `denoise_image` (the call `denoise` makes), median
of `repeats` runs after a warm-up; then `medenoise denoise` in child processes on four noisy
512² photos, on the chest radiograph and on a 4096² mosaic, each child's wall time, CPU time
and peak RSS its own. Ratios (× teacher: the first model; × BM3D) come from this one run.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medenoise.bench.child import denoise_command, load, run_child

SIGMA = 25.0
NOISE = f"gaussian:{SIGMA:g}"
PHOTOS = ("camera", "moon", "grass", "brick")  # scikit-image's 512² gray photos
GIB = 1024.0  # MiB


@dataclass
class SuitePlan:
    """What one fast-suite run measures; `quick()` is the seconds-long variant tests run."""

    models: list[str] = field(default_factory=list)  # names or files; first = the teacher
    repeats: int = 3
    size: int = 512
    big: int = 4096
    radiograph: Path | None = None
    timeout_s: float = 1800.0  # per child run
    big_budget_s: float = 300.0  # 4096² run of a non-student only if its 512² rate fits this
    quality: bool = False

    @classmethod
    def quick(cls, models: list[str]) -> SuitePlan:
        return cls(models=models, repeats=1, size=64, big=256, timeout_s=120, big_budget_s=60)


def default_models() -> list[str]:
    """The gray Gaussian teacher, its `-fast` student when the zoo has it, and BM3D."""
    from medenoise import zoo

    teacher = "ssdn-gauss25-gray"
    return [teacher, *([f"{teacher}-fast"] if zoo.entry(f"{teacher}-fast") else []), "bm3d"]


def label(model: str) -> str:
    """A row name: the zoo or baseline name, a file's stem, or its folder for `model.*`."""
    path = Path(model)
    if path.suffix not in (".safetensors", ".ckpt"):
        return model
    return path.parent.name if path.stem == "model" else path.stem


def noisy_photo(name: str, size: int, seed: int) -> np.ndarray:
    """uint8 (size, size) scikit-image photo (mirror-tiled if needed) with Gaussian σ=25."""
    from skimage import data

    img = getattr(data, name)().astype(np.float32) / 255.0
    reps = -(-size // min(img.shape))
    img = np.tile(np.concatenate([img, img[::-1]], 0), (reps, 2 * reps))[:size, :size]
    rng = np.random.default_rng(seed)
    noisy = img + rng.normal(0.0, SIGMA / 255.0, img.shape).astype(np.float32)
    return (np.clip(noisy, 0, 1) * 255 + 0.5).astype(np.uint8)


def in_process(model: str, size: int, repeats: int) -> dict:
    """Median seconds of the loaded model's `denoise_image` on the noisy camera (what
    `denoise` runs per image, without the file reading, writing and guard)."""
    from medenoise.api import load_model
    from medenoise.data.io import from_array

    den = load_model(model)
    noisy = noisy_photo("camera", size, 0)
    den.denoise_image(from_array(noisy.copy()), NOISE)  # warm-up
    times, loads = [], [load()]
    for _ in range(max(1, repeats)):
        image = from_array(noisy.copy())
        t0 = time.perf_counter()
        den.denoise_image(image, NOISE)
        times.append(time.perf_counter() - t0)
    loads.append(load())
    seconds = statistics.median(times)
    method = getattr(den.config, "method", model)
    teacher = getattr(den.config, "teacher", None)  # a student's: whom its ratio is against
    return {"seconds": round(seconds, 4), "mpix_s": size * size / seconds / 1e6,
            "method": method, "teacher": teacher, "load": loads}  # fmt: skip


def write_inputs(folder: Path, plan: SuitePlan) -> dict[str, list[Path]]:
    """The CLI runs' input files: four noisy photos and the big mosaic (8-bit PNG)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    four = []
    for i, name in enumerate(PHOTOS):
        four.append(folder / f"{name}.png")
        Image.fromarray(noisy_photo(name, plan.size, i)).save(four[-1])
    big = folder / f"mosaic{plan.big}.png"
    Image.fromarray(noisy_photo("camera", plan.big, 7)).save(big)
    inputs = {"four": four, "big": [big]}
    if plan.radiograph is not None and plan.radiograph.is_file():
        inputs["radiograph"] = [plan.radiograph]
    return inputs


def run_suite(plan: SuitePlan, log=print) -> dict:
    """Measure every model of `plan`; returns the JSON-ready result with ratios and targets."""
    rows = []
    for model in plan.models:
        row = {"model": label(model), "source": model}
        row["net"] = in_process(model, plan.size, plan.repeats)
        net = row["net"]
        log(f"{row['model']}: {plan.size}² {net['seconds']:.3f} s (load {net['load']})")
        rows.append(row)
    with tempfile.TemporaryDirectory(prefix="medenoise-bench-") as tmp:
        work = Path(tmp)
        inputs = write_inputs(work / "in", plan)
        for row in rows:
            # untimed: the first `denoise` of a model probes the paths and exports it to ONNX
            # once per machine; the timed runs are the ones a user makes after that
            warm = denoise_command(inputs["four"][:1], row["source"], work / "warm", NOISE)
            run_child(warm, plan.timeout_s, work / f"{row['model']}-warm.log")
            for part, files in inputs.items():
                if part == "big" and not _big_fits(row, plan):
                    row[part] = {"skipped": f"est. > {plan.big_budget_s:g} s"}
                    continue
                noise = None if part == "radiograph" else NOISE
                cmd = denoise_command(files, row["source"], work / "out" / part, noise)
                row[part] = run_child(cmd, plan.timeout_s, work / f"{row['model']}-{part}.log")
                row[part]["mpix"] = _mpix(files)
                log(f"{row['model']}: {part} {row[part]}")
                if row[part]["rc"] not in (0, None) and not row[part]["timed_out"]:
                    row[part]["error"] = _tail(work / f"{row['model']}-{part}.log")
    if plan.quality:
        from medenoise.bench.suite_quality import quality

        for row in rows:
            row["quality"] = quality(row["source"], log)
    add_ratios(rows)
    return {"suite": "fast", "size": plan.size, "big": plan.big, "rows": rows,
            "targets": targets(rows)}  # fmt: skip


def _big_fits(row: dict, plan: SuitePlan) -> bool:
    """Students always run the big image; others when their 512² rate predicts the budget."""
    if row["net"]["method"] == "student":
        return True
    return plan.big**2 / 1e6 / row["net"]["mpix_s"] <= plan.big_budget_s


def _mpix(files: list[Path]) -> float:
    """Megapixels in `files` (one plane each)."""
    from medenoise.data.io import read

    return round(sum(read(f).array.size for f in files) / 1e6, 3)


def _tail(path: Path, lines: int = 3) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def add_ratios(rows: list[dict]) -> None:
    """`x_teacher` and `x_bm3d`: throughput over the first model's and BM3D's, per part."""
    ref = {"teacher": rows[0] if rows else None}
    ref["bm3d"] = next((r for r in rows if r["model"] == "bm3d"), None)
    for row in rows:
        for part in ("net", "four", "radiograph", "big"):
            rate = _rate(row, part)
            for name, base in ref.items():
                base_rate = _rate(base, part) if base is not None else None
                if part in row and rate and base_rate:
                    row[part][f"x_{name}"] = round(rate / base_rate, 2)


def _rate(row: dict, part: str) -> float | None:
    """MPix/s of `row`'s `part`, None when it did not complete."""
    r = row.get(part)
    if not r or r.get("skipped") or r.get("timed_out") or r.get("rc"):
        return None
    if part == "net":
        return r["mpix_s"]
    return r["mpix"] / r["wall_s"]


def targets(rows: list[dict]) -> list[dict]:
    """The issue's targets for each student row: (what, value, limit, met)."""
    out: list[dict] = []
    for row in rows:
        if row["net"]["method"] != "student":
            continue
        net, four, name = row["net"], row.get("four", {}), row["model"]
        vs_teacher = net.get("x_teacher") if _taught_by(row, rows[0]) else None
        _check(out, name, "512² MPix/s × teacher", vs_teacher, 8, True)
        _check(out, name, "512² MPix/s × BM3D", net.get("x_bm3d"), 5, True)
        _check(out, name, "CLI four 512² × BM3D", four.get("x_bm3d"), 5, True)
        for part, seconds in (("radiograph", 30.0), ("big", None)):
            r = row.get(part)
            if not r or r.get("skipped"):
                continue
            done = not r.get("timed_out") and not r.get("rc")
            if seconds is not None:
                _check(out, name, f"{part} wall s", r["wall_s"] if done else None, seconds, False)
            peak = round(r["peak_mib"] / GIB, 2) if done else None
            _check(out, name, f"{part} peak RSS GiB", peak, 2, False)
    return out


def _taught_by(row: dict, first: dict) -> bool:
    """Whether the first model (the ratios' reference) is `row`'s own teacher: not when the
    student itself, or another model's student, is listed first. Rows that do not record
    their teacher (older results) count any other first model as it."""
    if row is first:
        return False
    teacher = row["net"].get("teacher", first["model"])
    return teacher in (first["model"], first.get("source"))


def _check(out: list, model: str, what: str, value, limit: float, at_least: bool) -> None:
    """Append one target: met is None when nothing was measured."""
    met = None if value is None else (value >= limit if at_least else value <= limit)
    out.append({"model": model, "what": what, "value": value, "limit": limit,
                "at_least": at_least, "met": met})  # fmt: skip
