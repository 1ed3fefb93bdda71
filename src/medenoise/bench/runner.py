"""`run_bench`: every part on one machine, ratios computed, JSON and a markdown table out."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from medenoise.bench import inference, quality, training
from medenoise.bench.machine import describe, machine_slug


@dataclass
class BenchPlan:
    """Sizes and budgets of one run; `quick()` is the seconds-long variant the tests run."""

    sizes: tuple[int, ...] = (512, 4096)
    width: int = 32  # the zoo recipes' width (configs/zoo/)
    time_cap: float | None = 90.0  # per large-image row; None: always the whole image
    train_patch: int = 64
    train_batch: int = 4
    train_steps: int = 10  # per timed repeat (best of 3)
    budget_s: float = 600.0  # equal wall-clock training budget per method
    eval_images: int = 12
    eval_crop: int = 256
    repeats: int = 2
    onnx: bool = True
    tile: int | None = None  # network tile side on large images; None: what the tool picks
    bm3d_tile: int = 1024
    precision: str = "32"  # "bf16": networks under bfloat16 autocast (GPU; CPUs with AMX)
    stack: int = 1  # > 1: also time networks on a stack of planes of sizes[0], batched
    parts: tuple[str, ...] = ("inference", "training", "quality")

    @classmethod
    def quick(cls) -> BenchPlan:
        return cls(
            sizes=(64, 768),
            width=8,
            time_cap=0.5,
            tile=704,
            bm3d_tile=256,
            train_patch=32,
            train_batch=2,
            train_steps=3,
            budget_s=2.0,
            eval_images=2,
            eval_crop=64,
            repeats=1,
        )


def _shared_data() -> Path | None:
    """../shared/data beside the repository, or $MEDENOISE_DATA (benchmark data)."""
    import os

    env = os.environ.get("MEDENOISE_DATA")
    here = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
    for cand in (Path(env) if env else None, here):
        if cand is not None and cand.is_dir():
            return cand.resolve()
    return None


def inference_models(
    device: torch.device, width: int, onnx: bool, tile: int | None = None, precision: str = "32"
) -> list[tuple[str, object]]:
    """(name, denoiser) pairs: SSDN (eager, and in ONNX Runtime on CPU), the plain U-Net,
    BM3D and VST+BM3D. The networks have random weights (speed does not depend on them; no
    Gaussian SSDN ships yet) and the shipped model's architecture (width)."""
    from medenoise.config import ModelConfig
    from medenoise.inference.denoiser import ClassicalDenoiser, Denoiser
    from medenoise.inference.options import InferenceOptions
    from medenoise.methods import build_method

    options = InferenceOptions(tile=tile, precision=precision, device=str(device))

    def net(method: str):
        torch.manual_seed(0)
        module = build_method(ModelConfig(method=method, noise="gaussian:25", width=width))
        return module.to(device).to(memory_format=torch.channels_last).eval()

    ssdn = net("ssdn")
    models: list[tuple[str, object]] = [("ssdn", Denoiser(ssdn, "ssdn", options))]
    if onnx and device.type == "cpu":
        from medenoise.inference.ort_session import onnx_available

        if onnx_available():
            onnx_options = InferenceOptions(tile=tile, backend="onnx")  # CPU, float32
            models.append(("ssdn onnxruntime", Denoiser(ssdn, "ssdn", onnx_options)))
    models.append(("plain U-Net", Denoiser(net("n2n"), "n2n", options)))
    for _, den in models:
        den.trained = False  # random weights: timed, not scored
    models += [("bm3d", ClassicalDenoiser("bm3d")), ("vst-bm3d", ClassicalDenoiser("vst-bm3d"))]
    return models


def run_bench(plan: BenchPlan, device: torch.device, log=print) -> dict:
    """Measure the parts in `plan`; returns the JSON-ready result."""
    result: dict = {"machine": describe(device), "date": dt.date.today().isoformat()}
    result["plan"] = plan.__dict__.copy()
    if "inference" in plan.parts:
        result["inference"] = _inference(plan, device, log)
    if "training" in plan.parts or "quality" in plan.parts:
        result["training"] = _training(plan, device, log)
    if "quality" in plan.parts:
        rates = {r["method"]: r["steps_s"] for r in result["training"]}
        result["quality"] = _quality(plan, device, rates, log)
    return result


def _inference(plan: BenchPlan, device: torch.device, log) -> list[dict]:
    rows = []
    for name, den in inference_models(device, plan.width, plan.onnx, plan.tile, plan.precision):
        for size in plan.sizes:
            row = inference.measure(
                name,
                den,
                size,
                device,
                repeats=plan.repeats,
                time_cap=plan.time_cap,
                tiled=size > plan.sizes[0],
                bm3d_tile=plan.bm3d_tile,
            )
            log(f"inference {name} {size}²: {row['mpix_s']:.4f} MPix/s")
            rows.append(row)
        if plan.stack > 1 and hasattr(den, "module"):
            size = plan.sizes[0]
            row = inference.measure(name, den, size, device, repeats=plan.repeats, stack=plan.stack)
            log(f"inference {name} {plan.stack}×{size}²: {row['mpix_s']:.4f} MPix/s")
            rows.append(row)
    inference.add_ratios(rows)
    return rows


def _training(plan: BenchPlan, device: torch.device, log) -> list[dict]:
    rows = []
    for method in training.METHODS:
        row = training.measure_training(
            method,
            patch=plan.train_patch,
            batch=plan.train_batch,
            steps=plan.train_steps,
            width=plan.width,
            device=device,
            precision=plan.precision,
        )
        log(f"training {method}: {row['steps_s']:.3f} steps/s")
        rows.append(row)
    training.add_cost_ratios(rows)
    return rows


def _quality(plan: BenchPlan, device: torch.device, rates: dict, log) -> list[dict]:
    shared = _shared_data()
    eval_dir = shared / "set12" if shared else None
    crops = quality.crop_set(eval_dir, plan.eval_images, plan.eval_crop)
    samples = quality.noisy_samples(crops)
    with tempfile.TemporaryDirectory(prefix="medenoise-bench-") as tmp:
        work = Path(tmp)
        data = shared / "bsd400_train" if shared else _photo_folder(work / "photos")
        rows = quality.quality_rows(
            rates,
            plan.budget_s,
            data,
            samples,
            work / "runs",
            patch=plan.train_patch,
            batch=plan.train_batch,
            width=plan.width,
            device=device,
        )
    for r in rows:
        log(f"quality {r['method']}: {r['psnr']:.2f} dB")
    return rows


def _photo_folder(folder: Path) -> Path:
    """scikit-image's gray photos as PNG files: training data when no data folder exists."""
    from PIL import Image
    from skimage import data

    folder.mkdir(parents=True)
    for name in ("camera", "moon", "coins", "grass", "brick", "gravel"):
        Image.fromarray(getattr(data, name)()).save(folder / f"{name}.png")
    return folder


def write_result(result: dict, out_dir: Path) -> Path:
    """benchmarks/results/<machine>-<date>.json (a second run the same day adds -2, -3...)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{machine_slug(result['machine'])}-{result['date']}"
    path = out_dir / f"{stem}.json"
    n = 2
    while path.exists():
        path = out_dir / f"{stem}-{n}.json"
        n += 1
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path
