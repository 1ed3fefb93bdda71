"""`medenoise demo` end to end on the real MRI/CT slices shipped in dependencies (tiny model)."""

from __future__ import annotations

import json

from PIL import Image

from medenoise.modelfile import save_model
from tiny_models import make_tiny_model


def test_demo_scores_writes_and_fine_tunes(tmp_path, one_thread, cli):
    model = save_model(
        make_tiny_model("ssdn"),
        tmp_path / "tiny.safetensors",
    )
    out = tmp_path / "demo"
    res = cli("demo", "--model", model, "-o", out, "--json", "--finetune-steps", "2")
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    rows = {(r["image"], r["method"]): r for r in result["rows"]}
    assert {i for i, _ in rows} == {"MRI s1045", "CT_small"}
    assert {m for _, m in rows} == {"noisy", "BM3D", "SSDN", "SSDN fine-tuned"}
    for image in ("MRI s1045", "CT_small"):
        # σ = 25/255 on [0, 1] is 20.17 dB of PSNR before clipping
        assert abs(rows[image, "noisy"]["psnr"] - 20.17) < 0.3
        assert rows[image, "BM3D"]["psnr"] > rows[image, "noisy"]["psnr"] + 8
    assert result["finetune_steps"] == 2
    fig = Image.open(out / "comparison.png")
    assert fig.size[0] > 1000 and fig.size[1] > 400
    assert len(list(out.glob("*.png"))) == 11  # 2 × (clean + 4 results) + the figure


def test_demo_without_a_model_is_one_line_exit_2(tmp_path, cli):
    res = cli("demo", "--model", "no-such-model", "-o", tmp_path)
    assert res.exit_code == 2
    assert "no-such-model" in res.output and len(res.output.strip().splitlines()) == 1
