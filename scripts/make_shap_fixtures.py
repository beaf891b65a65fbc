#!/usr/bin/env python3
"""Fixtures for tickgrad's Shapley values, computed by the Python `shap` package.

    ~/torch-venv/bin/python scripts/make_shap_fixtures.py fixtures/shap

Writes two small JSON files (seeded, deterministic):

- trees.json: a random regression tree ensemble (4 features, 3 trees of depth <= 4 that reuse features along a path
  and route missing values left or right), in tickgrad's Gbdt JSON (with node covers) and explained by
  shap.TreeExplainer through its custom-tree dict (feature_perturbation="tree_path_dependent"), on rows with NaN.
- kernel.json: a nonlinear function of a window [3 bars, 4 features] (`window_fn` below; the Rust test has the same
  function), background windows and windows to explain, explained by shap.KernelExplainer over four groups (each
  feature column across the window is one player; every coalition enumerated).

Before writing, every shap result is checked against a brute-force enumeration of the Shapley formula written
here, so a fixture never records a misused API.
"""

import itertools
import json
import math
import os
import platform
import sys

import numpy as np
import shap
from shap.utils._legacy import DenseData

F = 4
W = 3


# ---------------------------------------------------------------------------------------------- trees


def random_tree(rng, n_rows, max_depth):
    """Pre-order nodes (children after their parent), tickgrad's and shap's forms side by side."""
    nodes = []  # dicts: feature, threshold, missing_left, left, right, value, cover

    def grow(cover, depth):
        i = len(nodes)
        nodes.append({"cover": float(cover)})
        if depth < max_depth and cover >= 4 and (depth == 0 or rng.random() < 0.85):
            left_cover = int(rng.integers(1, cover))
            feature = int(rng.integers(0, F))
            threshold = float(np.round(rng.uniform(-1, 1), 3))
            missing_left = bool(rng.random() < 0.5)
            left = grow(left_cover, depth + 1)
            right = grow(cover - left_cover, depth + 1)
            nodes[i].update(feature=feature, threshold=threshold, missing_left=missing_left, left=left, right=right)
            lc, rc = nodes[left]["cover"], nodes[right]["cover"]
            nodes[i]["value"] = (lc * nodes[left]["value"] + rc * nodes[right]["value"]) / cover
        else:
            nodes[i]["value"] = float(np.round(rng.normal(), 4))
        return i

    grow(n_rows, 0)
    return nodes


def tickgrad_tree(nodes):
    out = []
    for n in nodes:
        if "left" in n:
            out.append({"split": {"feature": n["feature"], "threshold": repr(n["threshold"]),
                                  "missing_left": n["missing_left"], "left": n["left"], "right": n["right"],
                                  "gain": "0"}})
        else:
            out.append({"leaf": {"value": repr(n["value"])}})
    return {"nodes": out, "cover": [n["cover"] for n in nodes]}


def shap_tree(nodes):
    left = np.array([n.get("left", -1) for n in nodes], dtype=np.int32)
    right = np.array([n.get("right", -1) for n in nodes], dtype=np.int32)
    default = np.array([(n["left"] if n["missing_left"] else n["right"]) if "left" in n else -1 for n in nodes],
                       dtype=np.int32)
    return {
        "children_left": left,
        "children_right": right,
        "children_default": default,
        "features": np.array([n.get("feature", -2) for n in nodes], dtype=np.int32),
        "thresholds": np.array([n.get("threshold", -2.0) for n in nodes], dtype=np.float64),
        "values": np.array([[n["value"]] for n in nodes], dtype=np.float64),
        "node_sample_weight": np.array([n["cover"] for n in nodes], dtype=np.float64),
    }


def tree_cond(nodes, i, x, s):
    """E[f | x_S] of the path-dependent game (brute-force reference)."""
    n = nodes[i]
    if "left" not in n:
        return n["value"]
    if n["feature"] in s:
        v = x[n["feature"]]
        go_left = n["missing_left"] if math.isnan(v) else v <= n["threshold"]
        return tree_cond(nodes, n["left"] if go_left else n["right"], x, s)
    lc, rc = nodes[n["left"]]["cover"], nodes[n["right"]]["cover"]
    return (lc * tree_cond(nodes, n["left"], x, s) + rc * tree_cond(nodes, n["right"], x, s)) / n["cover"]


