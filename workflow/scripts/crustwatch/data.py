"""Training data: normalized photos and masks cached in memory, seeded patch sampling, augmentation."""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

import numpy as np
import torch
from PIL import Image, ImageFilter


@dataclass
class Augment:
    """Augmentation settings (``train.augment``; all applied with the training seed's generator).
    No defaults of their own: :meth:`from_dict` fills in the config schema's.

    Attributes:
        flip_rotate: random flips and 90-degree rotations.
        gain: per-channel multiplicative jitter, +-, in normalized units.
        offset: per-channel additive jitter, +-.
        contrast: global contrast jitter, +-.
        noise: standard deviation of added Gaussian noise.
        blur_prob: probability of a 3x3 box blur of the patch.
        drift: simulate camera drift on the photo as the camera saw it, before its
            normalization: the settings below.
        wb: per-channel white-balance gain in linear light, log-uniform within +-.
        exposure: exposure gain, log-uniform within +-.
        gamma: relative change of the encoding gamma (2.2), within +-.
        blur_sigma: optics blur, a Gaussian of standard deviation uniform in 0..this
            (pixels of the normalized scale; 0: off).
        jpeg_prob: probability of JPEG re-compression, at quality ``jpeg_min_quality`` to 95.
        scale: ground-scale change, log-uniform within +-: a crop of (1 +- scale) x patch
            pixels resized to the patch.
    """

    flip_rotate: bool
    gain: float
    offset: float
    contrast: float
    noise: float
    blur_prob: float
    drift: bool
    wb: float
    exposure: float
    gamma: float
    blur_sigma: float
    jpeg_prob: float
    jpeg_min_quality: int
    scale: float

    @classmethod
    def from_dict(cls, d: dict | None = None, **settings) -> "Augment":
        """From ``train.augment`` settings, a dict and/or keywords (any subset: the schema fills in the rest)."""
        from .project import section

        return cls(**section("train", "augment", given={**(d or {}), **settings}))


#: per photo and class, at most this many pixel positions are kept for class-balanced
#: centring (an even subsample of the class's pixels: memory stays bounded on big photos)
CLASS_POSITIONS_MAX = 200_000


