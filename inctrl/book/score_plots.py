"""Score plots of the book: how the scores of normal and anomalous images separate.

Histograms of one score (:func:`score_histogram`) or several (:func:`score_distributions`),
ROC and precision-recall curves (:func:`plot_roc_pr`) and heatmaps of AUROC over two
columns of a table (:func:`auroc_heatmap`). They draw in the style of
:mod:`inctrl.book.viz`, into axes they are given (or create) and return them; pass the
profile label to ``label=`` and it is added to the title.

Two rules keep a figure honest: a legend never sits on the data (histograms get headroom
for it, or a legend below the figure), and a score that barely varies is drawn on an axis
wide enough to look flat, with its range in the label (:func:`flat_range`), so that noise
in the third decimal never looks like a spread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .viz import ANOMALY_COLOR, NORMAL_COLOR, PALETTE, _numpy, subplots, with_profile

__all__ = ["auroc_heatmap", "flat_range", "plot_roc_pr", "score_distributions", "score_histogram"]

#: A score whose values span less than this is drawn as flat (scores live in about [0, 1]).
FLAT_SPAN = 0.02


def flat_range(values, flat_span: float = FLAT_SPAN) -> tuple[float, float] | None:
    """The range of scores that barely vary, or None when they spread.

    Args:
        values: scores, any shape.
        flat_span: the largest span (max - min) still called flat.

    Returns:
        ``(min, max)`` when the span is below ``flat_span``, else None.
    """
    values = _numpy(values).ravel()
    lo, hi = float(values.min()), float(values.max())
    return (lo, hi) if hi - lo < flat_span else None


def _show_flat(ax, values, xlabel: str, flat_span: float = FLAT_SPAN) -> np.ndarray | None:
    """Widen the x axis of a nearly constant score and say so in the label; the bins to use."""
    span = flat_range(values, flat_span)
    if span is None:
        ax.set_xlabel(xlabel)
        return None
    lo, hi = span
    centre, half = (lo + hi) / 2, 5 * flat_span
    ax.set_xlim(centre - half, centre + half)
    ax.set_xlabel(f"{xlabel}\nflat: all within {lo:.3f}–{hi:.3f}")
    return np.linspace(centre - half, centre + half, 41)


def _legend_with_headroom(ax) -> None:
    """The legend in a band added above the tallest bar, so that it covers no data."""
    ax.set_ylim(top=ax.get_ylim()[1] * 1.5)
    ax.legend(loc="upper right")


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
    edges = _show_flat(ax, scores, xlabel)
    if edges is None:
        edges = np.histogram_bin_edges(scores, bins=bins)
    for value, name, color in ((0, "normal", NORMAL_COLOR), (1, "anomalous", ANOMALY_COLOR)):
        part = scores[labels == value]
        if len(part):
            ax.hist(part, bins=edges, alpha=0.55, color=color, label=f"{name} (n={len(part)})")
    ax.set_ylabel("images")
    _legend_with_headroom(ax)
    if title or label:
        ax.set_title(with_profile(title or "", label))
    return ax


def score_distributions(scores: Mapping[str, Sequence[float]], labels, axes=None, *,
                        label: str | None = None, ncols: int = 2):
    """Seaborn histograms of several scores, normal against anomalous, one panel per score.

    Each panel shows both classes as density outlines with its own x range (the scores
    live on different scales); a score that barely varies is drawn flat with its range in
    the label (:func:`flat_range`). One legend, below the panels.

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
    from matplotlib.patches import Patch

    labels = _numpy(labels).ravel()
    names = list(scores)
    if axes is None:
        nrows = -(-len(names) // ncols)
        _, axes = subplots(nrows, ncols, height=2.3 * nrows, squeeze=False)
    axes = np.asarray(axes).ravel()
    for ax, name in zip(axes, names):
        values = _numpy(scores[name]).ravel()
        frame = pd.DataFrame({"score": values, "class": np.where(labels == 1, "anomalous", "normal")})
        edges = _show_flat(ax, values, name)
        xlabel = ax.get_xlabel()  # seaborn overwrites it
        sns.histplot(frame, x="score", hue="class", hue_order=["normal", "anomalous"], ax=ax,
                     palette=[NORMAL_COLOR, ANOMALY_COLOR], element="step", stat="density",
                     common_norm=False, bins=20 if edges is None else edges, legend=False)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("density")
    for ax in axes[len(names):]:
        ax.set_visible(False)
    n_normal, n_anomalous = int((labels == 0).sum()), int((labels == 1).sum())
    handles = [Patch(facecolor="none", edgecolor=NORMAL_COLOR, label=f"normal (n={n_normal})"),
               Patch(facecolor="none", edgecolor=ANOMALY_COLOR, label=f"anomalous (n={n_anomalous})")]
    axes[0].figure.legend(handles=handles, loc="outside lower center", ncol=2)
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
    roc_ax.set_title("ROC (legend: AUROC)")
    pr_ax.set_title("Precision-recall (legend: AP)")
    if label:  # once for both panels: two long panel titles would run into each other
        roc_ax.figure.suptitle(f"[{label}]")
    for ax in (roc_ax, pr_ax):  # below each panel: the curves fill the whole square
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    return results
