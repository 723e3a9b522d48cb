"""Lesson results as data: each lesson writes its headline numbers to one small JSON file.

Introduced in lesson 03. An instructor collects a class's runs from these files (one per learner's
`TGAI_HOME`), and the benchmarks can read them too. The file for lesson `03_gan_finetuning` is
`tgai.cache_home() / "results" / "03_gan_finetuning" / "summary.json"`.
"""

from __future__ import annotations

import json
import pathlib
import re

import numpy as np

from tgai.core import config, files

_LESSON_NAME = re.compile(r"^\d{2}_[a-z0-9_]+$")


def path(lesson: str) -> pathlib.Path:
    """Return the summary file of `lesson` (a notebook's name without `.ipynb`, e.g. `03_gan_finetuning`)."""
    if not isinstance(lesson, str) or not _LESSON_NAME.match(lesson):
        raise ValueError(
            f"lesson must be a notebook's name without .ipynb, like '03_gan_finetuning'; received lesson={lesson!r}."
        )
    return config.cache_home() / "results" / lesson / "summary.json"


def _plain(value, key):
    """Convert NumPy scalars and arrays to JSON's types; refuse anything else JSON cannot hold."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(
        f"summary[{key!r}] holds a {type(value).__name__}, which JSON cannot store; "
        "use numbers, strings, lists or dicts."
    )


def save(lesson: str, summary: dict) -> pathlib.Path:
    """Write `summary` as the lesson's `summary.json` (atomically) and return the path.

    Args:
        lesson: The notebook's name without `.ipynb`.
        summary: A dict with string keys of numbers, strings, lists and dicts (NumPy values are converted).

    Returns:
        The path written.

    Raises:
        ValueError: for a malformed lesson name or non-finite numbers.
        TypeError: for a summary that is not a dict of JSON-storable values.
    """
    destination = path(lesson)
    if not isinstance(summary, dict) or not all(isinstance(key, str) for key in summary):
        raise TypeError(f"summary must be a dict with string keys; received {type(summary).__name__}.")
    for key, value in summary.items():
        json.dumps(value, default=lambda item, key=key: _plain(item, key))  # name the key that fails
    try:
        text = json.dumps(summary, indent=2, sort_keys=True, allow_nan=False, default=lambda item: _plain(item, "?"))
    except ValueError as error:
        raise ValueError(f"summary holds a NaN or infinite number, which JSON cannot store: {error}") from None
    with files.atomic_path(destination) as temporary:
        temporary.write_text(text + "\n")
    return destination


def load(lesson: str) -> dict:
    """Read the lesson's `summary.json`.

    Raises:
        FileNotFoundError: if the lesson has not written one yet, with how to make it.
    """
    source = path(lesson)
    if not source.is_file():
        raise FileNotFoundError(f"No results for lesson {lesson!r} at {source}: run notebooks/{lesson}.ipynb first.")
    return json.loads(source.read_text())
