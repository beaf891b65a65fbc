#!/usr/bin/env python3
"""Write tickgrad's PyTorch reference fixtures (model checkpoints, gradients, single-layer cases).

    ~/torch-venv/bin/python scripts/make_fixtures.py fixtures

The reference module (the model contract, docs/MODELS.md) is imported by path: `--reference PATH`, else env
`TICKGRAD_REFERENCE`, else the repository's `scripts/torch_models.py`. Everything written is float32 (C-contiguous) except
BatchNorm's `num_batches_tracked` (int64) inside model checkpoints, exactly as the reference writes it.
Runs single-threaded so that the bits are reproducible. See fixtures/README.md (generated) for the layout.
"""
import argparse
import importlib.util
import json
import os
import sys
import warnings
from collections import OrderedDict

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMAND = "~/torch-venv/bin/python scripts/make_fixtures.py fixtures"


def load_reference(path):
    spec = importlib.util.spec_from_file_location("torch_models", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def reference_path(arg):
    if arg:
        return arg
    if os.environ.get("TICKGRAD_REFERENCE"):
        return os.environ["TICKGRAD_REFERENCE"]
    return os.path.join(REPO, "scripts", "torch_models.py")


# ----------------------------------------------------------------------------------------------------------------
# Model fixtures: (name, kind, cfg, window, batch). Seeds are 100 + index.
MODEL_CASES = [
    ("transformer_a", "transformer",
     dict(n_features=7, d_model=32, nhead=4, num_layers=2, dim_feedforward=64, pooling="last", causal=False), 12, 3),
    ("transformer_b", "transformer",
     dict(n_features=5, d_model=24, nhead=3, num_layers=1, dim_feedforward=40, pooling="mean", causal=True), 9, 2),
    ("transformer_c", "transformer",
     dict(n_features=4, d_model=16, nhead=2, num_layers=3, dim_feedforward=20, pooling="last", causal=True), 10, 2),
    ("transformer_d", "transformer",
     dict(n_features=3, d_model=8, nhead=1, num_layers=1, dim_feedforward=16, pooling="mean", causal=False), 5, 1),
    ("lstm_attention_a", "lstm_attention",
     dict(n_features=6, hidden_size=16, num_layers=2, bidirectional=True), 11, 3),
    ("lstm_attention_b", "lstm_attention",
     dict(n_features=4, hidden_size=8, num_layers=1, bidirectional=False, n_outputs=2), 7, 2),
    ("lstm_attention_c", "lstm_attention",
     dict(n_features=5, hidden_size=12, num_layers=3, bidirectional=True), 10, 2),
    ("tcn_a", "tcn", dict(n_features=5, channels=[8, 8, 12], kernel_size=3), 20, 3),
    ("tcn_b", "tcn", dict(n_features=3, channels=[6, 6], kernel_size=2, n_outputs=2), 13, 2),
    ("tcn_c", "tcn", dict(n_features=4, channels=[4, 4, 4, 4], kernel_size=4), 40, 2),
    ("multitask_a", "multitask", dict(n_features=6, channels=8, n_blocks=2, kernel_size=3, head_hidden=16), 15, 3),
    ("multitask_b", "multitask", dict(n_features=4, channels=12, n_blocks=1, kernel_size=5, head_hidden=10), 9, 2),
    ("multitask_c", "multitask", dict(n_features=5, channels=6, n_blocks=3, kernel_size=2, head_hidden=8), 12, 2),
    # the seed variant of lstm_attention (residual, batch norm, dense head), appended so earlier seeds stay put
    ("lstm_attention_d", "lstm_attention",
     dict(n_features=5, hidden_size=8, num_layers=3, bidirectional=True, residual=True, batch_norm=True,
          dense_hidden=6), 9, 3),
    ("lstm_attention_e", "lstm_attention",
     dict(n_features=4, hidden_size=6, num_layers=2, bidirectional=False, residual=True, dense_hidden=5,
          n_outputs=2), 8, 2),
    ("lstm_attention_f", "lstm_attention",
     dict(n_features=4, hidden_size=5, num_layers=1, bidirectional=True, batch_norm=True), 7, 3),
]


def _is_constant_init(name, t):
    """Parameters the PyTorch constructors fill with constants (MHA in_proj_bias / out_proj.bias = 0, LayerNorm and
    BatchNorm weight = 1 / bias = 0, MultiTask.log_vars = 0)."""
    return t.dtype == torch.float32 and t.numel() > 0 and bool((t == t.flatten()[0]).all())


def make_model_fixture(ref, out, name, kind, cfg, window, batch, seed):
    """save_example(), then re-draw every constant-initialised float parameter (so that no weight is all zeros or all
    ones), recompute the expected output (eval, no_grad, prediction_array) and rewrite checkpoint + expected."""
    ref.save_example(kind, out, cfg=cfg, window=window, batch=batch, seed=seed, name=name)
    path = f"{out}/{name}.safetensors"
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    full = json.loads(meta["tickgrad.config"])
    assert full["kind"] == kind
    model = ref.CLASSES[kind](**{k: v for k, v in full.items() if k != "kind"})
    model.load_state_dict(load_file(path), strict=True)
    model.eval()
    gen = torch.Generator().manual_seed(seed + 50_000)
    redrawn = []
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if _is_constant_init(pname, p):
                if pname.endswith("weight"):  # norm scales: positive, around 1
                    p.copy_(torch.empty(p.shape).uniform_(0.6, 1.4, generator=gen))
                else:  # biases, log_vars
                    p.copy_(torch.empty(p.shape).uniform_(-0.3, 0.3, generator=gen))
                redrawn.append(pname)
        x = torch.from_numpy(np.load(f"{out}/{name}_input.npy"))
        y = ref.prediction_array(model(x))
    sd = OrderedDict((k, v.detach().contiguous()) for k, v in model.state_dict().items())
    save_file(sd, path, meta)
    np.save(f"{out}/{name}_expected.npy", np.ascontiguousarray(y.numpy().astype(np.float32)))
    return model, x, y, redrawn


def make_grad_fixture(ref, out, name, model, x, y_expected, seed):
    """Eval mode; loss = sum(prediction_array(model(x)) * G), G seeded random. Returns the forward max abs diff."""
    model.eval()
    xg = x.detach().clone().requires_grad_(True)
    model.zero_grad(set_to_none=True)
    y = ref.prediction_array(model(xg))  # with grad enabled: no fast path, the plain composite ops
    diff = float((y.detach() - y_expected).abs().max())
    gen = torch.Generator().manual_seed(seed + 70_000)
    g = torch.randn(y.shape, generator=gen)
    (y * g).sum().backward()
    t = OrderedDict()
    t["gradout"] = g.contiguous()
    t["grad.input"] = xg.grad.detach().contiguous()
    zero_grads = []
    for pname, p in model.named_parameters():
        if p.grad is None:  # not used by prediction_array (MultiTask.log_vars): the true gradient is zero
            t[f"grad.{pname}"] = torch.zeros_like(p).contiguous()
            zero_grads.append(pname)
        else:
            t[f"grad.{pname}"] = p.grad.detach().contiguous()
    # one metadata key: safetensors writes a multi-key metadata map in random order (non-reproducible bytes)
    meta = {"config": json.dumps({"loss": "sum(prediction_array(model(input)) * gradout)", "mode": "eval",
                                  "checkpoint": f"{name}.safetensors", "input": f"{name}_input.npy",
                                  "zero_grads": zero_grads})}
    save_file(dict(t), f"{out}/{name}_grads.safetensors", meta)
    return diff, zero_grads


# ----------------------------------------------------------------------------------------------------------------
# Layer fixtures
def rand(gen, *shape, scale=1.0):
    return (torch.randn(tuple(shape), generator=gen) * scale).contiguous()


def randomize_module(module, gen):
    """Re-draw constant-initialised parameters and randomise BatchNorm running stats."""
    with torch.no_grad():
        for pname, p in module.named_parameters():
            if _is_constant_init(pname, p):
                if pname.endswith("weight"):
                    p.copy_(torch.empty(p.shape).uniform_(0.6, 1.4, generator=gen))
                else:
                    p.copy_(torch.empty(p.shape).uniform_(-0.3, 0.3, generator=gen))
        for m in module.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.copy_(torch.empty(m.running_mean.shape).uniform_(-0.5, 0.5, generator=gen))
                m.running_var.copy_(torch.empty(m.running_var.shape).uniform_(0.5, 1.5, generator=gen))
    return module


def save_layer(out, name, config, module, inputs, fn, seed, train=False):
    """inputs: OrderedDict name -> tensor ('input' first, second input 'input2'); fn(*leaves) -> OrderedDict whose
    'output' gets the random upstream gradient `gradout`; other outputs are saved as they are (no gradient flows
    from them). Writes param.<name> (parameters and float buffers before the forward), the inputs, the outputs,
    gradout, grad.<input name>, grad.param.<name>."""
    gen = torch.Generator().manual_seed(seed + 90_000)
    t = OrderedDict()
    if module is not None:
        module.train(train)
        for k, v in module.state_dict().items():
            if v.dtype == torch.float32:
                t[f"param.{k}"] = v.detach().clone().contiguous()
        module.zero_grad(set_to_none=True)
    leaves = OrderedDict((k, v.detach().clone().requires_grad_(True)) for k, v in inputs.items())
    outs = fn(*leaves.values())
    out_t = outs["output"]
    g = rand(gen, *out_t.shape)
    (out_t * g).sum().backward()
    for k, v in leaves.items():
        t[k] = v.detach().contiguous()
    for k, v in outs.items():
        t[k] = v.detach().contiguous()
    t["gradout"] = g
    for k, v in leaves.items():
        t[f"grad.{k}"] = v.grad.detach().contiguous()
    if module is not None:
        for pname, p in module.named_parameters():
            assert p.grad is not None, (name, pname)
            t[f"grad.param.{pname}"] = p.grad.detach().contiguous()
    for k, v in t.items():
        assert v.dtype == torch.float32 and v.is_contiguous(), (name, k, v.dtype)
    cfg = dict(config)
    cfg["mode"] = "train" if train else "eval"
    cfg.setdefault("loss", "sum(output * gradout)")
    save_file(dict(t), f"{out}/{name}.safetensors", {"config": json.dumps(cfg)})


def make_layer_fixtures(ref, out):
    os.makedirs(out, exist_ok=True)
    F = nn.functional
    seed = 0

    def nxt():
        nonlocal seed
        seed += 1
        torch.manual_seed(seed)
        return seed, torch.Generator().manual_seed(seed)

    # Linear
    s, g = nxt()
    m = randomize_module(nn.Linear(7, 5), g)
    save_layer(out, "linear", dict(layer="nn.Linear", in_features=7, out_features=5, bias=True), m,
               OrderedDict(input=rand(g, 3, 4, 7)), lambda x: OrderedDict(output=m(x)), s)

    # LayerNorm
    s, g = nxt()
    m = randomize_module(nn.LayerNorm(6), g)
    save_layer(out, "layernorm", dict(layer="nn.LayerNorm", normalized_shape=[6], eps=1e-5), m,
               OrderedDict(input=rand(g, 2, 5, 6, scale=2.0) + 0.5), lambda x: OrderedDict(output=m(x)), s)

    # BatchNorm1d, train mode: batch statistics, running stats updated with momentum 0.1 (unbiased variance)
    s, g = nxt()
    m = randomize_module(nn.BatchNorm1d(4), g)

    def bn_train(x, m=m):
        y = m(x)
        return OrderedDict(output=y, running_mean_after=m.running_mean.detach().clone(),
                           running_var_after=m.running_var.detach().clone())

    save_layer(out, "batchnorm1d_train",
               dict(layer="nn.BatchNorm1d", num_features=4, eps=1e-5, momentum=0.1, layout="[B, C, T]",
                    note="output normalises with the biased batch variance over (B, T); running_var is updated "
                         "with the unbiased one: r = (1 - momentum) * r + momentum * batch_stat"),
               m, OrderedDict(input=rand(g, 3, 4, 6, scale=1.5) + 0.3), bn_train, s, train=True)

    # BatchNorm1d, eval mode with random running stats
    s, g = nxt()
    m = randomize_module(nn.BatchNorm1d(4), g)
    save_layer(out, "batchnorm1d_eval", dict(layer="nn.BatchNorm1d", num_features=4, eps=1e-5, momentum=0.1,
                                              layout="[B, C, T]"),
               m, OrderedDict(input=rand(g, 3, 4, 6)), lambda x: OrderedDict(output=m(x)), s)

    # MultiheadAttention, self-attention, with and without causal mask; and cross-attention
    for causal in (False, True):
        s, g = nxt()
        m = randomize_module(nn.MultiheadAttention(12, 3, batch_first=True), g)
        m.eval()

        def mha(x, m=m, causal=causal):
            mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1]) if causal else None
            y, w = m(x, x, x, attn_mask=mask, need_weights=True, average_attn_weights=True)
            with torch.no_grad():
                _, wh = m(x, x, x, attn_mask=mask, need_weights=True, average_attn_weights=False)
            return OrderedDict(output=y, attn_weights=w.detach(), attn_weights_per_head=wh)

        save_layer(out, "mha_self_causal" if causal else "mha_self",
                   dict(layer="nn.MultiheadAttention", embed_dim=12, num_heads=3, batch_first=True, dropout=0.0,
                        causal=causal, query_key_value="input",
                        note="attn_weights: [B, T, T] averaged over heads; attn_weights_per_head: [B, H, T, T]; "
                             "causal mask = generate_square_subsequent_mask (-inf above the diagonal)"),
                   m, OrderedDict(input=rand(g, 2, 6, 12)), mha, s)
    s, g = nxt()
    m = randomize_module(nn.MultiheadAttention(12, 3, batch_first=True), g)
    m.eval()

    def mha_cross(q, kv, m=m):
        y, w = m(q, kv, kv, need_weights=True, average_attn_weights=True)
        return OrderedDict(output=y, attn_weights=w.detach())

    save_layer(out, "mha_cross", dict(layer="nn.MultiheadAttention", embed_dim=12, num_heads=3, batch_first=True,
                                      dropout=0.0, causal=False, query="input", key_value="input2"),
               m, OrderedDict(input=rand(g, 2, 5, 12), input2=rand(g, 2, 7, 12)), mha_cross, s)

    # TransformerEncoderLayer (post-norm, relu), eval, dropout 0; plain and causal
    for causal in (False, True):
        s, g = nxt()
        m = randomize_module(nn.TransformerEncoderLayer(16, 4, 24, dropout=0.0, activation="relu", batch_first=True,
                                                        norm_first=False, layer_norm_eps=1e-5), g)
        m.eval()

        def tel(x, m=m, causal=causal):
            mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1]) if causal else None
            return OrderedDict(output=m(x, src_mask=mask, is_causal=causal))

        save_layer(out, "transformer_encoder_layer_causal" if causal else "transformer_encoder_layer",
                   dict(layer="nn.TransformerEncoderLayer", d_model=16, nhead=4, dim_feedforward=24, dropout=0.0,
                        activation="relu", batch_first=True, norm_first=False, layer_norm_eps=1e-5, causal=causal),
                   m, OrderedDict(input=rand(g, 2, 7, 16)), tel, s)

    # LSTM 2-layer bidirectional, eval, zero initial state
    s, g = nxt()
    m = nn.LSTM(5, 7, num_layers=2, bidirectional=True, batch_first=True)
    m.eval()

    def lstm(x, m=m):
        y, (h, c) = m(x)
        return OrderedDict(output=y, h_n=h.detach(), c_n=c.detach())

    save_layer(out, "lstm", dict(layer="nn.LSTM", input_size=5, hidden_size=7, num_layers=2, bidirectional=True,
                                 batch_first=True, dropout=0.0, initial_state="zeros",
                                 note="gate order i, f, g, o; output [B, T, 2H] = [forward, reverse]; "
                                      "h_n/c_n [layers*2, B, H]"),
               m, OrderedDict(input=rand(g, 3, 6, 5)), lstm, s)

    # Reference AdditiveAttention
    s, g = nxt()
    m = ref.AdditiveAttention(10)

    def addattn(h, m=m):
        c, a = m(h)
        return OrderedDict(output=c, attention=a.detach())

    save_layer(out, "additive_attention", dict(layer="AdditiveAttention", dim=10,
                                               note="output = context [B, D]; attention [B, T] (no gradout on it)"),
               m, OrderedDict(input=rand(g, 2, 7, 10)), addattn, s)

    # Reference CausalConvBn, eval
    s, g = nxt()
    m = randomize_module(ref.CausalConvBn(3, 5, 3), g)
    m.eval()
    save_layer(out, "causal_conv_bn", dict(layer="CausalConvBn", n_in=3, n_out=5, kernel_size=3, layout="[B, C, T]"),
               m, OrderedDict(input=rand(g, 2, 3, 9)), lambda x, m=m: OrderedDict(output=m(x)), s)

    # Plain dilated causal Conv1d: left pad (k-1)*d = 4
    s, g = nxt()
    m = nn.Conv1d(3, 4, 3, dilation=2)
    save_layer(out, "causal_conv1d_dilated",
               dict(layer="nn.Conv1d", in_channels=3, out_channels=4, kernel_size=3, dilation=2, left_pad=4,
                    layout="[B, C, T]", note="output = conv1d(pad(input, (4, 0)))"),
               m, OrderedDict(input=rand(g, 2, 3, 10)), lambda x, m=m: OrderedDict(output=m(F.pad(x, (4, 0)))), s)

    # Reference TemporalBlock(3, 5, 3, dilation 2, dropout 0), eval
    s, g = nxt()
    m = ref.TemporalBlock(3, 5, 3, 2, 0.0)
    m.eval()
    save_layer(out, "temporal_block", dict(layer="TemporalBlock", n_in=3, n_out=5, kernel_size=3, dilation=2,
                                           dropout=0.0, layout="[B, C, T]"),
               m, OrderedDict(input=rand(g, 2, 3, 12)), lambda x, m=m: OrderedDict(output=m(x)), s)

    # Reference ResBlock1d(4, 3), eval
    s, g = nxt()
    m = randomize_module(ref.ResBlock1d(4, 3), g)
    m.eval()
    save_layer(out, "resblock1d", dict(layer="ResBlock1d", channels=4, kernel_size=3, layout="[B, C, T]"),
               m, OrderedDict(input=rand(g, 2, 4, 10)), lambda x, m=m: OrderedDict(output=m(x)), s)

    # Elementwise / last-dim ops
    ops = [
        ("softmax", "softmax(dim=-1)", lambda x: torch.softmax(x, dim=-1)),
        ("log_softmax", "log_softmax(dim=-1)", lambda x: torch.log_softmax(x, dim=-1)),
        ("gelu", "gelu(approximate='none'), exact erf", lambda x: F.gelu(x, approximate="none")),
        ("tanh", "tanh", torch.tanh),
        ("sigmoid", "sigmoid", torch.sigmoid),
        ("relu", "relu (inputs kept at least 1e-3 away from 0)", torch.relu),
    ]
    for name, desc, f in ops:
        s, g = nxt()
        x = rand(g, 3, 5, 7, scale=2.0)
        if name == "relu":
            x = torch.where(x.abs() < 1e-3, torch.full_like(x, 0.5), x)
        save_layer(out, name, dict(layer=desc), None, OrderedDict(input=x), lambda x, f=f: OrderedDict(output=f(x)),
                   s)

    # Losses used in training (MultiTask, Kendall weighting uses MSE + cross-entropy)
    s, g = nxt()
    target = torch.randint(0, 3, (6,), generator=g)
    save_layer(out, "cross_entropy",
               dict(layer="cross_entropy(reduction='mean')", classes=3,
                    note="target: class indices stored as float32; output is a scalar (shape [])"),
               None, OrderedDict(input=rand(g, 6, 3, scale=1.5)),
               lambda x: OrderedDict(output=F.cross_entropy(x, target), target=target.float()), s)
    s, g = nxt()
    y_t = rand(g, 4, 2)
    save_layer(out, "mse", dict(layer="mse_loss(reduction='mean')", note="output is a scalar (shape [])"),
               None, OrderedDict(input=rand(g, 4, 2)),
               lambda x: OrderedDict(output=F.mse_loss(x, y_t), target=y_t), s)

    # Sinusoidal positional encoding
    pe = ref.sinusoidal_encoding(10, 8).contiguous()
    save_file({"pe": pe}, f"{out}/sinusoidal.safetensors",
              {"config": json.dumps(dict(layer="sinusoidal_encoding", max_len=10, d_model=8,
                                         note="computed in float64, rounded to float32"))})


