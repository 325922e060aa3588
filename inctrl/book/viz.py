"""Figures for the book and for users: one style, heatmaps, score distributions, ROC/PR
curves, AUROC heatmaps and the InCTRL pipeline diagram.

Every helper draws into Matplotlib axes it is given (or creates them) and returns them, so
figures compose freely. Pass the profile label (:func:`inctrl.book.notebook.profile_label`)
to ``label=`` and it is added to the title: a figure always says which profile made it.

Legibility rules of the book: a figure is at most :data:`PAGE_WIDTH` inches wide, so it is
never shrunk on the page, and no text is smaller than :data:`MIN_FONT` points
(:func:`smallest_font` checks a figure). Anomaly maps use one colour map,
:data:`ANOMALY_CMAP`, always with a colour bar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.ticker import FuncFormatter, NullFormatter

from ..containers import ANOMALY_CMAP  # the one colormap of anomaly maps (book and command line)

__all__ = [
    "ANOMALY_CMAP", "ANOMALY_COLOR", "MIN_FONT", "NORMAL_COLOR", "PAGE_WIDTH", "PALETTE",
    "auroc_heatmap", "colorbar", "heatmap_overlay", "log_ticks", "patch_box", "pipeline_figure",
    "plot_roc_pr", "profile_taps", "score_distributions", "score_histogram", "show_image", "smallest_font",
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


def score_histogram(scores, labels, ax=None, *, bins: int = 20, title: str | None = None,
                    label: str | None = None, xlabel: str = "score"):
    """Overlaid histograms of the scores of normal and anomalous images, on shared bins.

    Args:
        scores: [n] scores.
        labels: [n] 0 (normal) / 1 (anomalous).
        ax: the axes to draw in; default the current axes.
        bins: the number of bins over the range of all scores.
        title: the title.
        label: the profile label, added to the title.
        xlabel: the x axis label.

    Returns:
        The axes.
    """
    ax = ax or plt.gca()
    scores, labels = _numpy(scores).ravel(), _numpy(labels).ravel()
    edges = np.histogram_bin_edges(scores, bins=bins)
    for value, name, color in ((0, "normal", NORMAL_COLOR), (1, "anomalous", ANOMALY_COLOR)):
        part = scores[labels == value]
        if len(part):
            ax.hist(part, bins=edges, alpha=0.55, color=color, label=f"{name} (n={len(part)})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("images")
    ax.legend()
    if title or label:
        ax.set_title(with_profile(title or "", label))
    return ax


def score_distributions(scores: Mapping[str, Sequence[float]], labels, axes=None, *,
                        label: str | None = None, ncols: int = 2):
    """Seaborn histograms of several scores, normal against anomalous, one panel per score.

    Each panel shows both classes as density outlines with its own x range (the scores
    live on different scales).

    Args:
        scores: {name (``"s_p"``, ``"full s"`` ...): [n] one score per image}.
        labels: [n] 0 (normal) / 1 (anomalous).
        axes: at least one axes per score; created (``ncols`` per row) when None.
        label: the profile label, the figure's title.
        ncols: panels per row of created axes.

    Returns:
        The axes, flattened (unused ones hidden).
    """
    import pandas as pd
    import seaborn as sns

    labels = _numpy(labels).ravel()
    names = list(scores)
    if axes is None:
        nrows = -(-len(names) // ncols)
        _, axes = subplots(nrows, ncols, height=2.3 * nrows, squeeze=False)
    axes = np.asarray(axes).ravel()
    for ax, name in zip(axes, names):
        frame = pd.DataFrame({"score": _numpy(scores[name]).ravel(),
                              "class": np.where(labels == 1, "anomalous", "normal")})
        sns.histplot(frame, x="score", hue="class", hue_order=["normal", "anomalous"], ax=ax,
                     palette=[NORMAL_COLOR, ANOMALY_COLOR], element="step", stat="density",
                     common_norm=False, bins=20, legend=ax is axes[0])
        ax.set_xlabel(name)
        ax.set_ylabel("density")
    for ax in axes[len(names):]:
        ax.set_visible(False)
    if label:
        axes[0].figure.suptitle(f"[{label}]")
    return axes


def auroc_heatmap(table, ax=None, *, value: str = "auroc", rows: str = "k", columns: str = "score",
                  row_label: str = "K", column_order: Sequence[str] | None = None,
                  names: Mapping[str, str] | None = None, label: str | None = None):
    """A seaborn heatmap of AUROC (or another metric in [0, 1]) over two columns of a table.

    The cells are annotated, the colours centred on chance (0.5), with a colour bar.

    Args:
        table: a long table, one row per (``rows``, ``columns``) value.
        ax: the axes to draw in; default the current axes.
        value: the metric's column.
        rows: the column whose values are the heatmap's rows.
        columns: the column whose values are the heatmap's columns.
        row_label: the y axis label.
        column_order: the order of the columns (others are dropped); default sorted.
        names: display names of the columns.
        label: the profile label, added to the title.

    Returns:
        The axes.
    """
    import seaborn as sns

    grid = table.pivot(index=rows, columns=columns, values=value)
    if column_order is not None:
        grid = grid[[c for c in column_order if c in grid.columns]]
    if names:
        grid.columns = [names.get(c, c) for c in grid.columns]
    ax = ax or plt.gca()
    sns.heatmap(grid, ax=ax, annot=True, fmt=".3f", cmap="RdBu_r", center=0.5, vmin=0.0, vmax=1.0,
                cbar_kws={"label": value.upper()}, annot_kws={"fontsize": 9}, linewidths=0.5)
    ax.set_ylabel(row_label)
    ax.set_xlabel("")
    ax.tick_params(axis="y", rotation=0)
    if label:
        ax.set_title(with_profile(ax.get_title(), label))
    return ax


def plot_roc_pr(labels, scores_by_name: Mapping[str, Sequence[float]], axes=None, *,
                label: str | None = None) -> dict[str, dict[str, float]]:
    """ROC (left) and precision-recall (right) curves of several scores on the same labels.

    Args:
        labels: [n] 0 (normal) / 1 (anomalous).
        scores_by_name: {legend name (``"s_p"``, ``"InCTRL"`` ...): [n] scores}, higher
            meaning more anomalous.
        axes: a pair of axes; created when None.
        label: the profile label, added to the titles.

    Returns:
        ``{name: {"auroc": ..., "auprc": ...}}`` computed with scikit-learn.
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    labels = _numpy(labels).ravel()
    if axes is None:
        _, axes = subplots(1, 2, height=3.4)
    roc_ax, pr_ax = axes
    results = {}
    for i, (name, scores) in enumerate(scores_by_name.items()):
        scores = _numpy(scores).ravel()
        auroc = float(roc_auc_score(labels, scores))
        auprc = float(average_precision_score(labels, scores))
        results[name] = {"auroc": auroc, "auprc": auprc}
        color = PALETTE[i % len(PALETTE)]
        fpr, tpr, _ = roc_curve(labels, scores)
        roc_ax.plot(fpr, tpr, color=color, label=f"{name} ({auroc:.3f})")
        precision, recall, _ = precision_recall_curve(labels, scores)
        pr_ax.plot(recall, precision, color=color, label=f"{name} ({auprc:.3f})")
    roc_ax.plot([0, 1], [0, 1], ls="--", color="0.6", lw=1)
    pr_ax.axhline(labels.mean(), ls="--", color="0.6", lw=1)
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.02))
    pr_ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
    roc_ax.set_title(with_profile("ROC (legend: AUROC)", label))
    pr_ax.set_title(with_profile("Precision-recall (legend: AP)", label))
    roc_ax.legend(loc="lower right")
    pr_ax.legend(loc="lower left")
    return results


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


