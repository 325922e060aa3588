"""Formulas render in a real browser with the network off.

Headless Chromium opens a page by its ``file://`` URL with every host name unresolvable and
a proxy that does not exist, so nothing can come from the network; after MathJax has run,
the DOM must hold rendered math (``mjx-container``) for every formula and no raw TeX.

Two builds are checked: a one-page Sphinx project built here with
:mod:`inctrl.book.offline_math` (seconds; needs only Chromium), and the book that
`make book` wrote to ``_build/html`` (the method page, every equation of the book).
Without Chromium or without a book build the tests skip; .ci/run sets INCTRL_BOOK_BUILT=1,
which turns both into errors. INCTRL_CHROMIUM names another Chromium binary.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_book import ROOT

bs4 = pytest.importorskip("bs4")

HTML = Path(os.environ.get("INCTRL_BOOK_HTML", ROOT / "_build" / "html"))
REQUIRED = os.environ.get("INCTRL_BOOK_BUILT") == "1"
#: The book page with the most formulas.
MATH_PAGE = "book/equations.html"
#: TeX delimiters that MathJax removes when it renders a formula.
RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$")


def chromium() -> str:
    """The Chromium binary; skips (or fails under INCTRL_BOOK_BUILT=1) when there is none."""
    names = [os.environ.get("INCTRL_CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome"]
    found = next((shutil.which(n) for n in names if n and shutil.which(n)), None)
    if found is None:
        message = "no Chromium found (apt-get install chromium, or set INCTRL_CHROMIUM)"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    return found


def offline_dom(page: Path, profile: Path) -> str:
    """The DOM of ``page`` after its scripts ran, in a browser that cannot reach the network."""
    command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", f"--user-data-dir={profile}", "--proxy-server=127.0.0.1:9",
               "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=30000",
               "--dump-dom", page.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "<html" in done.stdout, \
        f"Chromium failed ({done.returncode}): {done.stderr[-500:]}"
    return done.stdout


def math_report(dom: str) -> tuple[int, list[str]]:
    """The number of formulas on the page and the problems found with them.

    A formula is an element of class ``math`` as Sphinx writes it; it is rendered when it
    holds an ``mjx-container`` and no TeX delimiters are left in the page's prose.
    """
    soup = bs4.BeautifulSoup(dom, "html.parser")
    formulas = soup.select(".math")
    problems = [f"not rendered: {f.get_text()[:80]!r}" for f in formulas if f.find("mjx-container") is None]
    for code in soup.select("pre, code, script, style, mjx-assistive-mml"):
        code.decompose()
    problems += [f"raw TeX left: ...{m.string[max(0, m.start() - 30):m.end() + 30]!r}..."
                 for m in RAW_TEX.finditer(soup.get_text())][:5]
    return len(formulas), problems


def test_report_flags_raw_tex_and_accepts_rendered_math():
    raw = '<html><body><span class="math">\\(x^2\\)</span><div class="math">$$y$$</div></body></html>'
    n, problems = math_report(raw)
    assert n == 2 and len([p for p in problems if p.startswith("not rendered")]) == 2
    assert any(p.startswith("raw TeX") for p in problems)
    rendered = ('<html><body><p>see <span class="math"><mjx-container class="MathJax">x'
                '<mjx-assistive-mml>\\(x\\)</mjx-assistive-mml></mjx-container></span></p>'
                '<pre>$$ in code is fine</pre></body></html>')
    assert math_report(rendered) == (1, [])


def test_offline_math_extension_renders_in_a_small_build(tmp_path):
    """A one-page Sphinx project with the extension: MathJax is copied, loaded, and runs."""
    chromium()  # skip before building when there is no browser
    src, out = tmp_path / "src", tmp_path / "html"
    src.mkdir()
    (src / "conf.py").write_text('extensions = ["sphinx.ext.mathjax", "inctrl.book.offline_math"]\n')
    (src / "index.rst").write_text(textwrap.dedent(r"""
        Offline
        =======

        Inline :math:`s_p(x) = \max_j M_x(j)` and a display:

        .. math::

           F_x = \frac{1}{K}\sum_k \psi\left(g(p_k)\right) - \psi\left(g(x)\right)
        """))
    build = subprocess.run([sys.executable, "-m", "sphinx", "-q", "-b", "html", str(src), str(out)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-1000:]
    page = (out / "index.html").read_text()
    assert 'src="_static/mathjax/tex-mml-chtml.js"' in page and "cdn" not in page.lower()
    assert (out / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    n, problems = math_report(offline_dom(out / "index.html", tmp_path / "profile"))
    assert n == 2 and not problems, problems


def test_the_books_formulas_render_offline(tmp_path):
    page = HTML / MATH_PAGE
    if not page.is_file():
        if REQUIRED:
            pytest.fail(f"{MATH_PAGE} was not built (run `make book`)")
        pytest.skip("no book build in _build/html (run `make book`)")
    n, problems = math_report(offline_dom(page, tmp_path / "profile"))
    assert n >= 5, f"{MATH_PAGE}: only {n} formulas found; the page should be full of them"
    assert not problems, f"{MATH_PAGE}: " + "; ".join(problems[:5])
