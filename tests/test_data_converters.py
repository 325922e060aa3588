"""Converters on small fake raw folders with the real raw structure (ELPV: the real data)."""

import numpy as np
import pytest
from data_fixtures import make_canonical, noise, tree_checksum, write_png
from PIL import Image

from inctrl.data.converters import (
    CONVERTERS,
    convert_aitex,
    convert_brainmri,
    convert_cifar10,
    convert_headct,
    convert_mnist,
    convert_mvtec,
    convert_sdd,
    convert_visa,
    prepare_elpv,
)
from inctrl.data.images import load_mask
from inctrl.data.layout import CanonicalDataset

RNG = np.random.default_rng(0)


def _convert_checked(convert, raw, out, **kw):
    """Run a converter and assert it left the raw folder byte-identical."""
    before = tree_checksum(raw)
    result = convert(raw, out, show_progress=False, **kw)
    assert tree_checksum(raw) == before
    assert result == out
    assert not [p for p in out.parent.iterdir() if ".tmp-" in p.name]  # temp folder renamed
    return CanonicalDataset(out)


def test_registry_names():
    assert sorted(CONVERTERS) == sorted(
        ["mvtec", "visa", "aitex", "elpv", "sdd", "brainmri", "headct", "mnist", "cifar10", "digits"]
    )


@pytest.fixture(scope="module")
def elpv(tmp_path_factory):
    return prepare_elpv(tmp_path_factory.mktemp("elpv") / "elpv", show_progress=False)


def test_elpv_real_counts(elpv):
    ds = CanonicalDataset(elpv)
    assert ds.categories == ["elpv"]
    assert ds.counts()["elpv"] == {"train_good": 1131, "test_good": 377, "test_anomalous": 715}
    defects = [s.defect for s in ds.test_samples("elpv") if s.label]
    assert (defects.count("mono"), defects.count("poly")) == (313, 402)
    assert Image.open(ds.train_normals("elpv")[0].path).size == (300, 300)
    again = prepare_elpv(elpv.parent / "again", show_progress=False)  # deterministic split
    assert sorted(p.name for p in (again / "elpv/test/good").iterdir()) == sorted(
        p.name for p in (elpv / "elpv/test/good").iterdir()
    )


def test_mvtec_copy_refusals_and_overwrite(tmp_path):
    raw = make_canonical(tmp_path / "raw", {"bottle": (4, 1, {"broken": 2})})
    ds = _convert_checked(convert_mvtec, raw, tmp_path / "out")
    assert ds.counts() == {"bottle": {"train_good": 4, "test_good": 1, "test_anomalous": 2}}
    last = ds.test_samples("bottle")[-1]
    assert last.mask == ds.root / "bottle" / "ground_truth" / "broken" / f"{last.path.stem}_mask.png"
    assert last.mask.is_file()
    with pytest.raises(ValueError, match="inside the raw folder"):
        convert_mvtec(raw, raw / "converted", show_progress=False)
    assert not (raw / "converted").exists()
    with pytest.raises(FileExistsError, match="not empty"):
        convert_mvtec(raw, tmp_path / "out", show_progress=False)
    (tmp_path / "out" / "stale.txt").write_text("old")  # a file of the user's: never deleted
    with pytest.raises(ValueError, match="holds stale.txt that inctrl did not write"):
        convert_mvtec(raw, tmp_path / "out", overwrite=True, show_progress=False)
    assert (tmp_path / "out" / "stale.txt").read_text() == "old"
    (tmp_path / "out" / "stale.txt").unlink()
    convert_mvtec(raw, tmp_path / "out", overwrite=True, show_progress=False)  # all of it inctrl's
    assert CanonicalDataset(tmp_path / "out").counts()["bottle"]["train_good"] == 4
    with pytest.raises(ValueError, match="train/good"):
        convert_mvtec(tmp_path / "out" / "bottle" / "test", tmp_path / "o2", show_progress=False)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        convert_mvtec(tmp_path / "nothing", tmp_path / "o3", show_progress=False)


