"""Study runner end to end on a tiny study: train, evaluate, render; re-run only re-renders."""

import csv
import json

import numpy as np
import pytest
import yaml
from PIL import Image as PILImage
from test_report import open_in_chromium  # tests/eval is on sys.path (rootdir-less layout)

from medenoise.errors import UserError
from medenoise.eval.study import run_study
from medenoise.eval.study_config import load_study


def _png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(array).save(path)


@pytest.fixture()
def data(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for k in range(2):
        yy, xx = np.mgrid[0:64, 0:64]
        img = 120 + 60 * np.sin(xx / (4 + k)) * np.cos(yy / 5) + rng.normal(0, 2, (64, 64))
        _png(root / "clean" / f"c{k}.png", np.clip(img, 0, 255).astype(np.uint8))
    gt = np.clip(100 + 50 * np.sin(np.mgrid[0:48, 0:48][1] / 3), 0, 255)
    _png(root / "fmd" / "Cfg" / "gt" / "19" / "avg50.png", gt.astype(np.uint8))
    for f in range(4):
        noisy = np.clip(gt + rng.normal(0, 15, gt.shape), 0, 255).astype(np.uint8)
        _png(root / "fmd" / "Cfg" / "raw" / "19" / f"f{f}.png", noisy)
    return root


STUDY = {
    "name": "tiny",
    "title": "Tiny <study>",
    "description": "Two variants on two images.",
    "notes": "Test study.",
    "data_root": "data",
    "train_data": ["clean"],
    "budgets": {
        "small": {
            "steps": 3,
            "patch": 32,
            "batch_size": 2,
            "val_every": 3,
            "checkpoint_every": 3,
            "eval_images": 2,
        }
    },  # fmt: skip
    "variants": [
        {"name": "n2c", "label": "N2C", "method": "n2c", "width": 8},
        {"name": "ssdn-mu", "method": "ssdn", "covariance": "mu", "width": 8},
        {"name": "bm3d", "baseline": "bm3d"},
    ],
    "evaluations": [
        {
            "name": "g25",
            "dataset": "clean",
            "level": "σ=25",
            "clean": ["clean"],
            "noise": "gaussian:25",
            "variants": ["n2c", "bm3d"],
        },  # fmt: skip
        {"name": "raw", "dataset": "FMD", "level": "raw", "fmd": ["fmd"], "fov": ["19"]},
        {"name": "avg2", "dataset": "FMD", "level": "avg2", "fmd": ["fmd"], "avg": 2},
    ],
    "figures": {
        "crops": [{"evaluation": "raw", "image": 1, "crop": 32}],
        "bars": [{"metric": "psnr_var", "evaluations": ["raw", "avg2"]}],
    },  # fmt: skip
}


def write_study(tmp_path, study=STUDY):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(study, allow_unicode=True))
    return path


def test_tiny_study_runs_end_to_end_and_reruns_only_render(tmp_path, data, monkeypatch):
    path, out = write_study(tmp_path), tmp_path / "out"
    report = run_study(path, out, "small", log=lambda m: None)
    assert report == out / "report.html"
    for v in ("n2c", "ssdn-mu"):
        assert (out / "runs" / v / "model.safetensors").is_file()
    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    got = {(r["variant"], r["evaluation"]) for r in rows}
    assert got == {("n2c", "g25"), ("bm3d", "g25"), *((v, e) for v in ("n2c", "ssdn-mu", "bm3d")
                                                      for e in ("raw", "avg2"))}  # fmt: skip
    assert all(r["images"] == "2" for r in rows)  # budget's eval_images cap
    bm3d_raw = next(r for r in rows if r["variant"] == "bm3d" and r["evaluation"] == "raw")
    assert float(bm3d_raw["psnr"]) > float(bm3d_raw["psnr_noisy"])
    md = (out / "tables.md").read_text()
    assert "| N2C |" in md and "(noisy input)" in md and "FMD avg2" in md
    pngs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert pngs == ["bars_0_psnr_var.png", "crops_0_raw.png", "training_curves.png"]
    html = report.read_text()
    assert html.count("<img") == 3 and "Tiny &lt;study&gt;" in html and "budget: small" in html

    # a finished study re-runs without training or evaluating anything
    before = (out / "results" / "raw" / "n2c.json").read_text()

    def refuse(*a, **k):
        raise AssertionError("re-run must not train or evaluate")

    monkeypatch.setattr("medenoise.train.run_training", refuse)
    monkeypatch.setattr("medenoise.eval.evaluate.evaluate", refuse)
    run_study(path, out, "small", log=lambda m: None)
    assert (out / "results" / "raw" / "n2c.json").read_text() == before
    verdict, console = open_in_chromium(report, tmp_path)
    assert verdict["images"] == 3 and all(w > 0 for w in verdict["widths"]), verdict
    assert not verdict["errors"] and not console


