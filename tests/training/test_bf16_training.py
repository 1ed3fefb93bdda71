"""bfloat16 autocast training (`train --precision bf16-mixed`, `bench --precision bf16`):
the network runs in bf16, the SSDN likelihood still in float64, so the loss matches float32
closely and every parameter gets a gradient."""

import torch

from medenoise.bench.training import measure_training
from medenoise.config import ModelConfig
from medenoise.methods import build_method


def test_bf16_ssdn_loss_is_close_to_float32_and_all_parameters_learn():
    torch.manual_seed(0)
    module = build_method(ModelConfig(method="ssdn", noise="gaussian:25", width=8)).train()
    clean = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    noisy = clean + 25 / 255 * torch.randn(2, 1, 32, 32, generator=torch.Generator().manual_seed(2))
    batch = {"noisy": noisy, "params": torch.full((2, 1), 25 / 255)}
    ref, _ = module.training_loss(batch)
    with torch.autocast("cpu", torch.bfloat16):
        loss, _ = module.training_loss(batch)
        assert module.net(noisy).dtype == torch.bfloat16  # the network really runs in bf16
    assert loss.dtype == torch.float32
    assert abs(loss.item() - ref.item()) < 0.02 * abs(ref.item()) + 0.05
    loss.backward()
    grads = [p.grad for p in module.parameters() if p.requires_grad]
    assert all(g is not None and g.dtype == torch.float32 for g in grads)
    assert all(torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum().item() > 0 for g in grads) == len(grads)


def test_bench_training_row_records_its_precision():
    row = measure_training(
        "ssdn", patch=32, batch=1, steps=1, width=8, device=torch.device("cpu"), precision="bf16"
    )
    assert row["precision"] == "bf16" and row["steps_s"] > 0
