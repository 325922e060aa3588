"""What the model accepts as images, and the checks of its arguments.

Every entry point of :class:`~inctrl.model.InCTRL` takes a path, a folder, PIL images or
preprocessed pixels; this module turns them into one form and refuses, with a one-line
message, what would otherwise give silently wrong scores.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from PIL import Image

from .containers import PromptBank

_IMAGE_KINDS = "a path, a folder, a PIL image, a [3, S, S] / [B, 3, S, S] tensor or a list of these"


class InputTypeError(TypeError, ValueError):
    """An argument of the wrong type (an int where images are expected ...).

    A TypeError, and a ValueError like the package's other input errors, so that either
    ``except`` clause catches it.
    """


def _check_item(item, index: int) -> None:
    if not isinstance(item, (str, os.PathLike, Image.Image, torch.Tensor)):
        raise InputTypeError(f"image {index} has type {type(item).__name__}; each image must be a path, a "
                             "PIL image or a [3, S, S] tensor")


def as_image_list(images) -> list:
    """A folder, one image or an iterable of images as a list of images.

    Args:
        images: a folder (its images in sorted order), a path, a PIL image, or an iterable
            of paths / PIL images / [3, S, S] tensors.

    Returns:
        The images, as given (paths are not opened here).

    Raises:
        InputTypeError: ``images`` (or one of them) is not an image, e.g. an int.
    """
    if isinstance(images, (str, os.PathLike)) and Path(images).is_dir():
        from .data.images import list_images

        return list_images(Path(images))
    if isinstance(images, (str, os.PathLike, Image.Image)):
        return [images]
    if isinstance(images, (bytes, dict)) or not hasattr(images, "__iter__"):
        raise InputTypeError(f"images must be {_IMAGE_KINDS}, got type {type(images).__name__}")
    items = list(images)
    for index, item in enumerate(items):
        _check_item(item, index)
    return items


def to_pixels(images, transform) -> torch.Tensor:
    """Paths, a folder, PIL images or a preprocessed tensor -> pixels on the CPU.

    Args:
        images: a path, a folder (its images in sorted order), a PIL image, a list of
            paths / PIL images / [3, S, S] tensors, or pixels already preprocessed with
            ``transform``: [3, S, S] or [B, 3, S, S] (taken as they are).
        transform: the backbone's preprocessing (PIL image -> [3, S, S]).

    Returns:
        [B, 3, S, S] float pixels, normalised as the backbone expects.

    Raises:
        ValueError: no image was given, an image smaller than
            :data:`~inctrl.data.images.MIN_IMAGE_SIDE` on a side, pixels of the wrong shape, or
            pixels holding NaN or infinite values (they would give NaN scores).
        InputTypeError: ``images`` (or one of them) is not an image, e.g. an int.
    """
    if isinstance(images, torch.Tensor):
        return check_pixels(images.unsqueeze(0) if images.ndim == 3 else images)
    from .data.images import check_image_size, load_image

    items = as_image_list(images)
    if not items:
        raise ValueError("no images were given")
    pixels = []
    for index, item in enumerate(items):
        if isinstance(item, torch.Tensor):
            pixels.append(item)
            continue
        image = item.convert("RGB") if isinstance(item, Image.Image) else load_image(item)
        check_image_size(image.size, item if not isinstance(item, Image.Image) else f"{index} (a PIL image)")
        pixels.append(transform(image))
    return check_pixels(torch.stack(pixels))


def check_pixels(pixels: torch.Tensor) -> torch.Tensor:
    """Refuse pixels the model cannot score: not [B, 3, S, S], or NaN / infinite values.

    Args:
        pixels: preprocessed images.

    Returns:
        ``pixels``, unchanged.

    Raises:
        ValueError: the shape is not [B, 3, S, S], or some values are not finite.
    """
    if pixels.ndim != 4 or pixels.shape[1] != 3:
        raise ValueError(f"pixels must be [3, S, S] or [B, 3, S, S] (e.g. model.transform(image)), got "
                         f"shape {list(pixels.shape)}")
    if pixels.is_floating_point():
        bad = ~torch.isfinite(pixels).flatten(1).all(dim=1)
        if bad.any():
            raise ValueError(f"{int(bad.sum())} of {len(pixels)} images hold NaN or infinite pixel values "
                             f"(first: image {int(bad.nonzero()[0])}); their scores would be NaN, give "
                             "finite pixels, e.g. model.transform(image)")
    return pixels


def check_name(name) -> None:
    """The category name drives the text prior: None or "" would silently score "None"."""
    if not isinstance(name, str):
        raise InputTypeError(f"name must be the object / category name, e.g. 'metal_nut', got {name!r} "
                             f"(type {type(name).__name__}, not str)")
    if not name.strip():
        raise ValueError(f"name must be the object / category name, e.g. 'metal_nut', got {name!r}")


def refuse_duplicates(items) -> None:
    """K prompts are K different images: the same file twice is a mistake, not a bigger K."""
    if isinstance(items, torch.Tensor):
        return
    seen: dict[Path, object] = {}
    for item in items:
        if isinstance(item, (str, os.PathLike)):
            key = Path(os.path.realpath(item))  # never raises, not even on a symlink loop
            if key in seen:
                raise ValueError(f"prompt image {item} is given twice (also as {seen[key]}); K prompts "
                                 "must be K different images")
            seen[key] = item


def check_bank(bank) -> None:
    """Scoring needs a PromptBank; anything else gets a message that says how to make one."""
    if not isinstance(bank, PromptBank):
        raise ValueError(f"bank must be a PromptBank from model.prompt_bank(normal_images, name), "
                         f"got {type(bank).__name__}")
