"""Self-supervised pretraining of the encoder on a project's own photos (``pretrain.method: masked``).

A monitoring project holds far more photos than masks, and many HPC compute nodes cannot download
ImageNet weights. Masked-image modelling learns from the photos alone: square blocks of a patch are
hidden (set to 0, the normalized photos' mean), and the whole U-Net, with a 3-band head, learns to
paint the hidden pixels back from the visible ones (the loss is the mean absolute error over the
hidden pixels only, as SimMIM's; with blocks of 16 px and half of them hidden, only context beyond
the next few pixels can fill a block, so the encoder's deeper stages have to learn the crust's
texture and layout). The encoder's weights then start the supervised training of the same seed;
the decoder and head are dropped (they learned to paint, not to classify).

Batches are a pure function of ``(seed, step)`` like :class:`crustwatch.data.PatchSampler`'s, so
pretraining is as reproducible, resumable and worker-independent as training, and it runs through
the same loop (:func:`crustwatch.train.train_model`, with :func:`masked_l1_loss`).
"""

from __future__ import annotations

import numpy as np
import torch


class MaskedPatches:
    """Seeded batches of photo patches with hidden blocks, for masked-image modelling.

    ``batch_at(step, size)`` returns the masked patches (N, C, P, P) and a target (N, C + 1, P, P):
    the original patch and, as the last band, 1 where the pixel was hidden. Patches are drawn
    anywhere in a photo chosen in proportion to its area, rotated by a multiple of 90 degrees and
    maybe mirrored; blocks of ``block`` pixels are hidden with probability ``mask_ratio`` each (at
    least one per patch).
    """

    def __init__(self, images: list[np.ndarray], patch: int, seed: int, mask_ratio: float = 0.5,
                 block: int = 16, flip_rotate: bool = True) -> None:
        if not images:
            raise ValueError("no photos to pretrain on")
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must lie strictly between 0 and 1, not {mask_ratio}")
        if block < 1 or patch % block:
            raise ValueError(f"the block ({block} px) must divide the patch ({patch} px)")
        self.patch, self.block, self.mask_ratio = patch, block, float(mask_ratio)
        self.seed, self.flip_rotate = int(seed), flip_rotate
        self.images = []
        for img in images:
            _, h, w = img.shape
            ph, pw = max(h, patch), max(w, patch)
            if (ph, pw) != (h, w):
                img = np.pad(img, ((0, 0), (0, ph - h), (0, pw - w)), mode="edge")
            self.images.append(np.ascontiguousarray(img, dtype=np.float32))
        area = np.array([i.shape[1] * i.shape[2] for i in self.images], dtype=np.float64)
        self.p = area / area.sum()

    def rng_for(self, step: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, int(step), 1])

    def block_mask(self, rng: np.random.Generator) -> np.ndarray:
        """A (P, P) float32 mask: 1 on the hidden blocks."""
        n = self.patch // self.block
        cells = rng.random((n, n)) < self.mask_ratio
        if not cells.any():
            cells[divmod(int(rng.integers(n * n)), n)] = True
        return np.kron(cells, np.ones((self.block, self.block), dtype=bool)).astype(np.float32)

    def batch_at(self, step: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = self.rng_for(step)
        P = self.patch
        xs, ts = [], []
        for _ in range(size):
            img = self.images[int(rng.choice(len(self.images), p=self.p))]
            _, h, w = img.shape
            y0, x0 = int(rng.integers(0, h - P + 1)), int(rng.integers(0, w - P + 1))
            x = img[:, y0 : y0 + P, x0 : x0 + P]
            if self.flip_rotate:
                x = np.rot90(x, int(rng.integers(0, 4)), axes=(1, 2))
                if rng.random() < 0.5:
                    x = x[:, :, ::-1]
            x = np.ascontiguousarray(x, dtype=np.float32)
            m = self.block_mask(rng)
            xs.append(x * (1 - m))
            ts.append(np.concatenate([x, m[None]], 0))
        return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ts))


def masked_l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over the hidden pixels (the target's last band marks them) and bands."""
    truth, hidden = target[:, :-1], target[:, -1:]
    bands = truth.shape[1]
    return ((pred - truth).abs() * hidden).sum() / (hidden.sum() * bands).clamp_min(1.0)


def encoder_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The encoder's parameters and buffers, as the local weights file of ``model.encoder_weights`` holds them."""
    return {k: v.detach().cpu().contiguous() for k, v in model.encoder.state_dict().items()}
