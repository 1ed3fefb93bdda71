"""The medical sets: training and held-out test share no slice, keep a gap, never train on the
demo's images, and resolve (and train, and evaluate) on a fake data root as on the real one."""

from __future__ import annotations

import copy
import gzip
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from medenoise.data import medical_sets as M
from medenoise.errors import UserError

REAL_ROOT = M.default_root()
REPO = Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(24)
SIDE = 16  # fake planes: 16×16 (SSIM's 11×11 window fits)


def _indices(entry: M.Entry, name: str) -> set[int]:
    return set(entry.take(name))


def test_definitions_split_every_series_by_range_with_a_gap():
    for e in M.ENTRIES:
        train, test = e.train, e.test
        assert train or test, e.key
        for r in (train, test):
            assert all(0 <= k < e.slices for k in r), e.key
        if e.slices == 1:  # a single image goes wholly to one side
            assert {len(train), len(test)} == {0, 1}, e.key
            continue
        assert train.step == 1, e.key  # one contiguous training range
        if train and test:
            assert not set(train) & set(test), e.key
            gap = min(abs(a - b) for a in train for b in test) - 1
            assert gap >= M.MIN_GAP, (e.key, gap)


def test_demo_images_are_never_trained_on():
    trained = {e.path for e in M.ENTRIES if e.train}
    assert not trained & set(M.DEMO_FILES)
    assert any(e.path == "dicom_misc/CT_small.dcm" and e.test for e in M.ENTRIES)


def test_unknown_set_and_missing_root_are_one_line_user_errors(tmp_path):
    with pytest.raises(UserError, match="unknown set 'med-val'.*med-train, med-test"):
        M.items("med-val", tmp_path)
    with pytest.raises(UserError, match="MEDENOISE_DATA_ROOT"):
        M.items("med-test", tmp_path / "absent")
    with pytest.raises(UserError, match="no such file"):
        M.items("med-test", tmp_path)  # a root without the data


# --- a fake data root with the shared data's layout ---------------------------------------


def _template():
    import pydicom
    from pydicom.data import get_testdata_file

    return pydicom.dcmread(get_testdata_file("CT_small.dcm"))


