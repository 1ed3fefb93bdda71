"""What inference asks of any model about the noise level (networks and baselines alike)."""

from __future__ import annotations


class LevelCapabilities:
    """Defaults that fit every model but SSDN, which overrides them: the level is not a
    network input, and no estimator gives one per image."""

    @property
    def takes_known_level(self) -> bool:
        """True when denoising needs the noise level as an input (SSDN with a known level)."""
        return False

    @property
    def learns_global_level(self) -> bool:
        """True when the posterior uses one level learned in training (SSDN global)."""
        return False

    @property
    def estimates_level_per_image(self) -> bool:
        """True when the model estimates the noise level from each image (SSDN per-image)."""
        return False

    @property
    def measures_level_map(self) -> bool:
        """True when the model measures the noise std tile by tile on what it denoises."""
        return False
