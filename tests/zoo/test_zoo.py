"""The model zoo: every shipped entry loads offline, matches its row, denoises
deterministically and clearly improves a real crop; the registry machinery itself."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from medenoise import zoo
from medenoise.errors import UserError
from medenoise.modelfile import save_model
from medenoise.zoo.shipping import add_model
from tiny_models import make_tiny_model

SHIPPED = zoo.registry()


def _camera_crop(size: int = 128) -> np.ndarray:
    from skimage import data

    cam = data.camera().astype(np.float32) / 255.0
    return np.ascontiguousarray(cam[200 : 200 + size, 200 : 200 + size])


# models trained on the medical sets: smoke-tested on a CT slice, not a photograph
MEDICAL_PREFIXES = ("ssdn-med-", "ssdn-xray-", "ssdn-ct")


def _clean_crop(row) -> np.ndarray:
    """A medical model's smoke image is the demo's CT_small (128², ships inside pydicom,
    scaled by its maximum); a photo model's, a photo crop."""
    from medenoise.demo import demo_images

    return demo_images()["CT_small"] if row.name.startswith(MEDICAL_PREFIXES) else _camera_crop()


@pytest.mark.parametrize("row", SHIPPED, ids=lambda r: r.name)
def test_shipped_model_loads_matches_its_row_and_denoises(row, one_thread):
    from medenoise.api import load_model

    den = load_model(row.name)
    cfg = den.config
    assert (cfg.method, cfg.noise, cfg.noise_param, cfg.channels, cfg.width) == (
        row.method,
        row.noise,
        row.noise_param,
        row.channels,
        row.width,
    )
    assert (cfg.pd_stride, cfg.blind_square) == (row.pd_stride, row.blind_square)
    assert cfg.teacher == row.teacher  # a student's file names its teacher, as its row does
    assert cfg.default_level == row.default_level  # where it runs when no level is given
    source = load_model(row.teacher) if row.method == "student" else den
    rng = np.random.default_rng(0)
    if row.noise.startswith("pg"):  # microscopy: scikit-image's `cell` at FMD-like brightness,
        # noised with the model's own learned (a, b) (measured gain 11.2 dB, ssdn-pg-fmd), or,
        # for a level estimated per image, a W2S-like gain a = 0.03 (14.0 dB, ssdn-pg-widefield)
        from skimage import data

        clean = data.cell()[100:228, 100:228].astype(np.float32) / 255 * 0.3
        a, b = 0.03, 0.0
        if row.noise_param == "global":
            with torch.no_grad():
                a, b = source.module.noise_param(torch.zeros(1, 1, 32, 32))[0].tolist()
        sd = np.sqrt(np.maximum(a * clean + b, 0))
        noisy = (clean + sd * rng.standard_normal(clean.shape)).astype(np.float32)
        spec, floor = None, 5.0
    elif row.noise.startswith("gaussian"):  # the camera crop (CT_small) at σ=25
        clean = _clean_crop(row)
        noisy = np.clip(clean + rng.normal(0, 25 / 255, clean.shape), 0, 1).astype(np.float32)
        spec, floor = "gaussian:25", 5.0
    elif row.noise.startswith("poisson"):  # the camera crop (CT_small) at λ = 30 photons
        clean = _clean_crop(row)
        noisy = (rng.poisson(clean * 30.0) / 30.0).astype(np.float32)
        spec, floor = "poisson:30", 5.0
    else:
        pytest.fail(f"no quality smoke test for {row.noise} models yet: add one here")
    if row.channels == 3:
        clean, noisy = (np.repeat(v[..., None], 3, axis=-1) for v in (clean, noisy))
    if row.noise_param != "known":  # the model finds the level itself
        spec = None
    out, again = den.denoise(noisy, spec), den.denoise(noisy, spec)
    assert np.array_equal(out, again)
    gain = 10 * np.log10(np.mean((noisy - clean) ** 2) / np.mean((out - clean) ** 2))
    assert gain > floor  # conservative floor: a broken weight file gives < 1 dB
    if row.method == "student":  # it holds its teacher's quality (it may do better)
        taught = source.denoise(noisy, spec)
        teacher_gain = 10 * np.log10(np.mean((noisy - clean) ** 2) / np.mean((taught - clean) ** 2))
        assert gain > teacher_gain - 0.5


