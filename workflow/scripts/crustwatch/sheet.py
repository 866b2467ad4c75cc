"""The image sheet: loading, validation with row-level messages, and the by-plot split."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError, InputErrors

REQUIRED = ["image_id", "site", "plot", "date", "image"]
OPTIONAL = ["camera", "mask", "points", "split", "mm_per_px", "reference", "area"]
SPLITS = ("train", "val", "test")
ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]+$")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DEFAULT_CAMERA = "default"
#: longest image_id: the longest per-photo file name (``<id>_uncertainty.tif``) stays far below the
#: 255 bytes file systems allow
MAX_ID_LENGTH = 120
#: suffixes of the per-photo files that share one folder (crustwatch.paths.photo)
SHARED_FOLDER_NAMES = ("{}.tif", "{}_seeds.tif", "{}_uncertainty.tif", "{}_probs.tif", "{}_preview.png",
                       "{}.tsv")


def _line(i: int) -> int:
    """Sheet line of the i-th data row (the header is line 1)."""
    return i + 2


def read_sheet(path: str | Path) -> pd.DataFrame:
    """Read a TSV image sheet as strings, refusing files that are not UTF-8 or lack columns."""
    path = Path(path)
    if not path.exists():
        raise InputError("image sheet does not exist; set `images:` in the config", str(path))
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InputError(
            f"image sheet is not UTF-8 (byte {e.start}: {raw[e.start:e.start + 1]!r}); save it as UTF-8 text "
            "(in a spreadsheet: 'Save as', 'Unicode (UTF-8)', tab-separated)", str(path), row=line
        ) from None
    if not raw.strip():
        raise InputError("image sheet is empty; it needs a header line and one line per photo", str(path))
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment=None)
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        hint = ""
        if len(df.columns) == 1 and ("," in df.columns[0] or ";" in df.columns[0]):
            hint = "; it looks comma- or semicolon-separated: save it with tabs between columns"
        raise InputError(
            f"image sheet lacks required column(s) {missing}; it has {list(df.columns)} "
            f"(tab-separated, header on line 1){hint}",
            str(path),
            row=1,
        )
    for c in OPTIONAL:
        if c not in df.columns:
            df[c] = ""
    for c in df.columns:
        df[c] = df[c].astype(str).str.strip()
    return df


def _resolve(base: Path, value: str) -> str:
    """A sheet path relative to the sheet's folder, written plainly (``config/../data/x`` -> ``data/x``)."""
    p = Path(value)
    return os.path.normpath(p if p.is_absolute() else (base / p))


