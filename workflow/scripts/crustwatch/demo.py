"""A seeded synthetic monitoring project of biocrust plot photos, with exact masks.

The scene of each permanent plot is a set of continuous random fields defined in
ground millimetres, so the same plot rendered by another camera at another
resolution shows the same crust, and its mask is exact at every pixel centre.

What it imitates:

- taxa with distinct colour and texture: dark cyanobacterial crust, pale
  (Diploschistes-like), orange (Fulgensia-like) and brick-red (Psora-like)
  lichens, green moss, plus light bare soil and grey rock;
- patchy structure at several scales (multi-octave value noise per taxon);
- cover trends over dates (moss expanding and cyanobacteria receding at one site,
  cyanobacteria expanding and orange lichen receding at the other);
- illumination gradients, vignetting and moving shadows with a blue skylight tint;
- a white plot frame that is the mask's ignore region (and, in the sheet's
  ``reference`` column, a neutral target for ``normalize.method: reference``);
- a camera per date with drift: white balance, exposure, gamma, blur, sensor
  noise, resolution and ground scale (``mm_per_px`` recorded), JPEG compression.

Everything follows ``seed``: the same call writes byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .io import write_image_file

IGNORE = 255

#: classes of the demo: id, name, sRGB reflectance colour (0..1), texture (amplitude, scale mm)
CLASSES = [
    {"id": 0, "name": "bare_soil", "rgb": (0.80, 0.70, 0.55), "tex": (0.10, 2.0), "color": "#d8c39a"},
    {"id": 1, "name": "cyanobacteria", "rgb": (0.26, 0.21, 0.16), "tex": (0.30, 3.0), "color": "#46362a"},
    {"id": 2, "name": "lichen_pale", "rgb": (0.90, 0.90, 0.85), "tex": (0.12, 6.0), "color": "#e6e6d8"},
    {"id": 3, "name": "lichen_orange", "rgb": (0.93, 0.60, 0.12), "tex": (0.12, 4.0), "color": "#ee9a1f"},
    {"id": 4, "name": "lichen_red", "rgb": (0.62, 0.28, 0.26), "tex": (0.14, 5.0), "color": "#9e4842"},
    {"id": 5, "name": "moss", "rgb": (0.30, 0.46, 0.14), "tex": (0.35, 1.5), "color": "#4d7524"},
    {"id": 6, "name": "rock", "rgb": (0.55, 0.55, 0.57), "tex": (0.18, 25.0), "color": "#8c8c91"},
]
FRAME_RGB = (0.95, 0.95, 0.93)


@dataclass(frozen=True)
class Camera:
    """One camera's rendering of the scene: what drifts between monitoring dates."""

    name: str
    mm_per_px: float
    wb: tuple[float, float, float] = (1.0, 1.0, 1.0)
    exposure: float = 1.0
    gamma: float = 2.2
    blur_px: float = 0.0
    noise: float = 0.01
    fmt: str = "png"
    jpeg_quality: int = 90


DEFAULT_CAMERAS = (
    Camera("cam-A", 1.0, fmt="png"),
    Camera("cam-B", 0.8, wb=(1.12, 1.0, 0.82), exposure=1.15, gamma=2.0, blur_px=0.6, fmt="jpg", jpeg_quality=85),
    Camera("cam-C", 1.25, wb=(0.88, 1.0, 1.18), exposure=0.80, gamma=2.5, blur_px=1.0, fmt="jpg", jpeg_quality=75),
    Camera("cam-D", 0.9, wb=(1.05, 0.95, 1.06), exposure=0.95, gamma=2.3, blur_px=0.8, noise=0.02, fmt="tif"),
)
DEFAULT_DATES = ("2019-05-14", "2020-05-12", "2021-05-18", "2022-05-10")

# target cover (%) per site and class at date index t (class 0, soil, is the rest)
TRENDS = {
    "mesa": {
        "rock": lambda t: 6,
        "moss": lambda t: 8 + 7 * t,
        "cyanobacteria": lambda t: 30 - 5 * t,
        "lichen_pale": lambda t: 8,
        "lichen_orange": lambda t: 5,
        "lichen_red": lambda t: 4,
    },
    "dunes": {
        "rock": lambda t: 3,
        "moss": lambda t: 4,
        "cyanobacteria": lambda t: 20 + 6 * t,
        "lichen_pale": lambda t: 7 - t,
        "lichen_orange": lambda t: 9 - 2 * t,
        "lichen_red": lambda t: 3,
    },
}
# precedence and spatial scale (mm) of each taxon's patch field
PATCH_SCALE = {
    "rock": 90.0,
    "moss": 45.0,
    "cyanobacteria": 35.0,
    "lichen_pale": 22.0,
    "lichen_orange": 14.0,
    "lichen_red": 18.0,
}


