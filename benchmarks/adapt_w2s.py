"""W2S widefield pairs for the "Adaptation on real widefield data" table in BENCHMARKS.md.

    python benchmarks/adapt_w2s.py link WORK [FOVS]   # WORK/noisy/001_0.tif ↔ WORK/clean/…
    medenoise evaluate --clean WORK/clean --noisy WORK/noisy --model ssdn-pg-fmd \
        --adapt 300 --json
    python benchmarks/adapt_w2s.py facts WORK         # scale, noise level, correlation
    python benchmarks/adapt_w2s.py fitted WORK DIR... # saved outputs, three ways of scoring
    python benchmarks/adapt_w2s.py dark WORK          # the measured line at the dark end
    python benchmarks/adapt_w2s.py route WORK JSON... # what the inspector's verdict picks
    python benchmarks/adapt_w2s.py perplane WORK      # held-out gain vs PSNR change, per plane

`link` makes folders of symbolic links whose names match (the shipped files differ by a
prefix, input_avg1_ / target_avg400_); FOVS defaults to 001-004; W2S_DIR overrides where
the subset lies (default ../shared/data/w2s_subset beside the checkout). `facts` fits
avg1 ≈ s·avg400 + o per image, then the residual's variance against intensity (a, b), its
lag-1 and lag-2 correlations along x, and the PSNR of s·avg400 + o against avg400: the most
a denoiser that learns E[avg1 | scene] can score. `fitted` scores folders of outputs saved by
`evaluate --save` against `avg400` as `evaluate` does, with `--fit-affine`, and against the
fitted s·avg400 + o (the E[avg1 | scene] a self-supervised denoiser estimates), and counts
the images on which the last folder (adapted) scores below the one before it (unadapted): it
tells a loss to the reference's scale from a real loss. `dark` sets the inspector's line
(variance = a·y + b, measured on avg1 alone, as `--noise measured` uses it) beside the
variance of avg1 − (s·avg400 + o) in the darkest fifth of each plane (and, as a median over
the planes, in each fifth of the intensities), and counts the pixels
where a·y + b < 0 at the noisy value y (where SURE takes the noise variance). `route` asks
the inspector's verdict (what `medenoise denoise` runs without `--model`) for each noisy
plane, and scores that route from `evaluate --json` files: a plane sent to model M takes
M's score from the file whose model is M or M-fast (the distilled student `denoise` runs).
`perplane` adapts `ssdn-pg-fmd` 300 steps to all noisy planes, as `evaluate --adapt 300`
does, and sets each plane's share of the guard's held-out gain (unadapted minus kept score
on that plane's tiles) beside its PSNR change against avg400: could a per-plane fallback
trust the held-out measure?
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import tifffile

W2S = Path(
    os.environ.get("W2S_DIR", Path(__file__).resolve().parents[2] / "shared/data/w2s_subset")
)
PAIRS = (("noisy", "avg1", "input_avg1_"), ("clean", "avg400", "target_avg400_"))


def link(work: Path, fovs: list[str]) -> None:
    for kind, folder, prefix in PAIRS:
        (work / kind).mkdir(parents=True, exist_ok=True)
        for f in sorted((W2S / folder).glob(f"{prefix}*.tif")):
            key = f.name[len(prefix) :]
            if key.split("_")[0] in fovs:
                (work / kind / key).unlink(missing_ok=True)
                (work / kind / key).symlink_to(f)


def _fitted_pair(work: Path, name: str) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(avg1, avg400, s, o) of one pair on [0, 1], with avg1 ≈ s·avg400 + o by least squares."""
    n = tifffile.imread(work / "noisy" / name).astype(np.float64) / 255
    c = tifffile.imread(work / "clean" / name).astype(np.float64) / 255
    s, o = np.polyfit(c.ravel(), n.ravel(), 1)
    return n, c, s, o