def test_a_study_folder_refuses_another_budget(tmp_path, data):
    study = dict(STUDY, budgets={**STUDY["budgets"], "full": {"steps": 5}},
                 variants=[STUDY["variants"][2]],
                 evaluations=[dict(STUDY["evaluations"][1], images=1)], figures={})  # fmt: skip
    path = write_study(tmp_path, study)
    run_study(path, tmp_path / "out", "small", log=lambda m: None)
    with pytest.raises(UserError, match="budget 'small'"):
        run_study(path, tmp_path / "out", "full", log=lambda m: None)
    with pytest.raises(UserError, match="no budget 'huge'"):
        run_study(path, tmp_path / "out2", "huge", log=lambda m: None)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"variants": [{"name": "x", "method": "n2c", "baseline": "bm3d"}]}, "exactly one of"),
        ({"variants": [{"name": "x", "method": "n2c", "init": "y"}]}, "not an earlier variant"),
        (
            {"evaluations": [{"name": "e", "dataset": "d", "level": "l", "clean": ["c"]}]},
            "give noise",
        ),  # fmt: skip
        ({"figures": {"crops": [{"evaluation": "nope"}]}}, "unknown evaluation"),
    ],
)
def test_bad_study_files_give_one_line_errors(tmp_path, change, message):
    path = write_study(tmp_path, {**STUDY, **change})
    with pytest.raises(UserError, match=message):
        load_study(path)


def test_cli_study_prints_the_report_path_and_errors_exit_2(tmp_path, data, cli):
    study = dict(STUDY, variants=[STUDY["variants"][2]],
                 evaluations=[dict(STUDY["evaluations"][1], images=1)], figures={})  # fmt: skip
    path = write_study(tmp_path, study)
    out = cli("study", path, "-o", tmp_path / "o")
    assert out.exit_code == 0, out.output
    assert out.output.strip().endswith("report.html")
    res = json.loads((tmp_path / "o" / "results" / "raw" / "bm3d.json").read_text())
    assert len(res["images"]) == 1
    bad = cli("study", tmp_path / "missing.yaml", "-o", tmp_path / "p")
    assert bad.exit_code == 2 and "no such study file" in bad.output


def test_tables_merge_variants_that_share_a_label(tmp_path):
    from types import SimpleNamespace

    from medenoise.eval.study_config import Study
    from medenoise.eval.study_render import pivot

    study = Study.model_validate({
        "name": "m", "title": "t", "budgets": {"small": {"steps": 1}}, "train_data": ["x"],
        "variants": [{"name": "xr-n2c", "label": "n2c", "method": "n2c"},
                     {"name": "mr-n2c", "label": "n2c", "method": "n2c"}],
        "evaluations": [
            {"name": "xr", "dataset": "X-ray", "level": "P25", "clean": ["a"],
             "noise": "poisson:25",
             "variants": ["xr-n2c"]},
            {"name": "mr", "dataset": "MRI", "level": "G30", "clean": ["b"], "noise": "gaussian:30",
             "variants": ["mr-n2c"]}],
    })  # fmt: skip
    rows = [
        {"variant": "xr-n2c", "label": "n2c", "evaluation": "xr", "psnr": 30.0, "psnr_noisy": 20.0},
        {"variant": "mr-n2c", "label": "n2c", "evaluation": "mr", "psnr": 33.0, "psnr_noisy": 21.0},
    ]
    table = pivot(SimpleNamespace(study=study), rows, "psnr")
    assert table["columns"] == ["variant", "X-ray P25", "MRI G30"]
    assert table["rows"] == [
        {"variant": "n2c", "X-ray P25": 30.0, "MRI G30": 33.0},
        {"variant": "(noisy input)", "X-ray P25": 20.0, "MRI G30": 21.0},
    ]


