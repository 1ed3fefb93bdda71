"""Noise spec strings: `gaussian:25`, `gaussian:5-50`, `poisson:30`,
`pg:a=0.016,b=-0.0002`, `rician:25`, `impulse:0.5`, or a bare kind (`gaussian`, `pg`)
when the level is to be learned from already-noisy data. A gaussian spec with a level may
name a correlation kernel, `gaussian:25,kernel=box3` (noise/kernels.py): σ is then the std
of the correlated noise actually added."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from medenoise.errors import UserError
from medenoise.noise.kernels import canonical_kernel

KINDS = ("gaussian", "poisson", "pg", "rician", "impulse")
# the default key for kinds written with one positional value ("gaussian:25")
POSITIONAL = {"gaussian": "sigma", "poisson": "lam", "rician": "sigma", "impulse": "alpha"}
KEYS = {
    "gaussian": {"sigma"},
    "poisson": {"lam"},
    "pg": {"a", "b"},
    "rician": {"sigma"},
    "impulse": {"alpha"},
}


@dataclass(frozen=True)
class NoiseSpec:
    """A parsed spec: kind plus a (lo, hi) range per parameter (lo == hi when fixed)."""

    kind: str
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    kernel: str | None = None  # canonical correlation kernel name; None: white noise

    @property
    def has_level(self) -> bool:
        return bool(self.ranges)

    @property
    def is_fixed(self) -> bool:
        return bool(self.ranges) and all(lo == hi for lo, hi in self.ranges.values())

    def __str__(self) -> str:
        if not self.ranges:
            return self.kind
        tail = f",kernel={self.kernel}" if self.kernel else ""

        def fmt(lo: float, hi: float) -> str:
            return f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"

        if self.kind in POSITIONAL:
            return f"{self.kind}:{fmt(*self.ranges[POSITIONAL[self.kind]])}{tail}"
        items = ",".join(f"{k}={fmt(*v)}" for k, v in self.ranges.items())
        return f"{self.kind}:{items}{tail}"


# A number as Python writes it (a leading sign, an exponent: 1e-05, -9.52e-05); a value is
# one number or a range lo-hi of two.
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_VALUE = re.compile(rf"({_NUMBER})(?:-({_NUMBER}))?")


def _parse_value(text: str, spec: str) -> tuple[float, float]:
    match = _VALUE.fullmatch(text.strip())
    if match is None:
        raise UserError(f"noise spec {spec!r}: {text!r} is not a number or range lo-hi")
    lo = float(match.group(1))
    hi = float(match.group(2)) if match.group(2) is not None else lo
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise UserError(f"noise spec {spec!r}: {text!r} is not a number or range lo-hi")
    return lo, hi


def parse_noise_spec(spec: str | NoiseSpec) -> NoiseSpec:
    """Parse a spec string; raises UserError with a message naming the spec on bad input."""
    if isinstance(spec, NoiseSpec):
        return spec
    text = spec.strip().lower()
    kind, _, rest = text.partition(":")
    if kind not in KINDS:
        raise UserError(
            f"noise spec {spec!r}: unknown kind {kind!r} (use one of {', '.join(KINDS)})"
        )
    ranges: dict[str, tuple[float, float]] = {}
    kernel = None
    if rest:
        for item in rest.split(","):
            key, eq, val = item.partition("=")
            if eq and key.strip() == "kernel":
                if kind != "gaussian":
                    raise UserError(f"noise spec {spec!r}: kernel= applies to gaussian noise only")
                kernel = canonical_kernel(val, spec)
                continue
            if not eq:
                if kind not in POSITIONAL or ranges:
                    raise UserError(f"noise spec {spec!r}: write parameters as key=value")
                key, val = POSITIONAL[kind], item
            key = key.strip()
            if key not in KEYS[kind]:
                raise UserError(f"noise spec {spec!r}: {kind} has no parameter {key!r}")
            ranges[key] = _parse_value(val.strip(), spec)
        if set(ranges) != KEYS[kind]:
            missing = ", ".join(sorted(KEYS[kind] - set(ranges)))
            raise UserError(f"noise spec {spec!r}: missing {missing}")
    _check_domain(kind, ranges, spec)
    return NoiseSpec(kind, ranges, kernel)


def _check_domain(kind: str, ranges: dict[str, tuple[float, float]], spec: str) -> None:
    positive = {"sigma", "lam"}
    for key, (lo, _hi) in ranges.items():
        if key in positive and lo <= 0:
            raise UserError(f"noise spec {spec!r}: {key} must be > 0")
        if key == "a" and lo < 0:
            raise UserError(f"noise spec {spec!r}: a must be ≥ 0")
        if key == "alpha" and not (lo >= 0 and ranges[key][1] <= 1):
            raise UserError(f"noise spec {spec!r}: alpha must be in [0, 1]")
