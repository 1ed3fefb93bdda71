"""Where the time of one SSDN training step goes on this machine (BENCHMARKS.md, profiling).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/profile_ssdn_step.py [--batch 4 --patch 64]

Times each stage of a real step separately, synchronising between stages: drawing the
patches (the training data pipeline), synthetic noise, the four rotations, the shared
trunk on the 4N batch, un-rotating and the 1×1 merge head, the float64 likelihood, the
backward pass and Adam. Prints median milliseconds and shares over --steps steps.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from pathlib import Path

import torch

from medenoise.config import ModelConfig
from medenoise.data.patches import PatchDataset, load_planes
from medenoise.methods import build_method
from medenoise.nets.blindspot import merge_rotations, stack_rotations
from medenoise.nets.layers import shift_down
from medenoise.noise.likelihood import negative_log_likelihood, paper_loss, prior_from_head

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "bsd400_train"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--width", type=int, default=48)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--contiguous", action="store_true", help="NCHW instead of channels_last")
    args = ap.parse_args()
    torch.manual_seed(0)
    module = build_method(ModelConfig(method="ssdn", noise="gaussian:25", width=args.width))
    fmt = torch.contiguous_format if args.contiguous else torch.channels_last
    module = module.to(memory_format=fmt).train()
    net = module.net
    opt = torch.optim.Adam(module.parameters(), lr=3e-4)
    files = sorted(args.data.glob("*.png"))
    planes = load_planes(files, 1)
    ds = PatchDataset(planes, args.patch, (args.steps + 1) * args.batch, key="clean", seed=0)
    times: dict[str, list[float]] = defaultdict(list)
    gen = torch.Generator().manual_seed(0)

    def lap(name: str, t0: float) -> float:
        t = time.perf_counter()
        times[name].append(t - t0)
        return t

    for step in range(args.steps + 1):
        t = time.perf_counter()
        clean = torch.stack([ds[step * args.batch + i]["clean"] for i in range(args.batch)])
        clean = clean.contiguous(memory_format=fmt)
        t = lap("data: patch sampling", t)
        y, params = module.noise.sample(clean, gen)
        t = lap("synthetic noise", t)
        x4 = stack_rotations(y)
        t = lap("rotate ×4 (stack)", t)
        h = net.trunk(x4)
        t = lap("trunk forward (4N batch)", t)
        out = net.head(merge_rotations(shift_down(h, 1)))
        t = lap("un-rotate + merge head", t)
        prior = prior_from_head(out, 1, "full")
        var_n = module.noise.variance(prior.mu, module.noise_param(y, params))
        loss = paper_loss(negative_log_likelihood(y, prior, var_n), 1).mean().float()
        t = lap("likelihood (float64)", t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t = lap("backward", t)
        opt.step()
        lap("Adam step", t)
    total = 0.0
    rows = []
    for name, vals in times.items():
        med = statistics.median(vals[1:])  # step 0 is warm-up
        rows.append((name, med))
        total += med
    print(
        f"SSDN step, batch {args.batch}×{args.patch}², width {args.width}, "
        f"{torch.get_num_threads()} thread(s): {total * 1000:.0f} ms"
    )
    for name, med in rows:
        print(f"  {name:28s} {med * 1000:8.1f} ms  {100 * med / total:5.1f} %")


if __name__ == "__main__":
    main()
