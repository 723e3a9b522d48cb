"""JupyterLab in a real browser: `make lab`, lesson 00 opened in headless Chromium, every cell run through the UI.

Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them); skips with the install command where
they are missing. The lab serves a copy of the notebooks, so nothing the browser runs or autosaves reaches the
committed files.
"""

from __future__ import annotations

import json
import shutil
import time

import pytest
from browser_tools import chromium, requires_chromium
from lab_server import ROOT, running_lab

pytestmark = [pytest.mark.slow, requires_chromium]
LESSON = "00_setup.ipynb"


@pytest.fixture
def browser():
    with chromium() as driver:
        yield driver


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
    _wait(lambda: driver.find_elements("xpath", f"//li[contains(@class, 'lm-Menu-item')][.//*[text()='{item}']]"),
          10, f"the menu item {item!r}")[0].click()


def test_lesson_00_runs_in_jupyterlab_in_a_real_browser(tmp_path, browser):
    copy = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", copy)
    with running_lab(tmp_path, notebook_dir=copy) as base:
        browser.get(f"{base}/lab/tree/{LESSON}")
        # JupyterLab renders a long notebook progressively: wait for a prompt on every code cell of the file.
        count = sum(cell["cell_type"] == "code" for cell in json.loads((copy / LESSON).read_text())["cells"])
        _wait(lambda: len(_prompts(browser)) == count, 120, f"the notebook's {count} code cells")
        _wait(lambda: browser.find_elements("css selector", ".jp-Notebook-ExecutionIndicator[data-status='idle']"),
              120, "an idle kernel")
        _click_menu(browser, "Run", "Run All Cells")
        # Every cell ends with a number in its prompt. A failing cell shows a traceback and stops the run, leaving
        # "[ ]:" behind: fail at once with its text rather than wait.
        deadline = time.time() + 300
        while not _finished(browser, count):
            failed = [output.text for output in browser.find_elements("css selector", ".jp-OutputArea-output")
                      if "Traceback (most recent call last)" in output.text or "Error" in output.text.split("\n")[0]]
            assert not failed, f"a cell failed in the browser: {failed[0][:500]}"
            assert time.time() < deadline, f"cells still running after 300 s: {_prompts(browser)}"
            time.sleep(0.5)
        numbers = [int(prompt[1:-2]) for prompt in _prompts(browser)]
        assert len(numbers) == count and numbers == sorted(numbers), numbers
        text = browser.find_element("css selector", ".jp-Notebook").text
        assert "tgai 0.1.0" in text and "profile class" in text, "the banner should be printed"
        figures = browser.find_elements("css selector", ".jp-RenderedImage img")
        assert len(figures) >= 4, f"lesson 00 draws at least 4 figures; the browser shows {len(figures)}"
        # The kit's JupyterLab settings (jupyterlab/overrides.json) keep the news popup away.
        assert "official Jupyter news" not in browser.find_element("tag name", "body").text
