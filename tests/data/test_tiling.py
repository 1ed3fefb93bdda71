"""Tiled inference: equals the untiled network, blends with exact weights, bounds memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

from medenoise.data import tiling
from medenoise.data.tiling import (
    BLIND_SPOT_OVERLAP,
    PLAIN_OVERLAP,
    axis_weights,
    best_tile,
    choose_tile,
    iter_planes,
    reflect_index,
    tile_positions,
    tiled_apply,
)
from medenoise.nets import BlindSpotUNet, UNet

RNG = np.random.default_rng(0)


def make_plane(h: int, w: int, c: int = 1) -> np.ndarray:
    """Smooth structure plus noise, (C, H, W) float32."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = 0.5 + 0.3 * np.sin(xx / 17) * np.cos(yy / 23)
    return (base + 0.1 * RNG.normal(size=(c, h, w))).astype(np.float32)


def untiled(net: torch.nn.Module, plane: np.ndarray, square: bool) -> np.ndarray:
    """The reference: the whole plane padded reflectively (bottom/right) to multiples of 32."""
    c, h, w = plane.shape
    up = lambda v: -(-v // 32) * 32  # noqa: E731
    ph, pw = (up(max(h, w)),) * 2 if square else (up(h), up(w))
    padded = np.pad(plane, ((0, 0), (0, ph - h), (0, pw - w)), mode="reflect")
    with torch.inference_mode():
        return net(torch.from_numpy(padded)[None])[0, :, :h, :w].numpy()


class Counting:
    """Wraps a network as a tile function and records the tile batches it was given."""

    def __init__(self, net):
        self.net, self.shapes = net, []

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(batch.shape))
        with torch.inference_mode():
            return self.net(batch)


@pytest.mark.slow  # ~30 s on 2 CPU cores
def test_blind_spot_tiled_equals_untiled_when_overlap_covers_receptive_field():
    # Context (overlap - ramp) / 2 = 288 px is needed for 1e-4 (the structural reach is 310):
    # tiles of 768 with overlap 640, three tiles across a 300×1000 image.
    torch.manual_seed(0)
    net = BlindSpotUNet(1, 1, width=8).eval()
    plane = make_plane(300, 1000)
    fn = Counting(net)
    out = tiled_apply(fn, plane, tile=768, overlap=BLIND_SPOT_OVERLAP, batch=1)
    assert len(fn.shapes) == 3 and all(s[-2:] == (768, 768) for s in fn.shapes)
    ref = untiled(net, plane, square=True)
    assert out.shape == ref.shape == (1, 300, 1000)
    assert np.abs(out - ref).max() < 1e-4


def test_blind_spot_short_overlap_is_close_and_seamless_but_not_exact():
    # The documented trade-off: context 96 leaves errors of ~1e-2 that the ramps spread out.
    torch.manual_seed(0)
    net = BlindSpotUNet(1, 1, width=8).eval()
    plane = make_plane(300, 500)
    out = tiled_apply(Counting(net), plane, tile=384, overlap=256, batch=4)
    err = np.abs(out - untiled(net, plane, square=True))
    assert 1e-4 < err.max() < 0.1 and err.mean() < 5e-3


def test_plain_unet_tiled_equals_untiled():
    torch.manual_seed(1)
    net = UNet(1, 1, width=8).eval()
    plane = make_plane(300, 500)
    fn = Counting(net)
    out = tiled_apply(fn, plane, tile=384, overlap=PLAIN_OVERLAP, square=False)
    assert sum(s[0] for s in fn.shapes) >= 3
    assert np.abs(out - untiled(net, plane, square=False)).max() < 1e-4


def test_single_tile_is_exactly_the_untiled_run():
    torch.manual_seed(2)
    net = BlindSpotUNet(1, 1, width=8).eval()
    plane = make_plane(70, 100)
    fn = Counting(net)
    out = tiled_apply(fn, plane, tile=512, overlap=BLIND_SPOT_OVERLAP)
    assert fn.shapes == [(1, 1, 128, 128)]  # the square multiple of 32, not the tile size
    np.testing.assert_array_equal(out, untiled(net, plane, square=True))


