"""One live progress bar per loop in a notebook, one line per bar in the built book.

The package reports progress with ``tqdm.auto``. In a Jupyter kernel without ipywidgets
that falls back to the terminal bar, which writes one carriage-return update after another
to stderr; an executed notebook keeps every update, and the rendered page shows each as a
line (thousands for a training run). :func:`use_live_progress` replaces those bars, in the
current kernel only, by :class:`LiveBar`: a tqdm whose text lives in one display output
that is updated in place (``update_display_data``). Jupyter, Colab and VS Code show it as a
live bar; nbclient and papermill store only its final state, so the built page shows one
line per bar (bars opened with ``leave=False`` keep their final line too).
"""

from __future__ import annotations

import io
import sys

from tqdm.std import tqdm as _std_tqdm

__all__ = ["LiveBar", "in_kernel", "use_live_progress"]


class _Discard(io.TextIOBase):
    """A text stream that swallows what tqdm would print (LiveBar draws itself)."""

    def write(self, s: str) -> int:
        return len(s)


class LiveBar(_std_tqdm):
    """A tqdm drawn into one updatable display output instead of a terminal stream."""

    def __init__(self, *args, **kwargs):
        self._handle = None
        kwargs["file"] = _Discard()
        kwargs.setdefault("mininterval", 0.5)
        kwargs.setdefault("ncols", 80)
        super().__init__(*args, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        """Draw the bar's text into its display output (created on the first non-empty text).

        Args:
            msg: the text to show; None or empty: the bar's current text.
            pos: unused (tqdm's terminal line position).

        Returns:
            True, as tqdm expects.
        """
        from IPython.display import display

        # closing a leave=False bar asks to erase it; keep its final line instead, so that a
        # built page shows every loop once and no empty output
        text = self.__str__() if not msg else msg
        if self._handle is None:
            if not text:
                return True
            self._handle = display({"text/plain": text}, raw=True, display_id=True)
        else:
            self._handle.update({"text/plain": text}, raw=True)
        return True


def in_kernel() -> bool:
    """True inside a Jupyter kernel (Jupyter, Colab, papermill, the book build)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def use_live_progress() -> bool:
    """Route every ``tqdm.auto`` bar of the package through :class:`LiveBar` (kernels only).

    Patches ``tqdm.auto.tqdm`` for modules imported later and the ``tqdm`` name of the
    ``inctrl`` modules already imported.

    Returns:
        Whether anything was patched (False outside a kernel).
    """
    if not in_kernel():
        return False
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "IProgress not found" when ipywidgets is missing
        import tqdm.auto
        import tqdm.autonotebook

    originals = {tqdm.auto.tqdm, tqdm.autonotebook.tqdm, _std_tqdm}
    tqdm.auto.tqdm = tqdm.autonotebook.tqdm = LiveBar
    for name, module in list(sys.modules.items()):
        if (name == "inctrl" or name.startswith("inctrl.")) and getattr(module, "tqdm", None) in originals:
            module.tqdm = LiveBar
    return True
