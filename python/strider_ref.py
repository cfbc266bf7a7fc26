"""Strider's trajectory transformer in PyTorch: a reference for bringing your own model.

One file, from a `strider export lerobot` dataset to a model directory that `strider sim
--model DIR/model.toml` runs (docs/BYO_MODEL.md):

    strider export lerobot data/ lerobot/
    strider robot show --json > robot.json
    python python/strider_ref.py --dataset lerobot --robot robot.json --out runs/torch
    strider sim --model runs/torch/model.toml

Data-parallel on several processes or machines with torchrun (CPU processes, gloo; for GPUs,
put the model and batches on the device and use nccl):

    torchrun --nproc_per_node 2 python/strider_ref.py --dataset lerobot --robot robot.json --out runs/torch

The model is the one Strider trains (docs/TOKENS.md): one observation token and one action
token per tick, each a linear embedding of its normalised fields with a learned vector in
place of a missing (`[M]`) field; pre-LayerNorm decoder blocks with ALiBi position bias and
a causal window of 2K tokens; the action read at each observation token, the next
observation at each action token. It trains on clips longer than the window (so every
token sees a full window at every layer, as when streamed) and is exported either as the
streaming one-token step (`--interface token`, the default: each layer's key/value cache
in and out, docs/TOKENS.md) or as a plain `window` graph (the last K ticks in, no state;
with more than one layer an approximation of the stream, docs/BYO_MODEL.md). Nothing in
Strider's build or tests needs this file or PyTorch.
"""

import argparse
import hashlib
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

CLAMP = 5.0  # standard deviations, as Strider's tokenizer
MASKED_SCORE = -1e9


def alibi_slopes(heads):
    return torch.tensor([2.0 ** (-8.0 * (h + 1) / heads) for h in range(heads)])


def window_bias(heads, tokens, span, queries=None):
    """[heads, queries, tokens]: −slope·(i − j) for keys j ≤ i within the span, else masked
    (queries: every token by default)."""
    i = (torch.arange(tokens) if queries is None else torch.as_tensor(queries))[:, None]
    j = torch.arange(tokens)[None, :]
    d = (i - j).float()
    bias = -alibi_slopes(heads)[:, None, None] * d
    visible = (j <= i) & (i - j < span)
    return torch.where(visible, bias, torch.tensor(MASKED_SCORE))


class Block(nn.Module):
    def __init__(self, width, heads, mlp_ratio):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.q, self.k, self.v, self.o = (nn.Linear(width, width) for _ in range(4))
        self.fc1, self.fc2 = nn.Linear(width, mlp_ratio * width), nn.Linear(mlp_ratio * width, width)

    def forward(self, x, bias, past=None):
        """`x` [b, n, width]; `past`: this block's cached (keys, values) in front of the n
        tokens, [b, heads, C, head_dim] each. Returns x and the keys and values of all."""
        b, n, w = x.shape
        h = self.ln1(x)
        split = lambda t: t.reshape(b, n, self.heads, w // self.heads).transpose(1, 2)
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        if past is not None:
            k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
        scores = q @ k.transpose(2, 3) / math.sqrt(w // self.heads) + bias
        y = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, w)
        x = x + self.o(y)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x)))), k, v


class TrajectoryTransformer(nn.Module):
    def __init__(self, obs_dim, act_dim, ticks=16, layers=4, width=192, heads=4, mlp_ratio=4, clip=32):
        super().__init__()
        self.ticks, self.heads = ticks, heads
        self.embed_obs, self.embed_act = nn.Linear(obs_dim, width), nn.Linear(act_dim, width)
        self.mask_obs, self.mask_act = nn.Parameter(torch.zeros(obs_dim)), nn.Parameter(torch.zeros(act_dim))
        self.blocks = nn.ModuleList(Block(width, heads, mlp_ratio) for _ in range(layers))
        self.ln_f = nn.LayerNorm(width)
        self.head_act, self.head_obs = nn.Linear(width, act_dim), nn.Linear(width, obs_dim)
        # Every token sees itself and the 2K − 1 before it.
        self.register_buffer("bias", window_bias(heads, 2 * clip, 2 * ticks), persistent=False)

    def embed(self, obs, obs_missing, act, act_missing):
        eo = self.embed_obs(obs * (1 - obs_missing) + self.mask_obs * obs_missing)
        ea = self.embed_act(act * (1 - act_missing) + self.mask_act * act_missing)
        return eo, ea

    def forward(self, obs, obs_missing, act, act_missing, key_valid):
        """Tokens O_1, A_1, …, O_n, A_n (n ≤ clip ticks); `key_valid` [b, 2n] masks empty
        slots. Returns the action read at every O_t and the next observation at every A_t."""
        b, n, _ = obs.shape
        eo, ea = self.embed(obs, obs_missing, act, act_missing)
        x = torch.stack([eo, ea], dim=2).reshape(b, 2 * n, -1)
        bias = self.bias[:, : 2 * n, : 2 * n] + ((1 - key_valid) * MASKED_SCORE)[:, None, None, :]
        for block in self.blocks:
            x = block(x, bias)[0]
        x = self.ln_f(x).reshape(b, n, 2, -1)
        return self.head_act(x[:, :, 0]), self.head_obs(x[:, :, 1])