def _tiny_root(tmp_path):
    root = tmp_path / "zoo"
    root.mkdir()
    (root / "models.json").write_text("[]")
    module = make_tiny_model("ssdn")
    with torch.no_grad():  # unlike a fresh seed-0 net, so a fine-tune start is recognisable
        for p in module.parameters():
            p.add_(0.25)
    run_model = save_model(module, tmp_path / "run" / "model.safetensors")
    row = dict(
        name="tiny-ssdn",
        training_data="none",
        recipe="configs/zoo/x.yaml",
        steps=1,
        hardware="test",
        wall_time="0 s",
        measured={"BSD68 σ=25 PSNR": 1.0},
    )
    return root, run_model, row


def test_add_model_ships_fp16_weights_and_a_verified_row(tmp_path):
    from safetensors import safe_open

    root, run_model, row = _tiny_root(tmp_path)
    e = add_model(run_model, row, root)
    assert (e.method, e.noise, e.width) == ("ssdn", "gaussian:25", 8)
    path = zoo.resolve("tiny-ssdn", root)
    with safe_open(str(path), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}  # noqa: SIM118
    assert path.stat().st_size < 0.6 * run_model.stat().st_size
    assert zoo.resolve("not-a-model", root) is None
    assert zoo.resolve(str(run_model), root) is None  # real paths win over names
    add_model(run_model, {**row, "steps": 2}, root)  # same name replaces the row
    rows = json.loads((root / "models.json").read_text())
    assert [r["steps"] for r in rows] == [2]


def test_damaged_weights_are_refused(tmp_path):
    root, run_model, row = _tiny_root(tmp_path)
    add_model(run_model, row, root)
    w = root / "weights" / "tiny-ssdn.safetensors"
    data = bytearray(w.read_bytes())
    data[-5] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(UserError, match="sha256"):
        zoo.resolve("tiny-ssdn", root)
    w.unlink()
    with pytest.raises(UserError, match="missing"):
        zoo.resolve("tiny-ssdn", root)


def test_models_command_lists_names_usable_as_model(tmp_path, monkeypatch, cli):
    root, run_model, row = _tiny_root(tmp_path)
    add_model(run_model, row, root)
    monkeypatch.setattr(zoo, "shipped_root", lambda: root)
    res = cli("models")
    assert res.exit_code == 0 and "tiny-ssdn" in res.output and "BSD68" in res.output
    listed = json.loads(cli("models", "--json").output)
    assert listed[0]["name"] == "tiny-ssdn"
    from medenoise.api import load_model

    assert load_model("tiny-ssdn").config.width == 8  # the name works as --model
    shutil.rmtree(root / "weights")
    res = cli("denoise", run_model, "-o", tmp_path / "o", "--model", "tiny-ssdn")
    assert res.exit_code == 2 and "missing" in res.output


