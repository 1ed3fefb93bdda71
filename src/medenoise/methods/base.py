"""One module shape for every trained method: net, noise model, synthetic noise and the
denoiser live here; a method supplies its net, loss and denoiser. The Lightning side
(optimiser, schedule, validation PSNR, checkpoint hooks) is `methods.training`, mixed in only
for training, so loading a model to denoise never imports Lightning (about 3 s per run).

A method subclass implements `build()`, `training_loss(batch)` and `denoise(y, params)`.
Batches are dicts: "clean" (N,C,P,P) when clean data exist, "noisy" when the data are
already noisy, "target" (a second noisy copy) for pairs.
"""

from __future__ import annotations

import torch

from medenoise.capabilities import LevelCapabilities
from medenoise.config import ModelConfig, TrainConfig
from medenoise.nets import UNet
from medenoise.noise import make_noise_model
from medenoise.noise.params import NoiseParameter


class DenoisingMethod(LevelCapabilities, torch.nn.Module):
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
        device = self.device
        if self._noise_gen is None or self._noise_gen.device != device:
            seed = (self.train_config.optim.seed if self.train_config else 0) * 1009
            seed += getattr(self, "global_rank", 0)  # Lightning's, when training
            self._noise_gen = torch.Generator(device=device).manual_seed(seed)
        return self._noise_gen

    @property
    def device(self) -> torch.device:
        """Where the weights are (a module loaded to denoise has no Lightning device record)."""
        return next(self.parameters()).device

    def with_noise(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Add fresh synthetic noise to clean patches; noisy data pass through as is."""
        if "noisy" in batch:
            return batch
        y, params = self.noise.sample(batch["clean"], self.noise_generator)
        return {**batch, "noisy": y, "params": params}

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


class PlainUNetMethod(DenoisingMethod):
    """Methods on the plain U-Net (N2C, N2N, N2V): C → C channels, one forward pass, no level."""

    def build(self) -> None:
        cfg = self.model_config
        self.net = UNet(cfg.channels, cfg.channels, cfg.width)

    def denoise(self, y, params=None):
        return self.net(y).float()
