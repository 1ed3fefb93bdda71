"""Networks: the N2N U-Net backbone, its blind-spot variant and the noise-level estimator."""

from medenoise.nets.blindspot import BlindSpotUNet
from medenoise.nets.estimator import NoiseLevelEstimator
from medenoise.nets.unet import MULTIPLE, UNet

__all__ = ["BlindSpotUNet", "NoiseLevelEstimator", "UNet", "MULTIPLE"]
