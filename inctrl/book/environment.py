"""Where the book's numbers were made: the build's versions and hardware, shown once.

"Running it elsewhere" (``book/running.md``) shows :func:`environment_table` in its
Environment section. A chapter's setup shows only :func:`profile_line`: the profile that
made the page's numbers and a link to that section (every page of a build runs on the same
machine, so one block is enough).
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import torch

from ..device import resolve_device

__all__ = ["ENVIRONMENT_SECTION", "environment", "environment_table", "in_colab", "profile_line"]

#: The section that shows the environment, relative to a chapter (chapters live in book/).
ENVIRONMENT_SECTION = "running.md#environment"


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


def environment(device: str | torch.device = "auto") -> dict[str, str]:
    """Versions and hardware the book runs on.

    Args:
        device: the chapter's device (``"auto"`` resolved).

    Returns:
        ``{"python", "inctrl", "torch", "open_clip", "device"}`` -> text, plus
        ``"colab": "yes"`` inside Colab.
    """
    from .. import __version__

    dev = resolve_device(device)
    info = {
        "python": platform.python_version(),
        "inctrl": __version__,
        "torch": torch.__version__,
        "open_clip": _installed_version("open_clip_torch"),
        "device": str(dev) + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else
                              f" ({_cpu_name()}, {torch.get_num_threads()} threads)"),
    }
    if in_colab():
        info["colab"] = "yes"
    return info


def _installed_version(distribution: str) -> str:
    """A package's version without importing it (importing open_clip warns about tqdm)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def _cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo on Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment_table(device: str | torch.device = "auto"):
    """The environment as a two-column table, for the book's Environment section.

    Args:
        device: as in :func:`environment`.

    Returns:
        An ``IPython.display.Markdown`` table.
    """
    from IPython.display import Markdown

    rows = "\n".join(f"| {name} | {value} |" for name, value in environment(device).items())
    return Markdown("| component | version or hardware |\n|---|---|\n" + rows)


def profile_line(label: str, concrete: str, pretrained: bool, asked_auto: bool = False) -> str:
    """The one line a chapter shows about where its numbers come from, in Markdown.

    Args:
        label: the profile label (:func:`inctrl.book.notebook.profile_label`).
        concrete: the concrete profile.
        pretrained: whether the backbone weights are pretrained.
        asked_auto: the chapter asked for ``profile="auto"``.

    Returns:
        The line, linking to the Environment section.

    Example:
        >>> profile_line("tiny profile, random backbone", "tiny", True)[:58]
        'Numbers on this page: **tiny profile, random backbone** (r'
    """
    note = ""
    if concrete == "tiny" or not pretrained:
        note = " (random weights: they show the mechanics, not the paper's results)"
    elif concrete == "mini":
        note = " (not the paper's backbone; the appendix says how it was made)"
    auto = " for profile 'auto'" if asked_auto else ""
    return (f"Numbers on this page: **{label}**{auto}{note}. Versions and hardware: "
            f"[Environment]({ENVIRONMENT_SECTION}).")
