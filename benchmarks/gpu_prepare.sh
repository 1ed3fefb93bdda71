#!/usr/bin/env bash
# Run here (not on the device) before benchmarks/gpu_zoo_stage.sh: fetch the wheels the
# device image lacks (its python3 is 3.12 with torch, lightning, typer, scikit-image, but no
# pydantic, pydicom or nibabel) into .whl, and copy the training and test images into
# .gpu/data, since ../shared does not travel to the device machine. Both folders are
# git-ignored through .git/info/exclude; they travel as the device call's `carry`
# ([".whl", ".gpu"], about 25 MiB together).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/data}
PIP=${PIP:-.venv/bin/python -m pip}
for p in /.whl/ /.gpu/; do grep -qx "$p" .git/info/exclude 2>/dev/null || echo "$p" >>.git/info/exclude; done
pins=$(.venv/bin/python - <<'PYEOF'
from importlib.metadata import version
names = ["pydantic", "pydantic_core", "typing-inspection", "annotated-types", "pydicom", "nibabel"]
print(" ".join(f"{n}=={version(n)}" for n in names))
PYEOF
)
rm -rf .whl && mkdir .whl
$PIP download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl $pins
mkdir -p .gpu/data
for d in bsd400_train set12 bsd68; do rm -rf ".gpu/data/$d"; cp -r "$SHARED/$d" .gpu/data/; done
du -sh .whl .gpu
