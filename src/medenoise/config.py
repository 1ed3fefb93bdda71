"""Versioned configuration (pydantic): what a model is, and how it is trained. YAML round-trip.

`ModelConfig` travels inside every model file as JSON; `TrainConfig` is what
`medenoise train` (flags or `--config recipe.yaml`) runs, in sections (model, dataset,
method_options, optim, trainer; recipes may give every field flat, `steps: 100`). All
checks of a run's option combinations live in `TrainConfig._trainable`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from medenoise.errors import UserError

CONFIG_VERSION = 1
Method = Literal["ssdn", "n2c", "n2n", "n2v", "student"]
ParamMode = Literal["known", "global", "per-image"]
Covariance = Literal["full", "diag", "mu"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelConfig(_Strict):
    """Everything needed to rebuild a network and use it (stored in the model file)."""

    version: int = CONFIG_VERSION
    method: Method = "ssdn"
    noise: str = "gaussian:25"
    noise_param: ParamMode = "known"
    covariance: Covariance = "full"
    channels: Literal[1, 3] = 1
    width: int = Field(48, ge=4, le=256)
    # U-Net poolings: 5 everywhere but in distilled students, which may be shallower (faster,
    # smaller receptive field); any depth ≤ 5 works on the multiples of 32 inputs are padded to
    depth: int = Field(5, ge=2, le=5)
    # student (`medenoise distill`): the model whose output it was trained to reproduce
    teacher: str | None = None
    # SSDN on recorded data (noise/censored.py): values at LO or HI of `clip` (the [0, 1]
    # scale) count as censored, P(Y ≤ LO) / P(Y ≥ HI); with `quant_levels` = L the data are
    # the integers k/L (255: 8-bit) and each value counts as its bin of width 1/L
    clip: tuple[float, float] | None = None
    quant_levels: int = Field(0, ge=0)
    # blind-spot models for correlated noise: trained on the stride-k pixel-shuffle sub-images
    # of patch·k crops (neighbours k pixels apart) and run so by default; 1: full resolution
    pd_stride: int = Field(1, ge=1, le=4)
    # SSDN, correlated noise: side of the square its blind spot hides (1: the pixel alone)
    blind_square: Literal[1, 3, 5, 7] = 1
    # per-image SSDN: its posterior's level when none is given (measured: each plane's own fit;
    # measured-map: Gaussian std measured tile by tile on what it denoises)
    default_level: Literal["estimated", "measured", "measured-map"] = "estimated"
    training: dict[str, Any] = Field(default_factory=dict)

    @field_validator("noise")
    @classmethod
    def _valid_noise(cls, v: str) -> str:
        from medenoise.noise.spec import parse_noise_spec  # lazy: medenoise.noise loads torch

        return str(parse_noise_spec(v))

    @model_validator(mode="after")
    def _recording_needs_diagonal_ssdn(self) -> ModelConfig:
        recorded = self.clip is not None or bool(self.quant_levels)
        rician = self.method == "ssdn" and self.noise.startswith("rician")
        if self.clip is not None and not 0 <= self.clip[0] < self.clip[1] <= 1:
            raise ValueError("clip must be [LO, HI] with 0 ≤ LO < HI ≤ 1")
        if recorded and (self.method != "ssdn" or self.covariance == "mu" or rician):
            raise ValueError(
                "clip and quant_levels shape the SSDN likelihood of gaussian, poisson or pg "
                "noise: use method ssdn with covariance full or diag"
            )
        if (recorded or rician) and self.channels == 3 and self.covariance == "full":
            raise ValueError(
                "clip, quant_levels and rician noise need a diagonal prior: "
                "use channels 1 or covariance diag"
            )
        if self.default_level != "estimated" and self.noise_param != "per-image":
            raise ValueError(f"default_level {self.default_level} is for per-image SSDN")
        if self.default_level == "measured-map" and not self.noise.startswith("gaussian"):
            raise ValueError("default_level measured-map measures a Gaussian noise std")
        return self

    @field_validator("version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v > CONFIG_VERSION:
            raise ValueError(f"config version {v} is newer than {CONFIG_VERSION}: update medenoise")
        return v


class DatasetConfig(_Strict):
    """What is trained on: files, their kind and range, and how patches are cut from them."""

    data: list[str] = Field(default_factory=list)
    val: list[str] = Field(default_factory=list)
    data_kind: Literal["clean", "noisy"] = "clean"
    # real Noise2Noise pairs (data/pairs.py): second noisy copies of `data` matched by path,
    # or `layout: fmd` (two raw frames of one FOV)
    pairs: list[str] = Field(default_factory=list)
    layout: Literal["files", "fmd"] = "files"
    # LO, HI in the training files' value units mapped to [0, 1] (e.g. float MRI or CT HU);
    # None: each format's nominal range (integer types span their range, floats are 0..1)
    value_range: tuple[float, float] | None = None
    patch: int = Field(128, ge=32)
    batch_size: int = Field(4, ge=1)
    min_patch_mean: float = Field(0.0, ge=0, le=1)
    # block-mean factors clean patches are also drawn at (e.g. [1, 2, 4]): the same anatomy on
    # the coarser matrices scanners also store (a 128² CT, a 256² MR)
    matrix_scales: list[Annotated[int, Field(ge=1, le=8)]] = Field(default_factory=lambda: [1])
    num_workers: int = Field(0, ge=0)
    val_images: int = Field(8, ge=0)
    val_crop: int = Field(256, ge=32)

    @field_validator("value_range")
    @classmethod
    def _ordered(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not v[0] < v[1]:
            raise ValueError("value_range LO must be below HI")
        return v

    @field_validator("patch", "val_crop")
    @classmethod
    def _multiple_of_32(cls, v: int) -> int:
        if v % 32:
            raise ValueError("must be a multiple of 32 (five 2× poolings)")
        return v

    @property
    def paired(self) -> bool:
        """True when the training data are real pairs (paired folders or the FMD layout)."""
        return bool(self.pairs) or self.layout == "fmd"


_Extent = Annotated[int, Field(ge=0, le=8)]


class MethodOptions(_Strict):
    """Knobs of one method's training loss (ignored by the others)."""

    # SSDN per-image level on synthetic noise (clean data): the prior trains with the true level
    # and the estimator learns it by squared log error (the joint likelihood leaves σ weakly
    # identifiable: σ² and the prior variance add up). Noisy data: the paper's.
    level_from_synthesis: bool = False
    # SSDN per-image Gaussian level on real noisy data: the same, with the level measured on
    # each noisy patch (noise/measured_level.py) in place of the synthesised one
    level_from_measurement: bool = False
    # SSDN with a learned level: train only the level (global θ or per-image estimator) for
    # the first N steps, so a warm-started prior net does not absorb the noise into Σ_x first
    freeze_net_steps: int = Field(0, ge=0)
    # SSDN, learned level, real noisy data: stop training the level after N steps (0: never),
    # so the prior's variance cannot go on absorbing the noise while σ̂ drifts down
    freeze_level_after: int = Field(0, ge=0)
    # SSDN on real data with cut-off ends (CT air at −1024 HU): pixels at or next to the range's
    # ends leave the likelihood (noise/likelihood.py unclipped_weight)
    ignore_clipped: bool = False
    # SSDN over a level range: weight each pixel's NLL by its σ_y (detached), so the noisiest
    # patches teach the prior as much per step as the cleanest (likelihood.level_balance_weight)
    balance_noise_levels: bool = False
    # Noise2Void: fraction of pixels masked per patch (the N2V paper's 64 per 64² patch)
    n2v_fraction: float = Field(1.0 / 64.0, gt=0, le=0.25)
    # Noise2Void with correlated noise: (rows, columns) half-extent of a structured blind spot
    # (structN2V); (0, 0) is plain N2V (correlated.struct_extent: from the measured correlation)
    n2v_struct: tuple[_Extent, _Extent] = (0, 0)
    # SSDN on real noisy data (`--adapt`): "sure" trains by Stein's unbiased estimate of the
    # posterior mean's squared error (noise/sure.py) in place of the likelihood
    objective: Literal["likelihood", "sure"] = "likelihood"
    # student: noisy copies per clean image, each denoised once (whole) by the teacher
    realizations: int = Field(4, ge=1)


