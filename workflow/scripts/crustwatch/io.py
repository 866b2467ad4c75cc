"""Raster input/output with rasterio: canonical photos and masks, atomic writes, checksums."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

from .errors import InputError
from .files import atomic_path

# PNG/JPEG have no georeference; rasterio warns about that on every open.
warnings.filterwarnings("ignore", category=NotGeoreferencedWarning)
# Never write .aux.xml side files next to users' photos.
os.environ.setdefault("GDAL_PAM_ENABLED", "NO")


def _open(path: str | Path, what: str, row: int | None, image_id: str | None):
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} file does not exist", str(path), row, image_id)
    if p.stat().st_size == 0:
        raise InputError(f"{what} file is empty (0 bytes)", str(path), row, image_id)
    try:
        return rasterio.open(p)
    except RasterioIOError as e:
        raise InputError(
            f"{what} file cannot be read as a raster ({e}); give a PNG, JPEG or GeoTIFF",
            str(path),
            row,
            image_id,
        ) from None


#: JPEGs are also decoded by Pillow, which refuses a truncated one: GDAL often reads it without an
#: error (the missing rows come back grey), or refuses even harmless libjpeg warnings when told
#: to error on them; PNGs are checked by their chunk checksums (:func:`check_png`)
PIL_DECODED = (".jpg", ".jpeg")

#: EXIF orientation -> how to turn the stored pixels (bands, H, W) into the photo as viewers show it
EXIF_TURNS = {
    2: lambda a: a[..., ::-1],
    3: lambda a: a[..., ::-1, ::-1],
    4: lambda a: a[..., ::-1, :],
    5: lambda a: np.swapaxes(a, -1, -2),
    6: lambda a: np.rot90(a, k=-1, axes=(-2, -1)),
    7: lambda a: np.swapaxes(a, -1, -2)[..., ::-1, ::-1],
    8: lambda a: np.rot90(a, k=1, axes=(-2, -1)),
}


def exif_orientation(ds) -> int:
    """The EXIF orientation tag of an open dataset (1: as stored)."""
    try:
        value = int(str(ds.tags().get("EXIF_Orientation", "1")).strip() or 1)
    except ValueError:
        return 1
    return value if value in EXIF_TURNS else 1


def _check_decodes(path: str | Path, what: str, row, image_id) -> None:
    """Refuse a truncated or corrupt PNG (:func:`check_png`) or JPEG (decoded whole by Pillow)."""
    check_png(path, what, row, image_id)
    if Path(path).suffix.lower() not in PIL_DECODED:
        return
    from PIL import Image

    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # CrustWatch's own pixel limit applies
    try:
        with Image.open(path) as im:
            im.load()
    except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError... for broken files
        raise InputError(f"{what} file is truncated or corrupt ({e}); copy it again from the camera",
                         str(path), row, image_id) from None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def raster_orientation(path: str | Path) -> int:
    """The EXIF orientation of a raster file (1 when it has none)."""
    with rasterio.open(path) as ds:
        return exif_orientation(ds)


def check_png(path: str | Path, what: str = "photo", row=None, image_id=None) -> None:
    """A cheap integrity check of a PNG: every chunk's CRC and the end marker (no decoding)."""
    if Path(path).suffix.lower() != ".png":
        return
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()
    except Exception as e:
        raise InputError(f"{what} file is truncated or corrupt ({e}); copy it again", str(path), row,
                         image_id) from None


def _images_in(ds) -> int:
    """How many images a file holds (pages of a TIFF, frames of a GIF): GDAL shows the first."""
    try:
        return max(1, len(ds.subdatasets))
    except Exception:  # drivers without subdatasets
        return 1


def _one_image(ds, path, what: str, row, image_id) -> None:
    n = _images_in(ds)
    if n > 1:
        raise InputError(f"{what} file holds {n} images (pages or frames); only the first would be read. "
                         "Give one image per file (save each page or frame on its own)", str(path), row, image_id)


