#!/usr/bin/env bash
# Issue 3's equal-budget comparison: the same U-Net backbone trained by each method on
# BSD400 with Gaussian σ=25 (1,000 steps of 4×64², seed 1), then BSD68 PSNR/SSIM against
# BM3D with the true σ. Resumable: finished runs are skipped, interrupted ones resume.
#   benchmarks/methods_bsd68.sh [RUNS_DIR]
set -euo pipefail
RUNS=${1:-runs/methods_bsd68}
DATA=${SHARED:-../shared}/data
BIN=${BIN:-.venv/bin}
STEPS=${STEPS:-1000}
common=(--noise gaussian:25 --steps "$STEPS" --batch-size 4 --patch 64 --seed 1
        --val "$DATA/set12" --val-every 1000 --checkpoint-every 250 --no-progress)
train() {  # name, extra flags...
  local name=$1; shift
  if [ -f "$RUNS/$name/model.safetensors" ]; then echo "skip $name (done)"; return; fi
  local resume=(); [ -f "$RUNS/$name/checkpoints/last.ckpt" ] && resume=(--resume)
  "$BIN/medenoise" train "$DATA/bsd400_train" -o "$RUNS/$name" "${common[@]}" "${resume[@]}" "$@"
}
train n2c --method n2c
train ssdn --method ssdn --noise-param known
train n2n --method n2n
train n2v --method n2v
train ssdn-mu --method ssdn --covariance mu
models=()
for name in n2c n2n n2v ssdn ssdn-mu; do models+=(--model "$RUNS/$name/model.safetensors"); done
eval_args=(--clean "$DATA/bsd68" --noise gaussian:25 --seed 0 --json --no-progress)
# BM3D (given the true sigma) is single-threaded and slow: run it once, on its own
[ -s "$RUNS/bm3d.json" ] || "$BIN/medenoise" evaluate --model bm3d "${eval_args[@]}" > "$RUNS/bm3d.json"
[ -s "$RUNS/nets.json" ] || "$BIN/medenoise" evaluate "${models[@]}" "${eval_args[@]}" > "$RUNS/nets.json"
"$BIN/python" - "$RUNS/nets.json" "$RUNS/bm3d.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))["models"] + [json.load(open(sys.argv[2]))]
print("BSD68, Gaussian sigma=25, seed 0, PSNR on [0,1] scale / SSIM (Wang et al.)")
print(f"{'method':<10} {'PSNR':>7} {'SSIM':>7} {'s/img':>7}")
for r in rows:
    m = r["mean"]
    print(f"{r['model']:<10} {m['psnr']:7.2f} {m['ssim']:7.4f} {m['seconds']:7.2f}")
m = rows[0]["mean"]
print(f"{'noisy':<10} {m['psnr_noisy']:7.2f} {m['ssim_noisy']:7.4f}")
PY
