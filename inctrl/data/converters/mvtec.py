"""MVTec AD: already in the canonical layout, so conversion is a validated copy."""

from __future__ import annotations

import os
from pathlib import Path

from ..layout import CanonicalDataset
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
        ValueError: ``raw`` is not in the canonical layout, or ``out`` and ``raw`` overlap.
        FileExistsError: ``out`` is not empty and ``overwrite`` is False.
    """
    raw = check_raw(raw, "MVTec AD")
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
