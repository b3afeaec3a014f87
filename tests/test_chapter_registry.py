"""The chapter registry (issue 61): every chapter its driver declares, checked against one schema, and the
registry against the notebooks on disk and the book's table of contents."""

from __future__ import annotations

import importlib
import json
import sys
import types

import pytest

from reuseprior import chapters
from reuseprior.commands import main
from reuseprior.core.errors import UnknownEntryError
from reuseprior.reporting.book import BOOK_CONFIG_DIR, notebook_chapters

NAMES = chapters.list_chapters()


def _toc_parts() -> dict[str, str]:
    """Every page of ``book/_toc.yml`` -> the caption of the part listing it."""
    import yaml  # the book's tools (requirements-lock.txt), as reuseprior.reporting.book reads it

    toc = yaml.safe_load((BOOK_CONFIG_DIR / "_toc.yml").read_text())
    return {str(entry["file"]): part["caption"] for part in toc["parts"] for entry in part.get("chapters", [])}


def _first_title(notebook: dict) -> str:
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def test_the_registry_lists_the_notebooks_on_disk_in_name_order():
    assert NAMES == sorted(NAMES) == chapters.list_chapters() and NAMES
    assert [chapters.get_chapter(name).page for name in NAMES] == notebook_chapters()
    assert chapters.list_chapters("ch4_*") == [n for n in NAMES if n.startswith("ch4_")]


@pytest.mark.parametrize("name", NAMES)
def test_every_declared_chapter_fits_one_schema(name):
    """Named like its driver, which declares it; its notebook and paired script exist and carry its title;
    the book lists its page under its part; its driver holds typed profiles, quick among them."""
    chapter = chapters.get_chapter(name)
    assert isinstance(chapter, chapters.Chapter) and chapter.name == name
    driver = importlib.import_module(chapter.module)
    assert driver.CHAPTER is chapter, f"{chapter.module} declares its chapter as CHAPTER"
    assert chapter.part.strip() and chapter.title.strip() and "\n" not in chapter.title + chapter.part
    assert chapter.notebook.is_file(), f"no notebook {chapter.notebook}"
    assert chapter.script.is_file(), f"no paired script {chapter.script} (pyproject.toml's [tool.jupytext] pairs them)"
    notebook = json.loads(chapter.notebook.read_text())
    assert _first_title(notebook) == chapter.title, "the notebook's title heading is the declared title"
    assert f"# # {chapter.title}" in chapter.script.read_text(), "the paired script holds the declared title"
    assert _toc_parts().get(chapter.page) == chapter.part, f"book/_toc.yml lists {chapter.page} under its part"
    assert "quick" in driver.PROFILES, "a chapter has a quick profile (a CPU in minutes)"


def test_an_unknown_chapter_names_the_closest_and_a_chapter_is_registered_by_its_driver():
    with pytest.raises(UnknownEntryError, match=r"unknown chapter 'ch4_context': did you mean 'ch4_contexts'"):
        chapters.get_chapter("ch4_context")
    with pytest.raises(ValueError, match="registered by its driver"):
        chapters.register_chapter("somewhere.else", part="x", title="y")


def test_build_lists_the_registered_chapters_and_names_them_for_a_glob_that_matches_none(capsys):
    assert main(["build", "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in listed] == NAMES
    chapter = chapters.get_chapter(NAMES[0])
    assert listed[0] == f"{chapter.name}: {chapter.title} ({chapter.part}; profiles quick, full, full-mnist)"
    unmatched = "no_chapter_is_named_so_*"
    with pytest.raises(SystemExit):
        main(["build", unmatched])
    err = capsys.readouterr().err
    assert f"no notebook matches [{unmatched!r}]; available: [" in err and NAMES[-1] in err


def test_a_registered_chapter_without_its_notebook_is_named_by_build_with_the_missing_file(
    capsys, monkeypatch, register
):
    """Issue 74: a chapter 9 whose driver registers it before its notebook exists; ``build --list`` named
    no chapter ("No such file"). Its listing line and a build of it now name the chapter and the file."""
    toy = chapters.Chapter("ch9_toy", part="Beyond the thesis", title="Chapter 9: a toy")
    driver = types.ModuleType(toy.module)
    driver.PROFILES = {"quick": None, "full": None, "tiny": None}
    monkeypatch.setitem(sys.modules, toy.module, driver)
    register(chapters.CHAPTERS, toy.name, toy)
    assert main(["build", "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[-1] == (
        f"ch9_toy: Chapter 9: a toy (Beyond the thesis; profiles quick, full, tiny); its notebook {toy.notebook} "
        "is missing (CONTRIBUTING.md, 'A chapter', makes it)"
    )
    assert [line.split(":")[0] for line in listed] == [*NAMES, "ch9_toy"]
    with pytest.raises(SystemExit) as stop:
        main(["build", "ch9_*"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "Traceback" not in err
    assert f"chapter ch9_toy is registered by its driver {toy.module}, but its notebook {toy.notebook} is" in err
    with pytest.raises(ValueError, match="chapter name 'ch9-toy' is refused: a chapter's name is chN_name"):
        register(chapters.CHAPTERS, "ch9-toy", toy)
