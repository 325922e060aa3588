"""Chapter setup: parameters -> model, seeds, style, progress bars and the profile line.

A chapter starts with a ``parameters`` cell (papermill) and then calls :func:`setup`, which
resolves the profile (``"auto"`` included) and the device, seeds the generators, applies the
figure style, routes progress bars into one live line each, loads the model and shows one
line naming the profile that made every number below it (the versions and hardware are
shown once, by :mod:`inctrl.book.environment`). :func:`glue` records a
number for the text (a no-op outside a book build), :func:`write_metrics` saves what a
chapter measured for the tests. The ELPV helpers live in :mod:`inctrl.book.elpv`.
"""

from __future__ import annotations

import os
import random
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import atomic
from ..device import resolve_device
from .elpv import elpv_dataset, elpv_prompts, elpv_queries  # noqa: F401  (re-exported)
from .environment import environment, in_colab, profile_line

__all__ = [
    "PROFILE_CHOICES", "ChapterContext", "elpv_dataset", "elpv_prompts", "elpv_queries",
    "environment", "glue", "glue_many", "in_colab", "load_model", "offline_default", "profile_label",
    "resolve_profile", "seed_everything", "setup", "show_source", "source_between", "write_metrics",
]

#: What a chapter's ``profile`` parameter accepts.
PROFILE_CHOICES = ("auto", "mini", "tiny", "paper")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so a chapter draws the same every run.

    Args:
        seed: the seed of all three.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def offline_default() -> str:
    """The profile used without a GPU.

    Returns:
        ``"mini"`` when its weights ship with the package, else ``"tiny"``.
    """
    from .. import backbone

    weights = getattr(backbone, "MINI_WEIGHTS_FILE", None)
    return "mini" if weights is not None and Path(weights).is_file() else "tiny"


def resolve_profile(profile: str, device: str | torch.device = "auto") -> str:
    """A concrete profile for a chapter parameter.

    ``"auto"`` is ``"paper"`` on a CUDA GPU and the offline default otherwise (see
    :func:`load_model` for the fallback when the paper weights cannot be had).

    Args:
        profile: one of :data:`PROFILE_CHOICES`.
        device: the device the chapter runs on (``"auto"`` resolved as
            :func:`inctrl.device.resolve_device` does).

    Returns:
        ``"mini"``, ``"tiny"`` or ``"paper"``.

    Raises:
        ValueError: ``profile`` is not one of :data:`PROFILE_CHOICES`.
    """
    if profile not in PROFILE_CHOICES:
        raise ValueError(f"profile must be one of {', '.join(PROFILE_CHOICES)} (or give a checkpoint), "
                         f"got {profile!r}")
    if profile != "auto":
        return profile
    return "paper" if resolve_device(device).type == "cuda" else offline_default()


def profile_label(profile: str, pretrained: bool = True, weights: str | None = None,
                  checkpoint: str | None = None) -> str:
    """A short human label of where the numbers come from, for titles and captions.

    Args:
        profile: the concrete profile.
        pretrained: False for random backbone weights.
        weights: a local weights file the backbone came from (its name is shown).
        checkpoint: the checkpoint the model came from (its name is shown).

    Returns:
        The label.

    Example:
        >>> profile_label("tiny")
        'tiny profile, random backbone'
        >>> profile_label("mini")
        'mini profile, ImageNet CNN with a LiT text tower'
        >>> profile_label("paper", pretrained=False)
        'paper profile, random weights'
    """
    if checkpoint:
        return f"{profile} profile, checkpoint {Path(checkpoint).name}"
    if profile == "tiny":
        return "tiny profile, random backbone"
    if profile in ("paper", "mini") and not pretrained:
        return f"{profile} profile, random weights"
    if profile == "mini":
        return (f"mini profile, weights {Path(weights).name}" if weights
                else "mini profile, ImageNet CNN with a LiT text tower")
    if profile == "paper":
        return f"paper profile, {'weights ' + Path(weights).name if weights else 'laion400m_e32'}"
    return f"{profile} profile"


