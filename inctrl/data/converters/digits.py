"""scikit-learn's handwritten digits as one-vs-all anomaly detection.

The digits ship inside scikit-learn (``sklearn.datasets.load_digits``: 1,797 images of
8 x 8 pixels with 16 grey levels, no download). They are *not* MNIST (28 x 28, 70,000
images); they are a small semantic target that needs nothing beyond the package's own
dependencies. The protocol is the paper's one-vs-all: the digits of one normal set are
normal, every other digit is anomalous.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..splits import split_normals
from ._common import Item, check_raw, require, staged_output, write_plan

__all__ = ["DIGITS_FILE", "LEVELS", "category_name", "convert_digits", "digits_package_file",
           "digits_pixels", "digits_plan", "read_digits"]

#: The file scikit-learn ships the digits in: one row per image, 64 pixels then the label.
DIGITS_FILE = "digits.csv.gz"
#: The largest grey level of the digits (0 ... 16).
LEVELS = 16


def digits_package_file() -> Path:
    """The ``digits.csv.gz`` bundled with the installed scikit-learn.

    Returns:
        The file's path.
    """
    import sklearn.datasets

    return Path(sklearn.datasets.__file__).resolve().parent / "data" / DIGITS_FILE


def read_digits(raw: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The digits and their labels, read from scikit-learn's copy or from a folder.

    Args:
        raw: a folder holding ``digits.csv.gz`` (the file scikit-learn ships), or None for
            the copy inside the installed scikit-learn.

    Returns:
        ``(images, labels)``: [n, 8, 8] int64 grey levels 0 ... 16 and [n] int64 digits 0 ... 9,
        in the file's order (the order of ``load_digits``).

    Raises:
        FileNotFoundError: ``raw`` or its ``digits.csv.gz`` is missing.
        ValueError: the file is not a gzipped CSV, or does not hold rows of 64 grey levels in
            0 ... 16 and a digit, or is a FIFO, socket or device.
    """
    file = digits_package_file() if raw is None else require(
        check_raw(raw, "digits") / DIGITS_FILE, "digits", "scikit-learn's digits file")
    try:
        table = np.loadtxt(file, delimiter=",", ndmin=2)
    except (OSError, EOFError, ValueError, UnicodeDecodeError) as error:  # not gzip, cut, not numbers
        raise ValueError(f"{file} is not scikit-learn's digits file (a gzipped CSV of 64 grey levels and a "
                         f"digit per row): {' '.join(str(error).split())}; give the folder holding the "
                         f"{DIGITS_FILE} of scikit-learn, or leave --raw out") from None
    if table.shape[1] != 65:
        raise ValueError(f"{file}: expected 65 columns (64 pixels and the digit), got {table.shape[1]}")
    pixels, labels = table[:, :64], table[:, 64]
    if pixels.min() < 0 or pixels.max() > LEVELS or not np.array_equal(pixels, np.round(pixels)):
        raise ValueError(f"{file}: pixels must be whole grey levels between 0 and {LEVELS}")
    if not np.isin(labels, np.arange(10)).all():
        raise ValueError(f"{file}: the last column must be a digit 0 ... 9")
    return pixels.reshape(-1, 8, 8).astype(np.int64), labels.astype(np.int64)


def digits_pixels(image: np.ndarray) -> np.ndarray:
    """An 8 x 8 digit as an 8-bit grey image (level 16 -> 255, exact for 0 and 16).

    Args:
        image: [8, 8] grey levels 0 ... 16.

    Returns:
        [8, 8] uint8.
    """
    return np.rint(np.asarray(image) * (255 / LEVELS)).astype(np.uint8)


def category_name(normal: Sequence[int]) -> str:
    """The category of a normal set: ``digit_3`` for one digit, ``digits_0_1_2`` for several.

    Args:
        normal: the normal digits.

    Returns:
        The category name (the text prior reads it with spaces).

    Raises:
        ValueError: the set is empty, holds a repeat or a value that is not a digit.
    """
    digits = [int(d) for d in normal]
    if not digits or len(set(digits)) != len(digits) or not all(0 <= d <= 9 for d in digits):
        raise ValueError(f"a normal set is one or more distinct digits 0 ... 9, got {list(normal)}")
    digits.sort()
    return f"digit_{digits[0]}" if len(digits) == 1 else "digits_" + "_".join(map(str, digits))


