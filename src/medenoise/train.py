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

ESTIMATOR = "noise_param.estimator.net."  # state keys of a per-image level estimator

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


def init_weights(module, source: str, loaded=None) -> None:
    """Warm start or fine-tune from a model's weights (`source`, or its module if `loaded`)."""
    # The denoising network must match (method, channels, covariance) and be no wider. A
    # narrower one is widened so that it computes the same function (nets/widen.py); a gray
    # one is laid out for colour input (nets/gray_to_color.py). The noise
    # model and how its level is found may differ: a known-σ model can warm-start a per-image
    # σ model, whose level estimator then starts fresh (its own zero-initialised head).
    from medenoise.inference.resolve import model_path
    from medenoise.modelfile import load_module

    init = loaded if loaded is not None else load_module(model_path(source))
    theirs, ours = init.model_config, module.model_config
    colour = theirs.channels == 1 < ours.channels
    for key in ("method", "channels", "width", "covariance"):
        if getattr(theirs, key) != getattr(ours, key) and not (
            (key == "width" and theirs.width < ours.width) or (key == "channels" and colour)
        ):
            raise UserError(
                f"--init model has {key}={getattr(theirs, key)!r} but this run "
                f"uses {getattr(ours, key)!r}",
                source,
            )
    mine = module.state_dict()
    state = {k: v for k, v in init.state_dict().items() if k.startswith("net.") or k in mine}
    if colour:
        state = _coloured(state, mine, ours, theirs.width)
        print(
            f"--init {source}: gray network laid out for {ours.channels} channels (same "
            "function on a gray image in every channel)",
            file=sys.stderr,
        )
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


def _coloured(state: dict, mine: dict, ours, width: int) -> dict:
    """`state` of a gray model of `width` laid out for this run's `ours.channels` input
    channels (still at `width`: widening, if any, comes next)."""
    from medenoise.methods import build_method
    from medenoise.nets.gray_to_color import color_state

    if width != ours.width:  # the fresh rows come from a colour net of the gray one's width
        mine = build_method(ours.model_copy(update={"width": width})).state_dict()
    prefixes = ("net.", ESTIMATOR)
    kept = [p for p in prefixes if any(k.startswith(p) for k in state)]
    coloured = color_state(
        state, mine, channels=ours.channels, covariance=ours.covariance, prefixes=tuple(kept)
    )
    # the rest (a learned global level) carries over where its shape fits
    return coloured | {k: v for k, v in state.items() if k in mine and k not in coloured
                       and mine[k].shape == v.shape and not k.startswith(prefixes)}  # fmt: skip


def _widened(state: dict, mine: dict, module, old_width: int) -> dict:
    """`state` with its denoising network (and level estimator, if any) embedded into this
    run's wider ones."""
    from medenoise.nets.blindspot import BlindSpotUNet
    from medenoise.nets.widen import widen_state

    cfg = module.model_config
    nets = [("net.", isinstance(module.net, BlindSpotUNet), module.net.out_channels)]
    if any(k.startswith(ESTIMATOR) for k in state):
        nets.append((ESTIMATOR, False, module.noise_param.estimator.net.out_channels))
    wide: dict = {}
    for prefix, blind, out_channels in nets:
        narrow = {k: v for k, v in state.items() if k.startswith(prefix)}
        wide |= widen_state(
            narrow, mine, channels=cfg.channels, old_width=old_width, new_width=cfg.width,
            blind=blind, out_channels=out_channels, prefix=prefix,
        )  # fmt: skip
    return {k: v for k, v in state.items() if not k.startswith(("net.", ESTIMATOR))} | wide


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


def check_run_folder(cfg: TrainConfig, outdir: Path, resume: bool) -> Path:
    """The run's last.ckpt path, once the folder is known to take this run (new or resumed)."""
    # refused: a file; a started run without --resume; --resume without a checkpoint, or with
    # other data or model options than the run was started with
    if outdir.exists() and not outdir.is_dir():
        raise UserError("is a file, not a folder; -o names the run folder", outdir)
    last = outdir / "checkpoints" / LAST_CKPT
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
        data = ("data", "pairs", "layout", "value_range")
        same_data = saved.dataset.model_dump(include=set(data)) == cfg.dataset.model_dump(
            include=set(data)
        )
        if saved.model.model_copy(update={"training": {}}) != cfg.model or not same_data:
            raise UserError(
                "--resume with different data or model options than the "
                "original run (see config.yaml)",
                outdir,
            )
    return last


def record_training(cfg: TrainConfig) -> None:
    """Note how the model was trained in its config (it travels inside the model file)."""
    data, optim = cfg.dataset, cfg.optim
    cfg.model.training = {
        "data": [Path(d).name for d in data.data],
        "data_kind": data.data_kind,
        "steps": optim.steps,
        "patch": data.patch,
        "batch_size": data.batch_size,
        "seed": optim.seed,
        "init": cfg.init,
        "pairs": [Path(p).name for p in data.pairs],
        "layout": data.layout,
        "value_range": list(data.value_range) if data.value_range else None,
    }


def build_module(cfg: TrainConfig, warm_start: bool = True):
    """The method's module for this run, from `cfg.init`'s weights when `warm_start`."""
    from medenoise.methods import build_method

    torch.manual_seed(cfg.optim.seed)  # weight init depends on the seed only
    try:
        module = build_method(cfg.model, cfg)
    except ValueError as exc:
        raise UserError(str(exc), "options") from None
    if cfg.init and warm_start:
        init_weights(module, cfg.init)
    return module