# ------------------------------------------------------------------------ pipeline diagram
def profile_taps() -> dict[str, tuple[tuple[int, ...], int]]:
    """The tapped blocks of every profile, from the open_clip configs (no model is built).

    Returns:
        ``{profile: (tapped blocks, depth)}``.
    """
    import open_clip

    from ..backbone import PROFILES, default_taps

    out = {}
    for name, spec in PROFILES.items():
        depth = int(open_clip.get_model_config(spec.model_name)["vision_cfg"]["layers"])
        out[name] = (tuple(spec.taps or default_taps(depth)), depth)
    return out


def _box(ax, xy, text, color, width, height, fontsize=9.0):
    x, y = xy
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                boxstyle="round,pad=0.04,rounding_size=0.12", linewidth=1.1,
                                edgecolor=color, facecolor=color + "22"))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, start, end, color="0.35"):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, linewidth=1.0,
                                 color=color, shrinkA=2, shrinkB=2))


def pipeline_figure(ax=None, taps: Mapping[str, tuple[tuple[int, ...], int]] | None = None):
    """The InCTRL pipeline as a diagram (paper Eq. 1-8), one page wide.

    Query and prompts go through the frozen CLIP encoder; the patch level (Eq. 1-2), the
    image level (Eq. 3-5) and the text prior (Eq. 6) meet in the holistic map and the final
    score (Eq. 7-8). Trainable parts are orange, frozen blue, parameter-free gray.

    Args:
        ax: the axes to draw in; created one page wide when None.
        taps: the tapped blocks of each profile (default :func:`profile_taps`).

    Returns:
        The axes.
    """
    if ax is None:
        _, ax = subplots(height=4.6)
    taps = taps if taps is not None else profile_taps()
    frozen, train, op, data = "#3b75af", "#e8a33d", "#6b6b6b", "#3f9a6b"
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 6.6)
    ax.axis("off")
    _box(ax, (1.0, 4.9), "query x", data, 1.5, 0.5)
    _box(ax, (1.0, 3.1), "K normal\nprompts", data, 1.5, 0.75)
    _box(ax, (1.0, 1.2), "object name\n(\"solar cell\")", data, 1.5, 0.75)
    _box(ax, (3.0, 4.0), "frozen CLIP\nimage encoder", frozen, 1.7, 0.8)
    _box(ax, (3.0, 1.2), "frozen CLIP\ntext encoder", frozen, 1.7, 0.75)
    for y in (4.9, 3.1):
        _arrow(ax, (1.75, y), (2.15, 4.0))
    _arrow(ax, (1.75, 1.2), (2.15, 1.2))
    # the three residuals
    _box(ax, (5.75, 5.7), "patch tokens of the tapped blocks\n"
         "$M^l$: nearest prompt patch (Eq. 1)\n$M$, $s_p = \\max M$ (Eq. 2)", op, 3.1, 1.05)
    _box(ax, (5.75, 3.55), "adapter $\\psi$, prototype (Eq. 3)\n$F_x = F_P - \\psi(g(x))$ (Eq. 4)\n"
         "head $\\eta$: $s_i$ (Eq. 5)", train, 3.1, 1.05)
    _box(ax, (5.75, 1.35), "$t_n$, $t_a$ from 154 + 88 sentences\n$s_a$: softmax (Eq. 6)", op, 3.1, 0.8)
    _arrow(ax, (3.85, 4.25), (4.2, 5.45))
    _arrow(ax, (3.85, 3.85), (4.2, 3.6))
    _arrow(ax, (3.85, 3.7), (4.2, 1.6))
    _arrow(ax, (3.85, 1.2), (4.2, 1.2))
    # holistic map and final score
    _box(ax, (8.75, 3.55), "$M^+ = M + s_i + s_a$\nhead $\\phi$ (Eq. 7)", train, 2.1, 0.8)
    _box(ax, (8.75, 1.35), "$s = \\frac{1}{2}(\\phi(M^+) + s_p)$\n(Eq. 8)", op, 2.1, 0.8)
    _arrow(ax, (7.3, 5.5), (8.2, 3.95))
    _arrow(ax, (7.3, 3.55), (7.7, 3.55))
    _arrow(ax, (7.3, 1.45), (8.0, 3.15))
    _arrow(ax, (8.75, 3.15), (8.75, 1.75))
    _arrow(ax, (7.3, 5.85), (9.7, 5.85))
    ax.annotate("", xy=(9.7, 1.75), xytext=(9.7, 5.85),
                arrowprops={"arrowstyle": "-|>", "color": "0.35", "lw": 1.0, "mutation_scale": 10})
    ax.text(9.75, 5.95, "$s_p$", fontsize=9, ha="left")
    tap_text = "tapped blocks: " + ";  ".join(
        f"{name} {', '.join(str(t) for t in blocks)} of {depth}" for name, (blocks, depth) in taps.items())
    ax.text(5.0, 6.45, tap_text, ha="center", va="center", fontsize=9)
    handles = [FancyBboxPatch((0, 0), 1, 1, facecolor=c + "22", edgecolor=c) for c in
               (data, frozen, train, op)]
    ax.legend(handles, ["inputs", "frozen", "trained", "no parameters"],
              loc="lower center", ncol=4, bbox_to_anchor=(0.5, -0.08), fontsize=9)
    return ax
