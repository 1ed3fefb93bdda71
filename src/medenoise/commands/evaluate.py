"""`medenoise evaluate`: score models on clean images with synthetic noise, real noisy/clean
pairs, or the FMD layout; prints a table (or, with --json, one JSON object with the mean and
per-image metrics of each model)."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Annotated, NamedTuple

import typer

from medenoise.commands._common import parse_device, user_errors
from medenoise.commands._options import (
    INPUT,
    MODEL,
    OUTPUT,
    AdaptLr,
    AdaptSteps,
    DeviceOpt,
    Ensemble,
    Json,
    PrecisionOpt,
)
from medenoise.errors import UserError

EVALUATE_HELP = (
    "Score denoisers against clean references. Sources: --clean DIR with --noise SPEC "
    "(synthetic noise, image i drawn from a generator seeded by (seed, i): the same command "
    "gives identical numbers), --clean DIR with --noisy DIR (real pairs matched by relative "
    "path), or --fmd DIR --avg N (FMD layout: mean of N raw frames vs gt/<fov>/avg50). "
    "--model may be given several times; baselines: bm3d, bm3d-psd, vst-bm3d, nlm, identity. "
    "--ensemble and --adapt label a network's row '+ens' and '+adaptN'; baselines are "
    "scored as they are."
)

Models = Annotated[
    list[str],
    typer.Option("--model", help="Model file, zoo name or baseline (repeatable).",
                 show_default=False, rich_help_panel=MODEL),
]  # fmt: skip


def _folders(text: str):
    """A repeatable option naming image files or folders, in the Input panel."""
    return Annotated[
        list[Path] | None, typer.Option(help=text, readable=False, rich_help_panel=INPUT)
    ]


Clean = _folders("Clean reference images or folders.")
Noisy = _folders("Real noisy images/folders matching --clean by relative path.")
Fmd = _folders("FMD folders (<config>/raw/<fov>, gt/<fov>).")
SyntheticNoise = Annotated[
    str | None,
    typer.Option(help="Synthetic noise added to --clean, e.g. gaussian:25.", rich_help_panel=INPUT),
]
Avg = Annotated[
    int, typer.Option(help="FMD averaging level: 1 (raw), 2, 4, 8, 16.", rich_help_panel=INPUT)
]
Fov = Annotated[
    list[str] | None,
    typer.Option(help="FMD fields of view to use (default: all).", rich_help_panel=INPUT),
]
Images = Annotated[
    int | None,
    typer.Option(help="FMD noisy images per field (default: every frame).", rich_help_panel=INPUT),
]
Seed = Annotated[int, typer.Option(help="Seed of the synthetic noise.", rich_help_panel=INPUT)]
Repeats = Annotated[int, typer.Option(help="Noise draws per clean image.", rich_help_panel=INPUT)]
Assume = Annotated[
    str | None,
    typer.Option(
        help="Noise level given to known-level models and baselines on real noise "
        "(default: the model's training level; baselines estimate it).",
        rich_help_panel=MODEL,
    ),
]
EightBit = Annotated[
    bool,
    typer.Option("--8bit", help="Table PSNR on 8-bit values (SSDN paper protocol).",
                 rich_help_panel=OUTPUT),
]  # fmt: skip
Save = Annotated[
    Path | None,
    typer.Option(help="Write denoised images (16-bit PNG) into this folder.",
                 rich_help_panel=OUTPUT),
]  # fmt: skip
Progress = Annotated[bool, typer.Option(help="Progress bar on stderr.", rich_help_panel=OUTPUT)]


class Sources(NamedTuple):
    """Where the evaluation images come from (the options naming them)."""

    clean: list[Path] | None
    noise: str | None
    noisy: list[Path] | None
    fmd: list[Path] | None
    avg: int
    fov: list[str] | None
    images: int | None
    seed: int
    repeats: int


def _json_safe(value):
    """NaN/inf → None so the output is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def build_samples(denoiser, clean, noise, noisy, fmd, avg, fov, images, seed, repeats):
    """The sample stream and its length for one model (channels follow the model)."""
    from medenoise.eval import samples as S

    channels = getattr(denoiser.config, "channels", None)
    if fmd:
        if clean or noisy or noise:
            raise UserError("--fmd takes no --clean/--noisy/--noise (the layout has both)")
        fields = S.fmd_fields(fmd, fov)
        per = [len(f[2]) if images is None else min(images, len(f[2])) for f in fields]
        return S.fmd_samples(fmd, avg, channels, fov, images), sum(per)
    if not clean:
        raise UserError("give --clean DIR (with --noise SPEC or --noisy DIR), or --fmd DIR")
    if noisy and noise:
        raise UserError("give either --noise (synthetic) or --noisy (real pairs), not both")
    if noisy:
        from medenoise.data.pairs import paired_files

        return S.paired_samples(noisy, clean, channels), len(paired_files(noisy, clean))
    if not noise:
        raise UserError("synthetic evaluation needs --noise SPEC (or real pairs via --noisy)")
    return S.synthetic_samples(clean, noise, channels, seed, repeats), S.count_synthetic(
        clean, repeats
    )


