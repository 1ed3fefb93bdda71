#!/usr/bin/env bash
# One device call that trains the GPU stage of ssdn-gauss25-gray and scores it (issue 6's
# Set12 goal needs more training than 2 CPU cores give; see configs/zoo/ssdn-gauss25-gray-gpu.yaml).
#
# The lr schedule depends on the step count, so the script first times PROBE_STEPS steps on
# the machine, then trains as many steps as fit in BUDGET_S seconds, then evaluates the new
# model and the shipped one on Set12 and BSD68 (sigma 25, noise seed 0, with and without the
# self-ensemble) with `medenoise evaluate`. Everything lands in $OUT (at most 8 files: the
# device tool brings back no more): log.txt, model.safetensors, metrics.csv, evals.json.
#
# Prepare here, once per session (the device machine has no pydantic/pydicom/nibabel and
# cannot see ../shared):  benchmarks/gpu_prepare.sh
# Then one device `run`, carrying .whl and .gpu, with timeout_s 560:
#   bash benchmarks/gpu_zoo_stage.sh
# Dry run on this CPU (a few minutes): PY=.venv/bin/python WHEELS=none ACCEL=cpu BUDGET_S=60 \
#   PROBE_STEPS=20 PATCH=64 BATCH=2 WORKERS=0 SETS=set12 OUT=/tmp/gpu-dry bash benchmarks/gpu_zoo_stage.sh
set -uo pipefail
ACCEL=${ACCEL:-gpu}
BUDGET_S=${BUDGET_S:-300}
PROBE_STEPS=${PROBE_STEPS:-120}
SETS=${SETS:-set12 bsd68}
DATA=${DATA:-.gpu/data}
RECIPE=configs/zoo/ssdn-gauss25-gray-gpu.yaml
OUT=${OUT:-$PWD/.gpu/out}
WORK=${WORK:-/tmp/medenoise-gpu}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$WORK"
exec > >(tee -a "$OUT/log.txt") 2>&1
start=$(date +%s)

WHEELS=${WHEELS:-.whl}
PY=${PY:-python3}
if compgen -G "$WHEELS/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$WORK/site" "$WHEELS"/*.whl || exit 3
    export PYTHONPATH="$WORK/site:$PWD/src"
else
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
fi
MD=("$PY" -c 'import sys; sys.argv[0] = "medenoise"; from medenoise.cli import main; main()')
if [ "$ACCEL" = gpu ]; then EVAL_DEVICE=cuda; else EVAL_DEVICE=cpu; fi

nvidia-smi -L 2>/dev/null || true
"$PY" -c 'import torch, lightning; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), "lightning", lightning.__version__)' || exit 3

# overrides for a dry run on a small machine (the recipe's own values otherwise)
extra=()
[ -n "${PATCH:-}" ] && extra+=(--patch "$PATCH")
[ -n "${BATCH:-}" ] && extra+=(--batch-size "$BATCH")
[ -n "${WORKERS:-}" ] && extra+=(--num-workers "$WORKERS")
train() {  # LIMIT=seconds (optional): SIGTERM then, which saves a checkpoint
    local pre=()
    [ -n "${LIMIT:-}" ] && pre=(timeout -s TERM "$LIMIT")
    "${pre[@]}" "${MD[@]}" train "$DATA/bsd400_train" --config "$RECIPE" --val "$DATA/set12" \
        --accelerator "$ACCEL" --no-resume "${extra[@]}" "$@"
}

echo "== probe: $PROBE_STEPS steps"
train -o "$WORK/probe" --steps "$PROBE_STEPS" 2>&1 | tee "$WORK/probe.txt" | tail -3
rate=$(grep -o '[0-9.]* s/step' "$WORK/probe.txt" | tail -1 | cut -d' ' -f1)
if [ -z "$rate" ]; then echo "probe printed no s/step line"; exit 4; fi
steps=$("$PY" -c "print(max(100, int($BUDGET_S / $rate) // 100 * 100))")
echo "== train: $steps steps at $rate s/step (budget ${BUDGET_S} s)"
run="$WORK/run"
LIMIT=$((BUDGET_S * 3 / 2 + 60)) train -o "$run" --steps "$steps" --checkpoint-every "$steps" \
    --val-every "$steps"
echo "train exit $? after $(( $(date +%s) - start )) s"
cp "$run/model.safetensors" "$OUT/" 2>/dev/null || echo "no model.safetensors"
find "$run" -name metrics.csv -exec cp {} "$OUT/metrics.csv" \; 2>/dev/null

echo "== evaluate"
models=(ssdn-gauss25-gray)
[ -f "$OUT/model.safetensors" ] && models+=("$OUT/model.safetensors")
for set in $SETS; do
    for ens in ensemble no-ensemble; do
        for m in "${models[@]}"; do
            name=$(basename "$m" .safetensors)
            "${MD[@]}" evaluate --model "$m" --clean "$DATA/$set" --noise gaussian:25 --seed 0 \
                --device "$EVAL_DEVICE" "--$ens" --no-progress --json \
                >"$WORK/eval-$name-$set-$ens.json" || echo "evaluate failed: $name $set $ens"
        done
    done
done
"$PY" - "$WORK" "$OUT/evals.json" <<'PYEOF'
import json, sys
from pathlib import Path
work, out = Path(sys.argv[1]), Path(sys.argv[2])
runs = {}
for f in sorted(work.glob("eval-*.json")):
    try:
        obj = json.loads(f.read_text())
    except ValueError:
        continue
    runs[f.stem[5:]] = obj
    m = obj["mean"]
    print(f"{f.stem[5:]:<48} PSNR {m['psnr']:.3f}  SSIM {m['ssim']:.4f}  {m['seconds']:.3f} s/img")
out.write_text(json.dumps(runs, indent=1))
PYEOF
echo "done after $(( $(date +%s) - start )) s"
