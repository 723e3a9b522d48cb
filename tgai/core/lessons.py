"""The one list of lessons (`notebooks/lessons.toml`), and the tables generated from it.

Maintainer code, not part of any lesson. Adding a lesson is its notebook and one entry in `lessons.toml`;
`python -m tgai lessons` then rewrites every generated table (the README's notebook map, the site's table of
contents, the instructor's lesson table), and `tests/test_lessons.py` fails while one is stale or a list
elsewhere (the notebooks on disk, the hub's resource table) disagrees.

A generated table sits between two markers in its file, `<!-- lessons: NAME -->` and `<!-- end of lessons -->`,
so that the prose around it stays hand-written.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re
import tomllib

from tgai.core import files

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
LIST = NOTEBOOKS / "lessons.toml"
_END = "<!-- end of lessons -->"
# The first line of Colab's setup cell (colab/configure.py, `make colab`): the cell comes before each lesson's own
# code and does nothing outside Colab, so the site, the tests and the seeds benchmark all leave it out.
COLAB_SETUP_MARKER = "# Colab only:"


def is_colab_setup(cell) -> bool:
    """Whether `cell` (a notebook cell: a dict or an nbformat node) is Colab's setup cell."""
    source = cell["source"]
    return cell["cell_type"] == "code" and ("".join(source) if isinstance(source, list) else source).startswith(
        COLAB_SETUP_MARKER
    )


@dataclasses.dataclass(frozen=True)
class Lesson:
    """One lesson: its notebook and what the tables say about it (see the comments in `lessons.toml`)."""

    notebook: str
    short: str
    does: str
    compute_where: str
    bad_parameters: tuple = ()

    @property
    def path(self) -> pathlib.Path:
        return NOTEBOOKS / self.notebook

    @property
    def number(self) -> str:
        return self.notebook[:2]

    @property
    def name(self) -> str:
        """The notebook's file name without `.ipynb`, e.g. `03_gan_finetuning`."""
        return self.notebook.removesuffix(".ipynb")

    def _cells(self) -> list:
        return json.loads(self.path.read_text())["cells"]

    @property
    def title(self) -> str:
        """The notebook's H1 title without its number, e.g. `Setup: your machine, the kit, and the data`."""
        for line in "".join(self._cells()[0]["source"]).splitlines():
            if line.startswith("# "):
                return re.sub(r"^# \d\d\s*·\s*", "", line).strip()
        raise ValueError(f"{self.notebook} has no H1 title in its first cell; start it with '# {self.number} · Title'.")

    @property
    def markdown_words(self) -> int:
        """Words of markdown in the notebook (whitespace-separated, folded solutions included)."""
        return sum(len("".join(cell["source"]).split()) for cell in self._cells() if cell["cell_type"] == "markdown")

    @property
    def prose_words(self) -> int:
        """Words of markdown in the notebook, rounded to 50."""
        return int(round(self.markdown_words / 50) * 50)


def load(path=LIST) -> list[Lesson]:
    """Read the lesson list, in its order."""
    entries = tomllib.loads(pathlib.Path(path).read_text())["lesson"]
    lessons = []
    for entry in entries:
        checks = tuple((dict(check["values"]), check["message"]) for check in entry.pop("bad_parameters", []))
        lessons.append(Lesson(**entry, bad_parameters=checks))
    return lessons


READING_WORDS_PER_MINUTE = 200
_NOT_MEASURED = "not measured yet"


def _seconds(lesson, seconds: dict) -> str:
    """The lesson's wall time from the benchmark file, as the tables state it."""
    return f"{seconds[lesson.name]:.0f} s" if lesson.name in seconds else _NOT_MEASURED


def readme_map(lessons, seconds: dict) -> str:
    rows = [
        f"| notebook | what you do | reading ({READING_WORDS_PER_MINUTE} words a minute) | "
        "compute (class profile, idle 2-core CPU) |",
        "| --- | --- | --- | --- |",
    ]
    rows += [
        f"| `{lesson.notebook}` | {lesson.does} | ~{round(lesson.markdown_words / READING_WORDS_PER_MINUTE)} min | "
        f"{_seconds(lesson, seconds)} |"
        for lesson in lessons
    ]
    return "\n".join(rows)


def site_toc(lessons, seconds: dict) -> str:
    return "\n".join(
        ["```{toctree}", ":maxdepth: 1", ":caption: Lessons", "", *(lesson.name for lesson in lessons), "```"]
    )


def instructor_table(lessons, seconds: dict) -> str:
    rows = ["| lesson | compute | where the compute goes | prose |", "| --- | --- | --- | --- |"]
    for lesson in lessons:
        rows.append(
            f"| {lesson.number} {lesson.short} | {_seconds(lesson, seconds)} | {lesson.compute_where} | "
            f"{lesson.prose_words:,} words |"
        )
    total = sum(seconds.get(lesson.name, 0.0) for lesson in lessons)
    words = sum(lesson.markdown_words for lesson in lessons)
    rows.append(f"| all {len(lessons)} | {total / 60:.0f} min | | {round(words / 100) * 100:,} words |")
    return "\n".join(rows)


def measured_seconds(results_file) -> dict[str, float]:
    """Each lesson's wall time, `{notebook name: seconds}`, from the `notebooks` rows of a benchmark file.

    The README and the instructor's guide state these, so that one set of times is quoted everywhere:
    `benchmarks/run.py --only notebooks` measures them (headless, a fresh kernel each, class profile).
    """
    from tgai.core import measured

    return {name: row["median"] for name, row in measured.rows("notebooks", results_file).items() if name != "total"}


# Which generated table goes in which file, under which marker name.
TABLES = {
    "README.md": ("map", readme_map),
    "site/index.md": ("toc", site_toc),
    "docs/instructor.md": ("compute", instructor_table),
}


def _replace(text: str, name: str, table: str, file: str) -> str:
    start = f"<!-- lessons: {name} -->"
    if start not in text or _END not in text.split(start, 1)[1]:
        raise ValueError(f"{file} has no generated lesson table: put '{start}' and '{_END}' around where it goes.")
    head, rest = text.split(start, 1)
    return head + start + "\n" + table + "\n" + _END + rest.split(_END, 1)[1]


def generated(root=ROOT) -> dict[str, str]:
    """Every file that holds a generated table, as it should read now: `{path relative to root: text}`."""
    lessons = load(pathlib.Path(root) / "notebooks" / "lessons.toml")
    seconds = measured_seconds(pathlib.Path(root) / "benchmarks" / "results.json")
    result = {}
    for file, (name, render) in TABLES.items():
        text = (pathlib.Path(root) / file).read_text()
        result[file] = _replace(text, name, render(lessons, seconds), file)
    return result


def stale(root=ROOT) -> list[str]:
    """The files whose generated table differs from the lesson list."""
    return [file for file, text in generated(root).items() if (pathlib.Path(root) / file).read_text() != text]


def write(root=ROOT) -> list[str]:
    """Rewrite every stale generated table (atomically); return the files written."""
    written = []
    for file, text in generated(root).items():
        path = pathlib.Path(root) / file
        if path.read_text() != text:
            with files.atomic_path(path) as temporary:
                temporary.write_text(text)
            written.append(file)
    return written
