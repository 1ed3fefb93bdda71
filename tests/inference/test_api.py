"""`load_model` for training-free baselines: same interface as a model file, same numbers as
calling methods/classical.py directly, and usable from `medenoise denoise --model bm3d`."""

import numpy as np
import pytest
from PIL import Image as PILImage
from skimage import data

from medenoise.api import load_model
from medenoise.errors import UserError
from medenoise.eval.metrics import psnr
from medenoise.inference.options import InferenceOptions
from medenoise.methods.baselines import poisson_gaussian
from medenoise.methods.classical import bm3d_denoise
from tiny_models import make_tiny_model

SIGMA = 25 / 255
LAM = 30.0


@pytest.fixture(scope="module")
def clean():
    return data.camera()[100:196, 100:196].astype(np.float64) / 255


@pytest.fixture(scope="module")
def noisy(clean):
    return (clean + np.random.default_rng(0).normal(0, SIGMA, clean.shape)).astype(np.float32)


def test_bm3d_model_matches_calling_bm3d_directly(clean, noisy):
    model = load_model("bm3d")
    assert model.config.method == "bm3d" and model.source == "bm3d"
    assert model.config.channels is None  # any channel count
    ours = model.denoise(noisy, noise="gaussian:25")
    direct = bm3d_denoise(noisy, SIGMA)
    assert ours.shape == noisy.shape and ours.dtype == noisy.dtype
    p_ours, p_direct, p_noisy = psnr(ours, clean), psnr(direct, clean), psnr(noisy, clean)
    print(f"noisy {p_noisy:.2f} dB, load_model('bm3d') {p_ours:.2f} dB, direct {p_direct:.2f} dB")
    assert abs(p_ours - p_direct) < 0.01
    assert p_ours > p_noisy + 5
    # uint8 in → uint8 out, same denoising up to rounding
    noisy8 = np.clip(np.rint(noisy * 255), 0, 255).astype(np.uint8)
    out8 = model.denoise(noisy8, noise="gaussian:25")
    assert out8.dtype == np.uint8 and out8.shape == noisy8.shape
    assert abs(psnr(out8 / 255, clean) - psnr(bm3d_denoise(noisy8 / 255, SIGMA), clean)) < 0.1


def test_bm3d_estimates_the_level_when_none_is_given(clean, noisy):
    known = psnr(load_model("bm3d").denoise(noisy, noise="gaussian:25"), clean)
    guessed = psnr(load_model("BM3D").denoise(noisy), clean)
    assert abs(known - guessed) < 0.5


def test_vst_bm3d_beats_bm3d_on_poisson_noise(clean):
    y = (np.random.default_rng(1).poisson(LAM * clean) / LAM).astype(np.float32)
    vst = psnr(load_model("vst-bm3d").denoise(y, noise=f"poisson:{LAM:g}"), clean)
    plain = psnr(load_model("bm3d").denoise(y, noise=f"poisson:{LAM:g}"), clean)
    pg = psnr(load_model("vst-bm3d").denoise(y, noise=f"pg:a={1 / LAM},b=0"), clean)
    print(f"noisy {psnr(y, clean):.2f}, vst-bm3d {vst:.2f}, pg spec {pg:.2f}, bm3d {plain:.2f}")
    assert vst > plain + 0.5
    # poisson:λ is pg with a = 1/λ, b = 0: the same GAT parameters exactly; the outputs agree
    # to BM3D's own run-to-run spread (with several threads it is not bitwise repeatable)
    assert poisson_gaussian(y, f"poisson:{LAM:g}") == poisson_gaussian(y, f"pg:a={1 / LAM},b=0")
    assert abs(pg - vst) < 1e-3


def test_baselines_take_any_channel_count_and_stacks():
    rgb = data.astronaut()[200:264, 200:264].astype(np.float32) / 255
    y = rgb + np.random.default_rng(2).normal(0, 0.1, rgb.shape).astype(np.float32)
    for name in ("bm3d", "nlm", "vst-bm3d"):
        out = load_model(name).denoise(y, noise="gaussian:25.5")
        assert out.shape == y.shape and psnr(out, rgb) > psnr(y, rgb) + 2, name
    stack = y[None, ..., :1].repeat(2, axis=0)  # (S, H, W, 1)
    out = load_model("identity").denoise_planes(stack)
    assert np.array_equal(out, stack)


