"""The feature-free whole-image statistics: hand-computed values and their AUROC table."""

import numpy as np
import pytest

from inctrl.book.baselines import (
    GLOBAL_STATISTICS,
    colour_histogram_score,
    edge_contrast_score,
    feature_free_baselines,
    global_statistics,
)
from inctrl.data.world import make_world_dataset


def test_colour_histogram_of_black_against_white_is_the_largest_distance():
    black, white = np.zeros((32, 32, 3)), np.ones((32, 32, 3))
    assert colour_histogram_score(black, [white, white]) == pytest.approx(6.0)  # 2 per channel
    assert colour_histogram_score(white, [black, white]) == pytest.approx(3.0)  # half the mass moves
    assert colour_histogram_score(white, [white]) == 0.0


def test_colour_histogram_ignores_where_the_colours_are():
    rng = np.random.default_rng(0)
    img = rng.random((32, 32, 3))
    moved = np.roll(np.rot90(img), 5, axis=1)
    assert colour_histogram_score(moved, [img]) == pytest.approx(0.0)


def test_edge_contrast_of_a_one_pixel_checkerboard_against_a_flat_image():
    checker = np.indices((32, 32)).sum(axis=0) % 2
    board = np.repeat(checker[..., None], 3, axis=-1).astype(float)
    flat = np.full((32, 32, 3), 0.5)
    # edge energy 1 in both directions, contrast 0.5: the distance to (0, 0, 0) is 1.5
    assert edge_contrast_score(board, [flat]) == pytest.approx(1.5)
    assert edge_contrast_score(flat, [flat, flat]) == 0.0


def test_global_statistics_table_matches_the_mean_colour_baseline(tmp_path):
    root = make_world_dataset(tmp_path / "w", families=["dice"], n_normal=6, n_anomalous=3, size=240,
                              show_progress=False)
    table = global_statistics(root, shots=(2,), seeds=(0, 1))
    assert list(table["statistic"].unique()) == list(GLOBAL_STATISTICS)
    assert len(table) == 2 * len(GLOBAL_STATISTICS) and table["auroc"].between(0, 1).all()
    reference = feature_free_baselines(root, (2,), (0, 1))
    for seed in (0, 1):
        ours = table[(table["statistic"] == "mean colour") & (table["seed"] == seed)]["auroc"].iloc[0]
        colour = reference[(reference["baseline"] == "mean colour") & (reference["seed"] == seed)]
        theirs = colour["auroc"].iloc[0]
        assert ours == pytest.approx(theirs)
