"""Real Noise2Noise pairs: paired folders and the FMD layout crop both members identically."""

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from medenoise.config import ModelConfig, TrainConfig, validated
from medenoise.data.datamodule import FolderDataModule
from medenoise.data.pairs import PairPatchDataset, fmd_groups, load_groups, paired_files
from medenoise.errors import UserError
from medenoise.methods import build_method
from medenoise.train import run_training

SIDE, STRIDE = 40, 2000  # FMD frames: value = STRIDE * frame id + position code (< SIDE²)


def save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(array).save(path)


@pytest.fixture
def paired(tmp_path):
    """Folders a/ (values < 0.5) and b/ = 255 − a with the same relative names: a + b = 1."""
    rng = np.random.default_rng(0)
    for name, shape in (("x.png", (50, 70)), ("sub/y.png", (64, 45))):
        img = rng.integers(0, 128, shape, dtype=np.uint8)
        save(tmp_path / "a" / name, img)
        save(tmp_path / "b" / name, 255 - img)
    return tmp_path


def fake_fmd(root, fovs=(1, 19), frames=5):
    """A tiny FMD configuration: raw/<fov>/<frame>.png (uint16 codes) and a gt/ to ignore."""
    pos = (np.arange(SIDE)[:, None] * SIDE + np.arange(SIDE)[None, :]).astype(np.uint16)
    for f, fov in enumerate(fovs):
        for k in range(frames):
            frame_id = 10 * f + k + 1
            save(root / "raw" / str(fov) / f"HV110_P05005100{k:02d}.png", pos + STRIDE * frame_id)
        save(root / "gt" / str(fov) / "avg50.png", pos)  # frame id 0: must never appear
    return root


def test_paired_folders_give_the_same_crop_of_both_members(paired):
    files = paired_files([paired / "a"], [paired / "b"])
    assert [(f.name, g.name) for f, g in files] == [("y.png", "y.png"), ("x.png", "x.png")]
    ds = PairPatchDataset(load_groups(files, 1), patch=32, length=64, seed=5)
    orders = set()
    for i in range(len(ds)):
        item = ds[i]
        a, b = item["noisy"], item["target"]
        assert a.shape == b.shape == (1, 32, 32)
        assert torch.allclose(a + b, torch.ones_like(a), atol=1e-6), i  # same crop, same image
        orders.add(bool(a.max() < 0.5))  # True: the input comes from a/
    assert orders == {True, False}, "either member may be the input"
    again = PairPatchDataset(load_groups(files, 1), patch=32, length=64, seed=5, offset=10)
    assert torch.equal(again[0]["noisy"], ds[10]["noisy"]), "sample i is a function of (seed, i)"


def test_mismatched_pair_names_are_a_user_error(paired):
    save(paired / "a" / "extra.png", np.zeros((40, 40), np.uint8))
    with pytest.raises(UserError, match="no partner extra.png"):
        paired_files([paired / "a"], [paired / "b"])
    save(paired / "b" / "other.png", np.zeros((40, 40), np.uint8))
    (paired / "a" / "extra.png").unlink()
    with pytest.raises(UserError, match="no partner other.png"):
        paired_files([paired / "a"], [paired / "b"])
    with pytest.raises(UserError, match="partner for each"):
        paired_files([paired / "a"], [paired / "b", paired / "a"])


def test_partners_of_different_shapes_are_a_user_error(tmp_path):
    save(tmp_path / "a" / "x.png", np.zeros((40, 40), np.uint8))
    save(tmp_path / "b" / "x.png", np.zeros((40, 41), np.uint8))
    with pytest.raises(UserError, match="differs from its partner"):
        load_groups(paired_files([tmp_path / "a"], [tmp_path / "b"]), 1)


