"""Lessons 00 to 02's write-it-yourself exercises: each folded solution passes its check cell; each skeleton does not.

An exercise is three cells in a row: the skeleton a learner completes, the folded solution (markdown with a
```python block), and the check cell (`def check_...`, then a print of the check on the learner's function). The
check cells run here in a namespace holding the names the lesson defines above them.
"""

import json
import pathlib
import re
import warnings

import numpy as np
import pytest

import tgai

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"


def _namespace(lesson: str) -> dict:
    """The names a lesson's exercise cells use, as the lesson defines them above the exercises."""
    namespace = {"np": np, "tgai": tgai, "SEED": 0}
    if lesson == "01_feature_extraction":
        import keras

        from tgai import backbones

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", backbones.OfflineFallbackWarning)
            vgg16 = backbones.load("vgg16", "offline")
        heldout_images = tgai.data.load("mnist_5k", "test")[0][:8]
        namespace.update(keras=keras, backbones=backbones, vgg16=vgg16, heldout_images=heldout_images)
    if lesson == "02_perceptual_features":
        from tgai import inversion, perceptual

        namespace.update(inversion=inversion, perceptual=perceptual)
    return namespace


@pytest.mark.parametrize("lesson", ["00_setup", "01_feature_extraction", "02_perceptual_features"])
def test_each_solution_passes_its_check_and_each_skeleton_does_not(lesson):
    sources = ["".join(cell["source"]) for cell in json.loads((NOTEBOOKS / f"{lesson}.ipynb").read_text())["cells"]]
    checks = [index for index, text in enumerate(sources) if text.startswith("def check_")]
    assert len(checks) >= 2, f"{lesson} should have at least two exercises with check cells"
    namespace = _namespace(lesson)
    for index in checks:
        skeleton, solution_cell, check = sources[index - 2], sources[index - 1], sources[index]
        solution = re.search(r"```python\n(.*?)```", solution_cell, re.DOTALL).group(1)
        check_name = re.match(r"def (\w+)", check).group(1)
        function_name = re.search(r"^def (\w+)", skeleton, re.MULTILINE).group(1)
        exec(skeleton, namespace)
        exec(check, namespace)  # the cell ends by checking the skeleton, as a learner first runs it
        assert namespace[check_name](namespace[function_name]).startswith("not yet"), check_name
        exec(solution, namespace)
        assert namespace[check_name](namespace[function_name]).startswith("correct"), check_name