@pytest.mark.parametrize("square", [True, False])
@pytest.mark.parametrize("shape", [(1, 300, 500), (3, 97, 301), (2, 1, 200)])
def test_constant_fn_gives_exactly_one(shape, square):
    plane = RNG.random(shape, dtype=np.float32)
    out = tiled_apply(torch.ones_like, plane, tile=128, overlap=64, ramp=32, square=square)
    assert out.dtype == np.float32 and out.shape == shape
    assert (out == 1.0).all()


@pytest.mark.parametrize("shape", [(1, 300, 500), (3, 97, 301), (1, 33, 1)])
def test_identity_fn_reproduces_the_plane(shape):
    plane = RNG.random(shape, dtype=np.float32)
    out = tiled_apply(lambda b: b, plane, tile=96, overlap=64, ramp=16)
    np.testing.assert_allclose(out, plane, atol=1e-6)
    tensor = tiled_apply(lambda b: b * 2, torch.from_numpy(plane), tile=64, overlap=32, ramp=8)
    assert isinstance(tensor, torch.Tensor)
    np.testing.assert_allclose(tensor.numpy(), 2 * plane, atol=2e-6)


def test_fn_may_change_the_channel_count():
    plane = RNG.random((1, 80, 90), dtype=np.float32)
    out = tiled_apply(lambda b: torch.cat([b, -b], dim=1), plane, tile=64, overlap=32, ramp=8)
    np.testing.assert_allclose(out, np.concatenate([plane, -plane]), atol=1e-6)


