"""Evaluation protocol (data/README.md): few-shot prompt draws, image AUROC / AUPRC, pixel AUROC.

For every category and K, ``len(seeds)`` prompt sets are drawn from train/good
(:class:`~inctrl.data.fewshot.PromptSet`) and every test image is scored. Metrics come from
scikit-learn on the *raw* scores. Besides the final score s ("full"), each component is
scored alone from the same run (same backbone, same prompts): s_p (patch), s_i (image
residual), s_a (text prior) - the paper's ablation of the score against its parts.

Aggregation: a dataset's figure for one draw is the mean over its categories; the
reported value is mean ± std (numpy, ddof=0) of that figure over the draws. Per-category
rows are mean ± std over the draws of that category.

Pixel AUROC (categories with masks only): the patch map M upsampled bilinearly to the
model's input frame (``pixel_size``, default the model's input size, 240) against the
mask brought into the same frame exactly as the image is (shorter side resized to
``pixel_size`` with nearest neighbour, centre crop). Normal test images count as all-zero
masks; anomalous images without a mask are left out of the pixel metric.

All query and prompt features are encoded once per dataset (:mod:`inctrl.features`) and
reused for every K and draw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.metrics import average_precision_score, roc_auc_score
from tqdm.auto import tqdm

from . import atomic
from .data.fewshot import PromptSet
from .data.images import load_mask
from .data.layout import CanonicalDataset
from .features import CachedFeatures, encode_paths
from .frame import InterpolationMode, model_frame

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


def image_metrics(labels, scores) -> dict[str, float]:
    """Image AUROC and AUPRC (average precision) of raw scores, by scikit-learn.

    Args:
        labels: [n] 0 (normal) / 1 (anomalous).
        scores: [n] scores, higher meaning more anomalous.

    Returns:
        ``{"auroc": ..., "auprc": ...}``; both NaN when one class is absent.
    """
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    if len(np.unique(labels)) < 2:
        return {"auroc": float("nan"), "auprc": float("nan")}
    return {"auroc": float(roc_auc_score(labels, scores)),
            "auprc": float(average_precision_score(labels, scores))}


def mean_std(values) -> tuple[float, float]:
    """Mean and population std (ddof=0) over prompt draws.

    Args:
        values: one value per draw.

    Returns:
        ``(mean, std)`` as floats.
    """
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=0))


def mask_in_model_frame(path, size: int) -> np.ndarray:
    """A ground-truth mask in the model's frame, pixel for pixel where the image lands.

    The mask goes through the image preprocessing's own geometry
    (:func:`inctrl.frame.model_frame`: shorter side to ``size``, centre crop) with nearest
    neighbour resampling, so it stays binary and lines up with the upsampled anomaly map.

    Args:
        path: the mask file (nonzero = anomalous, as :func:`inctrl.data.images.load_mask`).
        size: S, the side of the model's frame.

    Returns:
        [S, S] bool mask.
    """
    mask = Image.fromarray(load_mask(path).astype(np.uint8) * 255)
    return np.asarray(model_frame(size, InterpolationMode.NEAREST)(mask)) > 0


@dataclass
class EvalResult:
    """The result of :func:`evaluate`: per-draw rows and their aggregates.

    Metric columns are ``auroc_<c>`` / ``auprc_<c>`` for c in full, s_p, s_i, s_a, plus
    ``pixel_auroc``; aggregated tables add a ``<column>_std`` beside each.

    Attributes:
        dataset: the dataset's name.
        draws: one row per (dataset, category, k, seed).
        categories: mean ± std over draws per (category, k).
        summary: per k, the dataset mean over categories, mean ± std over draws.
        paths: the files written (``draws``, ``categories``, ``summary``, ``json``,
            ``markdown``); empty without ``out_dir``.
        profile: the profile label of the tables.
    """

    dataset: str
    draws: pd.DataFrame
    categories: pd.DataFrame
    summary: pd.DataFrame
    paths: dict[str, Path] = field(default_factory=dict)
    profile: str = "tiny"

    def markdown(self) -> str:
        """The summary as Markdown tables (:func:`markdown_tables`)."""
        return markdown_tables(self.summary, self.profile)


def _metric_columns() -> list[str]:
    return [f"{m}_{c}" for c in COMPONENTS for m in ("auroc", "auprc")] + ["pixel_auroc"]


def aggregate(draws: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean ± std over draws, per category and per dataset, from the per-draw rows.

    A dataset's figure for one draw is the mean over its categories; its mean ± std is
    taken over the draws. A mean with a NaN among its values is NaN.

    Args:
        draws: one row per (dataset, category, k, seed), as :attr:`EvalResult.draws`.

    Returns:
        ``(categories, summary)``, as :attr:`EvalResult.categories` and
        :attr:`EvalResult.summary`.
    """
    cols = [c for c in _metric_columns() if c in draws]
    cat_rows, sum_rows = [], []
    for (ds, cat, k), g in draws.groupby(["dataset", "category", "k"], sort=True):
        row = {"dataset": ds, "category": cat, "k": k, "draws": len(g)}
        for c in cols:
            row[c], row[c + "_std"] = mean_std(g[c]) if g[c].notna().all() else (np.nan, np.nan)
        cat_rows.append(row)
    for (ds, k), g in draws.groupby(["dataset", "k"], sort=True):
        per_seed = g.groupby("seed")[cols].mean()  # dataset figure of each draw
        row = {"dataset": ds, "k": k, "draws": len(per_seed), "categories": g["category"].nunique()}
        for c in cols:
            row[c], row[c + "_std"] = mean_std(per_seed[c]) if per_seed[c].notna().all() else (np.nan, np.nan)
        sum_rows.append(row)
    return pd.DataFrame(cat_rows), pd.DataFrame(sum_rows)


