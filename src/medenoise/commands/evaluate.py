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
    PixelShuffle,
    PrecisionOpt,
)
from medenoise.errors import UserError

EVALUATE_HELP = (
    "Score denoisers against clean references. Sources: --clean DIR with --noise SPEC "
    "(synthetic noise, image i drawn from a generator seeded by (seed, i): the same command "
    "gives identical numbers), --clean DIR with --noisy DIR (real pairs matched by relative "
    "path), or --fmd DIR --avg N (FMD layout: mean of N raw frames vs gt/<fov>/avg50). "
    "--model may be given several times; baselines: bm3d, bm3d-psd, vst-bm3d, nlm, "
    "identity. "
    "--ensemble and --adapt label a network's row '+ens' and '+adaptN'; with --adapt the "
    "unadapted row comes first, scored on the same images, and a line says on how many "
    "images the adapted model scores lower; baselines are scored as they are."
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
SetOpt = Annotated[
    str | None,
    typer.Option("--set", help="A named medical set (med-test, med-train; docs/medical-sets.md) "
                 "instead of --clean, with --noise; its images are listed in the output.",
                 rich_help_panel=INPUT),
]  # fmt: skip
DataRoot = Annotated[
    Path | None,
    typer.Option(help="Data root the --set resolves against (default: $MEDENOISE_DATA_ROOT, "
                 "else ../shared/data beside the repository).", rich_help_panel=INPUT),
]  # fmt: skip
Seed = Annotated[int, typer.Option(help="Seed of the synthetic noise.", rich_help_panel=INPUT)]
Repeats = Annotated[int, typer.Option(help="Noise draws per clean image.", rich_help_panel=INPUT)]
Assume = Annotated[
    str | None,
    typer.Option(
        help="Noise level given to known-level models and baselines on real noise "
        "(default: the model's training level; baselines estimate it); `measured`: each "
        "image's own level, measured on it, for SSDN with a known or learned global level.",
        rich_help_panel=MODEL,
    ),
]
EightBit = Annotated[
    bool,
    typer.Option("--8bit", help="Table PSNR on 8-bit values (SSDN paper protocol).",
                 rich_help_panel=OUTPUT),
]  # fmt: skip
FitAffine = Annotated[
    bool,
    typer.Option("--fit-affine", help="Score each output (and the noisy input) after its "
                 "least-squares a*x + b fit to the clean image: for references recorded at "
                 "another gain or offset (W2S's avg400 beside avg1).", rich_help_panel=OUTPUT),
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
    set_name: str | None = None
    data_root: Path | None = None


def _json_safe(value):
    """NaN/inf → None so the output is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def build_samples(
    denoiser, clean, noise, noisy, fmd, avg, fov, images, seed, repeats, set_name=None, root=None
):
    """The sample stream and its length for one model (channels follow the model)."""
    from medenoise.eval import samples as S

    channels = getattr(denoiser.config, "channels", None)
    if set_name:
        return _set_samples(channels, clean, noise, noisy, fmd, seed, repeats, set_name, root)
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


def _set_samples(channels, clean, noise, noisy, fmd, seed, repeats, set_name, root):
    """A named medical set with synthetic noise: the stream and its length."""
    from medenoise.data.medical_sets import items
    from medenoise.eval.medical_sets import set_samples

    if clean or noisy or fmd:
        raise UserError("--set takes no --clean/--noisy/--fmd (the set names its images)")
    if not noise:
        raise UserError("--set needs --noise SPEC (synthetic noise on the set's images)")
    stream = set_samples(set_name, noise, channels, seed, repeats, root)
    return stream, len(items(set_name, root)) * repeats


def evaluate(
    *,  # keyword-only: --help shows the panels in this order (Input, Model, Output, ...)
    clean: Clean = None,
    set_name: SetOpt = None,
    data_root: DataRoot = None,
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
    fit_affine: FitAffine = False,
    as_json: Json = False,
    save: Save = None,
    progress: Progress = True,
    precision: PrecisionOpt = "32",
    device: DeviceOpt = "cpu",
    adapt: AdaptSteps = 0,
    adapt_lr: AdaptLr = None,
    pd: PixelShuffle = None,
) -> None:
    """Evaluate denoisers (help text: EVALUATE_HELP)."""
    from medenoise.inference.options import InferenceOptions

    sources = Sources(
        clean, noise, noisy, fmd, avg, fov, images, seed, repeats, set_name, data_root
    )
    with user_errors():
        listing = _set_listing(set_name, data_root)
        options = InferenceOptions(
            precision=precision, ensemble=ensemble, device=parse_device(device).torch
        )
        scoring = dict(assume=assume, adapt=adapt, adapt_lr=adapt_lr, progress=progress,
                       fit_affine=fit_affine)  # fmt: skip
        results = _score_models(model, sources, options, save, pd=pd, **scoring)
    _print_results(results, as_json, eight_bit, listing)


def _set_listing(set_name: str | None, root: Path | None) -> dict | None:
    """{"name", "root", "images"} of a --set (checked before any model loads), else None."""
    if not set_name:
        return None
    from medenoise.data.medical_sets import data_root, items

    labels = [i.label for i in items(set_name, root)]
    return {"name": set_name, "root": str(data_root(root)), "images": labels}


def _score_models(names: list[str], sources: Sources, options, save: Path | None, pd=None,
                  **scoring):  # fmt: skip
    """(label, result) per model, each loaded with `options` (baselines without the
    self-ensemble); labels are made unique, and --save gets a folder per row if several.
    With --adapt a network gives two rows: unadapted, then adapted, scored on the same images."""
    from medenoise.api import load_model
    from medenoise.eval.evaluate import model_label
    from medenoise.inference.resolve import is_baseline_name

    denoisers = [
        load_model(m, options=options.with_(ensemble=None) if is_baseline_name(m) else options)
        for m in names
    ]
    if pd is not None:  # --pd: blind-spot networks only, labelled '+pdK'
        from medenoise.correlated import pd_suffix, with_pd

        denoisers = [with_pd(d, pd, strict=False) for d in denoisers]
        labels = _unique([model_label(d) + pd_suffix(d) for d in denoisers])
    else:
        labels = _unique([model_label(d) for d in denoisers])
    several = len(denoisers) > 1 or bool(scoring["adapt"])
    return [
        row
        for name, label, den in zip(names, labels, denoisers, strict=True)
        for row in _score_one(name, label, den, sources, options, save, several, **scoring)
    ]


def _score_one(name, label, den, sources: Sources, options, save, several, *, assume, adapt,
               adapt_lr, progress, fit_affine) -> list[tuple[str, dict]]:  # fmt: skip
    """Score one loaded model; with --adapt (networks only) also the model adapted to the
    images, the adapted row saying on how many images it scores below the unadapted one."""
    from medenoise.eval.evaluate import compare_images
    from medenoise.inference.resolve import is_baseline_name

    stream, total = build_samples(den, *sources)
    score = dict(total=total, save=save, several=several, assume=assume, progress=progress,
                 fit_affine=fit_affine)  # fmt: skip
    if not adapt or is_baseline_name(name):
        return [_scored(label, den, stream, source=str(den.source), **score)]
    samples = list(stream)
    unadapted = _scored(label, den, iter(samples), source=str(den.source), **score)
    t0 = time.perf_counter()
    level = sources.noise or assume
    tuned = _adapted(name, den, samples, adapt, adapt_lr, level, options)
    seconds = round(time.perf_counter() - t0, 1)
    # `source` names the original model; the label says it was adapted
    adapted = _scored(f"{label}+adapt{adapt}", tuned, iter(samples), source=str(den.source),
                      **score)  # fmt: skip
    adapted[1].update(
        adapt_steps=adapt, adapt_seconds=seconds, adapted_source=str(tuned.source),
        vs_unadapted=compare_images(unadapted[1], adapted[1]),
    )  # fmt: skip
    return [unadapted, adapted]


def _scored(label, den, stream, *, total, source, save, several, assume, progress, fit_affine):
    """(label, result) of one denoiser over the sample stream, with --save and a bar."""
    from medenoise.eval.evaluate import AFFINE_TEXT, PROTOCOL_TEXT, save_plane, saved_name
    from medenoise.eval.evaluate import evaluate as run

    hook = None
    if save is not None:
        folder = save / label if several else save
        hook = lambda s, d, r: save_plane(folder / saved_name(s.name), d)  # noqa: E731
    bar = _bar(total, label, progress and sys.stderr.isatty())
    try:
        res = run(den, stream, noise=assume, on_image=hook, progress=bar, fit_affine=fit_affine)
    finally:
        if bar is not None:
            bar.close()
    res.update(model=label, source=source,
               protocol=PROTOCOL_TEXT + (AFFINE_TEXT if fit_affine else ""))  # fmt: skip
    return label, res


def _print_results(
    results: list[tuple[str, dict]], as_json: bool, eight_bit: bool, listing: dict | None = None
) -> None:
    """The JSON object (one model's, or {"models": [...]}; a --set's listing under "set") or
    the set's listing line, the table and the protocol line."""
    from medenoise.eval.evaluate import PROTOCOL_TEXT, format_table

    if as_json:
        obj = results[0][1] if len(results) == 1 else {"models": [r for _, r in results]}
        obj = obj if listing is None else {**obj, "set": listing}
        typer.echo(json.dumps(_json_safe(obj), indent=1))
        return
    if listing is not None:
        typer.echo(f"set {listing['name']} ({len(listing['images'])} images, root "
                   f"{listing['root']}): {', '.join(listing['images'])}")  # fmt: skip
    typer.echo(format_table(results, eight_bit))
    typer.echo(f"protocol: {PROTOCOL_TEXT}")


def _adapted(name: str, den, samples: list, steps: int, lr: float, noise: str | None, options):
    """The denoiser fine-tuned on the samples' noisy planes; a level range is not one
    level, so a known-level model then adapts at its own."""
    from medenoise.adaptation import adapt
    from medenoise.inference.measured_level import MEASURED
    from medenoise.noise.spec import parse_noise_spec

    measured = noise == MEASURED  # adapts at one level: the model's own
    level = noise if noise and not measured and parse_noise_spec(noise).is_fixed else None
    noisy = [s.noisy for s in samples]
    return adapt(
        name, noisy, steps, noise=level, lr=lr, device=options.device,
        precision=options.precision.value, ensemble=den.ensemble,
    )  # fmt: skip


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
