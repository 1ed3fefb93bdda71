"""The Lightning side of a method: optimiser, schedule, logging, checkpoint hooks.

`trainable(cls)` is the method class `cls` with `TrainingHooks` and Lightning's
`LightningModule` mixed in, built on first use; `as_trainable(module)` turns a module loaded
to denoise (a plain `torch.nn.Module`) into one a `Trainer` accepts, weights copied. Kept
apart from `methods.base` so that inference never imports Lightning.
"""

from __future__ import annotations

import functools

import lightning as L
import torch

from medenoise.methods.base import DenoisingMethod
from medenoise.methods.schedule import lr_factor


class TrainingHooks:
    """Lightning hooks shared by every method (mixed in before `LightningModule`)."""

    def training_step(self, batch, batch_idx):
        loss, logs = self.training_loss(self.with_noise(self.nhwc(batch)))
        self.log("train/loss", loss, prog_bar=True, sync_dist=True)
        for key, value in logs.items():
            self.log(f"train/{key}", value, sync_dist=True)
        self.log("lr", self.optimizers().param_groups[0]["lr"])
        return loss

    def validation_step(self, batch, batch_idx):
        batch = self.nhwc(batch)
        clean, noisy = batch["clean"], batch["noisy"]
        params = batch.get("params")
        est = self.denoise(noisy, params)
        mse = ((est.clamp(0, 1) - clean) ** 2).mean(dim=(1, 2, 3))
        psnr = (-10.0 * torch.log10(mse.clamp_min(1e-12))).mean()
        self.log("val/psnr", psnr, prog_bar=True, sync_dist=True, batch_size=clean.shape[0])

    def configure_optimizers(self):
        cfg = self.train_config.optim if self.train_config else None
        lr = cfg.lr if cfg else 3e-4
        opt = torch.optim.Adam(self.parameters(), lr=lr, betas=(0.9, 0.99))
        if cfg is None:
            return opt
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: lr_factor(step, cfg.steps, cfg.rampup, cfg.rampdown)
        )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint):
        checkpoint["noise_generator"] = self.noise_generator.get_state()
        # plain JSON text, so `modelfile.load_checkpoint` needs no pickled objects
        checkpoint["medenoise_model_config"] = self.model_config.model_dump_json()

    def on_load_checkpoint(self, checkpoint):
        state = checkpoint.get("noise_generator")
        if state is not None:
            self._pending_gen_state = state

    def on_fit_start(self):
        # channels_last: oneDNN/cuDNN convs run faster in NHWC (SSDN step on CPU: 1.27 →
        # 1.17 s, benchmarks/profile_ssdn_step.py); weights are saved contiguous.
        self.to(memory_format=torch.channels_last)
        if self.train_config is not None and self.train_config.trainer.compile:
            # Kept outside the module tree (plain attribute), so state_dict keys, checkpoints
            # and model files are those of the eager net; it shares the net's parameters.
            self.__dict__["_compiled_net"] = torch.compile(self.net)

    def on_train_start(self):
        state = getattr(self, "_pending_gen_state", None)
        if state is not None:
            self.noise_generator.set_state(state)
            self._pending_gen_state = None


@functools.cache
def trainable(cls: type[DenoisingMethod]) -> type:
    """`cls` with the training hooks and `LightningModule` (same name, same state_dict keys)."""
    if issubclass(cls, L.LightningModule):
        return cls
    # MRO: cls, ..., DenoisingMethod, LevelCapabilities, TrainingHooks, LightningModule, ...,
    # nn.Module: the method's __init__ runs Lightning's through super(), then nn.Module's.
    return type(cls.__name__, (cls, TrainingHooks, L.LightningModule), {"__module__": __name__})


def as_trainable(module: DenoisingMethod) -> DenoisingMethod:
    """`module` as a LightningModule: itself when it is one, else a copy with its weights."""
    if isinstance(module, L.LightningModule):
        return module
    twin = trainable(type(module))(module.model_config, module.train_config)
    twin.load_state_dict(module.state_dict())
    return twin.to(module.device).train(module.training)
