"""SSDN (Laine et al. 2019): blind-spot prior + explicit noise model + Bayesian posterior."""

from __future__ import annotations

import contextlib

import torch

from medenoise.methods.base import DenoisingMethod
from medenoise.nets import BlindSpotUNet
from medenoise.noise.censored import Recording
from medenoise.noise.likelihood import (
    head_channels,
    level_balance_weight,
    paper_loss,
    prior_from_head,
    unclipped_weight,
)


class SSDN(DenoisingMethod):
    """Trained by the NLL of the noisy pixel under N(μ_x, Σ_x + Σ_n); denoises with the
    posterior mean, which also uses the noisy pixel. covariance="mu" is the μ-only
    ablation: L2 to the noisy input, output used as is (what N2V converges to)."""

    name = "ssdn"
    blind_spot = True

    def build(self) -> None:
        cfg = self.model_config
        self.net = BlindSpotUNet(
            cfg.channels, head_channels(cfg.channels, cfg.covariance), cfg.width, cfg.blind_square
        )

    @property
    def mu_only(self) -> bool:
        return self.model_config.covariance == "mu"

    @property
    def recording(self) -> Recording:
        """Clipping and quantisation of the data (ModelConfig clip, quant_levels)."""
        return Recording.of(self.model_config)

    @property
    def takes_known_level(self) -> bool:
        """The posterior mean needs the noise level, given by the caller in known mode."""
        return not self.mu_only and self.model_config.noise_param == "known"

    @property
    def learns_global_level(self) -> bool:
        """The posterior mean uses one level learned with the network."""
        return not self.mu_only and self.model_config.noise_param == "global"

    @property
    def estimates_level_per_image(self) -> bool:
        """The level comes from the estimator net, one value per image."""
        return not self.mu_only and self.model_config.noise_param == "per-image"

    @property
    def net_frozen(self) -> bool:
        """Only the noise level trains now (`freeze_net_steps`, learned levels)."""
        cfg = self.train_config
        steps = cfg.method_options.freeze_net_steps if cfg else 0
        return self.noise_param.learned and self.global_step < steps

    @property
    def level_frozen(self) -> bool:
        """The learned level stops training after `freeze_level_after` steps (0: never)."""
        cfg = self.train_config
        after = cfg.method_options.freeze_level_after if cfg else 0
        return self.noise_param.learned and 0 < after <= self.global_step

    def supervises_level(self, true) -> bool:
        """The estimator learns a given level (`level_from_synthesis`: the synthesised one,
        `level_from_measurement`: the one measured on the patch): per-image mode."""
        cfg = self.train_config
        options = cfg.method_options if cfg else None
        wanted = options and (options.level_from_synthesis or options.level_from_measurement)
        return bool(wanted and true is not None and self.noise_param.mode == "per-image")

    def training_loss(self, batch):
        options = self.train_config.method_options if self.train_config else None
        if options and options.objective == "sure":
            from medenoise.noise.sure import sure_training_loss

            return sure_training_loss(self, batch)
        y = batch["noisy"]
        with torch.no_grad() if self.net_frozen else contextlib.nullcontext():
            out = self.train_net(y)
        if self.mu_only:
            return ((out - y) ** 2).mean(), {}
        c = self.model_config.channels
        prior = prior_from_head(out, c, self.model_config.covariance)
        true = batch.get("params")
        if true is None and options and options.level_from_measurement:
            true = self._measured_level(y)
        params = self.noise_param(y, true)
        if self.level_frozen:
            params = params.detach()
        supervised = self.supervises_level(true)
        if supervised:
            true = true.to(params)
        level = true if supervised else params
        var_n = self.noise.variance(prior.mu, level)
        loss = paper_loss(self.noise.nll(y, prior, var_n, level, self.recording), c)
        if options and options.balance_noise_levels:
            loss = loss * level_balance_weight(prior, var_n)
        if options and options.ignore_clipped:
            keep = unclipped_weight(y)
            loss = (loss * keep).sum() / keep.sum().clamp_min(1.0)
        else:
            loss = loss.mean()
        logs = {}
        if self.noise_param.learned:
            for i, name in enumerate(self.noise.param_names):
                logs[f"noise_{name}"] = params[:, i].mean().float()
        if supervised:  # the estimator learns the synthesised level; the prior sees the truth
            err = (params.clamp_min(1e-6).log() - true.clamp_min(1e-6).log()) ** 2
            loss = loss + err.mean()
            logs["level_log_error"] = err.mean().sqrt().float()
        elif self.noise_param.learned and self.noise.regularised:
            loss = loss - self.noise.regulariser(var_n)
        return loss.float(), logs

    def _measured_level(self, y):
        """Each noisy patch's level measured on it (noise/measured_level.py); where too little
        of a patch is uncut to measure, the estimator's own (detached: no level loss there)."""
        from medenoise.noise.measured_level import haar_level

        measured = haar_level(self._level_views(y))
        if measured.isnan().any():
            with torch.no_grad():
                own = self.noise_param(y).to(measured)
            measured = torch.where(measured.isnan(), own, measured)
        return measured

    def _level_views(self, y):
        """y itself, or with a blind square of side 2s − 1, y's stride-s pixel-shuffle
        sub-images stacked on channels (N, s²·C, H/s, W/s): noise correlated as far as the
        square reaches is white there, where the Haar measure reads its per-pixel std."""
        s = (self.model_config.blind_square + 1) // 2
        if s == 1:
            return y
        from medenoise.nets.pixel_shuffle import pd_split

        sub = pd_split(y, s)
        return sub.reshape(y.shape[0], -1, *sub.shape[-2:])

    def denoise(self, y, params=None):
        out = self.net(y)
        if self.mu_only:
            return out.float()
        prior = prior_from_head(out, self.model_config.channels, self.model_config.covariance)
        if self.measures_level_map and self.noise_param.mode == "per-image":  # none given
            var_n, level = self._measured_variance(y, prior), None  # Gaussian: var_n suffices
        else:
            level = self.noise_param(y, params)
            var_n = self.noise.variance(prior.mu, level)
        return self.noise.posterior_mean(y, prior, var_n, level, self.recording).float()

    def _measured_variance(self, y, prior):
        """The noise variance from `level_map`; the estimator's (run only then) where nothing
        could be measured (an image of clipped air)."""
        measured = (self.level_map(y) ** 2).expand(prior.mu.shape)
        if measured.isnan().any():
            estimated = self.noise.variance(prior.mu, self.noise_param(y))
            measured = torch.where(measured.isnan(), estimated, measured.to(estimated))
        return measured

    @property
    def measures_level_map(self) -> bool:
        """Its posterior takes the Gaussian noise std measured tile by tile on what it
        denoises (`default_level: measured-map`): CT noise differs between air, lung and soft
        tissue, so one level per slice leaves it in some regions and smooths others."""
        return self.model_config.default_level == "measured-map"

    def level_map(self, y):
        """(N, 1, H, W) float64: the noise std over each of y's images, from the Haar measure
        pooled over its `_level_views` (noise/measured_level.haar_level_map); one value per
        image where the image is too small for tiles."""
        import torch.nn.functional as F

        from medenoise.noise.measured_level import haar_level, haar_level_map

        maps = []
        for image in y.split(1):
            views = self._level_views(image)
            views = views.reshape(-1, 1, *views.shape[-2:])
            try:
                level = haar_level_map(views)
            except ValueError:  # fewer than two tiles of Haar blocks per view
                level = haar_level(views).nanmean().reshape(1, 1, 1, 1)
            maps.append(F.interpolate(level, size=tuple(y.shape[-2:]), mode="bilinear"))
        return torch.cat(maps)
