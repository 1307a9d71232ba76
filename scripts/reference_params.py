"""Reference figures for the networks of trainer/src/model, computed with
PyTorch: parameter counts (golden numbers in trainer/tests/model_params.rs)
and, with --parity, forward-pass outputs under deterministic weights (golden
numbers in trainer/tests/model_parity.rs).

A from-scratch reimplementation, not a copy, of the structures the papers'
reference code builds: DARTS NetworkCIFAR / NetworkImageNet (quark0/darts,
cnn/model.py and cnn/operations.py), NAS-Bench-201's TinyNetwork with
InferCells (xautodl), and the PNAS and NAS-RL macro networks as specified in
trainer/src/model. Modules carry the parameter paths the Rust builders use
(cells.3.node2.edge0.dw1.weight), so that weights map one to one.

Counting follows DARTS' utils.count_parameters_in_MB: every named parameter
whose name lacks "auxiliary" (batch-norm running statistics are buffers, not
parameters).

Run with the venv's python: $NAS_VENV/bin/python scripts/reference_params.py [--parity]
"""
import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

# ------------------------------------------------------------- shared ops


class ConvBN(nn.Module):
    """[ReLU,] conv, batch norm: paths conv, bn."""

    def __init__(self, c_in, c_out, k, stride=1, pad=0, relu=True):
        super().__init__()
        self.relu = relu
        self.conv = nn.Conv2d(c_in, c_out, k, stride, pad, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        return self.bn(self.conv(F.relu(x) if self.relu else x))


class SepConv(nn.Module):
    """DARTS SepConv, twice ReLU-depthwise-pointwise-BN: dw1 pw1 bn1 dw2 pw2 bn2."""

    def __init__(self, c, k, stride):
        super().__init__()
        self.dw1 = nn.Conv2d(c, c, k, stride, k // 2, groups=c, bias=False)
        self.pw1 = nn.Conv2d(c, c, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.dw2 = nn.Conv2d(c, c, k, 1, k // 2, groups=c, bias=False)
        self.pw2 = nn.Conv2d(c, c, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        x = self.bn1(self.pw1(self.dw1(F.relu(x))))
        return self.bn2(self.pw2(self.dw2(F.relu(x))))


class DilConv(nn.Module):
    """DARTS DilConv, ReLU-depthwise (dilation 2)-pointwise-BN: dw pw bn."""

    def __init__(self, c, k, stride):
        super().__init__()
        self.dw = nn.Conv2d(c, c, k, stride, k - 1, dilation=2, groups=c, bias=False)
        self.pw = nn.Conv2d(c, c, 1, bias=False)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        return self.bn(self.pw(self.dw(F.relu(x))))


class FactorizedReduce(nn.Module):
    """ReLU, two 1x1 stride-2 convs (the second one pixel in), concat, BN."""

    def __init__(self, c_in, c_out):
        super().__init__()
        assert c_out % 2 == 0
        self.conv1 = nn.Conv2d(c_in, c_out // 2, 1, 2, bias=False)
        self.conv2 = nn.Conv2d(c_in, c_out // 2, 1, 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        x = F.relu(x)
        return self.bn(torch.cat([self.conv1(x), self.conv2(x[:, :, 1:, 1:])], dim=1))


class Conv1x7x7x1(nn.Module):
    def __init__(self, c, stride):
        super().__init__()
        self.conv1x7 = nn.Conv2d(c, c, (1, 7), (1, stride), (0, 3), bias=False)
        self.conv7x1 = nn.Conv2d(c, c, (7, 1), (stride, 1), (3, 0), bias=False)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        return self.bn(self.conv7x1(self.conv1x7(F.relu(x))))


class Fn(nn.Module):
    """A parameter-free op."""

    def __init__(self, f, identity=False):
        super().__init__()
        self.f, self.identity = f, identity

    def forward(self, x):
        return self.f(x)


def avg_pool(stride):
    return Fn(lambda x: F.avg_pool2d(x, 3, stride, 1, count_include_pad=False))


def max_pool(stride):
    return Fn(lambda x: F.max_pool2d(x, 3, stride, 1))


def zero(stride):
    return Fn(lambda x: x[:, :, ::stride, ::stride] * 0.0)


def identity():
    return Fn(lambda x: x, identity=True)


class TwoInputCell(nn.Module):
    """Preprocess h[c-2], h[c-1]; node = op(a) + op(b); concat chosen states."""

    def __init__(self, pre0, pre1, nodes, concat, node_name, edge_name):
        super().__init__()
        self.preprocess0, self.preprocess1 = pre0, pre1
        self.nodes, self.concat, self.names = [], concat, []
        for n, edges in enumerate(nodes):
            for k, (inp, op) in enumerate(edges):
                name = node_name(n) + "." + edge_name(k)
                holder = self
                for part in name.split(".")[:-1]:
                    if not hasattr(holder, part):
                        holder.add_module(part, nn.Module())
                    holder = getattr(holder, part)
                holder.add_module(name.split(".")[-1], op)
            self.nodes.append([(inp, op) for inp, op in edges])

    def forward(self, s0, s1):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for edges in self.nodes:
            states.append(sum(op(states[inp]) for inp, op in edges))
        return torch.cat([states[i] for i in self.concat], dim=1)


# ------------------------------------------------------------------- DARTS


def darts_op(name, c, stride):
    if name == "none":
        return zero(stride)
    if name == "avg_pool_3x3":
        return avg_pool(stride)
    if name == "max_pool_3x3":
        return max_pool(stride)
    if name == "skip_connect":
        return identity() if stride == 1 else FactorizedReduce(c, c)
    k = int(name[-1])
    return SepConv(c, k, stride) if name.startswith("sep_conv") else DilConv(c, k, stride)


def darts_cell(edges, c_pp, c_p, c, reduction, reduction_prev):
    pre0 = FactorizedReduce(c_pp, c) if reduction_prev else ConvBN(c_pp, c, 1)
    pre1 = ConvBN(c_p, c, 1)
    nodes = [[(inp, darts_op(name, c, 2 if reduction and inp < 2 else 1)) for name, inp in edges[2 * n:2 * n + 2]]
             for n in range(4)]
    return TwoInputCell(pre0, pre1, nodes, [2, 3, 4, 5], lambda n: f"node{n + 2}", lambda k: f"edge{k}")


class AuxHead(nn.Module):
    def __init__(self, c, classes, imagenet):
        super().__init__()
        self.stride = 2 if imagenet else 3
        self.conv1 = nn.Conv2d(c, 128, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(128)
        self.conv2 = nn.Conv2d(128, 768, 2, bias=False)
        # The ImageNet head's BatchNorm after conv2 is commented out in the reference.
        self.bn2 = None if imagenet else nn.BatchNorm2d(768)
        self.classifier = nn.Linear(768, classes)

    def forward(self, x):
        x = F.avg_pool2d(F.relu(x), 5, self.stride, 0, count_include_pad=False)
        x = self.conv2(F.relu(self.bn1(self.conv1(x))))
        x = F.relu(self.bn2(x) if self.bn2 is not None else x)
        return self.classifier(x.reshape(x.size(0), -1))


class DartsNetwork(nn.Module):
    def __init__(self, genotype, c, layers, classes, auxiliary, imagenet, in_channels=3):
        super().__init__()
        normal, reduce = genotype
        self.imagenet, self.aux_at = imagenet, 2 * layers // 3
        if imagenet:
            self.stem0 = nn.Module()
            self.stem0.conv1 = nn.Conv2d(in_channels, c // 2, 3, 2, 1, bias=False)
            self.stem0.bn1 = nn.BatchNorm2d(c // 2)
            self.stem0.conv2 = nn.Conv2d(c // 2, c, 3, 2, 1, bias=False)
            self.stem0.bn2 = nn.BatchNorm2d(c)
            self.stem1 = ConvBN(c, c, 3, 2, 1)
            c_pp, c_p, c_cur, reduction_prev = c, c, c, True
        else:
            self.stem = ConvBN(in_channels, 3 * c, 3, 1, 1, relu=False)
            c_pp, c_p, c_cur, reduction_prev = 3 * c, 3 * c, c, False
        self.cells = nn.ModuleList()
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_cur *= 2
            self.cells.append(darts_cell(reduce if reduction else normal, c_pp, c_p, c_cur, reduction, reduction_prev))
            reduction_prev = reduction
            c_pp, c_p = c_p, 4 * c_cur
            if i == self.aux_at:
                c_aux = c_p
        self.auxiliary_head = AuxHead(c_aux, classes, imagenet) if auxiliary else None
        self.classifier = nn.Linear(c_p, classes)

    def forward(self, x):
        if self.imagenet:
            s = self.stem0
            s0 = s.bn2(s.conv2(F.relu(s.bn1(s.conv1(x)))))
            s1 = self.stem1(s0)
        else:
            s0 = s1 = self.stem(x)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1)
            if i == self.aux_at and self.auxiliary_head is not None and self.training:
                aux = self.auxiliary_head(s1)
        return self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1)), aux


def parse_darts(text):
    g = eval(text, {"Genotype": lambda **kw: kw})
    return g["normal"], g["reduce"]


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

# ------------------------------------------------------------ NAS-Bench-201

NB201_OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
NB201_EDGES = [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]


def nb201_op(name, c):
    if name == "nor_conv_1x1":
        return ConvBN(c, c, 1)
    if name == "nor_conv_3x3":
        return ConvBN(c, c, 3, 1, 1)
    return {"none": zero(1), "skip_connect": identity(), "avg_pool_3x3": avg_pool(1)}[name]


class InferCell(nn.Module):
    def __init__(self, key, c):
        super().__init__()
        self.edges = []
        for (j, i), digit in zip(NB201_EDGES, key):
            op = nb201_op(NB201_OPS[int(digit)], c)
            if not hasattr(self, f"node{j}"):
                self.add_module(f"node{j}", nn.Module())
            getattr(self, f"node{j}").add_module(f"from{i}", op)
            self.edges.append((j, i, op))

    def forward(self, x):
        nodes = [x]
        for j in (1, 2, 3):
            nodes.append(sum(op(nodes[i]) for (jj, i, op) in self.edges if jj == j))
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


class TinyNetwork(nn.Module):
    def __init__(self, key, c=16, n=5, classes=10, in_channels=3):
        super().__init__()
        self.stem = ConvBN(in_channels, c, 3, 1, 1, relu=False)
        self.cells = nn.ModuleList()
        c_prev = c
        for stage in range(3):
            c_cur = c << stage
            if stage:
                self.cells.append(ResNetBasicBlock(c_prev, c_cur))
            for _ in range(n):
                self.cells.append(InferCell(key, c_cur))
            c_prev = c_cur
        self.lastact = nn.Module()
        self.lastact.bn = nn.BatchNorm2d(c_prev)
        self.classifier = nn.Linear(c_prev, classes)

    def forward(self, x):
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        x = F.relu(self.lastact.bn(x))
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1)), None

# ------------------------------------------------------- PNAS and NAS-RL


def pnas_op(name, f, stride):
    if name.startswith("sep_"):
        return SepConv(f, int(name[4]), stride)
    if name == "conv_1x7_7x1":
        return Conv1x7x7x1(f, stride)
    if name == "dil_conv_3x3":
        return DilConv(f, 3, stride)
    if name == "identity":
        return FactorizedReduce(f, f) if stride == 2 else identity()
    return avg_pool(stride) if name == "avg_pool_3x3" else max_pool(stride)


class PnasNetwork(nn.Module):
    def __init__(self, blocks, f, n, classes=10, in_channels=3):
        super().__init__()
        used = {i for b in blocks for i in (b[0], b[2])}
        concat = [s for s in range(2, len(blocks) + 2) if s not in used]
        self.stem = ConvBN(in_channels, 3 * f, 3, 1, 1, relu=False)
        self.cells = nn.ModuleList()
        c_pp = c_p = 3 * f
        reduction_prev = False
        for stage in range(3):
            f_cur = f << stage
            for r in range((1 if stage else 0) + n):
                reduction = stage > 0 and r == 0
                pre0 = FactorizedReduce(c_pp, f_cur) if reduction_prev else ConvBN(c_pp, f_cur, 1)
                nodes = [[(inp, pnas_op(op, f_cur, 2 if reduction and inp < 2 else 1))
                          for inp, op in ((b[0], b[1]), (b[2], b[3]))] for b in blocks]
                self.cells.append(TwoInputCell(pre0, ConvBN(c_p, f_cur, 1), nodes, concat,
                                               lambda b: f"block{b + 1}", lambda k: f"op{k + 1}"))
                c_pp, c_p, reduction_prev = c_p, len(concat) * f_cur, reduction
        self.classifier = nn.Linear(c_p, classes)

    def forward(self, x):
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(F.adaptive_avg_pool2d(F.relu(s1), 1).flatten(1)), None


class MacroNetwork(nn.Module):
    def __init__(self, layers, classes=10, in_channels=3):
        super().__init__()
        self.layers = nn.ModuleList()
        self.anchors, outs = [], []
        for (h, w, f, anchors) in layers:
            c_in = sum(outs[a] for a in anchors) if anchors else in_channels
            self.layers.append(ConvBN(c_in, f, (h, w), 1, (h // 2, w // 2), relu=False))
            self.anchors.append(anchors)
            outs.append(f)
        read = {a for anchors in self.anchors for a in anchors}
        self.unread = [i for i in range(len(layers)) if i not in read]
        self.classifier = nn.Linear(sum(outs[i] for i in self.unread), classes)

    def forward(self, x):
        outs = []
        for layer, anchors in zip(self.layers, self.anchors):
            inp = torch.cat([outs[a] for a in anchors], dim=1) if anchors else x
            outs.append(F.relu(layer(inp)))
        last = torch.cat([outs[i] for i in self.unread], dim=1)
        return self.classifier(F.adaptive_avg_pool2d(last, 1).flatten(1)), None

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
    parity() if "--parity" in sys.argv[1:] else counts()
