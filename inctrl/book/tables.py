"""Tables and summary numbers of chapters 6 and 7: the results beside the published ones,
the component ablation, the training diagnosis and the decisions of a threshold.

Each function returns a small pandas DataFrame (at most a handful of columns, so that it
fits the page) or plain numbers for the text; nothing here composes sentences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "COMPONENT_NAMES", "SPLIT_NAMES", "ablation", "confusion", "diagnosis_value",
    "phi_constant_epochs", "pm", "results_table",
]

#: Short names of the scores in tables and legends.
COMPONENT_NAMES = {"full": "full s", "s_p": "s_p (patch)", "s_i": "s_i (image)", "s_a": "s_a (text)",
                   "phi": "φ(M⁺) alone"}

#: Short names of the training diagnosis's splits.
SPLIT_NAMES = {"train_pooled": "training categories, pooled", "train": "training categories, mean",
               "held_out": "held-out category", "elpv": "ELPV"}


def pm(mean: float, std: float) -> str:
    """``"0.812 ± 0.013"`` (an en dash for a missing value)."""
    return "–" if pd.isna(mean) else f"{mean:.3f} ± {std:.3f}"


def results_table(table: pd.DataFrame, shots: Sequence[int],
                  published: Mapping[int, tuple[float, float]] | None = None) -> pd.DataFrame:
    """The full score per K as ``mean ± std`` AUROC and AUPRC of this run, and the published
    AUROC beside it (a separate column, never mixed into this run's numbers).

    ``table`` is a component table (one row per K and score, see
    :func:`inctrl.evaluate.component_table`).
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
    """Per K: the full score's AUROC, its best single component and the difference."""
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


def diagnosis_value(table: pd.DataFrame, split: str, score: str, epoch: int,
                    metric: str = "auroc") -> float:
    """One cell of the training diagnosis table (:func:`inctrl.book.diagnosis.run_training_diagnosis`)."""
    hit = table[(table.split == split) & (table.score == score) & (table.epoch == epoch)]
    if hit.empty:
        raise KeyError(f"no diagnosis row for split={split!r}, score={score!r}, epoch={epoch}")
    return float(hit[metric].iloc[0])


def phi_constant_epochs(table: pd.DataFrame) -> list[int]:
    """The checkpoints at which the holistic head phi gives every image of every split the
    same value (so the full score ranks exactly as s_p there)."""
    phi = table[table.score == "phi"]
    splits = phi.split.nunique()
    flat = phi[phi.constant.astype(bool)].groupby("epoch").split.nunique()
    return [int(e) for e, n in flat.items() if n == splits]


def confusion(scores, labels, threshold: float) -> dict[str, float | int]:
    """What a threshold flags (:func:`inctrl.threshold.apply_threshold`): counts of flagged
    images, true and false positives, misses."""
    from ..threshold import apply_threshold

    flagged = apply_threshold(scores, threshold)
    y = np.asarray(labels).astype(bool)
    return {"threshold": float(threshold), "flagged": int(flagged.sum()),
            "true positives": int((flagged & y).sum()), "false positives": int((flagged & ~y).sum()),
            "missed": int((~flagged & y).sum())}
