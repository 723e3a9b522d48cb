"""The one list of lessons (`notebooks/lessons.toml`) agrees with the notebooks and with every table of lessons.

Adding a lesson is its notebook and one entry in the list: these tests fail, naming the fix, until the generated
tables are rewritten (`python -m tgai lessons`) and the lists that are measured (the hub's table) include it.
"""

import re

from tgai.core import lessons

ROOT = lessons.ROOT


def test_the_list_names_every_notebook_once_in_order():
    listed = [lesson.notebook for lesson in lessons.load()]
    on_disk = sorted(path.name for path in lessons.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert listed == on_disk, "notebooks/lessons.toml must list every NN_*.ipynb once, in order"
    for lesson in lessons.load():
        assert lesson.title and lesson.prose_words > 0
        assert len(lesson.short) <= 30 and lesson.does.strip() and lesson.compute_where.strip()


def test_the_tables_state_each_lessons_measured_time():
    seconds = lessons.measured_seconds(ROOT / "benchmarks" / "results.json")
    texts = lessons.generated()
    for lesson in lessons.load():
        assert lesson.name in seconds, f"{lesson.name} has no notebooks row: run `benchmarks/run.py --only notebooks`"
        assert f"| {seconds[lesson.name]:.0f} s |" in texts["README.md"].split(f"`{lesson.notebook}`", 1)[1]
        assert f"| {lesson.number} {lesson.short} | {seconds[lesson.name]:.0f} s |" in texts["docs/instructor.md"]


def test_generated_tables_are_current():
    assert lessons.stale() == [], "a table generated from notebooks/lessons.toml is stale: run `python -m tgai lessons`"


def test_the_generated_tables_hold_every_lesson():
    texts = lessons.generated()
    for lesson in lessons.load():
        assert f"`{lesson.notebook}`" in texts["README.md"]
        assert re.search(rf"^{lesson.name}$", texts["site/index.md"], flags=re.M)
        assert f"| {lesson.number} {lesson.short} |" in texts["docs/instructor.md"]


def test_the_hub_table_and_the_instructor_plan_cover_every_lesson():
    hub = (ROOT / "docs" / "hub.md").read_text()
    measured = re.findall(r"^\| (\d\d_\w+) \| \d+ s \|", hub, flags=re.M)
    assert measured == [lesson.name for lesson in lessons.load()], (
        "docs/hub.md's resource table must list every lesson: run `benchmarks/run.py --only notebooks`, then "
        "paste the tables `python -m benchmarks.class_size` prints"
    )
    plan = (ROOT / "docs" / "instructor.md").read_text().split("## The plan", 1)[1]
    for lesson in lessons.load():
        assert re.search(rf"\b{lesson.number}\b", plan), f"the instructor's plan never mentions lesson {lesson.number}"


def test_a_file_without_markers_is_refused_with_the_fix(tmp_path):
    for file in lessons.TABLES:
        target = tmp_path / file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((ROOT / file).read_text())
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "lessons.toml").write_text(lessons.LIST.read_text())
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "results.json").write_text((ROOT / "benchmarks" / "results.json").read_text())
    assert lessons.stale(tmp_path) == []
    (tmp_path / "site" / "index.md").write_text("# no table here\n")
    try:
        lessons.stale(tmp_path)
    except ValueError as error:
        assert "site/index.md" in str(error) and "<!-- lessons: toc -->" in str(error)
    else:
        raise AssertionError("a file without markers must be refused")
