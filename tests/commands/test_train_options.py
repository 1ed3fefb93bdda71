"""`medenoise train --help`: the enumerated values and panels are the training config's own."""

from __future__ import annotations

import typing

from medenoise.commands import train as command
from medenoise.config import FLAT, SECTIONS


def field_annotation(key: str):
    return SECTIONS[FLAT[key]].model_fields[key].annotation


def test_choices_shown_in_help_are_the_config_values():
    from medenoise.inference.options import Precision

    for key, shown in command.CHOICES.items():
        if key == "precision":  # the trainer takes any Lightning name; ours are these
            assert shown.split("|") == [
                p.value for p in Precision if p is not Precision.AUTO
            ]  # training: explicit
            continue
        values = typing.get_args(field_annotation(key))
        assert shown.split("|") == [str(v) for v in values], key


def test_every_option_sits_in_one_panel_named_after_its_config_section():
    section_panel = {
        "dataset": "Data",
        "model": "Model",
        "method_options": "Method options",
        "optim": "Optimiser",
        "trainer": "Run and hardware",
    }
    in_panels = [key for keys in command.PANELS.values() for key in keys]
    assert sorted(in_panels) == sorted(set(in_panels))  # no option in two panels
    for key in command.OPTIONS:
        expected = section_panel[FLAT[key]] if key in FLAT else "Run and hardware"
        assert command.PANEL_OF.get(key) == expected, key


def test_help_shows_panels_and_values(cli):
    result = cli("train", "--help")
    text = " ".join(result.output.split())
    for panel in (*command.PANELS, "Recipe"):
        assert f"─ {panel} ─" in result.output, panel
    assert "<ssdn|n2c|n2n|n2v|student>" in text and "<known|global|per-image>" in text
    assert "<32|bf16>" in text and "<cpu|cuda|cuda:N>" in text


def test_a_bad_enumerated_value_is_still_one_error_line(cli, tmp_path):
    result = cli("train", tmp_path, "-o", tmp_path / "run", "--method", "n3n")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error:")