def decode(t):
    """(frame id, position codes) of a crop of a fake FMD frame."""
    v = np.rint(t.numpy()[0].astype(np.float64) * 65535).astype(np.int64)
    ids = np.unique(v // STRIDE)
    assert ids.size == 1
    return int(ids[0]), v % STRIDE


def test_fmd_pairs_are_two_distinct_raw_frames_of_one_fov(tmp_path):
    root = fake_fmd(tmp_path / "Confocal_BPAE_B")
    groups = fmd_groups([root])
    assert [len(g) for g in groups] == [5, 5] and all("raw" in f.parts for g in groups for f in g)
    assert fmd_groups([tmp_path]) == groups, "a parent of configuration folders works too"
    assert fmd_groups([root / "raw" / "1"]) == groups[:1], "one field of view (training FOV)"
    # the fake frames encode ids in 16-bit values: decode them on the full uint16 range
    ds = PairPatchDataset(load_groups(groups, 1, (0, 65535)), patch=32, length=200, seed=1)
    seen = set()
    for i in range(len(ds)):
        item = ds[i]
        (fa, pa), (fb, pb) = decode(item["noisy"]), decode(item["target"])
        assert fa != fb, "a frame is never paired with itself"
        assert fa // 10 == fb // 10, "both frames come from the same field of view"
        assert min(fa, fb) >= 1, "ground-truth averages are not training frames"
        assert np.array_equal(pa, pb), "same crop in both frames"
        seen.add((fa, fb))
    assert len(seen) > 20  # many different pairs are drawn


def test_fmd_without_raw_frames_is_a_user_error(tmp_path):
    save(tmp_path / "cfg" / "gt" / "1" / "avg50.png", np.zeros((40, 40), np.uint8))
    with pytest.raises(UserError, match="raw"):
        fmd_groups([tmp_path / "cfg"])


def config(data, **kw):
    model = ModelConfig(method="n2n", noise="gaussian:25", width=8)
    options = dict(steps=3, batch_size=2, patch=32, checkpoint_every=3, seed=0) | kw
    return TrainConfig(data=[str(d) for d in data], model=model, **options)


def test_paired_data_must_be_declared_noisy_and_n2n_on_noisy_data_needs_pairs(paired):
    with pytest.raises(ValueError, match="noisy"):
        config([paired / "a"], pairs=[str(paired / "b")])
    with pytest.raises(ValueError, match="not both"):
        config([paired / "a"], layout="fmd", pairs=[str(paired / "b")], data_kind="noisy")
    with pytest.raises(ValueError, match="needs pairs"):
        config([paired / "a"], data_kind="noisy")
    cfg = config([paired / "a"], data_kind="noisy", pairs=[str(paired / "b")])
    assert cfg.dataset.paired
    build_method(cfg.model, cfg)  # fine with pairs
    for bad, message in (
        (dict(pairs=[str(paired / "b")]), "paired images are real noisy data"),
        (dict(data_kind="noisy"), "needs pairs"),
    ):
        with pytest.raises(UserError, match=message):
            validated(TrainConfig, config_dict([paired / "a"], **bad), "options")


def config_dict(data, **kw):
    """The fields of `config` as raw (flat) input, for the one-line user error."""
    model = dict(method="n2n", noise="gaussian:25", width=8)
    options = dict(steps=3, batch_size=2, patch=32, checkpoint_every=3, seed=0) | kw
    return dict(data=[str(d) for d in data], model=model, **options)


@pytest.mark.parametrize("method", ["n2n", "n2v"])
def test_training_on_fmd_folders_runs_through_run_training(tmp_path, method):
    root = fake_fmd(tmp_path / "fmd" / "Confocal_BPAE_B")
    cfg = config([root], layout="fmd", data_kind="noisy")
    cfg.model.method = method
    dm = FolderDataModule(cfg)
    assert [len(g) for g in dm.train_groups] == [5, 5] and not dm.train_planes
    path = run_training(cfg, tmp_path / "run", progress=False)
    assert path.is_file()
    log = (tmp_path / "run" / "metrics.csv").read_text()
    assert "train/loss" in log and "nan" not in log
