"""Argument checks shared by the public API.

Every public function validates its arguments first, so a learner sees one `ValueError` or `TypeError`
that names the argument, the value received and the fix, before TensorFlow produces a stack trace.
"""

from __future__ import annotations

import math
import numbers

import numpy as np


def describe(value) -> str:
    """Return a short description of a value for an error message (shape and dtype for arrays)."""
    if isinstance(value, np.ndarray) or hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"array of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def positive_int(value, argument: str, minimum: int = 1) -> int:
    """Return `value` as an int if it is an integer >= `minimum`, else raise naming `argument`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{argument} must be an integer >= {minimum}; received {describe(value)}.")
    if value < minimum:
        raise ValueError(f"{argument} must be an integer >= {minimum}; received {argument}={value}.")
    return int(value)


def positive_number(value, argument: str, example: str) -> float:
    """Return `value` as a float if it is a finite number > 0 (a learning rate, a scale); else raise, naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{argument} must be a number > 0; received {describe(value)}. Use e.g. {example}.")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{argument} must be a finite number > 0; received {argument}={value!r}. Use e.g. {example}.")
    return float(value)


def int_in_range(value, argument: str, minimum: int, maximum: int, why: str = "") -> int:
    """Return `value` as an int if `minimum <= value <= maximum`, else raise naming `argument` and the range.

    Notebooks check their parameters cell with it, so that a learner who sets, say, `N_TARGET = 5` reads an
    error about `N_TARGET`, not about an argument of a function the notebook calls.
    """
    reason = f" ({why})" if why else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{argument} must be an integer from {minimum} to {maximum}{reason}; received {describe(value)}."
        )
    if not minimum <= value <= maximum:
        raise ValueError(
            f"{argument} must be an integer from {minimum} to {maximum}{reason}; received {argument}={value}."
        )
    return int(value)


def choice(value, argument: str, choices) -> str:
    """Return `value` if it is one of `choices`, else raise a `ValueError` listing them."""
    valid = sorted(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"Unknown {argument}: received {value!r}. Valid values: {', '.join(map(str, valid))}.")
    return value


def images(value, argument: str = "images", channels=(1, 3), min_size: int | None = None) -> np.ndarray:
    """Check an image batch: float NHWC in [0, 1], finite, non-empty. Return it as float32.

    Args:
        value: The array to check.
        argument: Name used in error messages.
        channels: Allowed channel counts.
        min_size: Smallest allowed height and width, if any.

    Returns:
        The images as a float32 NumPy array.
    """
    if hasattr(value, "numpy"):
        value = value.numpy()
    if not isinstance(value, np.ndarray):
        raise TypeError(
            f"{argument} must be a NumPy array of shape (N, H, W, C); received {describe(value)}. "
            "Convert with np.asarray(...)."
        )
    if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
        raise TypeError(f"{argument} must hold numbers; received {describe(value)}. Use float32 images in [0, 1].")
    if value.ndim != 4:
        hint = " Add a batch axis with images[None]." if value.ndim == 3 else ""
        hint += " Add a channel axis with images[..., None]." if value.ndim == 3 and value.shape[-1] > 4 else ""
        raise ValueError(f"{argument} must have rank 4 (N, H, W, C); received {describe(value)}.{hint}")
    if value.shape[0] == 0:
        raise ValueError(f"{argument} is empty; received {describe(value)}. Pass at least one image.")
    if value.shape[-1] not in channels:
        raise ValueError(
            f"{argument} must have {' or '.join(map(str, channels))} channels (last axis); received "
            f"{describe(value)}. Images are NHWC; convert with tgai.data.to_channels(images, {channels[-1]})."
        )
    if min_size is not None and min(value.shape[1:3]) < min_size:
        raise ValueError(
            f"{argument} must be at least {min_size}x{min_size} pixels; received {describe(value)}. "
            f"Resize first, e.g. tgai.data.resize(images, {min_size})."
        )
    if np.issubdtype(value.dtype, np.integer):
        hint = " Did you pass 0-255 images? Divide by 255." if value.max() > 1 else ""
        raise TypeError(f"{argument} must be floating point in [0, 1]; received {describe(value)}.{hint}")
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{argument} contains NaN or inf; received {describe(value)}. Check the data pipeline.")
    low, high = float(value.min()), float(value.max())
    if low < 0.0 or high > 1.0:
        hint = " Did you pass 0-255 images? Divide by 255." if high > 1.5 else ""
        hint += " Did you pass [-1, 1] images? Use (images + 1) / 2." if low < 0.0 else ""
        raise ValueError(f"{argument} must lie in [0, 1]; received values in [{low:.3g}, {high:.3g}].{hint}")
    return value.astype(np.float32, copy=False)


def model_images(model, value, argument: str = "images") -> np.ndarray:
    """Check images for a model with an `image_shape` (a GAN, a VAE): `images`, and exactly that shape."""
    expected = tuple(model.image_shape)
    value = images(value, argument, channels=(expected[2],))
    if value.shape[1:] != expected:
        raise ValueError(
            f"{argument} must have shape (N, {', '.join(map(str, expected))}) for this {type(model).__name__}; "
            f"received "
            f"{describe(value)}. Resize with tgai.data.resize(images, {expected[0]}) and set channels with "
            f"tgai.data.to_channels(images, {expected[2]})."
        )
    return value


