"""Notebook hygiene: executed in order from a fresh kernel, no errors, no paths or usernames, small files."""

import getpass
import json
import pathlib
import re

import nbformat
import pytest

from tgai.core import lessons

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MAX_BYTES = 2 * 1024 * 1024
# Absolute paths of this machine type and of common home folders, and the current user's name.
PATH_PATTERN = re.compile(r"(/root\b|/home/\w|/Users/\w|/work/|/tmp/|site-packages|[A-Z]:\\\\)")


def _code_cells(notebook):
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code" and "".join(cell["source"]).strip()]


def _lesson_code_cells(notebook):
    return [cell for cell in _code_cells(notebook) if not lessons.is_colab_setup(cell)]


def _output_text(output):
    parts = [output.get("text", "")]
    for mime, value in output.get("data", {}).items():
        if mime.startswith("text/") or mime.endswith("json"):
            parts.append(value if isinstance(value, str) else "".join(value))
    parts.extend(output.get("traceback", []))
    return "".join("".join(part) if isinstance(part, list) else part for part in parts)


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name == "00_setup.ipynb"


@pytest.fixture(params=NOTEBOOKS, ids=lambda path: path.name)
def notebook(request):
    return request.param, json.loads(request.param.read_text())


def test_executed_in_order_from_one(notebook):
    path, content = notebook
    counts = [cell.get("execution_count") for cell in _code_cells(content)]
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: re-run it top to bottom with make notebooks"


def test_no_error_outputs(notebook):
    path, content = notebook
    for index, cell in enumerate(content["cells"]):
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"{path.name} cell {index} stores an error"


def test_no_paths_or_usernames(notebook):
    path, content = notebook
    user = getpass.getuser()
    for index, cell in enumerate(content["cells"]):
        for output in cell.get("outputs", []):
            text = _output_text(output)
            match = PATH_PATTERN.search(text)
            assert match is None, f"{path.name} cell {index} output shows a path: {match.group(0)!r}"
            if user not in ("root", "runner") and len(user) > 3:
                assert user not in text, f"{path.name} cell {index} output shows the username"


def test_valid_nbformat_with_unique_cell_ids(notebook):
    """nbformat 4.5 notebooks need a unique id per cell; a cell added without one is a warning today, an error later."""
    path, content = notebook
    ids = [cell.get("id") for cell in content["cells"]]
    missing = [index for index, cell_id in enumerate(ids) if not cell_id]
    assert not missing, (
        f"{path.name}: cells {missing} have no id; give each a unique one (nbformat.v4.new_markdown_cell does)"
    )
    assert len(set(ids)) == len(ids), f"{path.name}: cell ids repeat"
    nbformat.validate(nbformat.from_dict(content))


def test_size_cap(notebook):
    path, _ = notebook
    assert path.stat().st_size <= MAX_BYTES, f"{path.name} is {path.stat().st_size} bytes; shrink its figures"


def test_nbval_markers_are_comments_not_tags(notebook):
    path, content = notebook
    for index, cell in enumerate(content["cells"]):
        tags = cell.get("metadata", {}).get("tags", [])
        assert not [tag for tag in tags if tag.lower().startswith("nbval")], (
            f"{path.name} cell {index}: use a # NBVAL comment"
        )
        assert set(tags) <= {"parameters"}, f"{path.name} cell {index}: the only tag the kit uses is 'parameters'"


def test_structure(notebook):
    path, content = notebook
    cells = content["cells"]
    first = "".join(cells[0]["source"])
    assert cells[0]["cell_type"] == "markdown" and first.startswith("# "), f"{path.name}: starts with one H1"
    headings = [
        line for cell in cells if cell["cell_type"] == "markdown" for line in "".join(cell["source"]).splitlines()
    ]
    assert sum(line.startswith("# ") for line in headings) == 1, f"{path.name}: exactly one H1"
    assert "Estimated time" in first, f"{path.name}: the overview states the estimated time"
    assert lessons.is_colab_setup(_code_cells(content)[0]), (
        f"{path.name}: the first code cell is Colab's setup cell (`make colab` writes it)"
    )
    code = _lesson_code_cells(content)
    assert "parameters" in code[0].get("metadata", {}).get("tags", []), (
        f"{path.name}: the first code cell after Colab's setup cell is the parameters cell"
    )
    assert "SEED = " in "".join(code[0]["source"])
    assert "tgai.setup(" in "".join(code[1]["source"]), f"{path.name}: second code cell calls tgai.setup"
    assert content["metadata"]["kernelspec"]["name"] == "python3"


def _markdown(content):
    return "\n".join("".join(cell["source"]) for cell in content["cells"] if cell["cell_type"] == "markdown")


def test_readable_figures_one_kernel_name_one_time_estimate(notebook):
    path, content = notebook
    setup = "".join(_lesson_code_cells(content)[1]["source"])
    dpi = re.search(r'figure\.dpi"\] = (\d+)', setup)
    assert dpi and int(dpi.group(1)) >= 100, (
        f"{path.name}: set plt.rcParams['figure.dpi'] to at least 100 in the setup cell"
    )
    # One kernel display name: the one `make install` registers, so that saving in JupyterLab changes nothing.
    registered = re.search(r'--display-name "([^"]+)"', (path.parent.parent / "Makefile").read_text()).group(1)
    assert content["metadata"]["kernelspec"]["display_name"] == registered, (
        f"{path.name}: kernel display name {registered!r}"
    )
    estimates = re.findall(r"Estimated time", _markdown(content))
    assert len(estimates) == 1, f"{path.name}: state the estimated time once, in the overview"
    assert "measured by `make bench`" in "".join(content["cells"][0]["source"]), (
        f"{path.name}: say where the time comes from"
    )


def test_links_its_papers_and_nothing_outside_the_repository(notebook):
    path, content = notebook
    prose = _markdown(content)
    assert re.search(r"\]\(https://(arxiv\.org|doi\.org)/", prose), f"{path.name}: link the papers it uses"
    for outside in ("RESEARCH.md", "DESIGN.md", "shared/seed", "the issue"):
        assert outside not in json.dumps(content["cells"]), (
            f"{path.name}: refers to {outside!r}, which learners do not have"
        )


def test_claim_messages_speak_to_learners(notebook):
    path, content = notebook
    code = "\n".join("".join(cell["source"]) for cell in _code_cells(content))
    assert "update the prose" not in code, f"{path.name}: an assertion message should tell a learner what happened"


def test_code_lines_fit_the_page(notebook):
    # 88 characters: what the site shows without a sideways scroll (`ruff format notebooks` wraps code at 88).
    path, content = notebook
    long = [
        f"cell {index}: {line[:60]}..."
        for index, cell in enumerate(content["cells"])
        if cell["cell_type"] == "code"
        for line in "".join(cell["source"]).splitlines()
        if len(line) > 88
    ]
    assert not long, f"{path.name}: code lines over 88 characters: {long}"
