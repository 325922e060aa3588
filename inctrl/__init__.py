"""inctrl: InCTRL (Zhu & Pang, CVPR 2024), generalist anomaly detection from few-shot normal prompts.

The model scores query images against K normal prompt images of their category, on a frozen
open_clip backbone; only a small adapter and two score heads are trained.

>>> import inctrl
>>> model = inctrl.load("tiny")                              # doctest: +SKIP
>>> bank = model.prompt_bank(normal_images, name="elpv")     # doctest: +SKIP
>>> out = model.score(query_images, bank)                    # doctest: +SKIP
>>> out.score, out.patch_map, out.anomaly_map()              # doctest: +SKIP
"""

from .backbone import PROFILES, Backbone, BackboneSpec, ImageFeatures, WeightsUnavailableError
from .checkpoint import CheckpointError, load, load_checkpoint, save_checkpoint
from .loss import focal_loss, inctrl_loss
from .model import InCTRL, InCTRLConfig, InCTRLOutput, PromptBank
from .official import import_official
from .prompts import object_name, prompt_ensemble

__version__ = "0.1.0"

__all__ = [
    "PROFILES", "Backbone", "BackboneSpec", "CheckpointError", "ImageFeatures", "InCTRL",
    "InCTRLConfig", "InCTRLOutput", "PromptBank", "WeightsUnavailableError", "focal_loss",
    "import_official", "inctrl_loss", "load", "load_checkpoint", "object_name",
    "prompt_ensemble", "save_checkpoint",
]