def labels(value, count: int, argument: str = "labels") -> np.ndarray:
    """Check integer labels that must pair one-to-one with `count` images. Return them as int64."""
    value = np.asarray(value)
    if value.ndim != 1 or not np.issubdtype(value.dtype, np.integer):
        raise TypeError(
            f"{argument} must be a 1-D integer array; received {describe(value)}. Convert with np.asarray(labels, "
            f"dtype=np.int64)."
        )
    if len(value) != count:
        raise ValueError(
            f"{argument} must have one label per image: received {len(value)} labels for {count} images. "
            "Pass the labels that belong to these images."
        )
    return value.astype(np.int64, copy=False)


def features(value, argument: str) -> np.ndarray:
    """Check a 2-D finite feature matrix (N, D) with N >= 2. Return it as float64."""
    if hasattr(value, "numpy"):
        value = value.numpy()
    if not isinstance(value, np.ndarray):
        raise TypeError(
            f"{argument} must be a NumPy array of shape (N, D); received {describe(value)}. Convert with "
            f"np.asarray(...)."
        )
    if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
        raise TypeError(f"{argument} must hold numbers; received {describe(value)}. Convert with .astype(np.float32).")
    if value.ndim != 2:
        raise ValueError(
            f"{argument} must have shape (N, D); received {describe(value)}. "
            "Pool feature maps first, e.g. tgai.backbones.extract(..., pooling='avg')."
        )
    if value.shape[0] < 2:
        raise ValueError(
            f"{argument} needs at least 2 samples; received {describe(value)}. Pass at least 2 feature vectors."
        )
    if not np.all(np.isfinite(value)):
        raise ValueError(
            f"{argument} contains NaN or inf; received {describe(value)}. Check the images and the feature extractor."
        )
    return value.astype(np.float64, copy=False)


# Image geometry has one vocabulary across the kit: `image_size` is one side of a square image, `channels` is
# 1 (gray) or 3 (RGB), and a model's `image_shape` is `(height, width, channels)`. These two checks are the
# only places that say what is allowed; each caller states its own minimum side and multiple.
CHANNELS = (1, 3)


def channels(value, argument: str = "channels") -> int:
    """Return `value` as an int if it is 1 (gray) or 3 (RGB), else raise naming `argument`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value not in CHANNELS:
        raise ValueError(
            f"{argument} must be 1 (gray) or 3 (RGB); received {argument}={value!r}. "
            "Convert images with tgai.data.to_channels(images, 1 or 3)."
        )
    return int(value)


def image_shape(
    value, argument: str = "image_shape", min_side: int = 8, multiple_of: int = 1, why: str = "", fix: str = ""
) -> tuple[int, int, int]:
    """Return `(height, width, channels)` as ints if every side is >= `min_side` and a multiple of `multiple_of`.

    Args:
        value: The shape to check, a tuple or list of three integers.
        argument: Name used in error messages.
        min_side: Smallest allowed height and width.
        multiple_of: Height and width must be multiples of it (e.g. 8 for three stride-2 stages).
        why: The architectural reason for the rule, quoted in the error.
        fix: What to do instead, quoted in the error (default: resize the images to the nearest valid size).

    Raises:
        ValueError: naming the shape received and the nearest square size that works.
    """
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        raise ValueError(f"{argument} must be (height, width, channels); received {argument}={value!r}.")
    if not all(isinstance(side, numbers.Integral) and not isinstance(side, bool) for side in value):
        raise ValueError(f"{argument} must hold integers; received {argument}={value!r}.")
    height, width, depth = (int(side) for side in value)
    channels(depth, f"{argument}[2] (channels)")
    for side in (height, width):
        problem = _side_problem(side, min_side, multiple_of, why)
        if problem:
            advice = fix or f"Resize the images, e.g. tgai.data.resize(images, {problem[1]})."
            raise ValueError(f"{argument} sides must be {problem[0]}; received {argument}={tuple(value)}. {advice}")
    return height, width, depth


def image_size(value, argument: str = "image_size", min_side: int = 8, multiple_of: int = 1, why: str = "") -> int:
    """Return `value` as an int if it is a valid square side (see `image_shape`), else raise naming `argument`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{argument} must be an integer >= {min_side}; received {argument}={value!r}.")
    problem = _side_problem(int(value), min_side, multiple_of, why)
    if problem:
        raise ValueError(
            f"{argument} must be {problem[0]}; received {argument}={value}. Use e.g. {argument}={problem[1]}."
        )
    return int(value)


def _side_problem(side: int, min_side: int, multiple_of: int, why: str):
    """Return `(rule, nearest valid side)` when `side` breaks the rule, else None."""
    if side >= min_side and side % multiple_of == 0:
        return None
    rule = f"an integer >= {min_side}" + (f" and a multiple of {multiple_of}" if multiple_of > 1 else "")
    nearest = max(min_side, int(round(side / multiple_of)) * multiple_of)
    return rule + (f" ({why})" if why else ""), nearest
