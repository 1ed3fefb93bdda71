"""Geometric self-ensemble (`--ensemble`): views invert exactly, the ensembled denoiser is
equivariant under the mirror (what averaging over the symmetry group guarantees and a wrong
inverse breaks), tiling does not change it, and the CLI labels and scopes it."""

import numpy as np
import pytest
import torch

from medenoise.api import load_model
from medenoise.ensemble import ensemble_views, ensembled
from medenoise.errors import UserError
from medenoise.inference.denoiser import Denoiser
from medenoise.inference.options import InferenceOptions
from medenoise.modelfile import save_model
from tiny_models import make_tiny_model


def tiny(method: str):
    return make_tiny_model(method)


@pytest.mark.parametrize("blind", [True, False])
def test_every_view_is_undone_by_its_inverse_and_views_are_distinct(blind):
    x = torch.randn(2, 1, 32, 64)
    views = ensemble_views(blind)
    assert len(views) == (2 if blind else 8)
    outs = set()
    for forward, inverse in views:
        assert torch.equal(inverse(forward(x)), x)
        outs.add(forward(x).flatten().numpy().tobytes())
    assert len(outs) == len(views)


def test_ensembled_identity_is_identity_and_mean_is_taken():
    x = torch.randn(1, 1, 32, 32)
    views = ensemble_views(False)
    assert torch.allclose(ensembled(lambda v: v, x, views), x)
    assert torch.allclose(ensembled(lambda v: 2 * v + 1, x, views), 2 * x + 1)


@pytest.mark.parametrize("method", ["ssdn", "n2c"])
def test_ensembled_denoiser_commutes_with_the_mirror(method):
    module = tiny(method)
    plane = np.random.default_rng(0).random((1, 64, 64, 1), dtype=np.float32)
    mirrored = plane[:, :, ::-1].copy()
    den = Denoiser(module, "m", InferenceOptions(ensemble=True))
    a = den.denoise_planes(plane)[:, :, ::-1]
    b = den.denoise_planes(mirrored)
    assert np.abs(a - b).max() < 1e-5
    plain = Denoiser(module, "m").denoise_planes(plane)  # without it: not equivariant
    plain_m = Denoiser(module, "m").denoise_planes(mirrored)
    assert np.abs(plain[:, :, ::-1] - plain_m).max() > 1e-4
    assert np.abs(den.denoise_planes(plane) - plain).max() > 1e-4


def test_ensemble_through_tiles_equals_ensemble_on_the_whole_plane():
    module = tiny("n2c")
    planes = np.random.default_rng(3).random((1, 100, 700, 1), dtype=np.float32)
    whole = Denoiser(module, "m", InferenceOptions(tile=704, ensemble=True)).denoise_planes(planes)
    tiled = Denoiser(module, "m", InferenceOptions(tile=384, ensemble=True)).denoise_planes(planes)
    assert np.abs(tiled - whole).max() < 1e-4


def test_ensemble_on_a_baseline_is_a_user_error():
    with pytest.raises(UserError, match="networks"):
        load_model("bm3d", ensemble=True)


def test_evaluate_labels_ensembled_networks_and_leaves_baselines(tmp_path, cli):
    from PIL import Image
    from skimage import data

    Image.fromarray(data.camera()[:64, :64]).save(tmp_path / "cam.png")
    save_model(tiny("n2c"), tmp_path / "net.safetensors")
    args = ["evaluate", "--model", str(tmp_path / "net.safetensors"), "--model", "identity"]
    args += ["--clean", str(tmp_path / "cam.png"), "--noise", "gaussian:25", "--ensemble"]
    res = cli(*args, "--no-progress")
    assert res.exit_code == 0, res.output
    assert "net+ens" in res.output and "identity+ens" not in res.output


def test_a_student_gets_the_mirror_pair_and_other_plain_nets_all_eight(monkeypatch):
    import medenoise.ensemble as ens

    seen = []
    real = ens.ensembled
    monkeypatch.setattr(
        ens, "ensembled", lambda fn, x, views: seen.append(len(views)) or real(fn, x, views)
    )
    plane = np.random.default_rng(1).random((1, 64, 64, 1), dtype=np.float32)
    for method in ("student", "n2c"):
        Denoiser(tiny(method), "m", InferenceOptions(ensemble=True)).denoise_planes(plane)
    assert seen == [2, 8]