class WindowGraph(nn.Module):
    """The `window` interface: the last K ticks in; the action at O_k and the prediction of
    O_k made at A_{k−1} out, each [batch, 1, ·]."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, obs, obs_missing, act, act_missing, key_valid):
        action, next_obs = self.model(obs, obs_missing, act, act_missing, key_valid)
        return action[:, -1:], next_obs[:, -2:-1]


class TokenStepGraph(nn.Module):
    """The `token` interface: one token (its `modality`: 1 = observation, 0 = action) against
    every layer's cache of the 2K − 1 tokens before it; both heads and the shifted caches
    out. Computes exactly what `TrajectoryTransformer.forward` does over a whole episode."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        keys = 2 * model.ticks
        self.register_buffer("row_bias", window_bias(model.heads, keys, keys, [keys - 1])[None], persistent=False)

    def forward(self, obs, obs_missing, act, act_missing, modality, key_valid, *caches):
        m = self.model
        eo, ea = m.embed(obs, obs_missing, act, act_missing)
        x = modality * eo + (1 - modality) * ea
        bias = self.row_bias + ((1 - key_valid) * MASKED_SCORE)[:, None, None, :]
        presents = []
        for i, block in enumerate(m.blocks):
            x, k, v = block(x, bias, (caches[2 * i], caches[2 * i + 1]))
            presents += [k[:, :, 1:], v[:, :, 1:]]
        h = m.ln_f(x)
        return (m.head_act(h), m.head_obs(h), *presents)


def load_dataset(root):
    root = Path(root)
    info = json.loads((root / "meta/info.json").read_text())
    table = pq.read_table(sorted((root / "data").rglob("*.parquet")))
    obs = np.asarray(table["observation.state"].to_pylist(), dtype=np.float32)
    act = np.asarray(table["action"].to_pylist(), dtype=np.float32)
    episode = np.asarray(table["episode_index"].to_pylist())
    starts = np.flatnonzero(np.r_[True, episode[1:] != episode[:-1]])
    ends = np.r_[starts[1:], len(episode)]
    return info, obs, act, list(zip(starts, ends))


def normaliser(x):
    mean, std = x.mean(0), x.std(0)
    return mean, np.where(std > 1e-6, std, 1.0).astype(np.float32)


def sample(obs, act, episodes, ticks, batch, rng):
    """`batch` clips of `ticks` ticks; a fifth of them start an episode part-way through the
    clip (empty slots first), as a stream does at start-up."""
    long = [(s, e) for s, e in episodes if e - s >= ticks]
    o, a, valid = [], [], np.ones((batch, 2 * ticks), np.float32)
    for i in range(batch):
        s, e = long[rng.integers(len(long))]
        t = rng.integers(s, e - ticks + 1)
        o.append(obs[t : t + ticks])
        a.append(act[t : t + ticks])
        if rng.random() < 0.2:
            valid[i, : 2 * rng.integers(1, ticks)] = 0
    return np.stack(o), np.stack(a), valid


