"""Canonical layout reader and the user-folder dataset."""

import warnings

import numpy as np
import pytest
from data_fixtures import make_canonical, noise, write_png

from inctrl.data.images import SkippedImageWarning
from inctrl.data.layout import CanonicalDataset, FolderDataset, Sample


@pytest.fixture()
def canonical(tmp_path):
    root = make_canonical(
        tmp_path / "mini",
        {"metal_nut": (5, 2, {"scratch": 2, "bent": 1}), "bottle": (4, 1, {"broken": 2})},
    )
    # the alternative mask name <stem>.png and a defect image without a mask
    (root / "bottle/ground_truth/broken/001_mask.png").rename(root / "bottle/ground_truth/broken/001.png")
    (root / "metal_nut/ground_truth/bent/000_mask.png").unlink()
    (root / "license.txt").write_text("top-level files are ignored")
    (root / "bottle/train/good/.DS_Store").write_bytes(b"")
    return root


def test_categories_samples_and_masks(canonical):
    ds = CanonicalDataset(canonical)
    assert ds.name == "mini"
    assert ds.categories == ["bottle", "metal_nut"]
    assert len(ds) == 5 + 2 + 3 + 4 + 1 + 2
    assert ds.counts()["metal_nut"] == {"train_good": 5, "test_good": 2, "test_anomalous": 3}
    train = ds.train_normals("bottle")
    assert len(train) == 4 and all(s.label == 0 and s.split == "train" for s in train)
    test = ds.test_samples("metal_nut")
    assert [s.defect for s in test] == ["good", "good", "bent", "scratch", "scratch"]
    assert [s.label for s in test] == [0, 0, 1, 1, 1]
    assert all(s.mask is None for s in test if s.label == 0)
    scratch = [s for s in test if s.defect == "scratch"]
    assert scratch[1].mask == canonical / "metal_nut/ground_truth/scratch/001_mask.png"
    assert [s for s in test if s.defect == "bent"][0].mask is None
    broken = ds.samples("bottle", "test")[-1]
    assert broken.mask.name == "001.png"
    assert isinstance(broken, Sample) and broken.category == "bottle"
    assert ds.samples(split="train") == ds.train_normals("bottle") + ds.train_normals("metal_nut")
    assert ds.object_name("metal_nut") == "metal nut"


def test_unreadable_entries_are_skipped_with_one_warning(tmp_path, canonical):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # hidden files and text files are skipped silently
        clean = CanonicalDataset(canonical).samples()
    scratch = canonical / "metal_nut/test/scratch"
    (scratch / "002.png").symlink_to(tmp_path / "gone.png")
    (scratch / "003.png").mkdir()
    with pytest.warns(SkippedImageWarning) as caught:
        ds = CanonicalDataset(canonical)
    assert [str(w.message) for w in caught] == [
        f"category 'metal_nut' of {canonical}: skipped 2 entries that are no readable image files: "
        f"test/scratch/002.png (a dangling symlink (to {tmp_path / 'gone.png'})), "
        "test/scratch/003.png (a folder)"]
    assert ds.samples() == clean


def test_errors_name_the_problem(tmp_path, canonical):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        CanonicalDataset(tmp_path / "absent")
    ds = CanonicalDataset(canonical)
    with pytest.raises(ValueError, match="no category 'cable'.*bottle, metal_nut"):
        ds.samples("cable")
    with pytest.raises(ValueError, match="split must be"):
        ds.samples(split="val")
    (canonical / "cable" / "test" / "good").mkdir(parents=True)
    with pytest.raises(ValueError, match="'cable'.*no train/good"):
        CanonicalDataset(canonical)
    with pytest.raises(ValueError, match="single category"):
        CanonicalDataset(canonical / "bottle")


def test_folder_dataset(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(8):
        write_png(tmp_path / "ok" / f"n{i}.png", noise(rng, (6, 6)))
    for i in range(3):
        write_png(tmp_path / "bad" / f"a{i}.jpg".replace("jpg", "png"), noise(rng, (6, 6)))
    write_png(tmp_path / "masks" / "a1_mask.png", np.full((6, 6), 255))
    ds = FolderDataset(tmp_path / "ok", tmp_path / "bad", tmp_path / "masks", name="widget")
    assert ds.categories == ["widget"]
    assert len(ds.train_normals("widget")) == 6  # 8 normals, 25 % to test
    test = ds.test_samples("widget")
    assert [s.label for s in test] == [0, 0, 1, 1, 1]
    assert [s.mask is not None for s in test if s.label] == [False, True, False]
    assert ds.object_name("widget") == "widget"
    only_prompts = FolderDataset(tmp_path / "ok", test_size=0)
    assert len(only_prompts.train_normals("custom")) == 8
    with pytest.raises(ValueError, match="no images"):
        FolderDataset(tmp_path / "masks" / "..", name="x")
