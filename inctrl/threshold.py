"""Decision thresholds for InCTRL scores.

InCTRL outputs a score, not a decision. Two ways to turn it into one:

* :func:`normal_threshold` - from normal images only (the usual few-shot situation): the
  ``percentile``-th percentile (default 99) of the scores of *held-out* normal images, i.e.
  normal images of the target that are not among the K prompts (e.g. the rest of
  train/good). Scoring a prompt against a bank that contains itself gives an artificially
  low patch score, so prompts must not be used. About 1 % of normal images are then
  flagged; anomalies above the normal range are caught.
* :func:`f1_threshold` - when labelled images exist: the threshold that maximises F1 (an
  upper bound on what any threshold achieves, for reporting, not for deployment).

A query is anomalous iff ``score >= threshold`` (:func:`apply_threshold`), the convention of
scikit-learn's precision-recall curve.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve


def normal_threshold(normal_scores, percentile: float = 99.0) -> float:
    """The threshold from normal images only: a percentile of their scores.

    Args:
        normal_scores: scores of held-out normal images (not the prompts), any shape.
        percentile: in [0, 100]; the default 99 flags about 1 % of normal images.

    Returns:
        The ``percentile``-th percentile (numpy, linear interpolation).

    Raises:
        ValueError: no scores, ``percentile`` outside [0, 100] or NaN, or a score that is
            NaN or infinite.
    """
    scores = np.asarray(normal_scores, dtype=np.float64).ravel()
    if scores.size == 0:
        raise ValueError("a threshold from normal images needs at least one held-out normal score")
    if not 0 <= percentile <= 100:  # also refuses NaN
        raise ValueError(f"percentile must be in [0, 100], got {percentile}")
    _require_finite(scores, "normal scores")
    return float(np.percentile(scores, percentile))


def f1_threshold(labels, scores) -> tuple[float, float]:
    """The threshold that maximises F1 of ``score >= threshold`` on labelled scores.

    Args:
        labels: 1 (or True) for anomalous, 0 for normal; both must occur.
        scores: one score per label.

    Returns:
        ``(threshold, F1)``.

    Raises:
        ValueError: the counts differ, a score is NaN or infinite, or only one class occurs.
    """
    labels = np.asarray(labels).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if labels.size != scores.size:
        raise ValueError(f"{labels.size} labels for {scores.size} scores")
    _require_finite(scores, "scores")
    if not labels.any() or labels.all():
        raise ValueError("an F1-optimal threshold needs both normal and anomalous labels")
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = int(np.argmax(f1[:-1]))  # the last point has no threshold
    return float(thresholds[best]), float(f1[best])


def apply_threshold(scores, threshold: float) -> np.ndarray:
    """Decisions: anomalous iff ``score >= threshold``.

    Args:
        scores: scores, any shape.
        threshold: a finite number.

    Returns:
        Booleans of the scores' shape, True for anomalous.

    Raises:
        ValueError: the threshold or a score is NaN or infinite.
    """
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold}")
    scores = np.asarray(scores, dtype=np.float64)
    _require_finite(scores, "scores")
    return scores >= threshold


def _require_finite(values: np.ndarray, what: str) -> None:
    """NaN compares false with everything: a NaN score would silently count as normal."""
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise ValueError(f"{bad} of {values.size} {what} are NaN or infinite; the model's weights or "
                         "the images are broken")
