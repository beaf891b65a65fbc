#!/usr/bin/env python3
"""Write tickgrad's optimizer parity fixtures: N steps of torch.optim with clip_grad_norm_ on fixed gradients.

    ~/torch-venv/bin/python scripts/make_optim_fixtures.py fixtures/optim

One file per case, `fixtures/optim/CASE.safetensors`:
  `p0.<i>`            initial parameter i (float32)
  `grad.<s>.<i>`      the gradient of parameter i given at step s (s = 1..N), before clipping
  `p.<s>.<i>`         parameter i after step s (torch.nn.utils.clip_grad_norm_ then optimizer.step())
metadata `config`: JSON {optimizer, lr, betas, eps, weight_decay, momentum, max_norm, steps, params}.
The gradients are drawn so that clipping binds on some steps and not on others. Single-threaded, foreach=False
(torch's single-tensor code path: what a CPU run of torch.optim uses), float32 throughout.
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file

STEPS = 8
SHAPES = [(7, 5), (13,), (3, 4, 2)]
CASES = {
    "adamw": dict(optimizer="adamw", lr=1e-2, betas=[0.9, 0.999], eps=1e-8, weight_decay=0.05, max_norm=1.0),
    "adam_l2": dict(optimizer="adam", lr=3e-3, betas=[0.8, 0.99], eps=1e-6, weight_decay=0.01, max_norm=2.0),
    "sgd_momentum": dict(optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=1e-3, max_norm=1.5),
    "sgd_plain": dict(optimizer="sgd", lr=0.1, momentum=0.0, weight_decay=0.0, max_norm=0.5),
}


def make(out, name, cfg, seed):
    gen = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.rand(s, generator=gen) * 2 - 1) for s in SHAPES]
    tensors = {f"p0.{i}": p.detach().clone() for i, p in enumerate(params)}
    if cfg["optimizer"] == "adamw":
        opt = torch.optim.AdamW(params, lr=cfg["lr"], betas=tuple(cfg["betas"]), eps=cfg["eps"],
                                weight_decay=cfg["weight_decay"], foreach=False)
    elif cfg["optimizer"] == "adam":
        opt = torch.optim.Adam(params, lr=cfg["lr"], betas=tuple(cfg["betas"]), eps=cfg["eps"],
                               weight_decay=cfg["weight_decay"], foreach=False)
    else:
        opt = torch.optim.SGD(params, lr=cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["weight_decay"],
                              foreach=False)
    for s in range(1, STEPS + 1):
        # alternate large and small gradients so that clipping binds on some steps only
        scale = 1.0 if s % 2 else 0.05
        for i, p in enumerate(params):
            g = (torch.rand(p.shape, generator=gen) * 2 - 1) * scale
            tensors[f"grad.{s}.{i}"] = g.clone()
            p.grad = g
        torch.nn.utils.clip_grad_norm_(params, cfg["max_norm"], foreach=False)
        opt.step()
        for i, p in enumerate(params):
            tensors[f"p.{s}.{i}"] = p.detach().clone()
    meta = dict(cfg, steps=STEPS, params=len(SHAPES), torch=torch.__version__)
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out, f"{name}.safetensors"),
              metadata={"config": json.dumps(meta)})


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "fixtures", "optim")
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    for k, (name, cfg) in enumerate(CASES.items()):
        make(out, name, cfg, 500 + k)
        print(f"wrote {out}/{name}.safetensors")


if __name__ == "__main__":
    main()
