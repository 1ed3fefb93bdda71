"""The one device vocabulary of every command: `--device cpu | cuda | cuda:N`."""

from __future__ import annotations

from typing import NamedTuple

from medenoise.errors import UserError


class Device(NamedTuple):
    """A `--device` choice as Lightning's (accelerator, devices); `.torch` is the same device
    as a torch device string, for inference."""

    accelerator: str
    devices: int | str

    @property
    def torch(self) -> str:
        """'cpu', 'cuda' or 'cuda:N'."""
        if self.accelerator == "cpu":
            return "cpu"
        return "cuda" if self.devices == 1 else f"cuda:{str(self.devices).rstrip(',')}"


def parse_device(text: str) -> Device:
    """'cpu' | 'cuda' | 'cuda:N' → Device; the one device vocabulary of every command."""
    name = str(text).strip().lower()
    if name == "cpu":
        return Device("cpu", 1)
    kind, _, index = name.partition(":")
    if kind == "cuda" and (not index or index.isdigit()):
        # Lightning picks GPU N by the list form "N," (a bare int N means N devices)
        return Device("gpu", f"{int(index)}," if index else 1)
    raise UserError(f"--device {text!r}: choose cpu, cuda or cuda:N")
