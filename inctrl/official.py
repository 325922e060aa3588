"""Interoperability with the authors' official InCTRL checkpoints (book/running.md).

The released ``checkpoint.pyth`` files hold a plain state dict, or one under
``model_state``, with the CLIP keys at top level and ``adapter.*``, ``diff_head.*`` (phi)
and ``diff_head_ref.*`` (eta). :func:`import_official` loads one into an InCTRL model
(:func:`inctrl.load` and :func:`inctrl.checkpoint.load_checkpoint` call it for such a file);
:func:`to_official_state_dict` writes our weights under those names. The project's own
format lives in :mod:`inctrl.checkpoint`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import open_clip
import torch

from .backbone import PROFILES
from .checkpoint import EMBEDDED, CheckpointError, _load_exact, check_weights, read_torch_file
from .device import resolve_device
from .model import InCTRL, InCTRLConfig

OPTIONAL_OFFICIAL_KEYS = {"logit_scale"}
# official prefix -> our module prefix (the values are checkpoint.TRAINABLE_PREFIXES)
OFFICIAL_PREFIXES = {"adapter.": "adapter.", "diff_head_ref.": "image_head.",
                     "diff_head.": "holistic_head."}

def official_state_dict(data: Mapping) -> dict[str, torch.Tensor]:
    """The state dict inside an official checkpoint (plain, or under ``model_state``).

    Args:
        data: the loaded official checkpoint.

    Returns:
        The state dict, official key names.

    Raises:
        CheckpointError: it is not a dictionary of tensors.
    """
    state = data.get("model_state", data)
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError("not an official InCTRL checkpoint: expected a state dict of tensors "
                              "(plain or under 'model_state')")
    return dict(state)


def to_official_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our model's state dict under the official key names (the inverse of the import).

    Args:
        state: an InCTRL ``state_dict()``: ``adapter.*``, ``image_head.*``,
            ``holistic_head.*`` and ``backbone.clip.*`` keys.

    Returns:
        The same tensors under ``adapter.*``, ``diff_head_ref.*`` (eta), ``diff_head.*``
        (phi) and top-level CLIP keys.

    Raises:
        KeyError: a key has no official name.
    """
    ours_to_official = {v: k for k, v in OFFICIAL_PREFIXES.items()}
    out = {}
    for key, value in state.items():
        prefix = next((p for p in ours_to_official if key.startswith(p)), None)
        if prefix:
            out[ours_to_official[prefix] + key[len(prefix):]] = value
        elif key.startswith("backbone.clip."):
            out[key[len("backbone.clip."):]] = value
        else:
            raise KeyError(f"{key} has no official name")
    return out


def guess_official_model(state: Mapping[str, torch.Tensor]) -> str:
    """Which open_clip architecture an official-format state dict belongs to, by its shapes.

    Args:
        state: an official-format state dict.

    Returns:
        The open_clip model name whose vision width, patch size and depth match.

    Raises:
        CheckpointError: no ``visual.conv1.weight``, or no open_clip ViT matches.
    """
    key = "visual.conv1.weight"
    if key not in state:
        raise CheckpointError(f"not an official InCTRL checkpoint: it has no {key!r}")
    width, _, patch, _ = state[key].shape
    depth = len({k.split(".")[3] for k in state if k.startswith("visual.transformer.resblocks.")})
    for name in ("ViT-B-16-plus-240", "inctrl-tiny-vit", *open_clip.list_models()):
        cfg = open_clip.get_model_config(name) or {}
        vision = cfg.get("vision_cfg", {})
        if (vision.get("width"), vision.get("patch_size"), vision.get("layers")) == (width, patch, depth):
            return name
    raise CheckpointError(f"no open_clip ViT has width {width}, patch {patch} and {depth} blocks")


def import_official(source: str | Path | Mapping, profile: str | None = None,
                    device="cpu") -> InCTRL:
    """Load an official InCTRL ``checkpoint.pyth`` (or its state dict) into an InCTRL model.

    Every key must be accounted for: trainable keys map onto the adapter, eta and phi, CLIP keys
    onto the open_clip model; only ``logit_scale`` may be absent. The backbone weights come
    from the checkpoint (``config.pretrained == "embedded"``).

    Args:
        source: the checkpoint file, or its loaded contents.
        profile: the profile to build; None guesses it from the architecture.
        device: where the model goes (see :func:`inctrl.device.resolve_device`).

    Returns:
        The model, in eval mode.

    Raises:
        CheckpointError: an unreadable file, not an official checkpoint, an architecture that
            does not match ``profile``, or keys missing, unexpected or mis-shaped (all listed).
    """
    data = read_torch_file(source) if isinstance(source, (str, Path)) else dict(source)
    state = check_weights(official_state_dict(data), "weights")
    model_name = guess_official_model(state)
    if profile is None:
        profile = {"ViT-B-16-plus-240": "paper", "inctrl-tiny-vit": "tiny",
                   "inctrl-mini-vit": "mini"}.get(model_name, "custom")
    base = InCTRLConfig.from_profile(profile, pretrained=False) if profile in PROFILES \
        else InCTRLConfig(profile, model_name, None)
    if base.model_name != model_name:
        raise CheckpointError(f"checkpoint is for {model_name}, not the {profile!r} profile "
                              f"({base.model_name})")
    model = InCTRL(base)
    mapped = {}
    for key, value in state.items():
        prefix = next((p for p in OFFICIAL_PREFIXES if key.startswith(p)), None)
        mapped[OFFICIAL_PREFIXES[prefix] + key[len(prefix):] if prefix else "backbone.clip." + key] = value
    _load_exact(model, mapped, "official checkpoint",
                optional={"backbone.clip." + k for k in OPTIONAL_OFFICIAL_KEYS})
    model.config.pretrained = EMBEDDED
    model.backbone.spec = model.config.backbone_spec
    return model.to(resolve_device(device)).eval()