@dataclass
class DemoSpec:
    """What to generate. The defaults make the bundled demo."""

    seed: int = 2019
    sites: tuple[str, ...] = ("mesa", "dunes")
    plots_per_site: int = 4
    dates: tuple[str, ...] = DEFAULT_DATES
    cameras: tuple[Camera, ...] = DEFAULT_CAMERAS
    plot_mm: float = 360.0
    frame_mm: float = 20.0
    val_plot: int = 4  # plot number held out for validation at the first date
    extra: dict = field(default_factory=dict)

    def digest(self) -> str:
        d = asdict(self)
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _seed(*parts) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:8], "little")


def value_noise(seed: int, scale_mm: float, x: np.ndarray, y: np.ndarray, extent_mm: float = 600.0) -> np.ndarray:
    """Smooth lattice noise in [-1, 1] evaluated at ground coordinates (mm)."""
    n = int(np.ceil(extent_mm / scale_mm)) + 3
    grid = np.random.default_rng(seed).uniform(-1, 1, size=(n, n))
    gx = x / scale_mm + 1.0
    gy = y / scale_mm + 1.0
    ix = np.clip(np.floor(gx).astype(int), 0, n - 2)
    iy = np.clip(np.floor(gy).astype(int), 0, n - 2)
    fx = gx - ix
    fy = gy - iy
    sx = fx * fx * (3 - 2 * fx)
    sy = fy * fy * (3 - 2 * fy)
    a = grid[iy, ix]
    b = grid[iy, ix + 1]
    c = grid[iy + 1, ix]
    d = grid[iy + 1, ix + 1]
    return (a * (1 - sx) + b * sx) * (1 - sy) + (c * (1 - sx) + d * sx) * sy


def fbm(seed: int, scale_mm: float, x: np.ndarray, y: np.ndarray, octaves: int = 4) -> np.ndarray:
    """Multi-octave noise: patches at several scales."""
    out = np.zeros_like(x, dtype=np.float64)
    amp, total = 1.0, 0.0
    for k in range(octaves):
        out += amp * value_noise(_seed(seed, k), scale_mm / 2**k, x, y)
        total += amp
        amp *= 0.5
    return out / total


def _thresholds(spec: DemoSpec, site: str, plot: int, t: int, jitter_seed: int) -> dict[str, float]:
    """Thresholds on each taxon's field that give the target cover inside the plot."""
    g = np.arange(spec.frame_mm + 1.0, spec.frame_mm + spec.plot_mm, 2.0)
    x, y = np.meshgrid(g, g)
    free = np.ones_like(x, dtype=bool)
    factor = np.random.default_rng(_seed(spec.seed, site, plot, "factor")).uniform(0.7, 1.3, size=len(PATCH_SCALE))
    out = {}
    for k, (name, scale) in enumerate(PATCH_SCALE.items()):
        f = _field(spec, site, plot, name, scale, x, y, jitter_seed)
        target = TRENDS[site][name](t) * (factor[k] if name != "rock" else 1.0)
        shift = spec.extra.get("shift")  # a composition change at one date: {"date_index": t, "moss": +30}
        if shift and t == shift["date_index"]:
            target += shift.get(name, 0.0)
        target = min(max(target, 0.0), 60.0) / 100.0
        n_take = int(round(target * free.size))
        vals = np.sort(f[free])[::-1]
        if n_take <= 0 or vals.size == 0:
            thr = np.inf
        else:
            thr = vals[min(n_take, vals.size) - 1]
        out[name] = float(thr)
        free &= ~(f >= thr)
    return out


def composition_date(spec: DemoSpec, t: int) -> int:
    """The date index whose ground a photo of date ``t`` shows: ``t`` itself, unless ``spec.extra["hold"]``
    (``{"date_index": t, "as": s}``) says that the plots did not change from date ``s`` to date ``t`` (a
    revisit with another camera and another day's light, the same ground)."""
    hold = spec.extra.get("hold")
    return int(hold["as"]) if hold and t == int(hold["date_index"]) else t


def _field(spec, site, plot, name, scale, x, y, jitter_seed):
    base = fbm(_seed(spec.seed, site, plot, name), scale, x, y)
    # slow boundary dynamics between dates, same patches otherwise (permanent plot)
    return base + 0.08 * value_noise(_seed(jitter_seed, name), scale / 2, x, y)