def digits_plan(labels: np.ndarray, normal: Sequence[int], anomalies_per_class: int | None = None,
                seed: int = 0) -> list[tuple[str, int, str]]:
    """Where every image of one normal set goes, without writing anything.

    Normal images (a digit of ``normal``) are split 75/25 into train/good and test/good by
    the protocol's rule (:func:`inctrl.data.splits.split_normals` on their indices); the
    other digits go to ``test/<digit>``, all of them or ``anomalies_per_class`` drawn per
    digit with ``numpy.random.default_rng([seed, digit])``.

    Args:
        labels: [n] the digit of every image.
        normal: the normal digits.
        anomalies_per_class: anomalous test images per other digit; None for all.
        seed: the seed of the anomaly draw.

    Returns:
        ``(split, image index, defect)`` triples, defect ``"good"`` or the digit; normals
        first, then the anomalies digit by digit, each in index order.

    Raises:
        ValueError: as :func:`category_name`.
    """
    category_name(normal)  # refuses anything but distinct digits
    normal = {int(d) for d in normal}
    labels = np.asarray(labels)
    train, test = split_normals([int(i) for i in np.flatnonzero(np.isin(labels, list(normal)))])
    plan = [("train", i, "good") for i in train] + [("test", i, "good") for i in test]
    for digit in sorted(set(range(10)) - normal):
        pool = np.flatnonzero(labels == digit)
        if anomalies_per_class is not None and anomalies_per_class < len(pool):
            pool = np.sort(np.random.default_rng([seed, digit]).choice(pool, anomalies_per_class,
                                                                      replace=False))
        plan += [("test", int(i), str(digit)) for i in pool]
    return plan


def convert_digits(
    raw: str | os.PathLike | None,
    out: str | os.PathLike,
    *,
    normal_sets: Sequence[Sequence[int]] | None = None,
    anomalies_per_class: int | None = None,
    seed: int = 0,
    overwrite: bool = False,
    show_progress: bool = True,
) -> Path:
    """Write the digits in the canonical layout, one category per normal set.

    Each category (:func:`category_name`) follows :func:`digits_plan`. Images are 8 x 8 grey
    PNGs named by their index in ``load_digits`` (``0042.png``), so the same digit has the
    same name in every category; the model's preprocessing enlarges them like any image.

    Args:
        raw: a folder holding ``digits.csv.gz``, or None for scikit-learn's bundled copy
            (no download).
        out: the output root, created (or, with ``overwrite``, replaced) as a whole at the end.
        normal_sets: the normal sets, e.g. ``[[0], [1, 2]]``; None for the ten one-vs-all
            categories ``digit_0`` ... ``digit_9``.
        anomalies_per_class: anomalous test images per other digit; None for all.
        seed: the seed of the anomaly draw.
        overwrite: replace a non-empty ``out``.
        show_progress: show a progress bar.

    Returns:
        ``out`` as a Path.

    Raises:
        FileNotFoundError: ``raw`` or its ``digits.csv.gz`` is missing.
        ValueError: a malformed digits file, a normal set that is not distinct digits, two
            equal normal sets, or ``out`` and ``raw`` overlap.
        FileExistsError: ``out`` is not empty and ``overwrite`` is False.
    """
    images, labels = read_digits(raw)
    sets = [[d] for d in range(10)] if normal_sets is None else [list(s) for s in normal_sets]
    names = [category_name(s) for s in sets]
    if len(set(names)) != len(names):
        raise ValueError(f"normal_sets holds the same set twice: {names}")
    with staged_output(out, raw, overwrite) as tmp:
        for name, normal in zip(names, sets):
            plan = [(split, Item(f"{i:04d}", defect, lambda i=i: digits_pixels(images[i])))
                    for split, i, defect in digits_plan(labels, normal, anomalies_per_class, seed)]
            write_plan(tmp / name, plan, f"digits/{name}", show_progress)
    return Path(out)
