"""Seeded patch sampling: determinism, resume offset, and background rejection."""

import numpy as np
import torch

from medenoise.data.patches import PatchDataset, block_mean, center_square


def half_black(size=128):
    plane = np.zeros((size, size, 1), np.float32)
    plane[:, size // 2 :] = 0.8
    return plane


def test_sample_is_a_function_of_seed_and_index():
    a = PatchDataset([half_black()], patch=32, length=50, seed=1)
    b = PatchDataset([half_black()], patch=32, length=50, seed=1)
    assert all(torch.equal(a[i]["clean"], b[i]["clean"]) for i in range(10))
    c = PatchDataset([half_black()], patch=32, length=50, seed=2)
    assert not all(torch.equal(a[i]["clean"], c[i]["clean"]) for i in range(10))
    resumed = PatchDataset([half_black()], patch=32, length=50, seed=1, offset=20)
    assert len(resumed) == 50  # the run's length: a resumed loop counts on from its position
    assert torch.equal(resumed[0]["clean"], a[20]["clean"])


def test_background_patches_are_redrawn():
    plain = PatchDataset([half_black()], patch=32, length=200, seed=0)
    picky = PatchDataset([half_black()], patch=32, length=200, seed=0, min_mean=0.3)
    plain_means = [plain[i]["clean"].mean().item() for i in range(200)]
    assert min(plain_means) == 0.0, "without rejection some patches are pure background"
    assert min(picky[i]["clean"].mean().item() for i in range(200)) >= 0.3


def test_small_images_are_padded_and_crops_are_square_multiples_of_32():
    ds = PatchDataset([np.random.rand(20, 50, 1).astype(np.float32)], patch=32, length=3)
    assert ds[0]["clean"].shape == (1, 32, 32)
    assert center_square(np.zeros((300, 200, 1)), 256).shape == (192, 192, 1)


def test_block_mean_averages_each_block_and_drops_the_ragged_edge():
    a = np.arange(5 * 6, dtype=np.float32).reshape(5, 6, 1)
    out = block_mean(a, 2)
    assert out.shape == (2, 3, 1) and out.dtype == np.float32
    assert out[0, 0, 0] == (0 + 1 + 6 + 7) / 4 and out[1, 2, 0] == (16 + 17 + 22 + 23) / 4
    assert block_mean(a, 1) is a


def test_matrix_scales_draw_averaged_patches_where_the_plane_allows():
    rng = np.random.default_rng(0)
    plane = rng.random((64, 64, 1)).astype(np.float32)
    coarse = PatchDataset([plane], patch=32, length=4, scales=(2,))
    # a 64² crop is the whole plane: the patch is its 2×2 block mean
    assert np.allclose(coarse[0]["clean"].numpy()[0], block_mean(plane, 2)[..., 0])
    # a plane too small for the factor gives native patches
    small = PatchDataset([plane[:40, :40]], patch=32, length=4, scales=(4,))
    patch = small[0]["clean"].numpy()[0]
    assert any(np.array_equal(patch, plane[y : y + 32, x : x + 32, 0])
               for y in range(9) for x in range(9))  # fmt: skip
    # with a choice, both scales occur: pixel-to-pixel ±1 averages to 0 over 4×4 blocks
    checker = np.indices((256, 256)).sum(0)[..., None] % 2 * 2.0 - 1.0
    mixed = PatchDataset([checker.astype(np.float32)], patch=32, length=40, scales=(1, 4))
    spreads = {round(float(mixed[i]["clean"].std()), 3) for i in range(40)}
    assert spreads == {0.0, 1.0}
    native = PatchDataset([plane], patch=32, length=8, seed=3)
    same = PatchDataset([plane], patch=32, length=8, seed=3, scales=(1,))
    assert all(torch.equal(native[i]["clean"], same[i]["clean"]) for i in range(8))


def test_channel_conversion_mono_mean_and_gray_to_rgb():
    from medenoise.data.patches import to_channels

    rgb = np.stack([np.full((4, 4), v, np.float32) for v in (0.1, 0.2, 0.6)], axis=-1)
    np.testing.assert_allclose(to_channels(rgb, 1, "x"), np.full((4, 4, 1), 0.3), atol=1e-6)
    gray = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    out = to_channels(gray, 3, "x")
    assert out.shape == (4, 4, 3) and all(
        np.array_equal(out[..., k], gray[..., 0]) for k in range(3)
    )


def test_value_range_maps_float_training_files(tmp_path):
    import tifffile

    from medenoise.data.patches import load_planes

    path = tmp_path / "mri.tif"
    tifffile.imwrite(path, np.linspace(0, 100, 64, dtype=np.float32).reshape(8, 8))
    own = load_planes([path], 1)[0]  # far above 1: its own range, 0..128 (a power of two)
    mapped = load_planes([path], 1, (0.0, 200.0))[0]
    assert own.max() == 100 / 128 and abs(mapped.max() - 0.5) < 1e-6 and mapped.min() == 0.0
