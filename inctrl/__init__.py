"""inctrl: InCTRL (Zhu & Pang, CVPR 2024), generalist anomaly detection from few-shot normal prompts.

The model scores query images against K normal prompt images of their category, on a frozen
open_clip backbone; only a small adapter and two score heads are trained.

>>> import inctrl
>>> model = inctrl.load("tiny")                              # doctest: +SKIP
>>> bank = model.prompt_bank(normal_images, name="elpv")     # doctest: +SKIP
>>> out = model.score(query_images, bank)                    # doctest: +SKIP
>>> out.score, out.patch_map, out.anomaly_map()              # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Public name -> the module that defines it, imported on first use (PEP 562): importing
# ``inctrl.cli`` must not load torch, so that the command line loads it inside its Ctrl-C guard.
_HOMES = {
    "PROFILES": "backbone", "Backbone": "backbone", "BackboneSpec": "backbone", "ImageFeatures": "backbone",
    "WeightsUnavailableError": "backbone", "CheckpointError": "checkpoint", "load": "checkpoint",
    "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint", "focal_loss": "loss",
    "inctrl_loss": "loss", "InCTRL": "model", "InCTRLConfig": "model", "InCTRLOutput": "model",
    "PromptBank": "model", "import_official": "official", "object_name": "prompts",
    "prompt_ensemble": "prompts",
}

__all__ = [
    "PROFILES", "Backbone", "BackboneSpec", "CheckpointError", "ImageFeatures", "InCTRL",
    "InCTRLConfig", "InCTRLOutput", "PromptBank", "WeightsUnavailableError", "focal_loss",
    "import_official", "inctrl_loss", "load", "load_checkpoint", "object_name",
    "prompt_ensemble", "save_checkpoint",
]

if TYPE_CHECKING:
    from .backbone import PROFILES, Backbone, BackboneSpec, ImageFeatures, WeightsUnavailableError
    from .checkpoint import CheckpointError, load, load_checkpoint, save_checkpoint
    from .loss import focal_loss, inctrl_loss
    from .model import InCTRL, InCTRLConfig, InCTRLOutput, PromptBank
    from .official import import_official
    from .prompts import object_name, prompt_ensemble


def __getattr__(name: str):
    if name in _HOMES:
        value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
        globals()[name] = value
        return value
    try:  # ``inctrl.model`` after a bare ``import inctrl``, as when everything was imported eagerly
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
