"""ELPV (electroluminescence solar cells), shipped by the ``elpv-dataset`` PyPI package."""

from __future__ import annotations

import math
import os
from pathlib import Path

from ._common import Item, check_raw, protocol_plan, require, staged_output, write_plan

__all__ = ["ELPV_CATEGORY", "convert_elpv", "elpv_package_dir", "prepare_elpv", "read_elpv_labels"]

ELPV_CATEGORY = "elpv"


def elpv_package_dir() -> Path:
    """The ``data`` folder of the installed ``elpv-dataset`` package.

    Returns:
        The folder holding ``labels.csv`` and ``images/``.

    Raises:
        ImportError: ``elpv-dataset`` is not installed.
    """
    try:
        import elpv_dataset
    except ImportError as err:
        raise ImportError(
            "ELPV needs the 'elpv-dataset' package: pip install elpv-dataset "
            "(or pip install 'inctrl[elpv]'), or pass the folder of a raw ELPV download"
        ) from err
    return Path(elpv_dataset.__file__).resolve().parent / "data"


def read_elpv_labels(labels_csv: str | os.PathLike) -> list[tuple[str, float, str]]:
    """Parse ELPV's whitespace-separated ``labels.csv``.

    Args:
        labels_csv: the labels file; blank lines are skipped.

    Returns:
        ``(relative path, probability, type)`` per cell, type ``"mono"`` or ``"poly"``.

    Raises:
        ValueError: a line does not have three fields, a probability is not a number, a
            type is neither mono nor poly, or the file holds no labels.
    """
    labels_csv = Path(labels_csv)
    rows = []
    for lineno, line in enumerate(labels_csv.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 3:
            raise ValueError(
                f"{labels_csv}:{lineno}: expected 3 whitespace-separated fields "
                f"(path probability type), got {line!r}"
            )
        path, prob, kind = fields
        try:
            probability = float(prob)
        except ValueError as err:
            raise ValueError(f"{labels_csv}:{lineno}: bad probability {prob!r}") from err
        if kind not in ("mono", "poly"):
            raise ValueError(f"{labels_csv}:{lineno}: cell type must be mono or poly, got {kind!r}")
        rows.append((path, probability, kind))
    if not rows:
        raise ValueError(f"{labels_csv} holds no labels")
    return rows


def _find_labels(raw: Path) -> Path:
    """``raw/labels.csv`` or ``raw/data/labels.csv``; a clear error when neither exists."""
    for candidate in (raw / "labels.csv", raw / "data" / "labels.csv"):
        if candidate.is_file():
            return candidate
    return require(raw / "labels.csv", "ELPV", "labels.csv (path probability type)")


def convert_elpv(
    raw: str | os.PathLike | None,
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    show_progress: bool = True,
) -> Path:
    """Convert ELPV to the canonical layout (single category ``elpv``).

    ``raw`` is a folder with ``labels.csv`` and ``images/cell*.png`` (the layout of the
    ELPV repository's ``data`` folder); None uses the copy inside the installed
    ``elpv-dataset`` package, so no download is needed.

    Protocol (data/README.md): probability 0 -> normal, split 75/25 with
    ``train_test_split(random_state=42)`` on the sorted paths; probability 1 -> anomaly,
    into ``test/mono`` or ``test/poly`` by cell type; the 1/3 and 2/3 cells are dropped.
    The standard labels give train/good 1131, test/good 377, test/mono 313, test/poly 402.
    The 300x300 gray PNGs are copied byte for byte.

    Args:
        raw: the raw folder, or None for the installed package's copy.
        out: the output root, created (or, with ``overwrite``, replaced) as a whole at the end.
        overwrite: replace a non-empty ``out``.
        show_progress: show a progress bar.

    Returns:
        ``out`` as a Path.

    Raises:
        FileNotFoundError: ``raw`` or ``labels.csv`` or a listed image is missing.
        ImportError: ``raw`` is None and ``elpv-dataset`` is not installed.
        ValueError: ``labels.csv`` is malformed (not ELPV's) or has no normal or no anomalous
            cell, or ``out`` and ``raw`` overlap.
        FileExistsError: ``out`` is not empty and ``overwrite`` is False.
    """
    raw = elpv_package_dir() if raw is None else check_raw(raw, "ELPV")
    labels = _find_labels(raw)
    base = labels.parent
    try:
        rows = read_elpv_labels(labels)
    except ValueError as err:  # e.g. another dataset's labels.csv
        raise ValueError(f"raw ELPV layout not recognised: {err}; is --raw the ELPV data folder (labels.csv "
                         "and images/)? (see data/README.md)") from None
    normals, anomalies = [], []
    for rel, probability, kind in rows:
        src = require(base / rel, "ELPV", f"the image listed in {labels.name}")
        key = Path(rel).stem
        if probability == 0.0:
            normals.append(Item(key, "good", src))
        elif math.isclose(probability, 1.0):
            anomalies.append(Item(key, kind, src))
    if not normals or not anomalies:
        raise ValueError(f"{labels} has no cells with probability 0 or none with probability 1")
    with staged_output(out, raw, overwrite) as tmp:
        write_plan(tmp / ELPV_CATEGORY, protocol_plan(normals, anomalies), "elpv", show_progress)
    return Path(out)


def prepare_elpv(out: str | os.PathLike, *, overwrite: bool = False, show_progress: bool = True) -> Path:
    """Build the offline default benchmark: ELPV from the installed package, into ``out``.

    Args:
        out: the output root, created (or, with ``overwrite``, replaced) as a whole at the end.
        overwrite: replace a non-empty ``out``.
        show_progress: show a progress bar.

    Returns:
        ``out`` as a Path.

    Raises:
        ImportError: ``elpv-dataset`` is not installed.
        FileExistsError: ``out`` is not empty and ``overwrite`` is False.
    """
    return convert_elpv(None, out, overwrite=overwrite, show_progress=show_progress)
