"""Model files: safetensors + JSON config round-trip, validation, and no unpickling."""

import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

from medenoise.config import ModelConfig
from medenoise.errors import UserError
from medenoise.methods import build_method
from medenoise.modelfile import load_module, read_header, save_model

CONFIGS = [
    ModelConfig(method="ssdn", noise="gaussian:25", width=8),
    ModelConfig(method="ssdn", noise="poisson", noise_param="global", channels=3, width=8),
    ModelConfig(method="ssdn", noise="pg", noise_param="per-image", width=8),
    ModelConfig(method="ssdn", noise="gaussian:25", covariance="mu", width=8),
    ModelConfig(method="n2c", noise="gaussian:25", width=8),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.method}-{c.noise}-{c.noise_param}")
def test_save_load_gives_identical_outputs(tmp_path, config):
    torch.manual_seed(0)
    module = build_method(config).eval()
    if config.noise_param == "global":
        with torch.no_grad():
            module.noise_param.theta.fill_(0.7)  # a learned value must travel too
    y = torch.rand(1, config.channels, 32, 32)
    path = save_model(module, tmp_path / "m.safetensors")
    loaded = load_module(path)
    assert loaded.model_config == module.model_config
    with torch.no_grad():
        params = None if config.noise_param != "known" else module.noise.fixed_params(1)
        assert torch.equal(module.denoise(y, params), loaded.denoise(y, params))


def test_half_precision_file_is_smaller_and_close(tmp_path):
    module = build_method(CONFIGS[0]).eval()
    full = save_model(module, tmp_path / "f.safetensors")
    half = save_model(module, tmp_path / "h.safetensors", half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    y = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        a = module.denoise(y, module.noise.fixed_params(1))
        b = load_module(half).denoise(y, module.noise.fixed_params(1))
    assert (a - b).abs().max() < 1e-2


def test_pickle_checkpoints_are_refused(tmp_path):
    for suffix in (".ckpt", ".pt", ".pth"):
        path = tmp_path / f"model{suffix}"
        path.write_bytes(b"whatever")
        with pytest.raises(UserError, match="pickle"):
            load_module(path)


class Boom:
    def __reduce__(self):
        return (exec, ("raise SystemExit('pickle payload executed')",))


def test_loading_never_unpickles(tmp_path, monkeypatch):
    def no_unpickling(*args, **kwargs):
        raise AssertionError("model loading tried to unpickle")

    monkeypatch.setattr(pickle, "loads", no_unpickling)
    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(torch, "load", no_unpickling)
    path = save_model(build_method(CONFIGS[0]), tmp_path / "m.safetensors")
    load_module(path)
    # a pickle payload disguised inside the metadata is just text to us
    state = {"x": torch.zeros(1)}
    bad = tmp_path / "evil.safetensors"
    payload = pickle.dumps(Boom(), protocol=0).decode("latin1")
    save_file(state, str(bad), metadata={"format": "medenoise-model", "config": payload})
    with pytest.raises(UserError):
        load_module(bad)


def test_header_is_validated_before_building(tmp_path):
    path = tmp_path / "m.safetensors"
    meta = {
        "format": "medenoise-model",
        "config": json.dumps({"method": "magic", "noise": "gaussian:25"}),
    }
    save_file({"x": torch.zeros(1)}, str(path), metadata=meta)
    with pytest.raises(UserError, match="method"):
        read_header(path)
    meta["config"] = json.dumps({"version": 99})
    save_file({"x": torch.zeros(1)}, str(path), metadata=meta)
    with pytest.raises(UserError, match="newer"):
        read_header(path)
    save_file({"x": torch.zeros(1)}, str(path), metadata={"format": "other"})
    with pytest.raises(UserError, match="no medenoise config"):
        read_header(path)
    path.write_bytes(b"\x00" * 10)
    with pytest.raises(UserError, match="safetensors"):
        read_header(path)


def test_weights_that_do_not_match_the_config_are_refused(tmp_path):
    module = build_method(CONFIGS[0])
    path = save_model(module, tmp_path / "m.safetensors")
    from safetensors.torch import load_file

    state = load_file(str(path))
    key = next(iter(state))
    state[key] = torch.zeros(3, 3)
    meta = {"format": "medenoise-model", "config": module.model_config.model_dump_json()}
    save_file(state, str(path), metadata=meta)
    with pytest.raises(UserError, match="shape"):
        load_module(path)
