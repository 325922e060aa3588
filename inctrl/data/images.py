"""Image and mask loading that every other part of ``inctrl`` goes through.

Benchmark datasets store their images in many PIL modes: 8-bit gray (ELPV, MNIST,
KolektorSDD), RGBA and palette PNGs (user images), 16-bit gray (some medical scans),
CMYK or EXIF-rotated JPEGs (photos). :func:`load_image` turns all of them into the one
thing the model expects, an 8-bit RGB :class:`PIL.Image.Image`, and turns every unreadable
file into an :class:`ImageLoadError` that names the file.
"""

from __future__ import annotations

import errno
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

__all__ = [
    "IMAGE_SUFFIXES",
    "IGNORED_FILE_NAMES",
    "MIN_IMAGE_SIDE",
    "ImageLoadError",
    "SkippedImageWarning",
    "check_image_files",
    "check_image_size",
    "is_image_file",
    "list_images",
    "load_image",
    "load_mask",
    "unreadable_reason",
]

#: File suffixes (lower case) that are treated as images.
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm"}
)

#: Operating-system droppings that are never images, whatever their suffix.
IGNORED_FILE_NAMES: frozenset[str] = frozenset({"thumbs.db", "desktop.ini", ".ds_store"})

_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}

#: The smallest side (pixels) of an image the model scores: scikit-learn's digits, 8 x 8, are
#: the smallest images of the package's own datasets; a 1 x 1 image is a mistake, not a photo.
MIN_IMAGE_SIDE = 8


class ImageLoadError(ValueError):
    """An image (or mask) file exists but cannot be decoded."""


class SkippedImageWarning(UserWarning):
    """A folder holds entries named like images that are no readable files (they are skipped)."""


def unreadable_reason(path: str | os.PathLike) -> str | None:
    """Why ``path`` is no readable file: a dangling symlink, a symlink loop, a folder ...

    Args:
        path: any path.

    Returns:
        A short phrase ("a dangling symlink (to x.png)", "a symlink loop", "a folder", "not a
        regular file (a FIFO, socket or device)", "missing"), or None for a regular file.
    """
    path = Path(path)
    if path.is_symlink():
        try:
            path.resolve(strict=True)
        except RuntimeError:  # Python < 3.13 reports a symlink loop this way
            return "a symlink loop"
        except FileNotFoundError:
            return f"a dangling symlink (to {os.readlink(path)})"
        except OSError as error:
            return "a symlink loop" if error.errno == errno.ELOOP else f"a broken symlink ({error.strerror})"
    if path.is_file():
        return None
    if path.is_dir():
        return "a folder"
    return "not a regular file (a FIFO, socket or device)" if path.exists() else "missing"


def _named_like_image(path: Path) -> bool:
    return (not path.name.startswith(".") and path.name.lower() not in IGNORED_FILE_NAMES
            and path.suffix.lower() in IMAGE_SUFFIXES)


