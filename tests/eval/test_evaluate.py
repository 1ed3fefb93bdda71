"""Evaluation harness: seeded samples, FMD averaging, metric bookkeeping and the CLI contract."""

import json

import numpy as np
import pytest
from PIL import Image as PILImage

from medenoise.api import load_model
from medenoise.eval import samples as S
from medenoise.eval.evaluate import evaluate, score
from medenoise.modelfile import save_model
from tiny_models import make_tiny_model


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(array).save(path)
    return path


@pytest.fixture()
def clean_dir(tmp_path):
    rng = np.random.default_rng(1)
    for k in range(3):
        ramp = np.linspace(40, 200, 48)[None, :] + rng.normal(0, 3, (40, 48))
        _png(tmp_path / "clean" / f"im{k}.png", np.clip(ramp, 0, 255).astype(np.uint8))
    return tmp_path / "clean"


def test_synthetic_noise_is_a_pure_function_of_seed_and_index(clean_dir):
    a = list(S.synthetic_samples([clean_dir], "gaussian:25", 1, seed=3, repeats=2))
    b = list(S.synthetic_samples([clean_dir], "gaussian:25", 1, seed=3, repeats=2))
    c = list(S.synthetic_samples([clean_dir], "gaussian:25", 1, seed=4, repeats=2))
    assert [s.name for s in a] == ["im0.png#0", "im0.png#1", "im1.png#0", "im1.png#1",
                                   "im2.png#0", "im2.png#1"]  # fmt: skip
    for x, y, z in zip(a, b, c, strict=True):
        np.testing.assert_array_equal(x.noisy, y.noisy)
        assert not np.array_equal(x.noisy, z.noisy)
    assert not np.array_equal(a[0].noisy, a[1].noisy)  # repeats draw fresh noise
    noise = a[0].noisy - a[0].clean
    assert abs(noise.std() - 25 / 255) < 0.1 * 25 / 255
    assert a[0].noisy.min() < 0 or a[0].noisy.max() > 1 or noise.std() > 0  # unclipped draw
    assert a[0].noise == "gaussian:25"


def test_a_level_range_gives_each_image_its_exact_level(clean_dir):
    samples = list(S.synthetic_samples([clean_dir], "gaussian:5-50", 1, seed=0))
    levels = [float(s.noise.split(":")[1]) for s in samples]
    assert all(5 <= v <= 50 for v in levels) and len(set(levels)) == 3
    for s, v in zip(samples, levels, strict=True):
        std = (s.noisy - s.clean).std() * 255
        assert abs(std - v) < 0.15 * v


def test_identity_scores_exactly_the_noisy_input(clean_dir):
    res = evaluate(load_model("identity"), S.synthetic_samples([clean_dir], "gaussian:25", 1))
    m = res["mean"]
    assert m["psnr"] == pytest.approx(m["psnr_noisy"]) and m["ssim"] == pytest.approx(
        m["ssim_noisy"]
    )
    assert m["psnr_var"] == pytest.approx(0.0, abs=1e-12)
    assert len(res["images"]) == 3 and 18 < m["psnr_noisy"] < 22


def test_score_gains_follow_the_report_definition():
    clean = np.full((32, 32, 1), 0.5, np.float32)
    noisy = clean + 0.1 * np.random.default_rng(0).standard_normal(clean.shape).astype(np.float32)
    denoised = clean + 0.05 * (noisy - clean)
    row = score(denoised, noisy, clean)
    assert row["psnr_noisy"] == pytest.approx(20.0, abs=0.3)
    assert row["psnr"] - row["psnr_noisy"] == pytest.approx(20 * np.log10(20), abs=1e-3)
    assert row["psnr_var"] == pytest.approx((row["psnr"] - row["psnr_noisy"]) / row["psnr_noisy"])


class _Recorder:
    """A denoiser that records the noise level it is handed and returns its input."""

    source, config = "recorder", None

    def __init__(self):
        self.seen = []

    def denoise_planes(self, planes, noise=None):
        self.seen.append(noise)
        return planes


