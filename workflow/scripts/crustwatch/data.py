"""Training data: normalized photos and masks cached in memory, seeded patch sampling, augmentation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Augment:
    """Augmentation settings (all applied with the training seed's generator).

    Attributes:
        flip_rotate: random flips and 90-degree rotations (default True).
        gain: per-channel multiplicative jitter, +- (default 0.15), in normalized units.
        offset: per-channel additive jitter, +- (default 0.3).
        contrast: global contrast jitter, +- (default 0.2).
        noise: standard deviation of added Gaussian noise (default 0.05).
        blur_prob: probability of a 3x3 box blur of the patch (default 0.3).
    """

    flip_rotate: bool = True
    gain: float = 0.15
    offset: float = 0.3
    contrast: float = 0.2
    noise: float = 0.05
    blur_prob: float = 0.3


class PatchSampler:
    """Draws training batches of random patches from photos held in memory.

    Patches are centred on valid (non-ignore) pixels; photos are drawn in proportion
    to their valid area. Batch ``step`` is a pure function of ``(seed, step)``: its
    generator is numpy's PCG64 seeded with both, so the sequence of batches does
    not depend on how many loader workers make them, in which order they finish,
    or whether training was interrupted and resumed.
    """

    def __init__(
        self,
        images: list[np.ndarray],
        masks: list[np.ndarray],
        patch: int,
        ignore_index: int,
        seed: int,
        augment: Augment | None = None,
    ) -> None:
        if not images:
            raise ValueError("no training photos: give at least one labelled 'train' row")
        self.patch = patch
        self.ignore = ignore_index
        self.seed = int(seed)
        self.aug = augment or Augment()
        self.images, self.masks = [], []
        for img, m in zip(images, masks):
            _, h, w = img.shape
            ph, pw = max(h, patch), max(w, patch)
            if (ph, pw) != (h, w):
                img = np.pad(img, ((0, 0), (0, ph - h), (0, pw - w)), mode="edge")
                m = np.pad(m, ((0, ph - h), (0, pw - w)), constant_values=ignore_index)
            self.images.append(np.ascontiguousarray(img, dtype=np.float32))
            self.masks.append(np.ascontiguousarray(m, dtype=np.uint8))
        valid = np.array([(m != ignore_index).sum() for m in self.masks], dtype=np.float64)
        if valid.sum() == 0:
            raise ValueError("training masks hold no labelled pixel (all ignore_index)")
        self.p = valid / valid.sum()

    def rng_for(self, step: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, int(step)])

    def batch_at(self, step: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch of training step ``step`` (images float32 NCHW, labels int64 NHW)."""
        rng = self.rng_for(step)
        xs, ys = [], []
        P = self.patch
        for _ in range(size):
            i = int(rng.choice(len(self.images), p=self.p))
            img, m = self.images[i], self.masks[i]
            _, h, w = img.shape
            y0 = int(rng.integers(0, h - P + 1))
            x0 = int(rng.integers(0, w - P + 1))
            x = img[:, y0 : y0 + P, x0 : x0 + P]
            y = m[y0 : y0 + P, x0 : x0 + P]
            if self.aug.flip_rotate:
                k = int(rng.integers(0, 4))
                x = np.rot90(x, k, axes=(1, 2))
                y = np.rot90(y, k, axes=(0, 1))
                if rng.random() < 0.5:
                    x = x[:, :, ::-1]
                    y = y[:, ::-1]
            x = self._photometric(np.array(x, dtype=np.float32), rng)
            xs.append(x)
            ys.append(np.array(y, dtype=np.int64))
        return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))

    def _photometric(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        a = self.aug
        c = x.shape[0]
        gain = 1 + rng.uniform(-a.gain, a.gain, size=(c, 1, 1))
        off = rng.uniform(-a.offset, a.offset, size=(c, 1, 1))
        con = 1 + rng.uniform(-a.contrast, a.contrast)
        mean = x.mean()
        x = (x - mean) * con + mean
        x = x * gain + off
        if a.noise > 0:
            x = x + rng.normal(0, a.noise, size=x.shape)
        if rng.random() < a.blur_prob:
            x = _box_blur3(x.astype(np.float32))
        return x.astype(np.float32)


def _box_blur3(x: np.ndarray) -> np.ndarray:
    """3x3 mean filter with edge replication, in numpy (no torch threads in loader workers)."""
    p = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="edge")
    h, w = x.shape[1:]
    out = np.zeros_like(x)
    for dy in range(3):
        for dx in range(3):
            out += p[:, dy : dy + h, dx : dx + w]
    return out / np.float32(9)


class StepBatches(torch.utils.data.Dataset):
    """Map-style dataset whose item ``step`` is that step's whole batch."""

    def __init__(self, sampler: PatchSampler, batch_size: int, steps: int) -> None:
        self.sampler, self.batch_size, self.steps = sampler, batch_size, steps

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int):
        return self.sampler.batch_at(step, self.batch_size)


def seed_worker(worker_id: int) -> None:
    """Seed a loader worker's global generators from the seed torch gives it.

    Batches do not use global generators (each step has its own), but anything
    else random in a worker then still follows the training seed.
    """
    import random

    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


def batch_loader(sampler: PatchSampler, batch_size: int, steps: int, start: int = 0, workers: int = 0,
                 pin_memory: bool = False) -> torch.utils.data.DataLoader:
    """Batches ``start .. steps-1`` in order, made by ``workers`` processes (0: in this process)."""
    return torch.utils.data.DataLoader(
        StepBatches(sampler, batch_size, steps),
        batch_size=None,
        sampler=range(start, steps),
        num_workers=workers,
        worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(sampler.seed),
        pin_memory=pin_memory,
        prefetch_factor=4 if workers else None,
    )
