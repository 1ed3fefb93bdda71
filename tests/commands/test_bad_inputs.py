"""Every input of the bad-input corpus (tests/bad_inputs.py) through denoise, noise add,
evaluate and train: refused inputs give exactly one `error: <path>: ...` line on stderr, exit 2,
no output file; accepted ones are processed; no input is ever changed. Plus mixed folders
(--skip-bad) and atomic, non-overwriting outputs."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from bad_inputs import COMMANDS, Case, png_bytes, tiff_bytes, truncated, write_corpus
from medenoise.data.io import read, write
from medenoise.errors import UserError
from medenoise.modelfile import save_model
from tiny_models import make_tiny_model

TRAIN = ["--method", "n2c", "--noise", "gaussian:25", "--steps", "1", "--batch-size", "1"]
TRAIN += ["--patch", "32", "--width", "8", "--checkpoint-every", "1", "--no-progress"]


@pytest.fixture(scope="module", autouse=True)
def _single_thread(one_thread):
    """Every test here (and its module fixtures) runs on one thread (conftest.one_thread)."""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    torch.manual_seed(0)
    models = {
        name: save_model(
            make_tiny_model("n2c", channels=n),
            root / f"{name}.safetensors",
        )
        for name, n in (("mono", 1), ("rgb", 3))
    }
    return root, write_corpus(root / "corpus"), models


def fingerprints(root: Path) -> dict[str, str]:
    """sha256 of every file under root (size + mtime for files we may not read)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            try:
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
            except PermissionError:
                st = p.stat()
                out[str(p)] = f"{st.st_size}:{st.st_mtime_ns}"
    return out


def command_line(case: Case, command: str, models: dict, out: Path) -> list[str]:
    model = str(models.get(case.model, case.model))
    if command == "denoise":
        args = ["denoise", case.path, "-o", out, "--model", model]
    elif command == "noise":
        args = ["noise", "add", "gaussian:25", case.path, "-o", out]
    elif command == "evaluate":
        args = ["evaluate", "--model", model, "--clean", case.pair or case.path, "--json"]
        args += ["--noisy", case.path] if case.pair else ["--noise", "gaussian:25"]
        args += ["--no-progress"]
    else:
        args = ["train", case.path, "-o", out, *TRAIN]
        if case.pair:
            args += ["--pairs", case.pair, "--data-kind", "noisy", "--method", "n2n"]
        if case.init:
            args += ["--init", model]
        elif case.model == "rgb":
            args += ["--channels", "3"]
    return [str(a) for a in args]


def check(cli, case: Case, command: str, models: dict, out: Path) -> list[str]:
    """Run one case through one command; the list of what went wrong (empty: all good)."""
    corpus_root = case.path.parents[0] if case.path.is_file() else case.path.parent
    watched = [corpus_root.parent]  # the corpus and the model files
    if case.out_file:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("an existing file, not a folder")
        watched.append(out.parent)
    before = {k: v for w in watched for k, v in fingerprints(w).items()}
    result = cli(*command_line(case, command, models, out))
    after = {k: v for w in watched for k, v in fingerprints(w).items()}
    problems = []
    changed = [k for k in before if after.get(k) != before[k]]
    if changed:
        problems.append(f"inputs changed or lost: {changed}")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return [*problems, f"crashed: {type(result.exception).__name__}: {result.exception}"]
    expected = case.expected(command)
    lines = result.stderr.splitlines()
    if expected is None:  # accepted: processed, and the output looks like the input
        if result.exit_code != 0:
            return [*problems, f"exit {result.exit_code}, expected 0: {result.stderr}"]
        problems += check_output(case, command, out)
        if case.note and command in ("denoise", "noise") and case.note not in result.stderr:
            problems.append(f"no note {case.note!r}: {result.stderr}")
        return problems
    if result.exit_code != 2:
        problems.append(f"exit {result.exit_code}, expected 2")
    allowed = [*(case.blame or (case.path,)), models.get(case.model, case.model)]
    allowed += [out] if case.out_file else []
    if len(lines) != 1 or not any(lines[0].startswith(f"error: {p}: ") for p in allowed):
        problems.append(f"expected one line 'error: <{allowed[0]}>: ...', got {lines}")
    elif expected.lower() not in lines[0].lower():
        problems.append(f"error line lacks {expected!r}: {lines[0]}")
    if out.is_dir() and any(p.is_file() for p in out.rglob("*")):
        problems.append(f"output written: {[str(p) for p in out.rglob('*')]}")
    return problems


def check_output(case: Case, command: str, out: Path) -> list[str]:
    if command == "train":
        return [] if (out / "model.safetensors").is_file() else ["no model.safetensors"]
    if command == "evaluate":
        return []
    target = out / case.path.name
    if not target.is_file():
        return [f"no output {target}"]
    a, b = read(case.path), read(target)
    if a.array.shape != b.array.shape or a.meta.scaling.dtype != b.meta.scaling.dtype:
        return [f"output {b.array.shape} {b.meta.scaling.dtype} != input {a.array.shape}"]
    return []


