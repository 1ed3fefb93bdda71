"""The study runner: train what is missing, evaluate what is missing, render everything.

Layout of a study folder (every step is skipped when its output exists, so a finished study
re-run only re-renders, and an interrupted one resumes):

    OUT/study.yaml               the study as run, with the budget (a rerun must match it)
    OUT/runs/<variant>/          `medenoise train` run folders (checkpoints, metrics.csv)
    OUT/results/<eval>/<variant>.json   per-image and mean metrics
    OUT/results/<eval>/<variant>.<k>.npy  denoised image k, kept for crop figures
    OUT/results.csv, tables.md, figures/*.png, report.html
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from medenoise.errors import UserError
from medenoise.eval.study_config import Budget, Evaluation, Study, Variant, budget_of, load_study
from medenoise.eval.study_config import data_root as resolve_root

Log = Callable[[str], None]


class StudyRun:
    """One study bound to its output folder, data root, budget and device."""

    def __init__(self, study: Study, source: Path, out: Path, budget: str, root: Path,
                 device: str = "cpu", log: Log = print):  # fmt: skip
        self.study, self.source, self.out = study, source, out
        self.budget_name, self.budget = budget, budget_of(study, budget, source)
        self.root, self.device, self.log = root, device, log

    # --- bookkeeping ------------------------------------------------------------------
    def claim_folder(self) -> None:
        """Record the study and budget in OUT/study.yaml; refuse a folder of another run."""
        import yaml

        self.out.mkdir(parents=True, exist_ok=True)
        stamp = self.out / "study.yaml"
        mine = {"budget": self.budget_name, "study": self.study.model_dump(mode="json")}
        if stamp.is_file():
            theirs = yaml.safe_load(stamp.read_text()) or {}
            if theirs.get("budget") != self.budget_name:
                raise UserError(
                    f"folder holds a study run with budget {theirs.get('budget')!r}, not "
                    f"{self.budget_name!r}; choose another -o",
                    self.out,
                )
            if theirs.get("study", {}).get("name") != self.study.name:
                raise UserError("folder holds another study; choose another -o", self.out)
        tmp = stamp.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(mine, sort_keys=False, allow_unicode=True))
        os.replace(tmp, stamp)

    def data(self, paths: list[str]) -> list[Path]:
        found = [self.root / p for p in paths]
        for p in found:
            if not p.exists():
                raise UserError(f"study data not found (data root {self.root})", p)
        return found

    def run_dir(self, variant: Variant) -> Path:
        return self.out / "runs" / variant.name

    # --- training ---------------------------------------------------------------------
    def train_config(self, v: Variant):
        from medenoise.config import TrainConfig

        b: Budget = self.budget
        init, lr, scale = None, None, v.steps_scale
        if v.init:
            init = str(self.run_dir(self.study.variant(v.init)) / "model.safetensors")
        elif b.warm_start and v.warm_init:
            init, lr = v.warm_init, b.warm_lr
        elif b.warm_start:
            scale *= b.scratch_steps_scale
        clean = v.data_kind == "clean"
        return TrainConfig(
            model=v.network(),
            dataset=dict(
                data=[str(p) for p in self.data(v.data or self.study.train_data)],
                val=[str(p) for p in self.data(self.study.val)] if clean else [],
                data_kind=v.data_kind, layout=v.layout, patch=b.patch, batch_size=b.batch_size,
                min_patch_mean=v.min_patch_mean, value_range=v.value_range,
            ),
            optim=dict(steps=max(1, round(b.steps * scale)), seed=v.seed, level_lr=b.level_lr)
            | ({"lr": lr} if lr else {}),
            trainer=dict(
                val_every=b.val_every, checkpoint_every=b.checkpoint_every,
                accelerator="gpu" if self.device.startswith("cuda") else "cpu",
            ),
            init=init,
        )  # fmt: skip

    def model_path(self, v: Variant) -> str:
        """The model to evaluate for a variant, training it first when it is missing."""
        if v.baseline:
            return v.baseline
        if v.model:
            return v.model
        if v.prior_of:  # the μ-only row scores the named variant's network
            return self.model_path(self.study.variant(v.prior_of))
        run = self.run_dir(v)
        path = run / "model.safetensors"
        if path.is_file():
            return str(path)
        from medenoise.train import run_training

        resume = (run / "checkpoints" / "last.ckpt").is_file()
        cfg = self.train_config(v)
        steps = cfg.optim.steps
        self.log(f"train {v.name}: {v.method} {v.noise} {v.noise_param} {v.covariance} "
                 f"x{v.channels}, {steps} steps{' (resuming)' if resume else ''}")  # fmt: skip
        return str(run_training(cfg, run, resume=resume, progress=True))

    # --- evaluation -------------------------------------------------------------------
    def keep_images(self, e: Evaluation) -> set[int]:
        return {c.image for c in self.study.figures.crops if c.evaluation == e.name}

    def limit(self, e: Evaluation) -> int | None:
        caps = [n for n in (e.images, self.budget.eval_images) if n is not None]
        return min(caps) if caps else None

    def samples(self, e: Evaluation, channels: int | None):
        """The evaluation's images for a model of `channels` channels. Synthetic noise is
        drawn on the image as the model takes it: a gray image in every channel of an RGB
        model, each channel with its own draw, as the model was trained. Real noise cannot be
        drawn again: an RGB model gets the gray noisy plane repeated (`evaluate`)."""
        from medenoise.eval import samples as S

        n = self.limit(e)
        gray_only = 1 if channels == 1 else None  # real data: gray models see gray planes
        if e.fmd:
            stream = S.fmd_samples(self.data(e.fmd), e.avg, gray_only, e.fov or None, n)
        elif e.noisy:
            stream = S.paired_samples(self.data(e.noisy), self.data(e.clean), gray_only)
        else:
            stream = S.synthetic_samples(self.data(e.clean), e.noise, channels, e.seed, e.repeats)
        return itertools.islice(stream, n)

    def evaluate(self, v: Variant, e: Evaluation) -> dict:
        """Metrics of one variant on one evaluation (cached in OUT/results)."""
        folder = self.out / "results" / e.name
        cached = folder / f"{v.name}.json"
        if cached.is_file():
            return json.loads(cached.read_text())
        from medenoise.api import load_model
        from medenoise.eval.evaluate import evaluate

        denoiser = load_model(self.model_path(v), self.device)
        if v.prior_of:
            from medenoise.inference.prior_mean import prior_mean_denoiser

            denoiser = prior_mean_denoiser(denoiser)
        channels = getattr(denoiser.config, "channels", None)
        if v.baseline:  # a baseline sees the data as the variant says (default gray), like
            channels = v.channels  # the gray models it is compared with
        keep = self.keep_images(e)
        folder.mkdir(parents=True, exist_ok=True)
        counter = itertools.count()

        def on_image(sample, denoised, row):
            k = next(counter)
            if k in keep:
                np.save(folder / f"{v.name}.{k}.npy", np.asarray(denoised, np.float32))
                for kind in ("noisy", "clean"):
                    np.save(folder / f"_{kind}.{k}.npy", getattr(sample, kind))

        self.log(f"evaluate {v.name} on {e.name}")
        res = evaluate(denoiser, self.samples(e, channels), noise=v.assume, on_image=on_image)
        res.update(variant=v.name, evaluation=e.name, model=str(denoiser.source))
        tmp = cached.with_suffix(".tmp")
        tmp.write_text(json.dumps(res, indent=1, allow_nan=True))
        os.replace(tmp, cached)
        return res

    def run(self, render_only: bool = False) -> Path:
        """Train and evaluate what is missing (unless render_only), then render."""
        from medenoise.eval.study_render import render

        self.claim_folder()
        results: dict[tuple[str, str], dict] = {}
        for e in self.study.evaluations:
            for v in self.study.evaluated(e):
                cached = self.out / "results" / e.name / f"{v.name}.json"
                if render_only and not cached.is_file():
                    continue
                results[(v.name, e.name)] = self.evaluate(v, e)
        return render(self, results)


def run_study(path: str | Path, out: str | Path, budget: str = "small",
              data_root: str | Path | None = None, device: str = "cpu",
              render_only: bool = False, log: Log = print) -> Path:  # fmt: skip
    """Load a study file and run it into `out`; returns the report path."""
    path = Path(path)
    study = load_study(path)
    root = resolve_root(study, path, data_root)
    if not root.is_dir():
        raise UserError("data root not found; pass --data-root or set MEDENOISE_DATA", root)
    return StudyRun(study, path, Path(out), budget, root, device, log).run(render_only)
