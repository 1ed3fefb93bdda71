"""The paper's ramp-up / ramp-down learning-rate schedule (SPEC §6)."""

import math

import pytest

from medenoise.methods.schedule import lr_factor


def test_ramps_have_the_paper_shape():
    total = 1000
    assert lr_factor(0, total) == 0.0
    assert lr_factor(50, total) == pytest.approx((1 - math.cos(math.pi * 0.5)) / 2)
    assert lr_factor(100, total) == pytest.approx(1.0)
    assert lr_factor(500, total) == 1.0
    assert lr_factor(700, total) == pytest.approx(1.0)
    assert lr_factor(850, total) == pytest.approx(((1 + math.cos(math.pi * 0.5)) / 2) ** 2)
    assert lr_factor(1000, total) == pytest.approx(0.0)
    values = [lr_factor(s, total) for s in range(0, 101)]
    assert values == sorted(values), "ramp-up must be monotone"
    values = [lr_factor(s, total) for s in range(700, 1001)]
    assert values == sorted(values, reverse=True), "ramp-down must be monotone"


def test_no_ramps_means_constant():
    assert {lr_factor(s, 100, 0.0, 0.0) for s in range(101)} == {1.0}
