"""The classical baseline: an ilastik-style pixel random forest on multiscale filter features.

Features per pixel (``features``): on RGB (0..1) and CIELAB, Gaussian smoothing at every
scale; on CIELAB lightness, gradient magnitude, Laplacian of Gaussian, the two eigenvalues
of the structure tensor and the two of the Hessian at every scale (scales 0.7, 1.6, 3.5, 5
and 10 px, ilastik's defaults above 0.3 px): 60 features. They are standardized per camera
(mean and sd of each feature pooled over all of the camera's photos in the fold, labelled or
not), the classical answer to camera drift. The forest trains on a class-stratified random
sample of labelled pixels.
"""

from __future__ import annotations

import numpy as np

from crustwatch import io

SCALES = (0.7, 1.6, 3.5, 5.0, 10.0)
SETTINGS = {"scales": list(SCALES), "n_estimators": 100, "min_samples_leaf": 2, "max_features": "sqrt",
            "pixels_per_photo": 40000, "per_camera_standardization": True}


def features(photo: np.ndarray) -> np.ndarray:
    """(F, H, W) float32 features of a uint8 (3, H, W) photo."""
    # the baseline's own dependencies (bench/real/requirements.txt), imported here so that the benchmark's
    # other modules (real.py, curve.py, their tests) load with the workflow's requirements alone
    from scipy import ndimage
    from skimage.color import rgb2lab
    from skimage.feature import hessian_matrix, hessian_matrix_eigvals, structure_tensor, structure_tensor_eigenvalues

    rgb = np.moveaxis(photo, 0, -1).astype(np.float32) / 255.0
    lab = rgb2lab(rgb).astype(np.float32)
    chans = [rgb[..., c] for c in range(3)] + [lab[..., 0] / 100, lab[..., 1] / 50, lab[..., 2] / 50]
    light = chans[3]
    out = []
    for s in SCALES:
        out += [ndimage.gaussian_filter(c, s) for c in chans]
        out.append(ndimage.gaussian_gradient_magnitude(light, s))
        out.append(ndimage.gaussian_laplace(light, s) * s * s)
        st = structure_tensor(light, sigma=s, order="rc")
        out += list(structure_tensor_eigenvalues(st))
        hm = hessian_matrix(light, sigma=s, order="rc", use_gaussian_derivatives=False)
        out += list(hessian_matrix_eigvals(hm))
    return np.stack(out).astype(np.float32)


def fit(photos: dict, masks: dict, cameras: dict, train_ids: list[str], ignore: int, seed: int = 0, log=print):
    """Train the forest on ``train_ids``; returns (classifier, per-camera (mean, sd))."""
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(seed)
    sums: dict[str, list] = {}
    samples = []
    for iid, path in photos.items():  # one pass: per-camera pooled feature moments, training samples
        f = features(io.read_raster(path)[0])
        flat = f.reshape(f.shape[0], -1)
        acc = sums.setdefault(cameras[iid], [0.0, 0.0, 0])
        acc[0] = acc[0] + flat.sum(1, dtype=np.float64)
        acc[1] = acc[1] + (flat.astype(np.float64) ** 2).sum(1)
        acc[2] += flat.shape[1]
        if iid not in train_ids:
            continue
        m = io.read_raster(masks[iid])[0][0].ravel()
        idx = np.flatnonzero(m != ignore)
        labels = m[idx]
        present = np.unique(labels)
        # stratified: every class present gets an equal share of the sample (rare taxa are seen)
        per = SETTINGS["pixels_per_photo"] // len(present)
        take = np.concatenate([rng.choice(idx[labels == k], min(per, int((labels == k).sum())), replace=False)
                               for k in present])
        samples.append((cameras[iid], flat[:, take], m[take]))
    stats = {c: (s / n, np.sqrt(np.maximum(q / n - (s / n) ** 2, 1e-12))) for c, (s, q, n) in sums.items()}
    xs = [((f - stats[c][0][:, None]) / stats[c][1][:, None]).T.astype(np.float32) for c, f, _ in samples]
    ys = [y for _, _, y in samples]
    x, y = np.concatenate(xs), np.concatenate(ys)
    log(f"random forest: {len(y)} training pixels, {x.shape[1]} features")
    clf = RandomForestClassifier(n_estimators=SETTINGS["n_estimators"], min_samples_leaf=SETTINGS["min_samples_leaf"],
                                 max_features=SETTINGS["max_features"], n_jobs=2, random_state=seed)
    clf.fit(x, y)
    return clf, stats


def standardize(f: np.ndarray, stat: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    mean, sd = stat
    return ((f - mean[:, None, None]) / sd[:, None, None]).astype(np.float32)


def predict(clf, photo_path, stat) -> np.ndarray:
    """The class map (H, W) uint8 of one photo, predicted in row blocks (bounded memory)."""
    f = standardize(features(io.read_raster(photo_path)[0]), stat)
    h, w = f.shape[1:]
    flat = f.reshape(f.shape[0], -1)
    out = np.empty(h * w, dtype=np.uint8)
    block = 200_000
    for s in range(0, h * w, block):
        out[s : s + block] = clf.predict(flat[:, s : s + block].T)
    return out.reshape(h, w)
