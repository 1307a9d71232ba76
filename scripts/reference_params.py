"""Reference figures for the networks of trainer/src/model, computed with
PyTorch: parameter counts (golden numbers in trainer/tests/model_params.rs)
and, with --parity, forward-pass outputs under deterministic weights (golden
numbers in trainer/tests/model_parity.rs).

The networks live in python/nas_worker/networks.py (the nas_worker
package's networks module), the one Python copy of them, which `nas export`
also embeds in the model.py files it writes: a from-scratch
reimplementation, not a copy, of the structures the papers' reference code
builds: DARTS NetworkCIFAR / NetworkImageNet (quark0/darts, cnn/model.py
and cnn/operations.py), NAS-Bench-201's TinyNetwork with
InferCells (xautodl), and the PNAS and NAS-RL macro networks as specified in
trainer/src/model. Modules carry the parameter paths the Rust builders use
(cells.3.node2.edge0.dw1.weight), so that weights map one to one.

Counting follows DARTS' utils.count_parameters_in_MB: every named parameter
whose name lacks "auxiliary" (batch-norm running statistics are buffers, not
parameters).

Run with the venv's python: $NAS_VENV/bin/python scripts/reference_params.py [--parity]
"""
import math
import os
import sys

import torch

# The networks, shared with the model.py files `nas export` writes and with
# Python trainers; from the source tree, so that nas_worker need not be installed.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python", "nas_worker"))
from networks import *  # noqa: E402,F401,F403

# ------------------------------------------------------------------- DARTS


DARTS_V1 = parse_darts(
    "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), "
    "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])")
