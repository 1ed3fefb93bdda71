"""Run a training job: datamodule + method + Lightning Trainer → checkpoints, CSV log, model file.

RUNDIR layout: config.yaml (the TrainConfig), metrics.csv (loss, lr, val PSNR),
checkpoints/last.ckpt (resumable, our own runs only), model.safetensors (the product).
Checkpoints are written atomically every `checkpoint_every` steps and on SIGTERM/SIGINT
(checkpointing.py), so a killed run resumes from its last whole checkpoint.
"""

from __future__ import annotations

import csv
import logging
import os
import sys
import warnings
from pathlib import Path

import torch

from medenoise.config import TrainConfig
from medenoise.errors import UserError

LAST_CKPT = "last.ckpt"


def _quiet_lightning() -> None:
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    for msg in (
        ".*does not have many workers.*",
        ".*LeafSpec.*",
        ".*isinstance.*treespec.*",
        ".*GPU available but not used.*",
        ".*Checkpoint directory.*exists.*",
        # resuming: our patch streams are a pure function of the step (data/patches.py), so
        # a mid-epoch checkpoint resumes exactly; and a changed --checkpoint-every is fine
        ".*dataloader is not resumable.*",
        ".*callbacks used to create the checkpoint need to be provided.*",
    ):
        warnings.filterwarnings("ignore", message=msg)


def init_weights(module, source: str) -> None:
    """Start from a model file's weights (fine-tuning or warm start).

    The denoising network must match (method, channels, covariance) and be no wider. A
    narrower one is widened so that it computes the same function (nets/widen.py). The noise
    model and how its level is found may differ: a known-σ model can warm-start a per-image
    σ model, whose level estimator then starts fresh (its own zero-initialised head)."""
    from medenoise.modelfile import load_module

    init = load_module(resolve_model_path(source))
    theirs, ours = init.model_config, module.model_config
    for key in ("method", "channels", "width", "covariance"):
        if getattr(theirs, key) != getattr(ours, key) and not (
            key == "width" and theirs.width < ours.width
        ):
            raise UserError(
                f"--init model has {key}={getattr(theirs, key)!r} but this run "
                f"uses {getattr(ours, key)!r}",
                source,
            )
    mine = module.state_dict()
    state = {k: v for k, v in init.state_dict().items() if k.startswith("net.") or k in mine}
    if theirs.width < ours.width:
        state = _widened(state, mine, module, theirs.width)
        print(
            f"--init {source}: width {theirs.width} widened to {ours.width} "
            "(same function at start; new channels from a fresh init)",
            file=sys.stderr,
        )
    missing = [k for k in state if k not in mine or mine[k].shape != state[k].shape]
    if missing:
        raise UserError(f"--init model's network does not fit this run ({missing[0]})", source)
    module.load_state_dict(state, strict=False)
    fresh = sorted({k.split(".")[0] for k in mine if k not in state})
    if fresh:
        print(f"--init {source}: network loaded; fresh: {', '.join(fresh)}", file=sys.stderr)


def _widened(state: dict, mine: dict, module, old_width: int) -> dict:
    """`state` with its denoising network embedded into this run's wider one."""
    from medenoise.nets.blindspot import BlindSpotUNet
    from medenoise.nets.widen import widen_state

    net = {k: v for k, v in state.items() if k.startswith("net.")}
    wide = widen_state(
        net,
        mine,
        channels=module.model_config.channels,
        old_width=old_width,
        new_width=module.model_config.width,
        blind=isinstance(module.net, BlindSpotUNet),
        out_channels=module.net.out_channels,
    )
    return {k: v for k, v in state.items() if not k.startswith("net.")} | wide


def resolve_model_path(name_or_path: str) -> Path:
    """A model given by zoo name or path (see `medenoise.inference.resolve.model_path`)."""
    from medenoise.inference.resolve import model_path

    return model_path(name_or_path)


def keep_history(outdir: Path) -> None:
    """Merge this segment's Lightning CSV log into RUNDIR/metrics.csv, which keeps every
    segment of a resumed run (Lightning's logger rewrites its own file on each start)."""
    segment = outdir / "logs" / "metrics.csv"
    if not segment.is_file():
        return
    total = outdir / "metrics.csv"
    rows = []
    for path in (total, segment):
        if path.is_file():
            with path.open(newline="") as f:
                rows.extend(csv.DictReader(f))
    columns = list(dict.fromkeys(k for row in rows for k in row))
    tmp = total.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, total)
    segment.unlink()


