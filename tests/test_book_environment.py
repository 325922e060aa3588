"""One environment block in the book, one profile line per chapter, MathJax copied offline."""

from __future__ import annotations

import re

import IPython.display
import pytest
from test_book import ROOT

from inctrl.book import environment, notebook, offline_math


def test_profile_line_names_the_profile_and_links_the_environment_section():
    mini = environment.profile_line("mini profile, ImageNet CNN with a LiT text tower", "mini", True)
    assert mini.startswith("Numbers on this page: **mini profile, ImageNet CNN with a LiT text "
                           "tower** (")
    assert "not the paper's backbone" in mini and mini.endswith("[Environment](running.md#environment).")
    tiny = environment.profile_line("tiny profile, random backbone", "tiny", True, asked_auto=True)
    assert "for profile 'auto'" in tiny and "random weights" in tiny
    paper = environment.profile_line("paper profile, laion400m_e32", "paper", True)
    assert paper == ("Numbers on this page: **paper profile, laion400m_e32**. Versions and hardware: "
                     "[Environment](running.md#environment).")  # no caveat for the paper's weights
    assert "random weights" in environment.profile_line("paper profile, random weights", "paper", False)


def test_the_linked_section_exists_and_shows_the_computed_table():
    page, anchor = environment.ENVIRONMENT_SECTION.split("#")
    text = (ROOT / "book" / page).read_text()
    assert re.search(rf"^## {anchor.capitalize()}$", text, re.MULTILINE), f"book/{page} has no ## {anchor}"
    section = text.split("## Environment", 1)[1].split("\n## ", 1)[0]
    assert "```{code-cell}" in section and "environment_table()" in section


def test_environment_table_lists_the_environment():
    info = environment.environment("cpu")
    assert set(info) >= {"python", "inctrl", "torch", "open_clip", "device"}
    assert info["device"].startswith("cpu (") and info["open_clip"][0].isdigit()
    rows = environment.environment_table("cpu").data.splitlines()
    assert rows[1] == "|---|---|" and len(rows) == 2 + len(info)
    assert rows[2:] == [f"| {k} | {v} |" for k, v in info.items()]


def test_setup_shows_one_line_and_prints_no_environment(monkeypatch, capsys, tmp_path):
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: shown.extend(objs))
    ctx = notebook.setup("tiny", "cpu", data_dir=tmp_path, output_dir=tmp_path / "out", load=False)
    lines = [o.data for o in shown if isinstance(o, IPython.display.Markdown)]
    assert lines == [environment.profile_line(ctx.label, "tiny", True)]
    assert "torch" not in capsys.readouterr().out
    assert ctx.info["device"].startswith("cpu")  # chapters still read the environment from ctx


def test_setup_inside_colab_also_prints_the_environment(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **kw: None)
    monkeypatch.setattr(environment, "in_colab", lambda: True)
    monkeypatch.setattr(notebook, "in_colab", lambda: True)
    notebook.setup("tiny", "cpu", data_dir=tmp_path, output_dir=tmp_path / "out", load=False)
    out = capsys.readouterr().out
    assert re.search(r"^\s*torch : ", out, re.MULTILINE) and "colab : yes" in out


def test_mathjax_copy_holds_the_component_and_its_fonts(tmp_path):
    component = offline_math.copy_mathjax(tmp_path)
    assert component == tmp_path / "_static" / "mathjax" / offline_math.COMPONENT and component.is_file()
    copied = tmp_path / "_static" / "mathjax"
    assert list((copied / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert (copied / "input" / "tex" / "extensions").is_dir()
    assert not (copied / "tex-svg.js").exists() and not (copied / "output" / "svg").exists()


def test_missing_mathjax_package_is_named(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_mathjax(name, *args, **kwargs):
        if name == "mathjax":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mathjax)
    with pytest.raises(RuntimeError, match="pip install django-static-mathjax"):
        offline_math.mathjax_source()
