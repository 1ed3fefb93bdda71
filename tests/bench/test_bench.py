"""`medenoise bench --quick` end to end: every part runs, ratios and files are consistent."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def quick_result(tmp_path_factory, cli):
    out = tmp_path_factory.mktemp("bench")
    res = cli("bench", "--quick", "--json", "-o", out)
    assert res.exit_code == 0, res.output
    files = list(out.glob("*.json"))
    assert len(files) == 1
    printed = json.loads(res.stdout)
    assert json.loads(files[0].read_text()) == printed
    return printed


def test_inference_rows_cover_every_method_and_size(quick_result):
    rows = quick_result["inference"]
    methods = {r["method"] for r in rows}
    assert {"ssdn", "plain U-Net", "bm3d", "vst-bm3d"} <= methods
    small, large = quick_result["plan"]["sizes"]
    for m in methods:
        sizes = sorted(r["size"] for r in rows if r["method"] == m)
        assert sizes == [small, large]
    for r in rows:
        assert r["mpix_s"] > 0 and r["seconds"] > 0
        if r["method"] == "bm3d":
            assert r["vs_bm3d"] == 1.0
    # the large size really goes through several tiles of the tiled path
    for r in rows:
        if r["size"] == large:
            done, total = r["tiles"].split(" ")[0].split("/")
            assert int(total) > 1 and 1 <= int(done) <= int(total)
    # BM3D on the small image is scored and denoises; random-weight nets are not scored
    bm3d = next(r for r in rows if r["method"] == "bm3d" and r["size"] == small)
    assert bm3d["psnr"] > bm3d["psnr_noisy"] + 3
    assert all(r.get("psnr") is None for r in rows if r["method"] == "ssdn")


def test_training_rows_are_consistent(quick_result):
    rows = {r["method"]: r for r in quick_result["training"]}
    assert set(rows) == {"ssdn", "n2v", "n2c"}
    assert rows["n2c"]["cost_vs_n2c"] == 1.0
    # the ratio is what the rates say (timings themselves are not asserted: unit tests run
    # on busy machines; speed targets live in BENCHMARKS.md)
    for m in ("ssdn", "n2v"):
        assert rows[m]["cost_vs_n2c"] == round(rows["n2c"]["steps_s"] / rows[m]["steps_s"], 2)
        batch, patch = rows[m]["batch"], rows[m]["patch"]
        assert abs(rows[m]["mpix_s"] - rows[m]["steps_s"] * batch * patch**2 / 1e6) < 1e-3


def test_quality_rows_train_within_budget_and_score(quick_result):
    rows = {r["method"]: r for r in quick_result["quality"]}
    assert {"ssdn", "n2v", "n2c", "bm3d", "noisy input"} <= set(rows)
    for m in ("ssdn", "n2v", "n2c"):
        assert rows[m]["steps"] >= 1 and rows[m]["train_s"] > 0
    assert rows["bm3d"]["psnr"] > rows["noisy input"]["psnr"] + 3


def test_markdown_tables_name_the_machine(quick_result):
    from medenoise.bench.tables import markdown

    text = markdown(quick_result)
    assert quick_result["machine"]["cpu"] in text
    assert text.count("| method |") == 3


def test_parts_and_width_select_what_runs(tmp_path, cli):
    res = cli(
        "bench", "--quick", "--json", "-o", tmp_path, "--parts", "training", "--width", "4",
        "--no-onnx",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    assert "inference" not in result and "quality" not in result
    assert {r["width"] for r in result["training"]} == {4}
    bad = cli("bench", "--quick", "--parts", "speed", "-o", tmp_path)
    assert bad.exit_code == 2 and "speed" in bad.output


def test_stack_rows_time_batched_planes(tmp_path, cli):
    """`--stack N`: each network gets one more row, N planes of the small size sent as a stack
    (batched where the denoiser batches), scored like the single plane."""
    args = ["bench", "--quick", "--json", "-o", str(tmp_path), "--parts", "inference"]
    res = cli(*args, "--no-onnx", "--sizes", "64", "--stack", "3")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)["inference"]
    stacked = {r["method"]: r for r in rows if r["stack"] == 3}
    single = {r["method"]: r for r in rows if r["stack"] == 1}
    assert set(stacked) == {"ssdn", "plain U-Net"}  # BM3D is per plane anyway
    for name, r in stacked.items():
        assert r["size"] == 64 and r["psnr_noisy"] == single[name]["psnr_noisy"]
        mpix, s = 3 * 64 * 64 / 1e6, r["seconds"]  # 3 planes; seconds rounded to 1 ms
        assert mpix / (s + 5e-4) <= r["mpix_s"] <= mpix / max(s - 5e-4, 1e-9)
    bad = cli(*args, "--stack", "0")
    assert bad.exit_code == 2 and "--stack" in bad.output