def test_fine_tune_starts_from_a_zoo_name(tmp_path, monkeypatch, cli):
    from PIL import Image

    from medenoise.modelfile import load_module

    root, run_model, row = _tiny_root(tmp_path)
    add_model(run_model, row, root)
    monkeypatch.setattr(zoo, "shipped_root", lambda: root)
    data = tmp_path / "noisy"
    data.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((64, 64)) * 255).astype(np.uint8)).save(data / "a.png")
    out = tmp_path / "ft"
    res = cli(
        "train", data, "-o", out, "--init", "tiny-ssdn", "--method", "ssdn",
        "--noise", "gaussian:25", "--width", "8", "--data-kind", "noisy", "--steps", "1",
        "--batch-size", "1", "--patch", "32", "--lr", "1e-12", "--no-progress",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    start = load_module(zoo.resolve("tiny-ssdn", root)).state_dict()
    tuned = load_module(out / "model.safetensors").state_dict()
    key = next(iter(start))
    # one step at a vanishing learning rate: the weights are the zoo model's (fp16-exact)
    assert torch.allclose(start[key], tuned[key], atol=1e-6)


def test_a_zoo_entry_can_default_to_the_self_ensemble_and_callers_override_it(
    tmp_path, monkeypatch
):
    from medenoise.api import load_model

    root, run_model, row = _tiny_root(tmp_path)
    add_model(run_model, {**row, "ensemble": True}, root)
    add_model(run_model, {**row, "name": "tiny-plain"}, root)
    monkeypatch.setattr(zoo, "shipped_root", lambda: root)
    assert load_model("tiny-ssdn").ensemble is True
    assert load_model("tiny-ssdn", ensemble=False).ensemble is False
    assert load_model("tiny-plain").ensemble is False
    assert load_model(str(run_model)).ensemble is False  # model files: off unless asked
    assert load_model(str(run_model), ensemble=True).ensemble is True
    assert load_model("bm3d").config.method == "bm3d"  # baselines ignore the default


def test_a_shipped_student_is_preferred_for_its_teacher(tmp_path, monkeypatch):
    from medenoise.inspection.profile import Verdict
    from medenoise.inspection.verdict import prefer_fast

    root, run_model, row = _tiny_root(tmp_path)
    add_model(run_model, row, root)
    assert zoo.fast_student("tiny-ssdn", root) is None  # no student shipped yet
    student = make_tiny_model("student", teacher="tiny-ssdn")
    student_file = save_model(student, tmp_path / "student" / "model.safetensors")
    add_model(student_file, {**row, "name": "tiny-ssdn-fast"}, root)
    assert zoo.fast_student("tiny-ssdn", root) == "tiny-ssdn-fast"
    assert zoo.fast_student("tiny-ssdn-fast", root) is None
    monkeypatch.setattr(zoo, "shipped_root", lambda: root)
    verdict = Verdict("white", "Independent noise.", "tiny-ssdn")
    assert prefer_fast(verdict).model == "tiny-ssdn-fast"
    assert prefer_fast(Verdict("white", "x", "bm3d")).model == "bm3d"
    assert prefer_fast(Verdict("unknown", "x", None)).model is None
    from medenoise.guard.session import teacher_of

    assert teacher_of("tiny-ssdn-fast") == "tiny-ssdn"  # --adapt fine-tunes the teacher
    assert teacher_of("tiny-ssdn") == "tiny-ssdn" and teacher_of("bm3d") == "bm3d"


@pytest.mark.parametrize(
    "row", [r for r in SHIPPED if r.tile_overlap is not None], ids=lambda r: r.name
)
def test_a_measured_tile_overlap_keeps_tiled_output_within_tolerance(row, one_thread):
    from skimage import data

    from medenoise.api import load_model
    from medenoise.data.tiling import TILE_TOLERANCE

    strip = np.concatenate([data.camera(), data.moon()], axis=1)[:224, :900] / 255.0
    noisy = strip + np.random.default_rng(0).normal(0, 25 / 255, strip.shape)
    noisy = noisy.astype(np.float32)[..., None]
    whole = load_model(row.name, ensemble=False).denoise_planes(noisy[None])[0]
    tiled_model = load_model(row.name, ensemble=False, tile=row.tile_overlap + 96)
    assert tiled_model.overlap == row.tile_overlap  # the row's overlap, not the default
    error = np.abs(tiled_model.denoise_planes(noisy[None])[0] - whole).max()
    assert error <= TILE_TOLERANCE
    # the context is what keeps it there: with none (the cross-fade ramp only) seams show
    seams = load_model(row.name, ensemble=False, tile=row.tile_overlap + 96)
    seams.overlap = 64
    assert np.abs(seams.denoise_planes(noisy[None])[0] - whole).max() > 10 * error
