"""Calibrate the denoise guard: its figures where the tool is known to work (false alarms)
and where it is known to fail (misses), from which docs/guard.md picks the thresholds.

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/guard_calibration.py run DATA OUT.json \
        [--quick] [--sets "set12 σ25,mr_cardiac"]
    python benchmarks/guard_calibration.py table OUT.json [MORE.json ...]

DATA is the shared data folder (set12, bsd68, fmd_subset, w2s_subset, mr_cardiac, ct_tcia,
dicom_misc).
`run` denoises every case (in-process, CPU, no self-ensemble), measures the noise of each input
as `denoise` does (guard.session.profile_of) and stores the guard's figures; `table` prints the
false-alarm and miss rates per set under the thresholds in medenoise/guard/checks.py.
Synthetic noise comes from one generator seeded 0, in the order the cases are listed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from medenoise.guard import check_output, checks, model_info
from medenoise.guard.session import profile_of


def _noisy_image(clean: np.ndarray, sigma: float, rng) -> object:
    """A float32 `Image` of `clean` (on [0, 1]) plus Gaussian noise of std sigma/255."""
    from medenoise.data.io import from_array

    noisy = clean + rng.normal(0.0, sigma / 255, clean.shape)
    return from_array(noisy.astype(np.float32))


def _clean(path: Path) -> np.ndarray:
    """A clean image on [0, 1] (its format's range)."""
    from medenoise.data.io import read

    return read(path).array[..., 0].astype(np.float64)


def _demo_images() -> dict[str, np.ndarray]:
    """The demo's MRI (matplotlib's s1045) and CT_small, each scaled by its maximum."""
    from medenoise.demo import demo_images

    return {k: v.astype(np.float64) for k, v in demo_images().items()}


def cases(data: Path, quick: bool):
    """(set, label, name, image thunk, model, noise spec, value range) per case."""
    rng = np.random.default_rng(0)
    n = 4 if quick else None
    set12 = sorted((data / "set12").glob("*.png"))[:n]
    bsd68 = sorted((data / "bsd68").glob("*.png"))[: 4 if quick else 8]
    fmd = sorted((data / "fmd_subset/Confocal_BPAE_B/raw/19").glob("*.png"))[: 2 if quick else 6]
    mr = sorted((data / "mr_cardiac").glob("*.dcm"))[:: 11 if quick else 5]
    ct = sorted((data / "ct_tcia/acrin_flt_soft_kernel").glob("*.dcm"))[: 2 if quick else 4]
    ct += sorted((data / "ct_tcia/cmb_crc_lung_kernel").glob("*.dcm"))[: 1 if quick else 3]
    out = []
    for p in set12:
        out.append(
            ("set12 σ25", "ok", p.name, _noisy_image(_clean(p), 25, rng), "ssdn-gauss25-gray")
        )
    for p in bsd68:
        out.append(
            ("bsd68 σ25", "ok", p.name, _noisy_image(_clean(p), 25, rng), "ssdn-gauss25-gray")
        )
    for name, clean in _demo_images().items():
        out.append(("demo σ25", "ok", name, _noisy_image(clean, 25, rng), "ssdn-gauss25-gray"))
    for p in fmd:
        out.append(("fmd raw 19", "ok", p.name, p, "ssdn-pg-fmd"))
    # real widefield microscopy (W2S, single 8-bit captures of FOVs 001-004): both methods
    # improve every image against the average of 400 captures (docs/guard.md)
    w2s = sorted((data / "w2s_subset/avg1").glob("*_00[1-4]_*.tif"))[: 4 if quick else 12]
    for model in ("vst-bm3d", "ssdn-pg-fmd"):
        out += [(f"w2s avg1 {model}", "ok", p.name, p, model) for p in w2s]
    for p in mr:
        out.append(("mr_cardiac", "fail", p.name, p, "ssdn-gauss5-50-gray"))
    for p in ct:  # narrow band: CT fills a sliver of the int16 range
        out.append(
            (
                "ct int16 range",
                "fail",
                f"{p.parent.name}/{p.name}",
                (p, (-32768.0, 32767.0)),
                "ssdn-gauss5-50-gray",
            )
        )
    for p in set12:
        out.append(
            (
                "set12 σ5 by σ25",
                "fail",
                p.name,
                _noisy_image(_clean(p), 5, rng),
                "ssdn-gauss25-gray",
            )
        )
    for p in set12[:6]:
        out.append(("set12 σ5 bm3d σ20", "fail", p.name, _noisy_image(_clean(p), 5, rng), "bm3d"))
    return out


def run(data: Path, target: Path, quick: bool, sets: list[str] | None = None) -> None:
    """Denoise every case (of `sets`, default all) and store the guard's figures in `target`;
    each row is also printed as one JSON line as soon as it is measured."""
    import torch

    from medenoise.api import load_model
    from medenoise.data.io import read
    from medenoise.inference.options import InferenceOptions

    torch.set_num_threads(1)
    models: dict[str, object] = {}
    rows = []
    for group, label, name, source, model in cases(data, quick):
        if sets and group not in sets:
            continue
        if isinstance(source, tuple):
            image = read(source[0], value_range=source[1])
        elif isinstance(source, Path):
            image = read(source)
        else:
            image = source
        if model not in models:
            models[model] = load_model(model, options=InferenceOptions(ensemble=False))
        denoiser = models[model]
        noise = "gaussian:20" if model == "bm3d" else None
        profile = profile_of(image)
        before = image.array.astype(np.float64)
        out = denoiser.denoise_image(image, noise).array.astype(np.float64)
        scale = image.meta.scaling
        result = check_output(
            checks.to_profile_scale(before, scale, profile),
            checks.to_profile_scale(out, scale, profile),
            profile,
            model_info(denoiser),
        )
        row = {"set": group, "label": label, "image": name, "model": model, **result.figures}
        row["verdict_safe"] = bool(profile.verdict is None or profile.verdict.blind_spot_safe)
        rows.append(row)
        print(json.dumps(row), flush=True)
    target.write_text(json.dumps(rows, indent=1) + "\n")


def flags(row: dict) -> list[str]:
    """Which checks fire on a stored row under the thresholds in guard/checks.py."""
    fired = []
    if row["energy_ratio"] > checks.ENERGY_LIMIT:
        fired.append("energy")
    if row["low_freq_share"] > checks.LOW_FREQ_LIMIT:
        fired.append("coarse")
    if row["edge_correlation"] > checks.EDGE_LIMIT:
        fired.append("edges")
    if row["range_excess"] > checks.RANGE_LIMIT:
        fired.append("range")
    blind = row["model"].startswith("ssdn")
    if blind and (row["noise_lag1"] >= checks.CORRELATION_LIMIT or not row["verdict_safe"]):
        fired.append("correlated")
    return fired


def load_rows(sources: list[Path]) -> list[dict]:
    """Rows from `run`'s JSON files or its printed JSON lines, in order; a case that a later
    source measured again (a run resumed with --sets) keeps the later row."""
    rows: list[dict] = []
    for source in sources:
        text = source.read_text().strip()
        if text.startswith("["):
            new = json.loads(text)
        else:
            new = [json.loads(ln) for ln in text.splitlines() if ln.startswith("{")]
        seen = {(r["set"], r["image"], r["model"]) for r in new}
        rows = [r for r in rows if (r["set"], r["image"], r["model"]) not in seen] + new
    return rows


def table(sources: list[Path]) -> None:
    """Per set: cases, flagged share, and the range of each figure (markdown)."""
    rows = load_rows(sources)
    head = "set | expected | n | flagged | energy ratio | coarse share | edge corr | range excess"
    print(f"| {head} | lag-1 | checks fired |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for group in dict.fromkeys(r["set"] for r in rows):
        sub = [r for r in rows if r["set"] == group]
        fired = [flags(r) for r in sub]
        n_flag = sum(bool(f) for f in fired)
        counts = {}
        for f in fired:
            for name in f:
                counts[name] = counts.get(name, 0) + 1

        def span(key, sub=sub):
            v = [r[key] for r in sub]
            return f"{min(v):.2f}–{max(v):.2f}"

        print(
            f"| {group} | {'works' if sub[0]['label'] == 'ok' else 'fails'} | {len(sub)} | "
            f"{n_flag}/{len(sub)} | {span('energy_ratio')} | {span('low_freq_share')} | "
            f"{span('edge_correlation')} | {span('range_excess')} | {span('noise_lag1')} | "
            f"{', '.join(f'{k} {v}' for k, v in counts.items()) or '-'} |"
        )
    ok = [r for r in rows if r["label"] == "ok"]
    bad = [r for r in rows if r["label"] == "fail"]
    print(
        f"\nfalse alarms {sum(bool(flags(r)) for r in ok)}/{len(ok)}, "
        f"misses {sum(not flags(r) for r in bad)}/{len(bad)}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("data", type=Path)
    r.add_argument("out", type=Path)
    r.add_argument("--quick", action="store_true", help="a few images per set")
    r.add_argument("--sets", help="comma-separated set names to run (default: all)")
    t = sub.add_parser("table")
    t.add_argument("sources", type=Path, nargs="+")
    args = ap.parse_args()
    if args.cmd == "run":
        run(args.data, args.out, args.quick, args.sets.split(",") if args.sets else None)
    else:
        table(args.sources)


if __name__ == "__main__":
    main()
