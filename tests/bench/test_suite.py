"""`medenoise bench --suite fast`: child measurements are each child's own, ratios and
targets follow the rows, and the whole suite runs end to end on a tiny student."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from medenoise.bench import suite
from medenoise.bench.child import run_child
from medenoise.bench.tables import suite_markdown

ALLOC = "import numpy as np, time; a = np.ones({n} * 2**20 // 8); a += 1; time.sleep({s})"


def _isolated_run_child(code: str, timeout: float, parent_mib: int = 0) -> dict:
    """run_child called from a fresh interpreter (holding `parent_mib` MiB of its own): a test
    worker that other tests' children or signal handlers have touched must not reap or skew
    the child being measured."""
    call = (
        "import json, sys, numpy as np; from medenoise.bench.child import run_child; "
        f"a = np.ones({parent_mib} * 2**20 // 8); a += 1; "
        f"print(json.dumps(run_child([sys.executable, '-c', {code!r}], timeout={timeout})))"
    )
    done = subprocess.run([sys.executable, "-c", call], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_each_child_reports_its_own_peak_memory_and_a_timeout_stops_it():
    assert run_child([sys.executable, "-c", "pass"], timeout=60)["rc"] == 0  # in-process too
    big = _isolated_run_child(ALLOC.format(n=300, s=0), timeout=120)
    small = _isolated_run_child(ALLOC.format(n=20, s=0), timeout=120)
    assert big["rc"] == small["rc"] == 0 and not big["timed_out"]
    assert big["peak_mib"] > 300 > small["peak_mib"]  # not the largest child so far
    assert big["cpu_s"] > 0 and big["wall_s"] >= big["cpu_s"] / 64
    slow = _isolated_run_child(ALLOC.format(n=1, s=60), timeout=1.0)
    assert slow["timed_out"] and slow["wall_s"] < 30
    failed = _isolated_run_child("raise SystemExit(3)", timeout=60)
    assert failed["rc"] == 3


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_a_small_child_of_a_large_parent_reports_its_own_peak():
    # Linux carries the parent's memory high-water mark into an exec'ed child's ru_maxrss;
    # the child's own peak must not include the 400 MiB the parent holds
    small = _isolated_run_child(ALLOC.format(n=20, s=0.3), timeout=120, parent_mib=400)
    assert small["rc"] == 0 and 20 < small["peak_mib"] < 200


def test_labels_name_zoo_models_files_and_model_folders():
    assert suite.label("bm3d") == "bm3d"
    assert suite.label("ssdn-gauss25-gray") == "ssdn-gauss25-gray"
    assert suite.label("runs/a/student.safetensors") == "student"
    assert suite.label("zoo/partial/ssdn-x-fast/model.safetensors") == "ssdn-x-fast"


def _row(model: str, method: str, seconds: float, four: float, rad: float, peak: float):
    return {
        "model": model,
        "net": {"seconds": seconds, "mpix_s": 0.25 / seconds, "method": method},
        "four": {"wall_s": four, "mpix": 1.0, "rc": 0, "timed_out": False, "peak_mib": 600.0},
        "radiograph": dict(wall_s=rad, mpix=3.6, rc=0, timed_out=False, peak_mib=peak, cpu_s=rad),
        "big": {"skipped": "est. > 300 s"},
    }


def test_ratios_and_targets_come_from_the_rows():
    rows = [
        _row("teacher", "ssdn", 16.0, 70.0, 400.0, 9000.0),
        _row("student", "student", 0.5, 8.0, 20.0, 1500.0),
        _row("bm3d", "bm3d", 8.0, 36.0, 120.0, 900.0),
    ]
    suite.add_ratios(rows)
    student = rows[1]
    assert student["net"]["x_teacher"] == 32.0 and student["net"]["x_bm3d"] == 16.0
    assert student["four"]["x_bm3d"] == 4.5 and rows[2]["net"]["x_bm3d"] == 1.0
    assert student["radiograph"]["x_teacher"] == 20.0
    met = {t["what"]: t["met"] for t in suite.targets(rows)}
    assert {t["model"] for t in suite.targets(rows)} == {"student"}  # students only
    assert met["512² MPix/s × teacher"] and met["512² MPix/s × BM3D"]
    assert met["CLI four 512² × BM3D"] is False  # 4.5 < 5
    assert met["radiograph wall s"] and met["radiograph peak RSS GiB"]
    rows[1]["radiograph"].update(peak_mib=2200.0, wall_s=31.0)
    met = {t["what"]: t["met"] for t in suite.targets(rows)}
    assert met["radiograph wall s"] is False and met["radiograph peak RSS GiB"] is False
    rows[1]["radiograph"]["timed_out"] = True  # a stopped run meets nothing, fails nothing
    assert {t["what"]: t["met"] for t in suite.targets(rows)}["radiograph wall s"] is None
    text = suite_markdown({"size": 512, "big": 4096, "rows": rows, "targets": []})
    assert "| student | 0.5 | 0.5 | 32 | 16 |" in text and "est. > 300 s" in text
    alone = rows[1:]  # the student first: its own reference, so no teacher ratio is judged
    suite.add_ratios(alone)
    assert {t["what"]: t["met"] for t in suite.targets(alone)}["512² MPix/s × teacher"] is None


def test_a_student_is_judged_against_its_own_teacher_only():
    first = _row("ssdn-a", "ssdn", 16.0, 70.0, 400.0, 900.0)
    own, other = (_row(n, "student", 0.5, 8.0, 20.0, 900.0) for n in ("a-fast", "b-fast"))
    own["net"]["teacher"], other["net"]["teacher"] = "ssdn-a", "ssdn-b"
    rows = [first, own, other, _row("bm3d", "bm3d", 8.0, 36.0, 120.0, 900.0)]
    suite.add_ratios(rows)
    judged = {
        t["model"]: t["met"] for t in suite.targets(rows) if t["what"] == "512² MPix/s × teacher"
    }
    assert judged == {"a-fast": True, "b-fast": None}  # b-fast's teacher was not measured


def test_noisy_photos_are_sized_seeded_8_bit():
    a, b = suite.noisy_photo("moon", 96, 1), suite.noisy_photo("moon", 96, 1)
    assert a.shape == (96, 96) and a.dtype.name == "uint8" and (a == b).all()
    assert (suite.noisy_photo("moon", 96, 2) != a).any()
    assert suite.noisy_photo("camera", 700, 0).shape == (700, 700)  # mirrored past 512


@pytest.mark.slow  # six `denoise` children (each imports torch): ~1 min on 2 busy cores
def test_fast_suite_end_to_end(tmp_path, cli):
    from medenoise.modelfile import save_model
    from tiny_models import make_tiny_model

    tiny = make_tiny_model("student", teacher="t", depth=4)
    student = save_model(tiny, tmp_path / "s.safetensors")
    radiograph = tmp_path / "rg.png"
    from PIL import Image

    Image.fromarray(suite.noisy_photo("coins", 200, 3)).save(radiograph)
    out = tmp_path / "res"
    res = cli("bench", "--suite", "fast", "--quick", "--json", "-o", out, "--models",
              f"{student},bm3d", "--radiograph", radiograph)  # fmt: skip
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    assert json.loads(next(out.glob("*.json")).read_text()) == result
    rows = {r["model"]: r for r in result["rows"]}
    assert set(rows) == {"s", "bm3d"} and rows["s"]["net"]["method"] == "student"
    for row in rows.values():
        for part in ("four", "radiograph"):
            assert row[part]["rc"] == 0 and row[part]["peak_mib"] > 50, row[part]
        assert row["net"]["x_teacher"] == (1.0 if row["model"] == "s" else row["net"]["x_teacher"])
    assert rows["bm3d"]["net"]["x_bm3d"] == 1.0
    assert rows["s"]["big"]["rc"] == 0  # students always run the big image
    whats = {t["what"] for t in result["targets"]}
    assert {"512² MPix/s × BM3D", "radiograph peak RSS GiB", "big peak RSS GiB"} <= whats
    assert cli("bench", "--suite", "nope").exit_code == 2


def test_quality_scores_each_model_on_the_sets_its_noise_fits(tmp_path, monkeypatch):
    from PIL import Image

    from medenoise.bench import suite_quality

    clean = suite.noisy_photo("camera", 64, 0)  # any 8-bit image serves as "clean"
    (tmp_path / "set12").mkdir()
    Image.fromarray(clean).save(tmp_path / "set12" / "a.png")
    fmd = tmp_path / "fmd_subset" / suite_quality.FMD_CONFIG
    (fmd / "raw" / "19").mkdir(parents=True)
    (fmd / "gt" / "19").mkdir(parents=True)
    Image.fromarray(clean).save(fmd / "gt" / "19" / "avg50.png")
    rng = np.random.default_rng(0)
    for k in range(2):
        frame = np.clip(clean + rng.normal(0, 20, clean.shape), 0, 255).astype(np.uint8)
        Image.fromarray(frame).save(fmd / "raw" / "19" / f"f{k}.png")
    monkeypatch.setattr(suite_quality, "data_root", lambda: tmp_path)
    assert suite_quality.datasets_for("gaussian:25") == ("set12", "bsd68")
    assert suite_quality.datasets_for("pg") == ("fmd",)
    got = suite_quality.quality("bm3d")  # a baseline: every set present (no bsd68 here)
    assert set(got) == {"set12", "fmd"} and got["fmd"]["images"] == 2
    assert got["set12"]["images"] == 1 and 20 < got["set12"]["psnr"] < 60
