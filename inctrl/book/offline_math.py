"""Sphinx extension: the book's MathJax comes with the build, so formulas render offline.

Sphinx loads MathJax from a CDN by default; a reader without network access then sees raw
LaTeX. This extension copies MathJax 3 from the ``django-static-mathjax`` package (plain
MathJax files on PyPI, no Django needed; see requirements.txt) into the build's
``_static/mathjax`` and points ``mathjax_path`` there. ``_config.yml`` lists it under
``sphinx.extra_extensions``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

#: The MathJax component the pages load (TeX and MathML input, HTML-CSS output), as Sphinx's
#: default does from the CDN.
COMPONENT = "tex-mml-chtml.js"
#: Where the copy goes, under ``_static``; ``mathjax_path`` is relative to ``_static``.
TARGET = "mathjax"


def mathjax_source() -> Path:
    """The folder of MathJax's browser build (``es5``) in the installed package.

    Raises:
        RuntimeError: the package is not installed.
    """
    try:
        import mathjax
    except ImportError:
        raise RuntimeError("MathJax files not found: install them with "
                           "`pip install django-static-mathjax` (in requirements.txt)") from None
    folder = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (folder / COMPONENT).is_file():
        raise RuntimeError(f"{folder / COMPONENT} is missing: reinstall django-static-mathjax")
    return folder


def _skip_unused(folder: str, names: list[str]) -> set[str]:
    """Leave out the other combined components and the SVG output (the pages use CHTML)."""
    here = Path(folder)
    if (here / COMPONENT).is_file():  # the top of es5
        return {n for n in names if n.endswith(".js") and n != COMPONENT}
    if here.name == "output":
        return {n for n in names if n.startswith("svg")}
    return set()


def copy_mathjax(outdir: str | Path) -> Path:
    """Copy MathJax into ``<outdir>/_static/mathjax``.

    Args:
        outdir: the HTML build folder.

    Returns:
        The path of the component the pages load.
    """
    target = Path(outdir) / "_static" / TARGET
    shutil.copytree(mathjax_source(), target, ignore=_skip_unused, dirs_exist_ok=True)
    return target / COMPONENT


def _on_config(app, config) -> None:
    mathjax_source()  # fail at the start of a build, not after executing every chapter
    config.mathjax_path = f"{TARGET}/{COMPONENT}"


def _on_finished(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        copy_mathjax(app.outdir)


def setup(app) -> dict:
    """Register the extension (Sphinx calls this)."""
    app.connect("config-inited", _on_config)
    app.connect("build-finished", _on_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