class PatchSampler:
    """Draws training batches of random patches from photos held in memory.

    With ``class_balance`` b, a fraction b of the patches (on average) is centred on a pixel
    of one class drawn uniformly from the classes the masks hold (then a photo in proportion
    to that class's pixels in it, then one of those pixels): a taxon covering 1% of the
    labelled pixels is then seen in about b / K of the patches rather than in a few. The
    other patches lie anywhere, photos drawn in proportion to their labelled area. With
    b = 0 no extra random number is drawn, so batches are those of earlier releases.
    Batch ``step`` is a pure function of ``(seed, step)``: its
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
        augment: Augment,
        raw: list[np.ndarray] | None = None,
        luts: list[np.ndarray] | None = None,
        class_balance: float = 0.0,
    ) -> None:
        """``images`` are normalized float photos; with ``augment.drift``, ``raw`` (the same
        photos as uint8, before normalization) and their ``luts`` (3, 256) are used instead."""
        if not images:
            raise ValueError("no training photos: give at least one labelled 'train' row")
        self.drift = bool(augment.drift)
        self.luts = None
        if self.drift:
            if raw is None or luts is None:
                raise ValueError("drift augmentation needs the photos before normalization and their lookup tables")
            images = [np.asarray(r, dtype=np.float32) for r in raw]  # padded and cropped like the photos
            self.luts = [np.asarray(t, dtype=np.float64) for t in luts]
        self.patch = patch
        self.ignore = ignore_index
        self.seed = int(seed)
        self.aug = augment
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
        if not 0.0 <= class_balance <= 1.0:
            raise ValueError(f"class_balance must lie in 0..1, not {class_balance}")
        self.class_balance = float(class_balance)
        self.classes: list[int] = []
        self.positions: dict[int, list[np.ndarray]] = {}
        self.class_p: dict[int, np.ndarray] = {}
        if self.class_balance > 0:
            self._index_classes()

    def _index_classes(self) -> None:
        """Flat positions of every class's pixels per photo (evenly subsampled above the cap)."""
        ids = sorted({int(v) for m in self.masks for v in np.unique(m) if int(v) != self.ignore})
        for c in ids:
            per_photo, counts = [], []
            for m in self.masks:
                pos = np.flatnonzero(m.ravel() == c)
                counts.append(pos.size)
                if pos.size > CLASS_POSITIONS_MAX:
                    pos = pos[np.linspace(0, pos.size - 1, CLASS_POSITIONS_MAX).astype(np.int64)]
                per_photo.append(pos.astype(np.int64))
            n = np.asarray(counts, dtype=np.float64)
            self.positions[c], self.class_p[c] = per_photo, n / n.sum()
        self.classes = ids

    def class_pixels(self) -> dict[int, int]:
        """Labelled pixels of each class over the training photos (as padded for sampling)."""
        out: dict[int, int] = {}
        for m in self.masks:
            v, n = np.unique(m, return_counts=True)
            for c, k in zip(v.tolist(), n.tolist()):
                if c != self.ignore:
                    out[int(c)] = out.get(int(c), 0) + int(k)
        return dict(sorted(out.items()))

    def _photo(self, rng: np.random.Generator) -> tuple[int, int | None]:
        """Photo index of the next crop, and the class to centre it on (None: anywhere)."""
        if self.class_balance > 0 and self.classes and rng.random() < self.class_balance:
            c = self.classes[int(rng.integers(len(self.classes)))]
            return int(rng.choice(len(self.images), p=self.class_p[c])), c
        return int(rng.choice(len(self.images), p=self.p)), None

    def _corner(self, rng: np.random.Generator, i: int, S: int, c: int | None) -> tuple[int, int]:
        """Top-left corner of an S x S crop of photo ``i``: anywhere, or centred on a pixel of class ``c``."""
        _, h, w = self.images[i].shape
        if c is None:
            return int(rng.integers(0, h - S + 1)), int(rng.integers(0, w - S + 1))
        pos = self.positions[c][i]
        cy, cx = divmod(int(pos[int(rng.integers(pos.size))]), w)
        return int(np.clip(cy - S // 2, 0, h - S)), int(np.clip(cx - S // 2, 0, w - S))

    def rng_for(self, step: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, int(step)])

    def batch_at(self, step: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch of training step ``step`` (images float32 NCHW, labels int64 NHW)."""
        rng = self.rng_for(step)
        xs, ys = [], []
        P = self.patch
        for _ in range(size):
            i, c = self._photo(rng)
            img, m = self.images[i], self.masks[i]
            _, h, w = img.shape
            S = P
            if self.drift and self.aug.scale > 0:
                f = float(np.exp(rng.uniform(-np.log1p(self.aug.scale), np.log1p(self.aug.scale))))
                S = int(min(h, w, max(8, round(P * f))))
            y0, x0 = self._corner(rng, i, S, c)
            x = img[:, y0 : y0 + S, x0 : x0 + S]
            y = m[y0 : y0 + S, x0 : x0 + S]
            if self.drift:
                x, y = self._camera_drift(x, y, P, self.luts[i], rng)
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

    def _camera_drift(self, x: np.ndarray, y: np.ndarray, P: int, lut: np.ndarray, rng: np.random.Generator):
        """Render a raw (uint8-valued) crop as another camera would, resize it to P, normalize it."""
        a = self.aug
        v = np.clip(x / 255.0, 0, 1) ** 2.2  # to linear light
        gain = np.exp(rng.uniform(-np.log1p(a.exposure), np.log1p(a.exposure)))
        wb = np.exp(rng.uniform(-np.log1p(a.wb), np.log1p(a.wb), size=(3, 1, 1)))
        g = 2.2 * (1 + rng.uniform(-a.gamma, a.gamma))
        v = np.clip(v * gain * wb, 0, 1) ** (1 / g) * 255.0
        u8 = np.clip(np.round(v), 0, 255).astype(np.uint8)
        pil = Image.fromarray(np.moveaxis(u8, 0, -1))
        if x.shape[1] != P:
            pil = pil.resize((P, P), Image.Resampling.BILINEAR)
            y = np.asarray(Image.fromarray(np.ascontiguousarray(y)).resize((P, P), Image.Resampling.NEAREST))
        if a.blur_sigma > 0:  # the lens and sensor, before the camera compresses
            sigma = float(rng.uniform(0, a.blur_sigma))
            if sigma > 0.05:
                pil = pil.filter(ImageFilter.GaussianBlur(sigma))
        if rng.random() < a.jpeg_prob:
            buf = BytesIO()
            pil.save(buf, format="JPEG", quality=int(rng.integers(a.jpeg_min_quality, 96)))
            pil = Image.open(BytesIO(buf.getvalue()))
        u8 = np.moveaxis(np.asarray(pil.convert("RGB")), -1, 0)
        out = np.stack([lut[c][u8[c]] for c in range(3)])
        return out.astype(np.float32), y

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
