"""Per-step latency of a Strider model in ONNX Runtime, one thread, same inputs as tract.

The graph is a streaming step (docs/TOKENS.md): each call takes the tick's two new tokens
and every layer's key/value cache, and returns the updated caches, which the next call
takes back, as `Policy::step` does with tract. Timed: `session.run` of a warm stream whose
caches are full (every key valid).

Usage: python3 bench/ort_latency.py MODEL.onnx [--calls 3000] [--warmup 300]
Prints one JSON line: {"engine": "onnxruntime", "version", "ticks", "p50_us", "p99_us", "min_us"}.
The reference for docs/BENCHMARKS.md; not needed by any cargo command.
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
    keys = shapes["key_valid"][1]
    k = (keys - 1) // 2
    rng = np.random.default_rng(0)
    feed = {n: rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()}
    feed["obs_missing"][:] = 0
    feed["act_missing"][:] = 0
    feed["key_valid"][:] = 1
    outputs = [o.name for o in sess.get_outputs()]
    caches = [(n.replace("present_", "past_"), i) for i, n in enumerate(outputs) if n.startswith("present_")]

    def step():
        out = sess.run(None, feed)
        for name, i in caches:
            feed[name] = out[i]

    for _ in range(args.warmup):
        step()
    t = np.empty(args.calls)
    for i in range(args.calls):
        s = time.perf_counter()
        out = sess.run(None, feed)
        t[i] = (time.perf_counter() - s) * 1e6
        for name, j in caches:
            feed[name] = out[j]
    print(json.dumps({
        "engine": "onnxruntime", "version": ort.__version__, "ticks": k,
        "p50_us": float(np.percentile(t, 50)), "p99_us": float(np.percentile(t, 99)),
        "min_us": float(t.min()), "calls": args.calls,
    }))


if __name__ == "__main__":
    main()
