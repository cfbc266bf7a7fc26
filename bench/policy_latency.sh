#!/usr/bin/env bash
# Per-tick latency of the default-size trajectory transformer (4 layers, width 192,
# 4 heads) at context 16, 32 and 64 ticks, for both graph interfaces (`token`: one token
# per call, the action's between ticks; `pair`: a tick's two tokens per call): tract
# (through `strider policy inspect`, i.e. Policy::step with tokenizer and stream, and
# Policy::prepare) and ONNX Runtime (Python, one thread) on the same .onnx file,
# interleaved in one run and pinned to one core. `p50`/`p99` are the critical path (from
# the observation to the action); the token rows also give the between-ticks call.
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
dir=${CARGO_TARGET_DIR:-target}/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
cargo build -q --profile "$PROFILE" -p strider-cli
cargo build -q --profile "$PROFILE" -p strider-train --example export_random
for k in ${TICKS:-16 32 64}; do
  for interface in token pair; do
    out=bench/out/k$k-$interface
    "$dir/examples/export_random" --ticks "$k" --interface "$interface" --out "$out" >/dev/null
    echo "{\"engine\": \"tract\", \"interface\": \"$interface\", \"ticks\": $k, \"latency_us\": $(taskset -c "$CPU" "$dir/strider" policy inspect "$out/model.toml" --ticks "$CALLS" --json | "$PYTHON" -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["latency_us"]))')}"
    taskset -c "$CPU" "$PYTHON" bench/ort_latency.py "$out/model.onnx" --calls "$CALLS"
  done
done
