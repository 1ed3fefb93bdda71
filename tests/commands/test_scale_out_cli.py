"""Spreading work and faster backends from the CLI: denoise --shard, --backend onnx, export."""

import numpy as np
import pytest
from PIL import Image as PILImage


@pytest.fixture()
def folder(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        img = rng.integers(0, 256, (40, 50), dtype=np.uint8)
        PILImage.fromarray(img).save(src / f"{i}.png")
    return src


def test_shards_split_a_folder_without_overlap(cli, tmp_path, folder):
    seen = []
    for i in range(2):
        out = tmp_path / f"out{i}"
        res = cli("denoise", folder, "-o", out, "--model", "identity", "--shard", f"{i}/2")
        assert res.exit_code == 0, res.output
        seen.append(sorted(p.name for p in out.iterdir()))
    assert seen == [["0.png", "2.png", "4.png"], ["1.png", "3.png"]]


@pytest.mark.parametrize("bad", ["2/2", "1", "a/b", "-1/3"])
def test_bad_shard_is_one_line_exit_2(cli, tmp_path, folder, bad):
    res = cli("denoise", folder, "-o", tmp_path / "o", "--model", "identity", "--shard", bad)
    assert res.exit_code == 2
    assert "--shard" in res.output and len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_onnx_backend_denoises_like_torch(
    cli, tmp_path, folder, model_file, monkeypatch, one_thread
):
    monkeypatch.setenv("MEDENOISE_CACHE", str(tmp_path / "cache"))
    outs = {}
    for backend in ("torch", "onnx"):
        out = tmp_path / backend
        res = cli(
            "denoise",
            folder / "0.png",
            "-o",
            out,
            "--model",
            model_file,
            "--noise",
            "gaussian:25",
            "--backend",
            backend,
        )
        assert res.exit_code == 0, res.output
        outs[backend] = np.asarray(PILImage.open(out / "0.png"), dtype=np.int16)
    assert np.abs(outs["torch"] - outs["onnx"]).max() <= 1  # 8-bit rounding at most
    assert len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 1


def test_export_writes_onnx_once(cli, tmp_path, model_file, one_thread, monkeypatch):
    onnx = pytest.importorskip("onnx")
    monkeypatch.setenv("MEDENOISE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "m.onnx"
    res = cli("export", model_file, "-o", out)
    assert res.exit_code == 0, res.output
    graph = onnx.load(str(out)).graph
    assert [i.name for i in graph.input] == ["noisy", "params"]
    again = cli("export", model_file, "-o", out)
    assert again.exit_code == 2 and "exists" in again.output
    from medenoise.inference.onnx import cache_dir

    cached = list((cache_dir() / "onnx").glob("*.onnx"))  # --backend onnx will read this one
    assert len(cached) == 1 and cached[0].read_bytes() == out.read_bytes()
    bad = cli("export", model_file, "-o", tmp_path / "m.txt")
    assert bad.exit_code == 2 and ".onnx" in bad.output


def test_denoise_batch_sends_stack_planes_together(
    cli, tmp_path, model_file, monkeypatch, one_thread
):
    """`--batch 3` on a 4-plane TIFF stack: two network calls (3 + 1 planes), same file as
    plane by plane; `--batch 0` is refused before anything is written."""
    import tifffile

    from medenoise.methods.ssdn import SSDN

    stack = np.random.default_rng(1).integers(0, 65535, (4, 40, 50), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "s.tif", stack, photometric="minisblack")
    calls, original = [], SSDN.denoise

    def spy(self, y, params=None):
        calls.append(y.shape[0])
        return original(self, y, params)

    monkeypatch.setattr(SSDN, "denoise", spy)
    outs = {}
    for batch in (None, 3):
        out = tmp_path / f"b{batch}"
        extra = [] if batch is None else ["--batch", batch]
        extra += ["--backend", "torch", "--precision", "32"]  # no probe: only the planes' calls
        res = cli("denoise", tmp_path / "s.tif", "-o", out, "--model", model_file, *extra)
        assert res.exit_code == 0, res.output
        outs[batch] = tifffile.imread(out / "s.tif").astype(np.int32)
    assert calls == [1, 1, 1, 1, 3, 1]
    assert np.abs(outs[None] - outs[3]).max() <= 1  # 16-bit rounding at most
    bad = cli(
        "denoise", tmp_path / "s.tif", "-o", tmp_path / "o", "--model", model_file, "--batch", 0
    )
    assert bad.exit_code == 2 and not (tmp_path / "o").exists()


def test_denoise_precision_bf16_runs_the_network_in_bfloat16(cli, tmp_path, folder, model_file):
    outs = {}
    for precision in ("32", "bf16"):
        out = tmp_path / precision
        res = cli(
            "denoise", folder / "0.png", "-o", out, "--model", model_file, "--precision", precision
        )
        assert res.exit_code == 0, res.output
        outs[precision] = np.asarray(PILImage.open(out / "0.png"), dtype=np.int16)
    diff = np.abs(outs["32"] - outs["bf16"])
    assert 0 < diff.max() <= 8  # bfloat16 has 8 mantissa bits: close, not identical
    bad = cli("denoise", folder, "-o", tmp_path / "o", "--model", model_file, "--precision", "8")
    assert bad.exit_code == 2 and "precision" in bad.output
    bad = cli(
        *("denoise", folder, "-o", tmp_path / "o", "--model", model_file),
        *("--precision", "bf16", "--backend", "onnx"),
    )
    assert bad.exit_code == 2 and "bf16" in bad.output
