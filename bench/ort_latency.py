"""Per-tick latency of a Strider model in ONNX Runtime, one thread, same inputs as tract.

The graph is a streaming step (docs/TOKENS.md): each call takes the new token(s) and every
layer's key/value cache, and returns the updated caches, which the next call takes back,
as `Policy` does with tract. A `pair` graph takes a tick's two tokens in one call; a
`token` graph (it has a `modality` input) takes one per call: the action's call (between
ticks) then the observation's (the critical path). Timed: `session.run` of a warm stream
whose caches are full (every key valid).

Usage: python3 bench/ort_latency.py MODEL.onnx [--calls 3000] [--warmup 300]
Prints one JSON line: {"engine": "onnxruntime", "version", "interface", "ticks", "p50_us",
"p99_us", "min_us"} — the critical path (the observation's call; for a pair graph, the
call) — plus, for a token graph, "between_ticks_p50_us" (the action's call) and
"tick_p50_us" (both). The reference for docs/BENCHMARKS.md; not needed by any cargo command.
"""
import argparse
import json
import time

import numpy as np
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=300)
    args = ap.parse_args()

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])

    shapes = {i.name: [1 if isinstance(d, str) else d for d in i.shape] for i in sess.get_inputs()}
    one_token = "modality" in shapes
    keys = shapes["key_valid"][1]
    k = keys // 2 if one_token else (keys - 1) // 2
    rng = np.random.default_rng(0)
    feed = {n: rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()}
    feed["obs_missing"][:] = 0
    feed["act_missing"][:] = 0
    feed["key_valid"][:] = 1
    outputs = [o.name for o in sess.get_outputs()]
    caches = [(n.replace("present_", "past_"), i) for i, n in enumerate(outputs) if n.startswith("present_")]

    def call(modality):
        if one_token:
            feed["modality"][:] = modality
        s = time.perf_counter()
        out = sess.run(None, feed)
        t = (time.perf_counter() - s) * 1e6
        for name, i in caches:
            feed[name] = out[i]
        return t

    # A tick: the action's call (token graphs only), then the observation's.
    def tick():
        between = call(0.0) if one_token else 0.0
        return between, call(1.0)

    for _ in range(args.warmup):
        tick()
    between, critical = np.empty(args.calls), np.empty(args.calls)
    for i in range(args.calls):
        between[i], critical[i] = tick()
    result = {
        "engine": "onnxruntime", "version": ort.__version__,
        "interface": "token" if one_token else "pair", "ticks": k,
        "p50_us": float(np.percentile(critical, 50)), "p99_us": float(np.percentile(critical, 99)),
        "min_us": float(critical.min()), "calls": args.calls,
    }
    if one_token:
        result["between_ticks_p50_us"] = float(np.percentile(between, 50))
        result["tick_p50_us"] = float(np.percentile(between + critical, 50))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
