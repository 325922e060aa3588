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

    summary = {"v1 (shipped)": {"full": 0.70}, "+image, low lr": {"full": 0.69},
               "+image, last block": {"full": 0.74}}
    deltas = {"held-out world|full|2": 0.01, "held-out world|full|4": -0.02, "ELPV|full|2": 0.03,
              "ELPV|full|4": 0.01, "ELPV|s_i|4": 0.2}
    metrics = {"family_out": {
        "chosen": "+image, last block", "twin": "+image, low lr", "summary": summary,
        "verdict": "The stricter split prefers \u201c+image, last block\u201d: ...",
        "twin_sentence": "... The stricter split ranks it below the shipped weights, as ...",
        "look_deltas": deltas, "look_full_up": {"held-out world": 1, "ELPV": 2},
        "look_sentence": "... raises the full score at 1 of 2 K on the held-out families and at 2 of 2 on "
                         "ELPV ...",
        "decision": "... This edition keeps the shipped weights as its default ...",
        "summary_sentence": "... higher at 1 of 2 K on the held-out families and at 2 of 2 on ELPV."}}
    assert family_out_sentences(metrics)
    for key, value in [("chosen", "v1 (shipped)"), ("look_full_up", {"held-out world": 2, "ELPV": 2}),
                       ("twin_sentence", "Even the stricter split ranks it above the shipped weights."),
                       ("verdict", "The stricter split keeps the shipped weights."),
                       ("decision", "Validation on new families chose weights that are better on both ..."),
                       ("summary_sentence", "at 2 of 2 K on the held-out families and at 2 of 2 on ELPV")]:
        assert not family_out_sentences({"family_out": {**metrics["family_out"], key: value}}), key
