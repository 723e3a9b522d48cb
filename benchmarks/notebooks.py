"""Notebook wall times: each lesson executed headless, in a fresh kernel, in the active profile, offline.

Each notebook runs through papermill from `notebooks/` (so relative paths resolve as in class) and writes its
executed copy into a temporary folder: the committed notebooks are never touched. The baseline is the
3-minute budget per notebook that the class profile promises; the ratio is budget / wall time (> 1: inside
the budget). One run per notebook: a notebook is itself minutes of work, so its spread is not measured.
"""

from __future__ import annotations

import os
import pathlib
import tempfile

from benchmarks import common

NOTEBOOKS = common.ROOT / "notebooks"
BUDGET_SECONDS = 180.0


def notebook_paths(which: str = "all") -> list[pathlib.Path]:
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if which == "first":
        return paths[:1]
    if which == "none":
        return []
    return paths


def run(scale: common.Scale, log=print) -> list[dict]:
    import papermill

    import tgai

    paths = notebook_paths(scale.notebooks)
    environment = {"TGAI_OFFLINE": "1", "TGAI_PROFILE": tgai.profile().name}
    saved = {key: os.environ.get(key) for key in environment}
    os.environ.update(environment)
    rows, total, failures = [], 0.0, []
    try:
        with tempfile.TemporaryDirectory(prefix="tgai-bench-notebooks-") as folder:
            for path in paths:
                error = ""
                load_before, cpu_before = common.load_average(), os.times()
                with common.Stopwatch() as watch:
                    try:
                        papermill.execute_notebook(
                            str(path), str(pathlib.Path(folder) / path.name), kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False
                        )
                    except Exception as failure:  # noqa: BLE001 - a failing notebook is reported as such.
                        error = f"FAILED: {type(failure).__name__}: {str(failure).strip().splitlines()[-1][:160]}"
                        failures.append(path.name)
                cpu_after = os.times()
                # The kernel is a child process: its CPU seconds say how much of the wall time was computing
                # rather than waiting for a core that another process held.
                kernel_cpu = (cpu_after.children_user - cpu_before.children_user) + (cpu_after.children_system - cpu_before.children_system)
                total += watch.seconds
                log(f"  notebooks: {path.name} {watch.seconds:.0f} s {error}")
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
                    notes="; ".join(part for part in (error, f"kernel CPU {kernel_cpu:.0f} s") if part),
                )
                result["goal_met"] = not error and watch.seconds <= BUDGET_SECONDS
                result["notebook_load"] = f"{load_before}->{common.load_average()}"
                rows.append(result)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
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
