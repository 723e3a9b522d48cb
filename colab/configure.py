"""Point the kit at its public address for Colab: badges, setup cells and the site's launch buttons (`make colab`).

The public address lives in one place, `pyproject.toml`'s `[project.urls]` (`Repository`). This script
writes it there when given one, then makes every other place agree with it:

- Each lesson gets a setup cell before its parameters cell. It does something only when `google.colab` is in
  `sys.modules`, and only when `tgai` is not installed yet: it installs the kit's wheel from the repository's
  latest release (or, with no address, from a file the learner uploads: `make dist` builds it), plus
  `colab/install.txt`, all with `--no-deps`, so that Colab's TensorFlow, Keras and numpy, already imported,
  stay as they are. It says when the kernel needs a restart.
- With an address, the README and each lesson's first cell carry an "Open In Colab" badge, in the form the
  TensorFlow docs use; without one, no badge is written and any earlier badge is removed.
- The site's launch buttons (`site/conf.py`) read the same `[project.urls]`.

Usage:
    python colab/configure.py [owner/name]     # make colab REPOSITORY=owner/name
    python colab/configure.py                  # keep the address pyproject.toml holds (none: no badges)
    python colab/configure.py --address [owner/name]   # print the address, changing nothing (make site)
"""

from __future__ import annotations

import pathlib
import re
import sys
import tomllib

from tgai.core import lessons

ROOT = pathlib.Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
README = ROOT / "README.md"
NOTEBOOKS = ROOT / "notebooks"
SETUP_MARKER = lessons.COLAB_SETUP_MARKER
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE = re.compile(r"^\[!\[Open In Colab\]\(" + re.escape(BADGE_IMAGE) + r"\)\]\([^)]*\)\n\n?", re.M)
_REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
_URLS_TABLE = re.compile(r"^\[project\.urls\]\n(?:(?!\[).*\n)*", re.M)

_SETUP_CELL = """\
{marker} installs the kit in this session (`make colab` writes this cell).
# Anywhere else it does nothing.
import importlib.util
import subprocess
import sys

if "google.colab" in sys.modules and importlib.util.find_spec("tgai") is None:
    # The kit's latest release; with no public address yet, an uploaded wheel.
    release = "{release}"
    wheel = f"{{release}}/tgai-{version}-py3-none-any.whl" if release else ""
    if not wheel:
        from google.colab import files

        wheel = next(iter(files.upload()))  # the tgai-*.whl that `make dist` builds
    extras = [{extras}]  # colab/install.txt
    # --no-deps: Colab's TensorFlow, Keras and numpy stay; the kit supports them.
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    subprocess.run([*pip, wheel, *extras], check=True)
    importlib.invalidate_caches()
    if importlib.util.find_spec("tgai") is None:
        print("This kernel cannot see tgai yet: Runtime > Restart session, run on.")
    else:
        print("tgai installed; no restart needed.")"""


def repository_address() -> str:
    """The repository's public address from `pyproject.toml`'s `[project.urls]`, or `""` when none is set."""
    urls = tomllib.loads(PYPROJECT.read_text())["project"].get("urls", {})
    return urls.get("Repository", "").rstrip("/")


def set_repository(repository: str) -> str:
    """Write `https://github.com/<repository>` into `[project.urls]` and return it.

    Raises:
        ValueError: if `repository` is not `owner/name`.
    """
    address = f"https://github.com/{_checked(repository)}"
    table = f'[project.urls]\nRepository = "{address}"\n\n'
    text = PYPROJECT.read_text()
    PYPROJECT.write_text(_URLS_TABLE.sub(table, text, count=1) if _URLS_TABLE.search(text) else text + "\n" + table)
    return address


def _checked(repository: str) -> str:
    """`repository`, if it is `owner/name`.

    Raises:
        ValueError: naming the value received and the form expected.
    """
    if not _REPOSITORY.match(repository):
        raise ValueError(
            f"REPOSITORY must be a GitHub repository as owner/name, such as 'tgai-course/tgai'; received "
            f"{repository!r}. Run `make colab REPOSITORY=owner/name`."
        )
    return repository


def extras() -> list[str]:
    """The pinned packages of `colab/install.txt`, which the setup cell installs beside the wheel."""
    lines = (ROOT / "colab" / "install.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def release_address(address: str) -> str:
    """Where the repository's latest release keeps its files, or `""` without an address."""
    return f"{address}/releases/latest/download" if address else ""


def setup_cell_source(address: str) -> str:
    """The source of the Colab setup cell for `address` (`""`: the learner uploads the wheel)."""
    return _SETUP_CELL.format(
        marker=SETUP_MARKER,
        release=release_address(address),
        version=tomllib.loads(PYPROJECT.read_text())["project"]["version"],
        extras=", ".join(f'"{package}"' for package in extras()),
    )


def badge(address: str, notebook_path: str) -> str:
    """An "Open In Colab" badge in the TensorFlow docs' form, opening `notebook_path` from the main branch."""
    target = address.replace("https://github.com/", "https://colab.research.google.com/github/")
    return f"[![Open In Colab]({BADGE_IMAGE})]({target}/blob/main/{notebook_path})\n\n"


def _with_badge(text: str, line: str) -> str:
    """`text` (a markdown cell or the README) with its badge replaced by `line` (`""`: removed), after the H1."""
    text = BADGE.sub("", text)
    if not line:
        return text
    title, _, rest = text.partition("\n")
    return f"{title}\n\n{line}{rest.lstrip(chr(10))}"


def configure_notebook(notebook, name: str, address: str):
    """The notebook (an `nbformat` node) with its badge and setup cell set for `address`; other cells as they are."""
    import nbformat

    cells = notebook.cells
    cells[0].source = _with_badge(cells[0].source, badge(address, f"notebooks/{name}") if address else "")
    source = setup_cell_source(address)
    existing = [cell for cell in cells if lessons.is_colab_setup(cell)]
    if existing:
        existing[0].source = source
    else:
        cell = nbformat.v4.new_code_cell(source)
        cell.id = "colab-setup"
        position = next(index for index, cell in enumerate(cells) if cell.cell_type == "code")
        cells.insert(position, cell)
    return notebook


def main(argv: list[str]) -> int:
    import nbformat

    try:
        if argv and argv[0] == "--address":
            print(f"https://github.com/{_checked(argv[1])}" if argv[1:] and argv[1] else repository_address())
            return 0
        address = set_repository(argv[0]) if argv and argv[0] else repository_address()
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        before = nbformat.writes(notebook)
        after = nbformat.writes(configure_notebook(notebook, path.name, address))
        if after != before:  # an unchanged notebook stays byte-identical
            path.write_text(after + "\n")
    readme = README.read_text()
    README.write_text(_with_badge(readme, badge(address, "notebooks/00_setup.ipynb") if address else ""))
    print(f"Colab: {address or 'no public address: no badges; the setup cells ask for the wheel as an upload'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
