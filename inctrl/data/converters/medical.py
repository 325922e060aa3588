"""The two medical datasets: BrainMRI (tumour) and HeadCT (hemorrhage)."""

from __future__ import annotations

import csv
import os
from functools import partial
from pathlib import Path

from ..images import list_images
from ._common import (
    Item,
    check_raw,
    load_pixels,
    protocol_plan,
    require,
    staged_output,
    write_plan,
)

__all__ = ["convert_brainmri", "convert_headct"]


def _brainmri_root(raw: Path) -> Path:
    """The folder holding ``no/`` and ``yes/``: ``raw`` or ``raw/brain_tumor_dataset``."""
    for candidate in (raw, raw / "brain_tumor_dataset"):
        if (candidate / "no").is_dir() and (candidate / "yes").is_dir():
            return candidate
    return require(raw / "no", "BrainMRI", "the folders no/ (normal) and yes/ (tumour)")


def convert_brainmri(
    raw: str | os.PathLike,
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    show_progress: bool = True,
) -> Path:
    """Convert the "Brain MRI Images for Brain Tumor Detection" set (category ``brainmri``).

    Expects ``raw/no/*`` (normal) and ``raw/yes/*`` (tumour); a nested
    ``raw/brain_tumor_dataset/{no,yes}`` is accepted too. Normals split 75/25
    (random_state=42), every tumour to ``test/tumor``. The raw files mix JPEG/PNG and
    modes, so every image is re-encoded as PNG (gray stays gray, anything else RGB).

    Args:
        raw: the extracted download.
        out: the output root, created (or, with ``overwrite``, replaced) as a whole at the end.
        overwrite: replace a non-empty ``out``.
        show_progress: show a progress bar.

    Returns:
        ``out`` as a Path.

    Raises:
        FileNotFoundError: ``raw`` or its ``no/`` and ``yes/`` folders are missing.
        FileExistsError: ``out`` is not empty and ``overwrite`` is False.
        ValueError: ``out`` and ``raw`` overlap.
    """
    raw = check_raw(raw, "BrainMRI")
    root = _brainmri_root(raw)
    normals = [Item(p.stem, "good", partial(load_pixels, p)) for p in list_images(root / "no")]
    anomalies = [Item(p.stem, "tumor", partial(load_pixels, p)) for p in list_images(root / "yes")]
    _dedupe(normals)
    _dedupe(anomalies)
    with staged_output(out, raw, overwrite) as tmp:
        write_plan(tmp / "brainmri", protocol_plan(normals, anomalies), "brainmri", show_progress)
    return Path(out)


def _dedupe(items: list[Item]) -> None:
    """Make keys unique (``Y1.jpg`` and ``Y1.JPG`` both exist in some copies)."""
    seen: dict[str, int] = {}
    for item in items:
        n = seen.get(item.key.lower(), 0)
        seen[item.key.lower()] = n + 1
        if n:
            item.key = f"{item.key}_{n}"


def _headct_images(raw: Path) -> Path:
    """The folder of the HeadCT PNGs: ``raw/head_ct/head_ct`` or ``raw/head_ct``."""
    for candidate in (raw / "head_ct" / "head_ct", raw / "head_ct"):
        if candidate.is_dir() and any(candidate.glob("*.png")):
            return candidate
    return require(raw / "head_ct", "HeadCT", "the image folder head_ct/ (000.png ...)")


def convert_headct(
    raw: str | os.PathLike,
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    show_progress: bool = True,
) -> Path:
    """Convert the "Head CT - hemorrhage" set (category ``headct``).

    Expects ``raw/labels.csv`` (columns ``id, hemorrhage``; id n is ``head_ct/00n.png``)
    and ``raw/head_ct/*.png`` (a doubled ``head_ct/head_ct`` is accepted). hemorrhage 0 ->
    normal (split 75/25, random_state=42: 75 train / 25 test of 100), 1 ->
    ``test/hemorrhage``. The PNGs are copied byte for byte.

    Args:
        raw: the extracted download.
        out: the output root, created (or, with ``overwrite``, replaced) as a whole at the end.
        overwrite: replace a non-empty ``out``.
        show_progress: show a progress bar.

    Returns:
        ``out`` as a Path.

    Raises:
        FileNotFoundError: ``raw``, ``labels.csv``, the image folder or an id's image is missing.
        ValueError: ``labels.csv`` lacks a column, has a bad row or a label other than 0/1, or
            ``out`` and ``raw`` overlap.
        FileExistsError: ``out`` is not empty and ``overwrite`` is False.
    """
    raw = check_raw(raw, "HeadCT")
    labels = require(raw / "labels.csv", "HeadCT", "labels.csv (columns id, hemorrhage)")
    images = _headct_images(raw)
    by_id = {}
    for p in list_images(images):
        if p.stem.isdigit():
            by_id[int(p.stem)] = p
    with open(labels, newline="") as fh:
        reader = csv.DictReader(fh)
        rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in reader]
    if not rows or not {"id", "hemorrhage"} <= set(rows[0]):
        raise ValueError(f"{labels}: expected columns id, hemorrhage")
    normals, anomalies = [], []
    for lineno, row in enumerate(rows, start=2):
        try:
            ident, label = int(row["id"]), int(float(row["hemorrhage"]))
        except ValueError as err:
            raise ValueError(f"{labels}:{lineno}: bad row {row}") from err
        if ident not in by_id:
            raise FileNotFoundError(
                f"{labels}:{lineno}: no image for id {ident} in {images} (expected {ident:03d}.png)"
            )
        src = by_id[ident]
        if label not in (0, 1):
            raise ValueError(f"{labels}:{lineno}: hemorrhage must be 0 or 1, got {label}")
        (anomalies if label else normals).append(Item(src.stem, "hemorrhage" if label else "good", src))
    with staged_output(out, raw, overwrite) as tmp:
        write_plan(tmp / "headct", protocol_plan(normals, anomalies), "headct", show_progress)
    return Path(out)
