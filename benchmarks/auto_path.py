"""The automatic CPU path: what its probe costs, and whether batching tiles helps eager runs.

    PYTHONPATH=src python benchmarks/auto_path.py overhead student|ZOO_NAME
    PYTHONPATH=src python benchmarks/auto_path.py batch [SIDE]

overhead: seconds (wall and CPU) to build the runner with --precision auto --backend auto,
with an empty cache (ONNX export + probe), with the export cached (probe only) and with the
decision cached, against an explicit float32 runner; the cache is a fresh temporary folder.
batch: four SIDE² tiles (default 512) through the eager float32 runner 1, 2 or 4 per call,
three interleaved rounds. Both on 2 threads; "student" is a random-init plain U-Net of width
32, depth 4 (speed does not depend on the weights).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time

import torch


def student():
    from medenoise.config import ModelConfig
    from medenoise.methods import build_method

    torch.manual_seed(0)
    return build_method(ModelConfig(method="student", teacher="-", width=32, depth=4)).eval()


def overhead(name: str) -> None:
    from medenoise.inference.autopath import describe
    from medenoise.inference.denoiser import Denoiser
    from medenoise.inference.options import InferenceOptions

    cache = tempfile.mkdtemp()
    os.environ["MEDENOISE_CACHE"] = cache
    if name == "student":
        module = student()
    else:
        from medenoise.api import load_model

        module = load_model(name).module

    def timed(label: str, options, wipe: bool = False) -> None:
        if wipe:
            shutil.rmtree(os.path.join(cache, "paths"), ignore_errors=True)
        wall, cpu = time.perf_counter(), time.process_time()
        den = Denoiser(module, name, options)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"| {name} | {label} | {wall:.1f} | {cpu:.1f} |", flush=True)
        print(f"  {describe(den, (torch.get_num_threads(), 'set'))}", file=sys.stderr)

    print("| model | runner built | wall s | CPU s |\n|---|---|---|---|")
    timed("explicit float32 (no probe)", InferenceOptions())
    auto = InferenceOptions(precision="auto", backend="auto")
    timed("auto, empty cache (export + probe)", auto)
    timed("auto, export cached (probe)", auto, wipe=True)
    timed("auto, decision cached", auto)
    shutil.rmtree(cache, ignore_errors=True)


@torch.inference_mode()
def batch(side: int) -> None:
    from medenoise.inference.runners import TorchRunner

    runner = TorchRunner(student(), "cpu", "32")
    x = torch.rand(4, 1, side, side)
    for n in (1, 2, 4):  # warm-up of every batch shape
        runner.run(x[:n], None)
    print("| round | batch | wall s | CPU s |\n|---|---|---|---|")
    for round_ in range(3):
        for n in (1, 2, 4):
            wall, cpu = time.perf_counter(), time.process_time()
            for i in range(0, 4, n):
                runner.run(x[i : i + n], None)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            print(f"| {round_} | {n} | {wall:.2f} | {cpu:.2f} |", flush=True)


def main() -> None:
    torch.set_num_threads(2)
    if sys.argv[1] == "overhead":
        overhead(sys.argv[2])
    else:
        batch(int(sys.argv[2]) if len(sys.argv) > 2 else 512)


if __name__ == "__main__":
    main()
