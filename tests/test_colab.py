"""Colab: the public address in one place, badges only where it is set, a setup cell that acts only on Colab.

`colab/configure.py` (`make colab`) writes the badges and setup cells; these tests check what it writes, that the
committed notebooks and README are what it would write for the address in `pyproject.toml`, and what the setup
cell does with and without Colab. `make colab-check` runs the cell for real, in a kernel with Colab's versions.
"""

import importlib.util
import pathlib
import subprocess
import sys
import types

import nbformat
import pytest

from tgai.core import lessons

ROOT = pathlib.Path(__file__).resolve().parent.parent
_SPEC = importlib.util.spec_from_file_location("colab_configure", ROOT / "colab" / "configure.py")
configure = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(configure)
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
_FIND_SPEC = importlib.util.find_spec


def _notebook(first="# 03 · A lesson\n\nWhat it teaches."):
    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("SEED = 0")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [nbformat.v4.new_markdown_cell(first), parameters, nbformat.v4.new_code_cell("import tgai")]
    return notebook


def test_committed_notebooks_and_readme_match_the_address_in_pyproject():
    address = configure.repository_address()
    for path in NOTEBOOKS:
        committed = nbformat.read(path, as_version=4)
        expected = configure.configure_notebook(nbformat.read(path, as_version=4), path.name, address)
        assert nbformat.writes(committed) == nbformat.writes(expected), (
            f"{path.name} is not what `make colab` writes for {address or 'no address'}: run `make colab`"
        )
    readme = (ROOT / "README.md").read_text()
    assert ("colab-badge.svg" in readme) == bool(address), "README's badge must follow pyproject.toml: `make colab`"


def test_without_an_address_no_badge_points_anywhere_and_the_cell_asks_for_an_upload():
    notebook = configure.configure_notebook(_notebook(), "03_lesson.ipynb", "")
    assert "colab.research.google.com" not in notebook.cells[0].source
    setup = notebook.cells[1]
    assert lessons.is_colab_setup(setup) and 'release = ""' in setup.source and "files.upload()" in setup.source
    assert "parameters" in notebook.cells[2].metadata["tags"], "the setup cell goes before the parameters cell"


def test_with_an_address_a_badge_opens_the_lesson_and_the_cell_installs_the_release():
    address = "https://github.com/example-owner/tgai"
    notebook = configure.configure_notebook(_notebook(), "03_lesson.ipynb", address)
    title, blank, badge = notebook.cells[0].source.splitlines()[:3]
    assert title == "# 03 · A lesson" and not blank
    assert badge == (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        "(https://colab.research.google.com/github/example-owner/tgai/blob/main/notebooks/03_lesson.ipynb)"
    )
    assert f'release = "{address}/releases/latest/download"' in notebook.cells[1].source
    assert max(len(line) for line in notebook.cells[1].source.splitlines()) <= 88, "the page shows 88 characters"
    # Run again with the same address: nothing is added twice. Then without it: the badge goes.
    again = configure.configure_notebook(notebook, "03_lesson.ipynb", address)
    assert sum(lessons.is_colab_setup(cell) for cell in again.cells) == 1
    assert again.cells[0].source.count("colab-badge.svg") == 1
    removed = configure.configure_notebook(again, "03_lesson.ipynb", "")
    assert removed.cells[0].source == "# 03 · A lesson\n\nWhat it teaches."


def test_a_repository_that_is_not_owner_slash_name_is_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.setattr(configure, "PYPROJECT", tmp_path / "pyproject.toml")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "tgai"\nversion = "0.1.0"\n\n[project.urls]\n')
    with pytest.raises(ValueError, match=r"owner/name.*received 'https://github.com/a/b'"):
        configure.set_repository("https://github.com/a/b")
    assert configure.set_repository("a-owner/tgai.kit") == "https://github.com/a-owner/tgai.kit"
    assert configure.repository_address() == "https://github.com/a-owner/tgai.kit"
    assert configure.set_repository("other/tgai") == "https://github.com/other/tgai"
    assert (tmp_path / "pyproject.toml").read_text().count("[project.urls]") == 1


def _run_setup_cell(source, monkeypatch, colab: bool, installed: bool):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda command, check: calls.append(command))
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *rest: None if name == "tgai" and not installed else _FIND_SPEC(name),
    )
    if colab:
        files = types.SimpleNamespace(upload=lambda: {"tgai-0.1.0-py3-none-any.whl": b"wheel"})
        monkeypatch.setitem(sys.modules, "google.colab", types.SimpleNamespace(files=files))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(source, "setup cell", "exec"), {"__name__": "__main__"})  # noqa: S102
    return calls


def test_the_setup_cell_does_nothing_outside_colab_or_when_tgai_is_there(monkeypatch):
    source = configure.setup_cell_source("")
    assert _run_setup_cell(source, monkeypatch, colab=False, installed=False) == []
    assert _run_setup_cell(source, monkeypatch, colab=True, installed=True) == []


def test_on_colab_the_setup_cell_installs_the_wheel_and_the_extras_without_dependencies(monkeypatch, capsys):
    calls = _run_setup_cell(configure.setup_cell_source(""), monkeypatch, colab=True, installed=False)
    (command,) = calls
    assert command[1:5] == ["-m", "pip", "install", "--quiet"] and "--no-deps" in command
    assert "tgai-0.1.0-py3-none-any.whl" in command
    assert set(configure.extras()) <= set(command) and configure.extras(), "colab/install.txt's pins"
    # The install was a stand-in here, so this kernel still cannot import tgai: the cell says to restart.
    assert "Restart session" in capsys.readouterr().out
