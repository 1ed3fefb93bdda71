"""TrainConfig sections (flat keys lifted), its one validator, and the `train` options built
from the config's fields (--device, --precision 32|bf16, --set KEY=VALUE)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from medenoise.commands.train import OPTIONS
from medenoise.config import FLAT, ModelConfig, TrainConfig, validated
from medenoise.errors import UserError


def test_flat_and_sectioned_yaml_load_the_same_config(tmp_path):
    flat = {"data": ["d"], "model": {"method": "n2v", "width": 8}, "steps": 7, "patch": 64,
            "n2v_fraction": 0.02, "precision": "bf16", "compile": True}  # fmt: skip
    (tmp_path / "flat.yaml").write_text(yaml.safe_dump(flat))
    a = TrainConfig.from_yaml(tmp_path / "flat.yaml")
    assert (a.optim.steps, a.dataset.patch, a.dataset.data) == (7, 64, ["d"])
    assert a.method_options.n2v_fraction == 0.02 and a.trainer.compile
    assert a.trainer.precision == "bf16-mixed"
    a.to_yaml(tmp_path / "nested.yaml")
    written = yaml.safe_load((tmp_path / "nested.yaml").read_text())
    assert written["optim"]["steps"] == 7 and "steps" not in written
    assert TrainConfig.from_yaml(tmp_path / "nested.yaml") == a
    with pytest.raises(UserError, match="steps given both flat and under optim"):
        validated(TrainConfig, {"steps": 3, "optim": {"steps": 4}}, "options")


def test_every_train_option_is_a_config_field():
    assert set(OPTIONS) <= set(FLAT) | set(TrainConfig.model_fields)
    assert "init" in OPTIONS and "steps" in FLAT


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (dict(model=ModelConfig(noise="gaussian", noise_param="global")), "no level to synth"),
        (dict(model=ModelConfig(noise="impulse:0.1")), "SSDN has no likelihood"),
        (dict(model=ModelConfig(noise="gaussian:5-50"), data_kind="noisy"), "single noise level"),
        (dict(model=ModelConfig(covariance="mu"), balance_noise_levels=True), "weights the SSDN"),
        (dict(model=ModelConfig(method="n2c"), data_kind="noisy"), "n2c is supervised"),
        (dict(model=ModelConfig(method="n2v", noise_param="per-image")), "ssdn only"),
        (dict(model=ModelConfig(method="n2n", noise="impulse:0.1")), "zero-mean"),
        (dict(layout="fmd", pairs=["p"], data_kind="noisy"), "not both"),
        (dict(layout="fmd"), "FMD raw frames are real noisy data"),
        (dict(model=ModelConfig(method="n2n"), data_kind="noisy"), "needs pairs"),
        (dict(matrix_scales=[1, 2], data_kind="noisy"), "for data_kind clean only"),
    ],
)
def test_one_validator_refuses_what_cannot_train_in_one_user_error_line(fields, message):
    with pytest.raises(UserError, match=message) as err:
        validated(TrainConfig, {"data": ["d"], **fields}, "options")
    assert err.value.path is None and not err.value.message.startswith("invalid")
    assert TrainConfig(data=["d"], model=ModelConfig(method="n2v")).dataset.paired is False


@pytest.fixture()
def captured(monkeypatch, tmp_path, cli):
    """Run `train` with its options; the TrainConfig it would train is returned instead."""
    seen = []

    def fake_run(cfg, out, **kw):
        seen.append(cfg)
        return out / "model.safetensors"

    monkeypatch.setattr("medenoise.train.run_training", fake_run)

    def train(*args):
        res = cli("train", tmp_path, "-o", tmp_path / "r", *args)
        return res, (seen[-1] if seen and res.exit_code == 0 else None)

    return train


def test_device_maps_to_accelerator_and_devices(captured):
    assert captured("--device", "cpu")[1].trainer.model_dump(include={"accelerator", "devices"}) \
        == {"accelerator": "cpu", "devices": 1}  # fmt: skip
    cfg = captured("--device", "cuda:1")[1]
    assert (cfg.trainer.accelerator, cfg.trainer.devices) == ("gpu", "1,")
    cfg = captured("--accelerator", "cpu", "--devices", "2", "--strategy", "ddp")[1]
    assert (cfg.trainer.accelerator, cfg.trainer.devices, cfg.trainer.strategy) == ("cpu", 2, "ddp")
    for bad in (["--device", "tpu"], ["--device", "cuda", "--accelerator", "cpu"]):
        res, _ = captured(*bad)
        assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output


@pytest.mark.parametrize(
    ("given", "lightning"),
    [
        ("32", "32-true"),
        ("bf16", "bf16-mixed"),
        ("bf16-mixed", "bf16-mixed"),
        ("16-mixed", "16-mixed"),
    ],
)
def test_precision_takes_denoise_and_lightning_names(captured, given, lightning):
    assert captured("--precision", given)[1].trainer.precision == lightning


def test_existing_options_and_set_reach_their_fields(captured):
    res, cfg = captured(
        "--method", "n2v", "--n2v-fraction", "0.03", "--range", "0,150", "--compile",
        "--level-from-synthesis", "--steps", "9", "--batch-size", "2", "--val", "v",
        "--set", "rampup=0.02", "--set", "optim.rampdown=0.5", "--set", "val_crop=64",
        "--matrix-scales", "1,2,4",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert cfg.model.method == "n2v" and cfg.method_options.n2v_fraction == 0.03
    assert cfg.dataset.value_range == (0.0, 150.0) and cfg.dataset.val == ["v"]
    assert cfg.trainer.compile and cfg.method_options.level_from_synthesis
    assert (cfg.optim.steps, cfg.optim.rampup, cfg.optim.rampdown) == (9, 0.02, 0.5)
    assert (cfg.dataset.batch_size, cfg.dataset.val_crop) == (2, 64)
    assert cfg.dataset.matrix_scales == [1, 2, 4]
    for bad, message in ((["--set", "nope=1"], "config field"), (["--set", "rampup"], "KEY=VALUE"),
                         (["--set", "patch=50"], "multiple of 32"),
                         (["--matrix-scales", "1,x"], "whole factors"),
                         (["--matrix-scales", "1,9"], "matrix_scales")):  # fmt: skip
        res, _ = captured(*bad)
        assert res.exit_code == 2 and message in res.output, res.output


def test_run_training_takes_a_ready_module_and_datamodule(tmp_path):
    from medenoise.data.datamodule import PlanesDataModule
    from medenoise.methods import build_method
    from medenoise.modelfile import load_module
    from medenoise.train import run_training

    cfg = TrainConfig(model=ModelConfig(method="n2v", width=8), steps=2, batch_size=1, patch=32,
                      checkpoint_every=2, data_kind="noisy")  # fmt: skip
    module = build_method(cfg.model, cfg)
    planes = [np.random.default_rng(0).random((40, 40, 1), np.float32)]
    path = run_training(cfg, tmp_path / "run", progress=False, module=module,
                        datamodule=PlanesDataModule(cfg, planes=planes))  # fmt: skip
    saved = load_module(path).state_dict()
    assert all(np.array_equal(saved[k].numpy(), v.numpy()) for k, v in module.state_dict().items())
