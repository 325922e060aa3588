"""What the model accepts as images, and the checks of its arguments.

Every entry point of :class:`~inctrl.model.InCTRL` takes a path, a folder, PIL images or
preprocessed pixels; this module turns them into one form and refuses, with a one-line
message, what would otherwise give silently wrong scores.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from .containers import PromptBank


def as_image_list(images) -> list:
    """A folder, one image or an iterable of images as a list of images.

    Args:
        images: a folder (its images in sorted order), a path, a PIL image, or an iterable
            of paths / PIL images / [3, S, S] tensors.

    Returns:
        The images, as given (paths are not opened here).
    """
    if isinstance(images, (str, Path)) and Path(images).is_dir():
        from .data.images import list_images

        return list_images(Path(images))
    if isinstance(images, (str, Path, Image.Image)):
        return [images]
    return list(images)


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
        ValueError: no image was given.
    """
    if isinstance(images, torch.Tensor):
        return images.unsqueeze(0) if images.ndim == 3 else images
    from .data.images import list_images, load_image

    if isinstance(images, (str, Path)):
        path = Path(images)
        images = list_images(path) if path.is_dir() else [path]
    elif isinstance(images, Image.Image):
        images = [images]
    items = list(images)
    if not items:
        raise ValueError("no images were given")
    pixels = []
    for item in items:
        if isinstance(item, torch.Tensor):
            pixels.append(item)
            continue
        image = item.convert("RGB") if isinstance(item, Image.Image) else load_image(item)
        pixels.append(transform(image))
    return torch.stack(pixels)


def check_name(name) -> None:
    """The category name drives the text prior: None or "" would silently score "None"."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be the object / category name, e.g. 'metal_nut', got {name!r}")


def refuse_duplicates(items) -> None:
    """K prompts are K different images: the same file twice is a mistake, not a bigger K."""
    if isinstance(items, torch.Tensor):
        return
    seen: dict[Path, object] = {}
    for item in items:
        if isinstance(item, (str, Path)):
            key = Path(item).resolve()
            if key in seen:
                raise ValueError(f"prompt image {item} is given twice (also as {seen[key]}); K prompts "
                                 "must be K different images")
            seen[key] = item


def check_bank(bank) -> None:
    """Scoring needs a PromptBank; anything else gets a message that says how to make one."""
    if not isinstance(bank, PromptBank):
        raise ValueError(f"bank must be a PromptBank from model.prompt_bank(normal_images, name), "
                         f"got {type(bank).__name__}")