# ----------------------------------------------------------------------------------------------------------------
def describe(path):
    if path.endswith(".npy"):
        a = np.load(path)
        return f"{a.dtype} {list(a.shape)}"
    with safe_open(path, "pt") as f:
        return f"{len(list(f.keys()))} tensors"


def write_readme(out, model_rows):
    files = []
    for root, _, names in os.walk(out):
        for n in names:
            if n == "README.md":
                continue
            p = os.path.join(root, n)
            files.append((os.path.relpath(p, out), os.path.getsize(p), p))
    files.sort()
    total = sum(s for _, s, _ in files)
    L = []
    L.append("# tickgrad fixtures (generated; do not edit)\n")
    L.append(f"Made by `{COMMAND}` with torch {torch.__version__}, numpy {np.__version__}, "
             f"safetensors {__import__('safetensors').__version__}, Python {sys.version.split()[0]}, on the CPU, "
             "single-threaded, from `scripts/torch_models.py` (the PyTorch reference of docs/MODELS.md). "
             "Pinned versions: `scripts/requirements-fixtures.txt`.\n")
    L.append(f"{len(files)} files, {total / 1e6:.2f} MB. All arrays float32, C-contiguous, random (seeded) — except "
             "BatchNorm `num_batches_tracked` (int64, as the reference writes it) in model checkpoints.\n")
    L.append("## Model fixtures (`NAME.safetensors`, `NAME_input.npy`, `NAME_expected.npy`, `NAME_grads.safetensors`)\n")
    L.append("Written by the reference's `save_example(kind, out, cfg, window, batch, seed, name)` (seed 100 + row), "
             "then every parameter that PyTorch initialises to a constant (MultiheadAttention `in_proj_bias` / "
             "`out_proj.bias`, LayerNorm and BatchNorm weight and bias, MultiTask `log_vars`) is re-drawn at random "
             "(weights uniform [0.6, 1.4], biases uniform [-0.3, 0.3]) and the checkpoint and `NAME_expected.npy` are "
             "rewritten (eval mode, `no_grad`, `prediction_array`); BatchNorm running stats are random as "
             "`save_example` makes them. The checkpoint keeps `save_example`'s metadata `tickgrad.config` (full config, "
             "with `kind`).\n")
    L.append("`NAME_grads.safetensors` (eval mode: dropout off, BatchNorm on running stats): `gradout` G (shape of "
             "`prediction_array(y)`), `grad.input` = d loss / d input and `grad.<param>` for every parameter "
             "(state_dict names; no buffers), with loss = sum(prediction_array(model(input)) * G). For `lstm_attention` "
             "the attention output gets no gradient. MultiTask `log_vars` is not used by the forward: its gradient is "
             "stored as zeros (listed under `zero_grads` in the file's metadata `config`, a JSON object that also names the loss, mode, checkpoint and input).\n")
    L.append("| name | kind | config | window | batch | expected | fwd diff (grad path vs no_grad) |")
    L.append("|---|---|---|---|---|---|---|")
    for r in model_rows:
        L.append(f"| {r['name']} | {r['kind']} | `{json.dumps(r['cfg'])}` | {r['window']} | {r['batch']} | "
                 f"{r['shape']} | {r['diff']:.1e} |")
    L.append("")
    L.append("## Layer fixtures (`layers/NAME.safetensors`)\n")
    L.append("One file per case. Metadata `config`: JSON of the constructor arguments, `mode` (train / eval), layout "
             "notes. Tensors: `param.<pytorch name>` (parameters, and float buffers such as BatchNorm running stats, "
             "as they were BEFORE the forward), `input` (and `input2` for a second input), `output` and any extra "
             "outputs, `gradout` (random upstream gradient of `output` only; loss = sum(output * gradout)), "
             "`grad.input` (`grad.input2`), `grad.param.<name>` for every parameter. Convolution-style layers take "
             "[B, C, T]; the others [B, T, D] (batch_first).\n")
    L.append("| file | config | tensors |")
    L.append("|---|---|---|")
    for rel, size, p in files:
        if not rel.startswith("layers/"):
            continue
        with safe_open(p, "pt") as f:
            cfg = json.loads(f.metadata()["config"])
            keys = ", ".join(f"`{k}` {list(f.get_slice(k).get_shape())}" for k in f.keys())
        c = {k: v for k, v in cfg.items() if k not in ("note", "loss")}
        L.append(f"| {rel} | `{json.dumps(c)}` | {keys} |")
    L.append("")
    L.append("## All files\n")
    L.append("| file | bytes | contents |")
    L.append("|---|---|---|")
    for rel, size, p in files:
        L.append(f"| {rel} | {size} | {describe(p)} |")
    L.append("")
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(L))
    return total, files


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default=os.path.join(REPO, "fixtures"))
    ap.add_argument("--reference", default=None, help="path of torch_models.py (else $TICKGRAD_REFERENCE, else the "
                                                      "in-repo copy scripts/torch_models.py)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    # nn.LSTM warns about dropout with num_layers=1 (lstm_attention_b); eval mode ignores dropout anyway
    warnings.filterwarnings("ignore", message="dropout option adds dropout")
    ref_path = reference_path(args.reference)
    ref = load_reference(ref_path)
    print("reference:", os.path.abspath(ref_path))
    out = args.out
    os.makedirs(out, exist_ok=True)
    rows = []
    for i, (name, kind, cfg, window, batch) in enumerate(MODEL_CASES):
        seed = 100 + i
        model, x, y, redrawn = make_model_fixture(ref, out, name, kind, cfg, window, batch, seed)
        diff, zero = make_grad_fixture(ref, out, name, model, x, y, seed)
        assert diff < 1e-4, (name, diff)
        rows.append(dict(name=name, kind=kind, cfg=cfg, window=window, batch=batch, shape=list(y.shape), diff=diff))
        print(f"{name}: expected {list(y.shape)}, grad-path forward max|diff| {diff:.2e}, redrawn {len(redrawn)}, "
              f"zero grads {zero}")
    make_layer_fixtures(ref, os.path.join(out, "layers"))
    total, files = write_readme(out, rows)
    print(f"wrote {len(files)} files, {total / 1e6:.2f} MB, into {out}")


if __name__ == "__main__":
    main()
