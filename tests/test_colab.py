"""The Colab path: a chapter's first cells install the package so that `import inctrl` works
in the same kernel, without a restart.

The test plays Colab without a network: a fresh virtual environment whose only extra
packages are this environment's third-party dependencies (never its own `inctrl`), a
stand-in `google.colab` module imported before the chapter runs (Colab's kernel imports the
real one at start-up), and the chapter's Colab cell with its clone URL pointed at this
repository (`file://`, so the clone holds the committed HEAD) and its clone folder in a
temporary directory. The kernel then runs the Colab cell, the parameters cell and the setup
cell of the first chapter, and reports where `inctrl` was imported from.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sysconfig
import venv
from pathlib import Path

import nbformat
import pytest
from test_book import ROOT

from inctrl.book import repo_url

papermill = pytest.importorskip("papermill")

CHAPTER = ROOT / "book" / "01_in_context_learning.ipynb"


def colab_cell(nb) -> nbformat.NotebookNode:
    cells = [c for c in nb.cells if "skip-execution" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, "a chapter has exactly one Colab cell (tagged skip-execution)"
    return cells[0]


def test_colab_cell_installs_for_this_kernel():
    """Static checks of every chapter's Colab cell: the same cell everywhere, a regular (not
    editable) install, and the caches invalidated."""
    sources = {}
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        sources[path.name] = colab_cell(nbformat.read(path, as_version=4)).source
    first = next(iter(sources.values()))
    assert all(s == first for s in sources.values()), "the Colab cells differ between chapters"
    assert "pip" in first and " -e" not in first and "--editable" not in first
    assert "importlib.invalidate_caches()" in first


def test_every_colab_cell_clones_the_configured_repository():
    """The repository URL lives in _config.yml; `python -m inctrl.book.repo_url --sync` copies it."""
    notebooks = sorted((ROOT / "book").glob("*.ipynb"))
    problems = repo_url.disagreements(notebooks, repo_url.configured_url(ROOT / "_config.yml"))
    assert not problems, "; ".join(problems) + " (run `python -m inctrl.book.repo_url --sync`)"


def test_repo_url_sync_changes_only_the_url_line(tmp_path):
    """A fork's URL: --check fails, --sync rewrites one line of each notebook, --check passes."""
    (tmp_path / "book").mkdir()
    original = (ROOT / "book" / "index.ipynb").read_text(encoding="utf-8")
    notebook = tmp_path / "book" / "index.ipynb"
    notebook.write_text(original, encoding="utf-8")
    config = tmp_path / "_config.yml"
    config.write_text("title: fork\nrepository:\n  url: https://example.org/fork/inctrl\n")
    assert repo_url.main(["--check", "--config", str(config)]) == 1
    assert repo_url.main(["--sync", "--config", str(config)]) == 0
    assert repo_url.colab_url(notebook) == "https://example.org/fork/inctrl"
    synced = notebook.read_text(encoding="utf-8").splitlines()
    changed = [(a, b) for a, b in zip(original.splitlines(), synced) if a != b]
    assert len(changed) == 1 and len(original.splitlines()) == len(synced)
    assert changed[0][1].strip() == '"REPO_URL = \\"https://example.org/fork/inctrl\\"\\n",'
    assert repo_url.main(["--check", "--config", str(config)]) == 0
    config.write_text("repository:\n  url: https://example.org/fork/inctrl/\n")
    with pytest.raises(ValueError, match="must not end with '/'"):
        repo_url.configured_url(config)


def _fresh_environment(tmp: Path) -> Path:
    """A venv that sees this environment's dependencies but not its inctrl; returns its python."""
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)  # pip, setuptools: this environment's
    python = env_dir / "bin" / "python"
    purelib = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  check=True, capture_output=True, text=True).stdout.strip())
    deps = tmp / "deps"
    deps.mkdir()
    ours = Path(sysconfig.get_paths()["purelib"])
    for entry in ours.iterdir():
        name = entry.name.lower()
        if "inctrl" in name or name.startswith("__editable__") or name.endswith(".pth"):
            continue
        (deps / entry.name).symlink_to(entry)
    (purelib / "deps.pth").write_text(f"{deps}\n")  # a plain path line: no .pth inside it runs
    return python


@pytest.mark.notebook
def test_first_cells_import_inctrl_in_the_same_kernel(tmp_path):
    python = _fresh_environment(tmp_path)
    stub = tmp_path / "stub" / "google" / "colab"
    stub.mkdir(parents=True)
    (stub.parent / "__init__.py").write_text("")
    (stub / "__init__.py").write_text('"""Stand-in for Colab\'s module (tests/test_colab.py)."""\n')
    kernels = tmp_path / "jupyter" / "kernels" / "colab-stand-in"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab stand-in", "language": "python"}))

    chapter = nbformat.read(CHAPTER, as_version=4)
    clone = tmp_path / "content" / "inctrl"
    colab = colab_cell(chapter).source
    colab = re.sub(r'^REPO_URL = ".*"$', f'REPO_URL = "file://{ROOT}"', colab, flags=re.MULTILINE)
    colab = re.sub(r'^CLONE_DIR = ".*"$', f'CLONE_DIR = "{clone}"', colab, flags=re.MULTILINE)
    tags = [c.get("metadata", {}).get("tags", []) for c in chapter.cells]
    params = next(i for i, t in enumerate(tags) if "parameters" in t)
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "colab-stand-in", "language": "python",
                                                           "display_name": "Colab stand-in"}})
    nb.cells = [
        nbformat.v4.new_code_cell(f"import sys\nsys.path.insert(0, {str(stub.parent.parent)!r})\n"
                                  "import google.colab"),
        nbformat.v4.new_code_cell(colab),
        nbformat.v4.new_code_cell(chapter.cells[params].source, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(chapter.cells[params + 1].source),
        nbformat.v4.new_code_cell("import json, os\nimport inctrl\nfrom inctrl import backbone\n"
                                  "print(json.dumps({'inctrl': inctrl.__file__, 'cwd': os.getcwd(), "
                                  "'mini_weights': str(getattr(backbone, 'MINI_WEIGHTS_FILE', ''))}))"),
    ]
    source, executed = tmp_path / "colab.ipynb", tmp_path / "colab-out.ipynb"
    nbformat.write(nb, source)
    env = {"JUPYTER_PATH": str(tmp_path / "jupyter"), "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        papermill.execute_notebook(str(source), str(executed), kernel_name="colab-stand-in",
                                   parameters={"device": "cpu", "profile": "tiny"},
                                   cwd=str(tmp_path), progress_bar=False)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    out = nbformat.read(executed, as_version=4)
    text = "".join(o.get("text", "") for o in out.cells[-1].outputs if o.output_type == "stream")
    found = json.loads(text.strip().splitlines()[-1])
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    assert Path(found["inctrl"]).resolve().is_relative_to(site.resolve()), \
        f"inctrl was imported from {found['inctrl']}, not from the regular install in {site}"
    assert Path(found["cwd"]) == clone / "book"
    # the mini profile's weights must come with a regular install (package data)
    if list((clone / "inctrl").glob("weights/*.pt")):
        assert Path(found["mini_weights"]).is_file(), (
            "the clone ships mini weights but `pip install` did not install them: add them to "
            "[tool.setuptools.package-data] in pyproject.toml")
