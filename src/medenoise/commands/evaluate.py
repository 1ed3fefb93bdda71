"""`medenoise evaluate`: score models on clean images with synthetic noise, real noisy/clean
pairs, or the FMD layout; prints a table (or DESIGN's JSON object with --json)."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from medenoise.errors import UserError

EVALUATE_HELP = (
    "Score denoisers against clean references. Sources: --clean DIR with --noise SPEC "
    "(synthetic noise, image i drawn from a generator seeded by (seed, i): the same command "
    "gives identical numbers), --clean DIR with --noisy DIR (real pairs matched by relative "
    "path), or --fmd DIR --avg N (FMD layout: mean of N raw frames vs gt/<fov>/avg50). "
    "--model may be given several times; baselines: bm3d, vst-bm3d, nlm, identity."
)


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
    model: Annotated[
        list[str],
        typer.Option(help="Model file, zoo name or baseline (repeatable).", show_default=False),
    ],
    clean: Annotated[
        list[Path] | None,
        typer.Option(help="Clean reference images or folders.", readable=False),
    ] = None,
    noise: Annotated[
        str | None, typer.Option(help="Synthetic noise added to --clean, e.g. gaussian:25.")
    ] = None,
    noisy: Annotated[
        list[Path] | None,
        typer.Option(
            help="Real noisy images/folders matching --clean by relative path.", readable=False
        ),
    ] = None,
    fmd: Annotated[
        list[Path] | None,
        typer.Option(help="FMD folders (<config>/raw/<fov>, gt/<fov>).", readable=False),
    ] = None,
    avg: Annotated[int, typer.Option(help="FMD averaging level: 1 (raw), 2, 4, 8, 16.")] = 1,
    fov: Annotated[
        list[str] | None, typer.Option(help="FMD fields of view to use (default: all).")
    ] = None,
    images: Annotated[
        int | None, typer.Option(help="FMD noisy images per field (default: every frame).")
    ] = None,
    assume: Annotated[
        str | None,
        typer.Option(
            help="Noise level given to known-level models and baselines on real noise "
            "(default: the model's training level; baselines estimate it)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic noise.")] = 0,
    repeats: Annotated[int, typer.Option(help="Noise draws per clean image.")] = 1,
    eight_bit: Annotated[
        bool, typer.Option("--8bit", help="Table PSNR on 8-bit values (SSDN paper protocol).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON object.")] = False,
    save: Annotated[
        Path | None, typer.Option(help="Write denoised images (16-bit PNG) into this folder.")
    ] = None,
    device: Annotated[str, typer.Option(help="cpu | cuda | cuda:1 ...")] = "cpu",
    ensemble: Annotated[
        bool | None,
        typer.Option(
            "--ensemble/--no-ensemble",
            help="Networks with the geometric self-ensemble (see `denoise --ensemble`); "
            "their table label gets '+ens'. Baselines are unaffected. Default: each zoo "
            "model's setting, off for model files.",
            show_default=False,
        ),
    ] = None,
    adapt: Annotated[
        int,
        typer.Option(
            help="Fine-tune each SSDN/Noise2Void model STEPS steps on all the noisy inputs of "
            "the run (self-supervised, as `denoise --adapt`) before scoring it; label "
            "'+adaptN'. Baselines are scored as they are. 0: off.",
            metavar="STEPS",
            min=0,
        ),
    ] = 0,
    adapt_lr: Annotated[float, typer.Option(help="Learning rate of --adapt.")] = 1e-4,
    progress: Annotated[bool, typer.Option(help="Progress bar on stderr.")] = True,
) -> None:
    """Evaluate denoisers (help text: EVALUATE_HELP)."""
    from medenoise.api import load_model
    from medenoise.commands._common import user_errors
    from medenoise.eval.evaluate import (
        PROTOCOL_TEXT,
        format_table,
        model_label,
        save_plane,
        saved_name,
    )
    from medenoise.eval.evaluate import evaluate as run
    from medenoise.methods.baselines import is_baseline_name

    results = []
    with user_errors():
        denoisers = [
            load_model(m, device, ensemble=None if is_baseline_name(m) else ensemble) for m in model
        ]
        labels = _unique([model_label(d) for d in denoisers])
        for name, label, den in zip(model, labels, denoisers, strict=True):
            stream, total = build_samples(
                den, clean, noise, noisy, fmd, avg, fov, images, seed, repeats
            )
            adapting = adapt and not is_baseline_name(name)
            source = str(den.source)
            if adapting:
                t0 = time.perf_counter()
                stream, den = _adapted(
                    name, den, list(stream), adapt, adapt_lr, noise or assume, device
                )
                adapt_seconds = time.perf_counter() - t0
                label = f"{label}+adapt{adapt}"
            bar = _bar(total, label, progress and sys.stderr.isatty())
            hook = None
            if save is not None:
                folder = save / label if len(denoisers) > 1 else save
                hook = lambda s, d, r, folder=folder: save_plane(  # noqa: E731
                    folder / saved_name(s.name), d
                )
            res = run(den, stream, noise=assume, on_image=hook, progress=bar)
            res.update(model=label, source=source, protocol=PROTOCOL_TEXT)
            if adapting:  # the adapted weights lived in a temporary folder: name the original
                res.update(adapt_steps=adapt, adapt_seconds=round(adapt_seconds, 1))
            results.append((label, res))
            if bar is not None:
                bar.close()
    if as_json:
        obj = results[0][1] if len(results) == 1 else {"models": [r for _, r in results]}
        typer.echo(json.dumps(_json_safe(obj), indent=1))
        return
    typer.echo(format_table(results, eight_bit))
    typer.echo(f"protocol: {PROTOCOL_TEXT}")


def _adapted(name: str, den, samples: list, steps: int, lr: float, noise: str | None, device):
    """(samples, denoiser fine-tuned on the samples' noisy planes); a level range is not
    one level, so a known-level model then adapts at its own."""
    from medenoise.adaptation import adapt
    from medenoise.noise.spec import parse_noise_spec

    level = noise if noise and parse_noise_spec(noise).is_fixed else None
    noisy = [s.noisy for s in samples]
    tuned = adapt(name, noisy, steps, noise=level, lr=lr, device=device, ensemble=den.ensemble)
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