def test_known_level_models_get_the_synthetic_level_and_real_noise_gets_assume(clean_dir, tmp_path):
    rec = _Recorder()
    evaluate(rec, S.synthetic_samples([clean_dir], "poisson:30", 1), noise="poisson:99")
    assert rec.seen == ["poisson:30"] * 3
    rec.seen.clear()
    evaluate(rec, S.paired_samples([clean_dir], [clean_dir], 1), noise="poisson:99")
    assert rec.seen == ["poisson:99"] * 3


def _fmd(tmp_path, frames=5):
    rng = np.random.default_rng(0)
    root = tmp_path / "fmd" / "Confocal_X"
    for fov in ("1", "19"):
        gt = rng.integers(20, 200, (24, 24)).astype(np.uint8)
        _png(root / "gt" / fov / "avg50.png", gt)
        for k in range(frames):
            noisy = np.clip(gt + rng.normal(0, 20, gt.shape), 0, 255).astype(np.uint8)
            _png(root / "raw" / fov / f"f{k:02d}.png", noisy)
    return root


def test_fmd_levels_average_consecutive_raw_frames_circularly(tmp_path):
    root = _fmd(tmp_path)
    frames = [np.asarray(PILImage.open(root / "raw" / "19" / f"f{k:02d}.png"), np.float64) / 255
              for k in range(5)]  # fmt: skip
    got = list(S.fmd_samples([root.parent], 2, 1, fovs=["19"]))
    assert len(got) == 5 and got[0].name == "Confocal_X/19/avg2#0"
    np.testing.assert_allclose(got[0].noisy[..., 0], (frames[0] + frames[1]) / 2, atol=1e-6)
    np.testing.assert_allclose(got[4].noisy[..., 0], (frames[4] + frames[0]) / 2, atol=1e-6)
    gt = np.asarray(PILImage.open(root / "gt" / "19" / "avg50.png"), np.float64) / 255
    np.testing.assert_allclose(got[0].clean[..., 0], gt, atol=1e-6)
    raw = list(S.fmd_samples([root], 1, 1, images=2))
    assert [s.name for s in raw] == ["Confocal_X/1/f00.png", "Confocal_X/1/f01.png",
                                     "Confocal_X/19/f00.png", "Confocal_X/19/f01.png"]  # fmt: skip
    with pytest.raises(Exception, match="needs 8 raw frames"):
        list(S.fmd_samples([root], 8, 1))


def test_cli_json_follows_the_design_contract(clean_dir, tmp_path, cli):
    args = ["evaluate", "--model", "identity", "--clean", str(clean_dir), "--noise", "gaussian:25"]
    out = cli(*args, "--json", "--save", tmp_path / "saved")
    assert out.exit_code == 0, out.output
    obj = json.loads(out.output)
    assert set(obj["mean"]) >= {"psnr", "ssim", "psnr_noisy", "ssim_noisy"}
    assert [im["name"] for im in obj["images"]] == ["im0.png", "im1.png", "im2.png"]
    assert obj["mean"]["psnr"] == pytest.approx(np.mean([im["psnr"] for im in obj["images"]]))
    saved = np.asarray(PILImage.open(tmp_path / "saved" / "im1.png"))
    assert saved.dtype == np.uint16 and saved.shape == (40, 48)
    again = json.loads(cli(*args, "--json").output)
    assert again["images"][2]["psnr"] == obj["images"][2]["psnr"]  # bit-identical rerun


def test_cli_table_compares_a_trained_model_with_baselines(clean_dir, tmp_path, cli):
    module = make_tiny_model("n2c")
    path = save_model(module, tmp_path / "run" / "model.safetensors")
    out = cli("evaluate", "--model", path, "--model", "identity",
              "--clean", clean_dir, "--noise", "gaussian:25")  # fmt: skip
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[2].startswith("run ") and lines[3].startswith("identity ")
    assert "(noisy input)" in out.output and "protocol:" in out.output


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "needs --noise"),
        (["--noise", "gaussian:25", "--noisy", "x"], "not both"),
        (["--noise", "gaussian"], "has no level"),
    ],
)
def test_cli_bad_arguments_give_one_line_and_exit_2(clean_dir, extra, message, cli):
    out = cli("evaluate", "--model", "identity", "--clean", clean_dir, *extra)
    assert out.exit_code == 2
    assert message in out.output and out.output.count("error:") == 1


