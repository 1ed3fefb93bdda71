"""Options several commands share, as `Annotated` types: one spelling, one help text and one
help panel per option, so `denoise`, `noise add`, `evaluate` and `bench` speak alike.

Enumerated options show their values in --help. `--backend` is an Enum (click refuses other
values); `--precision` and `--axis` list their values as the metavar and are checked by the
command (`Precision.parse`, `parse_axis`), which also accepts Lightning's precision names
(32-true, bf16-mixed) and reports a bad value as the usual one-line `error:`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from medenoise.inference.options import Backend, Precision

INPUT = "Input"
MODEL = "Model"
OUTPUT = "Output"
SPEED = "Speed and hardware"
ADAPT = "Adaptation"

AXIS_VALUES = ("auto", "0", "1", "2")
DEVICE_METAVAR = "<cpu|cuda|cuda:N>"


def metavar(values) -> str:
    """'<a|b|c>': the values of an enumerated option, written as typer writes an Enum's."""
    return "<" + "|".join(str(getattr(v, "value", v)) for v in values) + ">"


Inputs = Annotated[
    list[Path],
    typer.Argument(
        help="Images or folders (searched recursively; names relative to the folder are kept).",
        show_default=False,
        readable=False,  # unreadable files get our one-line error, not a usage box
    ),
]
Out = Annotated[
    Path,
    typer.Option(
        "-o",
        "--out",
        help="Output folder: same relative file names, same format and dtype as the inputs.",
        show_default=False,
        rich_help_panel=OUTPUT,
    ),
]
ValueRange = Annotated[
    str | None,
    typer.Option(
        "--range",
        help="LO,HI in the file's value units mapped to [0, 1], e.g. -1024,3071 for CT in HU; "
        "overrides the working range used for normalisation (default: the format's nominal "
        "range, or the data's own range for 16-bit data filling a sliver of it and for "
        "floats far outside [0, 1]; see docs/working-range.md). Noise levels are relative to "
        "it; "
        "use the range a model was trained with. Outputs keep the input's dtype and units.",
        rich_help_panel=INPUT,
    ),
]
Axis = Annotated[
    str,
    typer.Option(
        help="NIfTI volumes: process slice by slice along this spatial axis; auto: the "
        "acquisition plane (the header's slice_dim if set, else the last axis).",
        metavar=metavar(AXIS_VALUES),
        rich_help_panel=INPUT,
    ),
]
Model = Annotated[
    str | None,
    typer.Option(
        help="Model file (.safetensors), zoo name (`medenoise models`) or a training-free "
        "baseline: bm3d, bm3d-psd, vst-bm3d, nlm, identity. Default: for each input, the model "
        "`medenoise inspect` recommends for its noise (a note says which and why; an input "
        "for which nothing is safe to run is refused on its own line; with --adapt, the "
        "first input's choice), preferring a model's `-fast` student when one is shipped. "
        "A `-fast` zoo row is a distilled student: one plain U-Net pass trained to copy its "
        "teacher, many times faster and nearly as good (BENCHMARKS.md); take it for "
        "large images and archives, the teacher for the last bit of quality or for --adapt "
        "(a student learned from its teacher, not from noise, so it cannot adapt).",
        rich_help_panel=MODEL,
    ),
]
KnownNoise = Annotated[
    str | None,
    typer.Option(
        "--noise",
        help="Noise level of the inputs, e.g. gaussian:25, for models trained with a known "
        "level and for baselines (estimated per image when omitted); `measured`: each "
        "image's own level, measured on it (SSDN with a known, learned or per-image level; "
        "the default of a model listed with default_level measured).",
        rich_help_panel=MODEL,
    ),
]
TrustPickle = Annotated[
    bool,
    typer.Option(
        help="Allow --model to be a Lightning .ckpt from your own `medenoise train` run "
        "(RUNDIR/checkpoints/last.ckpt). It is still loaded with torch's weights-only "
        "unpickler; never pass checkpoints from others.",
        rich_help_panel=MODEL,
    ),
]
Ensemble = Annotated[
    bool | None,
    typer.Option(
        "--ensemble/--no-ensemble",
        help="Geometric self-ensemble: also denoise the mirrored image and average (all 8 "
        "flips/rotations for plain U-Nets); slower, see BENCHMARKS.md. `evaluate` labels "
        "such rows '+ens'; baselines are unaffected. Default: the zoo model's setting "
        "(`medenoise models`), off for model files.",
        show_default=False,
        rich_help_panel=MODEL,
    ),
]
Overwrite = Annotated[
    bool, typer.Option(help="Replace existing output files.", rich_help_panel=OUTPUT)
]
SkipBad = Annotated[
    bool,
    typer.Option(
        help="Exit 0 when some files could not be processed (each is still reported); "
        "without it such a run exits 2 after writing the good files.",
        rich_help_panel=OUTPUT,
    ),
]
Report = Annotated[
    Path | None,
    typer.Option(
        "--report",
        help="Write one JSON file with, per output, the guard's figures and findings (what "
        "was removed vs the measured noise), the model and the noise measured; written even "
        "when some outputs are flagged. See docs/guard.md.",
        metavar="FILE.json",
        rich_help_panel=OUTPUT,
    ),
]
Strict = Annotated[
    bool,
    typer.Option(
        help="An output the guard flags (far more removed than the measured noise, structure "
        "removed, values far outside the input's, noise the model cannot represent) is an "
        "error: nothing is written for that file, the others still run, the run exits 2. "
        "Without it such outputs are written with a `warning:` line.",
        rich_help_panel=OUTPUT,
    ),
]
Json = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON.", rich_help_panel=OUTPUT)
]
Tile = Annotated[
    int | None,
    typer.Option(
        help="Tile side in pixels for images too large to denoise in one piece (multiple of "
        "32, above the model's tile overlap: 576 for SSDN, 320 for plain U-Nets, 640 for SSDN "
        "with --exact). Default: the largest that fits in half the free memory. Results "
        "agree with the untiled run within 1e-3 of the range (see --exact); smaller tiles use "
        "less memory and more time.",
        rich_help_panel=SPEED,
    ),
]
Exact = Annotated[
    bool,
    typer.Option(
        "--exact/--no-exact",
        help="Overlap tiles by the network's whole receptive field, so tiled output equals "
        "the untiled run to about 1e-5 of the range (default: the smaller overlap that keeps "
        "it within 1e-3; docs/distill.md has the measurements).",
        rich_help_panel=SPEED,
    ),
]
Batch = Annotated[
    int | None,
    typer.Option(
        help="Planes of a stack or volume (or tiles) per network call. Default: 1 on CPU; on "
        "a GPU as many planes as fit in half its free memory (up to 64).",
        min=1,
        rich_help_panel=SPEED,
    ),
]
PrecisionOpt = Annotated[
    str,
    typer.Option(
        "--precision",
        help="bf16 runs the network's convolutions under bfloat16 autocast; the noise "
        "model and posterior stay float64. auto (denoise's default): on CPU, bf16 only where "
        "a short probe finds it faster with output within 1e-3 of float32 (docs/speed.md). "
        "Lightning's 32-true / bf16-mixed are accepted too.",
        metavar=metavar(Precision),
        rich_help_panel=SPEED,
    ),
]
BackendOpt = Annotated[
    Backend,
    typer.Option(
        "--backend",
        help="onnx: run the network in ONNX Runtime (CPU; speed in BENCHMARKS.md); the first "
        "use of a model exports it to the cache. auto (denoise's default): on CPU, ONNX "
        "Runtime where a short probe finds it faster (docs/speed.md); torch on a GPU.",
        rich_help_panel=SPEED,
    ),
]
Threads = Annotated[
    int | None,
    typer.Option(
        help="CPU threads for the network. Default: $OMP_NUM_THREADS if set, else the cores "
        "this process may use (its CPU affinity, capped by a container's CPU quota).",
        min=1,
        rich_help_panel=SPEED,
    ),
]
Verbose = Annotated[
    bool,
    typer.Option(
        "--verbose",
        help="Say on stderr, once per model, how it runs: backend and precision, threads, "
        "tile, overlap, batch, and the probe's timings behind an automatic choice.",
        rich_help_panel=SPEED,
    ),
]
DeviceOpt = Annotated[
    str,
    typer.Option(
        "--device",
        help="Where networks run: cpu, cuda (the current GPU) or cuda:N.",
        metavar=DEVICE_METAVAR,
        rich_help_panel=SPEED,
    ),
]
Shard = Annotated[
    str | None,
    typer.Option(
        help="I/N: process only files I, I+N, I+2N, ... of the sorted list (0 ≤ I < N), so N "
        "processes or devices share a folder (e.g. a SLURM array: "
        "--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT).",
        rich_help_panel=SPEED,
    ),
]
AdaptSteps = Annotated[
    int,
    typer.Option(
        help="Fine-tune each SSDN/Noise2Void model STEPS steps on this run's noisy inputs "
        "first (self-supervised: no clean image), then use the result; fits a pretrained "
        "model to your modality (measured gains: BENCHMARKS.md, README). 0: off.",
        metavar="STEPS",
        min=0,
        rich_help_panel=ADAPT,
    ),
]
AdaptLr = Annotated[
    float | None,
    typer.Option(
        help="Learning rate of --adapt: flat, then down to 0 over the second half "
        "[default: 3e-5 when it trains by SURE, else 1e-4].",
        rich_help_panel=ADAPT,
    ),
]

PixelShuffle = Annotated[
    str | None,
    typer.Option(
        "--pd",
        metavar="K|auto",
        help="Run a blind-spot model (SSDN) on the stride-K pixel-shuffled sub-images, for noise "
        "correlated between neighbouring pixels (CT kernels, interpolated MR); auto: K from "
        "each image's measured correlation (docs/correlated-noise.md).",
        show_default=False,
        rich_help_panel=MODEL,
    ),
]
