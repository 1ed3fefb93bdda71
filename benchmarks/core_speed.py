"""Micro-benchmark of the core: SSDN/N2C training steps and 512² inference on this machine.

    .venv/bin/python benchmarks/core_speed.py --method ssdn --patch 128 --batch 4
    .venv/bin/python benchmarks/core_speed.py --infer 512 [--channels-last]

Prints steps/s and MPix/s (training) or seconds per image (inference). The full harness
(`make bench`) comes with the performance work; this is what the numbers in README use.
"""

from __future__ import annotations

import argparse
import time

import torch

from medenoise.config import ModelConfig
from medenoise.methods import build_method


def train_speed(method: str, patch: int, batch: int, width: int, steps: int, cl: bool) -> None:
    module = build_method(ModelConfig(method=method, noise="gaussian:25", width=width))
    opt = torch.optim.Adam(module.parameters(), lr=3e-4)
    x = torch.rand(batch, 1, patch, patch)
    if cl:
        module = module.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    gen = torch.Generator().manual_seed(0)

    def step() -> None:
        y, p = module.noise.sample(x, gen)
        loss, _ = module.training_loss({"clean": x, "noisy": y, "params": p})
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    dt = (time.perf_counter() - t) / steps
    print(
        f"train {method} width={width} batch={batch}x{patch}² channels_last={cl}: "
        f"{1 / dt:.3f} steps/s, {batch * patch * patch / dt / 1e6:.4f} MPix/s "
        f"(threads={torch.get_num_threads()})"
    )


@torch.inference_mode()
def infer_speed(size: int, width: int, cl: bool, repeats: int) -> None:
    module = build_method(ModelConfig(method="ssdn", noise="gaussian:25", width=width)).eval()
    x = torch.rand(1, 1, size, size)
    if cl:
        module = module.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    params = module.noise.fixed_params(1)
    module.denoise(x, params)
    t = time.perf_counter()
    for _ in range(repeats):
        module.denoise(x, params)
    dt = (time.perf_counter() - t) / repeats
    print(
        f"infer ssdn width={width} {size}² gray channels_last={cl}: {dt:.2f} s/image, "
        f"{size * size / dt / 1e6:.4f} MPix/s"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="ssdn")
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--width", type=int, default=48)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--infer", type=int, default=0, help="image side for inference timing")
    ap.add_argument("--channels-last", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    if args.infer:
        infer_speed(args.infer, args.width, args.channels_last, max(1, args.steps // 2))
    else:
        train_speed(args.method, args.patch, args.batch, args.width, args.steps, args.channels_last)


if __name__ == "__main__":
    main()
