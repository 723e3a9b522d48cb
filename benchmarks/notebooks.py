"""Notebook wall times, kernel CPU and peak kernel memory: each lesson headless, in a fresh kernel, offline.

Each notebook runs through papermill from `notebooks/` (so relative paths resolve as in class) and writes its
executed copy into a temporary folder: the committed notebooks are never touched. The baseline is the
3-minute budget per notebook that the class profile promises; the ratio is budget / wall time (> 1: inside
the budget). One run per notebook: a notebook is itself minutes of work, so its spread is not measured.

papermill runs in a child process of its own, whose only child is the kernel, so that process's
`RUSAGE_CHILDREN` is the kernel's alone: its CPU seconds and its peak resident memory (what one learner costs
a shared server; `docs/hub.md` turns them into a class-size table).
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import subprocess
import sys
import tempfile

from benchmarks import common

NOTEBOOKS = common.ROOT / "notebooks"
BUDGET_SECONDS = 180.0

# Runs in a child process: execute one notebook, then report the kernel's resources as one line of JSON.
_EXECUTE = """
import json, resource, sys
import papermill
papermill.execute_notebook(sys.argv[1], sys.argv[2], kernel_name="python3", cwd=sys.argv[3], progress_bar=False,
log_output=False, parameters=json.loads(sys.argv[4]), allow_errors=sys.argv[5] == "1")
usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the kernel, reaped when papermill shut it down
print(json.dumps({"peak_rss_bytes": usage.ru_maxrss * 1024, "cpu_seconds": usage.ru_utime + usage.ru_stime}))
"""


def execute(
    path: pathlib.Path, output: pathlib.Path, parameters: dict | None = None, allow_errors: bool = False
) -> dict:
    """Execute one notebook in a fresh kernel; return the kernel's peak resident memory and CPU seconds.

    `parameters` override the notebook's parameters cell, as `papermill -p` does (`{"SEED": 3}`). Relative paths
    resolve from `notebooks/`, wherever the notebook itself lies. With `allow_errors` the cells after a failing
    one still run (the failure is still raised at the end).

    Raises:
        RuntimeError: with the last line of the error when the notebook fails.
    """
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            _EXECUTE,
            str(path),
            str(output),
            str(NOTEBOOKS),
            json.dumps(parameters or {}),
            "1" if allow_errors else "0",
        ],
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        lines = [line for line in run.stderr.strip().splitlines() if line.strip()] or ["no output"]
        raise RuntimeError(lines[-1][:160])
    return json.loads(run.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def lesson_environment(profile: str):
    """Run kernels started inside as `make notebooks` runs the lessons: offline, in `profile`, no progress bars.

    A kernel inherits this process's environment; the previous values come back on exit.
    """
    environment = {"TGAI_OFFLINE": "1", "TGAI_PROFILE": profile, "TGAI_PROGRESS": "0"}
    saved = {key: os.environ.get(key) for key in environment}
    os.environ.update(environment)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def notebook_paths(which: str = "all") -> list[pathlib.Path]:
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if which == "first":
        return paths[:1]
    if which == "none":
        return []
    return paths


def run(scale: common.Scale, log=print) -> list[dict]:
    import tgai

    paths = notebook_paths(scale.notebooks)
    rows, total, failures = [], 0.0, []
    with lesson_environment(tgai.profile().name):
        with tempfile.TemporaryDirectory(prefix="tgai-bench-notebooks-") as folder:
            for path in paths:
                error, kernel = "", {}
                load_before = common.load_average()
                with common.Stopwatch() as watch:
                    try:
                        kernel = execute(path, pathlib.Path(folder) / path.name)
                    except RuntimeError as failure:
                        error = f"FAILED: {failure}"
                        failures.append(path.name)
                total += watch.seconds
                log(f"  notebooks: {path.name} {watch.seconds:.0f} s {error}")
                # Kernel CPU seconds say how much of the wall time was computing rather than waiting for a core
                # that another process held; peak memory is what one learner's kernel needs.
                resources = (
                    f"kernel CPU {kernel['cpu_seconds']:.0f} s; kernel peak memory "
                    f"{kernel['peak_rss_bytes'] / 2**30:.2f} GiB"
                    if kernel
                    else ""
                )
                result = common.row(
                    "notebooks",
                    path.stem,
                    f"{path.name}, headless, fresh kernel",
                    "s",
                    [watch.seconds],
                    baseline=f"{BUDGET_SECONDS:.0f} s class budget",
                    ratio=BUDGET_SECONDS / watch.seconds,
                    ratio_meaning="budget / wall time, >= 1 fits",
                    goal="<= 180 s",
                    notes="; ".join(part for part in (error, resources) if part),
                )
                result["kernel_cpu_seconds"] = round(kernel["cpu_seconds"], 1) if kernel else None
                result["kernel_peak_rss_bytes"] = kernel.get("peak_rss_bytes")
                result["goal_met"] = not error and watch.seconds <= BUDGET_SECONDS
                result["notebook_load"] = f"{load_before}->{common.load_average()}"
                rows.append(result)
    if rows:
        budget = BUDGET_SECONDS * len(rows)
        result = common.row(
            "notebooks",
            "total",
            f"all {len(rows)} notebooks ({', '.join(path.stem[:2] for path in paths)}), total",
            "s",
            [total],
            baseline=f"{budget:.0f} s ({len(rows)} x 180 s)",
            ratio=budget / total,
            ratio_meaning="budget / wall time, >= 1 fits",
            goal=f"<= {budget:.0f} s",
            notes=f"failed: {', '.join(failures)}" if failures else "",
        )
        result["goal_met"] = not failures and total <= budget
        rows.append(result)
    return rows