def load_sheet(
    path: str | Path,
    check_files: bool = True,
) -> pd.DataFrame:
    """Load and check an image sheet.

    Every problem found is reported at once, each naming the sheet line, the
    ``image_id`` and the file. Checks: required columns, unique and path-safe
    ``image_id``, real ``YYYY-MM-DD`` dates, known ``split`` values, positive
    ``mm_per_px``, labelled training rows, and (``check_files``) that every photo
    and mask exists.

    Args:
        path: the TSV sheet. Relative ``image``/``mask`` paths are relative to its folder.
        check_files: also check that the files exist (default True).

    Returns:
        The sheet as a DataFrame indexed by ``image_id``, with resolved ``image_path``
        and ``mask_path`` (the label: the mask, or the ``points`` file; empty when unlabelled),
        ``label_kind`` (``mask``, ``points`` or empty), ``camera`` filled with ``default``
        where blank, ``mm_per_px`` as float (NaN when blank) and ``line`` (sheet line).
    """
    path = Path(path)
    df = read_sheet(path)
    base = path.parent
    errors: list[InputError] = []
    seen: dict[str, int] = {}
    image_paths, mask_paths, kinds, gsd = [], [], [], []
    for i, r in df.iterrows():
        line = _line(i)
        iid = r["image_id"]
        err = lambda msg, f=None: errors.append(InputError(msg, f, line, iid or None))  # noqa: E731
        for c in REQUIRED:
            if r[c] == "":
                err(f"required column '{c}' is empty")
        if iid and not ID_PATTERN.match(iid):
            err("image_id may hold only letters, digits, '.', '_' and '-' (it is used in file names)")
        elif iid.startswith("."):
            err(f"image_id '{iid}' starts with '.': it would name a hidden file or a parent folder; "
                "start it with a letter or digit")
        if len(iid) > MAX_ID_LENGTH:
            err(f"image_id is {len(iid)} characters long; keep it to {MAX_ID_LENGTH} (it is used in file names)")
        if iid in seen:
            err(f"duplicate image_id (first used on sheet line {seen[iid]})")
        elif iid:
            seen[iid] = line
        d = r["date"]
        if d:
            ok = bool(DATE_PATTERN.match(d))
            if ok:
                try:
                    dt.date.fromisoformat(d)
                except ValueError:
                    ok = False
            if not ok:
                err(f"date '{d}' is not a real date in YYYY-MM-DD form")
        if r["split"] not in ("",) + SPLITS:
            err(f"split '{r['split']}' must be one of {list(SPLITS)} or blank")
        g = r["mm_per_px"]
        val = np.nan
        if g != "":
            try:
                val = float(g)
                if not np.isfinite(val) or val <= 0:
                    raise ValueError
            except ValueError:
                err(f"mm_per_px '{g}' must be a positive number")
                val = np.nan
        gsd.append(val)
        for col in ("reference", "area"):
            if r[col]:
                try:
                    parse_box(r[col])
                except ValueError as e:
                    err(f"{col} '{r[col]}': {e}")
        img = _resolve(base, r["image"]) if r["image"] else ""
        msk = _resolve(base, r["mask"]) if r["mask"] else ""
        pts = _resolve(base, r["points"]) if r["points"] else ""
        if msk and pts:
            err("row gives both a mask and points; give one of them (the mask, or the points' CSV)")
        image_paths.append(img)
        # a points file is the row's label as a mask is (crustwatch.points makes it a sparse mask)
        mask_paths.append(msk or pts)
        kinds.append("mask" if msk else "points" if pts else "")
        if r["split"] in ("train", "val", "test") and not (msk or pts):
            err(f"row has split '{r['split']}' but no mask and no points; labelled splits need one")
        if check_files:
            if img and not Path(img).is_file():
                err("photo file does not exist", img)
            if msk and not Path(msk).is_file():
                err("mask file does not exist", msk)
            if pts and not Path(pts).is_file():
                err("points file does not exist", pts)
    # one points file may hold many photos' points (a CoralNet export): only masks are one row's own
    errors += _collisions(df, image_paths, [m if k == "mask" else "" for m, k in zip(mask_paths, kinds)])
    if errors:
        raise InputErrors(errors, f"image sheet '{path}'", _missing_files_hint(path, df, errors))
    df["image_path"] = image_paths
    df["mask_path"] = mask_paths
    df["label_kind"] = kinds
    df["mm_per_px"] = gsd
    df["camera"] = df["camera"].where(df["camera"] != "", DEFAULT_CAMERA)
    df["line"] = [_line(i) for i in range(len(df))]
    return df.set_index("image_id", drop=False)


#: the bundled demo's sheet, relative to the workflow (its photos are made by `make demo`)
DEMO_SHEET = Path(__file__).resolve().parents[3] / "config" / "images.tsv"


def _missing_files_hint(path: Path, df: pd.DataFrame, errors: list[InputError]) -> str:
    """What to do about missing files: the demo's photos not made yet (no --configfile given), or
    paths written relative to another folder than the sheet's."""
    missing = [e for e in errors if e.problem.endswith("does not exist")]
    if not missing:
        return ""
    if path.resolve() == DEMO_SHEET and len(missing) > len(errors) // 2:
        return ("this is the bundled demo's sheet (config/images.tsv), and its photos are not made yet: run "
                "`make demo` (or `crustwatch demo --out data/demo --sheet config/images.tsv`). For your own "
                "project give its config: snakemake --cores N --configfile my.yaml")
    for e in missing:
        value = df.loc[int(e.row) - 2, "image" if "photo" in e.problem else "mask"] if e.row else ""
        if value and not Path(value).is_absolute() and Path(value).exists():
            return (f"paths in the sheet are relative to the sheet's own folder '{path.parent}', but "
                    f"'{value}' exists relative to the working directory '{Path.cwd()}': write the paths "
                    "relative to the sheet's folder (or absolute), or move the sheet")
    return ""


