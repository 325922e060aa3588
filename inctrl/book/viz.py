"""Figures for the book and for users: one style, page-wide layout, images and heatmaps.

The score plots (histograms, ROC/PR curves, AUROC heatmaps) are in
:mod:`inctrl.book.score_plots`, the InCTRL pipeline diagram in :mod:`inctrl.book.diagram`;
both draw in this module's style.

Every helper draws into Matplotlib axes it is given (or creates them) and returns them, so
figures compose freely. Pass the profile label (:func:`inctrl.book.notebook.profile_label`)
to ``label=`` and it is added to the title: a figure always says which profile made it.

Legibility rules of the book: a figure is at most :data:`PAGE_WIDTH` inches wide, so it is
never shrunk on the page, and no text is smaller than :data:`MIN_FONT` points
(:func:`smallest_font` checks a figure). Anomaly maps use one colour map,
:data:`ANOMALY_CMAP`, always with a colour bar.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import FuncFormatter, NullFormatter

from ..frame import ANOMALY_CMAP  # the one colormap of anomaly maps (book and command line)

__all__ = [
    "ANOMALY_CMAP", "ANOMALY_COLOR", "MIN_FONT", "NORMAL_COLOR", "PAGE_WIDTH", "PALETTE",
    "colorbar", "heatmap_overlay", "log_ticks", "patch_box", "show_image", "smallest_font",
    "subplots", "to_display", "use_style", "with_profile",
]

NORMAL_COLOR = "#3b75af"
ANOMALY_COLOR = "#d1495b"
#: Colours for several score curves, in order.
PALETTE = ("#3b75af", "#d1495b", "#e8a33d", "#3f9a6b", "#7a5ea8", "#6b6b6b")
#: Width of the page's text column in inches: no figure is wider, so none is shrunk.
PAGE_WIDTH = 7.0
#: The smallest font size (points) of any text in a figure.
MIN_FONT = 9.0

_STYLE = {
    "figure.dpi": 110,
    "figure.constrained_layout.use": True,
    "figure.figsize": (PAGE_WIDTH, 3.4),
    "savefig.dpi": 140,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "figure.titlesize": 10.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "legend.frameon": False,
    "image.cmap": ANOMALY_CMAP,
    "axes.prop_cycle": plt.cycler(color=list(PALETTE)),
}


def use_style() -> None:
    """Apply the book's Matplotlib style (:func:`inctrl.book.notebook.setup` calls it)."""
    plt.rcParams.update(_STYLE)


def subplots(nrows: int = 1, ncols: int = 1, height: float = 3.2, width: float = PAGE_WIDTH, **kwargs):
    """``plt.subplots`` at most one page wide.

    Args:
        nrows: rows of panels.
        ncols: columns of panels.
        height: the figure's height in inches.
        width: the figure's width in inches, capped at :data:`PAGE_WIDTH`.
        **kwargs: further arguments of ``plt.subplots``.

    Returns:
        ``(fig, axes)`` as ``plt.subplots`` returns them.
    """
    return plt.subplots(nrows, ncols, figsize=(min(width, PAGE_WIDTH), height), **kwargs)


def smallest_font(fig) -> float:
    """The smallest font size among the visible texts of ``fig`` as printed on the page.

    A figure wider than :data:`PAGE_WIDTH` is shrunk to it, and its fonts with it.

    Args:
        fig: a Matplotlib figure.

    Returns:
        The size in points; infinity for a figure without text.
    """
    scale = min(1.0, PAGE_WIDTH / fig.get_figwidth())
    sizes = [t.get_fontsize() for t in fig.findobj(plt.Text) if t.get_visible() and t.get_text().strip()]
    return scale * min(sizes) if sizes else float("inf")


def with_profile(title: str, label: str | None) -> str:
    """A title that says which profile made the figure.

    Args:
        title: the title.
        label: the profile label, or None.

    Returns:
        ``title`` followed by ``[label]`` on a second line; ``title`` alone without a label.
    """
    return f"{title}\n[{label}]" if label else title


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x)


def to_display(image, mean=None, std=None) -> np.ndarray:
    """An image for ``imshow``.

    Args:
        image: a PIL image, a path, an [H, W] or [H, W, 3] array, or a preprocessed
            [3, H, W] tensor / array (un-normalised with ``mean`` and ``std``).
        mean: the normalisation's per-channel mean; default CLIP's.
        std: the normalisation's per-channel std; default CLIP's.

    Returns:
        [H, W, 3] (or [H, W]) array: uint8 for a PIL image or a path, floats in [0, 1] for
        a preprocessed tensor, any other array as given.
    """
    from PIL import Image

    if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        image = Image.open(image).convert("RGB")
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    arr = _numpy(image)
    if arr.ndim == 3 and arr.shape[0] == 3:
        from ..backbone import CLIP_MEAN, CLIP_STD

        mean = np.asarray(mean or CLIP_MEAN)[:, None, None]
        std = np.asarray(std or CLIP_STD)[:, None, None]
        arr = np.clip(arr * std + mean, 0, 1).transpose(1, 2, 0)
    return arr