DARTS_V2 = parse_darts(
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")
# Every primitive at least once, in both cells, with inputs 0 and 1 in the reduction cell.
DARTS_ALL_OPS = parse_darts(
    "Genotype(normal=[('sep_conv_5x5', 0), ('dil_conv_5x5', 1), ('avg_pool_3x3', 0), ('dil_conv_3x3', 2), "
    "('max_pool_3x3', 3), ('skip_connect', 1), ('sep_conv_3x3', 4), ('sep_conv_5x5', 0)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('skip_connect', 0), ('sep_conv_5x5', 1), ('dil_conv_5x5', 0), ('dil_conv_3x3', 2), "
    "('sep_conv_3x3', 1), ('skip_connect', 3), ('avg_pool_3x3', 4), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")

# ------------------------------------------------------------------ counts


def count(model, include_auxiliary=False):
    return sum(p.numel() for name, p in model.named_parameters()
               if include_auxiliary or "auxiliary" not in name)


PNASNET_5 = [(1, "sep_5x5", 1, "max_pool_3x3"), (0, "sep_7x7", 0, "max_pool_3x3"),
             (0, "sep_5x5", 0, "sep_3x3"), (4, "sep_3x3", 0, "max_pool_3x3"),
             (1, "sep_3x3", 0, "identity")]
PNAS_ALL_OPS = [(0, "sep_3x3", 1, "conv_1x7_7x1"), (0, "identity", 2, "dil_conv_3x3"),
                (1, "avg_pool_3x3", 3, "sep_7x7"), (1, "max_pool_3x3", 2, "sep_5x5")]
MACRO = [(3, 3, 24, []), (5, 5, 36, [0]), (3, 7, 48, [0, 1]), (1, 1, 64, []), (7, 5, 36, [2, 3])]


def counts():
    rows = [
        ("darts DARTS_V2 cifar C=36 L=20 K=10", count(DartsNetwork(DARTS_V2, 36, 20, 10, True, False))),
        ("darts DARTS_V2 cifar C=36 L=20 K=10 auxiliary",
         count(DartsNetwork(DARTS_V2, 36, 20, 10, True, False), include_auxiliary=True)),
        ("darts DARTS_V1 cifar C=36 L=20 K=10", count(DartsNetwork(DARTS_V1, 36, 20, 10, True, False))),
        ("darts DARTS_V2 imagenet C=48 L=14 K=1000", count(DartsNetwork(DARTS_V2, 48, 14, 1000, True, True))),
        ("darts DARTS_V2 imagenet C=48 L=14 K=1000 auxiliary",
         count(DartsNetwork(DARTS_V2, 48, 14, 1000, True, True), include_auxiliary=True)),
        ("darts ALL_OPS cifar C=16 L=8 K=10 auxiliary",
         count(DartsNetwork(DARTS_ALL_OPS, 16, 8, 10, True, False), include_auxiliary=True)),
        ("darts ALL_OPS imagenet C=24 L=5 K=100 auxiliary",
         count(DartsNetwork(DARTS_ALL_OPS, 24, 5, 100, True, True), include_auxiliary=True)),
        ("nb201 000000 C=16 N=5 K=10", count(TinyNetwork("000000"))),
        ("nb201 333333 C=16 N=5 K=10", count(TinyNetwork("333333"))),
        ("nb201 123412 C=16 N=5 K=10", count(TinyNetwork("123412"))),
        ("nb201 333333 C=16 N=5 K=100", count(TinyNetwork("333333", classes=100))),
        ("pnas PNASNET_5 F=48 N=3 K=10", count(PnasNetwork(PNASNET_5, 48, 3))),
        ("pnas ALL_OPS F=8 N=2 K=10", count(PnasNetwork(PNAS_ALL_OPS, 8, 2))),
        ("macro 3x3:24 5x5:36<0 3x7:48<0,1 1x1:64 7x5:36<2,3 K=10", count(MacroNetwork(MACRO))),
    ]
    for label, n in rows:
        print(f"{n:>10}  {label}")

# ------------------------------------------------------------------ parity


def fill(model):
    """Deterministic weights, the same rule as fill() in trainer/tests/model_parity.rs:
    entry j of the sorted state names (num_batches_tracked left out) is
    s = sin(0.37 t + 0.91 j) over its flattened index t, then
    running_mean 0.1 s, running_var 1 + 0.5 s^2, 1-d weight 1 + 0.2 s,
    bias 0.1 s, other weights s sqrt(2 / fan_in)."""
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    with torch.no_grad():
        for j, name in enumerate(sorted(state)):
            t = state[name]
            s = torch.sin(0.37 * torch.arange(t.numel(), dtype=torch.float64) + 0.91 * j).reshape(t.shape)
            if name.endswith("running_mean"):
                v = 0.1 * s
            elif name.endswith("running_var"):
                v = 1 + 0.5 * s * s
            elif name.endswith("bias"):
                v = 0.1 * s
            elif t.dim() == 1:
                v = 1 + 0.2 * s
            else:
                v = s * math.sqrt(2.0 / (t.numel() // t.shape[0]))
            t.copy_(v)


def parity_input(b, c, size):
    t = torch.arange(b * c * size * size, dtype=torch.float64)
    return torch.sin(0.05 * t + 0.3).reshape(b, c, size, size)


PARITY = [
    # name, model, input channels, input size
    ("DARTS_ALL_OPS_CIFAR", lambda: DartsNetwork(DARTS_ALL_OPS, 4, 5, 10, True, False), 3, 32),
    ("DARTS_V2_IMAGENET", lambda: DartsNetwork(DARTS_V2, 4, 3, 5, True, True), 3, 224),
    ("NB201_342103", lambda: TinyNetwork("342103", 4, 1, 10), 3, 16),
    ("PNAS_ALL_OPS", lambda: PnasNetwork(PNAS_ALL_OPS, 4, 1, 10), 3, 16),
    ("MACRO", lambda: MacroNetwork(MACRO, 7, 1), 1, 12),
]


def rust_array(name, t):
    values = ", ".join(repr(float(v)) for v in t.flatten())
    return f"const {name}: [f64; {t.numel()}] = [{values}];"


def parity():
    torch.set_grad_enabled(False)
    for name, make, c, size in PARITY:
        model = make().double()
        fill(model)
        x = parity_input(2, c, size)
        model.eval()
        eval_logits, _ = model(x)
        model.train()
        train_logits, aux = model(x)
        print(rust_array(f"{name}_EVAL", eval_logits))
        print(rust_array(f"{name}_TRAIN", train_logits))
        if aux is not None:
            print(rust_array(f"{name}_AUX", aux))


if __name__ == "__main__":
    # The DARTS search supernets live in scripts/reference_supernet.py (their
    # ops carry affine=False); their rows follow.
    import reference_supernet
    if "--parity" in sys.argv[1:]:
        parity()
        reference_supernet.parity()
    else:
        counts()
        reference_supernet.counts()
