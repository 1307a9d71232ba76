"""The networks `nas` builds from genotypes, in PyTorch: DARTS NetworkCIFAR /
NetworkImageNet, NAS-Bench-201's TinyNetwork, PNAS cell stacks, NAS-RL
macro chains, the `seq` space's 1-D cell networks for time series and the
`mlp` space's dense networks for tables, with the module names of the tch
builders in trainer/src/model (cells.3.node2.edge0.dw1.weight), so that
weights saved by `nas` load one to one; a reader of the safetensors files
`nas` saves (torch only, no extra package); and parsers of the six genotype
text forms.

The one Python copy of these structures. It lives in the nas_worker package
(python/nas_worker/networks.py), where Python trainers build their
candidates with build_for_job(); scripts/reference_params.py imports it for
the parity and parameter-count references; and `nas export` vendors it,
verbatim after this docstring, into every model.py it writes
(export/src/python.rs). So it stays one self-contained file: torch and the
standard library only, no relative imports, and no `from __future__` (model.py
puts its own imports first).
"""
import ast
import json
import math
import re
from typing import Any, Dict, Optional, Union

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
    """(normal, reduce) edge lists of the published notation
    Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[...], reduce=[...], reduce_concat=[...])."""
    call = ast.parse(text.strip(), mode="eval").body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Genotype"):
        raise ValueError(f"not a DARTS genotype: {text!r}")
    fields = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    return ([(op, int(inp)) for op, inp in fields["normal"]],
            [(op, int(inp)) for op, inp in fields["reduce"]])


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
    """Node j sums one op on every earlier node i; `names` are the ops in
    NB201_EDGES order, built by `make_op(name, c)` (NAS-Bench-201's or seq's)."""

    def __init__(self, names, c, make_op=None):
        super().__init__()
        make_op = make_op or nb201_op
        self.edges = []
        for (j, i), name in zip(NB201_EDGES, names):
            op = make_op(name, c)
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
                self.cells.append(InferCell([NB201_OPS[int(d)] for d in key], c_cur))
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

# ------------------------------------------------ seq: 1-D cells for series

SEQ_OPS = ["none", "skip_connect", "conv_3", "conv_5", "conv_7", "dil_conv_3", "dil_conv_5",
           "sep_conv_3", "sep_conv_5", "avg_pool_3", "max_pool_3"]
# kernel and dilation of each plain convolution
SEQ_CONV = {"conv_3": (3, 1), "conv_5": (5, 1), "conv_7": (7, 1), "dil_conv_3": (3, 2), "dil_conv_5": (5, 2)}


