"""Lessons 00 and 01's claims over many seeds (seeds_lessons): each lesson run whole, once per seed.

For each of `seed_count` seeds (20 at the full scale), lessons 00 and 01 run headless through papermill with `SEED`
set, offline and in the class profile, exactly as a learner's run with that seed (`make check-seeds` does the same
for two seeds). The lesson's own claim cells run: a seed that breaks a claim is recorded as a failure, with the
claim's message, and the cells after it still run. After the lesson's last cell one more cell, added to a temporary
copy only, evaluates each quantity a claim cell bounds (`CLAIMS`) in the lesson's namespace and writes them out.
Rows: for each quantity, every seed's value as its samples, the claim cell's bound as the goal, and whether every
seed met it; then one row per lesson with each seed's outcome (1: every claim cell passed, 0: one failed, with its
message). Lessons 00 and 01 read these rows in their "How these claims were checked" cells.
"""

from __future__ import annotations

import json
import operator
import pathlib
import tempfile

from benchmarks import common, notebooks
from tgai.core import lessons

BENCHMARK = "seeds_lessons"

# Each lesson's claimed quantities: row name -> (an expression in the lesson's namespace, the claim cell's bound).
# The bounds are those of the claim cells with the lesson's default parameters and the offline weights.
CLAIMS = {
    "00_setup": {
        "|KID x1000|, held-out vs target pool": ("abs(1000 * kid_same)", "< 2"),
        "KID, glyphs vs held-out / target pool vs held-out": ("kid_shift / max(abs(kid_same), 1e-4)", "> 20"),
        "judge: held-out digits read confidently": ("recognisable['held-out MNIST digits'].fraction", "> 0.85"),
        "judge: classes among held-out digits": ("recognisable['held-out MNIST digits'].classes", ">= 10"),
        "judge: held-out digits minus glyphs read": (
            "recognisable['held-out MNIST digits'].fraction - recognisable['typeset glyphs'].fraction",
            "> 0.2",
        ),
    },
    "01_feature_extraction": {
        "[0, 1] input: feature spread, right / wrong": ("spread[names[0]] / spread[names[1]]", "> 20"),
        "[0, 1] input: extra units switched off": ("zeros[names[1]] - zeros[names[0]]", "> 0.2"),
        "no preprocess_input: feature change / norm": ("distance[names[2]]", "> 0.2"),
        "HED block1_conv1: neighbouring-tap correlation": ("pretrained_smoothness", "> 0.3"),
        "random block1_conv1: |neighbouring-tap correlation|": ("abs(random_smoothness)", "< 0.15"),
        "raw / 64-d shift ratio, layers of 256+ channels, highest": (
            "max(raw / projected for table in ratio.values() for width, raw, projected in table.values()"
            " if width >= 256)",
            "< 1",
        ),
        "HED trunk: smallest 64-d shift ratio": ("min(vgg_ratio.values())", "> 20"),
        "HED trunk: block 4 / smallest other block": (
            "vgg_ratio['block4_conv3'] / min(value for name, value in vgg_ratio.items() if name != 'block4_conv3')",
            "< 1",
        ),
        "HED trunk: block 1 / block 4": ("vgg_ratio['block1_conv2'] / vgg_ratio['block4_conv3']", "> 1.4"),
        "HED trunk: block 5 / block 4": ("vgg_ratio['block5_pool'] / vgg_ratio['block4_conv3']", "> 1.4"),
        "random ResNet50: stage 1 / stage 2": ("stem / second", "> 2"),
        "random ResNet50: stage 2 / stage 3": ("second / third", "> 2"),
        "random ResNet50: stage 3 / larger of stages 4, 5": ("third / max(last_two)", "> 1.5"),
        "random ResNet50: larger / smaller of stages 4, 5": ("max(last_two) / min(last_two)", "< 2"),
        "random ResNet50: smaller of stages 4, 5": ("min(last_two)", "> 3"),
        "probe, 1 label per class: lowest method": ("min(table[smallest] for table in median.values())", "> 0.2"),
        "probe, 1 to 20 labels: smallest gain": (
            "min(table[max(PROFILE.probe_shots)] - table[smallest] for table in median.values())",
            "> 0.2",
        ),
        "HED block3_conv3 minus random VGG16 block3_conv3, 5+ labels": (
            "min(median[f'{vgg16.label} {mid}'][shots] - median[f'{random_vgg16.label} {mid}'][shots]"
            " for shots in several)",
            "> 0",
        ),
        "HED block3_conv3 minus random ResNet50 conv4, 5+ labels": (
            "min(median[f'{vgg16.label} {mid}'][shots] - median[f'{resnet50.label} conv4_block6_out'][shots]"
            " for shots in several)",
            "> 0",
        ),
        "HED block5_pool minus random VGG16 block5_pool, highest": (
            "max(median[f'{vgg16.label} {deep}'][shots] - median[f'{random_vgg16.label} {deep}'][shots]"
            " for shots in PROFILE.probe_shots)",
            "< 0.05",
        ),
        "HED block5_pool minus HED block3_conv3, highest": (
            "max(median[f'{vgg16.label} {deep}'][shots] - median[f'{vgg16.label} {mid}'][shots]"
            " for shots in PROFILE.probe_shots)",
            "< 0",
        ),
        "best frozen probe minus CNN from scratch, 5+ labels": (
            "min(best_frozen[shots] - median['CNN from scratch'][shots] for shots in several)",
            "> -0.03",
        ),
        "block5_conv3 fine-tuned minus head only (5 labels)": ("gain", "> 0.03"),
        "BatchNormalization, training=False only: moving-mean change": ("batch_norm_change[False]", "> 0"),
    },
}

