"""The fusion probes of chapter 9 (inctrl.book.fusion): phi alone, and what it responds to."""

import pandas as pd
import pytest
import torch
from data_fixtures import make_canonical

from inctrl.book.fusion import SCORES, fusion_rows, fusion_summary, probe_scores
from inctrl.evaluate import evaluate


def test_probes_read_phi(tiny_model, tmp_path):
    root = make_canonical(tmp_path / "toy", {"a": (4, 3, {"hole": 3})}, size=32)
    images = sorted(str(p) for p in (root / "a" / "test").rglob("*.png"))
    bank = tiny_model.prompt_bank(sorted((root / "a" / "train" / "good").glob("*.png"))[:2], name="a")
    out = tiny_model.score(images, bank)
    scores = probe_scores(tiny_model, out, torch.Generator().manual_seed(0))
    assert list(scores) == list(SCORES)
    # the final score is the halved sum of phi and s_p (Eq. 8), so phi is its other half
    torch.testing.assert_close(scores["full"], (scores["phi"] + scores["s_p"]) / 2)
    # a map whose cells are all equal is its own flat map and its own shuffle
    flat = out.holistic_map.mean(dim=(1, 2), keepdim=True).expand_as(out.holistic_map).contiguous()
    same = probe_scores(tiny_model, type(out)(**{**out.__dict__, "holistic_map": flat}),
                        torch.Generator().manual_seed(1))
    torch.testing.assert_close(same["phi, flat map"], scores["phi, flat map"])
    torch.testing.assert_close(same["phi, cells shuffled"], same["phi, flat map"])
    assert not torch.allclose(scores["phi, flat map"], scores["phi"])  # the probes change phi's input


def test_rows_agree_with_evaluate(tiny_model, tmp_path):
    root = make_canonical(tmp_path / "toy", {"a": (4, 3, {"hole": 3}), "b": (4, 4, {"cut": 2})}, size=32)
    rows = pd.DataFrame(fusion_rows({2: tiny_model}, root, "toy", (2,), (0, 1), tmp_path / "cache"))
    assert set(rows["score"]) == set(SCORES) and len(rows) == 2 * 2 * len(SCORES)
    draws = evaluate(tiny_model, root, shots=(2,), seeds=(0, 1), pixel=False, progress=False).draws
    for score in ("full", "s_p", "s_i", "s_a"):
        mine = rows[rows["score"] == score].set_index(["category", "seed"])["auroc"].sort_index()
        theirs = draws.set_index(["category", "seed"])[f"auroc_{score}"].sort_index()
        assert mine.to_numpy() == pytest.approx(theirs.to_numpy(), abs=1e-9), score
    summary = fusion_summary(rows.assign(head_seed=10))
    assert list(summary.index) == [("toy", "2"), ("toy", "mean")]
    assert summary.loc[("toy", "mean"), "phi"] == pytest.approx(rows[rows["score"] == "phi"]["auroc"].mean())
    assert -1 <= summary.loc[("toy", "2"), "spearman(phi, s_p)"] <= 1
