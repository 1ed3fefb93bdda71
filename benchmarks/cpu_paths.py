"""SSDN inference on CPU four ways: eager NCHW, eager channels_last, torch.compile, ONNX Runtime.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/cpu_paths.py [--size 512 --width 48]

Same random-weight SSDN (speed does not depend on the weights), same noisy input; prints the
best of --repeats seconds per image and the largest difference from eager float32.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from medenoise.config import ModelConfig
from medenoise.inference.onnx import DenoiseGraph, export_onnx
from medenoise.methods import build_method


def best(fn, x, repeats: int) -> float:
    fn(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--width", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile (slow start)")
    args = ap.parse_args()
    torch.manual_seed(0)
    module = build_method(ModelConfig(method="ssdn", noise="gaussian:25", width=args.width))
    module = module.eval()
    params = module.noise.fixed_params(1)
    graph = DenoiseGraph(module, True).eval()
    x = torch.rand(1, 1, args.size, args.size)

    def report(name: str, seconds: float, diff: float | None) -> None:
        d = "" if diff is None else f"  max |diff| {diff:.1e}"
        print(f"{name:28s} {seconds:7.2f} s/image{d}", flush=True)

    with torch.inference_mode():
        ref = graph(x, params)
        report("eager NCHW", best(lambda a: graph(a, params), x, args.repeats), None)
        cl = DenoiseGraph(module.to(memory_format=torch.channels_last), True).eval()
        xc = x.contiguous(memory_format=torch.channels_last)
        diff = (cl(xc, params) - ref).abs().max().item()
        report("eager channels_last", best(lambda a: cl(a, params), xc, args.repeats), diff)
    module = module.to(memory_format=torch.contiguous_format)
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(module, Path(tmp) / "ssdn.onnx")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        feed = {"params": params.numpy().astype(np.float32)}

        def run(a):
            return sess.run(None, {"noisy": a, **feed})[0]

        xn = x.numpy()
        diff = float(np.abs(run(xn) - ref.numpy()).max())
        report("onnxruntime", best(run, xn, args.repeats), diff)
    if not args.no_compile:
        with torch.inference_mode():
            t0 = time.perf_counter()
            compiled = torch.compile(graph)
            compiled(x, params)
            print(f"torch.compile: {time.perf_counter() - t0:.0f} s to compile", flush=True)
            diff = (compiled(x, params) - ref).abs().max().item()
            report("torch.compile", best(lambda a: compiled(a, params), x, args.repeats), diff)


if __name__ == "__main__":
    main()
