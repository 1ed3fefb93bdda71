"""One LightningModule shape for every trained method: optimiser, schedule, synthetic noise,
validation PSNR and RNG state live here; a method supplies its net, loss and denoiser.

A method subclass implements `build()`, `training_loss(batch)` and `denoise(y, params)`.
Batches are dicts: "clean" (N,C,P,P) when clean data exist, "noisy" when the data are
already noisy, "target" (a second noisy copy) for pairs.
"""

from __future__ import annotations

import lightning as L
import torch

from medenoise.capabilities import LevelCapabilities
from medenoise.config import ModelConfig, TrainConfig
from medenoise.methods.schedule import lr_factor
from medenoise.nets import UNet
from medenoise.noise import make_noise_model
from medenoise.noise.params import NoiseParameter


class DenoisingMethod(LevelCapabilities, L.LightningModule):
    """Base class; subclasses register themselves in `medenoise.methods.METHODS`."""

    name = ""
    blind_spot = False  # blind-spot nets need square inputs

    def __init__(self, model: ModelConfig, train: TrainConfig | None = None):
        super().__init__()
        self.model_config = model
        self.train_config = train
        self.noise = make_noise_model(model.noise)
        self.noise_param = NoiseParameter(
            self.noise, model.noise_param, model.channels, model.width
        )
        self.build()
        self._noise_gen: torch.Generator | None = None

    # --- to be provided by the method ------------------------------------------------
    def build(self) -> None:
        raise NotImplementedError

    def training_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        raise NotImplementedError

    def denoise(self, y: torch.Tensor, params: torch.Tensor | None = None) -> torch.Tensor:
        """Clean estimate for noisy y (N,C,H,W) padded as the net needs; float32."""
        raise NotImplementedError

    # --- shared machinery ------------------------------------------------------------
    @property
    def noise_generator(self) -> torch.Generator:
        """Seeded generator for synthetic training noise (its state is checkpointed)."""
        if self._noise_gen is None or self._noise_gen.device != self.device:
            seed = (
                self.train_config.optim.seed if self.train_config else 0
            ) * 1009 + self.global_rank
            self._noise_gen = torch.Generator(device=self.device).manual_seed(seed)
        return self._noise_gen

    def with_noise(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Add fresh synthetic noise to clean patches; noisy data pass through as is."""
        if "noisy" in batch:
            return batch
        y, params = self.noise.sample(batch["clean"], self.noise_generator)
        return {**batch, "noisy": y, "params": params}

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

    def train_net(self, x: torch.Tensor) -> torch.Tensor:
        """The network as training runs it: compiled with `compile: true`, else eager."""
        return self.__dict__.get("_compiled_net", self.net)(x)

    @staticmethod
    def nhwc(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The batch's images in channels_last, matching the weights (see on_fit_start)."""
        return {
            k: v.contiguous(memory_format=torch.channels_last) if v.ndim == 4 else v
            for k, v in batch.items()
        }

    def on_train_start(self):
        state = getattr(self, "_pending_gen_state", None)
        if state is not None:
            self.noise_generator.set_state(state)
            self._pending_gen_state = None


class PlainUNetMethod(DenoisingMethod):
    """Methods on the plain U-Net (N2C, N2N, N2V): C → C channels, one forward pass, no level."""

    def build(self) -> None:
        cfg = self.model_config
        self.net = UNet(cfg.channels, cfg.channels, cfg.width)

    def denoise(self, y, params=None):
        return self.net(y).float()
