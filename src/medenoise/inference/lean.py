"""The torch-free path: a model file whose ONNX export (and, for `--backend auto`, whose
automatic-path decision for ONNX Runtime) an earlier run left in the cache is run straight in
ONNX Runtime with numpy, without importing PyTorch, whose import is a large share of a short
CLI call on a small CPU (BENCHMARKS.md, "Distilled students").

The output equals the Denoiser's ONNX path bit for bit: the same graph, session options,
reflective padding and self-ensemble views. What this path does not do itself goes to the
full Denoiser, loaded (with PyTorch) on first need: planes the Denoiser would tile, and
`--noise measured`. Models whose graph takes a noise level, or that estimate one per image,
never get here (`remember` records neither).

How the cache is found: when the Denoiser's ONNX path is built for a model file (`remember`),
a small JSON record keyed by the file's SHA-256 names the export, the model's content digest
(the automatic path's key) and its config; a run then hashes the file it is given and reads
the record. A changed file has another hash, so a stale record is never used.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from medenoise.data.tiling import network_tile, overlap_for
from medenoise.inference.base import ArrayDenoiser
from medenoise.inference.measured_level import MEASURED, noise_or_default
from medenoise.inference.options import Backend, InferenceOptions, Precision
from medenoise.inference.ort_session import OrtSessions, cache_dir, onnx_available
from medenoise.inference.padding import pad_reflect, padded_size
from medenoise.inference.path_choice import ONNX32, PathChoice, candidates, choice_key, load_choice

RECORD_FORMAT = 1
NOTE = "PyTorch not loaded (export and decision cached)"


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex, 32 digits): the key of its record."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:32]


def record_file(model_file: str | Path) -> Path:
    """Where the record of `model_file` is kept: `cache_dir()/onnx/files/<sha>.json`."""
    return cache_dir() / "onnx" / "files" / f"{file_digest(model_file)}.json"


def remember(den, model_file: str | Path | None) -> None:
    """Record how the torch-free path finds `den`'s export, when `den` runs an unchanged
    `model_file` in ONNX Runtime with a graph that takes the image alone; a cache that cannot
    be written is skipped silently (the next run just loads PyTorch)."""
    onnx_path = getattr(den.runner, "onnx_path", None)
    if model_file is None or onnx_path is None or den.takes_known_level:
        return
    if den.estimates_level_per_image or Path(onnx_path).parent != cache_dir() / "onnx":
        return
    record = {
        "format": RECORD_FORMAT,
        "onnx": Path(onnx_path).name,
        "digest": Path(onnx_path).stem,  # cached_export names the file by model_digest
        "blind_spot": bool(den.module.blind_spot),
        "config": den.config.model_dump(mode="json"),
    }
    try:
        path = record_file(model_file)
        if path.is_file() and json.loads(path.read_text()) == record:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, path)
    except (OSError, ValueError):
        pass


def read_record(model_file: Path) -> dict | None:
    """The record of `model_file` with its export present, or None."""
    try:
        record = json.loads(record_file(model_file).read_text())
        ok = record["format"] == RECORD_FORMAT and (cache_dir() / "onnx" / record["onnx"]).is_file()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if ok else None


def lean_denoiser(model: str, options: InferenceOptions, load_full: Callable[[], ArrayDenoiser]):
    """The torch-free denoiser of `model` with `options`, or None when this run needs PyTorch
    (not the CPU in float32 through ONNX Runtime, no record, or an automatic path that chose
    otherwise). `load_full()` loads the full Denoiser for what this path leaves to it."""
    from medenoise.config import ModelConfig
    from medenoise.inference.resolve import resolve_model

    if options.device != "cpu" or options.threads is None or not onnx_available():
        return None
    if options.precision not in (Precision.AUTO, Precision.FP32):
        return None
    if options.backend not in (Backend.AUTO, Backend.ONNX):
        return None
    ref = resolve_model(model)
    if ref.kind not in ("zoo", "file") or ref.path is None or not ref.path.is_file():
        return None
    record = read_record(ref.path)
    if record is None:
        return None
    names, _ = candidates(options)
    choice = PathChoice(ONNX32) if names == [ONNX32] else None
    if len(names) > 1:  # the automatic path: only where its cached probe chose ONNX Runtime
        choice = load_choice(choice_key(record["digest"], names, options.threads), names)
    if choice is None or choice.name != ONNX32:
        return None
    try:
        config = ModelConfig.model_validate(record["config"])
    except ValueError:
        return None
    sessions = OrtSessions(cache_dir() / "onnx" / record["onnx"], options.threads, False)
    sessions.path = choice
    choice.notes.append(NOTE)
    if options.ensemble is None:
        options = options.with_(ensemble=ref.default_ensemble)
    overlap = None if options.exact else ref.tile_overlap
    blind = bool(record["blind_spot"])
    overlap = overlap if overlap is not None else overlap_for(blind, config.depth, options.exact)
    return LeanDenoiser(str(ref.path), config, sessions, options, blind, overlap, load_full)


class LeanDenoiser(ArrayDenoiser):
    """A model run by ONNX Runtime on numpy arrays (see the module's docstring); answers what
    `--verbose` asks of a Denoiser (runner, device, tile, overlap, batch)."""

    device = "cpu"
    precision = "32"

    def __init__(self, source, config, sessions, options, blind, overlap, load_full):
        self.source, self.config, self.runner = source, config, sessions
        self.options, self.blind_spot, self.overlap = options, blind, overlap
        self.ensemble = bool(options.ensemble)
        self.load_full, self.full = load_full, None

    def tile_size(self) -> int:
        """The Denoiser's tile side on this machine (`options.tile`, else from free memory)."""
        if self.options.tile is not None:
            return self.options.tile
        cfg = self.config
        return network_tile(cfg.width, cfg.channels, self.blind_spot, self.overlap, "cpu")

    def plane_batch(self, ph: int, pw: int, count: int) -> int:
        """One plane per call, as on the Denoiser's CPU path (the graph takes one image)."""
        return 1

    def delegate(self) -> ArrayDenoiser:
        """The full Denoiser, loaded once on first need."""
        if self.full is None:
            self.full = self.load_full()
        return self.full

    def denoise_planes(self, planes: np.ndarray, noise: str | None = None) -> np.ndarray:
        """Denoise float32 planes (S, H, W, C) in [0, 1]; planes the Denoiser would tile, and
        `--noise measured` (or a model whose default it is), go to it. Others run whole, one
        at a time."""
        noise = noise_or_default(self.config, noise)
        s, h, w, _ = planes.shape
        ph, pw = padded_size(h, w, self.blind_spot)
        if noise == MEASURED or max(ph, pw) > self.tile_size():
            return self.delegate().denoise_planes(planes, noise)
        if self.ensemble:
            from medenoise.ensemble import ensemble_views, ensembled

            views = ensemble_views(self.blind_spot, self.config.method == "student")
        out = np.empty(planes.shape, dtype=np.float32)
        for i in range(s):
            x = pad_reflect(planes[i : i + 1], ph, pw).transpose(0, 3, 1, 2)
            est = ensembled(self.runner.run, x, views) if self.ensemble else self.runner.run(x)
            out[i] = est[0, :, :h, :w].transpose(1, 2, 0)
        return out
