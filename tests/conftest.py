"""Shared fixtures."""

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """One CPU thread for a test module: tiny nets run faster on one thread than on two
    contended ones, and a module whose child processes also use one thread computes the
    same arithmetic in both (so runs compare bit for bit)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture()
def model_file(tmp_path):
    """A tiny SSDN model file (width 8, Gaussian σ=25 known, seed-0 weights)."""
    from medenoise.config import ModelConfig
    from medenoise.methods import build_method
    from medenoise.modelfile import save_model

    torch.manual_seed(0)
    module = build_method(ModelConfig(method="ssdn", noise="gaussian:25", width=8))
    return save_model(module, tmp_path / "m.safetensors")
