"""Crash-safe training checkpoints: atomic writes, and a clean stop on SIGTERM / SIGINT.

Lightning writes checkpoints through an fsspec "transaction" whose temporary file lives in the
system temp folder, so the final move can be a copy across file systems: a `kill -9` during
that copy leaves a torn `last.ckpt`, and a full disk can fail halfway. `AtomicCheckpointIO`
writes into a temporary file beside the target, fsyncs it and renames it over the old one, so
`last.ckpt` is always either the previous checkpoint or the new one, whole.

`GracefulStop` turns SIGTERM (a scheduler ending the job) and SIGINT (Ctrl-C) into: finish the
current step, save `last.ckpt`, stop; `run_training` then raises `TrainingInterrupted`, which
the CLI prints as one line telling how to `--resume` (exit 128 + signal number). A second
signal stops at once.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import threading
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins import TorchCheckpointIO

from medenoise.errors import UserError

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TrainingInterrupted(Exception):
    """Training stopped on a signal after saving a resumable checkpoint."""

    def __init__(self, signum: int, step: int, steps: int, checkpoint: Path):
        self.signum, self.step, self.steps, self.checkpoint = signum, step, steps, checkpoint
        name = signal.Signals(signum).name
        super().__init__(
            f"{name} at step {step} of {steps}: saved {checkpoint}; run the same command with "
            "--resume to continue"
        )

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def stale_temporaries(folder: Path) -> list[Path]:
    """Temporary files a killed run left in `folder` (safe to delete: never a checkpoint)."""
    return sorted(folder.glob(".*.ckpt.*.tmp")) if folder.is_dir() else []


class AtomicCheckpointIO(TorchCheckpointIO):
    """torch.save into `.<name>.<random>.tmp` beside the target, fsync, rename over it.

    On any failure (disk full, quota, I/O error) the temporary file is removed and the previous
    checkpoint stays as it was; the error becomes a UserError saying so.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        except OSError as exc:
            kept = "the previous checkpoint is kept" if path.exists() else "no checkpoint yet"
            raise UserError(
                f"cannot write checkpoint ({exc.strerror or exc}); {kept}: free space, then run "
                "the same command with --resume",
                path,
            ) from exc
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)


class GracefulStop(L.Callback):
    """On SIGTERM/SIGINT: finish the step, save `path` (resumable), stop training.

    Handlers are installed when training starts (replacing Lightning's SIGTERM notifier, which
    would end the run without a checkpoint) and restored when it ends. The decision to stop is
    shared across processes, so every rank saves and stops at the same step.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.signum: int | None = None
        self.step: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:  # asked twice: stop now (the last checkpoint is whole)
            self._restore()
            raise KeyboardInterrupt
        self.signum = signum

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        requested = trainer.strategy.reduce_boolean_decision(self.signum is not None, all=False)
        if not requested or self.step is not None:
            return
        if self.signum is None:  # another rank was signalled
            self.signum = int(signal.SIGTERM)
        trainer.save_checkpoint(self.path)
        self.step = trainer.global_step
        trainer.should_stop = True

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            if handler is not None:
                signal.signal(signum, handler)
        self._previous = {}

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exc: Any) -> None:
        self._restore()
