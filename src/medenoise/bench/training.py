"""Training throughput at equal patch and batch size: SSDN (blind spot, 4 rotations) vs
Noise2Void vs Noise2Clean on the same plain/blind U-Net backbone and the same patches."""

from __future__ import annotations

import numpy as np
import torch

from medenoise.bench.machine import best_seconds

METHODS = ("ssdn", "n2v", "n2c")


def patch_batches(batch: int, patch: int, count: int, seed: int = 0) -> list[torch.Tensor]:
    """`count` batches of random gray patches from scikit-image's photos (no files needed)."""
    from skimage import data

    photos = [data.camera(), data.moon(), data.coins(), data.grass(), data.brick()]
    photos = [p.astype(np.float32) / 255.0 for p in photos if min(p.shape[:2]) >= patch]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        crops = []
        for _ in range(batch):
            img = photos[rng.integers(len(photos))]
            y = rng.integers(img.shape[0] - patch + 1)
            x = rng.integers(img.shape[1] - patch + 1)
            crops.append(img[y : y + patch, x : x + patch])
        out.append(torch.from_numpy(np.stack(crops)[:, None]))
    return out


def measure_training(
    method: str,
    *,
    patch: int,
    batch: int,
    steps: int,
    width: int,
    device: torch.device,
    precision: str = "32",
) -> dict:
    """Steps/s and MPix/s of full optimiser steps (noise synthesis, loss, backward, Adam).
    `precision` "bf16": the loss under bfloat16 autocast, as `train --precision bf16-mixed`
    runs it (the likelihood casts to float64 itself)."""
    from medenoise.config import ModelConfig
    from medenoise.methods import build_method

    torch.manual_seed(0)
    module = build_method(ModelConfig(method=method, noise="gaussian:25", width=width))
    module = module.to(device).to(memory_format=torch.channels_last).train()
    opt = torch.optim.Adam(module.parameters(), lr=3e-4, betas=(0.9, 0.99))
    batches = [
        b.to(device).contiguous(memory_format=torch.channels_last)
        for b in patch_batches(batch, patch, 4)
    ]
    state = {"i": 0}

    def step() -> None:
        clean = batches[state["i"] % len(batches)]
        state["i"] += 1
        with torch.autocast(device.type, torch.bfloat16, enabled=precision == "bf16"):
            loss, _ = module.training_loss(module.with_noise({"clean": clean}))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def run() -> None:
        for _ in range(steps):
            step()

    step()  # warm-up: first-call allocations and kernel selection are not timed
    seconds = best_seconds(run, repeats=3, warmup=0, device=device)  # least disturbed of 3
    per_step = seconds / max(steps, 1)
    return {
        "method": method,
        "patch": patch,
        "batch": batch,
        "width": width,
        "precision": precision,
        "steps_s": round(1.0 / per_step, 4),
        "mpix_s": batch * patch * patch / per_step / 1e6,
    }


def add_cost_ratios(rows: list[dict], reference: str = "n2c") -> None:
    """`cost_vs_n2c`: seconds per step over N2C's (the blind spot's price, ≈ 4× by design)."""
    base = next((r["steps_s"] for r in rows if r["method"] == reference), None)
    for r in rows:
        r["cost_vs_n2c"] = round(base / r["steps_s"], 2) if base else None
