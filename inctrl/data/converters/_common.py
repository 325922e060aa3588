"""Machinery shared by the converters: safe output staging, writing, progress."""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from ...paths import path_part, regular_file, staged_folder

T = TypeVar("T")


def check_raw(raw: str | os.PathLike, dataset: str) -> Path:
    """Return ``raw`` as a Path, or raise a clear error when it is not a folder.

    Args:
        raw: the raw download folder given by the user.
        dataset: the dataset's display name, used in the error messages.

    Returns:
        ``raw`` as a Path.

    Raises:
        FileNotFoundError: ``raw`` does not exist.
        NotADirectoryError: ``raw`` is a file (an archive not yet extracted).
    """
    raw = Path(raw)
    if not raw.exists():
        raise FileNotFoundError(
            f"raw {dataset} folder {raw} does not exist; download and extract the dataset "
            f"first (see data/README.md)"
        )
    if not raw.is_dir():
        if not raw.is_file():  # a FIFO, socket or device
            raise NotADirectoryError(f"raw {dataset} path {raw} is not a folder (a FIFO, socket or device); "
                                     "pass the folder of the extracted download")
        raise NotADirectoryError(
            f"raw {dataset} path {raw} is a file; extract the archive and pass the folder"
        )
    return raw


def require(path: Path, dataset: str, what: str) -> Path:
    """Return ``path`` if it exists, else raise an error naming it and what was expected there.

    Args:
        path: the expected entry of the raw download.
        dataset: the dataset's display name, used in the error message.
        what: a description of the expected entry, used in the error message.

    Returns:
        ``path`` unchanged.

    Raises:
        FileNotFoundError: ``path`` is missing (the raw layout is not recognised).
        ValueError: ``path`` is a FIFO, a socket or a device (reading it could block forever).
    """
    if not path.exists():
        raise FileNotFoundError(
            f"raw {dataset} layout not recognised: expected {what} at {path} "
            f"(see data/README.md for the layout the converter expects)"
        )
    if not path.is_dir():
        regular_file(path, f"raw {dataset} file")
    return path


def _inside(child: Path, parent: Path) -> bool:
    """Whether ``child`` is ``parent`` or lies below it."""
    return child == parent or parent in child.parents


@contextmanager
def staged_output(
    out: str | os.PathLike, raw: str | os.PathLike | None = None, overwrite: bool = False
) -> Iterator[Path]:
    """Yield a temporary folder next to ``out``; on success it replaces ``out``.

    The rules of :func:`inctrl.paths.staged_folder`: a crash (or Ctrl-C) inside the block
    removes the temporary folder, so ``out`` is either untouched or complete; ``overwrite``
    replaces only a folder inctrl wrote; a symlink's non-empty target is never emptied.

    Args:
        out: the final output folder.
        raw: the raw download folder, checked not to overlap ``out``; None skips the check.
        overwrite: replace a non-empty ``out`` that inctrl wrote.

    Yields:
        The temporary folder to write into; it becomes ``out`` when the block ends without error.

    Raises:
        ValueError: ``out`` is inside ``raw`` (or ``raw`` inside ``out``), so writing or
            overwriting could touch the raw download; or ``out`` is refused by
            :func:`inctrl.paths.check_output_folder`.
        FileExistsError: ``out`` exists and is not empty, and ``overwrite`` is False.
    """
    real_out = Path(os.path.realpath(Path(out).expanduser()))  # unlike resolve(), no error on a loop
    if raw is not None:
        raw_r = Path(os.path.realpath(Path(raw).expanduser()))
        if _inside(real_out, raw_r):
            raise ValueError(
                f"output folder {real_out} is inside the raw folder {raw_r}; converters never "
                f"write into the raw download, choose an output outside it"
            )
        if _inside(raw_r, real_out):
            raise ValueError(f"raw folder {raw_r} is inside the output folder {real_out}; choose another "
                             "output")
    with staged_folder(out, overwrite=overwrite) as tmp:
        yield tmp


def progress(items: Iterable[T], desc: str, enabled: bool = True, total: int | None = None):
    """Wrap ``items`` in a tqdm progress bar counting images.

    Args:
        items: the items to iterate over.
        desc: the bar's label.
        enabled: False hides the bar (the items are still yielded).
        total: the number of items, when ``items`` has no length.

    Returns:
        An iterator over ``items``.
    """
    return tqdm(items, desc=desc, total=total, disable=not enabled, unit="img")