class OptimConfig(_Strict):
    """Optimiser budget and the SSDN paper's schedule: cosine ramp-up, flat, squared ramp-down."""

    steps: int = Field(10_000, ge=1)
    lr: float = Field(3e-4, gt=0)
    level_lr: float | None = Field(None, gt=0)  # rate of a learned global level (default: lr)
    rampup: float = Field(0.1, ge=0, le=1)
    rampdown: float = Field(0.3, ge=0, le=1)
    seed: int = 0


class TrainerConfig(_Strict):
    """Passed through to Lightning's Trainer (hardware, precision, periods)."""

    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    # torch.compile the network for training (GPU; slower on a 2-core CPU, BENCHMARKS.md)
    compile: bool = False
    checkpoint_every: int = Field(500, ge=1)
    val_every: int = Field(500, ge=1)

    @field_validator("precision")
    @classmethod
    def _lightning_precision(cls, v: str) -> str:
        """32/bf16 (as `denoise` spells them) become Lightning's names; others pass as given."""
        from medenoise.inference.options import Precision

        try:
            return Precision.parse(v).lightning
        except UserError:
            return v


# TrainConfig's sections; their field names are also accepted flat at the top level
SECTIONS: dict[str, type[_Strict]] = {
    "model": ModelConfig,
    "dataset": DatasetConfig,
    "method_options": MethodOptions,
    "optim": OptimConfig,
    "trainer": TrainerConfig,
}
LIFTED = {"version", "training"}  # ModelConfig fields never given flat (file-format keys)
FLAT: dict[str, str] = {
    key: section
    for section, cls in SECTIONS.items()
    for key in cls.model_fields
    if not (section == "model" and key in LIFTED)
}


