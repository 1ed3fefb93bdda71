"""The shell scripts under benchmarks/ parse, and the files they name exist (a device call
costs minutes of a scarce GPU lease, so a typo must fail here, not there)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SCRIPTS = sorted((ROOT / "benchmarks").glob("*.sh"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_parses(script):
    res = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_gpu_stage_script_names_a_recipe_that_exists():
    text = (ROOT / "benchmarks" / "gpu_zoo_stage.sh").read_text()
    recipes = re.findall(r"RECIPE=(\S+)", text)
    assert recipes and all((ROOT / r).is_file() for r in recipes), recipes
