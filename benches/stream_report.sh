#!/usr/bin/env bash
# Per-bar streaming latency of the seed models, tickgrad vs PyTorch, on this machine with the same thread count,
# as one markdown table (BENCHMARKS.md, "Streaming, per bar").
#
#   benches/stream_report.sh [--threads 1] [--bars 1000] [--iters 200] [--ckdir DIR] [--tickgrad BIN] [--json OUT]
#
# 1. Seed checkpoints: `torch_latency.py --checkpoint-dir DIR` (save_example weights, seed 0; the PyTorch side of
#    torch_stream.py builds the same weights).
# 2. tickgrad: `RAYON_NUM_THREADS=T BIN bench --checkpoint DIR/<kind>.safetensors --per-bar --bars N --window W
#    --threads T`
#    per case; its `mode=` says which path ran (`step`: O(1) TCN ring buffers; `recompute`: batch-1 window forward).
# 3. PyTorch: `torch_stream.py --threads T --iters N` (eval, no_grad): `forward` = one batch-1 window forward per
#    bar, `step` = the same O(1) TCN step written with torch ops.
# 4. The table pairs each tickgrad path with the PyTorch mode doing the same work (step with step, recompute with
#    forward) and, for the TCN step, also with PyTorch's window forward (what a PyTorch service does per bar).
#    ratio = PyTorch p50 / tickgrad p50: above 1, tickgrad is faster.
#
# BIN defaults to target/release/tickgrad (built if missing). Timings are only worth reporting from a quiet machine;
# `--bars 20 --iters 20` checks that everything runs.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
threads=1 bars=1000 iters=200 ckdir="${TMPDIR:-/tmp}/tickgrad-stream-ck" bin="" json=""
py="${TORCH_PYTHON:-$HOME/torch-venv/bin/python}"
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) threads="$2"; shift 2 ;;
        --bars) bars="$2"; shift 2 ;;
        --iters) iters="$2"; shift 2 ;;
        --ckdir) ckdir="$2"; shift 2 ;;
        --tickgrad) bin="$2"; shift 2 ;;
        --json) json="$2"; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "stream_report.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ -z "$bin" ]; then
    bin="$repo/target/release/tickgrad"
    [ -x "$bin" ] || (cd "$repo" && cargo build --release --bin tickgrad >&2)
fi
[ -x "$bin" ] || { echo "stream_report.sh: no tickgrad binary at $bin" >&2; exit 1; }
[ -x "$py" ] || { echo "stream_report.sh: no PyTorch python at $py (set TORCH_PYTHON)" >&2; exit 1; }

mkdir -p "$ckdir"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "seed checkpoints -> $ckdir" >&2
"$py" "$repo/benches/torch_latency.py" --checkpoint-dir "$ckdir" --threads "$threads" --iters 1 --warmup 0 >/dev/null

# The cases of torch_stream.py: (model, window). The seed TCN's receptive field is 1021, so W=1021 steps and
# W=256 recomputes.
for case in tcn:1021 tcn:256 multitask:120 lstm_attention:120 transformer:60; do
    kind="${case%%:*}" window="${case##*:}"
    echo "tickgrad $kind W=$window" >&2
    RAYON_NUM_THREADS="$threads" "$bin" bench --checkpoint "$ckdir/$kind.safetensors" --per-bar \
        --bars "$bars" --window "$window" --threads "$threads" >"$work/$kind-$window.txt"
done

echo "PyTorch (torch_stream.py)" >&2
"$py" "$repo/benches/torch_stream.py" --threads "$threads" --iters "$iters" --json "$work/torch.json" >&2

"$py" - "$work" "$threads" "$bars" "$iters" "$json" <<'EOF'
import json, os, sys

work, threads, bars, iters, out = sys.argv[1:6]


def tickgrad(kind, window):
    """The two lines of `tickgrad bench --per-bar` as one dict of key=value pairs."""
    d = {}
    with open(os.path.join(work, f"{kind}-{window}.txt")) as f:
        for line in f:
            for kv in line.split():
                if "=" in kv:
                    k, v = kv.split("=", 1)
                    d[k] = v
    return d


torch = {(r["model"], r["window"], r["mode"]): r for r in json.load(open(os.path.join(work, "torch.json")))["results"]}
rows = []
for kind, window in [("tcn", 1021), ("tcn", 256), ("multitask", 120), ("lstm_attention", 120), ("transformer", 60)]:
    t = tickgrad(kind, window)
    path = t["mode"]
    modes = ["step", "forward"] if path == "step" else ["forward"]
    for mode in modes:
        r = torch.get((kind, window, mode))
        if r is None:
            continue
        p50, p99 = float(t["p50"]), float(t["p99"])
        rows.append(dict(model=kind, window=window, path=path, tickgrad_p50_us=p50, tickgrad_p99_us=p99,
                         torch_mode=mode, torch_p50_us=r["p50_us"], torch_p99_us=r["p99_us"],
                         ratio=r["p50_us"] / p50 if p50 > 0 else float("nan")))

print(f"Per-bar latency, {threads} thread(s) each; tickgrad {bars} bars, PyTorch {iters} iterations (p50/p99, µs).\n")
print("| model | window | tickgrad path | tickgrad p50 | tickgrad p99 | PyTorch | PyTorch p50 | PyTorch p99 | ratio (PyTorch/tickgrad) |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['model']} | {r['window']} | {r['path']} | {r['tickgrad_p50_us']:.1f} | {r['tickgrad_p99_us']:.1f} | "
          f"{r['torch_mode']} | {r['torch_p50_us']:.1f} | {r['torch_p99_us']:.1f} | {r['ratio']:.2f}× |")
if out:
    with open(out, "w") as f:
        json.dump(dict(threads=int(threads), bars=int(bars), iters=int(iters), rows=rows), f, indent=1)
EOF
