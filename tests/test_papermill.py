"""Every notebook has a papermill parameters cell, and its setup cell refuses a parameter out of range by name.

A parameter reaches a lesson the way papermill (and `make check-seeds`) passes it: a cell assigning it right after
the `parameters` cell. The bad values come from `notebooks/lessons.toml`. The range checks run in this process, on the
notebook's own first code cells, rather than
in a kernel each: the refusal must come from the setup cell, before anything trains, so nothing later is needed.
Lesson 00 runs end to end with another `SEED` in tests/test_browser.py.
"""

import json
import pathlib

import matplotlib
import pytest

from tgai.core import lessons

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
# The parameters cell and the setup cell: a refusal must come from one of the first two code cells.
SETUP_CELLS = 2


def _parameters_cell(cells):
    tagged = [cell for cell in cells if "parameters" in cell.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    return tagged[0]


def test_every_notebook_has_one_parameters_cell_with_seed():
    for path in [lesson.path for lesson in lessons.load()]:
        cells = json.loads(path.read_text())["cells"]
        parameters = _parameters_cell(cells)
        assert "SEED = 0" in "".join(parameters["source"]), f"{path.name}: SEED = 0 is the default"
        code = [cell for cell in cells if cell["cell_type"] == "code" and not lessons.is_colab_setup(cell)]
        assert code[0] is parameters, f"{path.name}: the parameters cell is the first code cell after Colab's"
        assert "tgai.setup(seed=SEED)" in "".join(code[1]["source"]), f"{path.name}: the setup cell comes next"


def _run_setup_cells(notebook: str, parameters: dict) -> dict:
    """Execute the parameters cell, papermill's injected assignments, then the setup cell; return the namespace."""
    cells = [
        cell
        for cell in json.loads((NOTEBOOKS / notebook).read_text())["cells"]
        if cell["cell_type"] == "code" and not lessons.is_colab_setup(cell)
    ]
    injected = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    namespace = {"__name__": "__main__"}
    with matplotlib.rc_context():  # the setup cells set figure defaults for their kernel, not for this process
        for source in [
            "".join(cells[0]["source"]),
            injected,
            *("".join(cell["source"]) for cell in cells[1:SETUP_CELLS]),
        ]:
            exec(compile(source, notebook, "exec"), namespace)  # noqa: S102 - the kit's own notebooks
    return namespace


@pytest.mark.parametrize(
    ("notebook", "parameters", "message"),
    [(lesson.notebook, values, message) for lesson in lessons.load() for values, message in lesson.bad_parameters],
)
def test_a_parameter_out_of_range_is_named_before_anything_trains(monkeypatch, notebook, parameters, message):
    # A learner who sets a parameter the lesson cannot run meets the name they wrote, not an internal argument.
    monkeypatch.setenv("TGAI_OFFLINE", "1")
    monkeypatch.setenv("TGAI_PROFILE", "class")
    monkeypatch.chdir(NOTEBOOKS)
    with pytest.raises(ValueError, match=message):
        _run_setup_cells(notebook, parameters)


@pytest.mark.parametrize("notebook", [lesson.notebook for lesson in lessons.load()])
def test_the_setup_cell_takes_an_injected_seed(monkeypatch, notebook, capsys):
    monkeypatch.setenv("TGAI_OFFLINE", "1")
    monkeypatch.setenv("TGAI_PROFILE", "class")
    monkeypatch.chdir(NOTEBOOKS)
    namespace = _run_setup_cells(notebook, {"SEED": 3})
    assert "seed 3 " in namespace["BANNER"] and "profile class" in namespace["BANNER"]
    capsys.readouterr()