def test_saved_names_keep_planes_and_repeats_apart():
    from pathlib import Path

    from medenoise.eval.evaluate import saved_name

    names = ["im0.png", "im0.png#1", "v.nii.gz[3]", "v.nii.gz[3]#2", "v.nii.gz[4]", "F/19/avg2#0"]
    got = [saved_name(n) for n in names]
    assert got == [Path(p) for p in ("im0.png", "im0_1.png", "v_3.png", "v_3_2.png", "v_4.png",
                                     "F/19/avg2_0.png")]  # fmt: skip
    assert len(set(got)) == len(got)


def test_cli_precision_and_device_reach_the_loaded_models(clean_dir, tmp_path, monkeypatch, cli):
    """`evaluate --precision` means what it means for `denoise`: the network runs under
    bfloat16 (Lightning's bf16-mixed spelling accepted), baselines are loaded as before."""
    import medenoise.api
    from medenoise.inference.options import Precision

    path = save_model(
        make_tiny_model("n2c"),
        tmp_path / "n.safetensors",
    )
    seen, real = [], medenoise.api.load_model
    monkeypatch.setattr(
        medenoise.api, "load_model", lambda m, **kw: seen.append(kw["options"]) or real(m, **kw)
    )
    base = ["evaluate", "--model", str(path), "--model", "identity", "--clean", str(clean_dir)]
    base += ["--noise", "gaussian:25", "--json", "--no-progress"]
    psnr = {}
    for precision in ("32", "bf16-mixed"):
        out = cli(*base, "--precision", precision, "--device", "cpu")
        assert out.exit_code == 0, out.output
        psnr[precision] = json.loads(out.output)["models"][0]["images"][0]["psnr"]
    assert [(o.precision, o.device) for o in seen[::2]] == [(Precision.FP32, "cpu"),
                                                           (Precision.BF16, "cpu")]  # fmt: skip
    assert psnr["32"] != psnr["bf16-mixed"]  # the network really ran in bfloat16
    bad = cli(*base, "--precision", "8")
    assert bad.exit_code == 2 and bad.output.count("error:") == 1 and "precision" in bad.output
    bad = cli(*base, "--device", "gpu")
    assert bad.exit_code == 2 and bad.output.count("error:") == 1 and "--device" in bad.output


def test_fit_affine_scores_an_output_recorded_at_another_gain_as_its_structure(clean_dir):
    clean = np.asarray(PILImage.open(clean_dir / "im0.png"), np.float32)[..., None] / 255
    rescaled = 0.6 * clean + 0.05  # the same picture at another gain and offset
    noisy = clean + np.random.default_rng(0).normal(0, 0.1, clean.shape)
    plain, fitted = score(rescaled, noisy, clean), score(rescaled, noisy, clean, fit_affine=True)
    assert plain["psnr"] < 35 and fitted["psnr"] > 100 and fitted["ssim"] > 0.999
    assert fitted["psnr_noisy"] >= plain["psnr_noisy"]


def test_cli_fit_affine_says_so_in_the_protocol(clean_dir, cli):
    args = ["evaluate", "--model", "identity", "--clean", str(clean_dir), "--noise", "gaussian:25"]
    plain = json.loads(cli(*args, "--json").output)
    fitted = json.loads(cli(*args, "--json", "--fit-affine").output)
    assert "a*x + b" in fitted["protocol"] and "a*x + b" not in plain["protocol"]
    # the identity's output is the noisy input, fitted the same way: both columns agree
    assert fitted["mean"]["psnr"] == pytest.approx(fitted["mean"]["psnr_noisy"])
    assert fitted["mean"]["psnr"] >= plain["mean"]["psnr"]
