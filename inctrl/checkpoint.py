"""Checkpoints in the project's own format: save, load, and the checks on what is loaded.

Own format (``torch.save`` of plain containers, loadable with ``weights_only=True``)::

    {"format": "inctrl", "version": 1, "config": {...}, "trainable": {...},
     "backbone_fingerprint": str, "backbone": state dict or None, "meta": {...}}

The frozen backbone is rebuilt from the config (tiny: from its seed; paper: from the open_clip
weights) and checked against the stored fingerprint; its weights are stored only when they
came from an imported official checkpoint (``pretrained == "embedded"``).

The authors' official checkpoints are read by :mod:`inctrl.official`; :func:`load_checkpoint`
and :func:`load` accept either format. Reading torch files safely and exact state-dict loads
(shared with :mod:`inctrl.official`) live in :mod:`inctrl.torch_files`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path

import torch

from . import atomic
from .backbone import PROFILES, WEIGHTS_ENV, WeightsUnavailableError
from .device import resolve_device
from .model import InCTRL, InCTRLConfig
from .official import import_official, read_model_config
from .official import model_config_beside as official_config_beside
from .torch_files import EMBEDDED, CheckpointError, check_weights, key_list, load_exact, read_torch_file

__all__ = ["EMBEDDED", "FORMAT", "TRAINABLE_PREFIXES", "VERSION", "CheckpointError", "check_weights",
           "config_from_dict", "load", "load_checkpoint", "load_trainable", "read_torch_file",
           "save_checkpoint"]

FORMAT = "inctrl"
VERSION = 1
#: The state-dict prefixes of the trainable modules (adapter psi, heads eta and phi).
TRAINABLE_PREFIXES = ("adapter.", "image_head.", "holistic_head.")


def save_checkpoint(model: InCTRL, path: str | Path, meta: dict | None = None) -> Path:
    """Write ``model``'s trainable weights, config and backbone fingerprint atomically.

    The backbone weights themselves are stored only for an imported official checkpoint
    (``config.pretrained == "embedded"``); otherwise they are rebuilt from the config.

    Args:
        model: the model to save.
        path: the checkpoint file.
        meta: extra JSON-like information to keep (training settings, metrics).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    config = model.config
    backbone = None
    if config.pretrained == EMBEDDED:
        backbone = {k: v.cpu() for k, v in model.backbone.clip.state_dict().items()}
    data = {
        "format": FORMAT, "version": VERSION, "config": config.to_dict(),
        "trainable": {k: v.cpu() for k, v in model.trainable_state_dict().items()},
        "backbone_fingerprint": model.backbone.state_fingerprint(),
        "backbone": backbone, "meta": dict(meta or {}),
    }
    return atomic.torch_save(data, path)


_CONFIG_TYPES = {"profile": (str,), "model_name": (str,), "pretrained": (str, type(None)),
                 "taps": (list, tuple, type(None)), "backbone_seed": (int,), "head_seed": (int,),
                 "model_cfg": (dict, type(None)), "components": (str,), "image_feature": (str,)}