def build_trainer(
    cfg: TrainConfig,
    *,
    has_val: bool,
    progress: bool,
    callbacks: list | None = None,
    outdir: Path | None = None,
    stop=None,
):
    """Lightning's Trainer for `cfg`: checkpoints and a log in `outdir`, or no file at all."""
    # with `outdir`: atomic checkpoints every `checkpoint_every` steps (and on a signal, through
    # `stop`, a GracefulStop) and a CSV log
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
    from lightning.pytorch.loggers import CSVLogger

    from medenoise.checkpointing import AtomicCheckpointIO
    from medenoise.progress import LineProgress

    optim, trainer = cfg.optim, cfg.trainer
    live_bar = progress and sys.stderr.isatty()
    callbacks = list(callbacks or [])
    if live_bar:  # tqdm: Lightning's rich bar shows "Epoch 0/-2" for step-based runs
        callbacks.insert(0, TQDMProgressBar())
    elif progress:
        callbacks.insert(0, LineProgress(max(1, min(50, optim.steps // 20))))
    if stop is not None:
        callbacks.insert(0, stop)
    saving = {"logger": False, "enable_checkpointing": False}
    if outdir is not None:
        checkpoint = ModelCheckpoint(
            dirpath=outdir / "checkpoints",
            every_n_train_steps=trainer.checkpoint_every,
            save_last=True,
            save_top_k=0,
            enable_version_counter=False,
        )
        callbacks.insert(0, checkpoint)
        saving = dict(
            logger=CSVLogger(outdir / "logs", name="", version=""),
            enable_checkpointing=True,
            plugins=[AtomicCheckpointIO()],
            default_root_dir=outdir,
        )
    return L.Trainer(
        max_steps=optim.steps,
        accelerator=trainer.accelerator,
        devices=trainer.devices,
        num_nodes=trainer.num_nodes,
        strategy=trainer.strategy,
        precision=trainer.precision,
        callbacks=callbacks,
        enable_progress_bar=live_bar,
        enable_model_summary=False,
        log_every_n_steps=min(50, trainer.checkpoint_every),
        num_sanity_val_steps=0,
        val_check_interval=min(trainer.val_every, optim.steps) if has_val else None,
        check_val_every_n_epoch=None if has_val else 1,
        limit_val_batches=1.0 if has_val else 0,
        use_distributed_sampler=False,
        **saving,
    )


def fit_in_memory(cfg: TrainConfig, module, datamodule, progress: bool = True, callbacks=None):
    """Train `module` writing no file; returns it on the CPU in contiguous memory layout."""
    from medenoise.methods.training import as_trainable

    _quiet_lightning()
    module = as_trainable(module)
    module.train_config = cfg
    module.train()  # a module loaded for inference comes in eval mode
    has_val = datamodule.val_set is not None
    trainer = build_trainer(cfg, has_val=has_val, progress=progress, callbacks=callbacks)
    trainer.fit(module, datamodule=datamodule)
    return module.cpu().to(memory_format=torch.contiguous_format)


def run_training(
    cfg: TrainConfig,
    outdir: str | Path,
    resume: bool = False,
    progress: bool = True,
    callbacks: list | None = None,
    *,
    module=None,
    datamodule=None,
) -> Path:
    """Train (or resume) and write RUNDIR/model.safetensors; returns its path."""
    # `module`, `datamodule`: ready ones (e.g. in memory) instead of building them from `cfg`
    from medenoise.checkpointing import GracefulStop, TrainingInterrupted, stale_temporaries
    from medenoise.data.datamodule import FolderDataModule
    from medenoise.methods.training import as_trainable

    _quiet_lightning()
    outdir = Path(outdir)
    last = check_run_folder(cfg, outdir, resume)
    record_training(cfg)
    if module is None:
        module = build_module(cfg, warm_start=not resume)
    else:
        module.train_config = cfg
    module = as_trainable(module)
    if datamodule is None:
        datamodule = FolderDataModule(cfg)  # bad data fail here, before the run folder exists
    if cfg.init and not resume:
        _start_fresh_level(cfg, module, datamodule)
    outdir.mkdir(parents=True, exist_ok=True)
    cfg.to_yaml(outdir / "config.yaml")
    stop = GracefulStop(last)
    trainer = build_trainer(
        cfg,
        has_val=datamodule.val_set is not None,
        progress=progress,
        callbacks=callbacks,
        outdir=outdir,
        stop=stop,
    )
    keep_history(outdir)
    for tmp in stale_temporaries(last.parent):  # left by a run killed while checkpointing
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
    if stop.step is not None and stop.step < cfg.optim.steps:
        raise TrainingInterrupted(stop.signum, stop.step, cfg.optim.steps, last)
    return save_product(trainer, module, outdir)


def _start_fresh_level(cfg: TrainConfig, module, datamodule) -> None:
    """A warm start's fresh learned global level starts at the one measured on its data."""
    from medenoise.adaptation_level import start_at_training_level

    level = start_at_training_level(
        module, datamodule.train_planes, cfg.dataset.data_kind, cfg.optim.seed
    )
    if level:
        print(
            f"--init {cfg.init}: the learned noise level starts at the one measured on the "
            f"noisy training data, {level}",
            file=sys.stderr,
        )


def save_product(trainer, module, outdir: Path) -> Path:
    """Write RUNDIR/model.safetensors (rank zero only under DDP); returns its path."""
    from medenoise.modelfile import save_model

    model_path = outdir / "model.safetensors"
    if trainer.is_global_zero:
        save_model(module, model_path)
    return model_path