def render(
    spec: DemoSpec, site: str, plot: int, t: int, cam: Camera
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Render one photo of a plot at date index ``t`` with camera ``cam``.

    Returns:
        (uint8 photo (3, H, W) before file compression, uint8 mask (H, W), true cover % per class name)
    """
    total_mm = spec.plot_mm + 2 * spec.frame_mm
    n = int(round(total_mm / cam.mm_per_px))
    rng = np.random.default_rng(_seed(spec.seed, site, plot, t, "photo"))
    # the camera is set up again each visit: a few millimetres of offset
    off = rng.uniform(-4, 4, size=2)
    c = (np.arange(n) + 0.5) * cam.mm_per_px
    x, y = np.meshgrid(c + off[0], c + off[1])
    tc = composition_date(spec, t)
    jitter = _seed(spec.seed, site, plot, tc, "jitter")
    thr = _thresholds(spec, site, plot, tc, jitter)
    by_name = {cl["name"]: cl for cl in CLASSES}
    mask = np.zeros((n, n), dtype=np.uint8)
    free = np.ones((n, n), dtype=bool)
    for name, scale in PATCH_SCALE.items():
        hit = free & (_field(spec, site, plot, name, scale, x, y, jitter) >= thr[name])
        mask[hit] = by_name[name]["id"]
        free &= ~hit
    # frame: the band outside the plot interior, in photo coordinates
    cc = (np.arange(n) + 0.5) * cam.mm_per_px
    fx, fy = np.meshgrid(cc, cc)
    lo, hi = spec.frame_mm, spec.frame_mm + spec.plot_mm
    frame = (fx < lo) | (fx >= hi) | (fy < lo) | (fy >= hi)
    mask[frame] = IGNORE

    # reflectance with per-taxon texture (in ground coordinates, so stable across cameras)
    refl = np.zeros((3, n, n))
    for cl in CLASSES:
        sel = mask == cl["id"]
        if not sel.any():
            continue
        amp, sc = cl["tex"]
        tex = fbm(_seed(spec.seed, site, plot, cl["name"], "tex"), sc, x[sel], y[sel], octaves=2)
        lin = np.array(cl["rgb"]) ** 2.2
        refl[:, sel] = lin[:, None] * np.clip(1 + amp * 2.2 * tex, 0.2, 2.0)[None]
    refl[:, frame] = (np.array(FRAME_RGB) ** 2.2)[:, None]

    # light: gradient, vignette, moving shadows with a bluish skylight tint
    ang = rng.uniform(0, 2 * np.pi)
    u = ((fx - total_mm / 2) * np.cos(ang) + (fy - total_mm / 2) * np.sin(ang)) / total_mm
    light = 1.0 + rng.uniform(0.15, 0.35) * u
    r2 = ((fx - total_mm / 2) ** 2 + (fy - total_mm / 2) ** 2) / (total_mm / 2) ** 2
    light = light * (1 - 0.12 * r2)
    sfield = value_noise(_seed(spec.seed, site, plot, t, "shadow"), 70.0, x, y)
    s = np.clip((sfield - 0.45) / 0.12, 0, 1)
    s = s * s * (3 - 2 * s)
    shadow = 1 - s[None] * np.array([0.55, 0.50, 0.40])[:, None, None]
    radiance = refl * light[None] * shadow

    # camera: exposure and white balance, noise, gamma encoding, optics blur
    v = radiance * cam.exposure * np.array(cam.wb)[:, None, None]
    v = v + rng.normal(0, cam.noise, size=v.shape) * np.sqrt(np.clip(v, 0, None) + 0.01)
    v = np.clip(v, 0, 1) ** (1 / cam.gamma)
    if cam.blur_px > 0:
        v = _gaussian_blur(v, cam.blur_px)
    photo = np.clip(np.round(v * 255), 0, 255).astype(np.uint8)

    valid = mask != IGNORE
    cover = {cl["name"]: 100.0 * float((mask[valid] == cl["id"]).mean()) for cl in CLASSES}
    return photo, mask, cover


def _gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    r = max(1, int(np.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    pad = np.pad(img, ((0, 0), (r, r), (r, r)), mode="reflect")
    tmp = sum(k[i] * pad[:, :, i : i + img.shape[2]] for i in range(2 * r + 1))
    return sum(k[i] * tmp[:, i : i + img.shape[1], :] for i in range(2 * r + 1))


def _camera_for(spec: DemoSpec, t: int) -> Camera:
    return spec.cameras[min(t, len(spec.cameras) - 1)]


def generate(out_dir: str | Path, spec: DemoSpec | None = None, sheet_path: str | Path | None = None) -> pd.DataFrame:
    """Write the demo project: photos, masks, the image sheet and the true cover.

    Args:
        out_dir: folder for ``photos/``, ``masks/``, ``truth.tsv`` and ``spec.json``.
        spec: what to generate (default: the bundled demo).
        sheet_path: where to write the image sheet (default ``out_dir/images.tsv``);
            photo and mask paths in it are relative to its folder.

    Returns:
        The image sheet as a DataFrame.
    """
    spec = spec or DemoSpec()
    out = Path(out_dir)
    sheet_path = Path(sheet_path) if sheet_path else out / "images.tsv"
    (out / "photos").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    truth = []
    rows = sheet_rows(spec, out, sheet_path)
    for r in rows:
        t = spec.dates.index(r["date"])
        cam = _camera_for(spec, t)
        photo, mask, cover = render(spec, r["site"], int(r["plot"][1:]), t, cam)
        iid = r["image_id"]
        write_image_file(out / "photos" / f"{iid}.{cam.fmt}", photo, quality=cam.jpeg_quality)
        write_image_file(out / "masks" / f"{iid}.png", mask)
        for name, c in cover.items():
            truth.append({"image_id": iid, "site": r["site"], "plot": r["plot"], "date": r["date"], "class": name, "cover_pct": round(c, 4)})
    sheet = pd.DataFrame(rows)
    _write_if_changed(sheet_path, sheet.to_csv(sep="\t", index=False))
    _write_if_changed(out / "truth.tsv", pd.DataFrame(truth).to_csv(sep="\t", index=False))
    _write_if_changed(out / "spec.json", json.dumps({"digest": spec.digest(), **asdict(spec)}, indent=2, default=str) + "\n")
    return sheet


def sheet_rows(spec: DemoSpec, out_dir: str | Path, sheet_path: str | Path) -> list[dict]:
    """The demo's image sheet rows (no rendering): first date train/val by plot, later dates test."""
    out, sheet_path = Path(out_dir), Path(sheet_path)
    rows = []
    for site in spec.sites:
        for p in range(1, spec.plots_per_site + 1):
            plot = f"P{p}"
            for t, date in enumerate(spec.dates):
                cam = _camera_for(spec, t)
                iid = f"{site}_{plot}_{date}"
                split = ("val" if p == spec.val_plot else "train") if t == 0 else "test"
                rows.append(
                    {
                        "image_id": iid,
                        "site": site,
                        "plot": plot,
                        "date": date,
                        "camera": cam.name,
                        "image": Path(_relpath(out / "photos" / f"{iid}.{cam.fmt}", sheet_path.parent)).as_posix(),
                        "mask": Path(_relpath(out / "masks" / f"{iid}.png", sheet_path.parent)).as_posix(),
                        "split": split,
                        "mm_per_px": f"{cam.mm_per_px:g}",
                        "reference": reference_box(spec, cam),
                        "area": area_box(spec, cam),
                    }
                )
    return rows


def area_box(spec: DemoSpec, cam: Camera) -> str:
    """The plot inside the white frame, in photo pixels: the pixels whose cover is counted
    (exactly the mask's labelled pixels, see :func:`render`)."""
    n = int(round((spec.plot_mm + 2 * spec.frame_mm) / cam.mm_per_px))
    cc = (np.arange(n) + 0.5) * cam.mm_per_px
    inside = np.flatnonzero((cc >= spec.frame_mm) & (cc < spec.frame_mm + spec.plot_mm))
    lo, hi = int(inside[0]), int(inside[-1]) + 1
    return f"{lo},{lo},{hi},{hi}"


def reference_box(spec: DemoSpec, cam: Camera) -> str:
    """A box on the white plot frame (top band, middle half): the demo's neutral reference target."""
    n = int(round((spec.plot_mm + 2 * spec.frame_mm) / cam.mm_per_px))
    f = spec.frame_mm / cam.mm_per_px
    return f"{int(n * 0.25)},{int(f * 0.2)},{int(n * 0.75)},{max(int(f * 0.2) + 1, int(f * 0.8))}"


def _relpath(p: Path, start: Path) -> str:
    import os

    return os.path.relpath(os.path.abspath(p), os.path.abspath(start))


def _write_if_changed(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text() == text:
        return
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as f:
        f.write(text)
    Path(f.name).replace(path)


def is_current(out_dir: str | Path, spec: DemoSpec | None = None) -> bool:
    """True when ``out_dir`` already holds the demo for ``spec`` (so it need not be written again)."""
    spec = spec or DemoSpec()
    f = Path(out_dir) / "spec.json"
    if not f.exists():
        return False
    try:
        return json.loads(f.read_text()).get("digest") == spec.digest()
    except json.JSONDecodeError:
        return False


def tiny_spec(seed: int = 7) -> DemoSpec:
    """A very small project for tests: 2 sites x 2 plots x 2 dates, ~100 px photos."""
    return DemoSpec(
        seed=seed,
        plots_per_site=2,
        dates=DEFAULT_DATES[:2],
        plot_mm=96.0,
        frame_mm=6.0,
        val_plot=2,
    )


def demo_classes() -> list[dict]:
    """The demo's class map as config entries ``{id, name, color}``."""
    return [{"id": c["id"], "name": c["name"], "color": c["color"]} for c in CLASSES]