def _write_series(folder: Path, entry: M.Entry, uid: str, template, truth: dict) -> None:
    """`entry.slices` CT slices of one series; file names run against the slice positions,
    so name order is not slice order. `truth[path]` = the slice's index along the normal."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(entry.slices):  # k: position order; the file name counts backwards
        name = f"{entry.key}-{entry.slices - k:03d}.dcm"
        if entry.member is not None and k == 0:
            name = entry.member
        ds = copy.deepcopy(template)
        ds.SeriesInstanceUID = uid
        ds.SOPInstanceUID = f"{uid}.{k + 1}"
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [0.0, 0.0, 5.0 * k]
        ds.Rows = ds.Columns = SIDE
        plane = RNG.integers(100 * k, 100 * k + 400, (SIDE, SIDE))  # slices differ in range
        ds.PixelData = plane.astype("<i2").tobytes()
        ds.save_as(folder / name)
        truth[(folder / name).as_posix()] = k


def _write_single(path: Path, template) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".dcm":
        ds = copy.deepcopy(template)
        ds.SOPInstanceUID = f"1.2.826.0.1.3680043.8.498.9.{abs(hash(path.name)) % 10**8}"
        ds.save_as(path)
    else:
        from PIL import Image

        Image.fromarray(RNG.integers(0, 256, (SIDE, SIDE), dtype=np.uint8)).save(path)


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory):
    """(root, {series slice file: index along the normal}) with every entry of the sets."""
    import nibabel as nib

    root = tmp_path_factory.mktemp("shared") / "data"
    template, truth = _template(), {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n, e in enumerate(M.ENTRIES):
            path = root / e.path
            if e.path.endswith(".nii.gz"):
                path.parent.mkdir(parents=True, exist_ok=True)
                vol = RNG.random((SIDE, SIDE + 2, e.slices)).astype(np.float32) * 300
                nib.save(nib.Nifti1Image(vol, np.eye(4)), path)
            elif e.slices > 1:
                _write_series(path, e, f"1.2.826.0.1.3680043.8.498.{n + 1}", template, truth)
            else:
                _write_single(path, template)
        (root / "brain_mri" / "s1045.ima.gz").write_bytes(gzip.compress(bytes(2 * 256 * 256)))
    return root, truth


def test_sets_resolve_on_a_fake_root_in_slice_order_without_overlap(fake_root):
    root, truth = fake_root
    train, test = M.items(M.TRAIN, root), M.items(M.TEST, root)
    assert len(train) == sum(len(e.train) for e in M.ENTRIES)
    assert len(test) == sum(len(e.test) for e in M.ENTRIES)
    ids_train, ids_test = {i.identity for i in train}, {i.identity for i in test}
    assert len(ids_train) == len(train) and len(ids_test) == len(test)
    assert not ids_train & ids_test  # by file identity
    entries = {e.key: e for e in M.ENTRIES}
    for item in train + test:
        if len(item.unit) > 1:  # a series: the unit runs along the normal, not by file name
            assert [truth[p.as_posix()] for p in item.unit] == list(range(len(item.unit)))
            side = M.TRAIN if item.identity in ids_train else M.TEST
            assert item.index in _indices(entries[item.entry], side)
    per_series: dict[str, tuple[set, set]] = {}
    for side, found in ((0, train), (1, test)):
        for item in found:
            per_series.setdefault(item.entry, (set(), set()))[side].add(item.index)
    for key, (a, b) in per_series.items():  # by slice index within each series
        assert not a & b, key
        if a and b:
            assert min(abs(x - y) for x in a for y in b) > M.MIN_GAP, key
    demo = {str(root / f) for f in M.DEMO_FILES}
    assert not demo & {str(p) for i in train for p in i.unit}


def test_the_ct_sets_are_the_ct_series_part_of_the_medical_sets(fake_root):
    root, _ = fake_root
    ct_train, ct_test = M.items(M.CT_TRAIN, root), M.items(M.CT_TEST, root)
    assert {i.entry for i in ct_train} == {i.entry for i in ct_test} == set(M.CT_SERIES)
    # the same slices the medical sets take from those series, so no CT test slice is trained
    for ct, whole in ((ct_train, M.TRAIN), (ct_test, M.TEST)):
        same = [i for i in M.items(whole, root) if i.entry in M.CT_SERIES]
        assert [i.identity for i in ct] == [i.identity for i in same]
    assert not {i.identity for i in ct_train} & {i.identity for i in M.items(M.TEST, root)}
    assert len(ct_train) == sum(len(e.train) for e in M.ENTRIES if e.key in M.CT_SERIES)


def test_the_xray_sets_are_the_radiographs_of_the_medical_sets(fake_root):
    root, _ = fake_root
    train, test = M.items(M.XRAY_TRAIN, root), M.items(M.XRAY_TEST, root)
    assert train and test and all(i.entry.startswith("xray-") for i in train + test)
    for part, whole in ((train, M.TRAIN), (test, M.TEST)):
        same = [i for i in M.items(whole, root) if i.entry.startswith("xray-")]
        assert [i.identity for i in part] == [i.identity for i in same]
    assert not {i.identity for i in train} & {i.identity for i in test}
    assert len(train) == sum(len(e.train) for e in M.ENTRIES if e.key.startswith("xray-"))


def test_a_series_is_read_on_its_own_range_as_denoise_reads_it(fake_root):
    from medenoise.data.io import read
    from medenoise.data.io.series import read_unit

    root, _ = fake_root
    loaded = dict(M.load(M.TEST, root=root))
    item = next(i for i in M.items(M.TEST, root) if i.entry == "ct-lung")
    whole = read_unit(list(item.unit)).array
    np.testing.assert_array_equal(loaded[item.label], whole[item.index])
    alone = read(item.unit[item.index]).array  # the slice alone: its own, narrower range
    assert not np.allclose(alone, loaded[item.label])
    assert all(p.dtype == np.float32 and p.ndim == 3 for p in loaded.values())


def test_other_data_under_the_root_are_refused(fake_root, tmp_path):
    import shutil

    root, _ = fake_root
    other = tmp_path / "data"
    shutil.copytree(root, other)
    first = sorted((other / "mr_cardiac").iterdir())[0]
    first.unlink()
    with pytest.raises(UserError, match="mr-cardiac: expected 44 slice"):
        M.items(M.TRAIN, other)


def test_training_reads_a_named_set(fake_root, monkeypatch):
    from medenoise.config import TrainConfig
    from medenoise.data.patches import list_images, load_planes

    root, _ = fake_root
    monkeypatch.setenv(M.ROOT_ENV, str(root))
    files = list_images(["set:med-train"])
    planes = load_planes(files, 1)
    assert len(planes) == len(M.items(M.TRAIN))
    assert all(p.shape[-1] == 1 for p in planes)  # RGB radiographs become mono
    recipe = REPO / "configs" / "zoo" / "ssdn-med-gray.yaml"
    cfg = TrainConfig.from_yaml(recipe, recipe=True)
    assert cfg.dataset.data == ["set:med-train"]  # not resolved as a path beside the recipe
    photo = TrainConfig.from_yaml(recipe.parent / "ssdn-gauss5-50-gray.yaml", recipe=True)
    shape = ("method", "noise", "noise_param", "covariance", "channels", "width", "depth")
    assert [getattr(cfg.model, k) for k in shape] == [getattr(photo.model, k) for k in shape]
    assert cfg.init == "ssdn-gauss5-50-gray"


def test_evaluate_scores_a_named_set_and_lists_its_images(cli, fake_root):
    root, _ = fake_root
    args = ("evaluate", "--set", "med-test", "--data-root", root, "--noise", "gaussian:25")
    res = cli(*args, "--model", "identity", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    labels = [i.label for i in M.items(M.TEST, root)]
    assert out["set"]["images"] == labels
    assert [row["name"] for row in out["images"]] == labels
    table = cli(*args, "--model", "identity")
    assert table.stdout.startswith(f"set med-test ({len(labels)} images")
    bad = cli(*args, "--clean", root, "--model", "identity")
    assert bad.exit_code == 2 and "--set takes no --clean" in bad.output


def test_coarser_matrix_samples_are_block_means_of_the_native_ones(fake_root):
    from medenoise.data.patches import block_mean
    from medenoise.eval.medical_sets import set_samples

    root, _ = fake_root
    native = list(set_samples("med-test", "gaussian:25", 1, root=root))
    coarse = list(set_samples("med-test", "gaussian:25", 1, root=root, matrix=2))
    assert [s.name for s in coarse] == [s.name for s in native]
    for a, b in zip(native, coarse, strict=True):
        assert b.clean.shape == (a.clean.shape[0] // 2, a.clean.shape[1] // 2, 1)
        assert np.allclose(b.clean, block_mean(a.clean, 2))
        assert b.noisy.shape == b.clean.shape  # the noise is drawn on the coarse plane


@pytest.mark.skipif(not REAL_ROOT.is_dir(), reason="the shared medical data are absent")
def test_real_sets_share_no_slice_and_never_hold_the_demo_images():
    import pydicom

    train, test = M.items(M.TRAIN, REAL_ROOT), M.items(M.TEST, REAL_ROOT)
    assert len(train) == 301 and len(test) == 54
    assert not {i.identity for i in train} & {i.identity for i in test}

    def uid(path: Path) -> str:
        return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)

    trained = {i.unit[i.index] if len(i.unit) > 1 else i.unit[0] for i in train}
    tested = {i.unit[i.index] if len(i.unit) > 1 else i.unit[0] for i in test}
    uids_train = {uid(p) for p in trained if p.suffix == ".dcm"}
    assert not uids_train & {uid(p) for p in tested if p.suffix == ".dcm"}  # no copied slice
    assert uid(REAL_ROOT / "dicom_misc" / "CT_small.dcm") not in uids_train
    s1045 = REAL_ROOT / "brain_mri" / "s1045.ima.gz"
    assert s1045 not in trained and s1045 not in tested  # scored by the demo alone
