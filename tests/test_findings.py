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


def test_batching_gains_follow_the_files():
    from inctrl.book.findings import _batching_gains

    batching = {"M1": {"kind": "cpu", "from": 1, "to": 8, "gain": 1.1},
                "M2": {"kind": "cuda", "from": 1, "to": 256, "gain": 5.2}}
    said = ("... by 5.2\u00d7 on a GPU but only by 1.1\u00d7 on a CPU: a GPU needs large batches "
            "to keep its cores busy, while a small CPU is already kept busy by one image.")
    assert _batching_gains({"batching": batching, "batching_sentence": said})
    assert not _batching_gains({"batching": batching, "batching_sentence": said.replace("5.2", "5.3")})
    slower_gpu = {**batching, "M2": {**batching["M2"], "gain": 1.0}}
    assert not _batching_gains({"batching": slower_gpu, "batching_sentence": said.replace("5.2", "1.0")})
    only_cpu = {"M1": batching["M1"]}
    cpu_said = "... by 1.1\u00d7 on a CPU."
    assert _batching_gains({"batching": only_cpu, "batching_sentence": cpu_said})
