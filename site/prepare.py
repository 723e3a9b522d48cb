"""Copy the lessons and the guides into the site's source folder, as a reader should see them (`make site`).

The committed notebooks carry machinery for their tests: nbval markers (`# NBVAL_IGNORE_OUTPUT`), lint
markers (`# noqa: ...`) and claim cells, whose asserts re-check the prose when a lesson runs. On the site the
markers are removed and each claim cell is folded behind a "Show code" toggle (myst-nb's `hide-input` tag), so
the page reads as a lesson while every check stays one click away. Slider cells (`tgai.widgets.slider`) need a
live kernel, so a static page leaves them out (`remove-cell`) with the notebook's saved widget state, which
would load ipywidgets' scripts from a CDN; the prose beside each slider says what it shows. Colab's setup cell and
badge (`make colab`) are left out too: the site has its own launch buttons, and the badge is an image from another
host. The notebooks themselves are not touched.

Usage: python site/prepare.py SOURCE_FOLDER
"""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import sys

from tgai.core import lessons

ROOT = pathlib.Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^\s*# NBVAL_[A-Z_]+\s*$")
# `# noqa: E402  (why)` becomes `# why`: the lint code is for ruff, the reason is for the reader.
LINT = re.compile(r"\s*# noqa(?:: [A-Z0-9, ]+)?(?:\s+\((?P<why>.*)\))?$")
COLAB_BADGE = re.compile(r"^\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)\n\n?", re.M)
GUIDES = {"instructor.md": ROOT / "docs" / "instructor.md", "hub.md": ROOT / "docs" / "hub.md"}


def is_claim_cell(cell: dict) -> bool:
    """A code cell that asserts and prints nothing: a lesson's check of its own prose."""
    source = "".join(cell["source"])
    return (
        cell["cell_type"] == "code" and not cell.get("outputs") and re.search(r"^\s*assert ", source, re.M) is not None
    )


def _reason(match: re.Match) -> str:
    return f"  # {match['why']}" if match["why"] else ""


def for_the_site(notebook: dict) -> dict:
    """The notebook with test markers removed from its code, claim cells folded and slider cells left out."""
    notebook.get("metadata", {}).pop("widgets", None)
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            cell["source"] = COLAB_BADGE.sub("", "".join(cell["source"]))
        if cell["cell_type"] != "code":
            continue
        if lessons.is_colab_setup(cell):
            cell.setdefault("metadata", {}).setdefault("tags", []).append("remove-cell")
        elif "tgai.widgets.slider(" in "".join(cell["source"]):
            cell.setdefault("metadata", {}).setdefault("tags", []).append("remove-cell")
            cell["outputs"] = []
        elif is_claim_cell(cell):
            tags = cell.setdefault("metadata", {}).setdefault("tags", [])
            if "hide-input" not in tags:
                tags.append("hide-input")
        lines = [LINT.sub(_reason, line) for line in "".join(cell["source"]).splitlines()]
        kept = [line for line in lines if not MARKER.match(line)]
        cell["source"] = "\n".join(kept)
    return notebook


def main(folder: str) -> None:
    target = pathlib.Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        text = json.dumps(for_the_site(json.loads(notebook.read_text())), indent=1, ensure_ascii=False)
        (target / notebook.name).write_text(text + "\n")
    for name in ("conf.py", "index.md", "install.md", "offline.md", "colab.md", "troubleshooting.md"):
        shutil.copy2(ROOT / "site" / name, target / name)
    for name, guide in GUIDES.items():
        shutil.copy2(guide, target / name)
    # The install, offline and troubleshooting pages include sections of the README, read from here.
    shutil.copy2(ROOT / "README.md", target / "README.md")
    mathjax = ROOT / "site" / "node_modules" / "mathjax" / "es5"
    for part in ("tex-chtml.js", "input", "output", "ui", "a11y"):
        source, copy = mathjax / part, target / "_static" / "mathjax" / part
        copy.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, copy)
        else:
            shutil.copy2(source, copy)


if __name__ == "__main__":
    main(*sys.argv[1:])