def test_rgb_files_with_gray_models_and_baselines_render_crops(tmp_path):
    """RGB clean files, a gray model and a baseline: the baseline sees the gray data its
    row is compared with, and the crop grid shows everything in gray (no shape mismatch)."""
    rng = np.random.default_rng(1)
    root = tmp_path / "data"
    for k in range(2):
        _png(root / "rgb" / f"c{k}.png", rng.integers(60, 200, (64, 64, 3), dtype=np.uint8))
    study = {
        **STUDY,
        "train_data": ["rgb"],
        "variants": [
            {"name": "n2c", "method": "n2c", "width": 8},
            {"name": "bm3d", "baseline": "bm3d"},
        ],
        "evaluations": [
            {
                "name": "g25",
                "dataset": "rgb",
                "level": "σ=25",
                "clean": ["rgb"],
                "noise": "gaussian:25",
            },
        ],  # fmt: skip
        "figures": {"crops": [{"evaluation": "g25", "image": 0, "crop": 32}]},
    }
    report = run_study(write_study(tmp_path, study), tmp_path / "out", "small")
    assert report.is_file()
    base = tmp_path / "out" / "results" / "g25"
    assert np.load(base / "bm3d.0.npy").shape == (64, 64, 1)
    assert (tmp_path / "out" / "figures" / "crops_0_g25.png").is_file()


def test_a_warm_budget_starts_variants_from_their_warm_init(tmp_path, data):
    from medenoise.eval.study import StudyRun

    study = dict(
        STUDY,
        budgets={
            "small": STUDY["budgets"]["small"],
            "warm": {
                "steps": 10,
                "warm_start": True,
                "warm_lr": 5e-5,
                "level_lr": 0.01,
                "scratch_steps_scale": 3,
            },
        },
        variants=[
            {"name": "n2c", "method": "n2c", "width": 8},
            {"name": "ssdn", "method": "ssdn", "warm_init": "ssdn-med-gray"},
            {"name": "tuned", "method": "ssdn", "init": "ssdn", "steps_scale": 0.5},
        ],
        evaluations=[STUDY["evaluations"][1]],
        figures={},
    )
    path = write_study(tmp_path, study)
    parsed = load_study(path)

    def config(budget, name):
        run = StudyRun(parsed, path, tmp_path / budget, budget, data)
        return run.train_config(parsed.variant(name))

    warm = config("warm", "ssdn")
    assert (warm.init, warm.optim.lr, warm.optim.steps) == ("ssdn-med-gray", 5e-5, 10)
    assert warm.optim.level_lr == 0.01
    scratch = config("warm", "n2c")  # no zoo start: from scratch, longer, default rate
    assert (scratch.init, scratch.optim.steps) == (None, 30)
    assert scratch.optim.lr == type(warm.optim).model_fields["lr"].default
    tuned = config("warm", "tuned")  # an earlier variant's run still wins over warm_init
    assert tuned.init.endswith("ssdn/model.safetensors") and tuned.optim.steps == 5
    small = config("small", "ssdn")  # other budgets ignore warm_init
    assert small.init is None and small.optim.steps == 3


