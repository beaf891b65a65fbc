#!/usr/bin/env python3
"""PyTorch CPU latency of each tickgrad model at its seed config and window (the baseline tickgrad is compared to).

    ~/torch-venv/bin/python benches/torch_latency.py [--threads 2] [--batch 1] [--iters 200] [--warmup 20]
                                                    [--models transformer,tcn] [--json out.json]
                                                    [--checkpoint-dir DIR] [--no-fastpath]

Eval mode, torch.no_grad(), one `model(x)` call timed per iteration with time.perf_counter_ns after a warm-up.
Prints one line per model: `model=<kind> batch=<b> p50_us=<x> p99_us=<y> mean_us=<z>`.

Weights: what the reference's save_example(kind, seed=0) makes (torch.manual_seed(0), the seed config, BatchNorm
running stats randomised). With --checkpoint-dir DIR the checkpoints are written there by save_example (batch 1,
NAME = kind: DIR/<kind>.safetensors, <kind>_input.npy, <kind>_expected.npy) and the timed model is loaded back from
that file, so the Rust side can benchmark the SAME weights on the SAME input.

Note: in eval mode under no_grad, PyTorch runs nn.TransformerEncoder layers through its fused "fast path"
(torch._transformer_encoder_layer_fwd); --no-fastpath turns that off (torch.backends.mha.set_fastpath_enabled).
"""
import argparse
import importlib.util
import json
import os
import platform
import sys
import time

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_reference(path):
    spec = importlib.util.spec_from_file_location("torch_models", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def default_reference():
    if os.environ.get("TICKGRAD_REFERENCE"):
        return os.environ["TICKGRAD_REFERENCE"]
    copy = os.path.join(REPO, "scripts", "torch_models.py")
    return copy if os.path.exists(copy) else os.path.join(REPO, "..", "shared", "reference", "torch_models.py")


def build(ref, kind, batch, seed, checkpoint_dir):
    from safetensors.torch import load_file

    cfg = ref.SEED_CONFIGS[kind]
    window = ref.WINDOWS[kind]
    if checkpoint_dir:
        os.makedirs(checkpoint_dir, exist_ok=True)
        ref.save_example(kind, checkpoint_dir, batch=1, seed=seed, name=kind)
        model = ref.CLASSES[kind](**cfg)
        model.load_state_dict(load_file(os.path.join(checkpoint_dir, f"{kind}.safetensors")), strict=True)
        x1 = torch.from_numpy(np.load(os.path.join(checkpoint_dir, f"{kind}_input.npy")))
        x = x1.expand(batch, -1, -1).contiguous() if batch != 1 else x1
    else:  # the same weights save_example(kind, seed=seed) makes
        torch.manual_seed(seed)
        model = ref.CLASSES[kind](**cfg)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
        x = torch.randn(batch, window, cfg["n_features"])
    return model.eval(), x


def time_model(model, x, warmup, iters):
    with torch.no_grad():
        for _ in range(warmup):
            model(x)
        ts = np.empty(iters, dtype=np.int64)
        for i in range(iters):
            t0 = time.perf_counter_ns()
            model(x)
            ts[i] = time.perf_counter_ns() - t0
    us = ts / 1000.0
    return dict(p50_us=float(np.percentile(us, 50)), p99_us=float(np.percentile(us, 99)), mean_us=float(us.mean()),
                min_us=float(us.min()), iters=iters)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", default="transformer,lstm_attention,tcn,multitask")
    ap.add_argument("--json", default=None, help="also write the results as JSON to this file")
    ap.add_argument("--checkpoint-dir", default=None, help="write the seed-config checkpoints here (save_example, "
                                                             "batch 1) and time the weights loaded from them")
    ap.add_argument("--no-fastpath", action="store_true", help="disable PyTorch's fused TransformerEncoder path")
    ap.add_argument("--reference", default=default_reference())
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    if args.no_fastpath:
        torch.backends.mha.set_fastpath_enabled(False)
    ref = load_reference(args.reference)
    results = []
    for kind in args.models.split(","):
        model, x = build(ref, kind, args.batch, args.seed, args.checkpoint_dir)
        r = time_model(model, x, args.warmup, args.iters)
        r.update(model=kind, batch=args.batch, window=ref.WINDOWS[kind], config=ref.SEED_CONFIGS[kind])
        results.append(r)
        print(f"model={kind} batch={args.batch} p50_us={r['p50_us']:.1f} p99_us={r['p99_us']:.1f} "
              f"mean_us={r['mean_us']:.1f}", flush=True)
    if args.json:
        env = dict(torch=torch.__version__, threads=torch.get_num_threads(), python=sys.version.split()[0],
                   cpu_capability=torch.backends.cpu.get_cpu_capability(), machine=platform.machine(),
                   fastpath=not args.no_fastpath, warmup=args.warmup, seed=args.seed)
        with open(args.json, "w") as f:
            json.dump(dict(env=env, results=results), f, indent=1)


if __name__ == "__main__":
    main()
