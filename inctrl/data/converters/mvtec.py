"""MVTec AD: already in the canonical layout, so conversion is a validated copy."""

from __future__ import annotations

import os
from pathlib import Path

from ..images import is_image_file
from ..layout import NORMAL_DEFECT, CanonicalDataset
from ._common import check_raw, copy_file, progress, staged_output

__all__ = ["convert_mvtec"]


def convert_mvtec(
    raw: str | os.PathLike,
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    show_progress: bool = True,
) -> Path:
    """Validate an extracted ``mvtec_anomaly_detection`` folder and copy it to ``out``.

    The raw tree (``<category>/train/good``, ``test/<defect>``, ``ground_truth/<defect>``)
    is already canonical; copying (rather than linking) keeps ``out`` independent of the
    download. Top-level files (license, readme) are copied too; hidden files are not.

    Args:
        raw: the extracted ``mvtec_anomaly_detection`` folder.
        out: the output root, created (or, with ``overwrite``, replaced) as a whole at the end.
        overwrite: replace a non-empty ``out``.
        show_progress: show a progress bar.

    Returns:
        The output root, ``out`` as a Path.

    Raises:
        FileNotFoundError: ``raw`` does not exist.
        ValueError: ``raw`` is not an MVTec AD download (every category with train/good,
            test/good, anomalous test folders and ground_truth), or ``out`` and ``raw`` overlap.
        FileExistsError: ``out`` is not empty and ``overwrite`` is False.
    """
    raw = check_raw(raw, "MVTec AD")
    _check_layout(raw)
    CanonicalDataset(raw, name="mvtec")  # raises a clear error when the layout is wrong
    files = sorted(
        p
        for p in raw.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(raw).parts)
    )
    with staged_output(out, raw, overwrite) as tmp:
        for src in progress(files, "mvtec", show_progress):
            copy_file(src, tmp / src.relative_to(raw))
    return Path(out)


def _missing(cat: Path) -> str | None:
    """What an MVTec AD category folder lacks, or None."""
    train_good, test = cat / "train" / NORMAL_DEFECT, cat / "test"
    if not (train_good.is_dir() and any(is_image_file(p) for p in train_good.iterdir())):
        return "train/good/ with images"
    if not (test / NORMAL_DEFECT).is_dir():
        return "test/good/"
    if not any(p.is_dir() and p.name != NORMAL_DEFECT for p in test.iterdir()):
        return "anomalous test/<defect>/ folder"
    return None if (cat / "ground_truth").is_dir() else "ground_truth/"


def _check_layout(raw: Path) -> None:
    """Refuse a folder that is not an MVTec AD download, naming the first thing missing.

    Every category of MVTec AD has normal training images, normal and anomalous test images
    and ground-truth masks; a folder of another layout (or an already converted single-class
    set) lacks one of them.
    """
    expected = ("expected <category>/train/good/, test/good/, test/<defect>/ and ground_truth/ in every "
                "category; is --raw the extracted mvtec_anomaly_detection folder? (see data/README.md)")
    if (raw / "train").is_dir() and (raw / "test").is_dir():
        raise ValueError(f"raw MVTec AD layout not recognised: {raw} looks like one category folder (it "
                         f"holds train/ and test/); pass the folder above it, {raw.parent}")
    categories = sorted(p for p in raw.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not categories:
        raise ValueError(f"raw MVTec AD layout not recognised: {raw} holds no category folder; {expected}")
    for cat in categories:
        missing = _missing(cat)
        if missing:
            raise ValueError(f"raw MVTec AD layout not recognised: {cat} has no {missing}; {expected}")
