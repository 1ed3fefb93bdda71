"""Distillation: train a plain U-Net student to reproduce a teacher's output (`medenoise distill`).

The teacher (any model `load_model` accepts, with its default self-ensemble) denoises each
noisy training image once, whole, so every target pixel has the context the teacher has at
inference, and the (noisy, teacher output) pairs stay in memory. On clean data
`realizations` noisy copies of each image are synthesised first (the level of each copy drawn
from the noise spec's range). Patches are then cut identically from both members of a pair,
and an ordinary training run (`train.run_training`: checkpoints, SIGTERM, `--resume`) fits a
`Student` to them. Teacher outputs are cached in the run folder so a resumed run does not
recompute them; no clean image is ever a target.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from medenoise.config import TrainConfig
from medenoise.data.datamodule import PlanesDataModule
from medenoise.data.pairs import PairPatchDataset
from medenoise.errors import UserError

CACHE = "teacher_targets.npz"


class TeacherPatchDataset(PairPatchDataset):
    """Random crops {"noisy": input, "target": the teacher's output}: roles never swap."""

    def draw(self, rng: np.random.Generator) -> tuple[int, int, int, int, int]:
        """(pair, 0, 1, top, left): member 0 is the noisy input, member 1 its target."""
        g = int(rng.integers(len(self.groups)))
        h, w = self.groups[g][0].shape[:2]
        y = int(rng.integers(h - self.patch + 1))
        x = int(rng.integers(w - self.patch + 1))
        return g, 0, 1, y, x


class DistillDataModule(PlanesDataModule):
    """Patches of (noisy, teacher output) pairs held in memory; optional clean validation."""

    def train_dataloader(self) -> DataLoader:
        data, optim = self.cfg.dataset, self.cfg.optim
        rank = self.trainer.global_rank if self.trainer else 0
        step = self.trainer.global_step if self.trainer else 0
        # a pure function of (seed, sample index), so a resumed run draws the same patches
        ds = TeacherPatchDataset(
            self.train_groups,
            data.patch,
            optim.steps * data.batch_size,
            seed=optim.seed * 7919 + rank,
            min_mean=data.min_patch_mean,
            offset=step * data.batch_size,
        )
        return DataLoader(ds, batch_size=data.batch_size, shuffle=False, drop_last=True)


def load_teacher(cfg: TrainConfig):
    """The teacher as `denoise` would run it: its default self-ensemble, float32."""
    from medenoise.api import load_model
    from medenoise.inference.options import InferenceOptions

    accel = cfg.trainer.accelerator
    gpu = accel in ("gpu", "cuda") or (accel == "auto" and torch.cuda.is_available())
    device = "cuda" if gpu else "cpu"
    return load_model(cfg.model.teacher, options=InferenceOptions(device=device))


def noisy_copies(cfg: TrainConfig, planes: list[np.ndarray]) -> list[np.ndarray]:
    """The training inputs: noisy data as they are, or seeded synthetic copies of clean data."""
    from medenoise.noise import make_noise_model

    if cfg.dataset.data_kind == "noisy":
        return planes
    noise = make_noise_model(cfg.model.noise)
    out = []
    for r in range(cfg.method_options.realizations):
        for i, plane in enumerate(planes):
            # copy (r, i) is a function of the seed only, so a recomputed cache is the same
            gen = torch.Generator().manual_seed(cfg.optim.seed * 1_000_003 + r * 100_003 + i)
            clean = torch.from_numpy(np.ascontiguousarray(plane.transpose(2, 0, 1)))[None]
            y, _ = noise.sample(clean, gen)
            out.append(np.ascontiguousarray(y[0].numpy().transpose(1, 2, 0), np.float32))
    return out


def teacher_outputs(teacher, noisy: list[np.ndarray], spec: str | None, progress: bool):
    """The teacher's estimate of every noisy plane, each denoised whole."""
    targets = []
    for k, plane in enumerate(noisy):
        targets.append(teacher.denoise_planes(plane[None], spec)[0])
        if progress and (k + 1) % max(1, len(noisy) // 10) == 0:
            print(f"teacher: {k + 1}/{len(noisy)} images denoised", file=sys.stderr)
    return targets


def cache_key(cfg: TrainConfig, files: list[Path]) -> str:
    """What the cached targets depend on: teacher, data, noise, copies and seed."""
    model, data = cfg.model, cfg.dataset
    parts = [model.teacher, model.noise, data.data_kind, str(data.value_range)]
    parts += [str(cfg.method_options.realizations), str(cfg.optim.seed), str(model.channels)]
    parts += [f"{f}:{f.stat().st_size}" for f in files]
    return hashlib.sha256("\n".join(str(p) for p in parts).encode()).hexdigest()


def load_cache(path: Path, key: str) -> list[list[np.ndarray]] | None:
    """The cached (noisy, target) pairs when `path` holds them for `key`, else None."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            n = int(z["count"])
            return [[z[f"noisy_{i}"], z[f"target_{i}"]] for i in range(n)]
    except (OSError, ValueError, KeyError):
        return None  # a torn cache is recomputed


def save_cache(path: Path, key: str, pairs: list[list[np.ndarray]]) -> None:
    """Write the pairs atomically (a plain .npz of arrays, no pickled objects)."""
    arrays = {"key": np.array(key), "count": np.array(len(pairs))}
    for i, (noisy, target) in enumerate(pairs):
        arrays[f"noisy_{i}"], arrays[f"target_{i}"] = noisy, target
    tmp = path.with_name(f".tmp-{path.name}")
    with tmp.open("wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def training_pairs(cfg: TrainConfig, outdir: Path, progress: bool) -> list[list[np.ndarray]]:
    """(noisy, teacher output) planes for the run: from the run's cache, else computed."""
    from medenoise.data.patches import list_images, load_planes

    files = list_images(cfg.dataset.data)
    if not files:
        raise UserError("no training images found", ", ".join(cfg.dataset.data))
    key = cache_key(cfg, files)
    cached = load_cache(outdir / CACHE, key)
    if cached is not None:
        return cached
    teacher = load_teacher(cfg)  # bad teacher names fail here, before any image is read
    planes = load_planes(files, cfg.model.channels, cfg.dataset.value_range)
    noisy = noisy_copies(cfg, planes)
    spec = cfg.model.noise if cfg.dataset.data_kind == "clean" else None
    if spec is not None and not _fixed(spec):
        spec = None  # a level range: the teacher finds each copy's level as it does at use
    if progress:
        print(f"teacher {cfg.model.teacher}: denoising {len(noisy)} images", file=sys.stderr)
    targets = teacher_outputs(teacher, noisy, spec, progress)
    pairs = [[n, t] for n, t in zip(noisy, targets, strict=True)]
    outdir.mkdir(parents=True, exist_ok=True)
    save_cache(outdir / CACHE, key, pairs)
    return pairs


def _fixed(spec: str) -> bool:
    from medenoise.noise.spec import parse_noise_spec

    return parse_noise_spec(spec).is_fixed


def teacher_record(name: str) -> dict:
    """Provenance of the teacher for the student's file: its name and file hash."""
    from medenoise.inference.resolve import resolve_model

    ref = resolve_model(name)
    record = {"teacher": name, "teacher_kind": ref.kind}
    if ref.path and Path(ref.path).is_file():
        record["teacher_sha256"] = hashlib.sha256(Path(ref.path).read_bytes()).hexdigest()
    return record


def run_distillation(cfg: TrainConfig, outdir: str | Path, resume: bool = False, progress=True):
    """Distil `cfg.model.teacher` into the student `cfg` describes; returns the model file."""
    from medenoise.data.patches import ValidationSet, list_images, load_planes
    from medenoise.modelfile import save_model
    from medenoise.noise import make_noise_model
    from medenoise.train import build_module, check_run_folder, run_training

    outdir = Path(outdir)
    if cfg.model.method != "student" or not cfg.model.teacher:
        raise UserError("distillation trains a student: give its teacher", "options")
    check_run_folder(cfg, outdir, resume)  # before any teacher time is spent
    record = teacher_record(cfg.model.teacher)
    pairs = training_pairs(cfg, outdir, progress)
    val_set = None
    if cfg.dataset.val and cfg.dataset.val_images > 0:
        files = list_images(cfg.dataset.val)[: cfg.dataset.val_images]
        val_set = ValidationSet(
            load_planes(files, cfg.model.channels),
            make_noise_model(cfg.model.noise),
            cfg.dataset.val_crop,
            cfg.optim.seed,
        )
    module = build_module(cfg, warm_start=not resume)
    datamodule = DistillDataModule(cfg, groups=pairs, val_set=val_set)
    path = run_training(
        cfg, outdir, resume=resume, progress=progress, module=module, datamodule=datamodule
    )
    # the teacher's name and file hash also go into the file's metadata, beside the config
    save_model(module, path, extra=record)
    (outdir / "teacher.json").write_text(json.dumps(record, indent=1))
    return path
