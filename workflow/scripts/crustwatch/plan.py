"""The training plan of a project, derived from its own labelled data (``train.steps: auto``).

A fixed number of steps cannot suit both a demo of seven flat patches and a project of
forty plot photos with twelve taxa. nnU-Net plans patch and batch size from a dataset
fingerprint and then trains a fixed 250,000 patches whatever the data; here the number of
steps follows the two things that decide how much a segmentation model must see:

* **classes**: every class should be the centre of ``class_patches`` training patches.
  With class-balanced sampling (``train.class_balance`` b), a step of B patches centres
  b x B / K of them on each of the K classes present in the training masks, so this needs
  ``K x class_patches / (b x B)`` steps (with b = 0, rare classes are left to chance and the
  term counts patches of all classes: ``K x class_patches / B``);
* **labelled pixels**: every labelled pixel should fall in ``pixel_passes`` patches, on
  average: ``pixel_passes x L / (B x P^2)`` steps for L labelled pixels and P-pixel patches.

The plan takes the larger, within ``min_steps``..``max_steps``. Both terms and the bounds are
written into the model card, with the class pixel counts they were computed from, so a reader
sees why a model trained as long as it did.

The defaults come from the real-photo learning curve (``bench/real/curve.py``, one fold of the
source study's Utah photos, bench/real/README.md "Choosing the defaults"): overall accuracy rose
from 0.57 at 200 steps to 0.64 at 500-600 in one cosine schedule; trained to the end on all four
folds, 1050 steps gave more mIoU and less cover error than 525 (bench/real/README.md "Longer
training"), so 7 classes at 16 patches a step get 7 x 2400 / 16 = 1050 steps. The pixel term
binds only for large projects (4 passes over 160 labelled megapixels at 128 px patches: 2441
steps).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class StepsPlan:
    """Settings of ``train.steps: auto`` (the ``train.plan`` section of the config; defaults: the schema's)."""

    class_patches: int
    pixel_passes: float
    min_steps: int
    max_steps: int

    @classmethod
    def from_dict(cls, d: dict | None = None, **settings) -> "StepsPlan":
        from .project import section

        return cls(**section("train", "plan", given={**(d or {}), **settings}))


def plan_steps(class_pixels: dict[int, int], patch_size: int, batch_size: int, class_balance: float,
               plan: StepsPlan) -> dict:
    """The number of training steps for these labelled pixels per class, and why.

    Args:
        class_pixels: class id -> labelled training pixels of that class (ignore value left out).
        patch_size, batch_size: the training patch (pixels, square) and patches per step.
        class_balance: the fraction of patches centred on a uniformly drawn class.
        plan: the plan's settings.

    Returns:
        ``steps`` and the record written into the model card (``rule``, both terms, inputs).
    """
    present = {int(c): int(n) for c, n in class_pixels.items() if n > 0}
    if not present:
        raise ValueError("no labelled training pixel: nothing to plan training from")
    k = len(present)
    labelled = sum(present.values())
    per_step = class_balance * batch_size if class_balance > 0 else batch_size
    by_classes = math.ceil(k * plan.class_patches / per_step)
    by_pixels = math.ceil(plan.pixel_passes * labelled / (batch_size * patch_size**2))
    steps = int(min(plan.max_steps, max(plan.min_steps, by_classes, by_pixels)))
    decided = ("min_steps" if steps == plan.min_steps and max(by_classes, by_pixels) < plan.min_steps
               else "max_steps" if steps == plan.max_steps and max(by_classes, by_pixels) > plan.max_steps
               else "classes" if by_classes >= by_pixels else "pixels")
    return {
        "steps": steps,
        "decided_by": decided,
        "rule": "clip(max(ceil(K * class_patches / (class_balance * batch_size)), "
                "ceil(pixel_passes * L / (batch_size * patch_size^2))), min_steps, max_steps)",
        "by_classes": by_classes,
        "by_pixels": by_pixels,
        "classes_present": k,
        "labelled_pixels": labelled,
        "class_pixels": {str(c): n for c, n in sorted(present.items())},
        "patch_size": patch_size,
        "batch_size": batch_size,
        "class_balance": class_balance,
        **asdict(plan),
    }
