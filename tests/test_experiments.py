"""The offline ELPV experiment on miniature stand-in data (the real run takes minutes)."""

import json
import shutil

from inctrl.data.synthetic import make_synthetic_dataset
from inctrl.experiments import run_offline_elpv


def test_run_offline_elpv_small_and_cached(tmp_path):
    data = tmp_path / "data"
    # Stand-ins prepared beforehand, so the function skips its own (slow) preparation:
    # a one-category "elpv" and a two-category auxiliary set, 64 px.
    make_synthetic_dataset(tmp_path / "raw", categories=["gravel"], n_normal=8, n_anomalous=3, size=64,
                           show_progress=False)
    (data / "elpv").mkdir(parents=True)
    shutil.move(str(tmp_path / "raw" / "gravel"), str(data / "elpv" / "elpv"))
    make_synthetic_dataset(data / "synthetic", categories=["brick", "pill"], n_normal=8, n_anomalous=4,
                           size=64, show_progress=False)
    out = tmp_path / "out"
    small = dict(epochs=1, steps_per_epoch=5, seeds=(0,), shots=(2,), device="cpu", progress=False)
    res = run_offline_elpv(data, out, **small)
    assert not res.cached
    assert list(res.table["score"]) == ["full", "s_p", "s_i", "s_a"]
    assert set(res.table.columns) == {"k", "score", "auroc", "auroc_std", "auprc", "auprc_std"}
    assert res.table["auroc"].between(0, 1).all()
    for key in ("results_json", "results_csv", "draws_csv", "markdown"):
        assert res.paths[key].is_file(), key
    assert len(res.loss_logs()[2]) == 5
    assert (res.paths["train_k2"] / "last.pt").is_file()
    assert "not comparable" in res.markdown()
    stored = json.loads(res.paths["results_json"].read_text())
    assert stored["config"]["steps_per_epoch"] == 5 and "total" in stored["seconds"]

    again = run_offline_elpv(data, out, **small)
    assert again.cached and again.table.equals(res.table)
    other = run_offline_elpv(data, out, **{**small, "steps_per_epoch": 6})
    assert not other.cached and len(other.loss_logs()[2]) == 6
