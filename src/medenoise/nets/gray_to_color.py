"""Start a C-channel network from a gray (1-channel) one that computes the same thing on a
gray image given in all C channels.

The report's "non-mono" rows are colour networks fed gray images replicated into three
channels; a gray zoo model is the natural warm start for them. Inputs: the first conv and the
image skip of the last decoder block see the image; each gray input weight is split evenly
over the C channels, so replicated gray input gives exactly the gray activations. Outputs:
every per-channel output copies its gray row. For SSDN's full covariance the prior is
Σ = T Tᵀ with T upper-triangular; setting T's last column to the gray prior std s (every
entry) gives s²·11ᵀ, the gray prior of C identical channels. The other entries of T start at
FRESH_T_SCALE of their fresh init: at full scale they add per-channel variance of their own
to Σ, the prior then says the channels differ, and the posterior stops pooling the C noisy
looks of each pixel; at zero their gradient would vanish (Σ is quadratic in T), while
Adam's step does not shrink with a small gradient, so a small start still learns.
"""

from __future__ import annotations

import torch

from medenoise.nets.unet import DEPTH

IMAGE_INPUTS = ("trunk.enc0.0.conv", f"trunk.dec.{DEPTH - 1}.0.conv")  # convs that see the image
OUTPUT = "head.2.conv"  # the last 1×1 conv of both heads (plain and blind-spot)
FRESH_T_SCALE = 0.01  # start of the covariance factor T's entries outside its last column


def head_row_sources(gray_rows: int, channels: int, covariance: str | None) -> list[int | None]:
    """For each output row of the C-channel head: the gray row it copies, or None (fresh)."""
    if gray_rows == 1:  # a plain denoiser (n2c, n2n, n2v) or a level estimator's output
        return [0] * channels if covariance is not None else [0]
    if covariance == "full":  # μ (C rows), then T's upper triangle row by row
        cols = torch.triu_indices(channels, channels)[1].tolist()
        return [0] * channels + [1 if j == channels - 1 else None for j in cols]
    if covariance == "diag":  # μ (C rows), then one std per channel
        return [0] * channels + [1] * channels
    raise ValueError(f"a gray head with {gray_rows} outputs and covariance {covariance!r}")


def _split_inputs(weight: torch.Tensor, channels: int) -> torch.Tensor:
    """A conv weight whose last input column is the gray image → C columns of weight/C."""
    image = weight[:, -1:] / channels
    return torch.cat([weight[:, :-1], image.expand(-1, channels, -1, -1)], dim=1)


def _map_rows(gray: torch.Tensor, fresh: torch.Tensor, sources: list[int | None]) -> torch.Tensor:
    """`fresh` (the C-channel init) with each sourced row replaced by its gray row and each
    unsourced one (a fresh entry of T) scaled by FRESH_T_SCALE."""
    out = fresh.clone()
    for row, src in enumerate(sources):
        if src is not None:
            out[row] = gray[src].to(out.dtype)
        else:
            out[row] = out[row] * FRESH_T_SCALE
    return out


def color_state(
    gray: dict[str, torch.Tensor],
    mine: dict[str, torch.Tensor],
    *,
    channels: int,
    covariance: str,
    prefixes: tuple[str, ...],
) -> dict[str, torch.Tensor]:
    """`gray`'s weights under each of `prefixes` (a U-Net: the denoiser, a level estimator)
    laid out for `channels` input channels; `mine` is the C-channel module's fresh state.
    `covariance` describes the head under the first prefix (the denoiser)."""
    out: dict[str, torch.Tensor] = {}
    for n, prefix in enumerate(prefixes):
        for key, value in gray.items():
            if not key.startswith(prefix):
                continue
            name = key[len(prefix) :]
            if name.rsplit(".", 1)[0] in IMAGE_INPUTS and name.endswith(".weight"):
                value = _split_inputs(value, channels)
            elif name.rsplit(".", 1)[0] == OUTPUT:
                sources = head_row_sources(value.shape[0], channels, covariance if n == 0 else None)
                value = _map_rows(value, mine[key], sources)
            if key not in mine or mine[key].shape != value.shape:
                raise ValueError(f"{key}: gray weight does not fit the {channels}-channel network")
            out[key] = value.to(mine[key].dtype)
    return out