def test_warm_init_on_a_baseline_is_refused(tmp_path):
    variants = [{"name": "b", "baseline": "bm3d", "warm_init": "ssdn-med-gray"}]
    with pytest.raises(UserError, match="warm_init is for a variant that trains"):
        load_study(write_study(tmp_path, {**STUDY, "variants": variants}))


def test_a_prior_of_row_scores_the_named_networks_mu_without_training(tmp_path, data):
    study = dict(
        STUDY,
        variants=[
            {"name": "ssdn", "method": "ssdn", "noise": "gaussian:25", "width": 8},
            {"name": "ssdn-mu-only", "prior_of": "ssdn"},
        ],
        evaluations=[dict(STUDY["evaluations"][0], variants=["ssdn", "ssdn-mu-only"])],
        figures={},
    )
    out = tmp_path / "out"
    run_study(write_study(tmp_path, study), out, "small", log=lambda m: None)
    assert not (out / "runs" / "ssdn-mu-only").exists()  # nothing trained for the μ row
    folder = out / "results" / "g25"
    post, mu = (json.loads((folder / f"{n}.json").read_text()) for n in ("ssdn", "ssdn-mu-only"))
    assert mu["model"] == post["model"]
    assert mu["mean"]["psnr"] != post["mean"]["psnr"]


@pytest.mark.parametrize(
    "variants, message",
    [
        ([{"name": "m", "prior_of": "s"}], "not an earlier variant"),
        ([{"name": "s", "method": "n2c"}, {"name": "m", "prior_of": "s"}], "SSDN with a posterior"),
        (
            [{"name": "s", "method": "ssdn", "covariance": "mu"}, {"name": "m", "prior_of": "s"}],
            "SSDN with a posterior",
        ),
        ([{"name": "m", "prior_of": "s", "baseline": "bm3d"}], "exactly one of"),
    ],
)
def test_a_bad_prior_of_is_refused(tmp_path, variants, message):
    with pytest.raises(UserError, match=message):
        load_study(write_study(tmp_path, {**STUDY, "variants": variants, "evaluations": []}))


def test_an_rgb_model_on_gray_images_gets_an_own_noise_draw_per_channel(
    tmp_path, data, tiny_model_file, monkeypatch
):
    # synthetic noise is drawn as an RGB model is trained on gray data (three looks); real
    # noise can only be repeated, so FMD planes stay gray for evaluate's gray-in-RGB path
    from medenoise.eval.study import StudyRun

    model = tiny_model_file("n2c", channels=3)
    variants = [{"name": "rgb", "model": str(model)}]
    evaluations = [dict(STUDY["evaluations"][0], variants=["rgb"]), STUDY["evaluations"][1]]
    study = {**STUDY, "variants": variants, "evaluations": evaluations, "figures": {}}
    path = write_study(tmp_path, study)
    parsed = load_study(path)
    run = StudyRun(parsed, path, tmp_path / "out", "small", data)
    asked, samples = [], run.samples
    monkeypatch.setattr(run, "samples", lambda e, c: asked.append(c) or samples(e, c))
    result = run.evaluate(parsed.variant("rgb"), parsed.evaluations[0])
    assert asked == [3] and len(result["images"]) == 2
    synthetic, fmd = (next(e for e in parsed.evaluations if e.name == n) for n in ("g25", "raw"))
    rgb = next(iter(run.samples(synthetic, 3)))
    assert rgb.noisy.shape[-1] == 3 and rgb.clean.shape[-1] == 3
    np.testing.assert_array_equal(rgb.clean[..., 0], rgb.clean[..., 2])
    assert np.abs(rgb.noisy[..., 0] - rgb.noisy[..., 2]).mean() > 0.05  # independent draws
    gray = next(iter(run.samples(synthetic, 1)))
    np.testing.assert_array_equal(gray.clean[..., 0], rgb.clean[..., 0])
    assert next(iter(run.samples(fmd, 3))).noisy.shape[-1] == 1
