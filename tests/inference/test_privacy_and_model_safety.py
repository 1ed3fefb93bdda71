"""Privacy: DICOM patient tags never reach stdout/stderr or output names. Model safety: a
malicious pickle never runs, with or without --trust-pickle (torch's weights-only unpickler)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from bad_inputs import dicom_bytes, png_bytes, truncated
from medenoise.api import load_model
from medenoise.data.io import read
from medenoise.data.io.dicom import _redacted
from medenoise.errors import UserError

MARKER = "QXZPRIVACY7731"  # appears nowhere but in the patient tags


@pytest.fixture()
def patients(tmp_path):
    """DICOM files whose PatientName / PatientID carry MARKER: good ones and broken ones."""
    folder = tmp_path / "dicom"
    folder.mkdir()
    pixels = np.random.default_rng(0).integers(0, 4096, (40, 36), dtype=np.uint16)
    tags = dict(patient=f"{MARKER}^Jane", patient_id=f"{MARKER}-ID")
    (folder / "ct.dcm").write_bytes(dicom_bytes(pixels, **tags))
    (folder / "IM0001").write_bytes(dicom_bytes(pixels, **tags))  # DICOM without a suffix
    (folder / "cut.dcm").write_bytes(truncated(dicom_bytes(pixels, **tags)))
    (folder / "nopixels.dcm").write_bytes(dicom_bytes(pixels, pixels=False, **tags))
    (folder / "mpeg.dcm").write_bytes(dicom_bytes(pixels, syntax="1.2.840.10008.1.2.4.100", **tags))
    return folder


def no_marker(result, out: Path | None = None) -> None:
    assert MARKER not in result.stdout and MARKER not in result.stderr
    assert MARKER.lower() not in result.output.lower()
    if out is not None:
        assert not [p for p in out.rglob("*") if MARKER.lower() in str(p).lower()]


@pytest.mark.parametrize(
    "args",
    [
        ["denoise", "--model", "identity", "--skip-bad"],
        ["noise", "add", "gaussian:25", "--skip-bad"],
    ],
    ids=["denoise", "noise-add"],
)
def test_patient_tags_never_reach_the_terminal_or_output_names(patients, tmp_path, args, cli):
    out = tmp_path / "out"
    result = cli(*args, patients, "-o", out)
    assert result.exit_code == 0, result.output
    no_marker(result, out)
    assert sorted(p.name for p in out.iterdir()) == ["IM0001", "ct.dcm"]  # input names
    assert result.stderr.count("skipped:") == 3  # the broken files, reported without tags
    again = read(out / "IM0001")  # the suffix-less output is DICOM, patient kept inside
    assert again.meta.dicom.dataset.PatientName == f"{MARKER}^Jane"


@pytest.mark.parametrize("name", ["cut.dcm", "nopixels.dcm", "mpeg.dcm"])
def test_failing_dicom_files_give_errors_without_patient_tags(patients, tmp_path, name, cli):
    path = str(patients / name)
    for args in (
        ["denoise", path, "-o", str(tmp_path / "o"), "--model", "identity"],
        ["evaluate", "--model", "identity", "--clean", path, "--noise", "gaussian:25"],
        ["train", path, "-o", str(tmp_path / "r"), "--noise", "gaussian:25"],
    ):
        result = cli(*args)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"error: {patients / name}: ")
        no_marker(result, tmp_path)


def test_library_messages_quoting_patient_tags_are_redacted(patients):
    import pydicom

    ds = pydicom.dcmread(patients / "ct.dcm")
    error = UserError(f"bad value {MARKER}^Jane in element, see {MARKER}-ID", "x.dcm")
    assert MARKER not in str(_redacted(error, ds))


# --- malicious pickles --------------------------------------------------------------------


class Payload:
    """Unpickling this creates `marker`: the stand-in for arbitrary code execution."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture()
def evil(tmp_path):
    marker = tmp_path / "PWNED"
    raw = pickle.dumps({"state_dict": Payload(marker)})
    pickle.loads(raw)  # the payload is real: plain unpickling runs it
    assert marker.exists()
    marker.unlink()
    files = {"raw": tmp_path / "raw.ckpt", "torch": tmp_path / "torch.ckpt"}
    files["raw"].write_bytes(raw)
    torch.save({"state_dict": Payload(marker), "epoch": 0}, files["torch"])
    return files, marker


@pytest.mark.parametrize("kind", ["raw", "torch"])
@pytest.mark.parametrize("trust", [False, True])
def test_a_malicious_pickle_never_runs(evil, kind, trust):
    files, marker = evil
    match = "refusing to unpickle" if trust else "refusing to load a pickle"
    with pytest.raises(UserError, match=match):
        load_model(files[kind], trust_pickle=trust)
    assert not marker.exists()


@pytest.mark.parametrize("trust", [False, True])
def test_cli_refuses_a_malicious_checkpoint_in_one_line(evil, tmp_path, trust, cli):
    files, marker = evil
    image = tmp_path / "in.png"
    image.write_bytes(png_bytes(np.zeros((16, 16), np.uint8)))
    args = ["denoise", str(image), "-o", str(tmp_path / "out"), "--model", str(files["torch"])]
    result = cli(*args, *(["--trust-pickle"] if trust else []))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {files['torch']}: refusing")
    assert len(result.stderr.splitlines()) == 1
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_trust_pickle_covers_only_lightning_checkpoints(evil, tmp_path):
    files, marker = evil
    other = tmp_path / "model.pt"
    other.write_bytes(files["torch"].read_bytes())
    with pytest.raises(UserError, match="refusing to load a pickle"):
        load_model(other, trust_pickle=True)
    assert not marker.exists()
