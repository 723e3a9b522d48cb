"""The wheel `make dist` builds works without a clone: it carries the checkpoints and runs the first lessons.

The wheel is built from a copy of the tracked files, installed into a fresh virtual environment outside the
repository, and run from a folder with no clone above it. Only the wheel's `tgai` is installed there; the pinned
third-party packages are read from the kit's `.venv` through a `.pth` file added after the install, so that
nothing downloads and pip never sees the clone's editable `tgai`.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Lesson 03's code cells up to the source model's manifest entry: Colab's setup cell (which does nothing outside
# Colab), parameters, imports, data, the source GAN.
LESSON_03_CELLS = 6


def _code_cells(notebook: str, count: int | None = None) -> str:
    cells = json.loads((ROOT / "notebooks" / notebook).read_text())["cells"]
    sources = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"][:count]
    return "\n\n".join(sources)


def _build_wheel(folder: pathlib.Path) -> pathlib.Path:
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    source = folder / "source"
    for name in filter(None, tracked.decode().split("\0")):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", str(folder / "dist"), str(source)],
        capture_output=True,
        check=True,
    )
    (wheel,) = (folder / "dist").glob("tgai-*.whl")
    return wheel


@pytest.mark.integration
def test_the_wheel_carries_the_checkpoints_and_runs_lessons_00_and_03_without_a_clone(tmp_path):
    wheel = _build_wheel(tmp_path)
    manifest = json.loads((ROOT / "data" / "manifest.json").read_text())
    packaged = set(zipfile.ZipFile(wheel).namelist())
    assert "tgai/weights/manifest.json" in packaged
    assert {f"tgai/weights/{entry['file']}" for entry in manifest.values()} <= packaged

    environment = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(environment)], check=True)
    python = environment / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    site_packages = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (pathlib.Path(site_packages) / "kit_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    script = f"""
import pathlib, sys
import tgai
from tgai.core import checkpoints
installed = pathlib.Path(tgai.__file__).resolve()
assert installed.is_relative_to(pathlib.Path(sys.prefix).resolve()), installed
assert checkpoints.data_dir().resolve() == installed.parent / "weights", checkpoints.data_dir()
{_code_cells("00_setup.ipynb")}

{_code_cells("03_gan_finetuning.ipynb", LESSON_03_CELLS)}
print("lessons ran from", installed.parent)
"""
    work = tmp_path / "work"
    work.mkdir()
    run_environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("TGAI_", "PYTHON", "VIRTUAL_ENV"))
    }
    run_environment.update(
        {"TGAI_OFFLINE": "1", "TGAI_PROGRESS": "0", "TGAI_HOME": str(tmp_path / "home"), "MPLBACKEND": "Agg"}
    )
    result = subprocess.run(
        [str(python), "-c", script], cwd=work, env=run_environment, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"lessons ran from {pathlib.Path(site_packages).resolve() / 'tgai'}" in result.stdout