def test_bad_noise_specs_are_user_errors(noisy):
    with pytest.raises(UserError, match="impulse"):
        load_model("bm3d").denoise(noisy, noise="impulse:0.2")
    with pytest.raises(UserError, match="single value"):
        load_model("bm3d").denoise(noisy, noise="gaussian:5-50")
    with pytest.raises(UserError, match="nothing to denoise"):
        load_model("vst-bm3d").denoise(noisy, noise="pg:a=0,b=0")


def test_cli_denoise_with_a_baseline_model(tmp_path, clean, noisy, cli):
    src = tmp_path / "x.png"
    PILImage.fromarray(np.clip(np.rint(noisy * 255), 0, 255).astype(np.uint8)).save(src)
    args = ["denoise", str(src), "-o", str(tmp_path / "out"), "--model", "bm3d"]
    result = cli(*args, "--noise", "gaussian:25")
    assert result.exit_code == 0, result.output
    den = np.asarray(PILImage.open(tmp_path / "out" / "x.png"))
    assert den.dtype == np.uint8 and psnr(den / 255, clean) > psnr(noisy, clean) + 5


# ---------------------------------------------------------------- tiled inference in Denoiser


def tiny_module(method: str, **kw):

    return make_tiny_model(method, **kw)


def record_denoise_calls(module):
    """Wrap module.denoise to record the (N, C, H, W) shapes it is given."""
    shapes, original = [], module.denoise

    def spy(x, params=None):
        shapes.append(tuple(x.shape))
        return original(x, params)

    module.denoise = spy
    return shapes


def test_denoiser_tiled_equals_untiled_on_an_image_several_tiles_wide():
    from medenoise.inference.denoiser import Denoiser

    module = tiny_module("n2c")  # plain U-Net: overlap 320 covers its receptive field (157)
    planes = np.random.default_rng(3).random((1, 150, 1000, 1), dtype=np.float32)
    shapes = record_denoise_calls(module)
    whole = Denoiser(module, "m", InferenceOptions(tile=1024)).denoise_planes(planes)
    assert shapes == [(1, 1, 160, 1024)]  # fits one tile: the exact whole-plane path
    shapes.clear()
    tiled = Denoiser(module, "m", InferenceOptions(tile=512)).denoise_planes(planes)
    assert shapes == [(1, 1, 160, 512)] * 4  # four tiles across
    assert tiled.shape == planes.shape and tiled.dtype == np.float32
    assert np.abs(tiled - whole).max() < 1e-4


def test_denoiser_out_of_memory_on_the_whole_plane_falls_back_to_half_tiles():
    import torch

    from medenoise.inference.denoiser import Denoiser

    module = tiny_module("n2c")
    planes = np.random.default_rng(3).random((1, 150, 1000, 1), dtype=np.float32)
    whole = Denoiser(module, "m", InferenceOptions(tile=1024)).denoise_planes(planes)
    shapes, original = [], module.denoise

    def small_gpu(x, params=None):
        shapes.append(tuple(x.shape))
        if x.shape[-1] > 512:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return original(x, params)

    module.denoise = small_gpu
    out = Denoiser(module, "m", InferenceOptions(tile=1024)).denoise_planes(planes)
    assert shapes == [(1, 1, 160, 1024)] + [(1, 1, 160, 512)] * 4
    assert np.abs(out - whole).max() < 1e-4


