"""Tables and summary numbers of chapters 6 and 7.

The results beside the published ones, the component ablation and the decisions of a
threshold.

Each function returns a small pandas DataFrame (at most a handful of columns, so that it
fits the page), plain numbers for the text, or a short phrase a chapter glues into its prose
(:func:`published_auroc`, :func:`spread_phrase`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "COMPONENT_NAMES", "ablation", "confusion",
    "chance_phrase", "dips", "merge_identical_rows", "operating_point", "pm",
    "published_auroc",
    "results_table",
    "spread_phrase", "within_spread",
]

#: Short names of the scores in tables and legends.
COMPONENT_NAMES = {"full": "full s", "s_p": "s_p (patch)", "s_i": "s_i (image)", "s_a": "s_a (text)"}


def pm(mean: float, std: float) -> str:
    """A mean and standard deviation as ``"0.812 ± 0.013"``.

    Args:
        mean: the mean; NaN or None for a missing value.
        std: the standard deviation.

    Returns:
        The text, or an en dash for a missing value.
    """
    return "–" if pd.isna(mean) else f"{mean:.3f} ± {std:.3f}"


def within_spread(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether two means over prompt draws differ by no more than their spreads added.

    With three draws a standard deviation is itself rough, so a gap smaller than the two
    standard deviations together is not read as a difference.

    Args:
        a: ``(mean, std)`` of one score over the draws.
        b: ``(mean, std)`` of the other.

    Returns:
        True when ``|mean_a - mean_b| <= std_a + std_b``.
    """
    return abs(a[0] - b[0]) <= a[1] + b[1]


def spread_phrase(a: tuple[float, float], b: tuple[float, float], n_draws: int) -> str:
    """``"within the spread of 3 draws"`` or ``"larger than the spread of 3 draws"``.

    Args:
        a: ``(mean, std)`` of one score over the draws.
        b: ``(mean, std)`` of the other.
        n_draws: the number of draws.

    Returns:
        The phrase for the gap between the two means (:func:`within_spread`).
    """
    where = "within" if within_spread(a, b) else "larger than"
    return f"{where} the spread of {n_draws} draws"


def published_auroc(dataset: str = "elpv") -> str:
    """The paper's image AUROC of InCTRL on a dataset, for the prose: ``"0.839 ± 0.003 (K = 2), ..."``.

    Args:
        dataset: a dataset name known to :func:`inctrl.evaluate.paper_key`.

    Returns:
        Mean ± std over the paper's prompt draws for every K it reports.

    Raises:
        KeyError: the paper reports no results for the dataset.
    """
    from ..evaluate import PAPER_AUROC, paper_key

    key = paper_key(dataset)
    if key is None:
        raise KeyError(f"the paper reports no AUROC for {dataset!r}; known: {sorted(PAPER_AUROC)}")
    return ", ".join(f"{pm(*PAPER_AUROC[key][k])} (K = {k})" for k in sorted(PAPER_AUROC[key]))


def merge_identical_rows(table: pd.DataFrame, noun: str = "row") -> pd.DataFrame:
    """Rows with identical values merged into one, labelled by the rows it stands for.

    Args:
        table: any table; rows are compared on all their values.
        noun: what a row is, for the label of a long group (``"file"``).

    Returns:
        One row per distinct set of values, in the order of first appearance. Its label
        joins the labels of up to three rows (``"a, b"``); a longer group shows the first
        and the last (``"epoch_1.pt, …, last.pt (11 files)"``).
    """
    from .words import count

    groups: dict[tuple, list[str]] = {}
    for label, row in table.iterrows():
        groups.setdefault(tuple(row.astype(str)), []).append(str(label))
    labels = [", ".join(g) if len(g) <= 3 else f"{g[0]}, …, {g[-1]} ({count(len(g), noun)})"
              for g in groups.values()]
    merged = table.drop_duplicates().copy()
    merged.index = pd.Index(labels, name=table.index.name)
    return merged


