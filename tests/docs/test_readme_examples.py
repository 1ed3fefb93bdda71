"""Every `medenoise` command in README.md runs as written, on tiny data and a tiny model.

Commands are taken from the README's shell blocks, with the README's placeholders (DATA,
MODEL, run/model.safetensors, scans/, ...) pointing at files made here. What cannot run on a
2-core CPU in a unit test is replaced at one well-defined seam, never skipped: training and
studies stop at the call that would start the optimiser (the options have then been parsed
and validated into a TrainConfig), `--adapt N` runs 2 steps. Commands that name hardware
this machine lacks (cuda, gpu, several devices), take minutes (BM3D over a microscopy
folder), or that their own tests already run end to end (`export`, `--backend onnx`, `bench`)
are parsed, option by option, by the real command.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from medenoise.cli import app
from tiny_models import make_tiny_model

README = Path(__file__).resolve().parents[2] / "README.md"
HARDWARE = ("cuda", "gpu", "--devices 2", "--devices 4", "--num-nodes")
SLOW = ("--fmd",)  # BM3D on ten 512² microscopy images: minutes
# run end to end, on the same tiny model, by their own tests (tests/commands/test_scale_out_cli.py,
# tests/bench/test_bench.py): here they are parsed, so the suite pays for an ONNX export once
COVERED = ("export ", "--backend onnx", "bench")


def readme_commands() -> list[str]:
    """The `medenoise ...` command lines of README.md's sh blocks, continuations joined."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
            found = re.search(r"(?:\.venv/bin/)?medenoise (.*)", line)
            if found:
                commands.append(found.group(1).rstrip(" '"))
    return commands


def as_arguments(command: str, places: dict[str, str]) -> list[str]:
    """README words → argv: optional `[--x y]` parts kept, `...` dropped, placeholders mapped."""
    command = re.sub(r"\[([^\]]*)\]", r"\1", command).replace("$SLURM_ARRAY_TASK_ID", "0")
    words = [w for w in shlex.split(command) if w != "..."]
    repo = README.parent
    return words[:1] + [
        str(repo / w) if w.startswith("configs/") else places.get(w.rstrip("/"), w)
        for w in words[1:]
    ]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """README's placeholder paths as tiny real files: images, a DICOM, a model file."""
    import pydicom.data
    from PIL import Image

    from medenoise.modelfile import save_model

    root = tmp_path_factory.mktemp("readme")
    rng = np.random.default_rng(0)
    folders = ("scans", "clean", "gt", "raw", "in", "volumes", "my_noisy_frames", "frames")
    for name in folders:
        (root / name).mkdir()
        Image.fromarray(rng.integers(0, 255, (40, 40), np.uint8)).save(root / name / "a.png")
    Image.fromarray(rng.integers(0, 255, (40, 40), np.uint8)).save(root / "noisy.png")
    dicom = Path(pydicom.data.get_testdata_file("CT_small.dcm"))
    (root / "xray.dcm").write_bytes(dicom.read_bytes())
    module = make_tiny_model("ssdn")
    model = save_model(module, root / "run" / "model.safetensors")
    places = {name: str(root / name) for name in (*folders, "noisy.png", "xray.dcm")}
    places |= {p: str(model) for p in ("run/model.safetensors", "MODEL", "M")}
    places |= {"DATA": str(root / "frames"), "../shared/data/bsd400_train": str(root / "frames")}
    places |= {"../shared/data/set12": str(root / "clean"), "out": str(root / "out")}
    return root, places


def _parse_only(args: list[str]) -> None:
    """Resolve every option and value of `args` with the real command, running nothing."""
    command = typer.main.get_command(app)
    ctx = command.make_context("medenoise", list(args))
    while hasattr(command, "resolve_command"):  # a group: descend into the subcommand
        pending = [*getattr(ctx, "_protected_args", []), *ctx.args]
        name, command, rest = command.resolve_command(ctx, pending)
        ctx = command.make_context(name, rest, parent=ctx)
    assert not ctx.args, f"unexpected arguments {ctx.args}"


@pytest.fixture()
def seams(monkeypatch):
    """Stop training and studies at their entry (recording that they got there), and run
    --adapt for 2 steps; returns the record."""
    import medenoise.adaptation as adaptation
    import medenoise.eval.study as study
    import medenoise.train as train

    calls: list[str] = []

    def no_training(cfg, out, *args, **kwargs):
        calls.append("train")
        return Path(out) / "model.safetensors"

    real_adapt = adaptation.adapt_denoiser
    monkeypatch.setattr(train, "run_training", no_training)
    monkeypatch.setattr(study, "run_study", lambda *a, **k: calls.append("study") or "report")
    monkeypatch.setattr(
        adaptation, "adapt_denoiser", lambda m, f, steps, **k: real_adapt(m, f, 2, **k)
    )
    return calls


def test_the_readme_has_examples_of_every_command():
    words = {c.split()[0] for c in readme_commands()}
    assert {"train", "denoise", "evaluate", "noise", "study", "bench", "export"} <= words


@pytest.mark.parametrize("command", readme_commands())
def test_readme_example_runs(command, workspace, seams, tmp_path, monkeypatch):
    root, places = workspace
    monkeypatch.chdir(root)
    monkeypatch.setenv("MEDENOISE_CACHE", str(tmp_path / "cache"))
    args = as_arguments(command, places | {"out": str(tmp_path / "out")})
    if any(word in command for word in (*HARDWARE, *SLOW, *COVERED)):
        _parse_only(args)
        return
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, f"{command}\n{result.output}"
    assert seams == ([args[0]] if args[0] in ("train", "study") else [])  # reached the seam


def test_parsing_alone_still_rejects_what_the_command_would():
    with pytest.raises(Exception, match="bogus"):
        _parse_only(["train", "x", "--bogus", "1"])
    with pytest.raises(Exception, match="no-such-command"):
        _parse_only(["no-such-command"])
