"""The PyTorch side of `nas bench train`: train the same network (built by
scripts/reference_params.py, the reimplementation the Rust networks are
checked against) with the same settings on the same data, and print one JSON
line with its training throughput.

Measured like the Rust side: `--warmup` steps first, then the wall time of
`--steps` steps (batch gather, normalization, forward, loss, backward,
gradient clipping, SGD step), and the share of that time spent preparing
batches.

    $NAS_VENV/bin/python scripts/bench_train.py --space nb201 \
        --genotype '|nor_conv_3x3~0|+|...|' --data /usr/share/datasets/fashion-mnist
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_params as ref  # noqa: E402


def read_idx(path):
    for candidate in (path, path + ".gz"):
        if os.path.exists(candidate):
            raw = open(candidate, "rb").read()
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            magic, = struct.unpack(">I", raw[:4])
            dims = raw[3]
            shape = struct.unpack(">" + "I" * dims, raw[4:4 + 4 * dims])
            data = torch.frombuffer(bytearray(raw[4 + 4 * dims:]), dtype=torch.uint8)
            return data.reshape(shape)
    sys.exit(f"bench_train.py: no IDX file {path}[.gz]")


def nb201_key(arch):
    ops = ref.NB201_OPS
    edges = []
    for node in arch.strip("|").split("|+|"):
        for part in node.strip("|").split("|"):
            op, _ = part.split("~")
            edges.append(str(ops.index(op)))
    return "".join(edges)


def build(space, genotype, channels, layers, classes, in_channels):
    if space == "nb201":
        return ref.TinyNetwork(nb201_key(genotype), channels, layers, classes, in_channels)
    if space == "darts":
        return ref.DartsNetwork(ref.parse_darts(genotype), channels, layers, classes, False, False, in_channels)
    sys.exit(f"bench_train.py: space {space} is not supported here (nb201, darts)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", required=True)
    ap.add_argument("--genotype", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    images = read_idx(os.path.join(args.data, "train-images-idx3-ubyte")).unsqueeze(1).contiguous()
    labels = read_idx(os.path.join(args.data, "train-labels-idx1-ubyte")).long()
    n = images.shape[0]
    x = images.float() / 255.0
    mean, std = x.mean().item(), x.std().item()
    del x
    model = build(args.space, args.genotype, args.channels, args.layers, int(labels.max()) + 1, images.shape[1])
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=3e-4)
    total = args.warmup + args.steps
    perm = torch.randperm(n)
    data_s = 0.0
    start = None
    for step in range(total):
        if step == args.warmup:
            data_s = 0.0
            start = time.perf_counter()
        t0 = time.perf_counter()
        idx = perm[(step * args.batch_size) % (n - args.batch_size):][: args.batch_size]
        xb = (images.index_select(0, idx).float() / 255.0 - mean) / std
        yb = labels.index_select(0, idx)
        t1 = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = 0.5 * args.lr * (1 + math.cos(math.pi * step / total))
        logits, _ = model(xb)
        loss = F.cross_entropy(logits, yb)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        data_s += t1 - t0
    seconds = time.perf_counter() - start
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({
        "images_per_s": args.steps * args.batch_size / seconds,
        "seconds": seconds,
        "steps": args.steps,
        "data_share": data_s / seconds,
        "params": params,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