def copy_file(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` byte for byte, creating the folder.

    Args:
        src: the source file.
        dst: the destination file.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def save_png(image: Image.Image | np.ndarray, dst: Path, compress_level: int = 6) -> None:
    """Write an image as PNG, creating the folder.

    Args:
        image: a PIL image or a uint8 array, [H, W] (gray) or [H, W, 3] (RGB).
        dst: the output file.
        compress_level: the PNG compression level (0-9).
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    image.save(dst, format="PNG", compress_level=compress_level)


def save_mask(mask: np.ndarray, dst: Path) -> None:
    """Write a mask as a 0/255 8-bit PNG.

    Args:
        mask: [H, W] array; nonzero (or True) pixels are anomalous.
        dst: the output file.
    """
    save_png((np.asarray(mask) > 0).astype(np.uint8) * 255, dst, compress_level=9)


class UniqueNames:
    """Hands out file stems that are unique within one output folder.

    Stems are compared case-insensitively (no two names of a folder differ only in case); a
    clash gets a ``_1``, ``_2`` ... suffix.
    """

    def __init__(self) -> None:
        self._used: set[tuple[str, str]] = set()

    def __call__(self, folder: str, stem: str) -> str:
        """A stem for a new file in ``folder``, derived from ``stem``.

        Args:
            folder: the output folder (any string naming it, e.g. ``"test/good"``).
            stem: the wanted stem; whitespace runs become underscores.

        Returns:
            ``stem``, or ``stem`` with a numeric suffix when it is already taken in ``folder``.
        """
        stem = "_".join(stem.split())  # no whitespace in output names
        candidate, i = stem, 1
        while (folder, candidate.lower()) in self._used:
            candidate = f"{stem}_{i}"
            i += 1
        self._used.add((folder, candidate.lower()))
        return candidate


# --------------------------------------------------------------------------- writing plans


class Item:
    """One output image of a converter.

    Attributes:
        key: unique name used by the protocol's normal split (sorted, then split).
        defect: ``"good"`` or the defect type (output folder name).
        image: a source file to copy byte for byte, or a callable returning the pixels.
        mask: a mask file, a callable returning a boolean array, or None.
        suffix: output suffix when ``image`` is a file that is copied; by default the file's
            own suffix, lower-cased (``.png`` for a callable).
    """

    __slots__ = ("key", "defect", "image", "mask", "suffix")

    def __init__(self, key, defect, image, mask=None, suffix=None):
        self.key = key
        self.defect = defect
        self.image = image
        self.mask = mask
        if suffix is None:
            suffix = image.suffix.lower() if isinstance(image, Path) else ".png"
        self.suffix = suffix


def protocol_plan(normals: list[Item], anomalies: list[Item]) -> list[tuple[str, Item]]:
    """Assign every item to a split: normals 75/25 train/test, every anomaly to test.

    The normal split is ``train_test_split`` with random_state=42 on the sorted keys.

    Args:
        normals: the normal items (keys must be unique).
        anomalies: the anomalous items.

    Returns:
        ``(split, item)`` pairs, split ``"train"`` or ``"test"``: the normals, then the anomalies.

    Raises:
        ValueError: two normals share a key.
    """
    from ..splits import split_normals

    keys = [it.key for it in normals]
    if len(set(keys)) != len(keys):
        raise ValueError("internal error: duplicate normal keys")
    _, test_keys = split_normals(keys)
    test_set = set(test_keys)
    plan = [("test" if it.key in test_set else "train", it) for it in normals]
    plan += [("test", it) for it in anomalies]
    return plan


def write_plan(
    cat_root: Path, plan: list[tuple[str, Item]], desc: str, enabled: bool = True
) -> dict[str, int]:
    """Write every planned item under ``cat_root`` in the canonical layout.

    Images go to ``<split>/<defect>/<stem><suffix>``, masks to
    ``ground_truth/<defect>/<stem>_mask.png``.

    Args:
        cat_root: the category folder to write into.
        plan: ``(split, item)`` pairs, e.g. from :func:`protocol_plan`.
        desc: the progress bar's label.
        enabled: show the progress bar.

    Returns:
        The number of images written per ``"<split>/<defect>"`` folder.
    """
    from ..images import load_mask

    names = UniqueNames()
    counts: dict[str, int] = {}
    for split, item in progress(plan, desc, enabled):
        folder = f"{split}/{path_part(item.defect, 'defect type')}"
        stem = path_part(names(folder, item.key), "image name")
        dst = cat_root / split / item.defect / f"{stem}{item.suffix}"
        if isinstance(item.image, Path):
            copy_file(item.image, dst)
        else:
            save_png(item.image(), dst)
        if item.mask is not None:
            mask = load_mask(item.mask) if isinstance(item.mask, Path) else item.mask()
            save_mask(mask, cat_root / "ground_truth" / item.defect / f"{stem}_mask.png")
        counts[folder] = counts.get(folder, 0) + 1
    return counts


@functools.lru_cache(maxsize=4)
def load_pixels(path: Path) -> np.ndarray:
    """Decode a raw image once (cached) as a uint8 array.

    Gray stays gray so that crops of gray datasets (AITEX, KolektorSDD) stay small; the
    model-side loader turns them into RGB later.

    Args:
        path: the raw image file.

    Returns:
        [H, W] for a gray image, else [H, W, 3] RGB.
    """
    from ..images import _open_fully, load_image

    img = _open_fully(Path(path), "image")
    if img.mode == "L":
        return np.asarray(img)
    return np.asarray(load_image(path))
