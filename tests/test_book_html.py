"""The built book as a reader meets it: no walls of output, no warnings, tracebacks or local
paths, a caption on every figure; nothing internal (raw Markdown tables, True/False in
tables, the project's issues or targets) and MathJax loaded from the build, not a CDN.

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
#: A Markdown table's separator row left as text (a table that did not render).
RAW_TABLE = re.compile(r"\|\s*:?-{3,}:?\s*\|")
#: Words of the project's own bookkeeping, which a reader has no use for.
INTERNAL_WORDS = re.compile(r"\bissues?\b|\btargets? met\b", re.IGNORECASE)


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


def prose(soup) -> str:
    """The text of the page's article without code, as a reader reads it."""
    article = soup.select_one("article") or soup
    article = bs4.BeautifulSoup(str(article), "html.parser")
    for node in article.select("pre, code, script, style, .math"):
        node.decompose()
    return article.get_text(" ")


def internal_leaks(soup) -> list[str]:
    """Raw Markdown tables, True/False in table cells and the project's internal words."""
    text = prose(soup)
    found = [f"a raw Markdown table: ...{text[max(0, m.start() - 40):m.end() + 40]!r}..."
             for m in RAW_TABLE.finditer(text)]
    found += [f"{m.group(0)!r}: ...{text[max(0, m.start() - 50):m.end() + 50]!r}..."
              for m in INTERNAL_WORDS.finditer(text)]
    cells = {c.get_text().strip() for c in (soup.select_one("article") or soup).select("td, th")}
    found += [f"a table cell reading {v!r} (write yes/no, or what it means)" for v in ("True", "False")
              if v in cells]
    return found


def cdn_scripts(soup) -> list[str]:
    """MathJax scripts loaded from the network instead of the build's _static."""
    return [s["src"] for s in soup.find_all("script", src=True)
            if "mathjax" in s["src"].lower() and re.match(r"(https?:)?//", s["src"])]


def test_internal_checks_catch_what_they_name():
    page = bs4.BeautifulSoup(
        "<html><body><article><p>| k | AUROC |</p><p>|---|---|</p><p>the issue's target</p>"
        "<p>2 of 7 targets met</p><table><tr><td>met</td><td>False</td></tr></table>"
        "<pre>issue in code is fine |---|</pre></article>"
        '<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>'
        '<script src="../_static/mathjax/tex-mml-chtml.js"></script></body></html>', "html.parser")
    found = internal_leaks(page)
    assert len(found) == 4 and "raw Markdown table" in found[0] and "'False'" in found[-1]
    assert cdn_scripts(page) == ["https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"]
    clean = bs4.BeautifulSoup("<article><p>The tissue of the issuer</p><table><tr><td>yes</td>"
                              "</tr></table><pre>|---|</pre></article>", "html.parser")
    assert internal_leaks(clean) == [] and cdn_scripts(clean) == []


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.stem)
def test_nothing_internal_on_the_page(page):
    found = internal_leaks(_soup(page))
    assert not found, f"{page.name}: " + "; ".join(found[:5])


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.stem)
def test_math_comes_with_the_build(page):
    soup = _soup(page)
    assert not cdn_scripts(soup), f"{page.name} loads MathJax from the network: {cdn_scripts(soup)}"
    if soup.select(".math"):
        local = [s["src"] for s in soup.find_all("script", src=True) if "_static/mathjax/" in s["src"]]
        assert local, f"{page.name} has formulas but loads no MathJax from _static/mathjax"
        path = local[0].split("?")[0]  # Sphinx may append "?v=<checksum>" to static files
        assert (page.parent / path).resolve().is_file(), f"{page.name}: {local[0]} is missing"


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.stem)
def test_a_launch_button_only_on_a_chapter_to_run(page):
    launch = "colab.research.google.com" in str(_soup(page))
    chapter = (ROOT / "book" / f"{page.stem}.ipynb").is_file()
    assert launch == chapter, (f"{page.name}: a Colab button on a Markdown page" if launch else
                               f"{page.name}: a chapter without its Colab button")


def test_pages_load_the_books_stylesheet():
    """_static/inctrl.css (long code in tables wraps inside the column) reaches every page."""
    page = HTML / "book" / "equations.html"
    links = [link.get("href", "") for link in _soup(page).find_all("link", rel="stylesheet")]
    assert any(href.split("?")[0].endswith("_static/inctrl.css") for href in links), links
    css = (HTML / "_static" / "inctrl.css").read_text()
    # code cells wrap rather than clip a line wider than the column at 1280 px
    assert re.search(r"div\.cell_input pre \{[^}]*white-space: pre-wrap", css), css