def test_tile_grid_is_aligned_and_windows_sum_to_one():
    for length, tile, stride in [(1024, 256, 128), (1000 // 32 * 32, 384, 96), (640, 640, 32)]:
        pos = tile_positions(length, tile, stride)
        assert pos[0] == 0 and pos[-1] + tile == max(length, tile)
        assert all(p % 32 == 0 for p in pos)
        assert all(0 < b - a <= stride for a, b in zip(pos, pos[1:], strict=False))
        total = np.zeros(max(length, tile))
        for p, w in zip(pos, axis_weights(pos, tile, ramp=64), strict=True):
            total[p : p + tile] += w
        np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_weights_vanish_near_inner_tile_edges():
    # Pixels within (overlap - ramp) / 2 of an edge shared with a neighbour get no weight.
    pos = tile_positions(1024, 512, 512 - 256)
    w = axis_weights(pos, 512, ramp=64)
    context = (256 - 64) // 2
    assert (w[1][:context] == 0).all() and (w[1][-context:] == 0).all()
    assert w[0][0] == 1.0 and w[-1][-1] == 1.0  # image borders keep full weight


def test_reflect_index_matches_numpy_pad():
    for n in (1, 2, 5, 37):
        a = np.arange(n)
        expected = np.pad(a, (0, 3 * n + 3), "reflect" if n > 1 else "edge")
        np.testing.assert_array_equal(a[reflect_index(n, 4 * n + 3)], expected)


def test_overlap_too_large_for_tile_is_an_error():
    with pytest.raises(ValueError, match="overlap"):
        tiled_apply(lambda b: b, np.zeros((1, 300, 300), np.float32), tile=128, overlap=120)


def test_cuda_out_of_memory_halves_the_tile():
    sizes = []

    def fn(batch):
        sizes.append(batch.shape[-1])
        if batch.shape[-1] > 128:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return batch

    plane = RNG.random((1, 300, 500), dtype=np.float32)
    out = tiled_apply(fn, plane, tile=512, overlap=64, ramp=32)
    # 512, then 256 (balanced down to 224 for this plane), then 128
    assert sizes[0] == 512 and any(128 < s <= 256 for s in sizes) and sizes[-1] == 128
    np.testing.assert_allclose(out, plane, atol=1e-6)
    with pytest.raises(torch.cuda.OutOfMemoryError):  # cannot halve below overlap + 32
        tiled_apply(fn, plane, tile=512, overlap=200, ramp=32)


def test_memory_stays_bounded_for_a_large_plane():
    # A cheap "network" whose activations are 8× its input, like a conv layer's feature maps.
    def fn(batch):
        feats = np.repeat(batch.numpy(), 8, axis=1)
        return torch.from_numpy(np.ascontiguousarray(feats.mean(axis=1, keepdims=True)))

    plane = RNG.random((1, 4096, 4096), dtype=np.float32)
    plane_bytes = plane.nbytes  # 64 MiB

    tracemalloc.start()
    out = tiled_apply(fn, plane, tile=512, overlap=64, ramp=32)
    tiled_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del out

    tracemalloc.start()
    whole = fn(torch.from_numpy(plane[None]))
    untiled_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del whole

    # Output + weight plane + a couple of tiles, against 8 feature maps of the whole image.
    assert tiled_peak < 2.5 * plane_bytes
    assert tiled_peak < untiled_peak / 3


def test_choose_tile_follows_free_memory(monkeypatch):
    monkeypatch.setattr(tiling, "available_memory", lambda device=None: 512 * 2**30)
    assert choose_tile("cpu") == tiling.CPU_TILE_CAP == 2048  # capped
    monkeypatch.setattr(tiling, "available_memory", lambda device=None: 8 * 2**30)
    t = choose_tile("cpu", bytes_per_pixel=4096, batch=1, overlap=64)
    assert t % 32 == 0 and t * t * 4096 <= 0.5 * 8 * 2**30 < (t + 32) ** 2 * 4096
    monkeypatch.setattr(tiling, "available_memory", lambda device=None: 0)
    assert choose_tile("cpu", overlap=BLIND_SPOT_OVERLAP) == BLIND_SPOT_OVERLAP + 32


def test_best_tile_needs_the_fewest_network_pixels():
    def cost(h, w, tile, overlap, square):
        (th, ys, _), (tw, xs, _) = tiling._geometry(h, w, tile, overlap, 64, 32, square)
        return sum(1 for y in ys for x in xs if y < h and x < w) * th * tw

    # The chest radiograph (1955×1841) with the blind-spot overlap: 4×4 tiles of 992 beat
    # 4×4 of 1024; with room for 1216, 3×3 tiles of 1088 beat 3×3 of 1216.
    assert best_tile(1955, 1841, 1024) == 992
    assert best_tile(1955, 1841, 1216) == 1088
    assert best_tile(1955, 1841, 2048) == 1984  # one tile: the whole plane
    for h, w, top, overlap, square in [
        (300, 1000, 768, BLIND_SPOT_OVERLAP, True),
        (150, 1000, 480, PLAIN_OVERLAP, False),
        (4000, 3000, 1024, BLIND_SPOT_OVERLAP, True),
        (33, 2500, 416, PLAIN_OVERLAP, False),
    ]:
        t = best_tile(h, w, top, overlap, square)
        assert t % 32 == 0 and overlap + 32 <= t <= top
        assert cost(h, w, t, overlap, square) <= cost(h, w, top, overlap, square)


def test_available_memory_is_positive():
    assert tiling.available_memory("cpu") > 0


def test_iter_planes_streams_views():
    volume = RNG.random((4, 20, 30, 1), dtype=np.float32)
    planes = list(iter_planes(volume))
    assert len(planes) == 4 and all(np.shares_memory(p, volume) for p in planes)
    assert len(list(iter_planes(volume[0]))) == 1
    with pytest.raises(ValueError):
        next(iter_planes(np.zeros((2, 2))))


def test_tiles_shrink_to_the_smallest_side_for_their_count():
    from medenoise.data.tiling import _geometry

    # the radiograph: tiles of 832 at overlap 192 take 3 per axis; 3 of 800 / 768 suffice
    (th, ys, _), (tw, xs, _) = _geometry(1955, 1841, 832, 192, 64, 32, False)
    assert (th, tw, len(ys), len(xs)) == (800, 768, 3, 3)
    assert ys[-1] + th >= 1984 and xs[-1] + tw >= 1856  # the canvas: the sides rounded up to 32
    for starts, side in ((ys, th), (xs, tw)):
        gaps = np.diff(starts)
        assert np.all(side - gaps >= 192)  # every neighbour pair still overlaps by 192
    (sh, _, _), (sw, _, _) = _geometry(1955, 1841, 832, 192, 64, 32, True)
    assert sh == sw == 800  # blind-spot nets keep square tiles
