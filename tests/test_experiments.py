"""The offline experiments on miniature stand-in data (the real runs take minutes)."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from stand_ins import Built, refuse_build

import inctrl
import inctrl.book.offline_experiment as offline_experiment
from inctrl.book.diagnosis import DIAGNOSIS_SCORES, DIAGNOSIS_SPLITS, run_training_diagnosis
from inctrl.book.offline_experiment import run_offline_elpv
from inctrl.data.synthetic import make_synthetic_dataset
from inctrl.evaluate import evaluate


def _stand_in_data(tmp_path, categories=("brick", "pill")):
    """Stand-ins prepared beforehand, so the functions skip their own (slow) preparation:
    a one-category "elpv" and a small auxiliary set, 64 px."""
    data = tmp_path / "data"
    make_synthetic_dataset(tmp_path / "raw", categories=["gravel"], n_normal=8, n_anomalous=3, size=64,
                           show_progress=False)
    (data / "elpv").mkdir(parents=True)
    shutil.move(str(tmp_path / "raw" / "gravel"), str(data / "elpv" / "elpv"))
    make_synthetic_dataset(data / "synthetic", categories=list(categories), n_normal=8, n_anomalous=4,
                           size=64, show_progress=False)
    return data


def test_run_offline_elpv_small_and_cached(tmp_path):
    data = _stand_in_data(tmp_path)
    out = tmp_path / "out"
    small = dict(epochs=1, steps_per_epoch=5, seeds=(0,), shots=(2,), device="cpu", progress=False,
                 aux="synthetic")
    res = run_offline_elpv(data, out, **small)
    assert not res.cached and res.config["aux"] == "synthetic"
    assert list(res.table["score"]) == ["full", "s_p", "s_i", "s_a"]
    assert set(res.table.columns) == {"k", "score", "auroc", "auroc_std", "auprc", "auprc_std"}
    assert res.table["auroc"].between(0, 1).all()
    for key in ("results_json", "results_csv", "draws_csv", "markdown"):
        assert res.paths[key].is_file(), key
    assert len(res.loss_logs()[2]) == 5
    assert (res.paths["train_k2"] / "last.pt").is_file()
    assert "not comparable" in res.markdown()
    assert list(res.paths["feature_cache"].glob("features-*.pt"))  # aux and ELPV features kept
    stored = json.loads(res.paths["results_json"].read_text())
    assert stored["config"]["steps_per_epoch"] == 5 and "total" in stored["seconds"]

    again = run_offline_elpv(data, out, **small)
    assert again.cached and again.table.equals(res.table)
    other = run_offline_elpv(data, out, **{**small, "steps_per_epoch": 6})
    assert not other.cached and len(other.loss_logs()[2]) == 6
    # the backbone-weights option is part of the cached configuration and reaches training
    random_run = run_offline_elpv(data, out, **small, pretrained=False)
    assert not random_run.cached and random_run.config["pretrained"] is False
    assert res.config["pretrained"] is True
    summary = json.loads((random_run.paths["train_k2"] / "train_summary.json").read_text())
    assert summary["config"]["pretrained"] is False


def test_run_offline_elpv_forwards_backbone_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(offline_experiment, "load", refuse_build)
    for options in ({"pretrained": False}, {"weights": "/clip/open_clip_pytorch_model.bin"}):
        with pytest.raises(Built) as caught:
            run_offline_elpv(tmp_path / "data", tmp_path / "out", profile="paper", device="cpu",
                             progress=False, **options)
        (source,), kwargs = caught.value.args
        expected = {"pretrained": True, "weights": None, **options}
        assert source == "paper" and {k: kwargs[k] for k in expected} == expected
    assert not (tmp_path / "data").exists()  # nothing prepared before the model is built


def _snapshot(folder):
    return {str(p): p.stat().st_mtime_ns for p in sorted(folder.rglob("*"))}


def test_run_training_diagnosis_small_cached_and_exact(tmp_path):
    data = _stand_in_data(tmp_path, ("brick", "pill", "wood"))
    before = _snapshot(data)
    out = tmp_path / "diag"
    small = dict(held_out="wood", shots=2, checkpoints=(1, 2), steps_per_epoch=3, seeds=(0, 1),
                 device="cpu", progress=False, aux="synthetic")
    res = run_training_diagnosis(data, out, **small)
    assert not res.cached and res.config["train_categories"] == ["brick", "pill"]
    table = res.table
    # one row per epoch x split x score, in that order
    keys = [(e, sp, sc) for e in (1, 2) for sp in DIAGNOSIS_SPLITS for sc in DIAGNOSIS_SCORES]
    assert list(zip(table.epoch, table.split, table.score)) == keys
    columns = {"auroc", "auroc_std", "auprc", "auprc_std", "draws", "categories", "n_test", "constant"}
    assert columns <= set(table)
    assert table["constant"].dtype == bool and not table[table.score == "s_p"]["constant"].any()
    assert table["auroc"].between(0, 1).all() and table["auprc"].between(0, 1).all()
    assert (table["draws"] == 2).all()
    # the std over the draws of each split's per-draw figure (mean over its categories)
    per_draw = res.draws.groupby(["epoch", "split", "score", "seed"], sort=False)["auroc"].mean()
    std = per_draw.groupby(level=["epoch", "split", "score"], sort=False).std(ddof=0)
    mine = table.set_index(["epoch", "split", "score"])["auroc_std"].loc[std.index]
    assert np.allclose(mine.to_numpy(), std.to_numpy(), equal_nan=True) and (std > 0).any()
    per_split = table[table.epoch == 1].groupby("split").first()
    # 8 normal -> 6 train + 2 test, plus 4 anomalous: 6 test images per synthetic category
    assert per_split.loc["train", "categories"] == 2 and per_split.loc["train", "n_test"] == 12
    assert per_split.loc["train_pooled", "n_test"] == 12 and per_split.loc["held_out", "n_test"] == 6
    assert per_split.loc["elpv", "n_test"] == 5
    # s_p and s_a use no trained weight: the same at every checkpoint
    fixed = table[table.score.isin(["s_p", "s_a"])]
    assert np.allclose(fixed[fixed.epoch == 1].auroc.to_numpy(), fixed[fixed.epoch == 2].auroc.to_numpy())
    # training: the filter reached train(), one run, the epochs asked for
    assert len(res.loss_log()) == 2 * 3
    summary = json.loads((res.paths["train_dir"] / "train_summary.json").read_text())
    assert summary["config"]["categories"] == ["brick", "pill"]
    # the stored patch distances give exactly what evaluate() measures with the checkpoint
    model = inctrl.load(res.paths["train_dir"] / "epoch_2.pt", device="cpu")
    for root, name, split in ((data / "synthetic", None, None), (data / "elpv", "elpv", "elpv")):
        ev = evaluate(model, root, shots=[2], seeds=[0, 1], name=name, pixel=False, progress=False)
        for row in ev.draws.itertuples():
            where = split or ("held_out" if row.category == "wood" else "train")
            d = res.draws
            mine = d[(d.epoch == 2) & (d.split == where) & (d.category == row.category)
                     & (d.seed == row.seed)]
            for comp in ("full", "s_p", "s_i", "s_a"):
                value = mine[mine.score == comp].auroc.iloc[0]
                assert abs(value - getattr(row, f"auroc_{comp}")) < 1e-6, (row.category, comp)
    assert _snapshot(data) == before  # nothing written into the datasets

    again = run_training_diagnosis(data, out, **small)
    assert again.cached and again.table.equals(res.table)
    assert again.config["train_categories"] == ["brick", "pill"]
    # a later checkpoint resumes the same training run: earlier epochs unchanged
    longer = run_training_diagnosis(data, out, **{**small, "checkpoints": (1, 2, 3)})
    assert not longer.cached and len(longer.loss_log()) == 3 * 3
    pd.testing.assert_frame_equal(longer.table[longer.table.epoch <= 2].reset_index(drop=True), res.table)
    with pytest.raises(ValueError, match="held_out"):
        run_training_diagnosis(data, out, **{**small, "held_out": "carpet"})
