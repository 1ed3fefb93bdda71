"""The guard during `denoise`: measure each input's noise, check each output, warn (or refuse
with `--strict`), collect the figures for `--report`; and the model to use when none is given.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from medenoise.errors import UserError
from medenoise.guard import checks
from medenoise.inference.measured_level import MEASURED
from medenoise.inspection.profile import NoiseProfile, Verdict


def profile_of(image) -> NoiseProfile:
    """The inspector's noise measurement of one read `Image`, with its verdict."""
    from medenoise.inspection.verdict import judge

    return judge(image)


def profile_summary(profile: NoiseProfile) -> dict[str, Any]:
    """The measurements a report needs (no per-bin points), with the verdict."""
    keep = ("value_range", "range_source", "sigma", "pg_a", "pg_b", "pg_fit_r2", "corr_x")
    keep += ("corr_y", "clipped_low", "clipped_high")
    summary = {key: getattr(profile, key) for key in keep}
    verdict = profile.verdict
    if verdict is not None:
        summary["verdict"] = {
            "kind": verdict.kind,
            "message": verdict.message,
            "model": verdict.model,
            "options": list(verdict.options),
            "blind_spot_safe": verdict.blind_spot_safe,
        }
    return summary


class GuardedDenoiser:
    """A denoiser whose every `denoise_image` is checked by the guard: a flagged output gets
    one `warning:` line, or with `strict` a UserError (the file is then not written)."""

    def __init__(self, inner, strict: bool = False, name: str | None = None):
        self.inner = inner
        self.strict = strict
        self.name = name
        self.records: list[dict[str, Any]] = []
        self.last: checks.GuardResult | None = None  # the check of the latest output

    def __getattr__(self, name: str):
        # Everything else (config, source, levels) is the wrapped denoiser's.
        return getattr(self.inner, name)

    def run_model(self) -> dict[str, str]:
        """The run's model for the report: the one given, or 'per file' when each file's
        noise chose its own (each record then names it)."""
        if isinstance(self.inner, ChoosingDenoiser):
            return {"name": "per file", "method": "chosen per file from its noise"}
        info = checks.model_info(self.inner, self.name)
        return {"name": info.name, "method": info.method}

    def denoise_image(self, image, noise: str | None = None):
        """Denoise `image` in place like the wrapped denoiser, then check what it removed."""
        source = image.meta.source or "image"
        profile = profile_of(image)
        if isinstance(self.inner, ChoosingDenoiser):  # no --model: this image's verdict picks
            self.inner.choose(profile, str(source))
        before = image.array.copy()
        out = self.inner.denoise_image(image, noise)
        scaling = image.meta.scaling
        info = checks.model_info(self.inner, self.name)  # after the run: the model it used
        result = checks.check_output(
            checks.to_profile_scale(before, scaling, profile),
            checks.to_profile_scale(out.array, scaling, profile),
            profile,
            info,
        )
        self.last = result
        refused = result.flagged and self.strict
        self.records.append(
            {"file": str(source), "model": {"name": info.name, "method": info.method},
             **result.to_dict(), "written": not refused, "profile": profile_summary(profile)}
        )  # fmt: skip
        if refused:
            line = checks.warning_line(source, result).split(": ", 2)[2]
            raise UserError(f"not written (--strict): {line}", source)
        if result.flagged:
            typer.echo(checks.warning_line(source, result), err=True)
        return out


def provenance_note(denoiser) -> str:
    """The guard's findings on the latest output, for its provenance ('' when unguarded or
    silent)."""
    last = getattr(denoiser, "last", None)
    return checks.derivation_note(last) if isinstance(last, checks.GuardResult) else ""


def check_report_path(path: Path | None, inputs: list[Path]) -> Path | None:
    """Refuse a --report path that is an input or a folder, before any work is done."""
    if path is None:
        return None
    if path.is_dir():
        raise UserError("--report must be a file name, e.g. report.json, not a folder", path)
    if path.exists() and any(path.resolve() == Path(src).resolve() for src in inputs):
        raise UserError("--report would overwrite an input; choose another file name", path)
    return path


