"""Datasets whose images are cut into pieces: AITEX (tiles) and KolektorSDD (bands)."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from ..images import IMAGE_SUFFIXES, is_image_file, list_images, load_mask
from ._common import (
    Item,
    check_raw,
    load_pixels,
    protocol_plan,
    require,
    staged_output,
    write_plan,
)

__all__ = ["AITEX_TILE", "SDD_BANDS", "convert_aitex", "convert_sdd"]

#: Side of an AITEX tile (the raw images are 4096x256, giving 16 tiles).
AITEX_TILE = 256
#: Number of horizontal bands a KolektorSDD image is cut into.
SDD_BANDS = 3


def _crop(path: Path, box: tuple[int, int, int, int]):
    """A callable returning rows box[1]:box[3], columns box[0]:box[2] of a raw image."""

    def crop():
        left, top, right, bottom = box
        return load_pixels(path)[top:bottom, left:right]

    return crop


def _aitex_mask(mask_dir: Path, stem: str, size: tuple[int, int]) -> np.ndarray | None:
    """Union of ``<stem>_mask*.png`` (a few AITEX defects come as _mask1/_mask2)."""
    files = sorted(p for p in mask_dir.glob(f"{stem}_mask*") if is_image_file(p))
    if not files:
        return None
    union = np.zeros((size[1], size[0]), dtype=bool)
    for f in files:
        m = load_mask(f)
        if m.shape != union.shape:
            raise ValueError(f"mask {f} is {m.shape[1]}x{m.shape[0]}, image is {size[0]}x{size[1]}")
        union |= m
    return union


def convert_aitex(
    raw: str | os.PathLike,
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    show_progress: bool = True,
    tile: int = AITEX_TILE,
) -> Path:
    """Convert the AITEX fabric database (category ``AITEX``).

    Expects ``raw/NODefect_images/<subfolder>/*.png``, ``raw/Defect_images/*.png`` and
    ``raw/Mask_images/<stem>_mask.png`` (4096x256 gray). Each image is cut into
    ``tile``-sized squares left to right (a remainder narrower than a tile is dropped):

    * every tile of a defect-free image is normal; the normal *tiles* are split 75/25
      (``train_test_split``, random_state=42, sorted tile names);
    * a tile of a defect image is anomalous iff its mask tile has a nonzero pixel; it goes
      to ``test/defect_<code>`` (``code`` = middle field of ``nnnn_ccc_nn.png``) with its
      mask tile; clean tiles of defect images are discarded.

    A defect image without a mask is skipped with a warning (it cannot be tiled).

    Args:
        raw: the extracted download.
        out: the output root, created (or, with ``overwrite``, replaced) as a whole at the end.
        overwrite: replace a non-empty ``out``.
        show_progress: show a progress bar.
        tile: the side of a square tile in pixels.

    Returns:
        ``out`` as a Path.

    Raises:
        FileNotFoundError: ``raw`` or one of its three folders is missing.
        ValueError: a mask's size differs from its image's, the defect-free images give no
            tile, or ``out`` and ``raw`` overlap.
        FileExistsError: ``out`` is not empty and ``overwrite`` is False.
    """
    raw = check_raw(raw, "AITEX")
    nodefect = require(raw / "NODefect_images", "AITEX", "the folder NODefect_images/")
    defect_dir = require(raw / "Defect_images", "AITEX", "the folder Defect_images/")
    mask_dir = require(raw / "Mask_images", "AITEX", "the folder Mask_images/")
    normals, anomalies = [], []
    for path in list_images(nodefect, recursive=True):
        width, height = Image.open(path).size
        prefix = "_".join(path.relative_to(nodefect).with_suffix("").parts)
        for r in range(height // tile):
            for c in range(width // tile):
                box = (c * tile, r * tile, (c + 1) * tile, (r + 1) * tile)
                key = f"{prefix}_r{r}c{c:02d}" if height // tile > 1 else f"{prefix}_t{c:02d}"
                normals.append(Item(key, "good", _crop(path, box)))
    for path in list_images(defect_dir):
        size = Image.open(path).size
        mask = _aitex_mask(mask_dir, path.stem, size)
        if mask is None:
            warnings.warn(f"AITEX: no mask for {path.name} in {mask_dir}; image skipped", stacklevel=2)
            continue
        match = re.fullmatch(r"\d+_(\d+)_\d+", path.stem)
        defect = f"defect_{match.group(1)}" if match else "defect"
        rows, cols = size[1] // tile, size[0] // tile
        for r in range(rows):
            for c in range(cols):
                box = (c * tile, r * tile, (c + 1) * tile, (r + 1) * tile)
                if not mask[box[1] : box[3], box[0] : box[2]].any():
                    continue
                key = f"{path.stem}_r{r}c{c:02d}" if rows > 1 else f"{path.stem}_t{c:02d}"
                piece = mask[box[1] : box[3], box[0] : box[2]].copy()
                anomalies.append(Item(key, defect, _crop(path, box), lambda p=piece: p))
    if not normals:
        raise ValueError(f"AITEX: {nodefect} gave no {tile}x{tile} tile")
    with staged_output(out, raw, overwrite) as tmp:
        write_plan(tmp / "AITEX", protocol_plan(normals, anomalies), "aitex", show_progress)
    return Path(out)


def _sdd_label(folder: Path, stem: str) -> Path:
    """The label bitmap ``<stem>_label.<suffix>`` of an image (``.bmp`` tried first)."""
    for suffix in (".bmp", *sorted(IMAGE_SUFFIXES - {".bmp"})):
        candidate = folder / f"{stem}_label{suffix}"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"KolektorSDD: no label bitmap for {folder / stem} (expected {stem}_label.bmp)")


def convert_sdd(
    raw: str | os.PathLike,
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    show_progress: bool = True,
    bands: int = SDD_BANDS,
) -> Path:
    """Convert KolektorSDD (category ``SDD``).

    Expects one folder per part (``raw/kos01/Part0.jpg`` with ``Part0_label.bmp``, ...).
    The images are tall (about 500 wide, 1240-1270 high), so each is cut along its
    **height** into ``bands`` equal horizontal bands (top, middle, bottom; the last
    ``height % bands`` rows are dropped). A band is anomalous iff its label band has a
    nonzero pixel (-> ``test/defect`` with its mask band); the normal bands are split 75/25
    (random_state=42). With the official 399 images this gives 1143 normal bands (286 in
    test, the paper's figure) and 54 anomalous ones. Output names: ``kos01_Part0_b0.png``
    (b0 = top).

    Args:
        raw: the extracted download (one folder per part).
        out: the output root, created (or, with ``overwrite``, replaced) as a whole at the end.
        overwrite: replace a non-empty ``out``.
        show_progress: show a progress bar.
        bands: the number of horizontal bands per image.

    Returns:
        ``out`` as a Path.

    Raises:
        FileNotFoundError: ``raw`` is missing, holds no part folder, a part folder holds no
            label bitmap, or an image has no label.
        ValueError: a label's size differs from its image's, or ``out`` and ``raw`` overlap.
        FileExistsError: ``out`` is not empty and ``overwrite`` is False.
    """
    raw = check_raw(raw, "KolektorSDD")
    expected = "expected part folders kos01/, kos02/ ... holding Part0.jpg and Part0_label.bmp"
    folders = sorted(p for p in raw.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise FileNotFoundError(f"raw KolektorSDD layout not recognised: {raw} holds no part folder; "
                                f"{expected}")
    for folder in folders:
        if not any(p.stem.endswith("_label") and is_image_file(p) for p in folder.iterdir()):
            raise FileNotFoundError(f"raw KolektorSDD layout not recognised: {folder} holds no label bitmap "
                                    f"(*_label.bmp); {expected}")
    normals, anomalies = [], []
    for folder in folders:
        images = [p for p in list_images(folder) if not p.stem.endswith("_label")]
        for path in images:
            label = load_mask(_sdd_label(folder, path.stem))
            width, height = Image.open(path).size
            if label.shape != (height, width):
                raise ValueError(f"KolektorSDD: label of {path} has a different size")
            band = height // bands
            for b in range(bands):
                box = (0, b * band, width, (b + 1) * band)
                key = f"{folder.name}_{path.stem}_b{b}"
                piece = label[box[1] : box[3]]
                if piece.any():
                    anomalies.append(Item(key, "defect", _crop(path, box), lambda p=piece: p))
                else:
                    normals.append(Item(key, "good", _crop(path, box)))
    with staged_output(out, raw, overwrite) as tmp:
        write_plan(tmp / "SDD", protocol_plan(normals, anomalies), "sdd", show_progress)
    return Path(out)
