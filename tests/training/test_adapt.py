"""`denoise --adapt`: self-supervised fine-tuning on the inputs themselves, then denoising."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch
from skimage import data

from medenoise.adaptation import adapt_denoiser
from medenoise.api import load_model
from medenoise.errors import UserError
from medenoise.eval.metrics import psnr
from medenoise.inference.options import InferenceOptions
from medenoise.modelfile import save_model
from tiny_models import make_tiny_model


@pytest.fixture()
def noisy_scene(tmp_path):
    """A 128² camera crop with σ=25 noise, as float32 TIFF (unclipped), and its clean copy."""
    clean = data.camera()[64:192, 160:288].astype(np.float32) / 255
    noisy = clean + np.random.default_rng(0).normal(0, 25 / 255, clean.shape).astype(np.float32)
    path = tmp_path / "in" / "scan.tif"
    path.parent.mkdir()
    tifffile.imwrite(path, noisy)
    return path, clean


def _denoise(cli, tmp_path, src, model, name, *extra):
    out = tmp_path / name
    res = cli("denoise", src, "-o", out, "--model", model, *extra)
    return res, out / src.name


def test_adapt_learns_from_the_noisy_input_and_leaves_it_untouched(tmp_path, noisy_scene, cli):
    src, clean = noisy_scene
    before = src.read_bytes()
    torch.manual_seed(0)  # an untrained prior: only what --adapt learns can denoise
    model = save_model(make_tiny_model("ssdn"), tmp_path / "m.st")
    res0, plain = _denoise(cli, tmp_path, src, model, "plain")
    res1, adapted = _denoise(
        cli, tmp_path, src, model, "adapted", "--adapt", "40", "--adapt-lr", "3e-3"
    )
    assert res0.exit_code == 0 and res1.exit_code == 0, res0.output + res1.output
    assert "adapting" in res1.output and "40 self-supervised steps" in res1.output
    p0 = psnr(tifffile.imread(plain), clean)
    p1 = psnr(tifffile.imread(adapted), clean)
    print(f"untrained {p0:.2f} dB, adapted {p1:.2f} dB")
    assert p1 > p0 + 2, (p0, p1)
    assert src.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "adapted").iterdir()) == ["scan.tif"]


def test_adapted_model_keeps_the_config_and_takes_the_given_level(
    tmp_path, noisy_scene, model_file
):
    src, _ = noisy_scene
    opts = InferenceOptions()
    tuned = adapt_denoiser(str(model_file), [src], 2, options=opts, noise="gaussian:10")
    base = load_model(model_file)
    assert tuned.config.method == "ssdn" and tuned.config.width == base.config.width
    assert tuned.config.noise == "gaussian:10" and base.config.noise == "gaussian:25"
    assert tuned.source.startswith(f"{model_file.name} adapted 2 steps (")
    a, b = base.module.state_dict(), tuned.module.state_dict()
    changed = any(not torch.equal(a[k], b[k].to(a[k].dtype)) for k in a)
    assert changed == ("not kept" not in tuned.source)  # the guard's verdict is what ships
    with pytest.raises(UserError, match="gaussian level"):
        adapt_denoiser(str(model_file), [src], 2, options=opts, noise="poisson:30")
    with pytest.raises(UserError, match="gaussian level"):
        adapt_denoiser(str(model_file), [src], 2, options=opts, noise="gaussian:5-50")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in", model_file.name])


def test_adapt_loads_the_model_once_and_writes_no_file(tmp_path, noisy_scene, model_file):
    import medenoise.modelfile as modelfile

    src, _ = noisy_scene
    noisy = tifffile.imread(src)
    loads, load = [], modelfile.load_module
    modelfile.load_module = lambda *a, **k: loads.append(a[0]) or load(*a, **k)
    before = {p for p in tmp_path.rglob("*")}
    try:
        import medenoise

        tuned = medenoise.adapt(str(model_file), [noisy], 2)
    finally:
        modelfile.load_module = load
    assert loads == [model_file] and tuned.source.startswith(f"{model_file.name} adapted 2 steps")
    assert {p for p in tmp_path.rglob("*")} == before


def test_arrays_and_files_of_the_same_values_adapt_to_the_same_weights(
    tmp_path, noisy_scene, model_file
):
    """`adapt` on arrays draws the patch sequence `denoise --adapt` draws from the files."""
    import medenoise

    src, _ = noisy_scene
    by_file = adapt_denoiser(str(model_file), [src], 3, options=InferenceOptions(), progress=False)
    by_array = medenoise.adapt(str(model_file), [tifffile.imread(src)], 3)
    a, b = by_file.module.state_dict(), by_array.module.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("kind", ["n2c", "bm3d"])
def test_adapt_refuses_models_that_cannot_learn_from_noise_alone(tmp_path, noisy_scene, kind, cli):
    src, _ = noisy_scene
    model = kind
    if kind == "n2c":
        model = save_model(make_tiny_model("n2c"), tmp_path / "n2c.safetensors")
    res, out = _denoise(cli, tmp_path, src, model, "out", "--adapt", "5")
    assert res.exit_code == 2, res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1
    assert ("self-supervised" if kind == "n2c" else "baseline") in errors[0]
    assert not out.exists()


def test_python_adapt_takes_arrays_and_returns_a_denoiser(tmp_path, noisy_scene, model_file):
    import medenoise

    src, clean = noisy_scene
    noisy = tifffile.imread(src)
    as_uint8 = (np.clip(noisy, 0, 1) * 255).round().astype(np.uint8)
    tuned = medenoise.adapt(str(model_file), [noisy, as_uint8], 20, lr=3e-3)
    base = load_model(model_file)
    assert tuned.config.method == "ssdn" and tuned.config.noise == base.config.noise
    assert "held-out best at step" in tuned.source  # an untrained prior gains at once
    out = tuned.denoise(noisy)
    assert out.shape == noisy.shape and out.dtype == noisy.dtype
    assert not np.allclose(out, base.denoise(noisy))
    with pytest.raises(UserError, match="baseline"):
        medenoise.adapt("bm3d", [noisy], 2)


def test_evaluate_adapt_scores_the_adapted_network_and_leaves_baselines(tmp_path, model_file, cli):
    import json

    from PIL import Image

    folder = tmp_path / "clean"
    folder.mkdir()
    Image.fromarray(data.camera()[:96, :96]).save(folder / "cam.png")
    args = ["evaluate", "--model", str(model_file), "--model", "identity", "--clean", str(folder)]
    args += ["--noise", "gaussian:25", "--json", "--no-progress"]
    plain = json.loads(cli(*args).output)["models"]
    res = cli(*args, "--adapt", "20", "--adapt-lr", "3e-3")
    assert res.exit_code == 0, res.output
    unadapted, net, ident = json.loads(res.stdout)["models"]
    assert unadapted["model"] == plain[0]["model"] and "adapt_steps" not in unadapted
    assert unadapted["mean"]["psnr"] == plain[0]["mean"]["psnr"]  # scored as without --adapt
    assert net["model"].endswith("+adapt20") and net["adapt_steps"] == 20
    assert net["source"] == plain[0]["source"]
    assert "held-out best at step" in net["adapted_source"]
    assert net["mean"]["psnr"] != plain[0]["mean"]["psnr"]
    pairs = list(zip(net["images"], unadapted["images"], strict=True))
    lower = [sum(a[k] < u[k] for a, u in pairs) for k in ("psnr", "ssim")]
    assert net["vs_unadapted"] == dict(images=1, psnr_lower=lower[0], ssim_lower=lower[1])
    assert ident["model"] == "identity" and "adapt_steps" not in ident
    assert ident["mean"]["psnr"] == plain[1]["mean"]["psnr"]


def test_evaluate_adapt_prints_the_unadapted_row_beside_the_adapted_one(tmp_path, model_file, cli):
    from PIL import Image

    folder = tmp_path / "clean"
    folder.mkdir()
    for i, (y, x) in enumerate([(0, 0), (200, 200)]):
        Image.fromarray(data.camera()[y : y + 96, x : x + 96]).save(folder / f"c{i}.png")
    args = ["evaluate", "--model", str(model_file), "--clean", str(folder), "--no-progress"]
    res = cli(*args, "--noise", "gaussian:25", "--adapt", "3", "--adapt-lr", "1e3")
    assert res.exit_code == 0, res.output
    rows = [ln.split()[0] for ln in res.stdout.splitlines() if ln.startswith("m")]
    assert rows[1:4] == ["m", "m+adapt3", "m+adapt3:"]  # after the header
    note = next(ln for ln in res.stdout.splitlines() if ln.startswith("m+adapt3:"))
    # a rate of 1000 wrecks the weights: the guard restores the unadapted model, which
    # then scores below itself on no image
    assert "below the unadapted model on 0 of 2 images in PSNR, 0 in SSIM" in note
    assert "not kept" in note


def test_adapt_without_a_model_where_the_advice_is_a_baseline_says_what_to_pass(tmp_path, cli):
    # photon noise of no trained model's kind: the inspector advises VST+BM3D, which has no
    # weights to fine-tune, so the user must name a network
    clean = 0.1 + 0.7 * data.camera().astype(np.float64) / 255
    counts = np.random.default_rng(0).poisson(clean / 0.02) * 0.02  # variance 0.02 x
    src = tmp_path / "in" / "widefield.tif"
    src.parent.mkdir()
    tifffile.imwrite(src, np.clip(np.round(counts * 255), 0, 255).astype(np.uint8))
    out = tmp_path / "out"
    res = cli("denoise", src, "-o", out, "--adapt", "5")
    assert res.exit_code == 2, res.output
    assert "using --model vst-bm3d" in res.output  # the verdict, announced
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "--adapt without --model" in errors[0]
    assert "--model" in errors[0].split("cannot be fine-tuned")[1]
    assert not out.exists()
