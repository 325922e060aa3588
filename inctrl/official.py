"""Interoperability with the authors' official InCTRL checkpoints (book/running.md).

The released ``checkpoint.pyth`` files hold a plain state dict, or one under
``model_state``, with the CLIP keys at top level and ``adapter.*``, ``diff_head.*`` (phi)
and ``diff_head_ref.*`` (eta). :func:`import_official` loads one into an InCTRL model
(:func:`inctrl.load` and :func:`inctrl.checkpoint.load_checkpoint` call it for such a file);
:func:`to_official_state_dict` writes our weights under those names. The project's own
format lives in :mod:`inctrl.checkpoint`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

import open_clip
import torch

from .backbone import PROFILES, WeightsUnavailableError
from .device import resolve_device
from .model import InCTRL, InCTRLConfig
from .paths import regular_file
from .torch_files import EMBEDDED, CheckpointError, check_weights, load_exact, read_torch_file

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


_OPEN_CLIP_KEYS = ("embed_dim", "vision_cfg", "text_cfg", "quick_gelu")
_PROFILE_OF_MODEL = {"ViT-B-16-plus-240": "paper", "inctrl-tiny-vit": "tiny", "inctrl-mini-vit": "mini"}


def _blocks(state: Mapping[str, torch.Tensor], prefix: str) -> int:
    return len({k[len(prefix):].split(".")[0] for k in state if k.startswith(prefix)})


def architecture_from_shapes(state: Mapping[str, torch.Tensor]) -> dict:
    """The open_clip config an official-format state dict determines by its shapes alone.

    Widths, depths, the patch size, the grid (hence the image size), the MLP ratios, the joint
    embedding, the vocabulary and the context length are all in the shapes; the number of
    attention heads is not (a width-W attention has the same weights for any head count).

    Args:
        state: an official-format state dict.

    Returns:
        ``{"embed_dim", "vision_cfg", "text_cfg"}`` without the head counts.

    Raises:
        CheckpointError: a key the shapes are read from is missing, or the position
            embedding is not a square grid plus the class token.
    """
    needed = ("visual.conv1.weight", "visual.positional_embedding", "visual.proj",
              "visual.transformer.resblocks.0.mlp.c_fc.weight", "token_embedding.weight",
              "positional_embedding", "transformer.resblocks.0.mlp.c_fc.weight")
    missing = [k for k in needed if k not in state]
    if missing:
        raise CheckpointError("not an official InCTRL checkpoint of an open_clip ViT: "
                              f"it has no {missing[0]!r}")
    width, _, patch, _ = state["visual.conv1.weight"].shape
    positions = state["visual.positional_embedding"].shape[0] - 1
    grid = math.isqrt(positions)
    if grid * grid != positions:
        raise CheckpointError(f"its vision position embedding has {positions} patch positions, "
                              "not a square grid")
    text_width = state["token_embedding.weight"].shape[1]
    return {
        "embed_dim": int(state["visual.proj"].shape[1]),
        "vision_cfg": {"image_size": int(grid * patch),
                       "layers": _blocks(state, "visual.transformer.resblocks."), "width": int(width),
                       "patch_size": int(patch),
                       "mlp_ratio": state["visual.transformer.resblocks.0.mlp.c_fc.weight"].shape[0] / width},
        "text_cfg": {"context_length": int(state["positional_embedding"].shape[0]),
                     "vocab_size": int(state["token_embedding.weight"].shape[0]), "width": int(text_width),
                     "layers": _blocks(state, "transformer.resblocks."),
                     "mlp_ratio": state["transformer.resblocks.0.mlp.c_fc.weight"].shape[0] / text_width},
    }


def _signature(cfg: Mapping) -> dict:
    """The architecture fields of an open_clip config, open_clip's defaults filled in."""
    vision, text = cfg.get("vision_cfg", {}), cfg.get("text_cfg", {})
    size = vision.get("image_size", 224)
    return {
        "embed_dim": cfg.get("embed_dim"),
        "vision image_size": size[0] if isinstance(size, (list, tuple)) else size,
        "vision layers": vision.get("layers", 12), "vision width": vision.get("width", 768),
        "vision patch_size": vision.get("patch_size", 16),
        "vision mlp_ratio": float(vision.get("mlp_ratio", 4.0)),
        "vision head_width": vision.get("head_width", 64),
        "text context_length": text.get("context_length", 77),
        "text vocab_size": text.get("vocab_size", 49408), "text width": text.get("width", 512),
        "text layers": text.get("layers", 12), "text mlp_ratio": float(text.get("mlp_ratio", 4.0)),
        "text heads": text.get("heads", 8),
    }


