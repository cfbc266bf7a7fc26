#!/usr/bin/env bash
# The reference implementation end to end (docs/BYO_MODEL.md), where Python with torch is
# available: collect → LeRobot export → PyTorch training on 2 processes → `strider policy
# inspect` → 20 s of `strider sim` at 1.0 m/s → offline scores beside the shipped model.
# CI does not run it (no torch there); the fixtures under tests/fixtures/ keep the
# PyTorch exports tested without Python.
#
#   bash python/run_reference.sh [WORK_DIR]      # default: runs/reference
#   PYTHON=/path/to/venv/bin/python INTERFACE=window STEPS=500 bash python/run_reference.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-runs/reference}
PYTHON=${PYTHON:-python3}
TORCHRUN=${TORCHRUN:-$(dirname "$(command -v "$PYTHON")")/torchrun}
strider=(cargo run --release --quiet --)
mkdir -p "$work"
[ -d "$work/data" ] || "${strider[@]}" collect --episodes "${EPISODES:-1000}" --out "$work/data"
[ -d "$work/lerobot" ] || "${strider[@]}" export lerobot "$work/data" "$work/lerobot"
"${strider[@]}" robot show --json > "$work/robot.json"
rm -rf "$work/model"
start=$SECONDS
OMP_NUM_THREADS=1 "$TORCHRUN" --nproc_per_node "${PROCS:-2}" python/strider_ref.py \
    --dataset "$work/lerobot" --robot "$work/robot.json" --out "$work/model" \
    --interface "${INTERFACE:-token}" --steps "${STEPS:-2000}"
echo "training + export: $((SECONDS - start)) s"
"${strider[@]}" policy inspect "$work/model/model.toml"
"${strider[@]}" sim --model "$work/model/model.toml" --seconds 20 --speed 1.0
last=$(ls "$work/data"/*.mcap | tail -1)
"${strider[@]}" replay "$last" --model "$work/model/model.toml" --model models/walker2d-biped/model.toml