class ConvBN1d(nn.Module):
    """[ReLU,] 1-d conv ("same" padding at stride 1), batch norm: paths conv, bn."""

    def __init__(self, c_in, c_out, k, stride=1, dilation=1, relu=True):
        super().__init__()
        self.relu = relu
        self.conv = nn.Conv1d(c_in, c_out, k, stride, dilation * (k - 1) // 2, dilation, bias=False)
        self.bn = nn.BatchNorm1d(c_out)

    def forward(self, x):
        return self.bn(self.conv(F.relu(x) if self.relu else x))


class SepConv1d(nn.Module):
    """ReLU, depthwise conv, pointwise conv, batch norm: paths dw, pw, bn."""

    def __init__(self, c, k):
        super().__init__()
        self.dw = nn.Conv1d(c, c, k, 1, (k - 1) // 2, groups=c, bias=False)
        self.pw = nn.Conv1d(c, c, 1, bias=False)
        self.bn = nn.BatchNorm1d(c)

    def forward(self, x):
        return self.bn(self.pw(self.dw(F.relu(x))))


def seq_op(name, c):
    if name in SEQ_CONV:
        k, d = SEQ_CONV[name]
        return ConvBN1d(c, c, k, 1, d)
    if name in ("sep_conv_3", "sep_conv_5"):
        return SepConv1d(c, int(name[-1]))
    return {
        "none": Fn(lambda x: x * 0.0),
        "skip_connect": identity(),
        "avg_pool_3": Fn(lambda x: F.avg_pool1d(x, 3, 1, 1, count_include_pad=False)),
        "max_pool_3": Fn(lambda x: F.max_pool1d(x, 3, 1, 1)),
    }[name]


class ResNetBasicBlock1d(nn.Module):
    """The stride-2 ResNet block over sequences; lengths halve rounding up."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv_a = ConvBN1d(c_in, c_out, 3, 2)
        self.conv_b = ConvBN1d(c_out, c_out, 3, 1)
        self.downsample = nn.Module()
        self.downsample.conv = nn.Conv1d(c_in, c_out, 1, bias=False)

    def forward(self, x):
        pooled = F.avg_pool1d(x, 2, 2, ceil_mode=True, count_include_pad=False)
        return self.downsample.conv(pooled) + self.conv_b(self.conv_a(x))


class SeqNetwork(nn.Module):
    """The NAS-Bench-201 skeleton over sequences [batch, channels, length] with seq cells."""

    def __init__(self, names, c=16, n=1, classes=10, in_channels=1):
        super().__init__()
        self.stem = ConvBN1d(in_channels, c, 3, relu=False)
        self.cells = nn.ModuleList()
        c_prev = c
        for stage in range(3):
            c_cur = c << stage
            if stage:
                self.cells.append(ResNetBasicBlock1d(c_prev, c_cur))
            for _ in range(n):
                self.cells.append(InferCell(names, c_cur, seq_op))
            c_prev = c_cur
        self.lastact = nn.Module()
        self.lastact.bn = nn.BatchNorm1d(c_prev)
        self.classifier = nn.Linear(c_prev, classes)

    def forward(self, x):
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        x = F.relu(self.lastact.bn(x))
        return self.classifier(x.mean(dim=2)), None

# ------------------------------------------------------ mlp: dense networks

MLP_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu, "tanh": torch.tanh, "silu": F.silu}


def embedding_width(cardinality):
    """The width of a categorical column's embedding, as trainer/src/model/mlp.rs."""
    return int(min(16.0, max(1.0, math.floor(1.6 * (cardinality + 1) ** 0.56 + 0.5))))


class MlpNetwork(nn.Module):
    """An mlp genotype's network for rows [batch, numeric + categorical]: the numeric
    features (standardized), then one category code per categorical column (the code
    `cardinality` for missing or unseen). Paths encoder.embed<j>, layers.<i>.linear,
    layers.<i>.norm, head."""

    def __init__(self, parsed, numeric, categorical, classes):
        super().__init__()
        encoding, layers = parsed
        self.numeric, self.categorical, self.encoding = numeric, list(categorical), encoding
        self.encoder = nn.Module()
        width = numeric
        for j, card in enumerate(self.categorical):
            if encoding == "embed":
                dim = embedding_width(card)
                self.encoder.add_module(f"embed{j}", nn.Embedding(card + 1, dim))
                width += dim
            else:
                width += card + 1
        self.layers = nn.ModuleList()
        self.spec = []
        widths, prev = [], width
        for width_i, act, norm, dropout, anchors in layers:
            layer = nn.Module()
            n_in = prev + sum(width if a == "x" else widths[a] for a in anchors)
            layer.linear = nn.Linear(n_in, width_i)
            if norm == "batch":
                layer.norm = nn.BatchNorm1d(width_i)
            elif norm == "layer":
                layer.norm = nn.LayerNorm(width_i)
            self.layers.append(layer)
            self.spec.append((act, norm, dropout, anchors))
            widths.append(width_i)
            prev = width_i
        self.head = nn.Linear(prev, classes)

    def encode(self, xs):
        parts = [xs[:, :self.numeric]] if self.numeric else []
        for j, card in enumerate(self.categorical):
            codes = xs[:, self.numeric + j].long().clamp(0, card)
            if self.encoding == "embed":
                parts.append(getattr(self.encoder, f"embed{j}")(codes))
            else:
                parts.append(F.one_hot(codes, card + 1).to(xs.dtype))
        return torch.cat(parts, dim=1)

    def forward(self, xs):
        x = self.encode(xs)
        outs = []
        for layer, (act, norm, dropout, anchors) in zip(self.layers, self.spec):
            parts = [outs[-1] if outs else x] + [x if a == "x" else outs[a] for a in anchors]
            h = layer.linear(torch.cat(parts, dim=1) if len(parts) > 1 else parts[0])
            if norm != "none":
                h = layer.norm(h)
            h = MLP_ACTIVATIONS[act](h)
            if dropout > 0:
                h = F.dropout(h, dropout, self.training)
            outs.append(h)
        return self.head(outs[-1]), None

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


# ------------------------------------------------------- genotype text forms


def parse_nb201(text):
    """The table key (one op index per edge, in NB201_EDGES order) of an arch
    string |op~0|+|op~0|op~1|+|op~0|op~1|op~2|."""
    nodes = [part.strip("|").split("|") for part in text.strip().split("+")]
    key = ""
    for j, tokens in enumerate(nodes, start=1):
        if len(tokens) != j:
            raise ValueError(f"nb201: node {j} of {text!r} has {len(tokens)} edges, expected {j}")
        for i, token in enumerate(tokens):
            op, _, source = token.partition("~")
            if op not in NB201_OPS or source != str(i):
                raise ValueError(f"nb201: bad edge {token!r} into node {j} of {text!r}")
            key += str(NB201_OPS.index(op))
    if len(key) != len(NB201_EDGES):
        raise ValueError(f"nb201: {text!r} has {len(key)} edges, expected {len(NB201_EDGES)}")
    return key


def parse_seq(text):
    """The op names (in NB201_EDGES order) of a seq cell |conv_3~0|+|...|."""
    nodes = [part.strip("|").split("|") for part in text.strip().split("+")]
    names = []
    for j, tokens in enumerate(nodes, start=1):
        if len(tokens) != j:
            raise ValueError(f"seq: node {j} of {text!r} has {len(tokens)} edges, expected {j}")
        for i, token in enumerate(tokens):
            op, _, source = token.partition("~")
            if op not in SEQ_OPS or source != str(i):
                raise ValueError(f"seq: bad edge {token!r} into node {j} of {text!r}")
            names.append(op)
    if len(names) != len(NB201_EDGES):
        raise ValueError(f"seq: {text!r} has {len(names)} edges, expected {len(NB201_EDGES)}")
    return names


_MLP_LAYER = re.compile(r"(\d+):(relu|gelu|tanh|silu):(none|batch|layer):([\d.]+)(?:<([\dx,]+))?")


def parse_mlp(text):
    """(encoding, [(width, activation, norm, dropout, anchors), ...]) of an mlp genotype
    `onehot 256:relu:batch:0.1 128:gelu:none:0<x`; anchors are "x" or layer numbers."""
    tokens = text.split()
    encoding = "onehot"
    if tokens and ":" not in tokens[0]:
        encoding = tokens.pop(0)
        if encoding not in ("onehot", "embed"):
            raise ValueError(f"mlp: unknown encoding {encoding!r} in {text!r}")
    layers = []
    for token in tokens:
        m = _MLP_LAYER.fullmatch(token)
        if m is None:
            raise ValueError(f"mlp: bad layer {token!r} in {text!r}")
        anchors = [a if a == "x" else int(a) for a in m.group(5).split(",")] if m.group(5) else []
        layers.append((int(m.group(1)), m.group(2), m.group(3), float(m.group(4)), anchors))
    if not layers:
        raise ValueError(f"mlp: no layers in {text!r}")
    return encoding, layers


_PNAS_BLOCK = re.compile(r"\(\s*(\d+)\s*,\s*(\w+)\s*,\s*(\d+)\s*,\s*(\w+)\s*\)")


def parse_pnas(text):
    """[(input1, op1, input2, op2), ...] of a PNAS cell (0,sep_3x3,1,identity)(2,max_pool_3x3,0,sep_5x5)."""
    blocks = [(int(a), x, int(b), y) for a, x, b, y in _PNAS_BLOCK.findall(text)]
    if not blocks or _PNAS_BLOCK.sub("", text).strip():
        raise ValueError(f"pnas: not a cell of (input1,op1,input2,op2) blocks: {text!r}")
    return blocks


_MACRO_LAYER = re.compile(r"(\d+)x(\d+):(\d+)(?:<([\d,]+))?")


def parse_macro(text):
    """[(height, width, filters, anchors), ...] of a macro chain 3x3:24 5x5:36<0 3x7:48<0,1."""
    layers = []
    for token in text.split():
        m = _MACRO_LAYER.fullmatch(token)
        if m is None:
            raise ValueError(f"macro: bad layer {token!r} in {text!r}")
        anchors = [int(a) for a in m.group(4).split(",")] if m.group(4) else []
        layers.append((int(m.group(1)), int(m.group(2)), int(m.group(3)), anchors))
    return layers


def build_network(space, genotype, channels, layers, classes, in_channels=3, auxiliary=False, imagenet=False,
                  table=None):
    """The network of a genotype's text form in `space` (macro, pnas, darts, nb201, seq, mlp),
    as trainer::model::build builds it: channels is DARTS', NAS-Bench-201's and seq's C or
    PNAS' F, layers DARTS' L or the cells per stage N (both unused by macro chains and mlps);
    `table` is an mlp's input, {"numeric": n, "categorical": [cardinality, ...]}."""
    if space == "darts":
        return DartsNetwork(parse_darts(genotype), channels, layers, classes, auxiliary, imagenet, in_channels)
    if auxiliary or imagenet:
        raise ValueError(f"the {space} network has no auxiliary head or ImageNet variant")
    if space == "nb201":
        return TinyNetwork(parse_nb201(genotype), channels, layers, classes, in_channels)
    if space == "pnas":
        return PnasNetwork(parse_pnas(genotype), channels, layers, classes, in_channels)
    if space == "macro":
        return MacroNetwork(parse_macro(genotype), classes, in_channels)
    if space == "seq":
        return SeqNetwork(parse_seq(genotype), channels, layers, classes, in_channels)
    if space == "mlp":
        table = table or {}
        return MlpNetwork(parse_mlp(genotype), table.get("numeric", 0), table.get("categorical", []), classes)
    raise ValueError(f"unknown space {space!r}; expected one of macro, pnas, darts, nb201, seq, mlp")

# ----------------------------------------------------------- by space kind
# What a Python trainer needs: a job names its space as the spec's JSON
# ({"kind": "nb201"}, {"kind": "pnas", "blocks": 2}, ...) and its genotype
# as canonical text.

# The network settings of the torch evaluator's proxy training when a spec
# gives none (queue::wire::TrainSettings::default(): channels 16, layers 2),
# so that a Python trainer's candidate with the defaults has the parameters
# of the Rust trainer's. Macro chains and mlps take their widths from the
# genotype and ignore both.
PROXY_CHANNELS = 16
PROXY_LAYERS = 2

SPACE_KINDS = ("macro", "pnas", "darts", "nb201", "seq", "mlp")


def space_kind(space: Union[Dict[str, Any], str]) -> str:
    """The kind of a space given as its spec JSON ({"kind": "nb201"}) or as the
    kind's name ("nb201")."""
    kind = space.get("kind") if isinstance(space, dict) else space
    if kind not in SPACE_KINDS:
        raise ValueError(f"unknown space {space!r}; expected one of {', '.join(SPACE_KINDS)}")
    return kind


def parse_genotype(space: Union[Dict[str, Any], str], text: str) -> Any:
    """The structure of a genotype's text form in `space`, as its parser gives it:
    darts (normal, reduce) edge lists, the nb201 table key ("333333"), seq op
    names, mlp (encoding, layers), pnas blocks, macro layers. DARTS takes the
    Genotype(...) notation, not a published genotype's name."""
    parsers = {"darts": parse_darts, "nb201": parse_nb201, "seq": parse_seq,
               "mlp": parse_mlp, "pnas": parse_pnas, "macro": parse_macro}
    return parsers[space_kind(space)](text)


def _cell_text(ops: Any) -> str:
    """|op~0|+|op~0|op~1|+|op~0|op~1|op~2| of op names in NB201_EDGES order."""
    nodes = [ops[0:1], ops[1:3], ops[3:6]]
    return "+".join("|" + "|".join(f"{op}~{i}" for i, op in enumerate(node)) + "|" for node in nodes)


def _darts_text(cells: Any) -> str:
    """The published notation of (normal, reduce) edge lists."""
    parts = []
    for name, edges in zip(("normal", "reduce"), cells):
        listed = ", ".join(f"('{op}', {inp})" for op, inp in edges)
        parts.append(f"{name}=[{listed}], {name}_concat=[2, 3, 4, 5]")
    return "Genotype(" + ", ".join(parts) + ")"


def _mlp_text(parsed: Any) -> str:
    """`onehot 256:relu:batch:0.1 128:gelu:none:0<x` of (encoding, layers)."""
    encoding, layers = parsed
    tokens = [encoding]
    for width, act, norm, dropout, anchors in layers:
        tenths = round(dropout * 10)
        token = f"{width}:{act}:{norm}:{'0' if tenths == 0 else f'0.{tenths}'}"
        tokens.append(token + ("<" + ",".join(str(a) for a in anchors) if anchors else ""))
    return " ".join(tokens)


def _macro_text(layers: Any) -> str:
    """`3x3:24 5x5:36<0` of macro layers."""
    return " ".join(f"{h}x{w}:{f}" + ("<" + ",".join(map(str, anchors)) if anchors else "")
                    for h, w, f, anchors in layers)


def format_genotype(space: Union[Dict[str, Any], str], parsed: Any) -> str:
    """The text form of what parse_genotype() returned, written as nas writes it
    (the canonical text, when the genotype is canonical)."""
    kind = space_kind(space)
    if kind == "darts":
        return _darts_text(parsed)
    if kind == "nb201":
        return _cell_text([NB201_OPS[int(d)] for d in parsed])
    if kind == "seq":
        return _cell_text(parsed)
    if kind == "mlp":
        return _mlp_text(parsed)
    if kind == "pnas":
        return "".join(f"({a},{x},{b},{y})" for a, x, b, y in parsed)
    return _macro_text(parsed)


def build_for_job(space: Union[Dict[str, Any], str], genotype: str, classes: int, in_channels: int = 3,
                  channels: Optional[int] = None, layers: Optional[int] = None, **kw: Any) -> nn.Module:
    """The network of a job's genotype, as the Rust trainer builds it for the same
    settings: `channels` (C, or PNAS' F) and `layers` (DARTS' cells L, or cells
    per stage N) default to the torch evaluator's proxy settings, PROXY_CHANNELS
    and PROXY_LAYERS; they are the network's, not the space's (a space's
    "layers" is the macro chain's or mlp's depth, fixed by the genotype). The
    keywords go to build_network(): `table` (an mlp's columns,
    {"numeric": n, "categorical": [cardinality, ...]}), `auxiliary`, `imagenet`.
    The module's forward returns (logits, auxiliary logits or None)."""
    return build_network(space_kind(space), genotype,
                         PROXY_CHANNELS if channels is None else channels,
                         PROXY_LAYERS if layers is None else layers,
                         classes, in_channels, **kw)


def count_params(module: nn.Module, include_auxiliary: bool = False) -> int:
    """Parameters of `module` as nas reports them (the `params` metric): every
    parameter but the DARTS auxiliary head's, unless `include_auxiliary`."""
    return sum(p.numel() for name, p in module.named_parameters()
               if include_auxiliary or "auxiliary" not in name)

# ------------------------------------------------------------ preprocessing
# The preprocessing a run fitted on its training part (trainer/src/preprocess.rs,
# saved as <weights>.preprocess.json), applied to new data exactly as nas
# applied it; and readers of the file formats nas reads, as nas reads them.

MISSING_TEXT = ("na", "n/a", "nan", "null", "?")
BOOLEAN_TEXT = {"true": 1.0, "false": 0.0, "yes": 1.0, "no": 0.0, "t": 1.0, "f": 0.0, "y": 1.0, "n": 0.0}


def _text(value):
    """A cell as nas reads it: trimmed text, or None for a missing value."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    s = str(value).strip()
    return None if s == "" or s.lower() in MISSING_TEXT else s


def prepare_images(pre, images):
    """Images as the network reads them: u8 pixels [N, C, H, W] (or floats already
    scaled to [0, 1]) normalized per channel with the training part's mean and std."""
    x = torch.as_tensor(images)
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    mean = torch.tensor(pre["mean"], dtype=x.dtype).reshape(1, -1, 1, 1)
    std = torch.tensor(pre["std"], dtype=x.dtype).reshape(1, -1, 1, 1)
    return (x - mean) / std


def prepare_series(pre, series):
    """Series [N, C, L] (NaN for a missing value) standardized per channel; a
    missing value becomes 0, the channel's mean."""
    x = torch.as_tensor(series, dtype=torch.float32)
    mean = torch.tensor(pre["mean"], dtype=x.dtype).reshape(1, -1, 1)
    std = torch.tensor(pre["std"], dtype=x.dtype).reshape(1, -1, 1)
    return torch.nan_to_num((x - mean) / std, nan=0.0)


def prepare_rows(pre, rows):
    """Table rows (dicts of column name -> text or number, as csv.DictReader gives)
    as the network reads them: standardized numeric and boolean columns in file
    order, then one code per categorical column (its position among the categories
    seen in training; the count of those for a missing or unseen value)."""
    numeric, codes = [], []
    for col in pre["columns"]:
        name, kind = col["name"], col["kind"]
        values = []
        for i, row in enumerate(rows):
            if name not in row:
                raise ValueError(f"row {i + 1} has no column {name!r}")
            t = _text(row[name])
            if kind == "categorical":
                values.append(float(col["seen"].index(t)) if t in col["seen"] else float(len(col["seen"])))
                continue
            if t is None:
                v = col["mean"]
            elif kind == "boolean":
                if t.lower() not in BOOLEAN_TEXT:
                    raise ValueError(f"row {i + 1}, column {name!r}: {t!r} is not a boolean")
                v = BOOLEAN_TEXT[t.lower()]
            else:
                try:
                    v = float(t)
                except ValueError:
                    raise ValueError(f"row {i + 1}, column {name!r}: {t!r} is not a number") from None
            values.append((v - col["mean"]) / col["std"])
        (codes if kind == "categorical" else numeric).append(values)
    columns = numeric + codes
    if not columns:
        return torch.zeros(len(rows), 0)
    return torch.tensor(columns, dtype=torch.float32).t().contiguous()


def predictions(pre, logits):
    """What the outputs mean: class names (the argmax), or the regression target
    in its own units."""
    target = pre["target"] if "target" in pre else {"task": "classification", "classes": None}
    if target["task"] == "regression":
        return (logits.squeeze(1).double() * target["std"] + target["mean"]).tolist()
    index = logits.argmax(dim=1).tolist()
    names = target.get("classes")
    return [names[i] for i in index] if names else index


def read_csv_rows(path):
    """The rows of a CSV file with a header, as dicts (delimiter ',' or, when the
    header has no comma, ';' or a tab)."""
    import csv
    with open(path, newline="", encoding="utf-8-sig") as f:
        head = f.readline()
        f.seek(0)
        delimiter = "," if "," in head else ";" if ";" in head else "\t" if "\t" in head else ","
        return list(csv.DictReader(f, delimiter=delimiter))


def read_ts(path):
    """(series [N, C, L] as nested lists with NaN for '?', labels as text) of a
    UCR/UEA .ts file; the series must have equal lengths."""
    series, labels, data = [], [], False
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not data:
                data = line.lower().startswith("@data")
                continue
            *dims, label = line.split(":")
            series.append([[float("nan") if v.strip() in ("?", "NaN", "nan") else float(v) for v in d.split(",")]
                           for d in dims])
            labels.append(label.strip())
    return series, labels


# ------------------------------------------------------------------ weights

# safetensors dtype names (https://github.com/huggingface/safetensors) to torch's.
_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}


def read_safetensors(path):
    """{name: tensor} of a safetensors file: an 8-byte little-endian header length, a
    JSON header of {name: {dtype, shape, data_offsets}}, then the little-endian data."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: not a safetensors file: {len(data)} bytes")
    n = int.from_bytes(data[:8], "little")
    if 8 + n > len(data):
        raise ValueError(f"{path}: not a safetensors file: header of {n} bytes in a file of {len(data)}")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _DTYPES:
            raise ValueError(f"{path}: {name}: unsupported dtype {info['dtype']}")
        dtype = _DTYPES[info["dtype"]]
        start, end = (8 + n + o for o in info["data_offsets"])
        if end > len(data):
            raise ValueError(f"{path}: {name}: data runs past the end of the file")
        flat = torch.frombuffer(bytearray(data[start:end]), dtype=dtype) if end > start else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(info["shape"])
    return tensors


# Buffers PyTorch keeps that tch has no counterpart to; they stay as built.
TORCH_ONLY = ("num_batches_tracked",)


def torch_name(tch_name):
    """The PyTorch state_dict key of a tch variable. tch's VarStore joins path
    segments with "." and the modules above carry the tch builders' paths, so the
    map is the identity (cells.3.node2.edge0.dw1.weight is that key in both); it
    is one function so that a rename changes one place, and `nas`'s export tests
    check it for every family."""
    return tch_name


def load_weights(model, path):
    """Load a safetensors file saved from the tch network into `model`; every
    variable must map to a parameter or buffer of the same shape and every
    parameter and buffer but TORCH_ONLY must be given."""
    tensors = {torch_name(k): v for k, v in read_safetensors(path).items()}
    state = model.state_dict()
    expected = {k for k in state if not k.endswith(TORCH_ONLY)}
    missing, unexpected = sorted(expected - tensors.keys()), sorted(tensors.keys() - expected)
    if missing or unexpected:
        raise ValueError(f"{path}: the weights do not fit the network: missing {missing[:5]}"
                         f"{' ...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
                         f"{' ...' if len(unexpected) > 5 else ''}")
    with torch.no_grad():
        for name, value in tensors.items():
            if tuple(state[name].shape) != tuple(value.shape):
                raise ValueError(f"{path}: {name}: shape {tuple(value.shape)}, the network has {tuple(state[name].shape)}")
            state[name].copy_(value)
    return model