def load_model(profile: str = "tiny", device: str = "auto", *, pretrained: bool = True,
               weights: str | None = None, checkpoint: str | None = None):
    """``inctrl.load`` driven by chapter parameters: a checkpoint wins over a profile.

    ``profile="auto"`` loads the paper profile on a CUDA GPU and falls back to the offline
    default when its weights can be neither read nor downloaded (it says so).

    Args:
        profile: one of :data:`PROFILE_CHOICES`.
        device: where the model goes.
        pretrained: False for random backbone weights.
        weights: a local weights file (see :func:`inctrl.load`).
        checkpoint: a checkpoint to load instead of a profile.

    Returns:
        The :class:`~inctrl.model.InCTRL` model, in eval mode.

    Raises:
        WeightsUnavailableError: the weights of an explicitly asked profile are unavailable.
    """
    from ..backbone import WeightsUnavailableError
    from ..checkpoint import load

    if checkpoint:
        return load(checkpoint, device=device, weights=weights)
    chosen = resolve_profile(profile, device)
    try:
        return load(chosen, device=device, weights=weights, pretrained=pretrained)
    except WeightsUnavailableError:
        if profile != "auto" or chosen != "paper":
            raise
        print("profile 'auto': the paper weights are unavailable here; using the offline default")
        return load(offline_default(), device=device)


@dataclass
class ChapterContext:
    """What :func:`setup` hands back to a chapter.

    Attributes:
        model: the :class:`~inctrl.model.InCTRL` model, or None with ``load=False``.
        device: the resolved device.
        label: the label naming the profile (:func:`profile_label`).
        output_dir: the chapter's output folder (created).
        data_dir: the data folder.
        seed: the seed everything was seeded with.
        info: the profile, backbone and environment, name -> text.
        requested_profile: the ``profile`` parameter as given (``"auto"`` included).
        pretrained: whether the backbone weights are pretrained.
        weights: the local weights file given, or None.
    """

    model: object
    device: torch.device
    label: str
    output_dir: Path
    data_dir: Path
    seed: int
    info: dict[str, str] = field(default_factory=dict)
    requested_profile: str = "tiny"
    pretrained: bool = True
    weights: str | None = None

    @property
    def profile(self) -> str:
        """The concrete profile (``"auto"`` resolved)."""
        if self.model is not None:
            return self.model.config.profile
        return resolve_profile(self.requested_profile, self.device)


def quiet_warnings() -> None:
    """Silence the warnings that would otherwise end up in a rendered page.

    tqdm's note that ipywidgets is missing (progress bars are drawn by
    :mod:`inctrl.book.progress`) and deprecation notices of third-party libraries.
    """
    warnings.filterwarnings("ignore", message="IProgress not found")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=PendingDeprecationWarning)


def setup(profile: str = "tiny", device: str = "auto", seed: int = 0, *,
          data_dir: str | os.PathLike = "../data", output_dir: str | os.PathLike = "../outputs",
          pretrained: bool = True, weights: str | None = None, checkpoint: str | None = None,
          load: bool = True, banner: bool = True) -> ChapterContext:
    """Resolve the parameters of a chapter, load its model and show its profile line.

    Also applies the figure style, routes progress bars into one live line each and seeds
    the generators. The label is glued as ``profile_label`` for the text.

    Args:
        profile: ``"mini"``, ``"tiny"``, ``"paper"`` or ``"auto"`` (the paper profile on a
            CUDA GPU, the offline default elsewhere).
        device: ``"auto"`` picks CUDA, then Apple MPS, then the CPU.
        seed: seeds Python, NumPy and torch (:func:`seed_everything`).
        data_dir: the data folder.
        output_dir: the output folder (created).
        pretrained: False for random backbone weights.
        weights: a local weights file (see :func:`inctrl.load`).
        checkpoint: a checkpoint to load instead of a profile.
        load: False skips the model (for pages that only draw).
        banner: show the profile line (:func:`inctrl.book.environment.profile_line`); in
            Colab also the environment, since the book's Environment section describes the
            machine that built the book.

    Returns:
        The :class:`ChapterContext`.
    """
    from .progress import use_live_progress
    from .viz import use_style

    quiet_warnings()
    use_style()
    use_live_progress()
    dev = resolve_device(device)
    seed_everything(seed)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(profile, dev, pretrained=pretrained, weights=weights,
                       checkpoint=checkpoint) if load else None
    concrete = model.config.profile if model is not None else resolve_profile(profile, dev)
    if model is not None and not checkpoint:
        pretrained = model.config.pretrained is not None
    label = profile_label(concrete, pretrained, weights, checkpoint)
    info = {"profile": label + (" (asked for 'auto')" if profile == "auto" else "")}
    if model is not None:
        bb = model.backbone
        info["backbone"] = (f"{bb.spec.model_name}, {bb.image_size} px, {bb.grid[0]}x{bb.grid[1]} "
                            f"patches, taps {list(bb.taps)}")
    info.update(environment(dev))
    glue("profile_label", _markdown(label))
    if banner:
        _show_profile_line(profile_line(label, concrete, pretrained, asked_auto=profile == "auto"), info)
    return ChapterContext(model, dev, label, out, Path(data_dir), seed, info, profile, pretrained, weights)