def write_report(path: Path, guarded: GuardedDenoiser, choice: str | None = None) -> None:
    """Write the run's guard report as one JSON document, atomically."""
    document = {
        "model": guarded.run_model(),
        "model_choice": choice,
        "thresholds": thresholds(),
        "files": guarded.records,
    }
    text = json.dumps(document, indent=1, default=float)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        tmp.write_text(text + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise UserError(f"cannot write the report: {exc.strerror or exc}", path) from exc


def thresholds() -> dict[str, float]:
    """The guard's limits, as the report records them."""
    names = ("ENERGY_LIMIT", "LOW_FREQ_LIMIT", "NOISE_LOW_SHARE", "EDGE_LIMIT", "RANGE_LIMIT")
    return {name.lower(): getattr(checks, name) for name in names + ("CORRELATION_LIMIT",)}


def nothing_safe(verdict: Verdict | None, where, tail: str = "") -> UserError:
    """The refusal when no --model was given and the verdict on `where` names none."""
    reason = verdict.message.rstrip(". ") if verdict is not None else "no verdict"
    return UserError(
        f"no --model given and nothing safe to run: {reason}; see `medenoise inspect "
        f"{where}`, then pass --model{tail}",
        where,
    )


class ChoosingDenoiser:
    """Without --model: each image's own inspector verdict picks its model (each model loaded
    once), announced in one note per image; an image for which nothing safe fits is refused
    on its own error line while the others still run."""

    def __init__(self, load, noise: str | None = None):
        self.load = load  # model name -> denoiser
        # a --noise the user gave wins over the verdict's; `measured` is what the verdict
        # gives anyway (the level measured on each image, for the model it picks)
        self.noise = None if noise == MEASURED else noise
        self.models: dict[str, Any] = {}
        self.current = None
        self.spec: str | None = None

    @property
    def config(self):
        return self.current.config

    @property
    def source(self):
        return self.current.source

    def choose(self, profile: NoiseProfile, where: str) -> None:
        """Load (once) and select the model the verdict on `profile` of image `where` names,
        or refuse."""
        verdict = profile.verdict
        if verdict is None or verdict.model is None:
            raise nothing_safe(verdict, where, " (or leave this file out)")
        self.spec = verdict_noise(verdict, self.noise)
        if verdict.model not in self.models:
            self.models[verdict.model] = self.load(verdict.model)
        self.current = self.models[verdict.model]
        given = f" --noise {self.spec}" if self.spec else ""
        typer.echo(
            f"note: {where}: no --model given; {verdict.message.rstrip('. ')}; using --model "
            f"{verdict.model}{given}",
            err=True,
        )

    def denoise_image(self, image, noise: str | None = None):
        """Denoise with the model `choose` selected for this image."""
        if self.current is None:
            raise UserError("no model chosen for this image", image.meta.source)
        noise = None if noise == MEASURED else noise
        return self.current.denoise_image(image, noise or self.spec)


@dataclass(frozen=True)
class Choice:
    """The model the inspector chose for a run (`--adapt` without `--model`), its noise
    level and the note saying why."""

    model: str
    noise: str | None
    note: str


def verdict_noise(verdict: Verdict, given: str | None) -> str | None:
    """The noise level to run the verdict's model with: the user's `--noise`, else the
    verdict's (its only option), else None (the model's own)."""
    options = dict(zip(verdict.options[::2], verdict.options[1::2], strict=False))
    return given or options.get("--noise")


def choose_model(first: Path, image, noise: str | None) -> Choice:
    """The inspector's verdict on the first input as the run's model, or a UserError when the
    verdict names none."""
    verdict = profile_of(image).verdict
    if verdict is None or verdict.model is None:
        raise nothing_safe(verdict, first)
    spec = verdict_noise(verdict, noise)
    given = f" --noise {spec}" if spec else ""
    model = teacher_of(verdict.model)
    note = (
        f"note: no --model given: inspected {first} (the first readable input; one model is "
        f"adapted for the whole run, and every output is still checked): "
        f"{verdict.message.rstrip('. ')}; using --model {model}{given}"
    )
    return Choice(model, spec, note)


def teacher_of(name: str) -> str:
    """A shipped student's teacher (a student learned from its teacher's outputs, not from
    noise, so only the teacher can adapt); any other name as it is."""
    from medenoise import zoo

    e = zoo.entry(name)
    return e.teacher if e is not None and e.method == "student" and e.teacher else name