def component_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The full score beside each of its parts, for the T/P/I ablation.

    Args:
        summary: one row per K, as :attr:`EvalResult.summary`.

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
        summary: one row per (dataset, k), as :attr:`EvalResult.summary`.
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


def _pixel_auroc(out, samples, size: int) -> float:
    keep = [i for i, s in enumerate(samples) if s.label == 0 or s.mask is not None]
    if not any(samples[i].mask is not None for i in keep):
        return float("nan")
    maps = out.anomaly_map(size)[keep].numpy().ravel()
    masks = np.stack([mask_in_model_frame(samples[i].mask, size) if samples[i].mask is not None
                      else np.zeros((size, size), bool) for i in keep]).ravel()
    return float(roc_auc_score(masks, maps)) if masks.any() and not masks.all() else float("nan")


def require_test_images(dataset) -> None:
    """Refuse a category without test images (there is nothing to score).

    Args:
        dataset: a :class:`~inctrl.data.layout.CanonicalDataset`.

    Raises:
        ValueError: a category has no test image; the message names its folder.
    """
    empty = [c for c in dataset.categories if not dataset.test_samples(c)]
    if empty:
        where = Path(dataset.root) / empty[0] / "test"
        raise ValueError(f"category {empty[0]!r} of {dataset.root} has no test images (expected "
                         f"{where}/good/ and {where}/<defect>/); evaluation scores the test split, "
                         "so add them or evaluate another dataset")