def facts(work: Path) -> None:
    ceilings = []
    for f in sorted((work / "noisy").glob("*.tif")):
        n, c, s, o = _fitted_pair(work, f.name)
        fit = s * c + o
        d = n - fit
        edges = np.quantile(fit, [0.2, 0.4, 0.6, 0.8, 0.95])
        idx = np.digitize(fit, edges)
        x = np.array([fit[idx == k].mean() for k in range(6)])
        v = np.array([d[idx == k].var() for k in range(6)])
        a, b = np.polyfit(x, v, 1)
        lag1 = np.corrcoef(d[:, :-1].ravel(), d[:, 1:].ravel())[0, 1]
        lag2 = np.corrcoef(d[:, :-2].ravel(), d[:, 2:].ravel())[0, 1]
        ceilings.append(-10 * np.log10(((fit - c) ** 2).mean()))
        print(f"{f.name}: s={s:.3f} o={o:.4f} a={a:.4f} b={b:.5f} lag1={lag1:.3f} lag2={lag2:.3f} "
              f"zeros={np.mean(n == 0):.4f} ceiling={ceilings[-1]:.2f} dB")  # fmt: skip
    print(f"mean ceiling {np.mean(ceilings):.2f} dB")


def dark(work: Path) -> None:
    from medenoise.adaptation_level import plane_level  # the fit `--noise measured` uses

    ratios = []  # per plane: true variance / the line's, in each fifth of the intensities
    for f in sorted((work / "noisy").glob("*.tif")):
        n, c, s, o = _fitted_pair(work, f.name)
        a, b = plane_level("pg", n.astype(np.float32)[..., None])
        fit = s * c + o
        fifth = np.digitize(fit, np.quantile(fit, [0.2, 0.4, 0.6, 0.8]), right=True)
        true = np.array([(n - fit)[fifth == i].var() for i in range(5)])
        line = np.array([a * fit[fifth == i].mean() + b for i in range(5)])
        ratios.append(true / np.maximum(line, 1e-12))
        print(f"{f.name}: a={a:.4f} b={b:.5f} a*y+b<0 on {np.mean(a * n + b < 0):.3f}; darkest "
              f"fifth: variance {true[0]:.2e} against the line's {line[0]:.2e}")  # fmt: skip
    ratios = np.asarray(ratios)
    print(f"median ratio (darkest fifth) {np.median(ratios[:, 0]):.2f}, "
          f"max {np.max(ratios[:, 0]):.2f}")  # fmt: skip
    print("median ratio per fifth, dark to bright: "
          + " ".join(f"{v:.2f}" for v in np.median(ratios, axis=0)))  # fmt: skip


def _scores(work: Path, name: str, outputs: list[np.ndarray]) -> list[list[float]]:
    """Per output of one pair: PSNR / SSIM against avg400 as `evaluate` scores it, then with
    `--fit-affine`, then the PSNR against s·avg400 + o fitted to avg1 (E[avg1 | scene])."""
    from medenoise.eval.evaluate import score
    from medenoise.eval.metrics import psnr

    n, c, s, o = _fitted_pair(work, name)
    n, c = n[..., None], c[..., None]  # (H, W, 1), as evaluate scores planes
    rows = []
    for out in outputs:
        plain, affine = score(out, n, c), score(out, n, c, fit_affine=True)
        rows.append([plain["psnr"], plain["ssim"], affine["psnr"], affine["ssim"],
                     psnr(out, s * c + o)])  # fmt: skip
    return rows


