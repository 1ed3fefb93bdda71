"""Score models on every k-th image of a held-out medical set, several noise levels, one run.

    python benchmarks/med_test.py --every 4 --noise gaussian:15,gaussian:25,gaussian:50 \
        --model bm3d --model ssdn-med-gray [--ensemble] [--matrix F] [--json OUT]

The noise of image i depends only on (seed, i), so the rows equal those of the full
`medenoise evaluate --set med-test --noise SPEC --model ...` run on the same images. Prints one
markdown table per noise spec (per image and the mean), each model beside the others.
`--matrix F` first averages each clean plane over F×F blocks: the same anatomy on a scan
matrix F times coarser (a 512² CT slice at 128², as small CTs and nuclear-medicine images are
stored), where a prior learned at native resolution is weakest.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path


def score_all(
    models: list[str],
    noises: list[str],
    every: int,
    seed: int,
    ensemble: bool | None = None,
    test_set: str = "med-test",
    matrix: int = 1,
) -> dict:
    """{noise: {model: evaluate() result}} on images 0, every, 2*every, ... of `test_set`."""
    from medenoise.api import load_model
    from medenoise.eval.evaluate import evaluate
    from medenoise.eval.medical_sets import set_samples
    from medenoise.inference.resolve import is_baseline_name

    loaded = {m: load_model(m, ensemble=None if is_baseline_name(m) else ensemble) for m in models}
    out: dict = {}
    for noise in noises:
        out[noise] = {}
        for name, denoiser in loaded.items():
            t0 = time.perf_counter()
            samples = itertools.islice(
                set_samples(test_set, noise, 1, seed, matrix=matrix), 0, None, every
            )
            out[noise][name] = evaluate(denoiser, samples, noise=noise)
            out[noise][name]["wall_s"] = time.perf_counter() - t0
            mean = out[noise][name]["mean"]
            print(f"{noise} {name}: {mean['psnr']:.2f} / {mean['ssim']:.3f}", flush=True)
    return out


def table(noise: str, results: dict) -> str:
    """Markdown: one row per image, one column per model, then the mean."""
    models = list(results)
    lines = [f"{noise}", "", "| image | " + " | ".join(models) + " |",
             "|---|" + "---|" * len(models)]  # fmt: skip
    names = [row["name"] for row in results[models[0]]["images"]]
    for i, name in enumerate(names):
        cells = [results[m]["images"][i] for m in models]
        lines.append(f"| {name} | " + " | ".join(f"{c['psnr']:.2f} / {c['ssim']:.3f}"
                                                  for c in cells) + " |")  # fmt: skip
    means = " | ".join(
        f"**{results[m]['mean']['psnr']:.2f} / {results[m]['mean']['ssim']:.3f}**" for m in models
    )
    lines.append(f"| **mean of {len(names)}** | {means} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--noise", default="gaussian:25")
    parser.add_argument("--every", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--set", default="med-test", help="held-out set: med-test, xray-test...")
    parser.add_argument("--ensemble", action="store_true", help="self-ensemble for every network")
    parser.add_argument(
        "--matrix", type=int, default=1, help="F: each clean plane averaged over F×F blocks first"
    )
    args = parser.parse_args()
    noises, ensemble = args.noise.split(","), args.ensemble or None
    results = score_all(args.model, noises, args.every, args.seed, ensemble, args.set, args.matrix)
    for noise, by_model in results.items():
        print("\n" + table(noise, by_model) + "\n")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
