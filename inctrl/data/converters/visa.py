"""VisA with its official one-class split (``split_csv/1cls.csv``)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from ...paths import path_part
from ._common import Item, check_raw, require, staged_output, write_plan

__all__ = ["convert_visa"]

_COLUMNS = ("object", "split", "label", "image", "mask")


def convert_visa(
    raw: str | os.PathLike,
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    show_progress: bool = True,
) -> Path:
    """Convert an extracted VisA folder to the canonical layout with the 1cls split.

    Expects ``raw/split_csv/1cls.csv`` (columns ``object,split,label,image,mask``, paths
    relative to ``raw``) and the images it names, e.g.
    ``raw/candle/Data/Images/Normal/0000.JPG`` and ``raw/candle/Data/Masks/Anomaly/000.png``.
    Writes ``<object>/train/good``, ``test/good``, ``test/bad`` and
    ``ground_truth/bad/<stem>_mask.png``. Images are copied byte for byte (keeping their
    JPEG format, suffix lower-cased); masks are rewritten as 0/255 PNGs because VisA's
    masks use small nonzero label values.

    Args:
        raw: the extracted VisA folder.
        out: the output root, created (or, with ``overwrite``, replaced) as a whole at the end.
        overwrite: replace a non-empty ``out``.
        show_progress: show a progress bar.

    Returns:
        ``out`` as a Path.

    Raises:
        FileNotFoundError: ``raw``, the split file or a listed image or mask is missing.
        ValueError: the split file lacks a column, has a bad split or label, puts an anomaly
            in train or lists no image, or ``out`` and ``raw`` overlap.
        FileExistsError: ``out`` is not empty and ``overwrite`` is False.
    """
    raw = check_raw(raw, "VisA")
    csv_path = require(raw / "split_csv" / "1cls.csv", "VisA", "the split file split_csv/1cls.csv")
    with open(csv_path, newline="") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip() for f in reader.fieldnames or []]
        if not set(_COLUMNS) <= set(fields):
            raise ValueError(f"{csv_path}: expected columns {','.join(_COLUMNS)}, got {fields}")
        rows = [{k.strip(): (v or "").strip() for k, v in row.items()} for row in reader]
    plans: dict[str, list[tuple[str, Item]]] = {}
    for lineno, row in enumerate(rows, start=2):
        split, label = row["split"], row["label"]
        if split not in ("train", "test") or label not in ("normal", "anomaly"):
            raise ValueError(
                f"{csv_path}:{lineno}: expected split train/test and label normal/anomaly, "
                f"got {split!r}/{label!r}"
            )
        if split == "train" and label == "anomaly":
            raise ValueError(f"{csv_path}:{lineno}: the 1cls split has no training anomalies")
        image = require(raw / row["image"], "VisA", f"the image listed on line {lineno}")
        mask = None
        if label == "anomaly" and row["mask"]:
            mask = require(raw / row["mask"], "VisA", f"the mask listed on line {lineno}")
        defect = "good" if label == "normal" else "bad"
        path_part(row["object"], f"{csv_path}:{lineno}: object")  # a category folder: never a path
        plans.setdefault(row["object"], []).append(
            (split, Item(Path(row["image"]).stem, defect, image, mask))
        )
    if not plans:
        raise ValueError(f"{csv_path} lists no images")
    with staged_output(out, raw, overwrite) as tmp:
        for obj in sorted(plans):
            write_plan(tmp / obj, plans[obj], f"visa/{obj}", show_progress)
    return Path(out)
