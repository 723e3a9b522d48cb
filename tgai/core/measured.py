"""The kit's committed benchmark measurements, for the lessons that cite them.

Introduced in lesson 03, which reads its learning-rate sweep, its 20-seed check and its budget table from
`benchmarks/results.json` rather than training hundreds of runs in a three-minute lesson; lesson 05 reads the
sweep's learning rates. The file is committed next to the `tgai` package in a clone of the kit; where `tgai` is
installed on its own, the file is absent and `rows` returns nothing, so a lesson prints how to measure them.

Each row is one measured quantity (see `benchmarks/common.py`): a `median` over seeds, its `samples`, an
optional `baseline_median`, and `notes` in words, such as `"digits covered 10 vs 9; KID x1000 10 vs 32"`.
"""

from __future__ import annotations

import json
import pathlib
import re

RESULTS_FILE = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "results.json"
_NUMBER = r"(-?\d+(?:\.\d+)?)"


def rows(benchmark: str, results_file: pathlib.Path | str | None = None) -> dict[str, dict]:
    """Return one benchmark's committed rows, keyed by row name; empty when none are committed.

    Args:
        benchmark: The benchmark's name, as `benchmarks/run.py --only` takes it (e.g. `"sweep_gan"`).
        results_file: The results file to read; the clone's `benchmarks/results.json` by default.

    Returns:
        `{row name: row}` for the rows of `benchmark`, or `{}` when the file or the benchmark's rows are absent.

    Raises:
        TypeError: if `benchmark` is not a string.
        ValueError: if the file exists but is not the kit's results format.
    """
    if not isinstance(benchmark, str) or not benchmark:
        raise TypeError(f"benchmark must be a benchmark's name such as 'sweep_gan'; received {benchmark!r}.")
    path = pathlib.Path(RESULTS_FILE if results_file is None else results_file)
    if not path.is_file():
        return {}
    try:
        table = json.loads(path.read_text())["rows"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(
            f"{path} is not a benchmark results file (a JSON object with a 'rows' list): {error}. "
            "Restore it with `git checkout benchmarks/results.json`, or re-run `make bench`."
        ) from error
    return {row["name"]: row for row in table if row.get("benchmark") == benchmark}


def note_numbers(row: dict, label: str) -> tuple[float, ...]:
    """Read the number, or the `A vs B` pair, that follows `label` in a row's notes.

    Args:
        row: A row from `rows`.
        label: The words before the number, such as `"KID x1000"` or `"scratch"`.

    Returns:
        `(A,)` or `(A, B)`: `note_numbers(row, "KID x1000")` on notes `"KID x1000 10 vs 32"` is `(10.0, 32.0)`.

    Raises:
        ValueError: if the notes hold no number after `label`.
    """
    notes = row.get("notes", "") if isinstance(row, dict) else ""
    found = re.search(re.escape(label) + rf"\s+{_NUMBER}(?:\s+vs\s+{_NUMBER})?", notes)
    if found is None:
        raise ValueError(
            f"the notes of row {row.get('name') if isinstance(row, dict) else row!r} hold no number after "
            f"label={label!r}; received notes={notes!r}. Re-run its benchmark with today's benchmarks/ code."
        )
    return tuple(float(number) for number in found.groups() if number is not None)


def claim_table(benchmark: str, prefix: str = "", results_file: pathlib.Path | str | None = None) -> tuple[str, list]:
    """The spread over seeds of each quantity a lesson's claim cells bound, from a seeds benchmark's rows.

    Introduced in lesson 00's "How these claims were checked": a claim cell tests one run, the benchmark ran the
    lesson once per seed (`seeds_lessons`), and this table shows the lowest, median and highest value over those
    seeds beside the bound the claim cell asserts.

    Args:
        benchmark: The seeds benchmark's name, such as `"seeds_lessons"`.
        prefix: Only rows whose name starts with it (`"00 "` for lesson 00); it is left out of the table.
        results_file: The results file to read; the clone's `benchmarks/results.json` by default.

    Returns:
        `(text, broken)`: the table as text (or a line saying how to measure it, when no rows are committed),
        and the names of the rows where some seed missed the bound.
    """
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a string such as '00 '; received {prefix!r}.")
    chosen = {
        name[len(prefix) :]: row for name, row in rows(benchmark, results_file).items() if name.startswith(prefix)
    }
    if not chosen:
        return (
            f"benchmarks/results.json holds no {benchmark} rows starting {prefix!r}: "
            f"run `python benchmarks/run.py --only {benchmark}`."
        ), []
    width = max(len(name) for name in chosen) + 2
    lines = [f"{'quantity':{width}s}{'lowest':>9s}{'median':>9s}{'highest':>9s}   claim   seeds"]
    broken = []
    for name, row in chosen.items():
        lines.append(
            f"{name:{width}s}{_short(row['min'])}{_short(row['median'])}{_short(row['max'])}   "
            f"{row.get('goal') or '-':7s} {row['repeats']}"
        )
        if row.get("goal_met") is False:
            broken.append(name)
    return "\n".join(lines), broken


def _short(value: float) -> str:
    """A number in 9 characters, with 3 significant digits."""
    return f"{value:9.3g}"
