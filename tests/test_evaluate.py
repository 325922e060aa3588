"""Evaluation: metrics equal scikit-learn, mean ± std over draws, written files."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.metrics import average_precision_score, roc_auc_score

from inctrl.data.synthetic import make_synthetic_dataset
from inctrl.evaluate import (
    PAPER_AUROC,
    aggregate,
    evaluate,
    image_metrics,
    markdown_tables,
    mask_in_model_frame,
    mean_std,
)


def test_image_metrics_match_sklearn():
    labels = [0, 0, 1, 1, 0, 1]
    scores = [0.1, 0.4, 0.35, 0.8, 0.2, 0.7]
    m = image_metrics(labels, scores)
    assert m["auroc"] == pytest.approx(roc_auc_score(labels, scores)) == pytest.approx(8 / 9)
    assert m["auprc"] == pytest.approx(average_precision_score(labels, scores))
    assert np.isnan(image_metrics([0, 0], [0.1, 0.2])["auroc"])


def test_mean_std_and_aggregation_over_draws():
    assert mean_std([0.8, 0.9, 1.0]) == pytest.approx((0.9, np.std([0.8, 0.9, 1.0])))
    draws = pd.DataFrame({
        "dataset": "d", "category": ["a", "a", "b", "b"], "k": 2, "seed": [0, 1, 0, 1],
        "auroc_full": [0.6, 0.8, 1.0, 0.8]})
    cats, summary = aggregate(draws)
    a = cats[cats.category == "a"].iloc[0]
    assert a.auroc_full == pytest.approx(0.7) and a.auroc_full_std == pytest.approx(0.1)
    # dataset figure per draw: seed 0 -> 0.8, seed 1 -> 0.8; mean 0.8, std 0.
    row = summary.iloc[0]
    assert row.auroc_full == pytest.approx(0.8) and row.auroc_full_std == pytest.approx(0.0)
    assert row.categories == 2 and row.draws == 2


def test_markdown_labels_paper_numbers():
    summary = pd.DataFrame([{"dataset": "elpv", "k": 2, **{f"{m}_{c}{s}": 0.5 for m in ("auroc", "auprc")
                                                           for c in ("full", "s_p", "s_i", "s_a")
                                                           for s in ("", "_std")}}])
    tiny = markdown_tables(summary, "tiny")
    assert "not comparable" in tiny and "0.839 ± 0.003" in tiny and "0.500 ± 0.500" in tiny
    paper = markdown_tables(summary, "paper")
    assert "paper (published)" in paper and "not comparable" not in paper
    assert set(PAPER_AUROC) == {"elpv", "aitex", "visa", "mvtec"}


def test_mask_in_model_frame_crops_like_the_image(tmp_path):
    mask = np.zeros((100, 200), np.uint8)
    mask[:, :50] = 255  # left quarter: cropped away by the centre crop
    mask[40:60, 90:110] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    out = mask_in_model_frame(tmp_path / "m.png", 50)
    assert out.shape == (50, 50) and not out[:, 0].any() and out[25, 25]


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    root = tmp_path_factory.mktemp("target") / "mini"
    make_synthetic_dataset(root, categories=["wood", "grid"], n_normal=8, n_anomalous=3, size=64,
                           show_progress=False)
    return root


def test_evaluate_end_to_end(tiny_model, target, tmp_path):
    res = evaluate(tiny_model, target, shots=(1, 2), seeds=(0, 1), out_dir=tmp_path, progress=False,
                   pixel_size=32)
    assert len(res.draws) == 2 * 2 * 2
    for name in ("eval_draws.csv", "eval_categories.csv", "eval_summary.csv", "eval.json", "eval_table.md"):
        assert (tmp_path / name).is_file()
    assert len(list((tmp_path / "prompts").glob("*.json"))) == 8
    # Recompute one draw by hand with the plain API: same prompts, same scores, same AUROC.
    from inctrl.data.fewshot import PromptSet
    from inctrl.data.layout import CanonicalDataset

    ds = CanonicalDataset(target)
    prompts = PromptSet.draw(ds, "wood", 2, 1).resolve(ds.root)
    tests = ds.test_samples("wood")
    out = tiny_model.score([s.path for s in tests], tiny_model.prompt_bank(prompts, "wood"))
    row = res.draws[(res.draws.category == "wood") & (res.draws.k == 2) & (res.draws.seed == 1)].iloc[0]
    labels = [s.label for s in tests]
    assert row.auroc_full == pytest.approx(roc_auc_score(labels, out.score.numpy()))
    assert row.auprc_s_p == pytest.approx(average_precision_score(labels, out.patch_score.numpy()))
    assert row.auroc_s_a == pytest.approx(roc_auc_score(labels, out.text_score.numpy()))
    # pixel AUROC: every pixel of the maps (at pixel_size) against the masks in the model's frame
    masks = np.stack([mask_in_model_frame(s.mask, 32) if s.label else np.zeros((32, 32), bool)
                      for s in tests])
    assert masks.any() and not masks.all()
    assert row.pixel_auroc == pytest.approx(roc_auc_score(masks.ravel(), out.anomaly_map(32).numpy().ravel()))
    data = json.loads((tmp_path / "eval.json").read_text())
    assert {r["k"] for r in data["summary"]} == {1, 2}
    with pytest.raises(ValueError, match="cannot draw"):
        evaluate(tiny_model, target, shots=(7,), seeds=(0,), progress=False)


def test_evaluate_reads_and_records_the_object_name(tiny_model, target, tmp_path):
    from inctrl.data.fewshot import PromptSet
    from inctrl.data.layout import CanonicalDataset

    options = {"shots": (2,), "seeds": (0,), "progress": False, "pixel": False}
    named = evaluate(tiny_model, target, out_dir=tmp_path, object_name="solar cell", **options)
    own = evaluate(tiny_model, target, **options)
    assert list(named.draws.object_name) == ["solar cell"] * 2
    assert list(own.draws.object_name) == ["grid", "wood"]  # default: the categories' own names
    assert list(named.categories.object_name) == ["solar cell"] * 2
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert saved["object_names"] == {"grid": "solar cell", "wood": "solar cell"}
    assert {r["object_name"] for r in saved["draws"]} == {"solar cell"}
    # the text prior read that name: s_a as computed by hand with it, and unlike with "wood"
    ds = CanonicalDataset(target)
    prompts = PromptSet.draw(ds, "wood", 2, 0).resolve(ds.root)
    tests = ds.test_samples("wood")
    labels = [s.label for s in tests]
    by_name = {name: tiny_model.score([s.path for s in tests], tiny_model.prompt_bank(prompts, name))
               for name in ("solar cell", "wood")}
    assert not np.allclose(by_name["solar cell"].text_score.numpy(), by_name["wood"].text_score.numpy())
    row = named.draws[named.draws.category == "wood"].iloc[0]
    assert row.auroc_s_a == pytest.approx(roc_auc_score(labels, by_name["solar cell"].text_score.numpy()))
    assert row.auroc_full == pytest.approx(roc_auc_score(labels, by_name["solar cell"].score.numpy()))
    # the image-only parts do not read the name
    own_row = own.draws[own.draws.category == "wood"].iloc[0]
    assert (row.auroc_s_p, row.auroc_s_i) == pytest.approx((own_row.auroc_s_p, own_row.auroc_s_i))
    with pytest.raises(ValueError, match="name must be the object / category name"):
        evaluate(tiny_model, target, shots=(2,), seeds=(0,), progress=False, object_name=" ")


def test_evaluate_refuses_a_category_without_both_classes(tiny_model, target, tmp_path):
    import shutil

    shutil.copytree(target, tmp_path / "d")
    shutil.rmtree(tmp_path / "d" / "grid" / "test" / "good")
    with pytest.raises(ValueError, match=r"^category 'grid' of .*d has no normal test images, so no AUROC"):
        evaluate(tiny_model, tmp_path / "d", shots=(2,), seeds=(0,), out_dir=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