def test_denoiser_auto_tile_follows_free_memory(monkeypatch):
    from medenoise.data import tiling
    from medenoise.inference.denoiser import Denoiser

    denoiser = Denoiser(tiny_module("n2c"), "m")
    monkeypatch.setattr(tiling, "available_memory", lambda device=None: 0)
    assert denoiser.tile_size() == tiling.PLAIN_OVERLAP + 32  # the smallest tile that works
    monkeypatch.setattr(tiling, "available_memory", lambda device=None: 2**40)
    # plenty free: the CPU activation budget (CPU_TILE_BYTES) bounds the tile, not free memory
    plain_bpp = tiling.activation_bytes(8, 1, blind=False)
    cap = tiling.cpu_tile_cap(plain_bpp, tiling.PLAIN_OVERLAP)
    assert denoiser.tile_size() == cap < tiling.CPU_TILE_CAP
    assert cap**2 * plain_bpp <= tiling.CPU_TILE_BYTES < (cap + 32) ** 2 * plain_bpp
    ssdn = Denoiser(tiny_module("ssdn"), "m")
    assert ssdn.overlap == tiling.overlap_for(True) and denoiser.overlap == tiling.PLAIN_OVERLAP
    exact = Denoiser(tiny_module("ssdn"), "m", InferenceOptions(exact=True))
    assert exact.overlap == tiling.BLIND_SPOT_OVERLAP > ssdn.overlap
    # Memory for tiles of 480 at most: a 40×700 plane goes as 3 tiles of 448, not 3 of 480.
    bpp = tiling.activation_bytes(8, 1, blind=False)
    monkeypatch.setattr(tiling, "available_memory", lambda device=None: 2 * 480 * 480 * bpp)
    assert denoiser.tile_size() == 480
    shapes = record_denoise_calls(denoiser.module)
    denoiser.denoise_planes(np.zeros((1, 40, 700, 1), np.float32))
    assert shapes == [(1, 1, 64, 448)] * 3


def test_denoiser_rejects_tiles_that_cannot_hold_the_overlap():
    from medenoise.inference.denoiser import Denoiser

    with pytest.raises(UserError, match="at least 352"):
        Denoiser(tiny_module("n2c"), "m", InferenceOptions(tile=320))
    with pytest.raises(UserError, match="multiple of 32"):
        Denoiser(tiny_module("n2c"), "m", InferenceOptions(tile=400))
    with pytest.raises(UserError, match="at least 608"):
        Denoiser(tiny_module("ssdn"), "m", InferenceOptions(tile=576))
    with pytest.raises(UserError, match="at least 672"):
        Denoiser(tiny_module("ssdn"), "m", InferenceOptions(tile=640, exact=True))


def test_per_image_ssdn_estimates_the_noise_level_once_per_plane(monkeypatch):
    import torch

    from medenoise.inference.denoiser import Denoiser
    from medenoise.inference.padding import pad_reflect

    module = tiny_module("ssdn", noise_param="per-image")
    head = module.noise_param.estimator.net.head[-1].conv  # zero-init: make it content-dependent
    torch.nn.init.normal_(head.weight, std=5.0)
    torch.nn.init.constant_(head.bias, 4.0)
    rng = np.random.default_rng(4)
    planes = np.full((2, 200, 300, 1), 0.5, np.float32)
    planes[0, :, :150] += rng.normal(0, 0.3, (200, 150, 1)).astype(np.float32)
    planes[1] += rng.normal(0, 0.05, (200, 300, 1)).astype(np.float32)

    estimator_calls = []
    module.noise_param.estimator.net.register_forward_hook(
        lambda mod, args, out: estimator_calls.append(tuple(args[0].shape))
    )
    seen = []  # the noise parameters every tile's posterior used
    variance = module.noise.variance
    monkeypatch.setattr(
        module.noise, "variance", lambda mu, p: (seen.append(p.clone()), variance(mu, p))[1]
    )
    shapes = record_denoise_calls(module)
    # A short overlap (not exact) keeps it fast; what matters is where the level comes from.
    Denoiser(module, "m", InferenceOptions(tile=224), overlap=128).denoise_planes(planes)
    assert shapes == [(1, 1, 224, 224)] * 8  # four tiles per plane
    assert estimator_calls == [(1, 1, 320, 320)] * 2  # once per plane, on the padded plane
    assert module.noise_param.mode == "per-image"  # restored

    with torch.inference_mode():
        for i, plane in enumerate(planes):
            canvas = torch.from_numpy(pad_reflect(plane, 320, 320).transpose(2, 0, 1).copy())
            whole = module.noise_param(canvas[None]).item()  # the untiled run's estimate
            used = torch.cat(seen[4 * i : 4 * (i + 1)]).flatten().numpy()
            np.testing.assert_allclose(used, whole, rtol=1e-5)
        # One tile alone would estimate another level (so per-tile estimates would fail above).
        crop = pad_reflect(planes[0][:, 150:], 224, 224).transpose(2, 0, 1).copy()
        local = module.noise_param(torch.from_numpy(crop)[None]).item()
        canvas = pad_reflect(planes[0], 320, 320).transpose(2, 0, 1).copy()
        assert abs(local - module.noise_param(torch.from_numpy(canvas)[None]).item()) > 1e-3


