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


@pytest.mark.slow
@pytest.mark.parametrize(
    ("notebook", "parameters", "message"),
    [
        ("03_gan_finetuning.ipynb", {"N_TARGET": 5}, "N_TARGET must be an integer from 10 to"),
        ("04_vae_domain_adaptation.ipynb", {"N_TARGET": 5}, "N_TARGET must be an integer from 10 to"),
        ("04_vae_domain_adaptation.ipynb", {"N_FEW": 0}, "N_FEW must be an integer from 10 to 100"),
        ("05_parameter_efficient_finetuning.ipynb", {"RANK": 0}, "RANK must be an integer from 1 to 32"),
        ("05_parameter_efficient_finetuning.ipynb", {"LORA_LEARNING_RATE": -1.0}, "LORA_LEARNING_RATE must be a finite number > 0"),
    ],
)
def test_a_parameter_out_of_range_is_named_before_anything_trains(tmp_path, monkeypatch, notebook, parameters, message):
    # A learner who sets a parameter the lesson cannot run meets the name they wrote, not an internal argument.
    papermill = pytest.importorskip("papermill")
    monkeypatch.setenv("TGAI_OFFLINE", "1")
    monkeypatch.setenv("TGAI_PROFILE", "class")
    with pytest.raises(papermill.PapermillExecutionError, match=message) as raised:
        papermill.execute_notebook(
            str(NOTEBOOKS / notebook), str(tmp_path / notebook), parameters=parameters,
            kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False,
        )
    assert raised.value.ename == "ValueError" and raised.value.exec_count <= 3, "the setup cell should refuse it"