def brute_shapley(value, m):
    phi = np.zeros(m)
    for j in range(m):
        others = [k for k in range(m) if k != j]
        for r in range(m):
            for s in itertools.combinations(others, r):
                w = math.factorial(r) * math.factorial(m - r - 1) / math.factorial(m)
                phi[j] += w * (value(set(s) | {j}) - value(set(s)))
    return phi


def make_trees(out_dir):
    rng = np.random.default_rng(20261207)
    trees = [random_tree(rng, 200, 4) for _ in range(3)]
    base = 0.25
    x = rng.uniform(-1, 1, size=(6, F)).round(3)
    x[1, 2] = np.nan
    x[3, 0] = np.nan
    x[4, [1, 3]] = np.nan
    model = {"trees": [shap_tree(t) for t in trees], "base_offset": base, "tree_output": "raw_value",
             "objective": "squared_error", "input_dtype": np.float64, "internal_dtype": np.float64}
    explainer = shap.TreeExplainer(model, feature_perturbation="tree_path_dependent")
    values = np.asarray(explainer.shap_values(x), dtype=np.float64)
    expected = float(np.asarray(explainer.expected_value).reshape(-1)[0])
    for r in range(len(x)):
        value = lambda s: base + sum(tree_cond(t, 0, x[r], s) for t in trees)  # noqa: E731
        want = brute_shapley(value, F)
        assert np.allclose(values[r], want, atol=1e-9), (r, values[r], want)
        assert abs(values[r].sum() + expected - value(set(range(F)))) < 1e-9
    gbdt = {"config": {"objective": "squared_error", "n_estimators": len(trees)}, "n_features": F,
            "base_score": [repr(base)], "rounds": [[tickgrad_tree(t)] for t in trees], "valid_loss": []}
    rows = [[None if math.isnan(v) else float(v) for v in row] for row in x]
    doc = {"gbdt": gbdt, "x": rows, "shap_values": values.tolist(), "expected_value": expected}
    with open(os.path.join(out_dir, "trees.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


# ---------------------------------------------------------------------------------------------- kernel


def window_fn(z):
    """z: [n, W*F] flattened windows (bar-major) -> [n]."""
    c = lambda t, j: z[:, t * F + j]  # noqa: E731
    return (np.tanh(0.5 * c(0, 0) + c(1, 0) - 0.3 * c(2, 0)) * c(2, 1) + 0.5 * c(1, 2) * c(1, 2)
            - c(0, 3) * c(2, 0) + 0.2 * np.sin(c(1, 1)) + 0.1 * c(2, 2))


def make_kernel(out_dir):
    rng = np.random.default_rng(7)
    # float32 values, as tickgrad's windows are, held in float64 for the reference.
    bg = rng.normal(size=(5, W * F)).astype(np.float32).astype(np.float64)
    x = rng.normal(size=(3, W * F)).astype(np.float32).astype(np.float64)
    groups = [[t * F + j for t in range(W)] for j in range(F)]
    data = DenseData(bg, [f"c{j}" for j in range(F)], groups)
    explainer = shap.KernelExplainer(window_fn, data)
    values = np.asarray(explainer.shap_values(x, nsamples=1000, l1_reg=False, silent=True), dtype=np.float64)
    expected = float(np.asarray(explainer.expected_value).reshape(-1)[0])
    for r in range(len(x)):
        def value(s):
            z = bg.copy()
            for j in s:
                z[:, groups[j]] = x[r, groups[j]]
            return window_fn(z).mean()
        want = brute_shapley(value, F)
        assert np.allclose(values[r], want, atol=1e-9), (r, values[r], want)
    assert abs(expected - window_fn(bg).mean()) < 1e-12
    doc = {"window": W, "n_features": F, "groups": "each feature column across the window",
           "background": bg.reshape(-1).tolist(), "x": x.reshape(-1).tolist(),
           "shap_values": values.reshape(-1).tolist(), "expected_value": expected}
    with open(os.path.join(out_dir, "kernel.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "fixtures/shap"
    os.makedirs(out_dir, exist_ok=True)
    make_trees(out_dir)
    make_kernel(out_dir)
    print(f"shap {shap.__version__}, numpy {np.__version__}, Python {platform.python_version()}: wrote {out_dir}")


if __name__ == "__main__":
    main()