def config_from_dict(raw) -> InCTRLConfig:
    """An InCTRLConfig from a checkpoint's ``config``, every field checked.

    Args:
        raw: the checkpoint's ``config`` entry.

    Returns:
        The InCTRLConfig (``taps`` as a tuple).

    Raises:
        CheckpointError: not a dictionary, unknown or missing fields, or a field of the
            wrong type.
    """
    if not isinstance(raw, Mapping):
        raise CheckpointError(f"its config is a {type(raw).__name__}, not a dictionary")
    known = {f.name for f in fields(InCTRLConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise CheckpointError(f"its config has unknown fields {unknown} (written by another version of "
                              "inctrl?); expected only " + ", ".join(sorted(known)))
    missing = sorted({"profile", "model_name"} - set(raw))
    if missing:
        raise CheckpointError(f"its config lacks {missing}")
    for name, value in raw.items():
        if not isinstance(value, _CONFIG_TYPES[name]) or isinstance(value, bool):
            raise CheckpointError(f"its config field {name} is {value!r}, not a "
                                  + " or ".join(t.__name__ for t in _CONFIG_TYPES[name]))
    taps = raw.get("taps")
    if taps is not None and not all(isinstance(t, int) and not isinstance(t, bool) for t in taps):
        raise CheckpointError(f"its config field taps is {taps!r}, not a list of block numbers")
    return InCTRLConfig(**{**raw, "taps": tuple(taps) if taps is not None else None})


def _load_own(data: dict, device, weights: str | None = None) -> InCTRL:
    if data.get("version") != VERSION:
        raise CheckpointError(f"unsupported inctrl checkpoint version {data.get('version')!r}")
    for key in ("config", "trainable"):
        if key not in data:
            raise CheckpointError(f"it has no {key!r} entry: not a complete inctrl checkpoint")
    config = config_from_dict(data["config"])
    raw = config.to_dict()
    trainable = check_weights(data["trainable"], "trainable weights")
    if weights and config.pretrained in (None, EMBEDDED):
        where = "are stored in the checkpoint" if config.pretrained else "are random (from a fixed seed)"
        raise CheckpointError(f"weights={weights!r} does not apply: this checkpoint's backbone weights "
                              f"{where}; load it without weights")
    if config.pretrained == EMBEDDED:
        if not data.get("backbone"):
            raise CheckpointError("checkpoint says its backbone is embedded but holds none")
        model = _build(InCTRLConfig(**{**raw, "pretrained": None}))
        load_exact(model.backbone.clip, check_weights(data["backbone"], "backbone weights"), "backbone")
        model.config = config
    else:
        # A local copy of the training weights (argument, else INCTRL_CLIP_WEIGHTS for the paper
        # profile) replaces the recorded tag or path; the fingerprint below proves it is the same.
        local = weights or (os.environ.get(WEIGHTS_ENV) if config.profile == "paper" else None)
        if local and config.pretrained is not None:
            model = _build(replace(config, pretrained=str(local)))
            model.config = config  # keep the provenance recorded at training time
        else:
            model = _build(config)
    fingerprint = model.backbone.state_fingerprint()
    if data.get("backbone_fingerprint") not in (None, fingerprint):
        raise CheckpointError(
            f"the backbone rebuilt for profile {config.profile!r} ({config.model_name}, "
            f"weights {config.pretrained!r}) differs from the one this checkpoint was trained "
            f"with (fingerprint {fingerprint} != {data['backbone_fingerprint']}); scores would "
            "be meaningless. Use the same backbone weights (and open_clip version) as in training.")
    load_trainable(model, trainable)
    return model.to(device).eval()


def _build(config: InCTRLConfig) -> InCTRL:
    """The model a checkpoint's config describes.

    A config no backbone matches is the checkpoint's fault (CheckpointError); missing weights
    files are not, so WeightsUnavailableError passes through.
    """
    try:
        return InCTRL(config)
    except WeightsUnavailableError:
        raise
    except (RuntimeError, ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"its config {config.to_dict()} does not describe a model this inctrl can "
                              f"build ({type(error).__name__}: {error})") from error


def load_trainable(model: InCTRL, state: Mapping[str, torch.Tensor]) -> None:
    """Load the adapter and heads into ``model``: exact key set and shapes, finite values.

    Args:
        model: the model to load into (its backbone is not touched).
        state: ``adapter.*``, ``image_head.*`` and ``holistic_head.*`` tensors.

    Raises:
        CheckpointError: missing, unexpected or mis-shaped keys (all listed together), values
            that are not tensors, or NaN or infinite weights.
    """
    load_exact(model, check_weights(state, "trainable weights"), "trainable weights",
                only_prefixes=TRAINABLE_PREFIXES)


def load_checkpoint(path: str | Path, device="auto", weights: str | None = None,
                    model_config: str | Path | Mapping | None = None) -> InCTRL:
    """Load an inctrl checkpoint or an official InCTRL checkpoint, whichever ``path`` holds.

    The backbone of an inctrl checkpoint is rebuilt from its config and checked against the
    stored fingerprint.

    Args:
        path: the checkpoint file.
        device: where the model goes (see :func:`inctrl.device.resolve_device`).
        weights: a local file holding the CLIP weights that an inctrl checkpoint was trained
            on (it records their open_clip tag or path), to load it without a download or
            after the file moved; checked against the stored backbone fingerprint. Official
            checkpoints carry their CLIP weights and ignore it.
        model_config: for an official checkpoint whose ViT no open_clip model has, its
            open_clip model config (dict or JSON file; see :func:`inctrl.official.import_official`).

    Returns:
        The model, in eval mode.

    Raises:
        CheckpointError: the file is unreadable, of neither format, or inconsistent (the
            message starts with the path and says what is wrong); ``model_config`` is
            missing, not an open_clip config, does not fit the weights, or is given for an
            inctrl checkpoint.
        WeightsUnavailableError: the CLIP weights the checkpoint names cannot be found.
    """
    if model_config is not None:  # it exists, parses and is an open_clip config: before anything is built
        read_model_config(model_config)
    data = read_torch_file(path)
    device = resolve_device(device)
    try:
        if data.get("format") == FORMAT:
            if model_config is not None:
                raise CheckpointError("model_config applies to an official InCTRL checkpoint; this is an "
                                      "inctrl checkpoint, which stores its own config: drop model_config")
            return _load_own(data, device, weights)
        if "model_state" in data or "adapter.fc.0.weight" in data:
            if model_config is None:
                model_config = official_config_beside(Path(path))
            return import_official(data, device=device, model_config=model_config)
    except CheckpointError as error:
        raise CheckpointError(f"{path}: {error}") from error
    raise CheckpointError(f"{path} is neither an inctrl checkpoint nor an official InCTRL checkpoint "
                          f"(top-level keys: {key_list(data)})")


def _refuse_checkpoint_as_weights(weights) -> None:
    """Refuse an InCTRL checkpoint given as CLIP weights (loading it would list every CLIP key as missing)."""
    path = Path(weights).expanduser()
    if not path.is_file():
        return  # an open_clip tag, or a missing file the backbone reports
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)  # tensors not read
    except Exception:  # noqa: BLE001 - not a torch zip file: the backbone's loader says what is wrong
        return
    if isinstance(data, Mapping) and (data.get("format") == FORMAT or "model_state" in data
                                      or any(str(k).startswith(("adapter.", "diff_head")) for k in data)):
        raise CheckpointError(f"weights {weights} is an InCTRL checkpoint, not CLIP weights; load it as the "
                              f"checkpoint (inctrl.load({str(weights)!r}), or --checkpoint {weights})")


def load(source: str | Path = "tiny", *, device="auto", weights: str | None = None,
         pretrained: bool = True, head_seed: int = 0,
         model_config: str | Path | Mapping | None = None) -> InCTRL:
    """Build or load an InCTRL model.

    Args:
        source: a profile name (``"mini"``: offline, the shipped pretrained backbone;
            ``"tiny"``: offline, random backbone; ``"paper"``: ViT-B-16-plus-240 /
            laion400m_e32, downloaded by open_clip or read from ``weights``) or a checkpoint
            path (inctrl or official format). A fresh profile has untrained heads.
        device: where the model goes (see :func:`inctrl.device.resolve_device`).
        weights: for a profile, a local weights file that replaces the profile's weights;
            for a checkpoint, a local copy of the CLIP weights it was trained on.
        pretrained: for a profile, False builds its architecture with random weights (for
            ``"paper"``: the paper architecture, no download).
        head_seed: for a profile, the seed of the initial adapter and head weights.
        model_config: for an official checkpoint of a ViT that no open_clip model has, its
            open_clip model config (a dict, or a JSON file with ``vision_cfg`` and ``text_cfg``);
            an ``open_clip_config.json`` or ``<stem>.json`` beside the file is read otherwise.

    Returns:
        The model, in eval mode.

    Raises:
        ValueError: ``source`` is neither a profile nor an existing file.
        CheckpointError: as :func:`load_checkpoint`, or ``weights`` is an InCTRL checkpoint.
    """
    if weights is not None:
        _refuse_checkpoint_as_weights(weights)
    if str(source) in PROFILES:
        if model_config is not None:
            raise ValueError("model_config applies to an official checkpoint file, not to a profile; "
                             "drop it, or pass the checkpoint's path")
        config = InCTRLConfig.from_profile(str(source), pretrained=weights or pretrained,
                                           head_seed=head_seed)
        return InCTRL(config).to(resolve_device(device)).eval()
    if not Path(source).exists():
        raise ValueError(f"{source!r} is neither a profile ({', '.join(PROFILES)}) nor an existing "
                         "checkpoint file")
    return load_checkpoint(source, device=device, weights=weights, model_config=model_config)
