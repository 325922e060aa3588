"""The book's structure: toc entries exist, notebooks are committed clean and parametrised."""

from __future__ import annotations

import json
import re
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


# ------------------------------------------------------------------ the book as a reader meets it
def _cells(path):
    nb = nbformat.read(path, as_version=4)
    return [(c, c.get("metadata", {}).get("tags", [])) for c in nb.cells]


HIDDEN = {"remove-input", "remove-cell", "hide-input"}
CHAPTERS = [p for p in notebooks() if p.stem != "index"]


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_boilerplate_is_hidden(path):
    """Setup, glue and metrics cells carry a tag that keeps them off the page (or folded)."""
    cells = _cells(path)
    params = next(i for i, (_, tags) in enumerate(cells) if "parameters" in tags)
    setup_cell, setup_tags = cells[params + 1]
    assert "setup(" in setup_cell.source and HIDDEN & set(setup_tags), \
        f"{path.name}: the setup cell after the parameters must be tagged hide-input"
    # importing inctrl imports tqdm.auto, which warns (into the page) when ipywidgets is missing
    quiet = 'warnings.filterwarnings("ignore", message="IProgress not found")'
    source = setup_cell.source
    assert quiet in source and source.index(quiet) < source.index("inctrl"), \
        f"{path.name}: the setup cell must silence tqdm's ipywidgets warning before importing inctrl"
    for cell, tags in cells:
        if cell.cell_type != "code":
            continue
        if "write_metrics(" in cell.source:
            assert "remove-cell" in tags, f"{path.name}: the metrics cell must be tagged remove-cell"
        if "glue(" in cell.source or "glue_many(" in cell.source:
            assert HIDDEN & set(tags), f"{path.name}: a glue cell shows its code:\n{cell.source[:200]}"
        colab = "skip-execution" in tags
        assert not colab or "remove-cell" in tags, f"{path.name}: the Colab cell must be tagged remove-cell"


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_visible_code_fits_the_page(path):
    """Code shown on the page is at most 88 characters wide (wider lines are clipped)."""
    long = [line for cell, tags in _cells(path) if cell.cell_type == "code" and not HIDDEN & set(tags)
            and "parameters" not in tags for line in cell.source.splitlines() if len(line) > 88]
    assert not long, f"{path.name}: visible code lines over 88 characters: {long[:3]}"


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_every_figure_cell_has_a_caption_and_page_width(path):
    from inctrl.book.viz import MIN_FONT

    for cell, _ in _cells(path):
        if cell.cell_type != "code":
            continue
        if "plt.show()" in cell.source:
            caption = cell.metadata.get("mystnb", {}).get("figure", {}).get("caption", "")
            assert caption.strip(), f"{path.name}: a figure cell without a caption:\n{cell.source[:200]}"
        assert "figsize=" not in cell.source, \
            f"{path.name}: size figures with viz.subplots (at most one page wide), not figsize="
        small = [float(v) for v in re.findall(r"fontsize=([0-9.]+)", cell.source) if float(v) < MIN_FONT]
        assert not small, f"{path.name}: font sizes below {MIN_FONT} pt: {small}"
        assert "cmap=" not in cell.source, f"{path.name}: anomaly maps use viz.ANOMALY_CMAP only"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_ends_with_summary_exercises_references(path):
    text = "\n".join(c.source for c, _ in _cells(path) if c.cell_type == "markdown")
    heads = [h for h in re.findall(r"^## (.+)$", text, re.MULTILINE)]
    assert heads[-3:] == ["Summary", "Exercises", "References"], \
        f"{path.name}: the last sections must be Summary, Exercises, References (found {heads[-3:]})"
    exercises = text.split("## Exercises", 1)[1].split("## References", 1)[0]
    n = len(re.findall(r"^\d+\. ", exercises, re.MULTILINE))
    assert 2 <= n <= 4, f"{path.name}: {n} exercises (2 to 4)"
    assert "{footbibliography}" in text.split("## References", 1)[1]


def test_index_lists_every_page():
    index = "\n".join(c.source for c, _ in _cells(ROOT / "book" / "index.ipynb") if c.cell_type == "markdown")
    how = index.split("## How to read this book", 1)[1].split("\n## ", 1)[0]
    for entry in toc_files()[1:]:
        name = Path(entry).name
        assert f"({name}.ipynb)" in how or f"({name}.md)" in how, \
            f"index 'How to read this book' does not link {entry}"


def _book_texts():
    for path in notebooks():
        yield path.name, "\n".join(c.source for c, _ in _cells(path))
    for path in sorted((ROOT / "book").glob("*.md")):
        yield path.name, path.read_text()


def test_the_book_cites_only_files_that_exist():
    for name, text in _book_texts():
        for ref in set(re.findall(r"[\w./-]+\.md\b", text)):
            candidates = [ROOT / "book" / ref, ROOT / ref]
            assert any(c.is_file() for c in candidates), f"{name} cites {ref}, which is not in the repository"
        assert not re.search(r"\bissue \d", text), f"{name} cites an issue number"


def test_method_page_names_real_functions_and_tests():
    """Every function and test named on 'The method on one page' exists."""
    import importlib

    text = (ROOT / "book" / "equations.md").read_text()
    names = set(re.findall(r"`(inctrl(?:\.\w+)+)`", text))
    tests = set(re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text))
    assert len(names) >= 15 and len(tests) >= 15
    for dotted in sorted(names):
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
                break
            except ImportError:
                continue
        for attr in parts[cut:]:
            assert hasattr(obj, attr), f"equations.md names {dotted}, which does not exist"
            obj = getattr(obj, attr)
    for file, test in sorted(tests):
        source = (ROOT / file).read_text()
        assert re.search(rf"^def {test}\(", source, re.MULTILINE), \
            f"equations.md names {file}::{test}, which does not exist"
    for eq in range(1, 11):
        assert f"Eq. {eq}" in text or f"Eq. {eq - 1}–{eq}" in text or f"Eq. {eq}–" in text, \
            f"equations.md does not cover Eq. {eq}"


def test_launch_urls_have_no_dot_segment():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    path = str(config["repository"].get("path_to_book", "")).strip("/")
    assert path not in (".", "./"), "path_to_book '.' makes launch URLs with '/./'"
