"""`--pd` on denoise and evaluate: the wrapped model's output, labels and input checks."""

import json

import numpy as np
import pytest
from PIL import Image as PILImage

from medenoise.api import load_model
from medenoise.correlated import PixelShuffleDenoiser, parse_pd, with_pd
from medenoise.errors import UserError


def one_error_line(result, needle):
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], result.output


def test_denoise_pd_writes_the_pixel_shuffled_result(cli, gray_png, model_file, tmp_path):
    res = cli("denoise", gray_png, "-o", tmp_path / "pd", "--model", model_file, "--pd", "2")
    assert res.exit_code == 0, res.output
    plain = cli("denoise", gray_png, "-o", tmp_path / "plain", "--model", model_file)
    assert plain.exit_code == 0, plain.output
    got = np.asarray(PILImage.open(tmp_path / "pd" / "img.png"))
    arr = np.asarray(PILImage.open(gray_png))
    want = PixelShuffleDenoiser(load_model(model_file), 2).denoise(arr)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    assert not np.array_equal(got, np.asarray(PILImage.open(tmp_path / "plain" / "img.png")))


def test_denoise_pd_refuses_bad_values_and_other_models(cli, gray_png, model_file, tmp_path):
    base = ["denoise", gray_png, "-o", tmp_path / "o"]
    one_error_line(cli(*base, "--model", model_file, "--pd", "x"), "--pd x")
    one_error_line(cli(*base, "--model", model_file, "--pd", "0"), "--pd 0")
    one_error_line(cli(*base, "--model", "nlm", "--pd", "2"), "blind-spot")
    one_error_line(cli(*base, "--pd", "auto"), "--model")


def test_evaluate_pd_wraps_blind_spot_models_only(cli, gray_png, model_file):
    args = ["evaluate", "--clean", gray_png.parent, "--noise", "gaussian:25", "--json"]
    res = cli(*args, "--model", model_file, "--model", "identity", "--pd", "2")
    assert res.exit_code == 0, res.output
    rows = {m["model"]: m for m in json.loads(res.output)["models"]}
    assert set(rows) == {"m+pd2", "identity"}
    plain = json.loads(cli(*args, "--model", model_file).output)
    assert plain["model"] == "m"
    assert plain["mean"]["psnr"] != rows["m+pd2"]["mean"]["psnr"]


def test_parse_pd():
    assert parse_pd(None) is False and parse_pd("auto") is None and parse_pd(" 3") == 3
    for bad in ("9", "-1", "two"):
        with pytest.raises(UserError, match="stride from 1 to 8"):
            parse_pd(bad)
    den = object()
    assert with_pd(den, None) is den
