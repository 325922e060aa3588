"""The published numbers and the Markdown tables of an evaluation (:mod:`inctrl.evaluate`).

The tables follow the paper's layout: image AUROC mean ± std per K beside the published
figures (labelled, and called comparable only for the paper's profile), then the full score
beside its parts s_p, s_i and s_a.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Published InCTRL image AUROC, mean ± std over prompt draws (Zhu & Pang, "Toward Generalist
# Anomaly Detection via In-context Residual Learning with Few-shot Sample Prompts", CVPR 2024,
# Table 1; ViT-B-16-plus-240 / laion400m_e32; trained on MVTec AD, MVTec AD column trained on
# VisA). The paper's other datasets are left out on purpose: their values were not
# transcribed, and an empty cell is better than a guess.
PAPER_AUROC: dict[str, dict[int, tuple[float, float]]] = {
    "elpv": {2: (0.839, 0.003), 4: (0.846, 0.011), 8: (0.872, 0.013)},
    "aitex": {2: (0.761, 0.029), 4: (0.790, 0.018), 8: (0.806, 0.036)},
    "visa": {2: (0.858, 0.022), 4: (0.877, 0.019), 8: (0.887, 0.021)},
    "mvtec": {2: (0.940, 0.015), 4: (0.945, 0.018), 8: (0.953, 0.013)},
}
PAPER_LABEL = {"paper": "paper (published)",
               "other": "paper (ViT-B-16+, real CLIP) — not comparable"}

#: Reported score name -> InCTRLOutput attribute.
COMPONENTS = {"full": "score", "s_p": "patch_score", "s_i": "image_score", "s_a": "text_score"}


def paper_key(dataset_name: str) -> str | None:
    """The :data:`PAPER_AUROC` key of a dataset name (``"MVTec_AD"`` -> ``"mvtec"``).

    Args:
        dataset_name: a dataset name; case, ``_``, ``-`` and spaces are ignored.

    Returns:
        The key, or None when the paper's table has no such dataset.
    """
    key = dataset_name.lower().replace("_", "").replace("-", "").replace(" ", "")
    key = {"mvtecad": "mvtec"}.get(key, key)
    return key if key in PAPER_AUROC else None


def component_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The full score beside each of its parts, for the T/P/I ablation.

    Args:
        summary: one row per K, as :attr:`inctrl.evaluate.EvalResult.summary`.

    Returns:
        One row per (k, score) with ``auroc``, ``auroc_std``, ``auprc``, ``auprc_std``.
    """
    rows = []
    for _, row in summary.iterrows():
        for comp in COMPONENTS:
            rows.append({"k": int(row["k"]), "score": comp,
                         "auroc": row[f"auroc_{comp}"], "auroc_std": row[f"auroc_{comp}_std"],
                         "auprc": row[f"auprc_{comp}"], "auprc_std": row[f"auprc_{comp}_std"]})
    return pd.DataFrame(rows)


def _pm(mean: float, std: float) -> str:
    return "–" if np.isnan(mean) else f"{mean:.3f} ± {std:.3f}"


def markdown_tables(summary: pd.DataFrame, profile: str = "tiny") -> str:
    """Markdown tables in the paper's layout.

    First rows K, columns datasets (image AUROC mean ± std of the full score) with the
    published numbers beside (labelled), then the component ablation per dataset.

    Args:
        summary: one row per (dataset, k), as :attr:`inctrl.evaluate.EvalResult.summary`.
        profile: the profile label; the published numbers are called comparable only for
            ``"paper"``.

    Returns:
        The Markdown text, ending with a newline.
    """
    datasets = list(dict.fromkeys(summary["dataset"]))
    label = PAPER_LABEL["paper" if profile == "paper" else "other"]
    head = ["K"]
    for ds in datasets:
        head.append(f"{ds} ({profile})")
        if paper_key(ds):
            head.append(f"{ds} {label}")
    lines = [f"Image AUROC, mean ± std over prompt draws; profile: {profile}.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for k in sorted(summary["k"].unique()):
        cells = [str(k)]
        for ds in datasets:
            row = summary[(summary["dataset"] == ds) & (summary["k"] == k)]
            cells.append(_pm(row["auroc_full"].iloc[0], row["auroc_full_std"].iloc[0]) if len(row) else "–")
            if paper_key(ds):
                paper = PAPER_AUROC[paper_key(ds)].get(int(k))
                cells.append(_pm(*paper) if paper else "–")
        lines.append("| " + " | ".join(cells) + " |")
    for ds in datasets:
        lines += ["", f"Score components on {ds} ({profile}; same backbone and prompts), "
                  "image AUROC / AUPRC:", "",
                  "| K | " + " | ".join(COMPONENTS) + " |", "|---|" + "---|" * len(COMPONENTS)]
        for _, row in summary[summary["dataset"] == ds].sort_values("k").iterrows():
            cells = [f"{_pm(row[f'auroc_{c}'], row[f'auroc_{c}_std'])} / "
                     f"{_pm(row[f'auprc_{c}'], row[f'auprc_{c}_std'])}" for c in COMPONENTS]
            lines.append(f"| {row['k']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
