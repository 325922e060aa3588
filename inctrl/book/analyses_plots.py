"""The figures and tables of chapter 6b (the paper's three analyses), from a results dict of
:mod:`inctrl.book.analyses`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..ablation import combinations
from . import viz
from .analyses import summary

__all__ = ["CONSTRUCTIONS", "TARGET_NAMES", "components_figure", "constructions_figure", "digits_figure",
           "normal_classes_figure", "table", "value"]

#: Evaluation group -> the name the chapter gives it.
TARGET_NAMES = {"elpv": "ELPV (industrial)", "digits_n1": "digits (semantic)", "world": "held-out world"}
#: The variant of each image-feature construction (the method's residual is the full model).
CONSTRUCTIONS = {"TPI": "residual", "concatenation": "concatenation", "average": "average"}


def value(results: dict, group: str, variant: str, score: str = "full") -> tuple[float, float]:
    """Mean and std of one score of one variant on one group, over head seeds and prompt draws."""
    row = summary(results["rows"]).set_index(["group", "variant"]).loc[(group, variant)]
    return float(row[score]), float(row[f"{score}_std"])


def table(results: dict, variants, score: str = "full", groups=tuple(TARGET_NAMES)) -> pd.DataFrame:
    """"mean ± std" of ``score`` per variant (rows) and target (columns)."""
    cells = {TARGET_NAMES.get(g, g): {v: "{:.3f} ± {:.3f}".format(*value(results, g, v, score))
                                      for v in variants} for g in groups}
    return pd.DataFrame(cells)


def _bars(ax, results, variants, groups, score, names=None):
    width = 0.8 / len(groups)
    x = np.arange(len(variants))
    for i, group in enumerate(groups):
        stats = [value(results, group, v, score) for v in variants]
        ax.bar(x + (i - (len(groups) - 1) / 2) * width, [m for m, _ in stats], width,
               yerr=[s for _, s in stats], capsize=2, color=viz.PALETTE[i], label=TARGET_NAMES[group])
    ax.set_xticks(x, [(names or {}).get(v, v) for v in variants])
    ax.axhline(0.5, color="0.4", ls=":", lw=1)
    ax.set_ylim(0.3, 1.0)


def components_figure(results: dict, label: str):
    """AUROC of the final score of every T/P/I combination on every target (the paper's form)."""
    fig, ax = viz.subplots(1, 1, height=3.4)
    _bars(ax, results, combinations(), list(TARGET_NAMES), "full")
    ax.set(xlabel="signals the model was trained with", ylabel="image AUROC (final score)",
           title=viz.with_profile("T: text prior, P: patch residuals, I: image residual", label))
    ax.legend(loc="upper left", ncol=3)
    return fig


def constructions_figure(results: dict, label: str):
    """AUROC of the final score and of s_i for the three image-level feature constructions."""
    fig, axes = viz.subplots(1, 2, height=3.2, sharey=True)
    for ax, score, title in zip(axes, ("full", "s_i"), ("final score s", "image score s_i")):
        _bars(ax, results, list(CONSTRUCTIONS), list(TARGET_NAMES), score, CONSTRUCTIONS)
        ax.set_title(title)
    axes[0].set_ylabel("image AUROC")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=3)
    fig.suptitle(viz.with_profile("what the image head reads", label))
    return fig


def normal_classes_figure(results: dict, label: str, names: dict[str, str]):
    """AUROC over the number n of normal digits, for the full model's score and each signal."""
    n_values = [int(n) for n in results["config"]["n_values"]]
    fig, ax = viz.subplots(1, 1, height=3.2)
    for i, (score, name) in enumerate(names.items()):
        stats = [value(results, f"digits_n{n}", "TPI", score) for n in n_values]
        ax.errorbar(n_values, [m for m, _ in stats], yerr=[s for _, s in stats], marker="o", capsize=3,
                    color=viz.PALETTE[i], ls="--" if score == "full" else "-", label=name)
    ax.axhline(0.5, color="0.4", ls=":", lw=1)
    ax.set(xticks=n_values, xlabel="n, the number of normal digits", ylabel="image AUROC on the digits",
           ylim=(0.4, 0.8), title=viz.with_profile("the full model (T, P, I)", label))
    ax.legend(loc="upper right", ncol=2)
    return fig


def digits_figure(images: np.ndarray, labels: np.ndarray):
    """One 8 x 8 digit of each class, shown at its own resolution."""
    fig, axes = viz.subplots(1, 10, height=1.2)
    for digit, ax in enumerate(axes):
        ax.imshow(images[np.flatnonzero(labels == digit)[0]], cmap="gray_r", vmin=0, vmax=16)
        ax.set_title(str(digit))
        ax.axis("off")
    return fig
