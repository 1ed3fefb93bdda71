"""Study files (YAML): datasets × noise settings × model variants, and budget presets.

A study names its variants (trained methods, baselines, or existing model files), the
evaluations (clean + synthetic noise, real pairs, or FMD levels) and the figures. Data
paths are relative to `data_root` (itself relative to the YAML file unless absolute;
`--data-root` or $MEDENOISE_DATA override it). YAML merge keys (`<<: *anchor`) keep shared
training options in one place.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, model_validator

from medenoise.config import CONFIG_VERSION, Method, ModelConfig, _Strict, validated
from medenoise.errors import UserError


class Budget(_Strict):
    """Training length and evaluation size of one preset (`--budget small|full`)."""

    steps: int = Field(ge=1)
    patch: int = 64
    batch_size: int = 4
    val_every: int = 500
    checkpoint_every: int = 250
    eval_images: int | None = None  # at most this many images per evaluation (None: all)
    # a warm-start preset: variants with a `warm_init` start from that model at `warm_lr`
    # (default: the training default), the rest train from scratch for scratch_steps_scale ×
    # steps (a plain U-Net step costs about a quarter of a blind-spot one)
    warm_start: bool = False
    warm_lr: float | None = Field(None, gt=0)
    level_lr: float | None = Field(None, gt=0)  # a learned global level's rate (optim.level_lr)
    scratch_steps_scale: float = Field(1.0, gt=0)


class Variant(ModelConfig):
    """A study row: a method to train (its ModelConfig fields), a baseline, or a model file."""

    method: Method | None = None  # None for a baseline or a model file
    # the model file's own fields are set by training, not by the study
    version: int = Field(CONFIG_VERSION, exclude=True)
    training: dict[str, Any] = Field(default_factory=dict, exclude=True)
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
    label: str | None = None  # shown in tables and figures (default: name)
    baseline: Literal["bm3d", "vst-bm3d", "nlm", "identity"] | None = None
    model: str | None = None  # existing model file or zoo name: evaluate only
    prior_of: str | None = None  # an earlier SSDN variant: its network's prior mean μ alone
    data: list[str] = Field(default_factory=list)  # default: the study's train_data
    data_kind: Literal["clean", "noisy"] = "clean"
    layout: Literal["files", "fmd"] = "files"
    init: str | None = None  # name of an earlier variant to fine-tune from
    warm_init: str | None = None  # zoo name or model file it starts from under a warm budget
    steps_scale: float = Field(1.0, gt=0)  # fraction of the budget's steps (fine-tuning)
    min_patch_mean: float = 0.0
    value_range: tuple[float, float] | None = None  # LO, HI of the training files' values
    seed: int = 0
    assume: str | None = None  # level given to known-level models on real noise

    @model_validator(mode="after")
    def _one_kind(self) -> Variant:
        kinds = [self.method, self.baseline, self.model, self.prior_of]
        if sum(k is not None for k in kinds) != 1:
            raise ValueError(
                f"variant {self.name}: give exactly one of method, baseline, model, prior_of"
            )
        return self

    @property
    def trained(self) -> bool:
        return self.method is not None

    def network(self) -> ModelConfig:
        """The ModelConfig a trained variant trains."""
        return ModelConfig.model_validate(self.model_dump(include=set(ModelConfig.model_fields)))

    @property
    def title(self) -> str:
        return self.label or self.name


class Evaluation(_Strict):
    """One test condition: a dataset with a noise setting (synthetic, real pairs or FMD)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
    dataset: str  # table label of the data, e.g. "FMD Confocal_BPAE_B FOV 19"
    level: str  # table/figure label of the noise setting, e.g. "avg2" or "σ=25"
    clean: list[str] = Field(default_factory=list)
    noise: str | None = None
    noisy: list[str] = Field(default_factory=list)
    fmd: list[str] = Field(default_factory=list)
    avg: int = 1
    fov: list[str] = Field(default_factory=list)
    images: int | None = None
    repeats: int = 1
    seed: int = 0
    variants: list[str] = Field(default_factory=list)  # default: every variant

    @model_validator(mode="after")
    def _one_source(self) -> Evaluation:
        if bool(self.fmd) == bool(self.clean):
            raise ValueError(f"evaluation {self.name}: give either fmd or clean")
        if self.clean and bool(self.noise) == bool(self.noisy):
            raise ValueError(f"evaluation {self.name}: give noise (synthetic) or noisy (pairs)")
        return self


class CropFigure(_Strict):
    evaluation: str
    image: int = 0  # index of the image in the evaluation
    variants: list[str] = Field(default_factory=list)  # default: every variant evaluated
    crop: int = 128
    box: tuple[int, int, int, int] | None = None  # (y, x, h, w); default: most detail


