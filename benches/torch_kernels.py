#!/usr/bin/env python3
"""PyTorch timings of the kernels tickgrad benchmarks, at the same sizes (float32, no_grad, 2 threads).

    ~/torch-venv/bin/python benches/torch_kernels.py [--threads 2] [--min-time 1.0] [--only matmul,sdpa] [--json F]
                                                     [--device cpu|cuda]

With --device cuda every call is followed by torch.cuda.synchronize() inside the timed region (as
benches/cuda_kernels.rs synchronises its stream), and matmul is also timed with f16 and bf16 operands.

Prints `kernel=<name> p50_us=<x> p99_us=<y> mean_us=<z> iters=<n>` (and `gflops=` for matmul / conv1d, based on p50).
Each kernel: warm-up, then timed calls (time.perf_counter_ns around one call) until --min-time seconds and at least
--min-iters calls.

Sizes:
  matmul_256 / matmul_512        torch.mm, [M,K] x [K,N], M=K=N
  sdpa_b1_h8_t60_d64[_causal]    F.scaled_dot_product_attention, q/k/v [B,H,T,D]
  sdpa_b8_h8_t128_d64[_causal]
  conv1d_b1_c64_t256_k3_d4       causal dilated conv: F.conv1d(F.pad(x, (8, 0)), w[64,64,3], b, dilation=4), x [B,64,256]
  conv1d_b16_c64_t256_k3_d4
  lstm_in10_h256_t120_b1         nn.LSTM(10, 256, batch_first) over [1,120,10], one layer, one direction
  lstm_bi3_in10_h256_t120_b1     nn.LSTM(10, 256, num_layers=3, bidirectional=True) (the lstm_attention seed encoder)
  lstm_tick_3layer_h256_b1       one time step through three stacked nn.LSTMCell(…, 256) with carried state
"""
import argparse
import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def bench(fn, min_time, min_iters, warmup, sync=lambda: None):
    for _ in range(warmup):
        fn()
    sync()
    ts = []
    start = time.perf_counter()
    while len(ts) < min_iters or time.perf_counter() - start < min_time:
        t0 = time.perf_counter_ns()
        fn()
        sync()
        ts.append(time.perf_counter_ns() - t0)
    us = np.array(ts) / 1000.0
    return dict(p50_us=float(np.percentile(us, 50)), p99_us=float(np.percentile(us, 99)), mean_us=float(us.mean()),
                min_us=float(us.min()), iters=len(ts))


def kernels(dev="cpu"):
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g).to(dev)  # noqa: E731
    ks = []
    for n in (256, 512):
        a, b = r(n, n), r(n, n)
        ks.append((f"matmul_{n}", "matmul", lambda a=a, b=b: torch.mm(a, b), 2.0 * n * n * n))
        if dev == "cuda":
            for dt, tag in ((torch.float16, "f16"), (torch.bfloat16, "bf16")):
                ah, bh = a.to(dt), b.to(dt)
                ks.append((f"matmul_{n}_{tag}", "matmul", lambda a=ah, b=bh: torch.mm(a, b), 2.0 * n * n * n))
    for (B, H, T, D) in ((1, 8, 60, 64), (8, 8, 128, 64)):
        q, k, v = r(B, H, T, D), r(B, H, T, D), r(B, H, T, D)
        for causal in (False, True):
            name = f"sdpa_b{B}_h{H}_t{T}_d{D}" + ("_causal" if causal else "")
            ks.append((name, "sdpa",
                       lambda q=q, k=k, v=v, c=causal: F.scaled_dot_product_attention(q, k, v, is_causal=c),
                       4.0 * B * H * T * T * D))
    C, T, K, dil = 64, 256, 3, 4
    w, bias = r(C, C, K) * 0.1, r(C)
    for B in (1, 16):
        x = r(B, C, T)
        ks.append((f"conv1d_b{B}_c{C}_t{T}_k{K}_d{dil}", "conv1d",
                   lambda x=x: F.conv1d(F.pad(x, ((K - 1) * dil, 0)), w, bias, dilation=dil),
                   2.0 * B * C * C * K * T))
    torch.manual_seed(0)
    lstm1 = nn.LSTM(10, 256, batch_first=True).eval().to(dev)
    lstm3 = nn.LSTM(10, 256, num_layers=3, bidirectional=True, batch_first=True).eval().to(dev)
    xs = r(1, 120, 10)
    ks.append(("lstm_in10_h256_t120_b1", "lstm", lambda: lstm1(xs), None))
    ks.append(("lstm_bi3_in10_h256_t120_b1", "lstm", lambda: lstm3(xs), None))
    cells = [nn.LSTMCell(10, 256).to(dev), nn.LSTMCell(256, 256).to(dev), nn.LSTMCell(256, 256).to(dev)]
    state = [(r(1, 256), r(1, 256)) for _ in cells]
    x1 = r(1, 10)

    def tick():
        h = x1
        for i, cell in enumerate(cells):
            state[i] = cell(h, state[i])
            h = state[i][0]
        return h

    ks.append(("lstm_tick_3layer_h256_b1", "lstm", tick, None))
    return ks


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=1.0, help="seconds of timed calls per kernel")
    ap.add_argument("--min-iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--only", default=None, help="comma-separated name prefixes")
    ap.add_argument("--json", default=None)
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    results = []
    with torch.no_grad():
        for name, group, fn, flops in kernels(args.device):
            if args.only and not any(name.startswith(p) for p in args.only.split(",")):
                continue
            res = bench(fn, args.min_time, args.min_iters, args.warmup, sync)
            res.update(kernel=name, group=group)
            line = (f"kernel={name} p50_us={res['p50_us']:.1f} p99_us={res['p99_us']:.1f} "
                    f"mean_us={res['mean_us']:.1f} iters={res['iters']}")
            if flops and group in ("matmul", "conv1d"):
                res["gflops"] = flops / (res["p50_us"] * 1e3)
                line += f" gflops={res['gflops']:.1f}"
            print(line, flush=True)
            results.append(res)
    if args.json:
        env = dict(torch=torch.__version__, threads=torch.get_num_threads(), python=sys.version.split()[0],
                   cpu_capability=torch.backends.cpu.get_cpu_capability(), device=args.device,
                   gpu=torch.cuda.get_device_name(0) if args.device == "cuda" else None)
        with open(args.json, "w") as f:
            json.dump(dict(env=env, results=results), f, indent=1)


if __name__ == "__main__":
    main()
