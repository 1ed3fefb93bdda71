"""Shared fixtures."""

import os

import pytest
import torch

from tiny_models import make_tiny_model


def pytest_configure(config):
    """Under pytest-xdist, split the cores between the workers: two workers each running
    torch on every core oversubscribe the CPU, and OpenMP's spin-waits then made a tiny
    net's training ~10x slower (tests/methods/test_n2n_n2v.py's three runs: 31 s alone,
    347 s inside `make test` on 2 cores). Child processes (CLI, DDP) inherit the cap."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        per_worker = max(1, (os.cpu_count() or 1) // workers)
        torch.set_num_threads(per_worker)
        os.environ.setdefault("OMP_NUM_THREADS", str(per_worker))


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """ONNX exports and other cached files go to a test folder, never the user's cache."""
    if "MEDENOISE_CACHE" not in os.environ:
        monkeypatch.setenv("MEDENOISE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


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
def gray_png(tmp_path):
    """A noisy 40×50 8-bit gray PNG in tmp_path/in/: the CLI tests' input."""
    import numpy as np
    from PIL import Image

    path = tmp_path / "in" / "img.png"
    path.parent.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 50), dtype=np.uint8)).save(path)
    return path


@pytest.fixture()
def model_file(tiny_model_file):
    """A tiny SSDN model file (width 8, Gaussian σ=25 known, seed-0 weights)."""
    return tiny_model_file("ssdn", name="m.safetensors")


@pytest.fixture()
def tiny_model():
    """Factory `tiny_model(method, **config)` → a tiny module (see `make_tiny_model`)."""
    return make_tiny_model


@pytest.fixture()
def tiny_model_file(tmp_path):
    """Factory `tiny_model_file(method, name=None, **config)` → a saved tiny model file."""
    from medenoise.modelfile import save_model

    def save(method: str = "ssdn", name: str | None = None, **config):
        path = tmp_path / (name or f"{method}.safetensors")
        return save_model(make_tiny_model(method, **config), path)

    return save


@pytest.fixture(scope="session")
def cli():
    """`cli(*args)` runs `medenoise ARGS` in-process (arguments str()-ed); stderr apart."""
    from typer.testing import CliRunner

    from medenoise.cli import app

    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])
