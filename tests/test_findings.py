"""The relations the chapters state in words hold on the numbers of the last book build.

`make book` executes every chapter with its default parameters and each chapter writes its
measurements to ``outputs/<chapter>/metrics.json`` (the ``output_dir`` of its parameters
cell). :data:`inctrl.book.findings.FINDINGS` lists every relation the text states ("the
loss falls for every K"); this test checks each one on those files. Without a build the
tests skip, unless INCTRL_BOOK_BUILT=1 (set by .ci/run after `make book`) makes a missing
file an error.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from test_book import ROOT, notebooks

from inctrl.book.findings import FINDINGS, check_chapter

REQUIRED = os.environ.get("INCTRL_BOOK_BUILT") == "1"


def metrics_file(stem: str) -> Path:
    """``output_dir`` of the chapter's parameters cell, resolved from book/, + metrics.json."""
    nb = nbformat.read(ROOT / "book" / f"{stem}.ipynb", as_version=4)
    params = next(c.source for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", []))
    match = re.search(r'^output_dir\s*=\s*"([^"]+)"', params, re.MULTILINE)
    assert match, f"{stem}: the parameters cell sets no output_dir string"
    return (ROOT / "book" / match.group(1) / "metrics.json").resolve()


def test_every_finding_names_a_chapter():
    stems = {p.stem for p in notebooks()}
    unknown = sorted({f.chapter for f in FINDINGS} - stems)
    assert not unknown, f"findings for chapters that do not exist: {unknown}"


@pytest.mark.parametrize("stem", sorted({f.chapter for f in FINDINGS}))
def test_stated_relations_hold_on_the_built_book(stem):
    path = metrics_file(stem)
    if not path.is_file():
        if REQUIRED:
            pytest.fail(f"{stem}: the book build wrote no {path.relative_to(ROOT)}")
        pytest.skip(f"no book build ({path.relative_to(ROOT)} missing)")
    failed = check_chapter(stem, json.loads(path.read_text()))
    assert not failed, (f"{stem}: the text states what its numbers no longer show; update the text "
                        f"and inctrl/book/findings.py together: {failed}")


def test_the_family_out_finding_fails_when_a_sentence_no_longer_matches():
    from inctrl.book.recipe_findings import family_out_sentences

    summary = {"v1": {"full": 0.70}, "+image, low lr": {"full": 0.69},
               "+image, last block": {"full": 0.74}}
    deltas = {"held-out world|full|2": 0.01, "held-out world|full|4": -0.02, "ELPV|full|2": 0.03,
              "ELPV|full|4": 0.01, "ELPV|s_i|4": 0.2}
    metrics = {"family_out": {
        "chosen": "+image, last block", "twin": "+image, low lr", "summary": summary,
        "verdict": "The stricter split prefers \u201c+image, last block\u201d: ...",
        "twin_sentence": "... The stricter split ranks it below v1, as ...",
        "look_deltas": deltas, "look_full_up": {"held-out world": 1, "ELPV": 2},
        "look_sentence": "... raises the full score at 1 of 2 K on the held-out families and at 2 of 2 on "
                         "ELPV ...",
        "decision": "... so the last section makes the choice again, on validation alone ...",
        "summary_sentence": "... higher at 1 of 2 K on the held-out families and at 2 of 2 on ELPV."}}
    assert family_out_sentences(metrics)
    for key, value in [("chosen", "v1"), ("look_full_up", {"held-out world": 2, "ELPV": 2}),
                       ("twin_sentence", "Even the stricter split ranks it above v1."),
                       ("verdict", "The stricter split keeps v1."),
                       ("decision", "Validation on new families chose weights that are better on both ..."),
                       ("summary_sentence", "at 2 of 2 K on the held-out families and at 2 of 2 on ELPV")]:
        assert not family_out_sentences({"family_out": {**metrics["family_out"], key: value}}), key


def test_gpu_sentences_follow_the_table():
    from inctrl.book.recipe_findings import gpu_sentences

    def row(full, s_p, s_i, texture):
        return {"full": full, "s_p": s_p, "s_i": s_i, "real textures s_p": texture}

    summary = {"v1": row(0.70, 0.74, 0.58, 0.67), "+image, last block": row(0.74, 0.74, 0.61, 0.68),
               "+image, last block, long": row(0.73, 0.74, 0.60, 0.70),
               "v2 from scratch": row(0.68, 0.68, 0.62, 0.59), "raw patches": {"real textures s_p": 0.63}}
    said = ("... Neither passes \u201c+image, last block\u201d (0.740), so the choice stands. Five times the "
            "steps of the chosen recipe do not raise $s_i$ on new families (...). All of v2 from random "
            "weights ... ends with a weaker $s_p$ (...), and its real-texture $s_p$ falls below raw-pixel "
            "patches (...): ...")
    arms = ["+image, last block, long", "v2 from scratch"]
    f = {"chosen": "+image, last block", "summary": summary, "gpu_runs": arms, "gpu_beaten": arms,
         "gpu_sentence": said}
    assert gpu_sentences({"family_out": f})
    for wrong in ["Neither passes", "do not raise $s_i$", "a weaker $s_p$", "falls below raw-pixel patches"]:
        assert not gpu_sentences({"family_out": {**f, "gpu_sentence": said.replace(wrong, "...")}}), wrong
    faster = {**summary, "+image, last block, long": {**summary["+image, last block, long"], "full": 0.75}}
    assert not gpu_sentences({"family_out": {**f, "summary": faster}})  # it passes the choice now


def test_batching_gains_follow_the_files():
    from inctrl.book.findings import _batching_gains

    batching = {"M1": {"kind": "cpu", "from": 1, "to": 8, "gain": 1.1},
                "M2": {"kind": "cuda", "from": 1, "to": 256, "gain": 5.2}}
    said = ("... by 1.1\u00d7 on M1 (B = 1 to 8), 5.2\u00d7 on M2 (B = 1 to 256). A GPU needs large batches "
            "to keep its cores busy; a small CPU gains little from them.")
    assert _batching_gains({"batching": batching, "batching_sentence": said})
    assert not _batching_gains({"batching": batching, "batching_sentence": said.replace("5.2", "5.3")})
    slower_gpu = {**batching, "M2": {**batching["M2"], "gain": 1.0}}
    assert not _batching_gains({"batching": slower_gpu, "batching_sentence": said.replace("5.2", "1.0")})
    only_cpu = {"M1": batching["M1"]}
    cpu_said = "... by 1.1\u00d7 on M1 (B = 1 to 8)."
    assert _batching_gains({"batching": only_cpu, "batching_sentence": cpu_said})


def test_heads_world_sentences_follow_the_numbers():
    from inctrl.book.recipe_findings import heads_world_sentences

    def by_k(*values):
        return dict(zip(("2", "4", "8"), values))

    W = "held-out world"
    first, book = "synthetic (first edition)", "world-drawn (the book's)"
    h = {"validation": {first: {"full": 0.708}, book: {"full": 0.730}},
         "full": {"ELPV": by_k(0.74, 0.75, 0.79), W: by_k(0.81, 0.84, 0.76)},
         "first_full": {"ELPV": by_k(0.65, 0.66, 0.72), W: by_k(0.78, 0.80, 0.77)},
         "s_p": {"ELPV": by_k(0.75, 0.75, 0.75), W: by_k(0.82, 0.83, 0.84)},
         "up": {"ELPV": 3, W: 2}, "reach_sp": {"ELPV": 2, W: 1},
         "sentence": "... (0.730 against 0.708) ...: validation chooses it, and the book's chapters ...",
         "look_sentence": "At the look with head seed 10, the full score rises at 3 of 3 K on ELPV and at 2 "
                          "of 3 K on the held-out families. ... it reaches $s_p$ at 2 of 3 K on ELPV and at "
                          "1 of 3 on the held-out families.",
         "summary_sentence": "... raises the full score at 3 of 3 K on ELPV and at 2 of 3 K on the held-out "
                             "families; ...",
         "seeds": {"full": by_k(0.747, 0.773, 0.778), "spread": by_k(0.003, 0.015, 0.006),
                   "s_p": by_k(0.749, 0.749, 0.752),
                   "sentence": "... the heads' spread is at most 0.015, and the mean full score "
                               "reaches $s_p$ at 2 of 3 K."}}
    assert heads_world_sentences({"heads_world": h})
    wrong_reach = h["look_sentence"].replace("at 2 of 3 K on ELPV", "at 3 of 3 K on ELPV")
    wrong_seeds = {**h["seeds"], "sentence": h["seeds"]["sentence"].replace("at 2 of 3 K", "at 3 of 3 K")}
    wider = {**h["seeds"], "spread": by_k(0.003, 0.031, 0.006)}
    for key, value in [("validation", {**h["validation"], book: {"full": 0.70}}),
                       ("up", {"ELPV": 2, W: 2}), ("look_sentence", wrong_reach),
                       ("summary_sentence", "... at 2 of 3 K on ELPV ..."), ("seeds", wrong_seeds),
                       ("seeds", wider)]:
        assert not heads_world_sentences({"heads_world": {**h, key: value}}), key


def test_v2_sentences_follow_the_numbers():
    from inctrl.book.recipe_findings import v2_sentences

    spread = "heads' spread on ELPV (std of full over seeds)"
    marks = {"s_i on the held-out families": {"v2": [0.66, 0.67, 0.68], "bar": 0.75},
             "full - s_p on ELPV": {"v2": [0.01, 0.02, 0.00], "bar": 0.0},
             spread: {"v2": [0.004, 0.02, 0.01], "bar": -0.03}}
    v = {"validation": {"v1": {"full": 0.730}, "+image, last block": {"full": 0.735}},
         "choice": "+image, last block",
         "sentence": "... The rule chooses \u201c+image, last block\u201d ...",
         "marks": marks, "short": ["s_i on the held-out families"],
         "look_moves": {"ELPV": {"2": -0.06, "4": -0.02, "8": 0.01}},
         "look_sentence": "... v2 meets 2 of these 3 marks: it misses "
                          "\u201cs_i on the held-out families\u201d by 0.070."}
    assert v2_sentences({"v2": v})
    wider = {**marks, spread: {"v2": [0.004, 0.04, 0.01], "bar": -0.03}}
    fewer = v["look_sentence"].replace("2 of these", "3 of these")
    for key, value in [("choice", "v1"), ("validation", {**v["validation"], "v1": {"full": 0.74}}),
                       ("marks", wider), ("look_sentence", fewer), ("sentence", "The rule keeps v1."),
                       ("look_moves", {"ELPV": {"2": -0.06, "4": -0.02, "8": -0.01}})]:
        assert not v2_sentences({"v2": {**v, key: value}}), key


def test_heads_training_sentences_follow_the_numbers():
    from inctrl.book.recipe_findings import heads_training_sentences

    arms = {"the book's": {"full": 0.733, "s_p": 0.742, "draws spread": 0.020},
            "5 epochs": {"full": 0.722, "s_p": 0.742, "draws spread": 0.018},
            "no image loss": {"full": 0.728, "s_p": 0.742, "draws spread": 0.020}}
    h = {"arms": arms, "adopted": None, "best_other": "no image loss", "below_sp": 3,
         "sentence": "... \u201cno image loss\u201d, reaches 0.728: no arm passes, ... "
                     "In 3 of the 3 arms the full score is below $s_p$ ...",
         "summary_sentence": "... The full score stays below $s_p$ in 3 of 3 arms."}
    assert heads_training_sentences({"heads_training": h})
    # an arm above the bar must be adopted and named; then "no arm passes" is wrong
    passing = {**arms, "no image loss": {"full": 0.760, "s_p": 0.742, "draws spread": 0.020}}
    assert not heads_training_sentences({"heads_training": {**h, "arms": passing}})
    for key, value in [("adopted", "5 epochs"), ("best_other", "5 epochs"), ("below_sp", 2),
                       ("sentence", h["sentence"].replace("In 3 of", "In 2 of")),
                       ("summary_sentence", "The full score stays below $s_p$ in 2 of 3 arms.")]:
        assert not heads_training_sentences({"heads_training": {**h, key: value}}), key


def test_fusion_sentences_follow_the_numbers():
    from inctrl.book.recipe_findings import fusion_sentences

    means = {"in-world validation": {"full": 0.735, "s_p": 0.741, "phi": 0.639, "phi, cells shuffled": 0.633,
                                     "phi, flat map": 0.637},
             "ELPV": {"full": 0.680, "s_p": 0.750, "phi": 0.582, "phi, cells shuffled": 0.582,
                      "phi, flat map": 0.581}}
    f = {"means": means, "reads_level": True, "probe_gap": 0.639 - 0.633, "level_rho": 0.971, "sp_rho": 0.41,
         "map_level": 0.0523, "in_steps": 0.951,
         "sentence": "Alone, $\\varphi$ scores 0.639 on in-world validation (against 0.741 for $s_p$) "
                     "and 0.582 on ELPV (against 0.750 for $s_p$) ... and lands below the strong one. ... "
                     "$\\varphi$ reads the level of $M^+$ ... the rank correlation of $\\varphi$ with "
                     "the level of its map is 0.97, with $s_p$ 0.41. ... average 0.052 ... for 95% of the "
                     "images: the map's level falls into steps ...",
         "summary_sentence": "... and it reads only the level of its map, so ..."}
    assert fusion_sentences({"fusion": f})
    # a probe that moves phi by more than the tolerance: phi uses the map's shape
    shaped = {**means, "ELPV": {**means["ELPV"], "phi, cells shuffled": 0.52}}
    assert not fusion_sentences({"fusion": {**f, "means": shaped, "probe_gap": 0.062}})
    for key, value in [("reads_level", False), ("probe_gap", 0.01),
                       ("sentence", f["sentence"].replace("0.582 on ELPV", "0.600 on ELPV")),
                       ("summary_sentence", "... far below $s_p$."), ("level_rho", 0.5),
                       ("map_level", 0.07), ("in_steps", 0.85)]:
        assert not fusion_sentences({"fusion": {**f, key: value}}), key


def test_pixel_reference_sentence_follows_the_table():
    from inctrl.book.recipe_findings import pixel_reference

    kinds = ("colour shift", "missing", "misalignment", "warp", "scratch")
    table = {k: {"s_i": 0.6, "pixels": p} for k, p in zip(kinds, (0.64, 0.68, 0.57, 0.67, 0.70))}
    # global kinds: pixels average 0.64, s_i 0.6, within 0.05
    sentence = ("It reaches at most 0.700 (scratch), and 0.640 on average over the global kinds, "
                "where $s_i$ reaches 0.600: at their level. Even the global kinds move the whole photo "
                "little on these families.")
    m = {"by_kind": {"table": table, "pixel_sentence": sentence}}
    assert pixel_reference(m)
    table["scratch"]["pixels"] = 0.80  # now one kind moves the photo: "little" is wrong
    moved = sentence.replace("0.700", "0.800")
    assert not pixel_reference({"by_kind": {"table": table, "pixel_sentence": moved}})
    table["scratch"]["pixels"] = 0.60  # the maximum moves to 'missing'
    assert not pixel_reference(m)
    table["scratch"]["pixels"] = 0.70
    for k in kinds[:4]:
        table[k]["s_i"] = 0.75  # now above them by 0.11
    assert not pixel_reference(m)
    m["by_kind"]["pixel_sentence"] = sentence.replace("0.600: at their level", "0.750: above them")
    assert pixel_reference(m)