def nest(raw: Any) -> Any:
    """Flat keys (recipes, older run folders) moved into their section (`steps: 100` becomes
    `optim: {steps: 100}`), so both layouts load; other keys and non-mappings stay."""
    if not isinstance(raw, dict):
        return raw
    out = {k: (dict(v) if k in SECTIONS and isinstance(v, dict) else v) for k, v in raw.items()}
    for key in [k for k in raw if k in FLAT]:
        section = out.setdefault(FLAT[key], {})
        if not isinstance(section, dict):
            continue  # the section's own type error is reported by validation
        if key in section:
            raise ValueError(f"{key} given both flat and under {FLAT[key]}")
        section[key] = out.pop(key)
    return out


def merged(base: dict, updates: dict) -> dict:
    """`updates` (flat or nested keys) laid over `base`, section by section."""
    out, new = nest(base), nest(updates)
    for key, value in new.items():
        if key in SECTIONS and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


class TrainConfig(_Strict):
    """A training run: model, dataset, method knobs, optimiser and trainer sections."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    method_options: MethodOptions = Field(default_factory=MethodOptions)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    # start from this model (zoo name or model file): fine-tuning or a warm start
    init: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _lift_flat_keys(cls, raw: Any) -> Any:
        return nest(raw)

    @model_validator(mode="after")
    def _trainable(self) -> TrainConfig:
        """Reject option combinations that cannot train, before any data are read."""
        from medenoise.noise import make_noise_model
        from medenoise.noise.correlated import blind_spot_refusal
        from medenoise.noise.sure import sure_refusal

        model, data = self.model, self.dataset
        noise = make_noise_model(model.noise)
        if model.pd_stride > 1 and model.method not in ("ssdn", "n2v"):
            raise ValueError(
                f"pd_stride {model.pd_stride}: pixel-shuffle training is for blind-spot "
                f"methods (ssdn, n2v), not {model.method}"
            )
        if model.blind_square > 1 and model.method != "ssdn":
            raise ValueError(f"blind_square is SSDN's; {model.method} has n2v_struct masks")
        decorrelated = model.pd_stride > 1 or model.blind_square > 1
        if not decorrelated and (refusal := blind_spot_refusal(model.method, noise)):
            raise ValueError(refusal)
        ssdn, plain = model.method == "ssdn", model.method in ("n2c", "n2n", "n2v", "student")
        if data.data_kind == "clean" and not noise.spec.has_level:
            raise ValueError(
                f"--noise {model.noise} has no level to synthesise; give one "
                f"(e.g. {noise.kind}:25) or pass --data-kind noisy for real noisy data"
            )
        # past the kernel's reach correlated Gaussian noise is white, which SSDN models
        white_on_subimages = decorrelated and noise.spec.kernel
        if ssdn and model.covariance != "mu" and not (noise.has_likelihood or white_on_subimages):
            raise ValueError(
                f"SSDN has no likelihood for {noise.kind} noise; use gaussian, "
                "poisson, pg or rician (or --covariance mu)"
            )
        known_level = ssdn and model.noise_param == "known"
        if known_level and data.data_kind == "noisy" and not noise.spec.is_fixed:
            raise ValueError(
                "--noise-param known on real noisy data needs a single noise level "
                "(e.g. gaussian:25); or learn it with --noise-param global|per-image"
            )
        if self.method_options.balance_noise_levels and (not ssdn or model.covariance == "mu"):
            raise ValueError(
                "--balance-noise-levels weights the SSDN likelihood; "
                f"{model.method} with covariance {model.covariance} has none"
            )
        if self.method_options.level_from_measurement and not (
            ssdn and noise.kind == "gaussian" and model.noise_param == "per-image"
        ):
            raise ValueError("--level-from-measurement teaches a per-image Gaussian SSDN level")
        if self.method_options.objective == "sure" and (why := sure_refusal(model, data.data_kind)):
            raise ValueError(why)
        if model.method == "n2c" and data.data_kind != "clean":
            raise ValueError("n2c is supervised: it needs clean training images")
        if plain and model.noise_param != "known":
            raise ValueError(
                f"{model.method} learns no noise level: noise_param "
                f"{model.noise_param!r} applies to ssdn only (use known)"
            )
        if model.method in ("n2n", "n2v") and noise.kind == "impulse":
            raise ValueError(
                f"{model.method} trains by L2 to noisy targets, which needs zero-mean noise; "
                "impulse noise is not (its L2 optimum is α/2 + (1−α)x)"
            )
        if (model.method == "student") != (model.teacher is not None):
            raise ValueError("a student needs its teacher, and only a student has one")
        if model.depth != 5 and model.method != "student":
            raise ValueError(f"depth {model.depth}: only students may be shallower than 5")
        self._check_pairs()
        return self

    def _check_pairs(self) -> None:
        """Real pairs are noisy data given one way; n2n on real noisy data needs them."""
        data = self.dataset
        if data.pairs and data.layout == "fmd":
            raise ValueError("give either pairs or the FMD layout, not both")
        if data.paired and data.data_kind != "noisy":
            what = "FMD raw frames" if data.layout == "fmd" else "paired images"
            raise ValueError(f"{what} are real noisy data: set data_kind to noisy")
        if data.matrix_scales != [1] and data.data_kind != "clean":  # averaging lowers noise
            raise ValueError("matrix_scales averages patches: it is for data_kind clean only")
        if self.model.method == "n2n" and data.data_kind == "noisy" and not data.paired:
            raise ValueError(
                "n2n on real noisy data needs pairs: give a second folder of noisy copies "
                "with matching file names (pairs), or FMD folders (layout fmd)"
            )

    def to_yaml(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False))

    @classmethod
    def from_yaml(cls, path: str | Path, recipe: bool = False) -> TrainConfig:
        """Load a config, flat or sectioned; `recipe=True`: data/val/pairs and a weight-file
        `init` are read relative to the recipe file's folder."""
        path = Path(path)
        try:
            raw = nest(yaml.safe_load(path.read_text()))
        except (OSError, yaml.YAMLError, ValueError) as exc:
            raise UserError(f"cannot read config: {exc}", path) from None
        data = raw.get("dataset") if isinstance(raw, dict) else None
        if recipe and isinstance(data, dict):  # recipe paths are relative to the recipe file
            for key in ("data", "val", "pairs"):
                if isinstance(data.get(key), list):
                    data[key] = [_beside(path, p) for p in data[key]]
            init = raw.get("init")  # a weight file beside the recipe (a zoo name stays a name)
            if isinstance(init, str) and init.endswith(".safetensors"):
                raw["init"] = _beside(path, init)
        return validated(cls, raw, path)


def _beside(recipe: str | Path, entry: Any) -> Any:
    """`entry` resolved against the recipe's folder unless absolute, not a string or a `set:`."""
    if not isinstance(entry, str) or Path(entry).is_absolute() or entry.startswith("set:"):
        return entry
    return str((Path(recipe).parent / entry).resolve())


def validated(cls: type[BaseModel], raw: Any, source: str | Path) -> Any:
    """Build a config, turning pydantic's multi-line report into one UserError line."""
    try:
        return cls.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(p) for p in first["loc"]]
        if loc and loc[0] in SECTIONS and len(loc) > 1:
            loc = loc[1:]  # a sectioned field is named as it is given flat
        if not loc and first["type"] == "value_error":  # a whole-config check: its own words
            path = source if isinstance(source, Path) else None
            raise UserError(str(first["ctx"]["error"]), path) from None
        where = ".".join(loc) or "config"
        raise UserError(f"invalid {where}: {first['msg']}", source) from None
