"""Widen a trained U-Net to more channels without changing what it computes.

Net2Net-style zero extension: every old channel keeps its weights and gets zero weights
from the new channels, so old activations (and the output) are exactly the narrow net's;
new channels start from the wide net's own He init. Training then starts at the narrow
net's quality and learns the added capacity on top, instead of repeating hours of training
from scratch (a width 32 → 48 step for `train --init`).
"""

from __future__ import annotations

import torch

from medenoise.nets.unet import DEPTH

Segments = list[tuple[int, int]]  # (old size, new size) per concatenated block of channels


def _old_positions(segments: Segments) -> torch.Tensor:
    """Where each old channel sits in the widened layout (blocks keep their order)."""
    parts, offset = [], 0
    for old, new in segments:
        parts.append(torch.arange(old) + offset)
        offset += new
    return torch.cat(parts)


def _layer_segments(
    channels: int, w0: int, w1: int, blind: bool, head_out: int
) -> dict[str, tuple[Segments, Segments]]:
    """Input and output channel blocks of every conv, keyed by its `*.conv` prefix; mirrors
    UNetTrunk (skips cat'ed after the upsampled map) and the plain / blind-spot heads."""
    w, d, c = (w0, w1), (2 * w0, 2 * w1), (channels, channels)
    layers: dict[str, tuple[Segments, Segments]] = {
        "trunk.enc0.0": ([c], [w]),
        "trunk.enc0.1": ([w], [w]),
        "trunk.bottom": ([w], [w]),
    }
    for i in range(DEPTH - 1):
        layers[f"trunk.enc.{i}"] = ([w], [w])
    for j in range(DEPTH):
        up = w if j == 0 else d
        skip = c if j == DEPTH - 1 else w
        layers[f"trunk.dec.{j}.0"] = ([up, skip], [d])
        layers[f"trunk.dec.{j}.1"] = ([d], [d])
    k = (head_out, head_out)
    if blind:  # merge head 4d → 4d → d → K over the four un-rotated branches
        q = (4 * d[0], 4 * d[1])
        layers |= {"head.0": ([d] * 4, [q]), "head.1": ([q], [d]), "head.2": ([d], [k])}
    else:  # 1×1 head d → d → d → K
        layers |= {"head.0": ([d], [d]), "head.1": ([d], [d]), "head.2": ([d], [k])}
    return layers


def widen_state(
    narrow: dict[str, torch.Tensor],
    wide: dict[str, torch.Tensor],
    *,
    channels: int,
    old_width: int,
    new_width: int,
    blind: bool,
    out_channels: int,
    prefix: str = "net.",
) -> dict[str, torch.Tensor]:
    """The wide network's state (`wide`: its fresh init, keys under `prefix`) with the narrow
    network's weights embedded so both compute the same function."""
    if new_width < old_width:
        raise ValueError(f"cannot narrow a network (width {old_width} → {new_width})")
    out: dict[str, torch.Tensor] = {}
    layers = _layer_segments(channels, old_width, new_width, blind, out_channels)
    for name, (ins, outs) in layers.items():
        key = f"{prefix}{name}.conv"
        w_old, b_old = narrow[f"{key}.weight"], narrow[f"{key}.bias"]
        weight, bias = wide[f"{key}.weight"].clone(), wide[f"{key}.bias"].clone()
        rows, cols = _old_positions(outs), _old_positions(ins)
        if w_old.shape[:2] != (len(rows), len(cols)):
            raise ValueError(f"{key}: narrow weight {tuple(w_old.shape)} does not fit the layout")
        weight[rows] = 0  # old channels ignore the new ones ...
        weight[rows[:, None], cols[None, :]] = w_old.to(weight.dtype)  # ... and keep their own
        bias[rows] = b_old.to(bias.dtype)
        out[f"{key}.weight"], out[f"{key}.bias"] = weight, bias
    unused = {k for k in narrow if k.startswith(prefix)} - set(out)
    if unused:
        raise ValueError(f"narrow network has weights this layout does not place: {min(unused)}")
    return out