def is_palette(ds) -> bool:
    """An indexed-colour raster (palette PNG, GIF): its values are indices into a colour table."""
    from rasterio.enums import ColorInterp

    return ds.count == 1 and ds.colorinterp[0] == ColorInterp.palette


def raster_shape(path: str | Path, what: str = "photo", row=None, image_id=None) -> tuple[int, int, int]:
    """Return (bands, height, width) from the header only, as viewers show the photo (EXIF orientation).
    A palette photo counts as 3 bands (it is read through its colour table); a file of several
    images is refused."""
    with _open(path, what, row, image_id) as ds:
        _one_image(ds, path, what, row, image_id)
        if what == "photo" and is_palette(ds):
            return 3, *raster_shape_hw(ds)
        turned = exif_orientation(ds) in (5, 6, 7, 8)
        return ds.count, (ds.width if turned else ds.height), (ds.height if turned else ds.width)


def georeferenced_mm_per_px(path: str | Path) -> float | None:
    """The ground size of a pixel, in mm, that a GeoTIFF's georeference states (a projected CRS in
    metres or feet, a north-up transform); None for photos without one (PNG, JPEG) or in degrees."""
    with rasterio.open(path) as ds:
        crs, t = ds.crs, ds.transform
        if crs is None or not crs.is_projected or t.is_identity:
            return None
        units = (crs.linear_units or "").lower()
        per_unit = {"metre": 1000.0, "meter": 1000.0, "m": 1000.0, "foot": 304.8, "us survey foot": 304.8006}
        if units not in per_unit:
            return None
        return float(np.sqrt(abs(t.a * t.e - t.b * t.d))) * per_unit[units]


def raster_shape_hw(ds) -> tuple[int, int]:
    turned = exif_orientation(ds) in (5, 6, 7, 8)
    return (ds.width if turned else ds.height), (ds.height if turned else ds.width)


def read_photo(path: str | Path, row: int | None = None, image_id: str | None = None,
               max_megapixels: float | None = None) -> tuple[np.ndarray, dict]:
    """Read a photo as canonical uint8 RGB, shape (3, H, W), turned as its EXIF orientation says.

    Conversions (docs/input.md): 1 band (grey) -> replicated to
    RGB; 2 bands (grey + alpha) -> grey replicated, alpha dropped; 4 bands (RGBA)
    -> alpha dropped; CMYK JPEG -> RGB (GDAL); uint16 -> x 255/65535; float32/64
    with every value in 0..1 -> x 255; EXIF orientation 2-8 -> turned upright.
    Refused with a message: other band counts and data types, NaN or infinite
    values, floats outside 0..1, truncated or corrupt files, photos over
    ``max_megapixels``.

    Returns:
        (array, geo) where geo holds ``crs`` (WKT or None) and ``transform`` (6 floats).
    """
    with _open(path, "photo", row, image_id) as ds:
        if max_megapixels and ds.width * ds.height > max_megapixels * 1e6:
            raise InputError(
                f"photo is {ds.width}x{ds.height} = {ds.width * ds.height / 1e6:.1f} megapixels, over the limit "
                f"ingest.max_megapixels = {max_megapixels:g}; raise the limit if the photo is right",
                str(path), row, image_id)
        _one_image(ds, path, "photo", row, image_id)
        try:
            arr = ds.read()
        except RasterioIOError as e:
            raise InputError(f"photo is truncated or corrupt ({e})", str(path), row, image_id) from None
        if is_palette(ds):  # indices into a colour table, not grey levels
            table = np.zeros((256, 3), dtype=np.uint8)
            for k, rgba in ds.colormap(1).items():
                if 0 <= k < 256:
                    table[k] = rgba[:3]
            arr = np.moveaxis(table[arr[0]], -1, 0)
            logging.getLogger("crustwatch").warning(
                "photo %s (%s) is indexed-colour (a palette PNG or GIF: at most 256 colours); read through its "
                "colour table as RGB. Save photos as JPEG, PNG (RGB) or GeoTIFF to keep all their colours",
                path, image_id or "")
        orientation = exif_orientation(ds)
        geo = {
            "crs": ds.crs.to_wkt() if ds.crs else None,
            "transform": list(ds.transform)[:6],
        }
    _check_decodes(path, "photo", row, image_id)
    bands = arr.shape[0]
    if bands == 1:
        arr = np.repeat(arr, 3, axis=0)
    elif bands == 2:
        arr = np.repeat(arr[:1], 3, axis=0)
    elif bands == 4:
        arr = arr[:3]
    elif bands != 3:
        raise InputError(
            f"photo has {bands} bands; expected 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA)",
            str(path), row, image_id,
        )
    if arr.dtype == np.uint8:
        pass
    elif arr.dtype == np.uint16:
        arr = (arr.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    elif arr.dtype in (np.float32, np.float64):
        bad = int((~np.isfinite(arr)).sum())
        if bad:
            raise InputError(f"photo holds {bad} NaN or infinite value(s); fill or mask them before", str(path),
                             row, image_id)
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0 or hi > 1:
            raise InputError(f"photo has floating-point values from {lo:g} to {hi:g}; expected 0..1 "
                             "(or give 8- or 16-bit integers)", str(path), row, image_id)
        arr = np.rint(arr * 255).astype(np.uint8)
    else:
        raise InputError(
            f"photo has data type {arr.dtype}; expected 8- or 16-bit unsigned integers or floats in 0..1",
            str(path),
            row,
            image_id,
        )
    if orientation != 1:
        arr = EXIF_TURNS[orientation](arr)
        geo = {"crs": None, "transform": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]}
    return np.ascontiguousarray(arr), geo


