"""Lightning callbacks the training tests share."""

from __future__ import annotations

import lightning as L


class StopAt(L.Callback):
    """Simulate an interruption: stop after `step` optimiser steps."""

    def __init__(self, step):
        self.step = step

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step >= self.step:
            trainer.should_stop = True
