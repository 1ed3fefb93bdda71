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