def fitted(work: Path, folders: list[Path]) -> None:
    from medenoise.data.io import read

    names = [f.name for f in sorted((work / "noisy").glob("*.tif"))]
    per_image = [
        _scores(work, n, [read(d / f"{Path(n).stem}.png").array.astype(np.float64)
                          for d in folders])
        for n in names
    ]  # fmt: skip
    table = np.asarray(per_image).transpose(1, 0, 2)  # (folder, image, score)
    print("folder: avg400 PSNR / SSIM | affine-fitted PSNR / SSIM | PSNR vs s*avg400 + o")
    for d, t in zip(folders, table, strict=True):
        m = t.mean(axis=0)
        print(f"{d.name}: {m[0]:.2f} / {m[1]:.4f} | {m[2]:.2f} / {m[3]:.4f} | {m[4]:.2f}")
    if len(folders) > 1:  # the last folder against the one before it (adapted vs unadapted)
        lower = (table[-1] < table[-2]).sum(axis=0)
        print(f"{folders[-1].name} below {folders[-2].name} on {len(names)} images: "
              f"avg400 {lower[0]} / {lower[1]}, affine {lower[2]} / {lower[3]}, "
              f"s*avg400 + o {lower[4]}")  # fmt: skip


def route(work: Path, results: list[Path]) -> None:
    import json

    from medenoise.data.io import read
    from medenoise.inspection.estimate import measure_image
    from medenoise.inspection.verdict import decide

    scores = {}  # model name (its "-fast" student counts as the model) -> {image: row}
    for f in results:
        run = json.loads(f.read_text())
        name = run["model"].split("+")[0].removesuffix("-fast")
        scores[name] = {r["name"]: r for r in run["images"]}
    picked = []
    for f in sorted((work / "noisy").glob("*.tif")):
        model = decide(measure_image(read(f), f.name)).model
        row = scores.get(model, {}).get(f.name)
        print(f"{f.name}: {model}" + (f" {row['psnr']:.2f} / {row['ssim']:.4f}" if row else ""))
        picked.append(row)
    if all(picked):
        psnr, ssim = np.mean([r["psnr"] for r in picked]), np.mean([r["ssim"] for r in picked])
        print(f"the verdict's route on {len(picked)} planes: {psnr:.2f} / {ssim:.4f}")


def perplane(work: Path, model: str = "ssdn-pg-fmd", steps: int = 300) -> None:
    import medenoise.adaptation_guard as guard_module
    from medenoise import load_model
    from medenoise.adaptation import adapt
    from medenoise.data.io import read
    from medenoise.eval.evaluate import score

    seen = {}  # the guard's tile owners and the guard itself, observed as `--adapt` runs
    split, finish = guard_module.split_heldout, guard_module.HeldOutGuard.finish

    def observed_split(*args, **kwargs):
        parts = split(*args, **kwargs)
        seen["owners"] = np.asarray(parts[2])
        return parts

    def observed_finish(guard, module, steps):
        seen["guard"] = guard
        return finish(guard, module, steps)

    guard_module.split_heldout, guard_module.HeldOutGuard.finish = observed_split, observed_finish
    names = [f.name for f in sorted((work / "noisy").glob("*.tif"))]
    noisy = [read(work / "noisy" / n).array for n in names]
    clean = [read(work / "clean" / n).array for n in names]
    adapted, plain = adapt(model, noisy, steps, progress=True), load_model(model)
    guard, owners = seen["guard"], seen["owners"]
    gain = guard.reference - guard.best_losses
    for k, n in enumerate(names):
        y, c = noisy[k], clean[k]
        after, before = (score(d.denoise(y), y, c)["psnr"] for d in (adapted, plain))
        mine = gain[owners == k]
        print(f"{n}: {len(mine)} tiles, held-out gain {mine.mean():+.3e}, "
              f"PSNR {after - before:+.3f} dB")  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1] == "link":
        link(Path(sys.argv[2]), sys.argv[3:] or ["001", "002", "003", "004"])
    elif sys.argv[1] == "dark":
        dark(Path(sys.argv[2]))
    elif sys.argv[1] == "route":
        route(Path(sys.argv[2]), [Path(a) for a in sys.argv[3:]])
    elif sys.argv[1] == "perplane":
        perplane(Path(sys.argv[2]))
    elif sys.argv[1] == "fitted":
        fitted(Path(sys.argv[2]), [Path(a) for a in sys.argv[3:]])
    else:
        facts(Path(sys.argv[2]))
