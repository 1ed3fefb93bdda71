"""An SSDN network's prior mean μ alone, without its posterior: the "μ-only" ablation.

SSDN's blind-spot network predicts, from each pixel's neighbours only, a Gaussian prior
N(μ, Σ) over the clean value; the denoised value is the posterior mean, which combines that
prior with the noisy pixel itself through the noise model. Scoring μ on its own measures
what the posterior adds (the SSDN paper's "μ only" ablation).
"""

from __future__ import annotations

import torch

from medenoise.errors import UserError
from medenoise.inference.runners import TorchRunner, to_device


def network_prior_mean(module, x: torch.Tensor) -> torch.Tensor:
    """μ of a blind-spot SSDN `module` for a (N, C, S, S) batch already on its device."""
    from medenoise.noise.likelihood import prior_from_head

    out = module.net(x)
    if module.mu_only:  # a μ-only model's head is μ itself
        return out
    return prior_from_head(out, module.model_config.channels, module.model_config.covariance).mu


class PriorMeanRunner(TorchRunner):
    """TorchRunner's network call (eager PyTorch, channels_last, optional bf16 autocast),
    returning the prior mean μ instead of the posterior mean."""

    def run(self, x: torch.Tensor, params: torch.Tensor | None) -> torch.Tensor:
        """μ of a padded (N, C, S, S) batch, float32 on `device`; `params` are not needed."""
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.bf16):
            return network_prior_mean(self.module, to_device(x, self.device)).float()


def prior_mean_denoiser(denoiser):
    """A Denoiser like `denoiser` (same tiling, ensemble, precision) that outputs the SSDN
    network's prior mean μ; refuses anything but a loaded SSDN network."""
    from medenoise.inference.denoiser import Denoiser

    module = getattr(denoiser, "module", None)
    if not isinstance(denoiser, Denoiser) or getattr(module, "name", None) != "ssdn":
        source = getattr(denoiser, "source", denoiser)
        raise UserError(f"the prior mean μ is an SSDN network's; {source} is not one")
    options = denoiser.options.with_(precision=denoiser.precision)  # what `auto` chose
    runner = PriorMeanRunner(module, denoiser.device, options.precision)
    return Denoiser(module, denoiser.source, options, overlap=denoiser.overlap, runner=runner)
