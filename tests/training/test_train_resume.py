"""Interrupted + resumed training ends exactly where an uninterrupted run ends (CPU)."""

import csv

import numpy as np
import pytest
from PIL import Image as PILImage
from safetensors.torch import load_file
from skimage import data

from callbacks import StopAt
from medenoise.config import ModelConfig, TrainConfig
from medenoise.errors import UserError
from medenoise.train import run_training


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    PILImage.fromarray(data.camera()[:128, :128]).save(root / "a.png")
    PILImage.fromarray(data.camera()[300:400, 200:330]).save(root / "b.png")
    return root


def config(images, **kw):
    model = ModelConfig(method="ssdn", noise="gaussian:5-50", noise_param="global", width=8)
    options = dict(steps=12, batch_size=2, patch=32, checkpoint_every=4, seed=3) | kw
    return TrainConfig(data=[str(images)], model=model, **options)


def test_resumed_run_matches_uninterrupted_run(tmp_path, images):
    straight = run_training(config(images), tmp_path / "a", progress=False)
    run_training(config(images), tmp_path / "b", progress=False, callbacks=[StopAt(8)])
    resumed = run_training(config(images), tmp_path / "b", resume=True, progress=False)
    wa, wb = load_file(str(straight)), load_file(str(resumed))
    assert wa.keys() == wb.keys()
    for key in wa:
        assert np.array_equal(wa[key].numpy(), wb[key].numpy()), key
    with (tmp_path / "b" / "metrics.csv").open() as f:
        steps = {int(row["step"]) for row in csv.DictReader(f) if row.get("train/loss")}
    assert min(steps) < 8 <= max(steps), "the log must keep both segments"


def test_a_finished_run_is_not_silently_overwritten(tmp_path, images):
    run_training(config(images, steps=4), tmp_path / "r", progress=False)
    with pytest.raises(UserError, match="--resume"):
        run_training(config(images, steps=4), tmp_path / "r", progress=False)
    other = config(images, steps=4)
    other.model.width = 12
    with pytest.raises(UserError, match="different"):
        run_training(other, tmp_path / "r", resume=True, progress=False)
