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
        batch = pd_split_batch(self.with_noise(self.nhwc(batch)), self.model_config.pd_stride)
        loss, logs = self.training_loss(batch)
        self.log("train/loss", loss, prog_bar=True, sync_dist=True)
        for key, value in logs.items():
            self.log(f"train/{key}", value, sync_dist=True)
        self.log("lr", self.optimizers().param_groups[0]["lr"])
        return loss

    def validation_step(self, batch, batch_idx):
        batch = self.nhwc(batch)
        clean, noisy = batch["clean"], batch["noisy"]
        params = batch.get("params")
        est = self.pd_denoise(noisy, params)
        mse = ((est.clamp(0, 1) - clean) ** 2).mean(dim=(1, 2, 3))
        psnr = (-10.0 * torch.log10(mse.clamp_min(1e-12))).mean()
        self.log("val/psnr", psnr, prog_bar=True, sync_dist=True, batch_size=clean.shape[0])

    def pd_denoise(self, noisy, params=None):
        """`denoise` as the model runs by default: through its pixel-shuffle sub-images."""
        k = self.model_config.pd_stride
        if k == 1:
            return self.denoise(noisy, params)
        from medenoise.nets.pixel_shuffle import pad_to_multiple, pd_merge, pd_split

        sub_params = None if params is None else params.repeat_interleave(k * k, dim=0)
        # sub-images whose sides are multiples of 32, as the U-Net needs
        est = self.denoise(pd_split(pad_to_multiple(noisy, 32 * k), k), sub_params)
        return pd_merge(est, k, *noisy.shape[-2:])

    def configure_optimizers(self):
        cfg = self.train_config.optim if self.train_config else None
        lr = cfg.lr if cfg else 3e-4
        # a learned global level is one scalar θ per parameter that may have to travel a few
        # units (σ = softplus(θ − 4)); a short fine-tune at a network's small rate never
        # gets it there, so it may have a rate of its own
        level = [p for n, p in self.named_parameters() if n == "noise_param.theta"]
        if cfg is not None and cfg.level_lr and level:
            rest = [p for n, p in self.named_parameters() if n != "noise_param.theta"]
            groups = [{"params": rest}, {"params": level, "lr": cfg.level_lr}]
        else:
            groups = [{"params": list(self.parameters())}]
        opt = torch.optim.Adam(groups, lr=lr, betas=(0.9, 0.99))
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


def pd_split_batch(batch: dict, k: int) -> dict:
    """A training batch as the k² pixel-shuffle sub-images of each image (k = 1: as is);
    per-image values (noise parameters) are repeated for each of an image's sub-images."""
    if k == 1:
        return batch
    from medenoise.nets.pixel_shuffle import pd_split

    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor) and value.ndim == 4:
            out[key] = pd_split(value, k).contiguous(memory_format=torch.channels_last)
        elif isinstance(value, torch.Tensor) and value.ndim >= 1:
            out[key] = value.repeat_interleave(k * k, dim=0)
        else:
            out[key] = value
    return out


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
