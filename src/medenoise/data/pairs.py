"""Real Noise2Noise pairs: two noisy captures of one scene, cropped identically.

Two sources: paired folders (each `data` entry with the `pairs` entry at the same position,
files matched by their path relative to that folder) and the FMD layout
(`<config>/raw/<fov>/*.png`, 50 captures per field of view), where any two distinct raw
frames of one field of view form a pair. Both become "groups" of co-registered planes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from medenoise.data.patches import (
    MAX_REJECTIONS,
    list_images,
    load_planes,
    reflect_to_min_size,
    to_channels,
)
from medenoise.errors import UserError

Group = list[np.ndarray]  # co-registered planes (H, W, C) of one scene, all the same shape


def _relative_images(root: Path) -> dict[Path, Path]:
    """Image files under `root` keyed by their path relative to it."""
    return {f.relative_to(root): f for f in list_images([root])}


def paired_files(inputs: Sequence[str | Path], targets: Sequence[str | Path]) -> list[list[Path]]:
    """Match each input file with its partner: folder ↔ folder by relative path, file ↔ file."""
    if len(inputs) != len(targets):
        raise UserError(
            f"{len(inputs)} data folder(s)/file(s) but {len(targets)} pair folder(s)/file(s); "
            "give one partner for each"
        )
    matched: list[list[Path]] = []
    for a, b in zip(map(Path, inputs), map(Path, targets), strict=True):
        for path in (a, b):
            if not path.exists():
                raise UserError("no such file or folder", path)
        if a.is_file() and b.is_file():
            matched.append([a, b])
            continue
        if not (a.is_dir() and b.is_dir()):
            raise UserError(
                f"cannot pair with {b}: pair a file with a file, a folder with a folder", a
            )
        left, right = _relative_images(a), _relative_images(b)
        if missing := sorted(left.keys() - right.keys()):
            raise UserError(f"no partner {missing[0]} in the paired folder {b}", left[missing[0]])
        if missing := sorted(right.keys() - left.keys()):
            raise UserError(f"no partner {missing[0]} in the data folder {a}", right[missing[0]])
        matched.extend([left[rel], right[rel]] for rel in sorted(left))
    return matched


def fmd_groups(roots: Sequence[str | Path]) -> list[list[Path]]:
    """Raw frames per field of view of FMD folders: a config folder, a parent of configs, or
    one field-of-view folder of raw frames (e.g. <config>/raw/1, to keep FOV 19 for testing)."""
    groups: list[list[Path]] = []
    for root in map(Path, roots):
        if not root.is_dir():
            raise UserError("the FMD layout needs folders (<config>/raw/<fov>/*.png)", root)
        direct = [p for p in list_images([root]) if p.parent == root]
        if len(direct) >= 2:
            groups.append(direct)
            continue
        raws = [root / "raw"] if (root / "raw").is_dir() else sorted(root.glob("*/raw"))
        found = 0
        for raw in raws:
            for fov in sorted(p for p in raw.iterdir() if p.is_dir()):
                frames = list_images([fov])
                if len(frames) >= 2:
                    groups.append(frames)
                    found += 1
        if not found:
            raise UserError(
                "no FMD field of view with two or more raw frames (<config>/raw/<fov>/*.png)",
                root,
            )
    return groups


def load_groups(
    files: Sequence[Sequence[Path]], channels: int, value_range: tuple[float, float] | None = None
) -> list[Group]:
    """Read each group's files; stacks pair slice by slice. Shapes must agree within a group."""
    groups: list[Group] = []
    for members in files:
        stacks = _on_one_range(members, channels, value_range)
        for f, stack in zip(members, stacks, strict=True):
            if len(stack) != len(stacks[0]) or stack[0].shape != stacks[0][0].shape:
                raise UserError(
                    f"shape {stack[0].shape} x{len(stack)} differs from its partner "
                    f"{members[0].name} ({stacks[0][0].shape} x{len(stacks[0])})",
                    f,
                )
        groups.extend(list(planes) for planes in zip(*stacks, strict=True))
    return groups


def _on_one_range(
    members: Sequence[Path], channels: int, value_range: tuple[float, float] | None
) -> list[list[np.ndarray]]:
    """The planes of each member, all on the working range of the group's reference file."""
    # The reference is the last member: the `pairs` file (the clean target of N2C, the
    # second capture of N2N) or an FMD field's last raw frame. Its range is used for its
    # partners, so that a pair's members mean the same values (`io.common.match_range`).
    if value_range is not None:
        return [load_planes([f], channels, value_range) for f in members]
    from medenoise.data.io import read
    from medenoise.data.io.common import match_range

    images = [read(f) for f in members]
    images = [match_range(image, images[-1]) for image in images]
    out = []
    for f, image in zip(members, images, strict=True):
        arr = image.array.reshape(-1, *image.array.shape[-3:])
        out.append([np.ascontiguousarray(to_channels(p, channels, f), np.float32) for p in arr])
    return out


class PairPatchDataset(Dataset):
    """`length` samples {"noisy": a, "target": b}: the same random square crop of two
    distinct members of one group (either member may be the input).

    Sample i is a pure function of (seed, i + offset), so a resumed run draws what the
    uninterrupted one would have. Crops whose input mean is below `min_mean` are redrawn.
    """

    def __init__(
        self,
        groups: list[Group],
        patch: int,
        length: int,
        seed: int = 0,
        min_mean: float = 0.0,
        offset: int = 0,
    ):
        groups = [g for g in groups if len(g) >= 2]
        if not groups:
            raise UserError("no training pairs (every group needs two or more images)")
        self.groups = [[reflect_to_min_size(p, patch) for p in g] for g in groups]
        self.patch, self.length, self.seed = patch, length, seed
        self.min_mean, self.offset = min_mean, offset

    def __len__(self) -> int:
        # The whole run's length, not what is left after `offset`: a resumed Lightning loop
        # keeps counting batches from the checkpoint's position within the epoch, so a
        # shorter loader would end the epoch early and restart it on already-used samples.
        # Training stops at max_steps long before these indices run out.
        return self.length

    def draw(self, rng: np.random.Generator) -> tuple[int, int, int, int, int]:
        """(group, input member, target member ≠ input, top, left) of one sample."""
        g = int(rng.integers(len(self.groups)))
        group = self.groups[g]
        i = int(rng.integers(len(group)))
        j = int(rng.integers(len(group) - 1))
        j += j >= i  # never the input frame itself
        h, w = group[i].shape[:2]
        y = int(rng.integers(h - self.patch + 1))
        x = int(rng.integers(w - self.patch + 1))
        return g, i, j, y, x

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng((self.seed, index + self.offset))
        p = self.patch
        for _ in range(MAX_REJECTIONS):
            g, i, j, y, x = self.draw(rng)
            a = self.groups[g][i][y : y + p, x : x + p]
            if a.mean() >= self.min_mean:
                break
        b = self.groups[g][j][y : y + p, x : x + p]
        as_chw = lambda v: torch.from_numpy(np.ascontiguousarray(v.transpose(2, 0, 1)))  # noqa: E731
        return {"noisy": as_chw(a), "target": as_chw(b)}
