"""The appendix's study: its rules against hand-made tables, and its record against the shipped files."""

from __future__ import annotations

import pytest

from inctrl.backbone import MINI_TAPS, MINI_WEIGHTS_SHA256
from inctrl.book import mini_study
from inctrl.book.findings import check_chapter


def _taps(best_gain: float, spread: float) -> list[dict]:
    rows = []
    for taps, level in (("3, 4, 5", 0.80), ("3, 5", 0.80 + best_gain), ("5", 0.70)):
        rows += [{"taps": taps, "k": k, "auroc": level, "auroc_std": spread} for k in (2, 4, 8)]
    return rows


def test_the_tap_rule_keeps_the_shipped_stages_on_a_tie_and_takes_a_clear_gain():
    tie = mini_study.tap_choice(_taps(0.01, 0.02), MINI_TAPS)
    assert tie == {"best": "3, 5", "best_auroc": pytest.approx(0.81), "shipped": "3, 4, 5",
                   "shipped_auroc": pytest.approx(0.80), "spread": pytest.approx(0.02), "replace": False}
    assert mini_study.tap_choice(_taps(0.03, 0.02), MINI_TAPS)["replace"]


def _rows(values: dict) -> list[dict]:
    return [{"k": k, "score": s, "auroc": v, "head_seed": seed}
            for (k, s), v in values.items() for seed in (10, 11)]


def test_target_marks_compare_each_mark_with_its_goal():
    elpv = {(k, s): v for k in (2, 4, 8) for s, v in (("full", 0.86), ("s_p", 0.85), ("s_a", 0.45))}
    elpv[(8, "full")] = 0.84  # below s_p at K = 8 only
    world = {(k, s): v for k in (2, 4, 8) for s, v in (("full", 0.91), ("s_i", 0.70), ("s_p", 0.9))}
    marks = mini_study.target_marks({"head_seeds": {"ELPV": _rows(elpv), "held-out world": _rows(world)}})
    by = dict(zip(marks["mark"], marks["by"]))
    assert by["ELPV: full ≥ 0.85 at K = 4"] == pytest.approx(0.01)
    assert by["ELPV: full ≥ s_p at every K (furthest at K = 8)"] == pytest.approx(-0.01)
    assert by["held-out world: full ≥ 0.90 at K = 4"] == pytest.approx(0.01)
    assert by["held-out world: s_i ≥ 0.75 at K = 4"] == pytest.approx(-0.05)
    assert by["ELPV: s_a above chance at K = 4"] == pytest.approx(-0.05)
    assert marks["met"].tolist() == [True, False, True, False, False]


def test_the_stored_record_was_made_on_the_shipped_text_tower():
    record = mini_study.record()
    assert record["text_sha256"] == MINI_WEIGHTS_SHA256 and tuple(record["taps_shipped"]) == MINI_TAPS
    assert set(record["head_seeds"]) == {"ELPV", "held-out world"}
    assert {r["head_seed"] for r in record["validation"]} == set(mini_study.HEAD_SEEDS)
    assert mini_study.tap_choice(record["taps"])["replace"] is False  # the shipped taps follow the rule


def test_the_appendix_findings_fail_when_a_sentence_no_longer_matches():
    full = {"v1": {2: 0.7}, "v2": {2: 0.72}, "v3": {2: 0.8}}
    good = {"validation_full": full,
            "choice": {"prefers_v3": True, "sentence": "Validation prefers v3 at every K, by ..."}}
    rows = _taps(0.01, 0.02)
    good["taps"] = {"rows": rows, "shipped": list(MINI_TAPS), "choice": mini_study.tap_choice(rows),
                    "sentence": "... so the profile keeps three stages, as many taps as the paper."}
    good["limits"] = {"elpv_full_k4": 0.766, "paper_k4": 0.846, "full_k4": {"ELPV": 0.766, "world": 0.878},
                      "s_p_k4": {"ELPV": 0.864, "world": 0.891},
                      "sentence": "On ELPV, v3's full score at K = 4 (0.766) is 0.080 below the paper's "
                                  "(0.846). On both targets the fused score stays below ..."}
    assert check_chapter("09_offline_backbone", good) == []
    above = {**good, "limits": {**good["limits"], "paper_k4": 0.7}}
    assert len(check_chapter("09_offline_backbone", above)) == 1
    one = {**good, "limits": {**good["limits"], "s_p_k4": {"ELPV": 0.864, "world": 0.8}}}
    assert len(check_chapter("09_offline_backbone", one)) == 1
    worse = {**good, "validation_full": {**full, "v3": {2: 0.71}}}
    assert len(check_chapter("09_offline_backbone", worse)) == 1


def test_speed_ratios_divide_v3_by_v2_per_setting(tmp_path):
    from inctrl.book.mini_study import SPEED_RESULTS, speed_ratios

    ratios = speed_ratios(SPEED_RESULTS, repo_root=".")
    assert len(ratios) == 9 and set(ratios.index.get_level_values(0)) == {1, 8, 32}
    assert 0 < ratios.min() <= ratios.max() < 1  # the committed run: v3 slower at every setting
    assert speed_ratios(str(tmp_path / "*.json")).empty