class BarFigure(_Strict):
    metric: Literal["psnr_var", "ssim_var", "psnr", "ssim"] = "psnr_var"
    evaluations: list[str] = Field(default_factory=list)  # default: all
    variants: list[str] = Field(default_factory=list)
    title: str | None = None


class Figures(_Strict):
    crops: list[CropFigure] = Field(default_factory=list)
    bars: list[BarFigure] = Field(default_factory=list)
    curves: bool = True


class Table(_Strict):
    title: str
    metric: Literal["psnr", "ssim", "psnr_8bit", "psnr_var", "ssim_var"] = "psnr"
    evaluations: list[str] = Field(default_factory=list)
    variants: list[str] = Field(default_factory=list)


class Study(_Strict):
    """A whole study file."""

    name: str
    title: str
    description: str = ""
    notes: str = ""  # deviations from the original study, shown in the report
    data_root: str = "."
    train_data: list[str] = Field(default_factory=list)
    val: list[str] = Field(default_factory=list)
    budgets: dict[str, Budget]
    variants: list[Variant]
    evaluations: list[Evaluation]
    tables: list[Table] = Field(default_factory=list)
    figures: Figures = Field(default_factory=Figures)
    anchors: dict | None = None  # free room for YAML anchors; ignored

    @model_validator(mode="after")
    def _consistent(self) -> Study:
        names = [v.name for v in self.variants]
        evals = [e.name for e in self.evaluations]
        for kind, items in (("variant", names), ("evaluation", evals)):
            if dup := {n for n in items if items.count(n) > 1}:
                raise ValueError(f"duplicate {kind} name {sorted(dup)[0]}")
        for i, v in enumerate(self.variants):
            if v.init and v.init not in names[:i]:
                raise ValueError(f"variant {v.name}: init {v.init} is not an earlier variant")
            if v.prior_of:
                _check_prior_of(v, self.variants[:i])
            if v.warm_init and not v.trained:
                raise ValueError(f"variant {v.name}: warm_init is for a variant that trains")
            if v.trained and not (v.data or self.train_data):
                raise ValueError(f"variant {v.name}: no training data (data or train_data)")
        refs = [(e.name, e.variants) for e in self.evaluations]
        refs += [(f"table {t.title}", t.variants) for t in self.tables]
        refs += [(f"crop {c.evaluation}", c.variants) for c in self.figures.crops]
        for where, wanted in refs:
            if unknown := [n for n in wanted if n not in names]:
                raise ValueError(f"{where}: unknown variant {unknown[0]}")
        for c in self.figures.crops:
            if c.evaluation not in evals:
                raise ValueError(f"crop figure: unknown evaluation {c.evaluation}")
        for t in [*self.tables, *self.figures.bars]:
            if unknown := [n for n in t.evaluations if n not in evals]:
                raise ValueError(f"unknown evaluation {unknown[0]}")
        return self

    def variant(self, name: str) -> Variant:
        return next(v for v in self.variants if v.name == name)

    def evaluated(self, evaluation: Evaluation) -> list[Variant]:
        """Variants scored in this evaluation, in study order."""
        wanted = set(evaluation.variants or [v.name for v in self.variants])
        return [v for v in self.variants if v.name in wanted]


def _check_prior_of(v: Variant, earlier: list[Variant]) -> None:
    """A μ-only row names an earlier variant that trains an SSDN network with a posterior."""
    source = next((e for e in earlier if e.name == v.prior_of), None)
    if source is None:
        raise ValueError(f"variant {v.name}: prior_of {v.prior_of} is not an earlier variant")
    if source.method != "ssdn" or source.covariance == "mu":
        raise ValueError(
            f"variant {v.name}: prior_of {v.prior_of} must train SSDN with a posterior"
        )


def load_study(path: str | Path) -> Study:
    """Parse and validate a study YAML; one-line UserError on any problem."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UserError("no such study file", path) from None
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"cannot read study: {str(exc).splitlines()[0]}", path) from None
    if not isinstance(raw, dict):
        raise UserError("a study file is a YAML mapping (name, variants, evaluations, ...)", path)
    return validated(Study, raw, path)


def data_root(study: Study, study_path: Path, override: str | Path | None = None) -> Path:
    """Where the study's relative data paths start: --data-root, $MEDENOISE_DATA, or the
    study's data_root relative to its file."""
    if override is not None:
        return Path(override)
    if env := os.environ.get("MEDENOISE_DATA"):
        return Path(env)
    root = Path(study.data_root)
    return root if root.is_absolute() else (study_path.parent / root).resolve()


def budget_of(study: Study, name: str, source: Path) -> Budget:
    """The named budget preset of a study, or a UserError listing the ones it has."""
    if name not in study.budgets:
        have = ", ".join(sorted(study.budgets)) or "none"
        raise UserError(f"study has no budget {name!r} (it has: {have})", source)
    return study.budgets[name]