def train(args):
    distributed = "WORLD_SIZE" in os.environ
    if distributed:
        dist.init_process_group("gloo")
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    torch.manual_seed(args.seed)  # the same initial weights on every rank
    rng = np.random.default_rng(args.seed + rank)  # a different data stream on each

    info, obs, act, episodes = load_dataset(args.dataset)
    (om, os_), (am, as_) = normaliser(obs), normaliser(act)
    zobs = np.clip((obs - om) / os_, -CLAMP, CLAMP)
    zact = np.clip((act - am) / as_, -CLAMP, CLAMP)
    model = TrajectoryTransformer(
        obs.shape[1], act.shape[1], args.ticks, args.layers, args.width, args.heads, clip=args.clip
    )
    net = nn.parallel.DistributedDataParallel(model) if distributed else model
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 100) * 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps))
    )
    started = time.time()
    for step in range(1, args.steps + 1):
        o, a, valid = (torch.from_numpy(x) for x in sample(zobs, zact, episodes, args.clip, args.batch, rng))
        o_missing, a_missing = torch.zeros_like(o), torch.zeros_like(a)
        pred_act, pred_obs = net(o, o_missing, a, a_missing, valid)
        tick_valid = valid[:, 0::2]
        act_loss = (((pred_act - a) ** 2).mean(-1) * tick_valid).sum() / tick_valid.sum()
        # The action token of tick t predicts O_{t+1}.
        next_valid = tick_valid[:, 1:] * tick_valid[:, :-1]
        obs_loss = (((pred_obs[:, :-1] - o[:, 1:]) ** 2).mean(-1) * next_valid).sum() / next_valid.sum()
        loss = act_loss + obs_loss
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        if rank == 0 and (step % 100 == 0 or step == args.steps):
            print(f"step {step}/{args.steps}  action {act_loss.item():.4f}  obs {obs_loss.item():.4f}  "
                  f"{time.time() - started:.0f} s  ({world} process{'es' if world > 1 else ''})", flush=True)
    if rank == 0:
        export(model, args, info, (om, os_), (am, as_))
    if distributed:
        dist.destroy_process_group()


def graph_io(args, no, na):
    """(inputs, outputs) as (name, dims after the batch) in graph order (docs/TOKENS.md)."""
    k, c, dh = args.ticks, 2 * args.ticks - 1, args.width // args.heads
    if args.interface == "window":
        inputs = [("obs", (k, no)), ("obs_missing", (k, no)), ("act", (k, na)), ("act_missing", (k, na)),
                  ("key_valid", (2 * k,))]
        return inputs, [("action", (1, na)), ("next_obs", (1, no))]
    inputs = [("obs", (1, no)), ("obs_missing", (1, no)), ("act", (1, na)), ("act_missing", (1, na)),
              ("modality", (1, 1)), ("key_valid", (c + 1,))]
    outputs = [("action", (1, na)), ("next_obs", (1, no))]
    for layer in range(args.layers):
        inputs += [(f"past_key.{layer}", (args.heads, c, dh)), (f"past_value.{layer}", (args.heads, c, dh))]
        outputs += [(f"present_key.{layer}", (args.heads, c, dh)), (f"present_value.{layer}", (args.heads, c, dh))]
    return inputs, outputs


def export(model, args, info, obs_norm, act_norm):
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    inputs, outputs = graph_io(args, len(obs_norm[0]), len(act_norm[0]))
    graph = (WindowGraph if args.interface == "window" else TokenStepGraph)(model).eval()
    example = tuple(torch.zeros(1, *dims) for _, dims in inputs)
    batch = torch.export.Dim("batch", min=1, max=1024)
    names = [n for n, _ in inputs]
    # The cache inputs come in as `*caches`: their dynamic shapes go in one tuple.
    fixed = 6 if args.interface == "token" else 5
    dynamic = tuple({0: batch} for _ in names[:fixed]) + ((tuple({0: batch} for _ in names[fixed:]),)
                                                          if len(names) > fixed else ())
    onnx_file = out / "model.onnx"
    torch.onnx.export(
        graph, example, onnx_file, input_names=names, output_names=[n for n, _ in outputs],
        opset_version=args.opset, dynamo=True, dynamic_shapes=dynamic,
        external_data=False,  # one file: the manifest's hash covers every weight
    )
    parameters = sum(p.numel() for p in model.parameters())
    write_manifest(out, args, info, obs_norm, act_norm, onnx_file, parameters, inputs, outputs)
    print(f"wrote {out / 'model.toml'}")
    if args.check:
        write_check(model, args, len(obs_norm[0]), len(act_norm[0]))


