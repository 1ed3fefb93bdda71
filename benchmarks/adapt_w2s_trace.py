"""Held-out measures against the true error while `ssdn-pg-fmd` adapts to W2S (BENCHMARKS.md,
"Adaptation on real widefield data").

    python benchmarks/adapt_w2s_trace.py WORK [STEPS [CROP]]    # WORK from adapt_w2s.py link

Runs the `--adapt 300` recipe (4×64² patches, lr 1e-4, flat then down to 0 over the second
half) in a plain PyTorch loop for STEPS steps (default 40) on the training pieces
`--adapt` uses, and prints, for the unadapted model, the model set to the median measured
level, and the end: the held-out NLL, SURE with one level for all planes, SURE with each
plane's level, and PSNR / SSIM of CROP² centre crops (default 128) against avg400.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import tifffile
import torch

from medenoise.adaptation_guard import split_heldout, tile_losses
from medenoise.adaptation_level import common_level, plane_levels, start_at_level
from medenoise.adaptation_sure import sure_measure
from medenoise.data.patches import PatchDataset
from medenoise.eval import metrics
from medenoise.inference.resolve import resolve_model
from medenoise.methods.schedule import lr_factor
from medenoise.modelfile import load_network


def _read(path: Path) -> np.ndarray:
    return tifffile.imread(path).astype(np.float32)[..., None] / 255


def main(work: Path, steps: int = 40, crop: int = 128) -> None:
    files = sorted((work / "noisy").glob("*.tif"))
    noisy = [_read(f) for f in files]
    clean = [_read(work / "clean" / f.name) for f in files]
    torch.manual_seed(0)
    m = load_network(resolve_model("ssdn-pg-fmd", False))
    train, tiles, owners, _ = split_heldout(noisy, 64)
    levels = plane_levels("pg", noisy)
    level = common_level(levels)
    own = sure_measure(m, [levels[k] for k in owners])
    one = sure_measure(m, [level] * len(tiles))

    def report(at: str) -> None:
        m.eval()
        ps, ss = [], []
        with torch.no_grad():
            for n, c in zip(noisy, clean, strict=True):
                o = (n.shape[0] - crop) // 2, (n.shape[1] - crop) // 2
                y = n[o[0] : o[0] + crop, o[1] : o[1] + crop]
                d = m.denoise(torch.from_numpy(y.transpose(2, 0, 1)[None])).numpy()[0]
                ref = c[o[0] : o[0] + crop, o[1] : o[1] + crop]
                ps.append(metrics.psnr(d.transpose(1, 2, 0), ref))
                ss.append(metrics.ssim(d.transpose(1, 2, 0), ref))
        m.train()
        row = dict(at=at, nll=tile_losses(m, tiles).mean(), sure_one_level=one(m, tiles).mean(),
                   sure_own_level=own(m, tiles).mean(), psnr=np.mean(ps), ssim=np.mean(ss),
                   psnr_per_image=[round(p, 2) for p in ps])  # fmt: skip
        print(json.dumps({k: float(v) if k != "psnr_per_image" and k != "at" else v
                          for k, v in row.items()}), flush=True)  # fmt: skip

    report("unadapted")
    start_at_level(m, level)
    report(f"level set to a={level[0]:.4f}, b={level[1]:.5f}")
    total = 300  # the schedule of --adapt 300, stopped after `steps`
    opt = torch.optim.Adam(m.parameters(), lr=1e-4, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total, 0.0, 0.5))
    data = PatchDataset(train, 64, total * 4, seed=0, key="noisy")
    m.train()
    for step in range(steps):
        batch = torch.stack([data[step * 4 + k]["noisy"] for k in range(4)])
        loss, _ = m.training_loss({"noisy": batch})
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    report(f"step {steps}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), *map(int, sys.argv[2:4]))