def _show_profile_line(line: str, info: dict[str, str]) -> None:
    from IPython.display import Markdown, display

    display(Markdown(line))
    if in_colab():
        width = max(len(k) for k in info)
        print("\n".join(f"{k:>{width}} : {v}" for k, v in info.items()))


def source_between(obj, start: str, stop: str | None = None) -> str:
    """A dedented excerpt of ``obj``'s source, between two marker strings.

    How a chapter shows the few lines of a method that compute one equation.

    Args:
        obj: a function, method or class.
        start: the excerpt starts at the first line containing it.
        stop: the excerpt ends before the next line containing it; None: at the end.

    Returns:
        The excerpt, dedented.

    Raises:
        ValueError: ``start`` does not occur, or ``stop`` does not follow it.
    """
    import inspect
    import textwrap

    lines = inspect.getsource(obj).splitlines()
    first = next((i for i, line in enumerate(lines) if start in line), None)
    if first is None:
        raise ValueError(f"{start!r} does not occur in the source of {obj.__qualname__}")
    last = len(lines)
    if stop is not None:
        last = next((i for i in range(first + 1, len(lines)) if stop in lines[i]), None)
        if last is None:
            raise ValueError(f"{stop!r} does not follow {start!r} in the source of {obj.__qualname__}")
    return textwrap.dedent("\n".join(lines[first:last]))


def show_source(obj, start: str | None = None, stop: str | None = None):
    """The source of ``obj`` as a highlighted code block, for a chapter to display.

    Args:
        obj: a function, method or class.
        start: show only the lines from here (see :func:`source_between`); None: all.
        stop: as :func:`source_between`.

    Returns:
        An ``IPython.display.Markdown`` Python code block.
    """
    import inspect
    import textwrap

    from IPython.display import Markdown

    text = source_between(obj, start, stop) if start is not None else textwrap.dedent(inspect.getsource(obj))
    return Markdown(f"```python\n{text.rstrip()}\n```")


# ------------------------------------------------------------------------ glue and metrics
def glue(name: str, value, display: bool = False) -> None:
    """``myst_nb.glue`` when it is installed (the book build), else nothing (e.g. on Colab).

    Args:
        name: the glue key the text refers to.
        value: the value (a number, text or Markdown).
        display: also show the value in the cell's output.
    """
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return
    _glue(name, value, display=display)


def _markdown(text: str):
    from IPython.display import Markdown

    return Markdown(text)


def glue_many(values: dict) -> None:
    """:func:`glue` every ``name: value`` of a dict (values that are Markdown stay Markdown)."""
    for name, value in values.items():
        glue(name, value)


def write_metrics(output_dir: str | os.PathLike, metrics: dict, name: str = "metrics.json") -> Path:
    """Write ``metrics`` as JSON into ``output_dir`` atomically.

    Args:
        output_dir: the chapter's output folder.
        metrics: nested dicts and lists; NumPy and torch scalars and arrays become plain
            numbers and lists, paths become text.
        name: the file name.

    Returns:
        The file path.
    """
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