@pytest.mark.parametrize("command", COMMANDS)
def test_every_bad_input_is_refused_cleanly_or_processed(corpus, command, tmp_path, capsys, cli):
    root, cases, models = corpus
    tried = refused = accepted = lost = 0
    failures = {}
    for case in cases:
        if command not in case.commands or case.chmod is not None:
            continue
        tried += 1
        problems = check(cli, case, command, models, tmp_path / case.name)
        lost += any(p.startswith("inputs changed") for p in problems)
        if problems:
            failures[case.name] = problems
        elif case.expected(command) is None:
            accepted += 1
        else:
            refused += 1
    with capsys.disabled():  # the counts, for the record (shown with -s or -rA)
        print(
            f"\n{command}: {tried} inputs, {refused} refused cleanly, {accepted} processed, "
            f"{len(failures)} with problems, {lost} with inputs changed or lost"
        )
    assert not failures, "\n".join(f"{k}: {v}" for k, v in failures.items())
    assert tried == refused + accepted


@pytest.mark.parametrize("command", COMMANDS)
def test_unreadable_file_is_refused(corpus, command, tmp_path, cli):
    if os.geteuid() == 0:
        pytest.skip("running as root: chmod 000 does not stop root from reading the file")
    root, cases, models = corpus
    case = next(c for c in cases if c.chmod is not None)
    os.chmod(case.path, case.chmod)
    try:
        assert check(cli, case, command, models, tmp_path / "out") == []
    finally:
        os.chmod(case.path, 0o644)


# --- folders with some bad files ----------------------------------------------------------


@pytest.fixture()
def mixed(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (40, 36), dtype=np.uint8)
    (folder / "a_good.png").write_bytes(png_bytes(gray))
    (folder / "b_good.tif").write_bytes(tiff_bytes(gray.astype(np.uint16) * 200))
    (folder / "c_truncated.png").write_bytes(truncated(png_bytes(gray)))
    (folder / "d_text.png").write_bytes(b"not a picture")
    (folder / "e_nan.tif").write_bytes(tiff_bytes(np.full((8, 8), np.nan, np.float32)))
    return folder


@pytest.mark.parametrize("command", ["denoise", "noise"])
@pytest.mark.parametrize("skip_bad", [False, True])
def test_good_files_of_a_mixed_folder_are_processed(
    mixed, tmp_path, corpus, command, skip_bad, cli
):
    out = tmp_path / "out"
    if command == "denoise":
        args = ["denoise", mixed, "-o", out, "--model", corpus[2]["mono"]]
    else:
        args = ["noise", "add", "gaussian:25", mixed, "-o", out]
    before = fingerprints(mixed)
    result = cli(*args, *(["--skip-bad"] if skip_bad else []))
    assert fingerprints(mixed) == before
    assert result.exit_code == (0 if skip_bad else 2), result.output
    assert sorted(p.name for p in out.iterdir()) == ["a_good.png", "b_good.tif"]
    lines = result.stderr.splitlines()
    label = "skipped" if skip_bad else "error"
    bad = [ln for ln in lines if ln.startswith(f"{label}: {mixed}/")]
    assert [ln.split(":")[1].strip() for ln in bad] == [
        str(mixed / n) for n in ("c_truncated.png", "d_text.png", "e_nan.tif")
    ]
    assert "3 of 5 files" in lines[-1] and "2 written" in lines[-1]
    assert ("--skip-bad" in lines[-1]) != skip_bad  # the hint only when it was not given


# --- atomic, non-overwriting outputs ------------------------------------------------------


def test_a_writer_failing_midway_leaves_no_file(tmp_path, monkeypatch):
    src = tmp_path / "in.png"
    PILImage.fromarray(np.zeros((8, 8), np.uint8)).save(src)
    image = read(src)

    def half_then_disk_full(self, fp, *args, **kwargs):
        Path(fp).write_bytes(b"\x89PNG half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PILImage.Image, "save", half_then_disk_full)
    out = tmp_path / "out"
    with pytest.raises(UserError, match="No space left"):
        write(out / "x.png", image)
    assert list(out.iterdir()) == []

    def crash(self, fp, *args, **kwargs):  # not an OSError: still no torn file
        Path(fp).write_bytes(b"\x89PNG half")
        raise RuntimeError("encoder bug")

    monkeypatch.setattr(PILImage.Image, "save", crash)
    (out / "x.png").write_bytes(b"previous output")
    with pytest.raises(RuntimeError):
        write(out / "x.png", image)
    assert [p.name for p in out.iterdir()] == ["x.png"]
    assert (out / "x.png").read_bytes() == b"previous output"


@pytest.mark.parametrize("command", ["denoise", "noise"])
def test_outputs_are_never_written_over_inputs_or_old_outputs(tmp_path, corpus, command, cli):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(png_bytes(np.full((32, 32), 9, np.uint8)))
    base = (
        ["denoise", "--model", str(corpus[2]["mono"])]
        if command == "denoise"
        else ["noise", "add", "gaussian:25"]
    )

    def run(*args):
        return cli(*base, *args)

    before = fingerprints(folder)
    result = run(folder, "-o", folder, "--overwrite")  # -o is the input folder itself
    assert result.exit_code == 2 and "input" in result.stderr
    assert fingerprints(folder) == before
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").write_bytes(b"an older result")
    result = run(folder / "a.png", "-o", out)
    assert result.exit_code == 2 and "--overwrite" in result.stderr
    assert (out / "a.png").read_bytes() == b"an older result"
    assert run(folder / "a.png", "-o", out, "--overwrite").exit_code == 0
    assert read(out / "a.png").array.shape == (32, 32, 1)
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]  # no temporary left behind
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.png").write_bytes(png_bytes(np.zeros((8, 8), np.uint8)))
    result = run(folder / "a.png", tmp_path / "other" / "a.png", "-o", tmp_path / "o2")
    assert result.exit_code == 2 and "two inputs" in result.stderr
    assert not (tmp_path / "o2").exists()
