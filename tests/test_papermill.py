"""Every notebook has a papermill parameters cell; lesson 00 runs end to end with another SEED."""

import json
import pathlib

import pytest

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"


def test_every_notebook_has_one_parameters_cell_with_seed():
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        tagged = [cell for cell in cells if "parameters" in cell.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name}: exactly one cell tagged 'parameters'"
        assert "SEED = 0" in "".join(tagged[0]["source"]), f"{path.name}: SEED = 0 is the default"


@pytest.mark.slow
def test_setup_notebook_runs_with_another_seed(tmp_path, monkeypatch):
    papermill = pytest.importorskip("papermill")
    monkeypatch.setenv("TGAI_OFFLINE", "1")
    monkeypatch.setenv("TGAI_PROFILE", "class")
    output = tmp_path / "00_seed1.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / "00_setup.ipynb"),
        str(output),
        parameters={"SEED": 1},
        kernel_name="python3",
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    executed = json.loads(output.read_text())
    setup_cell = next(cell for cell in executed["cells"] if "tgai.setup(" in "".join(cell["source"]))
    banner = "".join(setup_cell["outputs"][0]["text"])
    assert "seed 1" in banner and "profile class" in banner
