"""Helpers shared by the chapters of the book (and handy in your own notebooks).

A chapter starts with a ``parameters`` cell (papermill) and then calls :func:`setup`,
which resolves the device, seeds the generators, creates the output folder, loads the
model of the requested profile and prints an environment banner. Data helpers prepare
the offline ELPV benchmark on first use and draw seeded query subsets; :func:`write_metrics`
saves the numbers a chapter measured, atomically, for the tests to check.
"""

from __future__ import annotations

import os
import platform
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import atomic
from .device import resolve_device

__all__ = [
    "ChapterContext", "elpv_dataset", "elpv_prompts", "elpv_queries", "environment",
    "in_colab", "load_model", "profile_label", "seed_everything", "setup", "write_metrics",
]

#: The ELPV category (and text-prior object name) in the canonical layout.
ELPV = "elpv"


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so a chapter draws the same every run."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def profile_label(profile: str, pretrained: bool = True, weights: str | None = None,
                  checkpoint: str | None = None) -> str:
    """A short human label of where the numbers come from, for titles and captions.

    >>> profile_label("tiny")
    'tiny profile, random backbone'
    >>> profile_label("paper", pretrained=False)
    'paper profile, random weights'
    """
    if checkpoint:
        return f"{profile} profile, checkpoint {Path(checkpoint).name}"
    if profile == "tiny":
        return "tiny profile, random backbone"
    if profile == "paper":
        if not pretrained:
            return "paper profile, random weights"
        return f"paper profile, {'weights ' + Path(weights).name if weights else 'laion400m_e32'}"
    return f"{profile} profile"


def load_model(profile: str = "tiny", device: str = "auto", *, pretrained: bool = True,
               weights: str | None = None, checkpoint: str | None = None):
    """``inctrl.load`` driven by chapter parameters: a checkpoint wins over a profile."""
    from .checkpoint import load

    if checkpoint:
        return load(checkpoint, device=device)
    if profile not in ("tiny", "paper"):
        raise ValueError(f"profile must be 'tiny' or 'paper' (or give a checkpoint), got {profile!r}")
    return load(profile, device=device, weights=weights, pretrained=pretrained)


def environment(device: str | torch.device = "auto") -> dict[str, str]:
    """Versions and hardware the chapter runs on."""
    import open_clip

    from . import __version__

    dev = resolve_device(device)
    info = {
        "python": platform.python_version(),
        "inctrl": __version__,
        "torch": torch.__version__,
        "open_clip": getattr(open_clip, "__version__", "?"),
        "device": str(dev),
        "cpu threads": str(torch.get_num_threads()),
        "colab": str(in_colab()),
    }
    if dev.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(dev)
    return info


@dataclass
class ChapterContext:
    """What :func:`setup` hands back to a chapter."""

    model: object
    device: torch.device
    label: str
    output_dir: Path
    data_dir: Path
    seed: int
    info: dict[str, str] = field(default_factory=dict)

    @property
    def profile(self) -> str:
        return self.model.config.profile


def setup(profile: str = "tiny", device: str = "auto", seed: int = 0, *,
          data_dir: str | os.PathLike = "../data", output_dir: str | os.PathLike = "../outputs",
          pretrained: bool = True, weights: str | None = None, checkpoint: str | None = None,
          load: bool = True, banner: bool = True) -> ChapterContext:
    """Resolve the parameters of a chapter, load its model and print the environment banner.

    ``device="auto"`` picks CUDA, then Apple MPS, then the CPU. ``load=False`` skips the
    model (for pages that only draw). The banner names the profile that produces every
    figure and number below it.
    """
    dev = resolve_device(device)
    seed_everything(seed)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(profile, dev, pretrained=pretrained, weights=weights,
                       checkpoint=checkpoint) if load else None
    if model is not None:
        profile = model.config.profile
    label = profile_label(profile, pretrained, weights, checkpoint)
    info = environment(dev)
    info["profile"] = label
    if model is not None:
        bb = model.backbone
        info["backbone"] = (f"{bb.spec.model_name}, {bb.image_size} px, {bb.grid[0]}x{bb.grid[1]} "
                            f"patches, {bb.embed_dim}-d embedding, taps {list(bb.taps)}")
    if banner:
        width = max(len(k) for k in info)
        print("\n".join(f"{k:>{width}} : {v}" for k, v in info.items()))
        if profile == "tiny" or not pretrained:
            print("NOTE: random backbone weights - the numbers below illustrate the mechanics "
                  "and are NOT the paper's results.")
    return ChapterContext(model, dev, label, out, Path(data_dir), seed, info)


def write_metrics(output_dir: str | os.PathLike, metrics: dict, name: str = "metrics.json") -> Path:
    """Write ``metrics`` as JSON into ``output_dir`` atomically; NumPy/torch scalars become
    plain numbers. Returns the file path."""
    return atomic.write_json(Path(output_dir) / name, _plain(metrics))


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, torch.Tensor):
        return _plain(value.detach().cpu().tolist())
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


# ------------------------------------------------------------------------ data
def elpv_dataset(data_dir: str | os.PathLike = "../data", *, show_progress: bool = False):
    """The canonical ELPV dataset under ``data_dir/elpv``, prepared from the ``elpv-dataset``
    package the first time (about 80 MB, no download)."""
    from .data.converters import prepare_elpv
    from .data.layout import CanonicalDataset

    root = Path(data_dir) / ELPV
    if not (root / ELPV / "train" / "good").is_dir():
        if root.exists() and any(root.iterdir()):
            raise FileNotFoundError(
                f"{root} exists but holds no prepared ELPV ({root}/{ELPV}/train/good is missing); "
                "remove it or point data_dir elsewhere")
        print(f"preparing ELPV into {root} (once) ...")
        prepare_elpv(root, show_progress=show_progress)
    return CanonicalDataset(root, name=ELPV)


def elpv_prompts(dataset, k: int, seed: int = 0) -> list[Path]:
    """K normal prompt images drawn reproducibly from ELPV's train/good split
    (:class:`inctrl.data.fewshot.PromptSet`; draws are nested across K for one seed)."""
    from .data.fewshot import PromptSet

    return PromptSet.draw(dataset, ELPV, k, seed).resolve(dataset.root)


def elpv_queries(dataset, n_normal: int, n_anomalous: int, seed: int = 0):
    """A seeded subset of ELPV's test split: ``(paths, labels, defects)``, normals first.

    ``n_normal`` / ``n_anomalous`` are capped by what the split holds; labels are 0/1 and
    defects are ``"good"``, ``"mono"`` or ``"poly"``.
    """
    rng = np.random.default_rng(seed)
    test = dataset.test_samples(ELPV)
    chosen = []
    for label, n in ((0, n_normal), (1, n_anomalous)):
        pool = [s for s in test if s.label == label]
        if n < 0:
            raise ValueError(f"query counts must be >= 0, got {n}")
        pick = rng.permutation(len(pool))[:min(n, len(pool))]
        chosen += [pool[i] for i in sorted(pick)]
    return ([s.path for s in chosen], np.array([s.label for s in chosen], dtype=int),
            [s.defect for s in chosen])
