"""Reference figures for the DARTS supernets of trainer/src/darts_search,
computed with PyTorch: parameter counts (golden numbers in
trainer/tests/darts_supernet.rs) and, with --parity, forward-pass outputs
under deterministic weights and alphas (golden numbers there too).

A from-scratch reimplementation, not a copy, of the supernets the papers'
code searches with: DARTS' Network with MixedOps (quark0/darts,
cnn/model_search.py and cnn/operations.py: every batch norm inside a cell
affine=False, pooling followed by BatchNorm2d(C, affine=False)) and
NAS-Bench-201's TinyNetworkDarts with SearchCells (xautodl, affine=False).
Modules carry the parameter paths the Rust builders use
(cells.3.edges.5.sep_conv_3x3.dw1.weight) so that weights map one to one;
alphas are plain tensors, not parameters, as in the reference, so they are
neither counted nor filled.

Counting follows DARTS' utils.count_parameters_in_MB: every named parameter
(batch-norm running statistics are buffers, not parameters).

Self-contained (its own ops carry the affine flag); scripts/reference_params.py
prints these rows too. Run with the venv's python:
$NAS_VENV/bin/python scripts/reference_supernet.py [--parity]
"""
import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

DARTS_OPS = ["none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
             "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"]
NB201_OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
NB201_EDGES = [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]


class ConvBN(nn.Module):
    """[ReLU,] conv, batch norm: paths conv, bn."""

    def __init__(self, c_in, c_out, k, stride=1, pad=0, relu=True, affine=True):
        super().__init__()
        self.relu = relu
        self.conv = nn.Conv2d(c_in, c_out, k, stride, pad, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x):
        return self.bn(self.conv(F.relu(x) if self.relu else x))


class SepConv(nn.Module):
    def __init__(self, c, k, stride, affine):
        super().__init__()
        self.dw1 = nn.Conv2d(c, c, k, stride, k // 2, groups=c, bias=False)
        self.pw1 = nn.Conv2d(c, c, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c, affine=affine)
        self.dw2 = nn.Conv2d(c, c, k, 1, k // 2, groups=c, bias=False)
        self.pw2 = nn.Conv2d(c, c, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c, affine=affine)

    def forward(self, x):
        x = self.bn1(self.pw1(self.dw1(F.relu(x))))
        return self.bn2(self.pw2(self.dw2(F.relu(x))))


class DilConv(nn.Module):
    def __init__(self, c, k, stride, affine):
        super().__init__()
        self.dw = nn.Conv2d(c, c, k, stride, k - 1, dilation=2, groups=c, bias=False)
        self.pw = nn.Conv2d(c, c, 1, bias=False)
        self.bn = nn.BatchNorm2d(c, affine=affine)

    def forward(self, x):
        return self.bn(self.pw(self.dw(F.relu(x))))


class FactorizedReduce(nn.Module):
    def __init__(self, c_in, c_out, affine):
        super().__init__()
        assert c_out % 2 == 0
        self.conv1 = nn.Conv2d(c_in, c_out // 2, 1, 2, bias=False)
        self.conv2 = nn.Conv2d(c_in, c_out // 2, 1, 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x):
        x = F.relu(x)
        return self.bn(torch.cat([self.conv1(x), self.conv2(x[:, :, 1:, 1:])], dim=1))


class Pool(nn.Module):
    """3x3 max or average pooling (padding 1, average without the padding),
    then, in the DARTS MixedOp, BatchNorm2d(C, affine=False) at path bn."""

    def __init__(self, kind, stride, c=None):
        super().__init__()
        self.kind, self.stride = kind, stride
        self.bn = nn.BatchNorm2d(c, affine=False) if c is not None else None

    def forward(self, x):
        if self.kind == "max":
            x = F.max_pool2d(x, 3, self.stride, 1)
        else:
            x = F.avg_pool2d(x, 3, self.stride, 1, count_include_pad=False)
        return self.bn(x) if self.bn is not None else x


class Zero(nn.Module):
    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return x[:, :, ::self.stride, ::self.stride].mul(0.0)


class Identity(nn.Module):
    def forward(self, x):
        return x


def darts_search_op(name, c, stride):
    if name == "none":
        return Zero(stride)
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        return Pool(name[:3], stride, c)
    if name == "skip_connect":
        return Identity() if stride == 1 else FactorizedReduce(c, c, affine=False)
    k = int(name[-1])
    return (SepConv if name.startswith("sep_conv") else DilConv)(c, k, stride, affine=False)


class MixedOp(nn.ModuleDict):
    def forward(self, x, weights):
        return sum(w * op(x) for w, op in zip(weights, self.values()))


class DartsSearchCell(nn.Module):
    def __init__(self, c_pp, c_p, c, reduction, reduction_prev):
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = (FactorizedReduce(c_pp, c, affine=False) if reduction_prev
                            else ConvBN(c_pp, c, 1, affine=False))
        self.preprocess1 = ConvBN(c_p, c, 1, affine=False)
        self.edges = nn.ModuleList()
        for i in range(4):
            for j in range(2 + i):
                stride = 2 if reduction and j < 2 else 1
                self.edges.append(MixedOp({n: darts_search_op(n, c, stride) for n in DARTS_OPS}))

    def forward(self, s0, s1, weights):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(4):
            s = sum(self.edges[offset + j](h, weights[offset + j]) for j, h in enumerate(states))
            offset += len(states)
            states.append(s)
        return torch.cat(states[2:], dim=1)


class DartsSupernet(nn.Module):
    def __init__(self, c, layers, classes, in_channels=3):
        super().__init__()
        self.stem = ConvBN(in_channels, 3 * c, 3, 1, 1, relu=False)
        c_pp, c_p, c_cur = 3 * c, 3 * c, c
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_cur *= 2
            self.cells.append(DartsSearchCell(c_pp, c_p, c_cur, reduction, reduction_prev))
            reduction_prev = reduction
            c_pp, c_p = c_p, 4 * c_cur
        self.classifier = nn.Linear(c_p, classes)
        self.alphas = [1e-3 * torch.randn(14, len(DARTS_OPS)) for _ in range(2)]

    def forward(self, x):
        weights = [F.softmax(a, dim=-1) for a in self.alphas]
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, weights[1 if cell.reduction else 0])
        return self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))


def nb201_search_op(name, c):
    if name == "none":
        return Zero(1)
    if name == "skip_connect":
        return Identity()
    if name == "avg_pool_3x3":
        return Pool("avg", 1)
    return ConvBN(c, c, 1 if name == "nor_conv_1x1" else 3, 1, 0 if name == "nor_conv_1x1" else 1,
                  affine=False)


class Nb201SearchCell(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.edges = nn.ModuleList(MixedOp({n: nb201_search_op(n, c) for n in NB201_OPS}) for _ in NB201_EDGES)

    def forward(self, x, weights):
        nodes = [x]
        for j in (1, 2, 3):
            nodes.append(sum(self.edges[e](nodes[i], weights[e])
                             for e, (jj, i) in enumerate(NB201_EDGES) if jj == j))
        return nodes[3]


class ResNetBasicBlock(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv_a = ConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Module()
        self.downsample.conv = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x):
        return self.downsample.conv(F.avg_pool2d(x, 2, 2)) + self.conv_b(self.conv_a(x))


class Nb201Supernet(nn.Module):
    def __init__(self, c, n, classes, in_channels=3):
        super().__init__()
        self.stem = ConvBN(in_channels, c, 3, 1, 1, relu=False)
        self.cells = nn.ModuleList()
        c_prev = c
        for stage in range(3):
            c_cur = c << stage
            if stage:
                self.cells.append(ResNetBasicBlock(c_prev, c_cur))
            for _ in range(n):
                self.cells.append(Nb201SearchCell(c_cur))
            c_prev = c_cur
        self.lastact = nn.Module()
        self.lastact.bn = nn.BatchNorm2d(c_prev)
        self.classifier = nn.Linear(c_prev, classes)
        self.alphas = [1e-3 * torch.randn(len(NB201_EDGES), len(NB201_OPS))]

    def forward(self, x):
        weights = F.softmax(self.alphas[0], dim=-1)
        for_cells = self.stem(x)
        for cell in self.cells:
            for_cells = cell(for_cells, weights) if isinstance(cell, Nb201SearchCell) else cell(for_cells)
        x = F.relu(self.lastact.bn(for_cells))
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))