def check_checkpoint(path: Path) -> None:
    """Refuse to resume from a checkpoint that does not load (torn copy, wrong file)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UserError(
            f"checkpoint does not load ({type(exc).__name__}: {exc}); restore a copy, or "
            "start a new run in another folder",
            path,
        ) from None


def check_run(cfg: TrainConfig) -> None:
    """Reject option combinations that cannot train, before any data are read."""
    from medenoise.noise import make_noise_model

    model = cfg.model
    noise = make_noise_model(model.noise)
    if cfg.data_kind == "clean" and not noise.spec.has_level:
        raise UserError(
            f"--noise {model.noise} has no level to synthesise; give one "
            f"(e.g. {noise.kind}:25) or pass --data-kind noisy for real noisy data"
        )
    if model.method == "ssdn" and model.covariance != "mu" and not noise.has_likelihood:
        raise UserError(
            f"SSDN has no likelihood for {noise.kind} noise; use gaussian, "
            "poisson or pg (or --covariance mu)"
        )
    if (
        model.method == "ssdn"
        and model.noise_param == "known"
        and cfg.data_kind == "noisy"
        and not noise.spec.is_fixed
    ):
        raise UserError(
            "--noise-param known on real noisy data needs a single noise level "
            "(e.g. gaussian:25); or learn it with --noise-param global|per-image"
        )
    if cfg.balance_noise_levels and (model.method != "ssdn" or model.covariance == "mu"):
        raise UserError(
            "--balance-noise-levels weights the SSDN likelihood; "
            f"{model.method} with covariance {model.covariance} has none"
        )
    if model.method == "n2c" and cfg.data_kind != "clean":
        raise UserError("n2c is supervised: it needs clean training images")


def run_training(
    cfg: TrainConfig,
    outdir: str | Path,
    resume: bool = False,
    progress: bool = True,
    callbacks: list | None = None,
) -> Path:
    """Train (or resume) and write RUNDIR/model.safetensors; returns its path."""
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
    from lightning.pytorch.loggers import CSVLogger

    from medenoise.checkpointing import (
        AtomicCheckpointIO,
        GracefulStop,
        TrainingInterrupted,
        stale_temporaries,
    )
    from medenoise.data.datamodule import FolderDataModule
    from medenoise.methods import build_method
    from medenoise.modelfile import save_model
    from medenoise.progress import LineProgress

    _quiet_lightning()
    check_run(cfg)
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise UserError("is a file, not a folder; -o names the run folder", outdir)
    ckpt_dir = outdir / "checkpoints"
    last = ckpt_dir / LAST_CKPT
    if resume and not last.is_file():
        raise UserError("nothing to resume: no checkpoints/last.ckpt here", outdir)
    if not resume and last.is_file():
        raise UserError(
            "run folder already holds a run; pass --resume to continue it or choose another -o",
            outdir,
        )
    if resume:
        check_checkpoint(last)
        saved = TrainConfig.from_yaml(outdir / "config.yaml")
        same_data = (saved.data, saved.pairs, saved.layout, saved.value_range) == (
            cfg.data,
            cfg.pairs,
            cfg.layout,
            cfg.value_range,
        )
        if saved.model.model_copy(update={"training": {}}) != cfg.model or not same_data:
            raise UserError(
                "--resume with different data or model options than the "
                "original run (see config.yaml)",
                outdir,
            )
    cfg.model.training = {
        "data": [Path(d).name for d in cfg.data],
        "data_kind": cfg.data_kind,
        "steps": cfg.steps,
        "patch": cfg.patch,
        "batch_size": cfg.batch_size,
        "seed": cfg.seed,
        "init": cfg.init,
        "pairs": [Path(p).name for p in cfg.pairs],
        "layout": cfg.layout,
        "value_range": list(cfg.value_range) if cfg.value_range else None,
    }
    torch.manual_seed(cfg.seed)  # weight init depends on the seed only
    try:  # option combinations a method cannot train, before any data are read
        module = build_method(cfg.model, cfg)
    except ValueError as exc:
        raise UserError(str(exc), "options") from None
    if cfg.init and not resume:
        init_weights(module, cfg.init)
    datamodule = FolderDataModule(cfg)  # bad data fail here, before the run folder exists
    outdir.mkdir(parents=True, exist_ok=True)
    cfg.to_yaml(outdir / "config.yaml")
    live_bar = progress and sys.stderr.isatty()
    if live_bar:  # tqdm: Lightning's rich bar shows "Epoch 0/-2" for step-based runs
        callbacks = [TQDMProgressBar(), *(callbacks or [])]
    elif progress:
        callbacks = [LineProgress(max(1, min(50, cfg.steps // 20))), *(callbacks or [])]
    checkpoint = ModelCheckpoint(
        dirpath=ckpt_dir,
        every_n_train_steps=cfg.checkpoint_every,
        save_last=True,
        save_top_k=0,
        enable_version_counter=False,
    )
    stop = GracefulStop(last)
    has_val = datamodule.val_set is not None
    trainer = L.Trainer(
        max_steps=cfg.steps,
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        num_nodes=cfg.num_nodes,
        strategy=cfg.strategy,
        precision=cfg.precision,
        callbacks=[checkpoint, stop, *(callbacks or [])],
        plugins=[AtomicCheckpointIO()],
        logger=CSVLogger(outdir / "logs", name="", version=""),
        default_root_dir=outdir,
        enable_progress_bar=live_bar,
        enable_model_summary=False,
        log_every_n_steps=min(50, cfg.checkpoint_every),
        num_sanity_val_steps=0,
        val_check_interval=min(cfg.val_every, cfg.steps) if has_val else None,
        check_val_every_n_epoch=None if has_val else 1,
        limit_val_batches=1.0 if has_val else 0,
        use_distributed_sampler=False,
        enable_checkpointing=True,
    )
    keep_history(outdir)
    for tmp in stale_temporaries(ckpt_dir):  # left by a run killed while checkpointing
        tmp.unlink(missing_ok=True)
    try:
        trainer.fit(
            module,
            datamodule=datamodule,
            ckpt_path=str(last) if resume else None,
            weights_only=True,  # our own checkpoint, still loaded without running code
        )
    finally:
        if trainer.is_global_zero:
            keep_history(outdir)
    if stop.step is not None and stop.step < cfg.steps:
        raise TrainingInterrupted(stop.signum, stop.step, cfg.steps, last)
    model_path = outdir / "model.safetensors"
    if trainer.is_global_zero:
        save_model(module, model_path)
    return model_path