def evaluate(models, data_root, shots: Sequence[int] = (2, 4, 8), seeds: Sequence[int] = (0, 1, 2),
             out_dir=None, *, name: str | None = None, pixel: bool = True, pixel_size: int | None = None,
             batch_size: int = 64, cache_dir=None, amp: bool = False, progress: bool = True,
             profile: str | None = None, features: CachedFeatures | None = None) -> EvalResult:
    """Evaluate on a canonical dataset for each K in ``shots`` and each prompt-draw seed.

    With ``out_dir`` the results are written atomically: ``eval_draws.csv``,
    ``eval_categories.csv``, ``eval_summary.csv``, ``eval.json``, ``eval_table.md`` and the
    prompt sets under ``prompts/``.

    Args:
        models: one InCTRL model used for every K, or a mapping {K: model} (the paper
            trains one model per K).
        data_root: the dataset's folder in the canonical layout.
        shots: the K values.
        seeds: the prompt-draw seeds.
        out_dir: where to write the results; None writes nothing.
        name: the dataset's name; default the folder's.
        pixel: compute the pixel AUROC (categories with masks).
        pixel_size: the side of the frame of the pixel AUROC; default the model's input size.
        batch_size: images per forward pass.
        cache_dir: a folder to cache the encoded features in.
        amp: encode and score in mixed precision (:func:`inctrl.device.autocast`).
        progress: show progress bars.
        profile: the profile label of the tables; default the model's.
        features: already encoded features of every test and prompt image (skips encoding).

    Returns:
        The EvalResult (with the written paths when ``out_dir`` is given).

    Raises:
        ValueError: a category has no test images, or a K has no model.
    """
    dataset = CanonicalDataset(data_root, name=name)
    require_test_images(dataset)
    models = dict(models) if isinstance(models, Mapping) else {int(k): models for k in shots}
    missing = [k for k in shots if int(k) not in models]
    if missing:
        raise ValueError(f"no model given for K={missing}")
    first = models[int(shots[0])]
    profile = profile or first.config.profile
    draws = {(c, int(k), int(s)): PromptSet.draw(dataset, c, int(k), int(s))
             for c in dataset.categories for k in shots for s in seeds}
    tests = {c: dataset.test_samples(c) for c in dataset.categories}
    paths = [s.path for c in tests for s in tests[c]]
    paths += [p for d in draws.values() for p in d.resolve(dataset.root)]
    encoded: dict[str, CachedFeatures] = {}  # backbone fingerprint -> features of every image
    rows = []
    bar = tqdm(total=len(draws), desc=f"evaluating {dataset.name}", disable=not progress)
    for (cat, k, seed), prompt_set in draws.items():
        model = models[k]
        fp = model.backbone.state_fingerprint()
        if fp not in encoded:
            encoded[fp] = features if features is not None else encode_paths(
                model, paths, cache_dir=cache_dir, batch_size=batch_size, progress=progress, amp=amp)
        feats = encoded[fp]
        prompts = prompt_set.resolve(dataset.root)
        bank = model.prompt_bank_from_features(feats.select(prompts), dataset.object_name(cat),
                                               [str(p) for p in prompts])
        query = feats.select([s.path for s in tests[cat]])
        out = _score_chunks(model, query, bank, batch_size, amp)
        labels = [s.label for s in tests[cat]]
        row = {"dataset": dataset.name, "category": cat, "k": k, "seed": seed,
               "n_normal": labels.count(0), "n_anomalous": labels.count(1)}
        for comp, attr in COMPONENTS.items():
            m = image_metrics(labels, getattr(out, attr).numpy())
            row[f"auroc_{comp}"], row[f"auprc_{comp}"] = m["auroc"], m["auprc"]
        row["pixel_auroc"] = _pixel_auroc(out, tests[cat], pixel_size or model.backbone.image_size) \
            if pixel else float("nan")
        rows.append(row)
        bar.update(1)
    bar.close()
    draws_df = pd.DataFrame(rows)
    categories, summary = aggregate(draws_df)
    result = EvalResult(dataset.name, draws_df, categories, summary, {}, profile)
    if out_dir is not None:
        result.paths = _write(result, Path(out_dir), draws.values())
    return result


def _score_chunks(model, feats, bank, batch_size: int, amp: bool):
    from .model import InCTRLOutput

    parts = [model.score_features(feats[i:i + batch_size], bank, amp=amp).cpu()
             for i in range(0, len(feats), batch_size)]
    return InCTRLOutput.cat(parts)


def _write(result: EvalResult, out: Path, prompt_sets) -> dict[str, Path]:
    paths = {"draws": out / "eval_draws.csv", "categories": out / "eval_categories.csv",
             "summary": out / "eval_summary.csv", "json": out / "eval.json",
             "markdown": out / "eval_table.md"}
    atomic.write_text(paths["draws"], result.draws.to_csv(index=False))
    atomic.write_text(paths["categories"], result.categories.to_csv(index=False))
    atomic.write_text(paths["summary"], result.summary.to_csv(index=False))
    atomic.write_json(paths["json"], {
        "dataset": result.dataset, "profile": result.profile,
        "summary": _records(result.summary), "categories": _records(result.categories),
        "draws": _records(result.draws)})
    atomic.write_text(paths["markdown"], result.markdown())
    for ps in prompt_sets:
        ps.save(out / "prompts" / f"{ps.dataset}_{ps.category}_k{ps.k}_seed{ps.seed}.json")
    return paths


def _records(df: pd.DataFrame) -> list[dict]:
    # NaN is not JSON: write null.
    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
            for r in df.to_dict(orient="records")]