def count(model):
    return sum(p.numel() for p in model.parameters())


ROWS = [
    ("darts supernet C=16 L=8 K=10", lambda: DartsSupernet(16, 8, 10)),
    ("darts supernet C=8 L=5 K=10 in=1", lambda: DartsSupernet(8, 5, 10, in_channels=1)),
    ("nb201 supernet C=16 N=5 K=10", lambda: Nb201Supernet(16, 5, 10)),
    ("nb201 supernet C=8 N=2 K=10 in=1", lambda: Nb201Supernet(8, 2, 10, in_channels=1)),
]


def counts():
    for label, make in ROWS:
        print(f"{count(make()):>10}  {label}")

# ------------------------------------------------------------------ parity


def fill(model):
    """Deterministic weights, the rule of fill() in scripts/reference_params.py
    and trainer/tests/model_parity.rs, over the sorted state names
    (num_batches_tracked left out)."""
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


def fill_alphas(model):
    """alpha k, entry (e, o): 0.8 sin(1.3 e + 0.7 o + 0.4 k)."""
    for k, a in enumerate(model.alphas):
        e = torch.arange(a.shape[0], dtype=torch.float64).reshape(-1, 1)
        o = torch.arange(a.shape[1], dtype=torch.float64).reshape(1, -1)
        model.alphas[k] = 0.8 * torch.sin(1.3 * e + 0.7 * o + 0.4 * k)


def parity_input(b, c, size):
    t = torch.arange(b * c * size * size, dtype=torch.float64)
    return torch.sin(0.05 * t + 0.3).reshape(b, c, size, size)


PARITY = [
    ("DARTS_SUPERNET", lambda: DartsSupernet(4, 5, 10), 3, 16),
    ("NB201_SUPERNET", lambda: Nb201Supernet(4, 1, 10), 3, 16),
]


def rust_array(name, t):
    values = ", ".join(repr(float(v)) for v in t.flatten())
    return f"const {name}: [f64; {t.numel()}] = [{values}];"


def parity():
    torch.set_grad_enabled(False)
    for name, make, c, size in PARITY:
        model = make().double()
        fill(model)
        fill_alphas(model)
        x = parity_input(2, c, size)
        model.eval()
        print(rust_array(f"{name}_EVAL", model(x)))
        model.train()
        print(rust_array(f"{name}_TRAIN", model(x)))


if __name__ == "__main__":
    parity() if "--parity" in sys.argv[1:] else counts()