def evaluate(
    *,  # keyword-only: --help shows the panels in this order (Input, Model, Output, ...)
    clean: Clean = None,
    noise: SyntheticNoise = None,
    noisy: Noisy = None,
    fmd: Fmd = None,
    avg: Avg = 1,
    fov: Fov = None,
    images: Images = None,
    seed: Seed = 0,
    repeats: Repeats = 1,
    model: Models,
    assume: Assume = None,
    ensemble: Ensemble = None,
    eight_bit: EightBit = False,
    as_json: Json = False,
    save: Save = None,
    progress: Progress = True,
    precision: PrecisionOpt = "32",
    device: DeviceOpt = "cpu",
    adapt: AdaptSteps = 0,
    adapt_lr: AdaptLr = 1e-4,
) -> None:
    """Evaluate denoisers (help text: EVALUATE_HELP)."""
    from medenoise.inference.options import InferenceOptions

    sources = Sources(clean, noise, noisy, fmd, avg, fov, images, seed, repeats)
    with user_errors():
        options = InferenceOptions(
            precision=precision, ensemble=ensemble, device=parse_device(device).torch
        )
        scoring = dict(assume=assume, adapt=adapt, adapt_lr=adapt_lr, progress=progress)
        results = _score_models(model, sources, options, save, **scoring)
    _print_results(results, as_json, eight_bit)


def _score_models(names: list[str], sources: Sources, options, save: Path | None, **scoring):
    """(label, result) per model, each loaded with `options` (baselines without the
    self-ensemble); labels are made unique, and --save gets a folder per model if several."""
    from medenoise.api import load_model
    from medenoise.eval.evaluate import model_label
    from medenoise.inference.resolve import is_baseline_name

    denoisers = [
        load_model(m, options=options.with_(ensemble=None) if is_baseline_name(m) else options)
        for m in names
    ]
    labels = _unique([model_label(d) for d in denoisers])
    several = len(denoisers) > 1
    return [
        _score_one(name, label, den, sources, options, save, several, **scoring)
        for name, label, den in zip(names, labels, denoisers, strict=True)
    ]


def _score_one(name, label, den, sources: Sources, options, save, several, *, assume, adapt,
               adapt_lr, progress) -> tuple[str, dict]:  # fmt: skip
    """Score one loaded model (first adapted with --adapt, networks only)."""
    from medenoise.eval.evaluate import PROTOCOL_TEXT, save_plane, saved_name
    from medenoise.eval.evaluate import evaluate as run
    from medenoise.inference.resolve import is_baseline_name

    stream, total = build_samples(den, *sources)
    source, extra = str(den.source), {}
    if adapt and not is_baseline_name(name):
        t0 = time.perf_counter()
        level = sources.noise or assume
        stream, den = _adapted(name, den, list(stream), adapt, adapt_lr, level, options)
        # `source` names the original model; the label says it was adapted
        extra = dict(adapt_steps=adapt, adapt_seconds=round(time.perf_counter() - t0, 1))
        label = f"{label}+adapt{adapt}"
    hook = None
    if save is not None:
        folder = save / label if several else save
        hook = lambda s, d, r: save_plane(folder / saved_name(s.name), d)  # noqa: E731
    bar = _bar(total, label, progress and sys.stderr.isatty())
    try:
        res = run(den, stream, noise=assume, on_image=hook, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    res.update(model=label, source=source, protocol=PROTOCOL_TEXT, **extra)
    return label, res


def _print_results(results: list[tuple[str, dict]], as_json: bool, eight_bit: bool) -> None:
    """The JSON object (one model's, or {"models": [...]}) or the table and protocol line."""
    from medenoise.eval.evaluate import PROTOCOL_TEXT, format_table

    if as_json:
        obj = results[0][1] if len(results) == 1 else {"models": [r for _, r in results]}
        typer.echo(json.dumps(_json_safe(obj), indent=1))
        return
    typer.echo(format_table(results, eight_bit))
    typer.echo(f"protocol: {PROTOCOL_TEXT}")


def _adapted(name: str, den, samples: list, steps: int, lr: float, noise: str | None, options):
    """(samples, denoiser fine-tuned on the samples' noisy planes); a level range is not
    one level, so a known-level model then adapts at its own."""
    from medenoise.adaptation import adapt
    from medenoise.noise.spec import parse_noise_spec

    level = noise if noise and parse_noise_spec(noise).is_fixed else None
    noisy = [s.noisy for s in samples]
    tuned = adapt(
        name, noisy, steps, noise=level, lr=lr, device=options.device,
        precision=options.precision.value, ensemble=den.ensemble,
    )  # fmt: skip
    return iter(samples), tuned


def _unique(labels: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label}-{seen[label]}")
    return out


class _Bar:
    """tqdm progress on stderr, callable once per image."""

    def __init__(self, total: int, label: str):
        from tqdm import tqdm

        self.tqdm = tqdm(total=total, desc=label, unit="img", file=sys.stderr, leave=False)

    def __call__(self, name: str) -> None:
        self.tqdm.update(1)

    def close(self) -> None:
        self.tqdm.close()


def _bar(total: int, label: str, enabled: bool):
    return _Bar(total, label) if enabled else None