def test_failed_conversion_leaves_no_tree(tmp_path):
    raw = tmp_path / "raw"
    (raw / "split_csv").mkdir(parents=True)
    (raw / "split_csv" / "1cls.csv").write_text(
        "object,split,label,image,mask\ncandle,train,normal,candle/missing.JPG,\n"
    )
    with pytest.raises(FileNotFoundError, match="missing.JPG"):
        convert_visa(raw, tmp_path / "out", show_progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_visa_1cls_split(tmp_path):
    raw = tmp_path / "VisA"
    rows = ["object,split,label,image,mask"]
    for obj in ("candle", "pcb1"):
        for i in range(5):
            rel = f"{obj}/Data/Images/Normal/{i:04d}.JPG"
            Image.fromarray(noise(RNG, (8, 10, 3))).save(_mk(raw / rel))
            rows.append(f"{obj},{'train' if i < 3 else 'test'},normal,{rel},")
        for i in range(2):
            rel = f"{obj}/Data/Images/Anomaly/{i:03d}.JPG"
            Image.fromarray(noise(RNG, (8, 10, 3))).save(_mk(raw / rel))
            mrel = f"{obj}/Data/Masks/Anomaly/{i:03d}.png"
            m = np.zeros((8, 10), np.uint8)
            m[2:4, 3:6] = 1  # VisA masks use small label values
            write_png(raw / mrel, m)
            rows.append(f"{obj},test,anomaly,{rel},{mrel}")
    write_png(raw / "candle/Data/Images/Normal/extra.png", noise(RNG, (8, 10)))  # not in csv
    (raw / "split_csv").mkdir()
    (raw / "split_csv/1cls.csv").write_text("\n".join(rows) + "\n")
    ds = _convert_checked(convert_visa, raw, tmp_path / "out")
    assert ds.categories == ["candle", "pcb1"]
    assert ds.counts()["pcb1"] == {"train_good": 3, "test_good": 2, "test_anomalous": 2}
    bad = [s for s in ds.test_samples("candle") if s.label]
    assert [s.defect for s in bad] == ["bad", "bad"]
    assert bad[0].path.name == "000.jpg"
    assert bad[0].path.read_bytes() == (raw / "candle/Data/Images/Anomaly/000.JPG").read_bytes()
    assert np.asarray(Image.open(bad[0].mask)).max() == 255
    assert load_mask(bad[0].mask).sum() == 6


def _mk(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_aitex_tiling(tmp_path):
    raw = tmp_path / "AITEX"
    t = 16  # small tile so the test is fast; the real default is 256
    for sub in ("00", "01"):
        write_png(
            raw / "NODefect_images" / f"2311694-2040n7u{sub}" / "0001_000_00.png", noise(RNG, (t, 8 * t))
        )
    write_png(raw / "Defect_images" / "0001_002_00.png", noise(RNG, (t, 8 * t)))
    m = np.zeros((t, 8 * t), np.uint8)
    m[3:5, 2 * t + 1 : 2 * t + 3] = 255  # tile 2
    m[0, 5 * t - 1 : 5 * t + 1] = 255  # straddles tiles 4 and 5
    write_png(raw / "Mask_images" / "0001_002_00_mask.png", m)
    write_png(raw / "Defect_images" / "0044_019_04.png", noise(RNG, (t, 8 * t)))
    m1, m2 = np.zeros((t, 8 * t), np.uint8), np.zeros((t, 8 * t), np.uint8)
    m1[:, 0] = 255
    m2[:, 7 * t] = 255
    write_png(raw / "Mask_images" / "0044_019_04_mask1.png", m1)  # split masks are merged
    write_png(raw / "Mask_images" / "0044_019_04_mask2.png", m2)
    write_png(raw / "Defect_images" / "0100_030_01.png", noise(RNG, (t, 8 * t)))  # no mask
    with pytest.warns(UserWarning, match="0100_030_01"):
        ds = _convert_checked(convert_aitex, raw, tmp_path / "out", tile=t)
    assert ds.categories == ["AITEX"]
    counts = ds.counts()["AITEX"]
    assert counts == {"train_good": 12, "test_good": 4, "test_anomalous": 5}  # 2x8 normal tiles
    anomalies = {s.path.stem: s for s in ds.test_samples("AITEX") if s.label}
    assert sorted(anomalies) == [
        "0001_002_00_t02",
        "0001_002_00_t04",
        "0001_002_00_t05",
        "0044_019_04_t00",
        "0044_019_04_t07",
    ]
    assert anomalies["0001_002_00_t02"].defect == "defect_002"
    tile = np.asarray(Image.open(anomalies["0001_002_00_t02"].path))
    raw_img = np.asarray(Image.open(raw / "Defect_images" / "0001_002_00.png"))
    np.testing.assert_array_equal(tile, raw_img[:, 2 * t : 3 * t])
    assert load_mask(anomalies["0001_002_00_t02"].mask).sum() == 4
    assert all(s.path.stem[:4] != "0100" for s in ds.samples())


def test_sdd_bands(tmp_path):
    raw = tmp_path / "KolektorSDD"
    h, w = 31, 6  # 31 rows -> 3 bands of 10, last row dropped
    for part in ("kos01", "kos02"):
        for i in range(3):
            img = noise(RNG, (h, w))
            write_png(raw / part / f"Part{i}.png", img)
            Image.fromarray(img).save(raw / part / f"Part{i}.jpg")
            (raw / part / f"Part{i}.png").unlink()
            label = np.zeros((h, w), np.uint8)
            if part == "kos02" and i == 1:
                label[12:14, 2] = 255  # middle band only
            if part == "kos02" and i == 2:
                label[0, 0] = 255  # top band
                label[30, 0] = 255  # dropped remainder row: no effect
            Image.fromarray(label).save(raw / part / f"Part{i}_label.bmp")
    ds = _convert_checked(convert_sdd, raw, tmp_path / "out")
    counts = ds.counts()["SDD"]
    assert counts["test_anomalous"] == 2
    assert counts["train_good"] + counts["test_good"] == 6 * 3 - 2
    assert counts["test_good"] == 4  # ceil(0.25 * 16)
    anomalies = {s.path.stem: s for s in ds.test_samples("SDD") if s.label}
    assert sorted(anomalies) == ["kos02_Part1_b1", "kos02_Part2_b0"]
    band = np.asarray(Image.open(anomalies["kos02_Part1_b1"].path))
    assert band.shape == (10, 6)
    raw_img = np.asarray(Image.open(raw / "kos02" / "Part1.jpg"))
    np.testing.assert_array_equal(band, raw_img[10:20])
    assert load_mask(anomalies["kos02_Part1_b1"].mask).sum() == 2
    (raw / "kos01" / "Part0_label.bmp").unlink()
    with pytest.raises(FileNotFoundError, match="Part0_label"):
        convert_sdd(raw, tmp_path / "out2", show_progress=False)


def test_brainmri(tmp_path):
    raw = tmp_path / "brain"
    for i in range(8):
        Image.fromarray(noise(RNG, (9, 7))).save(_mk(raw / "no" / f"{i} no.jpg"))
    for i in range(3):
        Image.fromarray(noise(RNG, (9, 7, 3))).save(_mk(raw / "yes" / f"Y{i}.JPG"))
    (raw / "yes" / "Thumbs.db").write_bytes(b"x")
    ds = _convert_checked(convert_brainmri, raw, tmp_path / "out")
    assert ds.counts() == {"brainmri": {"train_good": 6, "test_good": 2, "test_anomalous": 3}}
    assert {s.defect for s in ds.test_samples("brainmri") if s.label} == {"tumor"}
    assert all(s.path.suffix == ".png" and " " not in s.path.name for s in ds.samples())
    with pytest.raises(FileNotFoundError, match="no/"):
        convert_brainmri(raw / "yes", tmp_path / "o2", show_progress=False)


def test_headct(tmp_path):
    raw = tmp_path / "headct"
    lines = ["id, hemorrhage"]
    for i in range(12):
        write_png(raw / "head_ct" / "head_ct" / f"{i:03d}.png", noise(RNG, (5, 5)))
        lines.append(f"{i},{int(i < 4)}")
    (raw / "labels.csv").write_text("\n".join(lines) + "\n")
    ds = _convert_checked(convert_headct, raw, tmp_path / "out")
    assert ds.counts() == {"headct": {"train_good": 6, "test_good": 2, "test_anomalous": 4}}
    assert sorted(s.path.name for s in ds.test_samples("headct") if s.label) == [
        "000.png",
        "001.png",
        "002.png",
        "003.png",
    ]
    (raw / "labels.csv").write_text("id, hemorrhage\n99,1\n")
    with pytest.raises(FileNotFoundError, match="id 99"):
        convert_headct(raw, tmp_path / "o2", show_progress=False)


@pytest.mark.parametrize(
    "convert,classes", [(convert_mnist, ["0", "1", "2"]), (convert_cifar10, ["cat", "dog", "ship"])]
)
def test_one_vs_all(tmp_path, convert, classes):
    raw = tmp_path / "raw"
    for split, n in (("train", 6), ("test", 4)):
        for c in classes:
            for i in range(n):
                write_png(raw / split / c / f"{c}_{split}_{i}.png", noise(RNG, (4, 4)))
    ds = _convert_checked(convert, raw, tmp_path / "out", max_train_normals=5, anomalies_per_class=3)
    assert ds.categories == sorted(classes)
    c0 = sorted(classes)[0]
    assert ds.counts()[c0] == {"train_good": 5, "test_good": 4, "test_anomalous": 6}
    test = ds.test_samples(c0)
    assert all(s.path.name.startswith(f"{c0}_test") for s in test if s.label == 0)
    assert {s.defect for s in test if s.label} == set(classes) - {c0}
    assert all(s.path.name.startswith(s.defect) for s in test if s.label)
    again = convert(raw, tmp_path / "again", show_progress=False, max_train_normals=5, anomalies_per_class=3)
    assert tree_checksum(again) == tree_checksum(tmp_path / "out")  # seeded
    with pytest.raises(ValueError, match="unknown classes"):
        convert(raw, tmp_path / "o3", classes=["nope"], show_progress=False)


def test_committed_elpv_prompt_sets_match_a_fresh_draw(elpv):
    from pathlib import Path

    from inctrl.data.fewshot import PromptSet

    files = sorted((Path(__file__).parents[1] / "data" / "prompts" / "elpv").glob("*.json"))
    assert len(files) == 9
    ds = CanonicalDataset(elpv, name="elpv")
    for f in files:
        ps = PromptSet.load(f)
        assert ps == PromptSet.draw(ds, "elpv", ps.k, ps.seed)
        assert len(ps.resolve(elpv)) == ps.k
