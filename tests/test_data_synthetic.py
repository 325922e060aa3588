"""Synthetic stand-in dataset: determinism, layout, masks exactly for anomalies."""

import numpy as np
import pytest
from data_fixtures import tree_checksum
from PIL import Image

from inctrl.data.images import load_mask
from inctrl.data.layout import CanonicalDataset
from inctrl.data.synthetic import SYNTHETIC_CATEGORIES, defect_kinds, make_synthetic_dataset

SMALL = dict(n_normal=8, n_anomalous=6, size=64, show_progress=False)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("syn") / "a", seed=1, **SMALL)


def test_layout_and_masks(synthetic):
    ds = CanonicalDataset(synthetic)
    assert ds.categories == sorted(SYNTHETIC_CATEGORIES) and len(SYNTHETIC_CATEGORIES) == 6
    kinds = set(defect_kinds())
    assert len(kinds) == 6
    for cat in ds.categories:
        assert ds.counts()[cat] == {"train_good": 6, "test_good": 2, "test_anomalous": 6}
        test = ds.test_samples(cat)
        assert {s.defect for s in test if s.label} == kinds  # every kind in every category
        for s in test:
            img = np.asarray(Image.open(s.path))
            assert img.shape == (64, 64, 3) and img.dtype == np.uint8
            if s.label:
                mask = load_mask(s.mask)
                assert mask.shape == (64, 64) and 0 < mask.sum() < 0.5 * mask.size
            else:
                assert s.mask is None
        assert not (synthetic / cat / "ground_truth" / "good").exists()
    normals = [np.asarray(Image.open(s.path)) for s in ds.train_normals("brick")[:2]]
    assert not np.array_equal(*normals)  # jittered


def test_deterministic_and_seed_dependent(synthetic, tmp_path):
    again = make_synthetic_dataset(tmp_path / "b", seed=1, **SMALL)
    assert tree_checksum(again) == tree_checksum(synthetic)
    other = make_synthetic_dataset(tmp_path / "c", categories=["pill"], seed=2, **SMALL)
    assert CanonicalDataset(other).categories == ["pill"]
    assert (other / "pill/test/crack/001.png").read_bytes() != (
        synthetic / "pill/test/crack/001.png"
    ).read_bytes()


def test_defect_changes_pixels_inside_mask(synthetic):
    # the defect is where the mask says: pixels outside the mask look like a normal image
    s = next(x for x in CanonicalDataset(synthetic).test_samples("pill") if x.defect == "stain")
    img = np.asarray(Image.open(s.path)).astype(int)
    mask = load_mask(s.mask)
    inside = img[mask].mean(axis=0)
    assert np.abs(inside - img[~mask].mean(axis=0)).max() > 10


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown synthetic categories.*'marble'"):
        make_synthetic_dataset(tmp_path / "x", categories=["marble"])
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f.txt").write_text("x")
    with pytest.raises(FileExistsError):
        make_synthetic_dataset(tmp_path / "full", **SMALL)
