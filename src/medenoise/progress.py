"""Plain-text training progress for logs and pipes, where a live bar would not be seen."""

from __future__ import annotations

import sys
import time

import lightning as L


class LineProgress(L.Callback):
    """Print `step k/N  loss  lr  s/step` every `every` steps (and at the end) to stderr."""

    def __init__(self, every: int = 20):
        self.every = every
        self._t0 = 0.0
        self._step0 = 0

    def on_train_start(self, trainer, module):
        self._t0, self._step0 = time.perf_counter(), trainer.global_step
        if trainer.world_size > 1 and trainer.is_global_zero:
            backend = getattr(trainer.strategy, "process_group_backend", None) or "?"
            print(
                f"data-parallel on {trainer.world_size} processes ({backend}); "
                f"batch {trainer.datamodule.cfg.dataset.batch_size} per process",
                file=sys.stderr,
                flush=True,
            )

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        step = trainer.global_step
        if step % self.every and step != trainer.max_steps:
            return
        if not trainer.is_global_zero:
            return
        rate = (time.perf_counter() - self._t0) / max(step - self._step0, 1)
        metrics = trainer.callback_metrics
        loss = metrics.get("train/loss")
        text = f"step {step}/{trainer.max_steps}"
        if loss is not None:
            text += f"  loss {float(loss):.4f}"
        if "val/psnr" in metrics:
            text += f"  val PSNR {float(metrics['val/psnr']):.2f} dB"
        print(f"{text}  {rate:.2f} s/step", file=sys.stderr, flush=True)
