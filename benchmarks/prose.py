"""How much a learner reads: the words of each lesson's prose, beside the compute times of the notebooks rows.

prose: for each lesson in `notebooks/lessons.toml`, the words of its markdown cells (whitespace-separated,
folded solutions included), and the total, with the reading time at 200 words a minute. Lessons 00 to 02 are
compared with their length before they were cut to the point (2,260, 3,640 and 2,230 words on 2026-12-07):
the goal is at least 30 % fewer words (a ratio of at most 0.7). Counting takes no time and does not depend on
the machine.
"""

from __future__ import annotations

from benchmarks import common
from tgai.core.lessons import READING_WORDS_PER_MINUTE as WORDS_PER_MINUTE

BEFORE_THE_CUT = {"00_setup": 2260, "01_feature_extraction": 3640, "02_perceptual_features": 2230}
GOAL = 0.7  # words now / words before the cut, at most


def run(scale: common.Scale, log=print) -> list[dict]:
    from tgai.core import lessons

    rows, total = [], 0
    for lesson in lessons.load():
        words = lesson.markdown_words
        total += words
        before = BEFORE_THE_CUT.get(lesson.name)
        result = common.row(
            "prose",
            lesson.name,
            f"{lesson.notebook}: words of prose",
            "words",
            [words],
            baseline="before the cut (2026-12-07)" if before else None,
            baseline_samples=[before] if before else None,
            higher_is_better=False,
            ratio_meaning="before / now, >= 1.43 is 30 % fewer" if before else "",
            goal=f"<= {GOAL:g} x before" if before else "",
            goal_met=words <= GOAL * before if before else None,
            notes=f"about {words / WORDS_PER_MINUTE:.0f} minutes of reading at {WORDS_PER_MINUTE} words a minute",
        )
        rows.append(result)
        log(f"  prose: {lesson.name}: {words:,} words")
    rows.append(
        common.row(
            "prose",
            "total",
            "all lessons: words of prose",
            "words",
            [total],
            notes=f"about {total / WORDS_PER_MINUTE:.0f} minutes of reading at {WORDS_PER_MINUTE} words a minute, "
            "beside the notebooks rows' compute",
        )
    )
    return rows