@pytest.mark.parametrize("noise_param", ["known", "per-image"])
def test_batched_planes_give_the_one_by_one_result(noise_param):
    """A stack goes through the net `batch` planes per call, each plane as if alone (the
    per-image level is still estimated per plane, not over the batch)."""
    import torch

    from medenoise.inference.denoiser import Denoiser

    module = tiny_module("ssdn", noise_param=noise_param)
    with torch.no_grad():  # content-dependent estimator (its head starts at zero)
        for p in module.parameters():
            p.add_(0.05 * torch.randn_like(p))
    rng = np.random.default_rng(5)
    planes = (
        rng.random((5, 40, 50, 1), dtype=np.float32) * np.linspace(0.2, 1, 5)[:, None, None, None]
    )
    shapes = record_denoise_calls(module)
    single = Denoiser(module, "m").denoise_planes(planes)
    assert shapes == [(1, 1, 64, 64)] * 5  # CPU default: one plane per call
    shapes.clear()
    batched = Denoiser(module, "m", InferenceOptions(batch=2)).denoise_planes(planes)
    assert shapes == [(2, 1, 64, 64), (2, 1, 64, 64), (1, 1, 64, 64)]
    assert np.abs(batched - single).max() < 1e-5
    assert np.abs(single[0] - single[4]).max() > 1e-2  # the planes really differ


def test_batched_planes_halve_the_batch_on_out_of_memory():
    import torch

    from medenoise.inference.denoiser import Denoiser

    module = tiny_module("n2c")
    planes = np.random.default_rng(6).random((5, 32, 32, 1), dtype=np.float32)
    single = Denoiser(module, "m").denoise_planes(planes)
    shapes, original = [], module.denoise

    def small_gpu(x, params=None):
        shapes.append(tuple(x.shape))
        if x.shape[0] > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return original(x, params)

    module.denoise = small_gpu
    out = Denoiser(module, "m", InferenceOptions(batch=4)).denoise_planes(planes)
    assert [s[0] for s in shapes] == [4, 2, 2, 1]
    assert np.abs(out - single).max() < 1e-5


def test_auto_batch_fills_half_the_free_gpu_memory(monkeypatch):
    import torch

    from medenoise.data import tiling
    from medenoise.inference import denoiser as denoiser_module
    from medenoise.inference.denoiser import Denoiser

    den = Denoiser(tiny_module("ssdn"), "m")
    assert den.plane_batch(512, 512, 100) == 1  # CPU
    den.device = torch.device("cuda")
    bpp = tiling.activation_bytes(8, 1, blind=True)
    monkeypatch.setattr(
        denoiser_module, "available_memory", lambda device=None: 2 * 10 * 512 * 512 * bpp
    )
    assert den.plane_batch(512, 512, 100) == 10
    assert den.plane_batch(512, 512, 3) == 3  # never more than the stack
    monkeypatch.setattr(denoiser_module, "available_memory", lambda device=None: 0)
    assert den.plane_batch(512, 512, 100) == 1
    asked = Denoiser(
        tiny_module("ssdn"), "m", InferenceOptions(batch=8)
    )  # CPU, an explicit batch...
    monkeypatch.setattr(
        denoiser_module, "available_memory", lambda device=None: 2 * 100 * 512 * 512 * bpp
    )
    assert asked.plane_batch(512, 512, 100) == 8
    monkeypatch.setattr(
        denoiser_module, "available_memory", lambda device=None: 2 * 5 * 512 * 512 * bpp
    )
    assert asked.plane_batch(512, 512, 100) == 5  # ...is capped by memory
    with pytest.raises(UserError, match="batch 0"):
        Denoiser(tiny_module("ssdn"), "m", InferenceOptions(batch=0))


def test_tiles_of_a_large_plane_are_batched_too():
    from medenoise.inference.denoiser import Denoiser

    module = tiny_module("n2c")
    planes = np.random.default_rng(3).random((1, 150, 1000, 1), dtype=np.float32)
    one = Denoiser(module, "m", InferenceOptions(tile=512)).denoise_planes(planes)
    shapes = record_denoise_calls(module)
    two = Denoiser(module, "m", InferenceOptions(tile=512, batch=3)).denoise_planes(planes)
    assert shapes == [(3, 1, 160, 512), (1, 1, 160, 512)]  # four tiles, three per call
    assert np.abs(two - one).max() < 1e-5
