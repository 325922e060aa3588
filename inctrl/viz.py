"""Plotting for the book and for users: one style, heatmaps, score histograms, ROC/PR curves
and the InCTRL pipeline diagram.

Every plotting helper draws into a Matplotlib ``Axes`` it is given (or creates one) and
returns it, so figures can be composed freely. Pass the profile label (see
:func:`inctrl.notebook.profile_label`) to ``label=`` and it is added to the title: a figure
must always say which profile made it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

__all__ = [
    "NORMAL_COLOR", "ANOMALY_COLOR", "PALETTE", "use_style", "with_profile", "to_display",
    "heatmap_overlay", "score_histogram", "plot_roc_pr", "pipeline_figure",
]

NORMAL_COLOR = "#3b75af"
ANOMALY_COLOR = "#d1495b"
#: Colours for several score curves, in order.
PALETTE = ("#3b75af", "#d1495b", "#e8a33d", "#3f9a6b", "#7a5ea8", "#6b6b6b")

_STYLE = {
    "figure.dpi": 110,
    "figure.constrained_layout.use": True,
    "savefig.dpi": 140,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 10.5,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "legend.frameon": False,
    "legend.fontsize": 9,
    "image.cmap": "magma",
    "axes.prop_cycle": plt.cycler(color=list(PALETTE)),
}


def use_style() -> None:
    """Apply the book's Matplotlib style (call once per notebook)."""
    plt.rcParams.update(_STYLE)


def with_profile(title: str, label: str | None) -> str:
    """``title`` followed by the profile label on a second line (when a label is given)."""
    return f"{title}\n[{label}]" if label else title


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x)


def to_display(image, mean=None, std=None) -> np.ndarray:
    """An image for ``imshow``: a PIL image, a path, an ``[H, W(, 3)]`` array, or a
    preprocessed ``[3, H, W]`` tensor (un-normalised with CLIP's mean and std)."""
    from PIL import Image

    if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        image = Image.open(image).convert("RGB")
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    arr = _numpy(image)
    if arr.ndim == 3 and arr.shape[0] == 3:
        from .backbone import CLIP_MEAN, CLIP_STD

        mean = np.asarray(mean or CLIP_MEAN)[:, None, None]
        std = np.asarray(std or CLIP_STD)[:, None, None]
        arr = np.clip(arr * std + mean, 0, 1).transpose(1, 2, 0)
    return arr


def heatmap_overlay(image, amap, ax=None, *, alpha: float = 0.5, cmap: str = "magma",
                    vmin: float | None = None, vmax: float | None = None, title: str | None = None,
                    label: str | None = None, colorbar: bool = False):
    """Draw ``image`` with an anomaly map on top.

    ``amap`` is a 2-D map of any resolution (e.g. the 15x15 patch map M, or
    ``out.anomaly_map()``); it is stretched over the whole image with bilinear
    interpolation. ``vmin``/``vmax`` fix the colour scale so that several panels can be
    compared. Returns the axes.
    """
    ax = ax or plt.gca()
    img = to_display(image)
    amap = _numpy(amap)
    if amap.ndim != 2:
        raise ValueError(f"anomaly map must be 2-D, got shape {amap.shape}")
    h, w = img.shape[:2]
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, extent=(0, w, h, 0))
    shown = ax.imshow(amap, cmap=cmap, alpha=alpha, vmin=vmin, vmax=vmax,
                      interpolation="bilinear", extent=(0, w, h, 0))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    if title or label:
        ax.set_title(with_profile(title or "", label))
    if colorbar:
        plt.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    return ax


def score_histogram(scores, labels, ax=None, *, bins: int = 20, title: str | None = None,
                    label: str | None = None, xlabel: str = "score"):
    """Overlaid histograms of ``scores`` for normal (label 0) and anomalous (label 1) images."""
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