_OPERATORS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}

# Added to a temporary copy of the lesson, after its last cell: the claimed quantities, in its own namespace.
_RECORD = """
import json as _json
_expressions = _json.loads({expressions!r})
with open({path!r}, "w") as _file:
    _json.dump({{_name: float(eval(_expression)) for _name, _expression in _expressions.items()}}, _file)
"""


def holds(value: float, bound: str) -> bool:
    """Whether `value` meets a claim bound written as `"> 0.2"`, `"< 1"`, `">= 10"` or `"<= 3"`."""
    symbol, number = bound.split()
    return _OPERATORS[symbol](value, float(number))


def measure(lesson: str, seed: int) -> dict[str, float]:
    """Run `lesson` with `SEED = seed` in a fresh kernel; return `{"failed": 0.0, quantity: value, ...}`.

    A run in which a cell failed (a claim cell broke) returns `"failed": 1.0` and `"error"`, its last line, with
    the quantities: the cells after the failing one still run, so the values show which bound broke and by how
    much (none where a cell failed before they could be computed).
    """
    import nbformat

    expressions = {name: expression for name, (expression, _) in CLAIMS[lesson].items()}
    with tempfile.TemporaryDirectory(prefix="tgai-seeds-lessons-") as folder:
        folder = pathlib.Path(folder)
        measured = folder / "measured.json"
        notebook = nbformat.read(notebooks.NOTEBOOKS / f"{lesson}.ipynb", as_version=4)
        recorder = _RECORD.format(expressions=json.dumps(expressions), path=str(measured))
        notebook.cells.append(nbformat.v4.new_code_cell(recorder))
        nbformat.write(notebook, folder / f"{lesson}.ipynb")
        try:
            notebooks.execute(
                folder / f"{lesson}.ipynb", folder / "executed.ipynb", parameters={"SEED": seed}, allow_errors=True
            )
        except RuntimeError as failure:
            # A claim cell broke; the cells after it still ran, so the quantities show by how much.
            values = json.loads(measured.read_text()) if measured.is_file() else {}
            return {"failed": 1.0, "error": str(failure), **values}
        return {"failed": 0.0, **json.loads(measured.read_text())}


def run(scale: common.Scale, log=print, measure=measure) -> list[dict]:
    """seeds_lessons: lessons 00 and 01 under each seed; every quantity their claim cells bound."""
    import tgai

    rows = []
    with notebooks.lesson_environment(tgai.profile().name):
        for lesson, claims in CLAIMS.items():
            values: dict[str, list[float]] = {}
            failures, outcomes = [], []
            for seed, measured in common.per_seed(
                BENCHMARK,
                lesson,
                f"{tgai.profile().name}-{_source_key(lesson)}",
                range(scale.seed_count),
                lambda seed, lesson=lesson: measure(lesson, seed),
                keep=scale.name == "full",
            ):
                outcomes.append(measured["failed"])
                if measured["failed"]:
                    failures.append(f"seed {seed}: {measured.get('error', 'failed')}")
                common.collect({name: measured[name] for name in claims if name in measured}, values)
                log(f"  {BENCHMARK}: {lesson} seed {seed}: " + ("FAILED" if measured.get("failed") else "claims held"))
            for name, (_, bound) in claims.items():
                samples = values.get(name, [])
                if not samples:
                    continue
                result = common.row(
                    BENCHMARK,
                    f"{lesson[:2]} {name}",
                    f"{lesson}: {name}, one run per seed",
                    "",
                    samples,
                    goal=bound,
                    goal_met=all(holds(value, bound) for value in samples),
                )
                rows.append(result)
            result = common.row(
                BENCHMARK,
                f"{lesson[:2]} every claim cell passed (1 yes, 0 no)",
                f"{lesson}: whether the run with each seed passed every claim cell",
                "",
                [1.0 - failed for failed in outcomes],
                goal=">= 1",
                goal_met=not failures,
                notes="; ".join(failures),
            )
            rows.append(result)
    return rows


def _source_key(lesson: str) -> str:
    """A short hash of what the lesson's code does: a changed computation is measured afresh.

    The hash is of each code cell's syntax tree, so that reformatting, comments and prose leave kept values in
    place; Colab's setup cell, which does nothing outside Colab, is left out.
    """
    import ast
    import hashlib

    import nbformat

    notebook = nbformat.read(notebooks.NOTEBOOKS / f"{lesson}.ipynb", as_version=4)
    trees = [
        ast.dump(ast.parse(cell.source))
        for cell in notebook.cells
        if cell.cell_type == "code" and not lessons.is_colab_setup(cell)
    ]
    return hashlib.sha256("\n".join(trees).encode()).hexdigest()[:12]
