"""`evaluate(job)`: the entry a nas search names with
`[evaluator.python] entry = "fmnist_trainer.train:evaluate"`. It trains the
job's candidate on part of Fashion-MNIST's training set with plain PyTorch
and returns the accuracy on a held-out part.

The spec's `[evaluator.python.settings]` arrive as `job.settings`; every key
is optional: data (the IDX folder), epochs, batch_size, lr, momentum,
weight_decay, train_limit, val_limit, val_fraction, crop_padding, flip,
channels, layers (the network's C and cells per stage; default: the torch
evaluator's proxy settings), workers (DataLoader processes)."""
import math
import time
from dataclasses import dataclass, fields
from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader

from nas_worker import Cancelled, Diverged, PermanentError
from nas_worker.networks import build_for_job, count_params

from .data import FashionMnist, RandomCropFlip, load_train_set, pixel_stats, split

CLASSES = 10
IMAGE_SPACES = ("nb201", "darts", "pnas", "macro")


@dataclass(frozen=True)
class Settings:
    """The job's settings with their defaults."""

    data: str = "/usr/share/datasets/fashion-mnist"
    epochs: int = 1
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 3e-4
    train_limit: Optional[int] = None
    val_limit: Optional[int] = None
    val_fraction: float = 0.1
    crop_padding: int = 2
    flip: bool = True
    channels: Optional[int] = None
    layers: Optional[int] = None
    workers: int = 0

    @classmethod
    def of(cls, raw: Dict[str, Any]) -> "Settings":
        """The settings of `job.settings`; an unknown key or a bad value is a
        PermanentError, since a retry would fail the same way."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise PermanentError(f"fmnist_trainer: unknown settings {unknown}; known: {sorted(known)}")
        settings = cls(**raw)
        try:
            ok = settings.epochs >= 1 and settings.batch_size >= 1 and 0 < settings.val_fraction < 1
        except TypeError:
            ok = False
        if not ok:
            raise PermanentError(f"fmnist_trainer: bad settings {raw}: epochs and batch_size "
                                 f"must be at least 1, val_fraction between 0 and 1")
        return settings


def loaders(s: Settings, seed: int) -> Tuple[DataLoader, DataLoader]:
    """The training loader (augmented, shuffled by `seed`) and the validation
    loader, normalized with the training part's statistics."""
    images, labels = load_train_set(s.data)
    parts = split(images.shape[0], s.val_fraction, s.train_limit, s.val_limit)
    mean, std = pixel_stats(images[parts.train])
    augment = RandomCropFlip(s.crop_padding, s.flip, torch.Generator().manual_seed(seed))
    train = FashionMnist(images[parts.train], labels[parts.train], mean, std, augment)
    val = FashionMnist(images[parts.val], labels[parts.val], mean, std)
    shuffle = torch.Generator().manual_seed(seed)
    return (DataLoader(train, s.batch_size, shuffle=True, generator=shuffle, num_workers=s.workers),
            DataLoader(val, 256, num_workers=s.workers))


def train_epoch(model: nn.Module, loader: DataLoader, opt: torch.optim.Optimizer,
                sched: torch.optim.lr_scheduler.LRScheduler, device: torch.device, job: Any) -> float:
    """One pass over `loader`; the mean training loss. Stops when the worker
    asks, and raises Diverged when the loss stops being finite."""
    model.train()
    total, seen = 0.0, 0
    for x, y in loader:
        if job.cancelled:  # the worker is stopping or lost the lease
            raise Cancelled(job.job_id)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        logits, _ = model(x)
        loss = F.cross_entropy(logits, y)
        if not torch.isfinite(loss):
            raise Diverged(f"job {job.job_id}: loss {loss.item()} after {seen} images")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        total += loss.item() * y.shape[0]
        seen += y.shape[0]
    return total / max(seen, 1)


@torch.no_grad()
def validate(model: nn.Module, loader: DataLoader, device: torch.device) -> Tuple[float, float]:
    """(accuracy in percent, mean loss) on `loader`."""
    model.eval()
    correct, total_loss, seen = 0, 0.0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        logits, _ = model(x)
        total_loss += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(dim=1) == y).sum().item()
        seen += y.shape[0]
    return 100.0 * correct / max(seen, 1), total_loss / max(seen, 1)


def candidate(job: Any, s: Settings, device: torch.device) -> nn.Module:
    """The job's network for 1 x 28 x 28 images and 10 classes, initialized
    from the job's seed."""
    kind = job.space.get("kind")
    if kind not in IMAGE_SPACES:
        raise PermanentError(f"fmnist_trainer trains image networks ({', '.join(IMAGE_SPACES)}), "
                             f"not the {kind} space")
    torch.manual_seed(job.seed)
    model = build_for_job(job.space, job.genotype, classes=CLASSES, in_channels=1,
                          channels=s.channels, layers=s.layers)
    return model.to(device)


def evaluate(job: Any) -> Dict[str, Any]:
    """Train the job's candidate for `epochs` epochs and score it on the
    held-out part, reporting progress after every epoch."""
    s = Settings.of(dict(job.settings))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = candidate(job, s, device)
    train_loader, val_loader = loaders(s, job.seed)
    opt = torch.optim.SGD(model.parameters(), lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=s.epochs * len(train_loader))
    start = time.monotonic()
    val_acc, val_loss = 0.0, math.inf
    for epoch in range(1, s.epochs + 1):
        loss = train_epoch(model, train_loader, opt, sched, device, job)
        val_acc, val_loss = validate(model, val_loader, device)
        job.report({"epoch": epoch, "epochs": s.epochs, "loss": loss, "val_acc": val_acc, "val_loss": val_loss})
    seconds = time.monotonic() - start
    return {
        "val_acc": val_acc,
        "val_loss": val_loss,
        "params": count_params(model),
        "train_seconds": seconds,
        "epochs": s.epochs,
        "device": str(device),
        "images_per_s": s.epochs * len(train_loader.dataset) / max(seconds, 1e-9),
    }
