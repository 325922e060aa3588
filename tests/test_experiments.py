"""The offline experiments on miniature stand-in data (the real runs take minutes)."""

import json
import shutil

import pytest
from stand_ins import Built, refuse_build

import inctrl.book.offline_experiment as offline_experiment
from inctrl.book.offline_experiment import run_offline_elpv
from inctrl.data.synthetic import make_synthetic_dataset


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