def results_table(table: pd.DataFrame, shots: Sequence[int],
                  published: Mapping[int, tuple[float, float]] | None = None) -> pd.DataFrame:
    """The full score per K as ``mean ± std`` AUROC and AUPRC, beside the published AUROC.

    The published AUROC is a separate column, never mixed into this run's numbers.

    Args:
        table: a component table (one row per K and score, see
            :func:`inctrl.evaluate.component_table`).
        shots: the K values, one row each.
        published: K -> (mean, std) of the published AUROC; None leaves the column out.

    Returns:
        A DataFrame indexed by K: ``AUROC (this run)``, ``AUPRC (this run)`` and, with
        ``published``, ``AUROC (published)``.
    """
    full = table[table.score == "full"].set_index("k")
    rows = []
    for k in shots:
        row = {"K": k, "AUROC (this run)": pm(full.loc[k, "auroc"], full.loc[k, "auroc_std"]),
               "AUPRC (this run)": pm(full.loc[k, "auprc"], full.loc[k, "auprc_std"])}
        if published is not None:
            row["AUROC (published)"] = pm(*published[k]) if k in published else "–"
        rows.append(row)
    return pd.DataFrame(rows).set_index("K")


def ablation(table: pd.DataFrame, shots: Sequence[int]) -> pd.DataFrame:
    """Per K: the full score's AUROC, its best single component and the difference.

    Args:
        table: a component table (see :func:`results_table`).
        shots: the K values, one row each.

    Returns:
        A DataFrame indexed by K: ``full``, ``best part`` (among s_p, s_i, s_a),
        ``its AUROC`` and ``full − best part``.
    """
    rows = []
    for k in shots:
        part = table[table.k == k].set_index("score")
        parts = part.loc[["s_p", "s_i", "s_a"], "auroc"]
        best = str(parts.idxmax())
        rows.append({"K": k, "full": float(part.loc["full", "auroc"]),
                     "best part": COMPONENT_NAMES[best],
                     "its AUROC": float(parts.max()),
                     "full − best part": float(part.loc["full", "auroc"] - parts.max())})
    return pd.DataFrame(rows).set_index("K")


def confusion(scores, labels, threshold: float) -> dict[str, float | int]:
    """What a threshold flags (:func:`inctrl.threshold.apply_threshold`).

    Args:
        scores: the images' scores.
        labels: 1 (or True) for anomalous, 0 for normal.
        threshold: anomalous iff ``score >= threshold``.

    Returns:
        ``threshold``, and the counts ``flagged``, ``true positives``, ``false positives``
        and ``missed``.
    """
    from ..threshold import apply_threshold

    flagged = apply_threshold(scores, threshold)
    y = np.asarray(labels).astype(bool)
    return {"threshold": float(threshold), "flagged": int(flagged.sum()),
            "true positives": int((flagged & y).sum()), "false positives": int((flagged & ~y).sum()),
            "missed": int((~flagged & y).sum())}


def operating_point(scores, labels, threshold: float) -> dict[str, float | int]:
    """What a threshold flags, as a user reads it: catches, false alarms and their rates.

    Args:
        scores: the images' scores.
        labels: 1 (or True) for anomalous, 0 for normal.
        threshold: anomalous iff ``score >= threshold``.

    Returns:
        ``threshold``; the counts ``flagged``, ``caught`` (true positives), ``false alarms``
        and ``missed`` (ints); ``recall`` (caught / anomalous), ``false-alarm rate`` (false
        alarms / normal) and ``precision`` (caught / flagged; 1.0 when nothing is flagged).
    """
    c = confusion(scores, labels, threshold)
    n_anomalous = c["true positives"] + c["missed"]
    n_normal = int(np.size(np.asarray(labels))) - n_anomalous
    return {"threshold": c["threshold"], "flagged": c["flagged"], "caught": c["true positives"],
            "false alarms": c["false positives"], "missed": c["missed"],
            "recall": c["true positives"] / n_anomalous if n_anomalous else float("nan"),
            "false-alarm rate": c["false positives"] / n_normal if n_normal else float("nan"),
            "precision": c["true positives"] / c["flagged"] if c["flagged"] else 1.0}


def chance_phrase(auroc: float, margin: float = 0.05) -> str:
    """Where an AUROC stands against chance, for the prose: ``"near chance (0.512)"``.

    Args:
        auroc: the AUROC.
        margin: how far from 0.5 still counts as near chance.

    Returns:
        ``"near chance (x)"``, ``"below chance (x)"`` or ``"above chance (x)"``.
    """
    where = "near" if abs(auroc - 0.5) < margin else "below" if auroc < 0.5 else "above"
    return f"{where} chance ({auroc:.3f})"


def dips(values: Mapping[int, float]) -> list[int]:
    """The K values whose value is below both neighbours' (a dip in a curve over K).

    Args:
        values: K -> value, e.g. the mean AUROC of one score.

    Returns:
        The inner K values, in order, that are lower than the values at the K before and after.
    """
    ks = sorted(values)
    return [k for a, k, b in zip(ks, ks[1:], ks[2:]) if values[k] < values[a] and values[k] < values[b]]
