"""Feature-free baselines: what a backbone must beat, scored without any network.

Eq. 1 on raw pixels (:func:`raw_patch_scores`: each 16 px query patch's distance to its
nearest prompt patch) and a mean-colour image residual (:func:`mean_colour_score`), both in
the model's input frame; :func:`feature_free_baselines` gives their AUROC on a canonical
dataset (ELPV or the held-out world of :mod:`inctrl.book.backbone_study`) per K and seed.

:func:`global_statistics` asks a narrower question, the one behind the image score s_i: can
*any* whole-image statistic of the pixels (mean colour, colour histogram, edge energy and
contrast, the mean of the raw patch residual) tell a defective query from its K prompts?
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.metrics import roc_auc_score

from ..data.fewshot import PromptSet
from ..data.images import load_image
from ..data.layout import CanonicalDataset
from ..evaluate import mask_in_model_frame
from ..frame import model_frame

__all__ = [
    "colour_histogram_score",
    "edge_contrast_score",
    "feature_free_baselines",
    "global_statistic_scores",
    "global_statistics",
    "mean_colour_score",
    "raw_patch_scores",
]

#: The side of a patch in pixels, as the ViT grid's.
PATCH = 16


def _pixels(path, size: int = 240) -> np.ndarray:
    """An image in the model's frame (:func:`inctrl.frame.model_frame`), float [S, S, 3] in [0, 1]."""
    return np.asarray(model_frame(size)(load_image(path)), dtype=np.float64) / 255.0


def _patches(img: np.ndarray) -> np.ndarray:
    """[S, S, 3] -> mean-subtracted 16 px patches [N, 16*16*3], row-major like the ViT grid."""
    g = img.shape[0] // PATCH
    p = (
        img[: g * PATCH, : g * PATCH]
        .reshape(g, PATCH, g, PATCH, 3)
        .transpose(0, 2, 1, 3, 4)
        .reshape(g * g, -1)
    )
    return p - p.mean(axis=1, keepdims=True)


def raw_patch_scores(query: np.ndarray, prompts: list[np.ndarray]) -> np.ndarray:
    """Feature-free Eq. 1: each query patch's L2 distance to its nearest prompt patch (in pixels).

    Patches are 16 px, row-major like the ViT grid, each with its mean subtracted.

    Args:
        query: [S, S, 3] the query in the model's frame, floats in [0, 1].
        prompts: K prompt images like ``query``.

    Returns:
        [N] the patch map; its max is the image score.
    """
    q = _patches(query)
    p = np.concatenate([_patches(x) for x in prompts])
    d2 = (q**2).sum(1)[:, None] + (p**2).sum(1)[None] - 2 * q @ p.T
    return np.sqrt(np.clip(d2.min(axis=1), 0, None))


def _mean_colour(img: np.ndarray) -> np.ndarray:
    return img.reshape(-1, 3).mean(0)


def _histogram(img: np.ndarray, bins: int = 16) -> np.ndarray:
    """The per-channel colour histogram of ``img``, each channel's counts summing to 1."""
    counts = [np.histogram(img[..., c], bins=bins, range=(0.0, 1.0))[0] for c in range(3)]
    return np.concatenate(counts) / img[..., 0].size


def _edges_and_contrast(img: np.ndarray) -> np.ndarray:
    grey = img.mean(axis=-1)
    return np.array([np.abs(np.diff(grey, axis=0)).mean(), np.abs(np.diff(grey, axis=1)).mean(), grey.std()])


#: Whole-image descriptors: name -> (describe(image) -> vector, the norm order of the distance).
#: Each score is the distance of the query's vector to the mean of its K prompts' vectors.
_DESCRIPTORS = {
    "mean colour": (_mean_colour, 2),
    "colour histogram": (_histogram, 1),
    "edges and contrast": (_edges_and_contrast, 2),
}


def _distances(name: str, queries: list[np.ndarray], prompts: list[np.ndarray]) -> np.ndarray:
    """Descriptor ``name``'s distance of each query to the prompts' mean (the mean computed once)."""
    describe, order = _DESCRIPTORS[name]
    ref = np.mean([describe(p) for p in prompts], axis=0)
    return np.array([np.linalg.norm(describe(q) - ref, ord=order) for q in queries])


def mean_colour_score(query: np.ndarray, prompts: list[np.ndarray]) -> float:
    """Feature-free image residual: distance of the query's mean colour to the prompts' mean colour.

    Args:
        query: [S, S, 3] the query in the model's frame, floats in [0, 1].
        prompts: K prompt images like ``query``.

    Returns:
        The L2 distance between the two mean RGB colours.
    """
    return float(_distances("mean colour", [query], prompts)[0])


def colour_histogram_score(query: np.ndarray, prompts: list[np.ndarray]) -> float:
    """Feature-free image residual: L1 distance of the query's colour histogram to the prompts' mean.

    Unlike the mean colour it sees a small region changing colour even when the average does
    not move, and unlike raw patches it ignores where things are (pose jitter costs nothing).

    Args:
        query: [S, S, 3] the query in the model's frame, floats in [0, 1].
        prompts: K prompt images like ``query``.

    Returns:
        The L1 distance of the two 3 x 16-bin histograms, in [0, 6].
    """
    return float(_distances("colour histogram", [query], prompts)[0])


def edge_contrast_score(query: np.ndarray, prompts: list[np.ndarray]) -> float:
    """Feature-free image residual: distance of (vertical edge energy, horizontal, contrast) to the prompts'.

    Edge energy is the mean absolute difference of neighbouring grey pixels, contrast the grey
    standard deviation: what blur, scratches and added texture change over the whole image.

    Args:
        query: [S, S, 3] the query in the model's frame, floats in [0, 1].
        prompts: K prompt images like ``query``.

    Returns:
        The L2 distance between the query's three numbers and the mean of the prompts'.
    """
    return float(_distances("edges and contrast", [query], prompts)[0])