def plot_roc_pr(labels, scores_by_name: Mapping[str, Sequence[float]], axes=None, *,
                label: str | None = None) -> dict[str, dict[str, float]]:
    """ROC (left) and precision-recall (right) curves of several scores on the same labels.

    ``scores_by_name`` maps a legend name (``"s_p"``, ``"InCTRL"`` ...) to scores, higher
    meaning more anomalous. ``axes`` is a pair of axes (created when None). Returns
    ``{name: {"auroc": ..., "auprc": ...}}`` computed with scikit-learn.
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    labels = _numpy(labels).ravel()
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    roc_ax, pr_ax = axes
    results = {}
    for i, (name, scores) in enumerate(scores_by_name.items()):
        scores = _numpy(scores).ravel()
        auroc = float(roc_auc_score(labels, scores))
        auprc = float(average_precision_score(labels, scores))
        results[name] = {"auroc": auroc, "auprc": auprc}
        color = PALETTE[i % len(PALETTE)]
        fpr, tpr, _ = roc_curve(labels, scores)
        roc_ax.plot(fpr, tpr, color=color, label=f"{name} (AUROC {auroc:.3f})")
        precision, recall, _ = precision_recall_curve(labels, scores)
        pr_ax.plot(recall, precision, color=color, label=f"{name} (AP {auprc:.3f})")
    roc_ax.plot([0, 1], [0, 1], ls="--", color="0.6", lw=1)
    pr_ax.axhline(labels.mean(), ls="--", color="0.6", lw=1)
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.02))
    pr_ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
    roc_ax.set_title(with_profile("ROC", label))
    pr_ax.set_title(with_profile("Precision-recall", label))
    roc_ax.legend(loc="lower right")
    pr_ax.legend(loc="lower left")
    return results


def _box(ax, xy, text, color, width=1.9, height=0.62, fontsize=8.5):
    x, y = xy
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                boxstyle="round,pad=0.04,rounding_size=0.12", linewidth=1.1,
                                edgecolor=color, facecolor=color + "22"))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, start, end, color="0.35", style="-|>"):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=11, linewidth=1.0,
                                 color=color, shrinkA=2, shrinkB=2))


def pipeline_figure(ax=None):
    """The InCTRL pipeline as a diagram: query and K prompts through the frozen CLIP backbone,
    the three residual levels, the holistic map and the final score (paper Eq. 1-8).

    Trainable parts (adapter psi, heads eta and phi) are drawn in orange, frozen parts in
    blue, parameter-free operations in gray. Returns the axes.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 5.4))
    frozen, train, op, data = "#3b75af", "#e8a33d", "#6b6b6b", "#3f9a6b"
    ax.set_xlim(0, 12.6)
    ax.set_ylim(0, 6.2)
    ax.axis("off")
    _box(ax, (1.1, 4.9), "query image x", data, width=1.8)
    _box(ax, (1.1, 1.3), "K normal prompts\n$p_1 \\dots p_K$", data, width=1.8, height=0.8)
    _box(ax, (3.3, 3.1), "frozen CLIP\nimage encoder\n(ViT)", frozen, width=1.6, height=1.3)
    _box(ax, (3.3, 5.6), "frozen CLIP\ntext encoder", frozen, width=1.6, height=0.7)
    _arrow(ax, (1.9, 4.75), (2.5, 3.5))
    _arrow(ax, (1.9, 1.45), (2.5, 2.7))
    # patch level
    _box(ax, (6.0, 4.45), "patch tokens $T^l$, $l\\in\\{7,9,11\\}$\nnearest prompt patch\n"
         "$M^l(j)=\\min_q \\frac{1}{2}(1-\\cos)$", op, width=2.6, height=0.95)
    _box(ax, (8.6, 4.45), "patch map $M$\n$s_p=\\max_j M(j)$", op, width=1.7, height=0.75)
    # image level
    _box(ax, (5.35, 2.5), "adapter $\\psi$\n$g(x)$, $g(p_k)$", train, width=1.4, height=0.75)
    _box(ax, (7.15, 2.5), "$F_x = F_P - \\psi(g(x))$\n$F_P=$ mean$_k\\,\\psi(g(p_k))$", op,
         width=2.0, height=0.75)
    _box(ax, (8.95, 2.5), "head $\\eta$\n$s_i$", train, width=1.0, height=0.75)
    # text level
    _box(ax, (6.0, 5.75), "$t_n$, $t_a$ from 154 + 88 sentences\n"
         "$s_a=\\mathrm{softmax}(100\\,[\\hat g\\cdot t_n, \\hat g\\cdot t_a])_a$", op,
         width=3.2, height=0.75)
    _arrow(ax, (4.1, 3.45), (4.7, 4.25))
    _arrow(ax, (4.1, 2.9), (4.65, 2.55))
    _arrow(ax, (4.1, 5.6), (4.4, 5.7))
    _arrow(ax, (4.1, 3.7), (4.6, 5.45))
    _arrow(ax, (7.3, 4.45), (7.75, 4.45))
    _arrow(ax, (6.05, 2.5), (6.15, 2.5))
    _arrow(ax, (8.15, 2.5), (8.45, 2.5))
    # holistic map and final score
    _box(ax, (10.75, 3.6), "$M^+ = M + s_i + s_a$\nhead $\\phi$", train, width=1.8, height=0.8)
    _box(ax, (10.75, 1.5), "$s(x)=\\frac{1}{2}(\\phi(M^+)+s_p)$", op, width=2.2, height=0.62)
    _arrow(ax, (9.45, 4.3), (10.0, 3.9))
    _arrow(ax, (9.45, 2.6), (9.9, 3.35))
    _arrow(ax, (7.6, 5.6), (10.4, 4.0))
    _arrow(ax, (10.75, 3.2), (10.75, 1.81))
    _arrow(ax, (9.45, 4.3), (10.0, 1.75))
    handles = [FancyBboxPatch((0, 0), 1, 1, facecolor=c + "22", edgecolor=c) for c in
               (data, frozen, train, op)]
    ax.legend(handles, ["inputs", "frozen", "trained (~0.33 M parameters)", "no parameters"],
              loc="lower center", ncol=4, bbox_to_anchor=(0.5, -0.04))
    return ax
