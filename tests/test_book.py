"""The book's structure: toc entries exist, notebooks are committed clean and parametrised."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def toc_files(toc: dict | None = None) -> list[str]:
    """Every file of ``_toc.yml`` (root first), without suffix, in reading order."""
    toc = toc if toc is not None else yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] if "root" in toc else []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk({k: v for k, v in toc.items() if k in ("parts", "chapters")})
    return files


def resolve(entry: str) -> Path:
    for suffix in (".ipynb", ".md"):
        path = ROOT / f"{entry}{suffix}"
        if path.is_file():
            return path
    raise FileNotFoundError(f"_toc.yml lists {entry!r} but neither {entry}.ipynb nor {entry}.md exists")


def notebooks() -> list[Path]:
    return sorted((ROOT / "book").glob("*.ipynb"))


def test_toc_walk_finds_nested_entries():
    toc = {"root": "book/index", "parts": [{"caption": "x", "chapters": [
        {"file": "book/a", "sections": [{"file": "book/b"}]}, {"file": "book/c"}]}]}
    assert toc_files(toc) == ["book/index", "book/a", "book/b", "book/c"]


def test_config_is_jupyter_book_1():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    assert toc["format"] == "jb-book" and toc["root"] == "book/index"
    assert config["only_build_toc_files"] is True
    assert config["execute"]["execute_notebooks"] == "force"
    assert config["execute"]["raise_on_error"] is True
    assert config["bibtex_bibfiles"] == ["book/references.bib"]
    assert (ROOT / config["bibtex_bibfiles"][0]).is_file()


def test_every_toc_entry_exists():
    entries = toc_files()
    assert entries[0] == "book/index"
    assert len(entries) == len(set(entries)), f"duplicate toc entries: {entries}"
    for entry in entries:
        resolve(entry)


def test_every_notebook_is_in_the_toc():
    listed = {resolve(e) for e in toc_files()}
    missing = [p.name for p in notebooks() if p not in listed]
    assert not missing, f"notebooks in book/ that _toc.yml does not list: {missing}"


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_notebook_committed_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
             and (c.get("outputs") or c.get("execution_count") is not None
                  or "execution" in c.get("metadata", {}))]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs or execution counts; strip them"
    # nbformat 4.5 needs cell ids; nbformat.read would add missing ones silently
    raw = json.loads(path.read_text())
    missing = [i for i, c in enumerate(raw["cells"]) if "id" not in c]
    assert not missing, f"{path.name}: cells {missing} have no id"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_notebook_skeleton(path):
    nb = nbformat.read(path, as_version=4)
    tags = [c.get("metadata", {}).get("tags", []) for c in nb.cells]
    params = [i for i, t in enumerate(tags) if "parameters" in t]
    assert len(params) == 1, f"{path.name}: expected exactly one cell tagged 'parameters'"
    source = nb.cells[params[0]].source
    for name in ("profile", "device", "seed", "output_dir"):
        assert f"{name} =" in source, f"{path.name}: parameters cell does not set {name}"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), \
        f"{path.name}: the first cell must be the chapter title"
    colab = [c for c, t in zip(nb.cells, tags) if "skip-execution" in t]
    assert colab and all('"google.colab" in sys.modules' in c.source for c in colab), \
        f"{path.name}: needs a Colab setup cell tagged skip-execution that is a no-op elsewhere"
    assert any("write_metrics(" in c.source for c in nb.cells if c.cell_type == "code"), \
        f"{path.name}: must write metrics.json"


def test_python3_kernel_is_this_interpreter():
    """papermill and the book build start kernel 'python3'; it must run this environment."""
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    exe = spec.argv[0]
    # jupyter_client replaces a bare "python" by the running interpreter.
    ok = exe in ("python", "python3") or Path(exe).resolve() == Path(sys.executable).resolve()
    assert ok, (f"kernel python3 runs {exe}, not {sys.executable}: "
                f"run `{sys.executable} -m ipykernel install --sys-prefix --name python3`")