#: The whole-image statistics of :func:`global_statistics`, in table order: the three
#: descriptors, then the level (mean) of the raw patch residual.
GLOBAL_STATISTICS = (*_DESCRIPTORS, "raw patches, mean")


def _statistic_scores(queries: list[np.ndarray], prompts: list[np.ndarray]) -> dict[str, np.ndarray]:
    scores = {name: _distances(name, queries, prompts) for name in _DESCRIPTORS}
    scores["raw patches, mean"] = np.array([raw_patch_scores(q, prompts).mean() for q in queries])
    return scores


def global_statistic_scores(queries, prompts) -> dict[str, np.ndarray]:
    """Every statistic of :data:`GLOBAL_STATISTICS` for each query against the same K prompts.

    Args:
        queries: image paths (read in the model's frame, as the network sees them).
        prompts: the K prompt image paths.

    Returns:
        statistic name -> [len(queries)] scores, higher meaning farther from the prompts.
    """
    return _statistic_scores([_pixels(q) for q in queries], [_pixels(p) for p in prompts])


def global_statistics(root, shots=(2, 4, 8), seeds=(0, 1, 2), name: str | None = None) -> pd.DataFrame:
    """AUROC of each whole-image pixel statistic (:data:`GLOBAL_STATISTICS`), per (k, seed).

    An upper reference for what an image-level residual can read without a network: if none of
    them separates a dataset's defective queries, its defects are local, and only a patch
    score (or a backbone that learned what a defect looks like) can find them.

    Args:
        root: the dataset's folder in the canonical layout.
        shots: the K values.
        seeds: the prompt-draw seeds.
        name: the dataset's name; default the folder's.

    Returns:
        Rows: statistic, k, seed, auroc (mean over categories).
    """
    ds = CanonicalDataset(root, name=name)
    per_cat: dict[tuple, list[float]] = {}  # (k, seed, statistic) -> one AUROC per category
    for cat in ds.categories:
        tests = ds.test_samples(cat)
        labels = [s.label for s in tests]
        queries = [_pixels(s.path) for s in tests]  # read once, scored against every draw
        for k in shots:
            for seed in seeds:
                prompts = [_pixels(p) for p in PromptSet.draw(ds, cat, int(k), int(seed)).resolve(ds.root)]
                for statistic, values in _statistic_scores(queries, prompts).items():
                    auroc = roc_auc_score(labels, values)
                    per_cat.setdefault((int(k), int(seed), statistic), []).append(auroc)
    return pd.DataFrame([{"statistic": statistic, "k": k, "seed": seed, "auroc": float(np.mean(aurocs))}
                         for (k, seed, statistic), aurocs in per_cat.items()])


def feature_free_baselines(root, shots=(2, 4, 8), seeds=(0, 1, 2), name: str | None = None) -> pd.DataFrame:
    """AUROC of the two feature-free baselines on a canonical dataset, per (k, seed).

    Args:
        root: the dataset's folder in the canonical layout.
        shots: the K values.
        seeds: the prompt-draw seeds.
        name: the dataset's name; default the folder's.

    Returns:
        Rows: baseline (``"raw patches"`` / ``"mean colour"``), k, seed, auroc (mean over
        categories) and pixel_auroc (raw patches only, on categories with masks; the
        [15, 15] distance map upsampled to 240 px), NaN for the mean colour.
    """
    ds = CanonicalDataset(root, name=name)
    rows = []
    cache: dict[str, np.ndarray] = {}

    def pixels(path):
        key = str(path)
        if key not in cache:
            cache[key] = _pixels(path)
        return cache[key]

    for k in shots:
        for seed in seeds:
            per_cat = {"raw patches": [], "mean colour": [], "pixel": []}
            for cat in ds.categories:
                prompts = [pixels(p) for p in PromptSet.draw(ds, cat, int(k), int(seed)).resolve(ds.root)]
                tests = ds.test_samples(cat)
                labels = [s.label for s in tests]
                maps = [raw_patch_scores(pixels(s.path), prompts) for s in tests]
                per_cat["raw patches"].append(roc_auc_score(labels, [m.max() for m in maps]))
                per_cat["mean colour"].append(
                    roc_auc_score(labels, [mean_colour_score(pixels(s.path), prompts) for s in tests])
                )
                if any(s.mask is not None for s in tests):
                    per_cat["pixel"].append(_pixel_auroc(maps, tests))
            pixel = float(np.mean(per_cat["pixel"])) if per_cat["pixel"] else float("nan")
            rows.append(
                {
                    "baseline": "raw patches",
                    "k": int(k),
                    "seed": int(seed),
                    "auroc": float(np.mean(per_cat["raw patches"])),
                    "pixel_auroc": pixel,
                }
            )
            rows.append(
                {
                    "baseline": "mean colour",
                    "k": int(k),
                    "seed": int(seed),
                    "auroc": float(np.mean(per_cat["mean colour"])),
                    "pixel_auroc": float("nan"),
                }
            )
    return pd.DataFrame(rows)


def _pixel_auroc(maps: list[np.ndarray], tests, size: int = 240) -> float:
    g = int(round(np.sqrt(maps[0].size)))
    up = [
        np.asarray(Image.fromarray(m.reshape(g, g).astype(np.float32)).resize((size, size), Image.BILINEAR))
        for m in maps
    ]
    masks = [
        mask_in_model_frame(s.mask, size) if s.mask is not None else np.zeros((size, size), bool)
        for s in tests
    ]
    return float(roc_auc_score(np.stack(masks).ravel(), np.stack(up).ravel()))
