"""Versioned configuration (pydantic): what a model is, and how it is trained. YAML round-trip.

`ModelConfig` travels inside every model file as JSON; `TrainConfig` is what
`medenoise train` (flags or `--config recipe.yaml`) runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from medenoise.errors import UserError
from medenoise.noise.spec import parse_noise_spec

CONFIG_VERSION = 1
Method = Literal["ssdn", "n2c", "n2n", "n2v"]
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
    training: dict[str, Any] = Field(default_factory=dict)

    @field_validator("noise")
    @classmethod
    def _valid_noise(cls, v: str) -> str:
        return str(parse_noise_spec(v))

    @field_validator("version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v > CONFIG_VERSION:
            raise ValueError(
                f"config version {v} is newer than this medenoise "
                f"({CONFIG_VERSION}); upgrade medenoise"
            )
        return v


class TrainConfig(_Strict):
    """A training run: data, method, noise, budget and schedule (SPEC §6 defaults)."""

    data: list[str]
    val: list[str] = Field(default_factory=list)
    data_kind: Literal["clean", "noisy"] = "clean"
    model: ModelConfig = Field(default_factory=ModelConfig)
    steps: int = Field(10_000, ge=1)
    batch_size: int = Field(4, ge=1)
    patch: int = Field(128, ge=32)
    lr: float = Field(3e-4, gt=0)
    rampup: float = Field(0.1, ge=0, le=1)
    rampdown: float = Field(0.3, ge=0, le=1)
    seed: int = 0
    checkpoint_every: int = Field(500, ge=1)
    val_every: int = Field(500, ge=1)
    val_images: int = Field(8, ge=0)
    val_crop: int = Field(256, ge=32)
    min_patch_mean: float = Field(0.0, ge=0, le=1)
    num_workers: int = Field(0, ge=0)
    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    # torch.compile the network for training (GPU; on this 2-core CPU it was slower: 1.44
    # vs 1.16 s per SSDN step, BENCHMARKS.md)
    compile: bool = False
    init: str | None = None
    # SSDN per-image level on synthetic noise (clean data): the prior trains with the true
    # level and the estimator learns it by squared log error. The paper's joint likelihood
    # leaves a Gaussian σ weakly identifiable (σ² and the prior variance add up): from a warm
    # start σ̂ settled at 0.4× the true σ (Set12 crops, 1,000 steps). Noisy data: the paper's.
    level_from_synthesis: bool = False
    # SSDN with a learned level: train only the level (global θ or per-image estimator) for
    # the first N steps, so a warm-started prior net does not absorb the noise into Σ_x before
    # the fresh estimator has learned anything (frozen, σ̂ tracked σ within ~25 steps).
    freeze_net_steps: int = Field(0, ge=0)
    # SSDN over a level range: weight each pixel's NLL by its σ_y (detached), so the noisiest
    # patches, whose μ-gradient is ~σ_y⁻¹, teach the prior as much per step as the cleanest
    # (noise/likelihood.py level_balance_weight); the per-pixel optimum is unchanged
    balance_noise_levels: bool = False
    # real Noise2Noise pairs (data/pairs.py): second noisy copies of `data`, matched by
    # relative file path, or `layout: fmd` where two raw frames of one FOV form a pair
    pairs: list[str] = Field(default_factory=list)
    layout: Literal["files", "fmd"] = "files"
    n2v_fraction: float = Field(1.0 / 64.0, gt=0, le=0.25)
    # LO, HI in the training files' value units mapped to [0, 1] (e.g. float MRI or CT HU);
    # None: each format's nominal range (DESIGN: Values)
    value_range: tuple[float, float] | None = None

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

    def to_yaml(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False))

    @classmethod
    def from_yaml(cls, path: str | Path, recipe: bool = False) -> TrainConfig:
        """Load a config; `recipe=True` reads data/val/pairs (and a weight-file `init`) relative
        to the file's folder."""
        try:
            raw = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise UserError(f"cannot read config: {exc}", path) from None
        if recipe and isinstance(raw, dict):  # recipe paths are relative to the recipe file
            for key in ("data", "val", "pairs"):
                if isinstance(raw.get(key), list):
                    raw[key] = [_beside(path, p) for p in raw[key]]
            init = raw.get("init")  # a weight file beside the recipe (a zoo name stays a name)
            if isinstance(init, str) and init.endswith(".safetensors"):
                raw["init"] = _beside(path, init)
        return validated(cls, raw, path)


def _beside(recipe: str | Path, entry: Any) -> Any:
    """`entry` resolved against the recipe's folder unless absolute (or not a string)."""
    if not isinstance(entry, str) or Path(entry).is_absolute():
        return entry
    return str((Path(recipe).parent / entry).resolve())


def validated(cls: type[BaseModel], raw: Any, source: str | Path) -> Any:
    """Build a config, turning pydantic's multi-line report into one UserError line."""
    try:
        return cls.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        raise UserError(f"invalid {where}: {first['msg']}", source) from None
