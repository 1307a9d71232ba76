"""Fashion-MNIST for the example trainer: the IDX files (plain or gzipped),
a fixed split of the training set into training and validation parts, and a
Dataset with its own augmentation (random crop with padding, horizontal flip)
written with torch ops."""
import functools
import gzip
import os
import struct
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

# The IDX files of the training set (the test set is left alone: a search
# compares candidates on validation accuracy).
TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
# IDX type code 0x08: unsigned bytes.
IDX_UBYTE = 0x08


def idx_path(folder: str, stem: str) -> str:
    """The file of `stem` in `folder`, plain or gzipped (`stem.gz`)."""
    for name in (stem, stem + ".gz"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"no {stem} or {stem}.gz in {folder}")


def read_idx(path: str) -> torch.Tensor:
    """The uint8 tensor of an IDX file: 2 zero bytes, the type code, the number
    of dimensions, their sizes (big-endian u32), then the data."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zeros, code, dims = struct.unpack(">HBB", data[:4])
    if zeros != 0 or code != IDX_UBYTE:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    shape = struct.unpack(f">{dims}I", data[4:4 + 4 * dims])
    body = data[4 + 4 * dims:]
    if len(body) != int(torch.tensor(shape).prod()):
        raise ValueError(f"{path}: {len(body)} bytes of data for shape {shape}")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(shape)


@functools.lru_cache(maxsize=2)
def load_train_set(folder: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """(images [N, 28, 28] uint8, labels [N] int64) of the training set, read
    once per process and shared by every job of this worker."""
    images = read_idx(idx_path(folder, TRAIN_IMAGES))
    labels = read_idx(idx_path(folder, TRAIN_LABELS)).long()
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{folder}: {images.shape[0]} images but {labels.shape[0]} labels")
    return images, labels


@dataclass(frozen=True)
class Split:
    """Indices of the training and the held-out validation part."""

    train: torch.Tensor
    val: torch.Tensor


def split(n: int, val_fraction: float, train_limit: Optional[int], val_limit: Optional[int],
          seed: int = 0) -> Split:
    """A split of n samples that is the same for every candidate (a fixed seed),
    so that their validation accuracies compare; `train_limit` and `val_limit`
    keep the first that many of each part."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = max(1, int(round(n * val_fraction)))
    val, train = order[:n_val], order[n_val:]
    return Split(train=train[:train_limit], val=val[:val_limit])


class RandomCropFlip:
    """Pad an image [C, H, W] by `padding` zero pixels, cut a random H x W
    window back out, and flip it left-right with probability 1/2 (when `flip`)."""

    def __init__(self, padding: int, flip: bool, generator: torch.Generator) -> None:
        self.padding, self.flip, self.generator = padding, flip, generator

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        _, h, w = image.shape
        if self.padding > 0:
            p = self.padding
            padded = F.pad(image, (p, p, p, p))
            top, left = torch.randint(0, 2 * p + 1, (2,), generator=self.generator).tolist()
            image = padded[:, top:top + h, left:left + w]
        if self.flip and torch.rand((), generator=self.generator).item() < 0.5:
            image = torch.flip(image, dims=(2,))
        return image


class FashionMnist(Dataset):
    """Images [1, 28, 28] scaled to [0, 1], augmented (training part only),
    then normalized with the training part's mean and standard deviation."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean: float, std: float,
                 augment: Optional[RandomCropFlip] = None) -> None:
        self.images, self.labels = images, labels
        self.mean, self.std, self.augment = mean, std, augment

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, torch.Tensor]:
        image = self.images[i].unsqueeze(0).float().div_(255.0)
        if self.augment is not None:
            image = self.augment(image)
        return (image - self.mean) / self.std, self.labels[i]


def pixel_stats(images: torch.Tensor) -> Tuple[float, float]:
    """Mean and standard deviation of uint8 images scaled to [0, 1]."""
    x = images.float().div_(255.0)
    return x.mean().item(), max(x.std().item(), 1e-6)
