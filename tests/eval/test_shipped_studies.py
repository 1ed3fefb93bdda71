"""The study configs we ship parse, name only their own variants, have both budgets, and
(where ../shared is present) point at data that exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from medenoise.eval.study_config import budget_of, data_root, load_study

STUDIES = sorted((Path(__file__).parents[2] / "configs" / "studies").glob("*.yaml"))


def test_the_three_seed_studies_ship():
    assert {p.stem for p in STUDIES} >= {"seed-table1", "seed-medical", "seed-fmd"}


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_study_loads_with_both_budgets_and_real_data(path):
    study = load_study(path)
    assert budget_of(study, "small", path).steps < budget_of(study, "full", path).steps
    assert "measured" in path.read_text().split("name:")[0]  # header states the small run time
    root = data_root(study, path)
    if not root.is_dir():
        pytest.skip(f"{root} absent (CI has it)")
    entries = list(study.train_data) + list(study.val)
    for v in study.variants:
        entries += list(v.data or [])
    for e in study.evaluations:
        entries += e.clean + e.noisy + e.fmd
    missing = [e for e in entries if not (root / e).exists()]
    assert not missing, missing
