"""How many learners one server holds: the class-size table in `docs/hub.md`, from measured figures.

Inputs, all measured: each lesson's peak kernel memory and kernel CPU seconds (the `notebooks` rows of
`benchmarks/results.json`, written by `make bench`), and a learner's Jupyter server's own peak memory (printed by
`make hub-check`). Two limits, the smaller wins:

- memory: every learner's server plus one kernel at the heaviest lesson's peak, after reserving some for the
  operating system, JupyterHub and its proxy;
- CPU: every learner runs the most CPU-hungry lesson at the same moment (they follow the instructor), and it
  must still finish within `WAIT_SECONDS`, with the cores shared evenly.

Usage: `python -m benchmarks.class_size` prints both tables; a test keeps `docs/hub.md` equal to them.
"""

from __future__ import annotations

import json
import math

from benchmarks import common

SERVER_GIB = 0.15  # a learner's Jupyter server without its kernel: `make hub-check` measured 0.13 GiB
RESERVED_GIB = 2.0  # the operating system, JupyterHub and its proxy
WAIT_SECONDS = 600  # the slowest lesson, run by everyone at once, finishes within 10 minutes
SERVERS = ((4, 16), (8, 32), (16, 64), (32, 128), (64, 256))  # (cores, GiB of memory)


def lesson_figures(rows: list[dict]) -> dict:
    """The heaviest lesson by peak kernel memory and the hungriest by kernel CPU seconds."""
    lessons = [row for row in rows if row["benchmark"] == "notebooks" and row.get("kernel_peak_rss_bytes")]
    if not lessons:
        raise ValueError("results.json has no notebook rows with kernel memory: run `make bench` (or --only notebooks)")
    memory = max(lessons, key=lambda row: row["kernel_peak_rss_bytes"])
    cpu = max(lessons, key=lambda row: row["kernel_cpu_seconds"])
    return {
        "memory_lesson": memory["name"],
        "kernel_gib": memory["kernel_peak_rss_bytes"] / 2**30,
        "cpu_lesson": cpu["name"],
        "cpu_seconds": cpu["kernel_cpu_seconds"],
    }


def lesson_table(rows: list[dict]) -> str:
    """The markdown table of each lesson's wall time, kernel CPU seconds and peak kernel memory."""
    lessons = [row for row in rows if row["benchmark"] == "notebooks" and row.get("kernel_peak_rss_bytes")]
    lines = ["| lesson | wall time | kernel CPU | kernel peak memory |", "| --- | --- | --- | --- |"]
    for row in lessons:
        lines.append(
            f"| {row['name']} | {row['median']:.0f} s | {row['kernel_cpu_seconds']:.0f} s | "
            f"{row['kernel_peak_rss_bytes'] / 2**30:.2f} GiB |"
        )
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    """The markdown table: learners per server for a few sizes of server."""
    figures = lesson_figures(rows)
    per_learner = figures["kernel_gib"] + SERVER_GIB
    lines = [
        f"Per learner: {per_learner:.2f} GiB (kernel peak {figures['kernel_gib']:.2f} GiB in "
        f"{figures['memory_lesson']}, "
        f"plus {SERVER_GIB} GiB for the Jupyter server) and {figures['cpu_seconds']:.0f} CPU seconds for the hungriest "
        f"lesson ({figures['cpu_lesson']}). {RESERVED_GIB:.0f} GiB reserved for the system and the hub; everyone runs "
        f"that lesson at once and waits at most {WAIT_SECONDS // 60} minutes.",
        "",
        "| server | learners by memory | learners by CPU | learners |",
        "| --- | --- | --- | --- |",
    ]
    for cores, gib in SERVERS:
        by_memory = math.floor((gib - RESERVED_GIB) / per_learner)
        by_cpu = math.floor(cores * WAIT_SECONDS / figures["cpu_seconds"])
        lines.append(f"| {cores} cores, {gib} GiB | {by_memory} | {by_cpu} | **{min(by_memory, by_cpu)}** |")
    return "\n".join(lines)


def main() -> None:
    results = json.loads((common.ROOT / "benchmarks" / "results.json").read_text())
    print(lesson_table(results["rows"]), table(results["rows"]), sep="\n\n")


if __name__ == "__main__":
    main()