def read_model_config(source: str | Path | Mapping) -> dict:
    """An open_clip-style model config from a dict or a JSON file.

    Accepts open_clip's own model configs, a hub ``open_clip_config.json`` (under
    ``model_cfg``), or any JSON holding ``vision_cfg`` and ``text_cfg`` at its top level
    (other keys are ignored).

    Args:
        source: the config, or the path of a JSON file holding it.

    Returns:
        ``{"embed_dim", "vision_cfg", "text_cfg"}`` (and ``quick_gelu`` when given).

    Raises:
        CheckpointError: a missing, special or unreadable file, not JSON, no ``vision_cfg`` /
            ``text_cfg`` dictionaries, or keys open_clip does not know in them; the message
            names the file.
    """
    where = f"the model config {source}" if isinstance(source, (str, os.PathLike)) else "model_config"
    if isinstance(source, (str, os.PathLike)):
        try:
            raw = json.loads(regular_file(source, "model config").read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise CheckpointError(f"{where} is not JSON ({error}); give an open_clip model config (JSON)") \
                from None
        except (OSError, ValueError) as error:  # missing, a folder or a FIFO (never opened), unreadable
            raise CheckpointError(str(error)) from None
    else:
        raw = source
    raw = raw.get("model_cfg", raw) if isinstance(raw, Mapping) else raw
    towers = {"vision_cfg": open_clip.model.CLIPVisionCfg, "text_cfg": open_clip.model.CLIPTextCfg}
    if not isinstance(raw, Mapping) or not all(isinstance(raw.get(k), Mapping) for k in towers):
        raise CheckpointError(f"{where} must hold 'vision_cfg' and 'text_cfg' dictionaries (an open_clip "
                              f"model config), not a {type(raw).__name__} without them")
    for tower, fields in towers.items():
        unknown = sorted(set(raw[tower]) - {f.name for f in dataclasses.fields(fields)})
        if unknown:
            raise CheckpointError(f"{where}: its {tower} has keys open_clip {open_clip.__version__} does not "
                                  f"know: {', '.join(map(str, unknown))}; remove them or update open_clip")
    return {k: copy.deepcopy(raw[k]) for k in _OPEN_CLIP_KEYS if k in raw}


def model_config_beside(path: Path) -> Path | None:
    """A model config file next to a checkpoint: ``open_clip_config.json`` or ``<stem>.json``."""
    for candidate in (path.with_name("open_clip_config.json"), path.with_suffix(".json")):
        if candidate.is_file():
            return candidate
    return None


def official_architecture(state: Mapping[str, torch.Tensor],
                          model_config: str | Path | Mapping | None = None) -> tuple[str, dict | None]:
    """Which CLIP an official-format state dict holds: an open_clip model, or a config to build.

    The shapes fix everything but the attention heads (:func:`architecture_from_shapes`).
    Without ``model_config``, the first registered open_clip ViT whose shapes match is taken
    (the paper's ViT-B-16-plus-240 first). With it, the config is checked against the shapes
    and gives the heads; a registered model with the same architecture is still used by name.

    Args:
        state: an official-format state dict.
        model_config: an open_clip model config (dict or JSON file, :func:`read_model_config`).

    Returns:
        ``(model_name, None)`` for a registered open_clip model, or ``(name, config)`` for an
        architecture built from its config.

    Raises:
        CheckpointError: the config does not fit the shapes (every difference listed), or no
            registered model matches and no config was given.
    """
    shapes = _signature(architecture_from_shapes(state))
    shapes.pop("vision head_width"), shapes.pop("text heads")
    registered = [n for n in (*_PROFILE_OF_MODEL, *open_clip.list_models())
                  if "vision_cfg" in (open_clip.get_model_config(n) or {})]
    if model_config is None:
        for name in registered:
            sig = _signature(open_clip.get_model_config(name))
            if all(sig[k] == v for k, v in shapes.items()):
                return name, None
        v = architecture_from_shapes(state)["vision_cfg"]
        raise CheckpointError(
            f"no open_clip model has its architecture (ViT width {v['width']}, {v['layers']} blocks, patch "
            f"{v['patch_size']}, {v['image_size']} px), and the attention heads are not stored in the "
            "weights: pass model_config= (a dict or JSON file with open_clip's vision_cfg and text_cfg, "
            "e.g. inctrl.load(path, model_config='config.json')) or put open_clip_config.json beside "
            "the checkpoint")
    config = read_model_config(model_config)
    given = _signature(config)
    wrong = [f"{k} {given[k]} in the config, {v} in the weights" for k, v in shapes.items() if given[k] != v]
    if wrong:
        raise CheckpointError("the model config does not fit the checkpoint: " + "; ".join(wrong))
    # open_clip gives the vision heads as a head width, the text heads as a count
    for tower, width, part in (("vision", given["vision width"], given["vision head_width"]),
                               ("text", given["text width"], given["text heads"])):
        if not isinstance(part, int) or part < 1 or width % part:
            raise CheckpointError(f"the model config's {tower} heads do not divide its width {width}")
    for name in registered:
        plain = set(config) <= {"embed_dim", "vision_cfg", "text_cfg"}
        if plain and _signature(open_clip.get_model_config(name)) == given:
            return name, None
    full = architecture_from_shapes(state)
    full["vision_cfg"]["head_width"] = given["vision head_width"]
    full["text_cfg"]["heads"] = given["text heads"]
    full.update({k: v for k, v in config.items() if k not in full})
    for tower in ("vision_cfg", "text_cfg"):  # flags the shapes cannot show (e.g. an activation)
        full[tower].update({k: v for k, v in config[tower].items() if k not in full[tower]})
    v = full["vision_cfg"]
    return f"vit-{v['width']}x{v['layers']}-p{v['patch_size']}-{v['image_size']}px", full


def import_official(source: str | Path | Mapping, profile: str | None = None, device="cpu",
                    model_config: str | Path | Mapping | None = None) -> InCTRL:
    """Load an official InCTRL ``checkpoint.pyth`` (or its state dict) into an InCTRL model.

    Every key must be accounted for: trainable keys map onto the adapter, eta and phi, CLIP keys
    onto the open_clip model; only ``logit_scale`` may be absent. The backbone weights come
    from the checkpoint (``config.pretrained == "embedded"``). Any ViT geometry loads: what
    the shapes do not say (the attention heads) comes from ``model_config``, or from an
    ``open_clip_config.json`` / ``<stem>.json`` beside the file (:func:`official_architecture`).

    Args:
        source: the checkpoint file, or its loaded contents.
        profile: the profile to build; None guesses it from the architecture.
        device: where the model goes (see :func:`inctrl.device.resolve_device`).
        model_config: an open_clip model config (dict or JSON file) for an architecture no
            registered open_clip model has.

    Returns:
        The model, in eval mode.

    Raises:
        CheckpointError: an unreadable file, not an official checkpoint, an architecture that
            does not match ``profile`` or ``model_config``, or keys missing, unexpected or
            mis-shaped (all listed).
    """
    data = read_torch_file(source) if isinstance(source, (str, Path)) else dict(source)
    state = check_weights(official_state_dict(data), "weights")
    if model_config is None and isinstance(source, (str, Path)):
        model_config = model_config_beside(Path(source))
    model_name, model_cfg = official_architecture(state, model_config)
    if profile is None:
        profile = _PROFILE_OF_MODEL.get(model_name, "custom")
    base = InCTRLConfig.from_profile(profile, pretrained=False) if profile in PROFILES \
        else InCTRLConfig(profile, model_name, None, model_cfg=model_cfg)
    if base.model_name != model_name:
        raise CheckpointError(f"checkpoint is for {model_name}, not the {profile!r} profile "
                              f"({base.model_name})")
    try:
        model = InCTRL(base)
    except WeightsUnavailableError:
        raise
    except (TypeError, ValueError, RuntimeError) as error:  # a config open_clip cannot build
        raise CheckpointError(f"its model config does not describe a model open_clip can build "
                              f"({type(error).__name__}: {' '.join(str(error).split())})") from None
    mapped = {}
    for key, value in state.items():
        prefix = next((p for p in OFFICIAL_PREFIXES if key.startswith(p)), None)
        mapped[OFFICIAL_PREFIXES[prefix] + key[len(prefix):] if prefix else "backbone.clip." + key] = value
    load_exact(model, mapped, "official checkpoint",
               optional={"backbone.clip." + k for k in OPTIONAL_OFFICIAL_KEYS})
    model.config.pretrained = EMBEDDED
    model.backbone.spec = model.config.backbone_spec
    return model.to(resolve_device(device)).eval()