def read_mask(
    path: str | Path,
    row: int | None = None,
    image_id: str | None = None,
) -> np.ndarray:
    """Read a single-band class-index mask as uint8 (H, W). A palette mask (a PNG whose colour
    table shows the classes, as annotation tools export) is read as its indices: the class ids."""
    with _open(path, "mask", row, image_id) as ds:
        _one_image(ds, path, "mask", row, image_id)
        if ds.count != 1:
            raise InputError(
                f"mask has {ds.count} bands; expected a single band of class ids", str(path), row, image_id
            )
        try:
            arr = ds.read(1)
        except RasterioIOError as e:
            raise InputError(f"mask is truncated or corrupt ({e})", str(path), row, image_id) from None
        orientation = exif_orientation(ds)
    _check_decodes(path, "mask", row, image_id)
    if orientation != 1:  # a mask with its own EXIF orientation is turned like a photo
        arr = np.ascontiguousarray(EXIF_TURNS[orientation](arr))
    if not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"mask has data type {arr.dtype}; expected integers", str(path), row, image_id)
    if arr.size and (arr.min() < 0 or arr.max() > 255):
        raise InputError("mask values must lie in 0..255", str(path), row, image_id)
    return arr.astype(np.uint8)


def check_mask_values(
    mask: np.ndarray,
    class_ids: list[int],
    ignore_index: int,
    path: str | Path | None = None,
    row: int | None = None,
    image_id: str | None = None,
) -> None:
    """Refuse a mask holding a value that is neither a class id nor ``ignore_index``."""
    present = np.unique(mask)
    allowed = set(int(c) for c in class_ids) | {int(ignore_index)}
    bad = [int(v) for v in present if int(v) not in allowed]
    if bad:
        raise InputError(
            f"mask holds value(s) {bad} that are neither a class id {sorted(class_ids)} "
            f"nor ignore_index {ignore_index}",
            str(path) if path else None,
            row,
            image_id,
        )


#: GDAL block cache (MB) while writing rasters
GDAL_CACHE_MB = 256


