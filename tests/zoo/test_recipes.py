"""Zoo recipes: each shipped YAML is a valid training config whose data are found relative
to the recipe; `train --config` runs with DATA omitted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medenoise.config import TrainConfig

CONFIGS = Path(__file__).parents[2] / "configs"
# the zoo's recipes and the correlated-noise ones (configs/correlated), checked alike
RECIPES = sorted(CONFIGS.joinpath("zoo").glob("*.yaml")) + sorted(
    CONFIGS.joinpath("correlated").glob("*.yaml")
)


def test_there_are_recipes():
    assert any(r.stem == "ssdn-gauss25-gray" for r in RECIPES)
    assert any(r.parent.name == "correlated" for r in RECIPES)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipe_is_valid_and_its_data_resolve_beside_it(recipe):
    cfg = TrainConfig.from_yaml(recipe, recipe=True)
    from medenoise.data import medical_sets

    for d in cfg.dataset.data + cfg.dataset.val:
        if medical_sets.is_set_entry(d):  # a named set (med-train), defined in one module
            assert medical_sets.set_name(d) in medical_sets.SETS
            continue
        assert Path(d).is_absolute()
        assert "/shared/data/" in Path(d).as_posix()
        if (Path(__file__).parents[3] / "shared" / "data").is_dir():
            assert Path(d).is_dir(), d


def test_train_with_a_recipe_and_no_data_argument(tmp_path, cli):
    data = tmp_path / "recipes" / "imgs"
    data.mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((64, 64)) * 255).astype(np.uint8)).save(data / "a.png")
    recipe = tmp_path / "recipes" / "r.yaml"
    recipe.write_text(
        "data: [imgs]\nmodel: {method: n2c, noise: 'gaussian:25', width: 8}\n"
        "steps: 2\nbatch_size: 1\npatch: 32\n"
    )
    res = cli("train", "--config", recipe, "-o", tmp_path / "run", "--no-progress")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "run" / "model.safetensors").is_file()
    saved = TrainConfig.from_yaml(tmp_path / "run" / "config.yaml")
    assert saved.dataset.data == [str(data.resolve())]
    res = cli("train", "-o", tmp_path / "run2")
    assert res.exit_code == 2 and "no training data" in res.output


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_a_weight_file_init_resolves_beside_the_recipe_and_exists(recipe):
    cfg = TrainConfig.from_yaml(recipe, recipe=True)
    if cfg.init is not None and cfg.init.endswith(".safetensors"):
        assert Path(cfg.init).is_absolute() and Path(cfg.init).is_file(), cfg.init


def test_init_names_stay_names_and_weight_files_resolve(tmp_path):
    recipe = tmp_path / "r" / "x.yaml"
    recipe.parent.mkdir()
    recipe.write_text("data: [d]\ninit: w/m.safetensors\n")
    assert TrainConfig.from_yaml(recipe, recipe=True).init == str(tmp_path / "r/w/m.safetensors")
    recipe.write_text("data: [d]\ninit: ssdn-pg-fmd\n")
    assert TrainConfig.from_yaml(recipe, recipe=True).init == "ssdn-pg-fmd"
    assert TrainConfig.from_yaml(recipe).init == "ssdn-pg-fmd"


WARM_STARTED = [r for r in RECIPES if "init:" in r.read_text()]


@pytest.mark.parametrize("recipe", WARM_STARTED, ids=lambda p: p.stem)
def test_a_recipes_init_fits_its_network(recipe):
    """The warm start loads into the network the recipe builds (widened where it is wider)."""
    from medenoise.methods import build_method
    from medenoise.train import init_weights

    cfg = TrainConfig.from_yaml(recipe, recipe=True)
    init_weights(build_method(cfg.model, cfg), cfg.init)
