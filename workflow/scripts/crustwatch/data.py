"""Training data: normalized photos and masks cached in memory, seeded patch sampling, augmentation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


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
    to their valid area. Every random choice comes from a ``numpy`` generator seeded
    with the training seed, so a seed fixes the whole sequence of batches.
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
        self.aug = augment or Augment()
        self.rng = np.random.default_rng(seed)
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

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = [], []
        P = self.patch
        for _ in range(size):
            i = int(self.rng.choice(len(self.images), p=self.p))
            img, m = self.images[i], self.masks[i]
            _, h, w = img.shape
            y0 = int(self.rng.integers(0, h - P + 1))
            x0 = int(self.rng.integers(0, w - P + 1))
            x = img[:, y0 : y0 + P, x0 : x0 + P]
            y = m[y0 : y0 + P, x0 : x0 + P]
            if self.aug.flip_rotate:
                k = int(self.rng.integers(0, 4))
                x = np.rot90(x, k, axes=(1, 2))
                y = np.rot90(y, k, axes=(0, 1))
                if self.rng.random() < 0.5:
                    x = x[:, :, ::-1]
                    y = y[:, ::-1]
            x = self._photometric(np.array(x, dtype=np.float32))
            xs.append(x)
            ys.append(np.array(y, dtype=np.int64))
        return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))

    def _photometric(self, x: np.ndarray) -> np.ndarray:
        a = self.aug
        c = x.shape[0]
        gain = 1 + self.rng.uniform(-a.gain, a.gain, size=(c, 1, 1))
        off = self.rng.uniform(-a.offset, a.offset, size=(c, 1, 1))
        con = 1 + self.rng.uniform(-a.contrast, a.contrast)
        mean = x.mean()
        x = (x - mean) * con + mean
        x = x * gain + off
        if a.noise > 0:
            x = x + self.rng.normal(0, a.noise, size=x.shape)
        if self.rng.random() < a.blur_prob:
            t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None]
            x = F.avg_pool2d(F.pad(t, (1, 1, 1, 1), mode="replicate"), 3, stride=1)[0].numpy()
        return x.astype(np.float32)
