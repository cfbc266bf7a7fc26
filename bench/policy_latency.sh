#!/usr/bin/env bash
# Per-step latency of the default-size trajectory transformer (4 layers, width 192,
# 4 heads) at context 16, 32 and 64 ticks: tract (through `strider policy inspect`, i.e.
# Policy::step with tokenizer and window) and ONNX Runtime (Python, one thread) on the
# same .onnx file, interleaved in one run and pinned to one core.
#
#   bash bench/policy_latency.sh            # dev profile (dependencies at opt-level 3)
#   PROFILE=release bash bench/policy_latency.sh
#   PYTHON=/path/to/venv/bin/python bash bench/policy_latency.sh
#
# Needs `pip install onnxruntime numpy` for the reference; results go to stdout as JSON
# lines. Set CPU=n to pin to another core.
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-dev}
PYTHON=${PYTHON:-python3}
CPU=${CPU:-1}
CALLS=${CALLS:-3000}
dir=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
cargo build -q --profile "$PROFILE" -p strider-cli
cargo build -q --profile "$PROFILE" -p strider-train --example export_random
for k in 16 32 64; do
  out=bench/out/k$k
  "target/$dir/examples/export_random" --ticks "$k" --out "$out" >/dev/null
  echo "{\"engine\": \"tract\", \"ticks\": $k, \"inspect\": $(taskset -c "$CPU" "target/$dir/strider" policy inspect "$out/model.toml" --ticks "$CALLS" --json)}"
  taskset -c "$CPU" "$PYTHON" bench/ort_latency.py "$out/model.onnx" --calls "$CALLS"
done
