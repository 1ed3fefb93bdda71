"""Command-line behaviour a newcomer meets: help text, one-line user errors, exit code 2."""

import numpy as np
import pytest
from PIL import Image as PILImage


def test_help_explains_the_commands(cli):
    result = cli("--help")
    assert result.exit_code == 0
    assert "train" in result.output and "denoise" in result.output
    result = cli("train", "--help")
    assert "--noise-param" in result.output and "--resume" in result.output


def one_error_line(result, *needles):
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert lines, result.output
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_train_user_errors(cli, tmp_path, gray_png):
    def train(*extra):
        return cli("train", gray_png.parent, "-o", tmp_path / "r", *extra)

    one_error_line(
        cli("train", tmp_path / "nope", "-o", tmp_path / "r", "--noise", "gaussian:25"),
        "no such file",
    )
    one_error_line(train("--noise", "laplace:3"), "unknown kind")
    one_error_line(train("--noise", "gaussian"), "no level")
    one_error_line(train("--patch", "50"), "multiple of 32")
    one_error_line(train("--method", "magic"), "method")
    one_error_line(train("--resume"), "nothing to resume")
    one_error_line(train("--method", "n2v", "--noise-param", "global"), "known")
    one_error_line(
        train("--method", "n2v", "--balance-noise-levels"), "--balance-noise-levels", "n2v"
    )
    assert not (tmp_path / "r" / "config.yaml").exists(), "option errors come before writing"


def test_denoise_writes_same_format_and_never_over_the_input(cli, tmp_path, gray_png, model_file):
    out = tmp_path / "out"
    result = cli("denoise", gray_png, "-o", out, "--model", model_file)
    assert result.exit_code == 0, result.output
    written = np.asarray(PILImage.open(out / "img.png"))
    assert written.dtype == np.uint8 and written.shape == (40, 50)
    before = gray_png.read_bytes()
    one_error_line(
        cli("denoise", gray_png, "-o", gray_png.parent, "--model", model_file),
        "overwrite the input",
    )
    assert gray_png.read_bytes() == before
    one_error_line(cli("denoise", gray_png, "-o", out, "--model", model_file), "exists")
    assert cli("denoise", gray_png, "-o", out, "--model", model_file, "--overwrite").exit_code == 0


def test_denoise_user_errors(cli, tmp_path, gray_png, model_file):
    one_error_line(
        cli("denoise", gray_png, "-o", tmp_path / "o", "--model", tmp_path / "missing.safetensors"),
        "not found",
    )
    ckpt = tmp_path / "x.ckpt"
    ckpt.write_bytes(b"\x80\x04")
    one_error_line(cli("denoise", gray_png, "-o", tmp_path / "o", "--model", ckpt), "pickle")
    one_error_line(
        cli(
            "denoise",
            gray_png,
            "-o",
            tmp_path / "o",
            "--model",
            model_file,
            "--noise",
            "poisson:30",
        ),
        "does not match",
    )
    rgb = tmp_path / "rgb.png"
    PILImage.fromarray(np.zeros((32, 32, 3), np.uint8)).save(rgb)
    one_error_line(cli("denoise", rgb, "-o", tmp_path / "o2", "--model", model_file), "channel")
    assert not (tmp_path / "o2" / "rgb.png").exists()


def _help(cli, *command) -> str:
    result = cli(*command, "--help")
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_help_lists_the_values_of_enumerated_options_in_panels(cli):
    text = _help(cli, "denoise")
    for values in ("<32|bf16|auto>", "<torch|onnx|auto>", "<auto|0|1|2>", "<cpu|cuda|cuda:N>"):
        assert values in text, values
    for panel in ("Input", "Model", "Output", "Speed and hardware", "Adaptation"):
        assert f"─ {panel} ─" in text, panel
    assert "dB" not in text  # measured gains live in BENCHMARKS.md, not in help texts
    evaluate = _help(cli, "evaluate")
    assert "<32|bf16|auto>" in evaluate and "<cpu|cuda|cuda:N>" in evaluate
    assert "<cpu|cuda|cuda:N>" in _help(cli, "bench") and "<cpu|cuda|cuda:N>" in _help(cli, "study")


def test_precision_accepts_lightning_names_and_one_line_errors(cli, tmp_path, gray_png, model_file):
    base = ("denoise", gray_png, "--model", model_file)
    assert cli(*base, "-o", tmp_path / "a", "--precision", "32-true").exit_code == 0
    one_error_line(cli(*base, "-o", tmp_path / "b", "--precision", "16"), "precision")
    one_error_line(cli(*base, "-o", tmp_path / "c", "--device", "tpu"), "--device", "cuda:N")
    one_error_line(cli(*base, "-o", tmp_path / "d", "--axis", "x"), "--axis")
    result = cli(*base, "-o", tmp_path / "e", "--backend", "tensorrt")
    assert result.exit_code == 2 and "torch" in result.output and "onnx" in result.output
    assert not any((tmp_path / d).exists() for d in "bcde")


def test_parse_device_speaks_torch_and_lightning():
    from medenoise.commands._common import parse_device
    from medenoise.errors import UserError

    assert parse_device("cpu") == ("cpu", 1) and parse_device("cpu").torch == "cpu"
    assert parse_device("cuda") == ("gpu", 1) and parse_device("cuda").torch == "cuda"
    accelerator, devices = parse_device("cuda:2")
    assert (accelerator, devices) == ("gpu", "2,")  # Lightning: GPU number 2, not 2 GPUs
    assert parse_device("cuda:2").torch == "cuda:2"
    for bad in ("gpu", "cuda:x", "cuda:-1", ""):
        with pytest.raises(UserError, match="--device"):
            parse_device(bad)


def test_no_command_module_imports_the_cli():
    """Commands are built into the app by cli.py, never the other way round (no cycles)."""
    import ast
    from pathlib import Path

    import medenoise.commands

    folder = Path(medenoise.commands.__file__).parent
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            assert not any(n == "medenoise.cli" for n in names), f"{path.name} imports the CLI"


def test_one_table_writer_draws_markdown_and_plain_tables():
    from medenoise.tables import markdown_table

    rows = [["a", "1.50"], ["bb", "10.00"]]
    lines = ["| x | y |", "| --- | --- |", "| a | 1.50 |", "| bb | 10.00 |"]
    assert markdown_table(["x", "y"], rows) == "\n".join(lines)
    assert markdown_table(["x"], [["a"]], rule="---") == "| x |\n|---|\n| a |"
    plain = markdown_table(["x", "y"], [*rows, ["c"]], widths=(3, 6), align="<>", plain=True)
    assert plain.splitlines() == ["x        y", "----------", "a     1.50", "bb   10.00", "c  "]


def test_denoise_refuses_existing_outputs_file_by_file_and_does_the_rest(tmp_path, cli, model_file):
    from PIL import Image

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(np.full((32, 32), 100, np.uint8)).save(folder / name)
    (out / "a.png").write_bytes(b"kept")
    result = cli("denoise", folder, "-o", out, "--model", model_file)
    assert result.exit_code == 2
    assert "output exists" in result.stderr and str(out / "a.png") in result.stderr
    assert (out / "a.png").read_bytes() == b"kept" and (out / "b.png").is_file()