def _collisions(df: pd.DataFrame, image_paths: list[str], mask_paths: list[str]) -> list[InputError]:
    """Rows whose outputs would share a file, and files listed twice.

    * per-photo outputs share folders (``results/predictions/<id>.tif``, ``<id>_seeds.tif``, ...): an
      id that is another's plus ``_seeds`` would overwrite its seed maps; ids that differ only in
      letter case are one file on macOS and Windows;
    * one photo file under two rows (or two ids) would be trained on and scored as if two photos;
      a file that is one row's photo and another's mask is a copy-and-paste slip.
    """
    errors: list[InputError] = []
    owner: dict[str, tuple[int, str]] = {}
    for i, iid in enumerate(df["image_id"]):
        if not iid:
            continue
        for pattern in SHARED_FOLDER_NAMES:
            name = pattern.format(iid).lower()
            if name in owner and owner[name][1] != iid:
                line, other = owner[name]
                errors.append(InputError(
                    f"image_id '{iid}' and '{other}' (sheet line {line}) would write the same file "
                    f"results/predictions/{pattern.format(iid)} (names are compared ignoring case, as macOS and "
                    "Windows do); rename one", None, _line(i), iid))
                break
            owner.setdefault(name, (_line(i), iid))
    used: dict[str, tuple[int, str, str]] = {}
    for i, (iid, img, msk) in enumerate(zip(df["image_id"], image_paths, mask_paths)):
        for kind, f in (("photo", img), ("mask", msk)):
            if not f:
                continue
            key = os.path.realpath(f)
            if key in used:
                line, other, other_kind = used[key]
                errors.append(InputError(
                    f"this row's {kind} is also the {other_kind} of sheet line {line} (image_id '{other}'); "
                    f"each photo and mask file belongs to one row", f, _line(i), iid))
            else:
                used[key] = (_line(i), iid, kind)
    return errors


def parse_box(text: str) -> tuple[int, int, int, int]:
    """A reference box ``x0,y0,x1,y1`` in the photo's own pixels (x1, y1 excluded)."""
    parts = [t.strip() for t in str(text).replace(" ", ",").split(",") if t.strip()]
    if len(parts) != 4 or not all(t.isdigit() for t in parts):
        raise ValueError("give the reference target's box as four whole pixel numbers x0,y0,x1,y1")
    x0, y0, x1, y1 = map(int, parts)
    if x1 <= x0 or y1 <= y0:
        raise ValueError("the box needs x0 < x1 and y0 < y1")
    return x0, y0, x1, y1


def _plot_rank(seed: int, site: str, plot: str) -> str:
    return hashlib.sha256(f"{seed}\x1f{site}\x1f{plot}".encode()).hexdigest()


def assign_splits(
    df: pd.DataFrame,
    seed: int = 42,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
) -> pd.DataFrame:
    """Decide each row's split, by plot, never by tile.

    If any row of the sheet has a ``split``, the sheet's splits are used as given
    (blank rows are predicted only). Otherwise every labelled row (with a mask) is
    assigned by its (site, plot): plots are ordered by a seeded hash, so the
    assignment is stable when rows or plots are added, and all photos of a plot
    share a split. At least one plot is kept for training and, with two or more
    plots, one for validation.

    Returns:
        DataFrame with ``image_id site plot date camera split source``, where split
        is ``train``/``val``/``test``/``predict`` and source is ``sheet`` or ``auto``.
    """
    out = df[["image_id", "site", "plot", "date", "camera"]].copy()
    if (df["split"] != "").any():
        out["split"] = df["split"].where(df["split"] != "", "predict")
        out["source"] = "sheet"
        return out.reset_index(drop=True)
    labelled = df[df["mask_path"] != ""]
    plots = sorted({(s, p) for s, p in zip(labelled["site"], labelled["plot"])})
    plots.sort(key=lambda sp: _plot_rank(seed, *sp))
    n = len(plots)
    n_val = int(round(n * val_fraction))
    n_test = int(round(n * test_fraction))
    if n >= 2 and val_fraction > 0:
        n_val = max(1, n_val)
    if n >= 3 and test_fraction > 0:
        n_test = max(1, n_test)
    while n_val + n_test > max(n - 1, 0):
        if n_test > 0 and n_test >= n_val:
            n_test -= 1
        else:
            n_val -= 1
    which = {}
    for k, sp in enumerate(plots):
        which[sp] = "test" if k < n_test else ("val" if k < n_test + n_val else "train")
    out["split"] = [
        which.get((s, p), "train") if m else "predict"
        for s, p, m in zip(df["site"], df["plot"], df["mask_path"] != "")
    ]
    out["source"] = "auto"
    return out.reset_index(drop=True)


def path_key(name: str, fallback: str = "key") -> str:
    """A path-safe key for a free-text name (the name itself when it is safe; else a
    slug and a hash of the name, so distinct names never share a key)."""
    if ID_PATTERN.match(name):
        return name
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or fallback
    return f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def camera_key(camera: str) -> str:
    """A path-safe key for a camera name."""
    return path_key(camera, "camera")