def write_raster(
    path: str | Path,
    arr: np.ndarray,
    geo: dict | None = None,
    tags: dict | None = None,
    nodata: float | None = None,
    band_descriptions: list[str] | None = None,
    cog: str | None = None,
    colormap: dict[int, tuple[int, int, int]] | None = None,
) -> None:
    """Write a (bands, H, W) or (H, W) array as a compressed, tiled GeoTIFF, atomically.

    ``cog``: write a cloud-optimized GeoTIFF instead, with overviews made by this
    resampling (``nearest`` for class maps, ``average`` for continuous bands), so
    GIS software opens large photos' maps at once. ``colormap``: a colour table
    (value -> RGB) for a single uint8 band, shown by QGIS as the class colours.
    """
    if arr.ndim == 2:
        arr = arr[None]
    count, height, width = arr.shape
    profile = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": count,
        "dtype": arr.dtype.name,
        "compress": "deflate",
    }
    if width >= 256 and height >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    if geo:
        if geo.get("crs"):
            profile["crs"] = rasterio.crs.CRS.from_wkt(geo["crs"])
        if geo.get("transform"):
            profile["transform"] = rasterio.Affine(*geo["transform"])
    if nodata is not None:
        profile["nodata"] = nodata
    if colormap:  # a creation option: GDAL cannot change the photometric tag once data is written
        profile["photometric"] = "palette"
    # GDAL's block cache defaults to 5% of RAM; a bounded one keeps large photos' writes small
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), atomic_path(path) as tmp:
        plain = Path(str(tmp) + ".gtiff.tmp") if cog else tmp
        try:
            with rasterio.open(plain, "w", **profile) as ds:
                if colormap:
                    ds.write_colormap(1, {int(k): tuple(v) + (255,) for k, v in colormap.items()})
                ds.write(arr)
                if tags:
                    ds.update_tags(**{k: str(v) for k, v in tags.items()})
                if band_descriptions:
                    for i, d in enumerate(band_descriptions, start=1):
                        ds.set_band_description(i, d)
            if cog:
                from rasterio import shutil as rio_shutil

                rio_shutil.copy(plain, tmp, driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=256,
                                     OVERVIEW_RESAMPLING=cog.upper(), OVERVIEWS="AUTO")
        finally:
            if cog:
                plain.unlink(missing_ok=True)


def read_raster(path: str | Path) -> tuple[np.ndarray, dict]:
    """Read a raster this workflow wrote: (bands, H, W) array and its geo/tags."""
    with rasterio.open(path) as ds:
        arr = ds.read()
        meta = {
            "crs": ds.crs.to_wkt() if ds.crs else None,
            "transform": list(ds.transform)[:6],
            "tags": ds.tags(),
        }
    return arr, meta


class RasterRows:
    """Row bands of a raster file read on demand (windowed), for photos too large to hold whole.

    ``read(y0, y1)`` gives float32 (bands, y1 - y0, W). Use as a context manager.
    """

    def __init__(self, path: str | Path):
        self.path = str(path)
        self.env = rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB)
        self.env.__enter__()
        self.ds = rasterio.open(self.path)
        self.count, self.height, self.width = self.ds.count, self.ds.height, self.ds.width

    def read(self, y0: int, y1: int) -> np.ndarray:
        from rasterio.windows import Window

        return self.ds.read(window=Window(0, y0, self.width, y1 - y0), out_dtype="float32")

    def close(self) -> None:
        self.ds.close()
        self.env.__exit__(None, None, None)

    def __enter__(self) -> "RasterRows":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_raster_tags(path: str | Path) -> dict[str, str]:
    """The dataset-level tags of a raster, without reading its pixels."""
    with rasterio.open(path) as ds:
        return ds.tags()


def write_image_file(path: str | Path, arr: np.ndarray, quality: int | None = None) -> None:
    """Write a (bands, H, W) uint8 array as PNG, JPEG or GeoTIFF, chosen by suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    driver = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "GTiff", ".tiff": "GTiff"}[suffix]
    if arr.ndim == 2:
        arr = arr[None]
    kw: dict[str, Any] = {}
    if driver == "JPEG":
        kw["quality"] = int(quality or 90)
    if driver == "GTiff":
        kw["compress"] = "deflate"
    with atomic_path(path) as tmp:
        with rasterio.open(
            tmp, "w", driver=driver, width=arr.shape[2], height=arr.shape[1], count=arr.shape[0],
            dtype=arr.dtype.name, **kw
        ) as ds:
            ds.write(arr)
