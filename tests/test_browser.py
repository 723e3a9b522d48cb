"""Lesson 00 as an instructor and a learner run it: in JupyterLab in a real browser, then from a shared layer.

One execution of lesson 00 serves three checks that each used to run it on their own:

1. **In a real browser.** The instructor opens lesson 00 in `make lab` in headless Chromium and runs every cell
   through the UI. The lab's kernels have `TGAI_HOME` pointed at an empty folder, so the run fills it as
   `make shared` fills a class's shared layer. Needs Debian's `chromium` and `chromium-driver` (`.ci/run`
   installs them); where they are missing, the browser check skips with the install command and the lesson is
   run with papermill instead, so that checks 2 and 3 still run. The lab serves a copy of the notebooks, so
   nothing the browser runs or autosaves reaches the committed files.
2. **From a read-only shared layer.** That folder is made read-only and becomes a learner's `TGAI_SHARED`; the
   learner, with an empty home of their own, runs lesson 00 with papermill. The shared layer must be byte for
   byte what the instructor left, and the glyphs are read from it, never rendered again.
3. **With another seed.** Both runs use `SEED = 1`, so lesson 00's claims are checked under a seed other than the
   committed outputs' one: the instructor's copy has it written into its parameters cell, as a learner would
   edit it; the learner's run gets it from papermill, as `make check-seeds` passes it. (A class shares one seed:
   the glyphs in the shared layer are those of the instructor's seed.)
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import time

import pytest
from browser_tools import CHROMIUM, DRIVER, chromium, requires_chromium
from lab_server import ROOT, running_lab
from snapshots import snapshot

pytestmark = pytest.mark.integration
LESSON = "00_setup.ipynb"
SEED = 1


def _wait(condition, timeout: float, what: str):
    deadline = time.time() + timeout
    while time.time() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _prompts(driver):
    # One input prompt per code cell: "[ ]:" not run, "[*]:" running, "[7]:" done.
    return [element.text.strip() for element in driver.find_elements("css selector", ".jp-CodeCell .jp-InputPrompt")]


def _finished(driver, count):
    prompts = _prompts(driver)
    return len(prompts) == count and all(prompt[1:-2].isdigit() for prompt in prompts)


def _click_menu(driver, menu: str, item: str):
    driver.find_element("xpath", f"//li[contains(@class, 'lm-MenuBar-item')][.//*[text()='{menu}']]").click()
    _wait(
        lambda: driver.find_elements("xpath", f"//li[contains(@class, 'lm-Menu-item')][.//*[text()='{item}']]"),
        10,
        f"the menu item {item!r}",
    )[0].click()


def _run_in_browser(tmp_path: pathlib.Path, home: pathlib.Path) -> dict:
    """Run every cell of lesson 00 through JupyterLab's UI; return what the page showed."""
    copy = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", copy)
    notebook = json.loads((copy / LESSON).read_text())
    parameters = next(cell for cell in notebook["cells"] if "parameters" in cell["metadata"].get("tags", []))
    assert "SEED = 0" in "".join(parameters["source"])
    parameters["source"] = "".join(parameters["source"]).replace("SEED = 0", f"SEED = {SEED}")
    # A training progress bar, left open so that the page still shows it: JupyterLab should draw it as a widget,
    # without tqdm's "IProgress not found" warning (ipywidgets is declared and installed).
    bar = "import tgai.training\n\nbar = tgai.training.ProgressBar(10, 'training')\nbar.on_start(0)\nbar.on_step(4, {})"
    # A slider as the lessons draw them (tgai.widgets.slider), over three frames: moved below, it must redraw.
    frames = (
        "import numpy as np\nimport tgai.widgets\n\nframes = tgai.widgets.Frames(\n"
        "    [np.full((4, 8, 8, 1), index / 2, np.float32) for index in range(3)], ['one', 'two', 'three']\n)\n"
        "tgai.widgets.slider(frames, 'frame', 'slider check')"
    )
    for name, source in (("bar", bar), ("slider", frames)):
        notebook["cells"].append(
            {"cell_type": "code", "execution_count": None, "id": name, "metadata": {}, "outputs": [], "source": source}
        )
    (copy / LESSON).write_text(json.dumps(notebook))
    count = sum(cell["cell_type"] == "code" for cell in notebook["cells"])
    with chromium() as browser, running_lab(tmp_path, notebook_dir=copy, environment={"TGAI_HOME": str(home)}) as base:
        browser.get(f"{base}/lab/tree/{LESSON}")
        # JupyterLab renders a long notebook progressively: wait for a prompt on every code cell of the file.
        _wait(lambda: len(_prompts(browser)) == count, 120, f"the notebook's {count} code cells")
        _wait(
            lambda: browser.find_elements("css selector", ".jp-Notebook-ExecutionIndicator[data-status='idle']"),
            120,
            "an idle kernel",
        )
        _click_menu(browser, "Run", "Run All Cells")
        # Every cell ends with a number in its prompt. A failing cell shows a traceback and stops the run, leaving
        # "[ ]:" behind: fail at once with its text rather than wait.
        deadline = time.time() + 300
        while not _finished(browser, count):
            failed = [
                output.text
                for output in browser.find_elements("css selector", ".jp-OutputArea-output")
                if "Traceback (most recent call last)" in output.text or "Error" in output.text.split("\n")[0]
            ]
            assert not failed, f"a cell failed in the browser: {failed[0][:500]}"
            assert time.time() < deadline, f"cells still running after 300 s: {_prompts(browser)}"
            time.sleep(0.5)
        slid = _move_the_slider(browser)
        return {
            "count": count,
            "slid": slid,
            "prompts": _prompts(browser),
            "text": browser.find_element("css selector", ".jp-Notebook").text,
            "figures": len(browser.find_elements("css selector", ".jp-RenderedImage img")),
            "widgets": len(browser.find_elements("css selector", ".jp-OutputArea-output .jupyter-widgets")),
            "body": browser.find_element("tag name", "body").text,
        }


