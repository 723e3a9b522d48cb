"""Start `make lab` on a free loopback port for a test, and stop it with its whole process group.

Importable from pytest (tests/ is on `sys.path`). Used by the README-command test and the browser test.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import socket
import subprocess
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_lab(
    tmp_path: pathlib.Path,
    notebook_dir: pathlib.Path | None = None,
    timeout: float = 120.0,
    environment: dict | None = None,
):
    """Run `make lab` (token-less, loopback only) and yield its base URL once `/lab` answers 200.

    Args:
        tmp_path: Folder for Jupyter's runtime and config, so that the test never reads or writes the user's.
        notebook_dir: Serve this folder as it is (a copy, when the test runs or saves notebooks). Without it,
            `make lab` serves its working copy of the lessons, made in `tmp_path / "work"`.
        timeout: Seconds to wait for the server.
        environment: Variables to set for the lab and its kernels (e.g. `TGAI_HOME`), over this process's.
    """
    port = free_port()
    environment = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "TGAI_OFFLINE": "1",
        **(environment or {}),
    }
    lab_args = (
        "--no-browser --ip=127.0.0.1 --ServerApp.token= --ServerApp.password= --ServerApp.disable_check_xsrf=True"
    )
    command = ["make", "-s", "lab", f"PORT={port}", f"LAB_ARGS={lab_args}"]
    if notebook_dir is not None:
        command.append(f"NOTEBOOK_DIR={notebook_dir}")
    else:
        command.append(f"WORK={tmp_path / 'work'}")
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{base}/lab", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert process.poll() is None, "make lab exited early"
            assert time.time() < deadline, f"make lab did not answer within {timeout:.0f} s"
            time.sleep(1)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