def show_image(ax, image, title: str | None = None, **title_kwargs):
    """Draw an image without ticks or grid, with an optional title.

    Args:
        ax: the axes to draw in.
        image: what :func:`to_display` takes.
        title: the title, or None.
        **title_kwargs: further arguments of ``ax.set_title``.

    Returns:
        The axes.
    """
    img = to_display(image)
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
    ax.set_axis_off()
    if title:
        ax.set_title(title, **title_kwargs)
    return ax


def heatmap_overlay(image, amap, ax=None, *, alpha: float = 0.5, cmap: str = ANOMALY_CMAP,
                    vmin: float | None = None, vmax: float | None = None, title: str | None = None,
                    label: str | None = None, colorbar: bool = True):
    """Draw ``image`` with an anomaly map on top.

    The map is stretched over the whole image with bilinear interpolation (as
    ``out.anomaly_map()`` upsamples M), then colour-mapped and blended by
    :func:`inctrl.frame.overlay_heatmap`, the helper that also draws the command line's
    heatmap PNGs, so a figure and a PNG of the same map show the same colours.

    Args:
        image: what :func:`to_display` takes: a PIL image, a path, an [H, W, 3] array (uint8,
            or float in [0, 1]) or a preprocessed [3, H, W] tensor.
        amap: [h, w] anomaly map of any resolution (e.g. the [15, 15] patch map M, or
            ``out.anomaly_map()[i]``).
        ax: the axes to draw in; default the current axes.
        alpha: the weight of the map's colours in the blend.
        cmap: the colormap (the book's :data:`ANOMALY_CMAP`).
        vmin: the value drawn with the first colour; default the map's minimum.
        vmax: the value drawn with the last colour; default the map's maximum. Fix both to
            compare several panels, then draw one shared bar with :func:`colorbar` and pass
            ``colorbar=False``.
        title: the panel's title.
        label: the profile label, added to the title.
        colorbar: draw the map's colour bar beside the panel.

    Returns:
        The axes.

    Raises:
        ValueError: ``amap`` is not 2-D.
    """
    from matplotlib.colors import Normalize

    from ..frame import colour_scale, overlay_heatmap

    ax = ax or plt.gca()
    img = to_display(image)
    amap = _numpy(amap)
    if amap.ndim != 2:
        raise ValueError(f"anomaly map must be 2-D, got shape {amap.shape}")
    h, w = img.shape[:2]
    lo, hi = colour_scale(amap, vmin, vmax)
    if amap.shape != (h, w):
        grid = torch.as_tensor(amap, dtype=torch.float32)[None, None]
        amap = torch.nn.functional.interpolate(grid, size=(h, w), mode="bilinear",
                                               align_corners=False)[0, 0].numpy()
    blend = overlay_heatmap(img, amap, vmin=lo, vmax=hi, alpha=alpha, cmap=cmap)
    # cmap and norm describe the blend's colours: the colour bar reads them.
    shown = ax.imshow(blend, cmap=cmap, norm=Normalize(lo, hi), extent=(0, w, h, 0))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    if title or label:
        ax.set_title(with_profile(title or "", label))
    if colorbar:
        plt.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    return ax


def patch_box(ax, patch: int, grid_width: int, patch_px: float, color: str, linewidth: float = 2.0):
    """Outline one patch of the ViT grid on an image drawn in ``ax``.

    Args:
        ax: the axes holding the image (pixel coordinates).
        patch: the patch's index, row-major on the grid.
        grid_width: w, the patches per row.
        patch_px: the side of one patch in the image's pixels.
        color: the outline's colour.
        linewidth: the outline's width in points.

    Returns:
        The axes.
    """
    row, col = divmod(patch, grid_width)
    ax.add_patch(plt.Rectangle((col * patch_px, row * patch_px), patch_px, patch_px, fill=False,
                               edgecolor=color, linewidth=linewidth))
    return ax


def colorbar(fig, axes, vmin: float, vmax: float, label: str = "patch distance",
             cmap: str = ANOMALY_CMAP):
    """One colour bar for several heatmap panels drawn on the same scale.

    Args:
        fig: the figure.
        axes: the panels the bar belongs to (it takes its room from them).
        vmin: the value of the first colour.
        vmax: the value of the last colour.
        label: the bar's label.
        cmap: the colormap (the book's :data:`ANOMALY_CMAP`).

    Returns:
        The Matplotlib colour bar.
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    mappable = ScalarMappable(Normalize(vmin, vmax), cmap)
    return fig.colorbar(mappable, ax=axes, label=label, shrink=0.9, pad=0.02)


def log_ticks(ax, xticks: Sequence[float], y: bool = True) -> None:
    """Plain numbers on log axes: no ``10^0`` labels and no labelled minor ticks.

    Args:
        ax: the axes (log x axis).
        xticks: where the x ticks go.
        y: format the y axis the same way (a log y axis).
    """
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.set_xticks(list(xticks))
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(NullFormatter())
    if y:
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(NullFormatter())