def _move_the_slider(browser) -> dict:
    """Press the left arrow on the last cell's slider; return its readout and drawn image before and after."""
    from selenium.webdriver.common.keys import Keys

    cell = browser.find_elements("css selector", ".jp-Notebook .jp-CodeCell")[-1]

    def state():
        readouts = cell.find_elements("css selector", ".widget-readout")
        images = cell.find_elements("css selector", ".jp-OutputArea-output img")
        return {
            "readout": readouts[0].text if readouts else None,
            "image": images[-1].get_attribute("src") if images else None,
        }

    before = _wait(lambda: state() if state()["image"] else None, 60, "the slider's first drawing")
    cell.find_element("css selector", ".noUi-handle").send_keys(Keys.ARROW_LEFT)
    deadline = time.time() + 30
    after = state()
    while after["image"] == before["image"] and time.time() < deadline:
        time.sleep(0.5)
        after = state()
    return {"before": before, "after": after}


def _papermill(output: pathlib.Path, environment: dict, parameters: dict | None = None) -> dict:
    """Run lesson 00 in a fresh kernel with `environment` set; return the executed notebook."""
    import papermill

    saved = dict(os.environ)
    try:
        os.environ.update(environment)
        if "TGAI_SHARED" not in environment:
            os.environ.pop("TGAI_SHARED", None)
        papermill.execute_notebook(
            str(ROOT / "notebooks" / LESSON),
            str(output),
            parameters=parameters or {},
            kernel_name="python3",
            cwd=str(ROOT / "notebooks"),
            progress_bar=False,
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return json.loads(output.read_text())


@pytest.fixture(scope="module")
def instructor(tmp_path_factory):
    """Lesson 00 run once into an empty folder, the future shared layer: in the browser where Chromium is."""
    tmp_path = tmp_path_factory.mktemp("instructor")
    shared = tmp_path / "shared"
    shared.mkdir()
    if CHROMIUM and DRIVER:
        return shared, _run_in_browser(tmp_path, shared)
    pytest.importorskip("papermill")
    _papermill(
        tmp_path / "instructor.ipynb",
        {"TGAI_OFFLINE": "1", "TGAI_PROFILE": "class", "TGAI_HOME": str(shared)},
        parameters={"SEED": SEED},
    )
    return shared, None


@requires_chromium
def test_lesson_00_runs_in_jupyterlab_in_a_real_browser(instructor):
    _, page = instructor
    numbers = [int(prompt[1:-2]) for prompt in page["prompts"]]
    assert len(numbers) == page["count"] and numbers == sorted(numbers), numbers
    assert "tgai 0.1.0" in page["text"] and "profile class" in page["text"], "the banner should be printed"
    assert f"seed {SEED}" in page["text"], "the banner should name the seed written into the parameters cell"
    assert page["figures"] >= 4, f"lesson 00 draws at least 4 figures; the browser shows {page['figures']}"
    # The kit's JupyterLab settings (jupyterlab/overrides.json) keep the news popup away.
    assert "official Jupyter news" not in page["body"]
    assert page["widgets"], "the training progress bar should be drawn as a widget"
    slid = page["slid"]
    assert slid["before"]["readout"] == "2" and slid["after"]["readout"] == "1", slid
    assert slid["after"]["image"] and slid["after"]["image"] != slid["before"]["image"], (
        "moving the slider should redraw the figure"
    )
    assert "TqdmWarning" not in page["text"] and "IProgress not found" not in page["text"], page["text"][-500:]


def test_a_learner_runs_lesson_00_with_another_seed_from_a_read_only_shared_layer_without_writing_to_it(
    instructor, tmp_path
):
    pytest.importorskip("papermill")
    shared, _ = instructor
    home = tmp_path / "learner"
    for path in [shared, *shared.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    before = snapshot(shared)
    assert any(name.startswith("glyphs/") for name in before), "the instructor's run should have filled the layer"
    try:
        executed = _papermill(
            tmp_path / "learner.ipynb",
            {"TGAI_OFFLINE": "1", "TGAI_PROFILE": "class", "TGAI_HOME": str(home), "TGAI_SHARED": str(shared)},
            parameters={"SEED": SEED},
        )
    finally:
        for path in [shared, *shared.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert snapshot(shared) == before, "the learner's run must not write into the shared layer"
    assert not list(home.rglob("glyphs/*.npz")), "glyphs come from the shared layer, never rendered again"
    setup_cell = next(cell for cell in executed["cells"] if "tgai.setup(" in "".join(cell["source"]))
    banner = "".join(setup_cell["outputs"][0]["text"])
    assert f"seed {SEED}" in banner and "profile class" in banner
