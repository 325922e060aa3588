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
reused for every K and draw. The text prior reads each category's own name unless the caller
gives one (``object_name``); every row records the name read. A test split without both
classes is refused: it has no AUROC.
"""

from __future__ import annotations

import json
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
from .data.images import check_image_files, load_mask
from .data.layout import CanonicalDataset
from .eval_tables import COMPONENTS, markdown_tables
from .eval_tables import PAPER_AUROC as PAPER_AUROC  # re-exported: their old home
from .eval_tables import PAPER_LABEL as PAPER_LABEL
from .eval_tables import component_table as component_table
from .eval_tables import paper_key as paper_key
from .features import CachedFeatures, encode_paths
from .frame import InterpolationMode, model_frame
from .inputs import check_name
from .paths import check_output_folder, file_name

#: The files :func:`evaluate` writes into ``out_dir`` (besides the prompt sets in ``prompts/``).
RESULT_FILES = {"draws": "eval_draws.csv", "categories": "eval_categories.csv",
                "summary": "eval_summary.csv", "json": "eval.json", "markdown": "eval_table.md"}


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
        if "object_name" in g:  # the name the text prior read (one per category)
            row["object_name"] = ", ".join(dict.fromkeys(g["object_name"]))
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


def _pixel_auroc(out, samples, size: int) -> float:
    keep = [i for i, s in enumerate(samples) if s.label == 0 or s.mask is not None]
    if not any(samples[i].mask is not None for i in keep):
        return float("nan")
    maps = out.anomaly_map(size)[keep].numpy().ravel()
    masks = np.stack([mask_in_model_frame(samples[i].mask, size) if samples[i].mask is not None
                      else np.zeros((size, size), bool) for i in keep]).ravel()
    return float(roc_auc_score(masks, maps)) if masks.any() and not masks.all() else float("nan")


def require_test_images(dataset) -> None:
    """Refuse a category whose test split cannot give an AUROC.

    AUROC needs normal and anomalous test images, in every category: a dataset's figure is
    the mean over its categories, so one category without both classes leaves it undefined.

    Args:
        dataset: a :class:`~inctrl.data.layout.CanonicalDataset`.

    Raises:
        ValueError: a category has no test image, or only one of the two classes; the
            message names the categories and the folder to fill.
    """
    empty = [c for c in dataset.categories if not dataset.test_samples(c)]
    if empty:
        where = Path(dataset.root) / empty[0] / "test"
        raise ValueError(f"category {empty[0]!r} of {dataset.root} has no test images (expected "
                         f"{where}/good/ and {where}/<defect>/); evaluation scores the test split, "
                         "so add them or evaluate another dataset")
    for label, missing, folder in ((1, "anomalous", "<defect>"), (0, "normal", "good")):
        lacking = [c for c in dataset.categories if all(s.label != label for s in dataset.test_samples(c))]
        if lacking:
            names = ", ".join(repr(c) for c in lacking)
            where = Path(dataset.root) / lacking[0] / "test" / folder
            raise ValueError(f"{'category' if len(lacking) == 1 else 'categories'} {names} of {dataset.root} "
                             f"{'has' if len(lacking) == 1 else 'have'} no {missing} test images, so no "
                             f"AUROC can be computed (it needs both classes); add {missing} images under "
                             f"{where}/ or remove the category")


def evaluate(models, data_root, shots: Sequence[int] = (2, 4, 8), seeds: Sequence[int] = (0, 1, 2),
             out_dir=None, *, name: str | None = None, pixel: bool = True, pixel_size: int | None = None,
             batch_size: int = 64, cache_dir=None, amp: bool = False, progress: bool = True,
             profile: str | None = None, features: CachedFeatures | None = None,
             object_name: str | None = None) -> EvalResult:
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
        object_name: the name the text prior reads for every category (e.g. ``"solar cell"``
            for ELPV); default each category's own name. The name used is recorded in the
            ``object_name`` column of the rows.

    Returns:
        The EvalResult (with the written paths when ``out_dir`` is given).

    Raises:
        ValueError: a category has no test images or lacks one class, a K has no model,
            ``object_name`` is blank or too long for the text encoder, ``out_dir`` is refused
            (:func:`inctrl.paths.check_output_folder`), or an image is empty, not an image or
            too small (:func:`inctrl.data.images.check_image_files`).
    """
    dataset = CanonicalDataset(data_root, name=name)
    require_test_images(dataset)
    if object_name is not None:
        check_name(object_name)
    if out_dir is not None:
        check_output_folder(out_dir, what="out_dir")
    check_image_files(s.path for s in dataset.samples())  # every image, whichever a draw reads
    models = dict(models) if isinstance(models, Mapping) else {int(k): models for k in shots}
    missing = [k for k in shots if int(k) not in models]
    if missing:
        raise ValueError(f"no model given for K={missing}")
    for model in {id(m): m for m in models.values()}.values():  # a name the text encoder would cut
        for category in dataset.categories:
            model.check_text_fits(object_name or dataset.object_name(category))
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
        bank = model.prompt_bank_from_features(feats.select(prompts), object_name or dataset.object_name(cat),
                                               [str(p) for p in prompts])
        query = feats.select([s.path for s in tests[cat]])
        out = _score_chunks(model, query, bank, batch_size, amp)
        labels = [s.label for s in tests[cat]]
        row = {"dataset": dataset.name, "category": cat, "object_name": bank.name, "k": k, "seed": seed,
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
    paths = {key: out / name for key, name in RESULT_FILES.items()}
    names = result.draws.groupby("category")["object_name"].first() if "object_name" in result.draws else {}
    texts = {"draws": result.draws.to_csv(index=False), "categories": result.categories.to_csv(index=False),
             "summary": result.summary.to_csv(index=False), "markdown": result.markdown(),
             "json": json.dumps({"dataset": result.dataset, "profile": result.profile,
                                 "object_names": dict(names), "summary": _records(result.summary),
                                 "categories": _records(result.categories),
                                 "draws": _records(result.draws)}, indent=2) + "\n"}
    for key, path in paths.items():  # a symlink left there is replaced, never written through
        atomic.write_text(path, texts[key], follow_symlinks=False)
    for ps in prompt_sets:  # the names are data: they never decide the folder
        stem = f"{file_name(ps.dataset)}_{file_name(ps.category)}"
        ps.save(out / "prompts" / f"{stem}_k{ps.k}_seed{ps.seed}.json")
    return paths


def _records(df: pd.DataFrame) -> list[dict]:
    # NaN is not JSON: write null.
    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
            for r in df.to_dict(orient="records")]
