"""Thresholds on hand-made scores."""

import numpy as np
import pytest

from inctrl.threshold import apply_threshold, f1_threshold, normal_threshold


def test_normal_threshold_is_the_percentile():
    scores = np.arange(101) / 100.0  # 0.00 .. 1.00
    assert normal_threshold(scores) == pytest.approx(0.99)
    assert normal_threshold(scores, 50) == pytest.approx(0.5)
    assert normal_threshold([0.2, 0.4], 100) == pytest.approx(0.4)
    with pytest.raises(ValueError, match="at least one"):
        normal_threshold([])
    with pytest.raises(ValueError, match="percentile"):
        normal_threshold([0.1], 101)


def test_f1_threshold_hand_case():
    labels = [0, 0, 0, 1, 1, 0, 1]
    scores = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
    # score >= 0.4 flags 0.4, 0.5, 0.6, 0.7: precision 3/4, recall 1 -> F1 6/7, the best.
    threshold, f1 = f1_threshold(labels, scores)
    assert threshold == pytest.approx(0.4) and f1 == pytest.approx(6 / 7)
    assert apply_threshold(scores, threshold).tolist() == [False] * 3 + [True] * 4
    with pytest.raises(ValueError, match="both"):
        f1_threshold([0, 0], [0.1, 0.2])
