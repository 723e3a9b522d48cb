"""Argument checks shared by the public API.

Every public function validates its arguments first, so a learner sees one `ValueError` or `TypeError`
that names the argument, the value received and the fix, before TensorFlow produces a stack trace.
"""

from __future__ import annotations

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
            f"{describe(value)}. Images are NHWC; convert with tgai.data.to_channels(images, 3)."
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


def labels(value, count: int, argument: str = "labels") -> np.ndarray:
    """Check integer labels that must pair one-to-one with `count` images. Return them as int64."""
    value = np.asarray(value)
    if value.ndim != 1 or not np.issubdtype(value.dtype, np.integer):
        raise TypeError(
            f"{argument} must be a 1-D integer array; received {describe(value)}. Convert with np.asarray(labels, dtype=np.int64)."
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
            f"{argument} must be a NumPy array of shape (N, D); received {describe(value)}. Convert with np.asarray(...)."
        )
    if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
        raise TypeError(f"{argument} must hold numbers; received {describe(value)}. Convert with .astype(np.float32).")
    if value.ndim != 2:
        raise ValueError(
            f"{argument} must have shape (N, D); received {describe(value)}. "
            "Pool feature maps first, e.g. tgai.backbones.extract(..., pooling='avg')."
        )
    if value.shape[0] < 2:
        raise ValueError(f"{argument} needs at least 2 samples; received {describe(value)}. Pass at least 2 feature vectors.")
    if not np.all(np.isfinite(value)):
        raise ValueError(
            f"{argument} contains NaN or inf; received {describe(value)}. Check the images and the feature extractor."
        )
    return value.astype(np.float64, copy=False)
