#!/usr/bin/env python3
"""PyTorch CPU per-bar latency of the streaming cases `benches/stream.rs` times, on the same machine:

    ~/torch-venv/bin/python benches/torch_stream.py [--threads 2] [--iters 200] [--warmup 20] [--json out.json]

- `forward`: one batch-1 `model(x)` on the trailing window per bar (what a PyTorch service does per bar): transformer
  W=60, lstm_attention W=120, multitask W=120, tcn W=256 and W=1021 (the seed TCN's receptive field).
- `step`: the TCN's O(1) per-bar step written with PyTorch ops, the same algorithm as tickgrad's ring buffers: each
  dilated conv keeps its last (k-1)*d+1 input columns and `F.conv1d` without padding over them gives the newest
  output column. Checked against the full forward before it is timed.

Eval mode under torch.no_grad(); seed configs and weights as `save_example(kind, seed=0)` makes them (the
reference's `torch_models.py`). Prints `model=<kind> window=<w> mode=<forward|step> p50_us=<x> p99_us=<y>`.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_latency import default_reference, load_reference  # noqa: E402


def build(ref, kind, seed):
    torch.manual_seed(seed)
    model = ref.CLASSES[kind](**ref.SEED_CONFIGS[kind])
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def percentiles(ts_ns):
    us = np.asarray(ts_ns) / 1000.0
    return dict(p50_us=float(np.percentile(us, 50)), p99_us=float(np.percentile(us, 99)), mean_us=float(us.mean()))


def time_forward(model, x, warmup, iters):
    with torch.no_grad():
        for _ in range(warmup):
            model(x)
        ts = []
        for _ in range(iters):
            t0 = time.perf_counter_ns()
            model(x)
            ts.append(time.perf_counter_ns() - t0)
    return percentiles(ts)


class TcnStep:
    """Ring-buffer streaming of the reference Tcn: per conv, the last (k-1)*d+1 input columns."""

    def __init__(self, tcn):
        self.tcn = tcn
        self.hist = []
        for b in tcn.blocks:
            k, d = b.conv1.kernel_size[0], b.conv1.dilation[0]
            rf = (k - 1) * d + 1
            self.hist.append([torch.zeros(1, b.conv1.in_channels, rf), torch.zeros(1, b.conv2.in_channels, rf)])

    @staticmethod
    def push(h, col):
        h = torch.cat([h[:, :, 1:], col], dim=2)
        return h

    def step(self, row):  # row [F]
        x = row.view(1, -1, 1)
        for b, hs in zip(self.tcn.blocks, self.hist):
            hs[0] = self.push(hs[0], x)
            y = torch.relu(F.conv1d(hs[0], b.conv1.weight, b.conv1.bias, dilation=b.conv1.dilation[0]))
            hs[1] = self.push(hs[1], y)
            y = torch.relu(F.conv1d(hs[1], b.conv2.weight, b.conv2.bias, dilation=b.conv2.dilation[0]))
            res = x if b.downsample is None else b.downsample(x)
            x = torch.relu(y + res)
        return self.tcn.head(x[:, :, 0])


def time_tcn_step(model, xs, window, warmup, iters):
    s = TcnStep(model)
    with torch.no_grad():
        for t in range(window):
            y = s.step(xs[t])
        want = model(xs[None, :window])
        assert torch.allclose(y, want, rtol=1e-4, atol=1e-5), (y, want)
        for t in range(window, window + warmup):
            s.step(xs[t % len(xs)])
        ts = []
        for t in range(window + warmup, window + warmup + iters):
            t0 = time.perf_counter_ns()
            s.step(xs[t % len(xs)])
            ts.append(time.perf_counter_ns() - t0)
    return percentiles(ts)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    ap.add_argument("--reference", default=default_reference())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ref = load_reference(args.reference)
    results = []

    def report(kind, window, mode, r):
        r.update(model=kind, window=window, mode=mode)
        results.append(r)
        print(f"model={kind} window={window} mode={mode} p50_us={r['p50_us']:.1f} p99_us={r['p99_us']:.1f} "
              f"mean_us={r['mean_us']:.1f}", flush=True)

    tcn = build(ref, "tcn", args.seed)
    nf = ref.SEED_CONFIGS["tcn"]["n_features"]
    xs = torch.randn(4096, nf)
    report("tcn", 1021, "step", time_tcn_step(tcn, xs, 1021, args.warmup, args.iters))
    for kind, window in [("tcn", 1021), ("tcn", 256), ("multitask", 120), ("lstm_attention", 120),
                         ("transformer", 60)]:
        model = tcn if kind == "tcn" else build(ref, kind, args.seed)
        x = torch.randn(1, window, ref.SEED_CONFIGS[kind]["n_features"])
        iters = args.iters if kind != "transformer" else max(20, args.iters // 4)
        report(kind, window, "forward", time_forward(model, x, args.warmup, iters))
    if args.json:
        env = dict(torch=torch.__version__, threads=torch.get_num_threads())
        with open(args.json, "w") as f:
            json.dump(dict(env=env, results=results), f, indent=1)


if __name__ == "__main__":
    main()