def is_image_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an image file to read.

    Args:
        path: any path.

    Returns:
        True for an existing, visible file whose suffix is in :data:`IMAGE_SUFFIXES` and
        whose name is not in :data:`IGNORED_FILE_NAMES`.
    """
    path = Path(path)
    return _named_like_image(path) and path.is_file()


def list_images(folder: str | os.PathLike, recursive: bool = False,
                skipped: list[tuple[Path, str]] | None = None) -> list[Path]:
    """The image files in ``folder``, sorted by path.

    Hidden files (``.DS_Store``, ``._foo.png``), ``Thumbs.db`` and files whose suffix is
    not in :data:`IMAGE_SUFFIXES` (``*.txt``, ``*.csv`` ...) are skipped silently. Entries
    named like images that are no readable files (dangling symlinks, symlink loops, folders
    named ``*.png``, FIFOs) are skipped and reported: appended to ``skipped``, or, without
    it, as one :class:`SkippedImageWarning`.

    Args:
        folder: the folder to list.
        recursive: search sub-folders too, except hidden ones.
        skipped: a list to append ``(path, reason)`` to for every entry skipped that way.

    Returns:
        The image paths, at least one.

    Raises:
        FileNotFoundError: ``folder`` does not exist.
        NotADirectoryError: ``folder`` is a file.
        ValueError: ``folder`` holds no image.
    """
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"image folder {folder} does not exist")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file, expected a folder of images")
    if recursive:
        candidates: Iterable[Path] = (
            p
            for p in folder.rglob("*")
            if not any(part.startswith(".") for part in p.relative_to(folder).parts[:-1])
        )
    else:
        candidates = folder.iterdir()
    named = sorted(p for p in candidates if _named_like_image(p))
    images = [p for p in named if p.is_file()]
    if recursive:  # a folder named *.png is searched, not an entry to report
        named = [p for p in named if not p.is_dir() or p.is_symlink()]
    unreadable = [(p, unreadable_reason(p) or "unreadable") for p in named if not p.is_file()]
    note = ""
    if unreadable:
        listed = ", ".join(f"{p.name} ({why})" for p, why in unreadable[:5])
        note = (f"skipped {len(unreadable)} entries of {folder} that are no readable image files: {listed}"
                + (" ..." if len(unreadable) > 5 else ""))
        if skipped is not None:
            skipped.extend(unreadable)
        elif images:
            warnings.warn(SkippedImageWarning(note), stacklevel=2)
    if not images:
        where = " (searched recursively)" if recursive else ""
        raise ValueError(
            f"no images found in {folder}{where}; expected files ending in "
            f"{', '.join(sorted(IMAGE_SUFFIXES))}" + (f" ({note})" if note else "")
        )
    return images


def _open_fully(path: Path, what: str, decode: bool = True) -> Image.Image:
    """Open and decode the whole file so that truncation is detected here, not later.

    ``decode=False`` reads the header only (size and mode). A file too large to decode
    safely (Pillow's decompression-bomb limit) is an :class:`ImageLoadError`, never a warning.
    """
    if not path.exists():
        reason = unreadable_reason(path)
        if reason == "a symlink loop":
            raise ImageLoadError(f"cannot read {what} {path}: it is a symlink loop; give an image file")
        if reason != "missing":
            raise FileNotFoundError(f"cannot read {what} {path}: it is {reason}; give an image file")
        raise FileNotFoundError(f"{what} {path} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, expected an {what} file")
    if not path.is_file():  # a FIFO or a device would block or never end
        raise ImageLoadError(f"cannot read {what} {path}: it is not a regular file (a FIFO, socket "
                             "or device); give an image file")
    try:
        with warnings.catch_warnings():  # Pillow only warns below twice its limit: an error here too
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            if decode:
                img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageLoadError(f"cannot read {what} {path}: it is too large to decode safely ({err}); "
                             f"downscale it below {Image.MAX_IMAGE_PIXELS} pixels") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageLoadError(
            f"cannot read {what} {path}: expected a complete image file "
            f"({', '.join(sorted(IMAGE_SUFFIXES))}), but decoding failed ({err})"
        ) from err
    return img


def check_image_size(size: tuple[int, int], source) -> None:
    """Refuse an image smaller than :data:`MIN_IMAGE_SIDE` on a side (a 1 x 1 image has no patches).

    Args:
        size: ``(width, height)``.
        source: the image's path or a description, for the message.

    Raises:
        ImageLoadError: a side is below :data:`MIN_IMAGE_SIDE`.
    """
    width, height = size
    if min(width, height) < MIN_IMAGE_SIDE:
        raise ImageLoadError(f"image {source} is {width} x {height} pixels, smaller than the "
                             f"{MIN_IMAGE_SIDE} x {MIN_IMAGE_SIDE} the model takes; give a larger image")


def check_image_files(paths: Iterable[str | os.PathLike]) -> None:
    """Read the header of every image (not its pixels): refuse an empty, undecodable or tiny file.

    Run before any work, so that a broken image fails a run whichever images it happens to
    read (a K=2 draw may skip the file a K=7 draw reads).

    Args:
        paths: image files.

    Raises:
        FileNotFoundError: as :func:`load_image`.
        ImageLoadError: a file that is not an image, too large to decode safely, or
            smaller than :data:`MIN_IMAGE_SIDE` on a side.
    """
    for path in paths:
        with _open_fully(Path(path), "image", decode=False) as img:
            check_image_size(img.size, path)


def _to_uint8(array: np.ndarray, mode: str) -> np.ndarray:
    """Scale a high-bit-depth single-channel array to 0..255."""
    array = array.astype(np.float64)
    if mode in _SIXTEEN_BIT_MODES:
        scaled = array / 257.0  # 65535 -> 255 exactly, 257 -> 1
    elif mode == "I":
        # Pillow decodes 16-bit PNG/TIFF as mode "I"; values beyond 16 bits (or negative)
        # come from genuine 32-bit data, which is min-max scaled instead.
        if array.size and (array.min() < 0 or array.max() > 65535):
            lo, hi = float(array.min()), float(array.max())
            scaled = (array - lo) / max(hi - lo, 1e-12) * 255.0
        else:
            scaled = array / 257.0
    else:  # "F": float images are taken to be in [0, 1] when they fit, else min-max scaled
        finite = array[np.isfinite(array)]
        if finite.size and finite.min() >= 0.0 and finite.max() <= 1.0:
            scaled = array * 255.0
        else:
            lo = float(finite.min()) if finite.size else 0.0
            hi = float(finite.max()) if finite.size else 1.0
            scaled = (array - lo) / max(hi - lo, 1e-12) * 255.0
        scaled = np.nan_to_num(scaled, nan=0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def load_image(path: str | os.PathLike) -> Image.Image:
    """Load an image file as an 8-bit RGB :class:`PIL.Image.Image`.

    * EXIF orientation is applied (``ImageOps.exif_transpose``), so a photo shows the way
      a viewer shows it.
    * Gray (``L``, ``1``), palette (``P``), CMYK, YCbCr ... are converted with Pillow.
    * 16-bit images (``I;16*`` and ``I`` holding 0..65535) are scaled by 255/65535, so the
      brightest 16-bit value becomes 255 rather than being clipped; ``F`` images in
      [0, 1] are multiplied by 255, other float / 32-bit ranges are min-max scaled.
    * Transparency (``RGBA``, ``LA``, ``PA``, palette with a transparent colour) is
      composited **on black**: a fully transparent pixel becomes (0, 0, 0) and a half
      transparent one is darkened in proportion. Transparent areas are background, so
      they should not show arbitrary hidden colour values.

    The file is decoded completely, so a truncated file fails here.

    Args:
        path: the image file.

    Returns:
        The image, mode ``"RGB"``, 8 bits per channel.

    Raises:
        FileNotFoundError: the file does not exist.
        IsADirectoryError: the path is a folder.
        ImageLoadError: the file cannot be decoded (corrupt, truncated, not an image) or is
            not a regular file (a FIFO, socket or device).
    """
    path = Path(path)
    img = _open_fully(path, "image")
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not make the image unusable
        pass
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in _SIXTEEN_BIT_MODES or mode in {"I", "F"}:
        gray = _to_uint8(np.asarray(img), mode)
        return Image.fromarray(gray, mode="L").convert("RGB")
    has_alpha = mode in {"RGBA", "LA", "PA", "La", "RGBa"} or (
        mode in {"P", "L", "RGB"} and "transparency" in img.info
    )
    if has_alpha:
        rgba = np.asarray(img.convert("RGBA")).astype(np.float64)
        rgb = rgba[..., :3] * (rgba[..., 3:4] / 255.0)
        return Image.fromarray(np.rint(rgb).astype(np.uint8), mode="RGB")
    try:
        return img.convert("RGB")
    except (ValueError, OSError) as err:
        raise ImageLoadError(f"cannot convert image {path} of mode {mode!r} to RGB ({err})") from err


def load_mask(path: str | os.PathLike, size: int | tuple[int, int] | None = None) -> np.ndarray:
    """Load a ground-truth mask as a boolean array.

    A pixel is anomalous iff it is nonzero in any channel (MVTec AD stores 0/255, VisA
    stores small nonzero labels, KolektorSDD stores 0/255 bitmaps).

    Args:
        path: mask image file.
        size: optional output size, Pillow convention: an int for a square or
            ``(width, height)``. Resizing uses nearest neighbour, so the mask stays binary.

    Returns:
        [height, width] bool array, True for anomalous pixels (C-contiguous).

    Raises:
        FileNotFoundError: as :func:`load_image`.
        IsADirectoryError: as :func:`load_image`.
        ImageLoadError: as :func:`load_image`.
    """
    path = Path(path)
    img = _open_fully(path, "mask")
    if img.mode == "P":
        img = img.convert("RGB")
    array = np.asarray(img)
    mask = array > 0
    if mask.ndim == 3:
        if img.mode in {"RGBA", "LA", "PA", "RGBa", "La"}:
            mask = mask[..., :-1]  # alpha is not a label
        mask = mask.any(axis=-1)
    if size is not None:
        if isinstance(size, int):
            size = (size, size)
        width, height = (int(s) for s in size)
        if (width, height) != (mask.shape[1], mask.shape[0]):
            resized = Image.fromarray(mask.astype(np.uint8) * 255, mode="L").resize(
                (width, height), Image.NEAREST
            )
            mask = np.asarray(resized) > 0
    return np.ascontiguousarray(mask, dtype=bool)
