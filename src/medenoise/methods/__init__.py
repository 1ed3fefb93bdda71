"""Training methods: one registry, one training-step signature (see methods/base.py)."""

from __future__ import annotations

from medenoise.methods.base import DenoisingMethod
from medenoise.methods.n2c import N2C
from medenoise.methods.n2n import N2N
from medenoise.methods.n2v import N2V
from medenoise.methods.ssdn import SSDN
from medenoise.methods.student import Student

METHODS: dict[str, type[DenoisingMethod]] = {
    cls.name: cls for cls in (SSDN, N2C, N2N, N2V, Student)
}


def build_method(model, train=None) -> DenoisingMethod:
    """The method's module for a ModelConfig; with a TrainConfig, the Lightning-ready class."""
    try:
        cls = METHODS[model.method]
    except KeyError:
        raise ValueError(
            f"method {model.method!r} is not available; choose from {', '.join(sorted(METHODS))}"
        ) from None
    if train is not None:
        from medenoise.methods.training import trainable

        cls = trainable(cls)
    return cls(model, train)


__all__ = ["METHODS", "DenoisingMethod", "build_method"]
