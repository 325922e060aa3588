"""The repository's URL lives once, in ``_config.yml``; the chapters' Colab cells copy it.

Jupyter Book reads ``repository.url`` for its launch and repository buttons. Every chapter
also has a Colab cell (tagged ``skip-execution``) that clones the repository with a line
``REPO_URL = "..."``. This tool keeps those lines equal to the configured URL::

    python -m inctrl.book.repo_url --check            # exit 1 if a Colab cell disagrees
    python -m inctrl.book.repo_url --sync             # rewrite the Colab cells that disagree
    python -m inctrl.book.repo_url --sync book/index.ipynb   # only these notebooks

A fork sets ``repository.url`` in ``_config.yml`` and runs ``--sync``. Only the
``REPO_URL`` line changes: the notebook file is edited as text, so its diff is one line.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

__all__ = ["colab_url", "configured_url", "disagreements", "sync"]

COLAB_TAG = "skip-execution"
#: The URL line of a Colab cell, as the notebook's JSON stores it.
_URL_IN_JSON = re.compile(r'(REPO_URL = \\")([^"\\]*)(\\")')
_URL_IN_SOURCE = re.compile(r'^REPO_URL = "([^"]*)"$', re.MULTILINE)


def configured_url(config: str | Path = "_config.yml") -> str:
    """``repository.url`` of a Jupyter Book configuration.

    Raises:
        ValueError: the file sets no ``repository.url``, or it ends with a slash or has "/./".
    """
    import yaml

    url = ((yaml.safe_load(Path(config).read_text()) or {}).get("repository") or {}).get("url")
    if not url:
        raise ValueError(f"{config}: set repository.url (the repository's https URL)")
    if url.endswith("/") or "/./" in url:
        raise ValueError(f"{config}: repository.url {url!r} must not end with '/' or contain '/./'")
    return url


def colab_url(notebook: str | Path) -> str:
    """The URL the notebook's Colab cell clones.

    Raises:
        ValueError: the notebook has not exactly one Colab cell, or it has no ``REPO_URL`` line.
    """
    cells = [c for c in json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
             if COLAB_TAG in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"{notebook}: expected one Colab cell tagged {COLAB_TAG!r}, found {len(cells)}")
    source = "".join(cells[0]["source"]) if isinstance(cells[0]["source"], list) else cells[0]["source"]
    found = _URL_IN_SOURCE.findall(source)
    if len(found) != 1:
        raise ValueError(f'{notebook}: its Colab cell needs one line REPO_URL = "..."')
    return found[0]


def disagreements(notebooks, url: str) -> list[str]:
    """One line per notebook whose Colab cell does not clone ``url``."""
    return [f"{nb}: Colab cell clones {found!r}, _config.yml says {url!r}"
            for nb in notebooks if (found := colab_url(nb)) != url]


def sync(notebooks, url: str) -> list[Path]:
    """Set the ``REPO_URL`` line of each notebook's Colab cell to ``url``.

    Args:
        notebooks: the notebook files.
        url: the repository URL.

    Returns:
        The notebooks that changed.
    """
    from .. import atomic

    changed = []
    for nb in map(Path, notebooks):
        if colab_url(nb) == url:
            continue
        text = nb.read_text(encoding="utf-8")
        new, n = _URL_IN_JSON.subn(lambda m: m.group(1) + url + m.group(3), text)
        if n != 1:
            raise ValueError(f"{nb}: REPO_URL occurs {n} times in the file; edit it by hand")
        atomic.write_text(nb, new)
        changed.append(nb)
    return changed


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m inctrl.book.repo_url",
                                     description=__doc__.split("\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--check", action="store_true", help="exit 1 if a Colab cell disagrees")
    action.add_argument("--sync", action="store_true", help="rewrite the Colab cells that disagree")
    parser.add_argument("--config", default="_config.yml", help="the Jupyter Book configuration")
    parser.add_argument("notebooks", nargs="*", help="notebooks (default: book/*.ipynb beside the config)")
    args = parser.parse_args(argv)
    try:
        url = configured_url(args.config)
        notebooks = args.notebooks or sorted((Path(args.config).parent / "book").glob("*.ipynb"))
        if args.check:
            problems = disagreements(notebooks, url)
            print("\n".join(problems) or f"{len(notebooks)} Colab cells clone {url}")
            return 1 if problems else 0
        changed = sync(notebooks, url)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("\n".join(f"set {url} in {nb}" for nb in changed) or "every Colab cell already agrees")
    return 0


if __name__ == "__main__":
    sys.exit(main())
