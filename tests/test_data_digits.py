"""The digits converter: scikit-learn's 8 x 8 digits as one-vs-all categories."""

import shutil

import numpy as np
import pytest
from data_fixtures import tree_checksum
from PIL import Image
from sklearn.datasets import load_digits

from inctrl.data.converters import CONVERTERS
from inctrl.data.converters.digits import (
    DIGITS_FILE,
    category_name,
    convert_digits,
    digits_package_file,
    digits_pixels,
    digits_plan,
    read_digits,
)
from inctrl.data.layout import CanonicalDataset


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    """A raw folder holding a copy of scikit-learn's digits file."""
    folder = tmp_path_factory.mktemp("raw")
    shutil.copyfile(digits_package_file(), folder / DIGITS_FILE)
    return folder


def test_reads_what_load_digits_gives():
    images, labels = read_digits(None)
    bunch = load_digits()
    assert images.shape == (1797, 8, 8) and labels.shape == (1797,)
    assert np.array_equal(images, bunch.images) and np.array_equal(labels, bunch.target)
    assert images.min() == 0 and images.max() == 16
    assert np.array_equal(digits_pixels(np.array([[0, 8, 16]])), np.array([[0, 128, 255]], dtype=np.uint8))


def test_one_vs_all_counts_labels_and_pixels(raw, tmp_path):
    before = tree_checksum(raw)
    out = convert_digits(raw, tmp_path / "digits", normal_sets=[[3], [1, 0]], anomalies_per_class=5,
                         show_progress=False)
    assert tree_checksum(raw) == before  # nothing written into the input
    ds = CanonicalDataset(out)
    assert ds.categories == ["digit_3", "digits_0_1"]
    images, labels = read_digits(raw)
    n3, n01 = int((labels == 3).sum()), int(np.isin(labels, [0, 1]).sum())
    assert (n3, n01) == (183, 360)
    # normals split 75/25 (train_test_split rounds the test share up), 5 anomalies per other digit
    assert ds.counts()["digit_3"] == {"train_good": 137, "test_good": 46, "test_anomalous": 45}
    assert ds.counts()["digits_0_1"] == {"train_good": 270, "test_good": 90, "test_anomalous": 40}
    for cat, normal in (("digit_3", {3}), ("digits_0_1", {0, 1})):
        for s in ds.samples(cat):
            digit = int(labels[int(s.path.stem)])
            assert (digit in normal) == (s.label == 0)                 # one-vs-all labels
            assert s.defect == ("good" if s.label == 0 else str(digit))
    sample = ds.test_samples("digit_3")[-1]
    pixels = np.asarray(Image.open(sample.path))
    assert pixels.shape == (8, 8) and np.array_equal(pixels, digits_pixels(images[int(sample.path.stem)]))


def test_plan_is_the_written_layout(raw, tmp_path):
    _, labels = read_digits(None)
    out = convert_digits(None, tmp_path / "d", normal_sets=[[7]], anomalies_per_class=3, seed=1,
                         show_progress=False)
    ds = CanonicalDataset(out)
    written = sorted((s.split, int(s.path.stem), s.defect) for s in ds.samples("digit_7"))
    assert written == sorted(digits_plan(labels, [7], anomalies_per_class=3, seed=1))
    whole = digits_plan(labels, [7])  # every other digit when uncapped
    assert sum(split == "test" and d != "good" for split, _, d in whole) == int((labels != 7).sum())


def test_registered_and_refusals(raw, tmp_path):
    assert CONVERTERS["digits"] is convert_digits
    assert category_name([2]) == "digit_2" and category_name([5, 0]) == "digits_0_5"
    for bad in ([], [1, 1], [10]):
        with pytest.raises(ValueError, match="distinct digits"):
            category_name(bad)
    with pytest.raises(ValueError, match="same set twice"):
        convert_digits(None, tmp_path / "twice", normal_sets=[[1, 2], [2, 1]], show_progress=False)
    with pytest.raises(ValueError, match="inside the raw folder"):
        convert_digits(raw, raw / "out", normal_sets=[[0]], show_progress=False)
    with pytest.raises(FileNotFoundError, match="digits"):
        convert_digits(tmp_path / "nowhere", tmp_path / "o", show_progress=False)
    broken = tmp_path / "broken"
    broken.mkdir()
    np.savetxt(broken / DIGITS_FILE, np.ones((3, 10)), delimiter=",")
    with pytest.raises(ValueError, match="65 columns"):
        read_digits(broken)
    assert not (tmp_path / "twice").exists()
