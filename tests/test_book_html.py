"""The built book as a reader meets it: no walls of output, no warnings, tracebacks or local
paths, a caption on every figure.

Runs on the HTML that `make book` writes to ``_build/html`` (.ci/run calls it right after the
build with INCTRL_BOOK_BUILT=1, which makes a missing build an error); without a build the
tests skip. INCTRL_BOOK_HTML points them at another build folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from test_book import ROOT, toc_files

bs4 = pytest.importorskip("bs4")

HTML = Path(os.environ.get("INCTRL_BOOK_HTML", ROOT / "_build" / "html"))
REQUIRED = os.environ.get("INCTRL_BOOK_BUILT") == "1"
MAX_STREAM_LINES = 40
#: Absolute paths of this machine or of typical ones (home folders, temp, Colab, venvs).
LOCAL_PATH = re.compile(r"(?<![\w.:/])(?:/(?:home|Users|tmp|work|root|content|opt|var|usr)/"
                        r"|[A-Za-z]:\\\\)|site-packages")


def pages() -> list[Path]:
    return [HTML / f"{entry}.html" for entry in toc_files()]


def _soup(page: Path):
    if not page.is_file():
        if REQUIRED or HTML.is_dir():
            pytest.fail(f"{page.relative_to(HTML.parent)} was not built")
        pytest.skip("no book build in _build/html (run `make book`)")
    return bs4.BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")


def _outputs(soup):
    return soup.select("div.cell_output")


def stream_lines(soup) -> int:
    """Lines of text the page's cells printed (stdout and stderr)."""
    total = 0
    for out in _outputs(soup):
        for block in out.select("div.output.stream, div.output.stderr"):
            total += len(block.get_text().strip("\n").splitlines())
    return total


def problems(soup) -> list[str]:
    found = []
    for out in _outputs(soup):
        text = out.get_text()
        for word in ("Traceback", "Warning"):
            if word in text:
                line = next(line for line in text.splitlines() if word in line)
                found.append(f"{word!r} in an output: {line.strip()[:120]}")
        for match in LOCAL_PATH.finditer(text):
            line = text[max(0, match.start() - 40):match.end() + 40].replace("\n", " ")
            found.append(f"a local path in an output: ...{line}...")
        if str(ROOT) in text:
            found.append(f"the build's own folder {ROOT} in an output")
    return found


def uncaptioned_images(soup) -> int:
    """Images in cell outputs that are not in a figure with a caption."""
    count = 0
    for out in _outputs(soup):
        for img in out.find_all("img"):
            figure = img.find_parent("figure")
            if figure is None or figure.find("figcaption") is None:
                count += 1
    return count


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.stem)
def test_no_wall_of_output(page):
    lines = stream_lines(_soup(page))
    assert lines <= MAX_STREAM_LINES, (f"{page.name}: {lines} lines of printed output "
                                       f"(at most {MAX_STREAM_LINES}); show a table, a figure or one "
                                       "live progress bar instead")


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.stem)
def test_no_traceback_warning_or_local_path(page):
    found = problems(_soup(page))
    assert not found, f"{page.name}: " + "; ".join(found[:5])


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.stem)
def test_every_figure_has_a_caption(page):
    missing = uncaptioned_images(_soup(page))
    assert not missing, (f"{page.name}: {missing} figure(s) without a caption; give the cell "
                         "metadata mystnb.figure.caption")