def write_check(model, args, no, na):
    """A random history of normalised tokens (2.5 K ticks, some fields `[M]`) and, for every
    tick, the action and observation prediction PyTorch computes for it — the whole history
    for a streamed graph, the tick's last K for a window — for a test that runs the exported
    file through Strider's runtime tick by tick."""
    k = args.ticks
    n = min(5 * k // 2 + 1, args.clip)
    g = torch.Generator().manual_seed(1)
    obs, act = torch.randn(1, n, no, generator=g), torch.randn(1, n, na, generator=g)
    obs_missing = (torch.rand(1, n, no, generator=g) < 0.1).float()
    act_missing = torch.zeros(1, n, na)
    obs = obs * (1 - obs_missing)
    action, prediction = [], []
    with torch.no_grad():
        for t in range(n):
            start = max(0, t + 1 - k) if args.interface == "window" else 0
            window = lambda x: x[:, start : t + 1]
            a, o = model(window(obs), window(obs_missing), window(act), window(act_missing),
                         torch.ones(1, 2 * (t + 1 - start)))
            action.append(a[0, -1].tolist())
            prediction.append(o[0, -2].tolist() if t > start else None)
    flat = lambda x: x.reshape(-1).tolist()
    Path(args.check).write_text(json.dumps({
        "obs": flat(obs), "obs_missing": flat(obs_missing), "act": flat(act), "act_missing": flat(act_missing),
        "action": action, "next_obs": prediction,
    }))
    print(f"wrote {args.check}")


def write_manifest(out, args, info, obs_norm, act_norm, onnx_file, parameters, inputs, outputs):
    robot = json.loads(Path(args.robot).read_text())
    q = lambda s: json.dumps(s)  # a TOML basic string is a JSON string
    lines = [
        "format_version = 2", "",
        "[robot]", f"name = {q(info['robot_type'])}", f"contract_id = {q(robot['contract_id'])}",
        f"joints = [{', '.join(q(f['name'].split('.', 1)[1]) for f in robot['action'])}]", "",
        "[timing]", f"control_hz = {info['fps']}", "action_delay_ticks = 0", "",
        "[context]", f"ticks = {args.ticks}", 'token_layout = ["observation", "action"]', 'position = "alibi"', "",
        "[model]", f"layers = {args.layers}", f"width = {args.width}", f"heads = {args.heads}",
        f"parameters = {parameters}", "",
    ]
    for section, fields, (mean, std) in [("observation", robot["observation"], obs_norm),
                                         ("action", robot["action"], act_norm)]:
        for f, m, s in zip(fields, mean, std):
            lines += [f"[[{section}]]", f"name = {q(f['name'])}", f"unit = {q(f['unit'])}",
                      f"mean = {float(m)!r}", f"std = {float(s)!r}", f"clamp = {CLAMP}", ""]
    tensor = lambda name, dims: [f"name = {q(name)}", 'dtype = "f32"',
                                 f"shape = [{', '.join(q(str(d)) for d in ('batch',) + dims)}]", ""]
    lines += ["[onnx]", 'file = "model.onnx"', f"sha256 = {q(hashlib.sha256(onnx_file.read_bytes()).hexdigest())}",
              f"opset = {args.opset}", f"interface = {q(args.interface)}", ""]
    for name, dims in inputs:
        lines += ["[[onnx.inputs]]"] + tensor(name, dims)
    for name, dims in outputs:
        lines += ["[[onnx.outputs]]"] + tensor(name, dims)
    (out / "model.toml").write_text("\n".join(lines))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True, help="a `strider export lerobot` directory")
    ap.add_argument("--robot", required=True, help="`strider robot show --json` output")
    ap.add_argument("--out", required=True, help="directory for model.onnx and model.toml")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=32, help="clips per step per process")
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--ticks", type=int, default=16, help="context K")
    ap.add_argument("--clip", type=int, default=32, help="ticks per training clip (more than K)")
    ap.add_argument("--interface", choices=["token", "window"], default="token", help="the graph to export")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--width", type=int, default=192)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--opset", type=int, default=18)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check", help="also write one window's inputs and PyTorch's outputs here (JSON)")
    train(ap.parse_args())


if __name__ == "__main__":
    main()
