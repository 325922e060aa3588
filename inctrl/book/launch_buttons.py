"""A Sphinx extension: launch buttons (Colab, Binder) only on pages that are chapters to run.

The theme adds launch buttons to every page it takes for a notebook, and a Markdown page with a
code cell (a MyST notebook, such as "Running it elsewhere", which shows the build's environment)
counts as one. Opening such a page on Colab gives the reader a Markdown file, not a chapter. So
before the theme looks, a page built from a ``.md`` source loses its ``kernelspec`` in the
metadata the theme reads; the executed page itself is unchanged.
"""

from __future__ import annotations

from pathlib import Path


def _markdown_pages_are_not_launchable(app, pagename, _templatename, _context, _doctree) -> None:
    if pagename in app.env.all_docs and Path(app.env.doc2path(pagename)).suffix == ".md":
        app.env.metadata.get(pagename, {}).pop("kernelspec", None)


def setup(app) -> dict:
    """Register the extension (Sphinx calls this)."""
    app.connect("html-page-context", _markdown_pages_are_not_launchable, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
