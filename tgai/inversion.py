"""Images optimised to match VGG16 features: feature inversion and style transfer.

Introduced in lesson 02 (perceptual features). The losses of `tgai.perceptual` measure how far an image's
features are from a target's; here the pixels themselves are optimised to close that gap:

    * `invert_features` starts from noise and matches one image's feature maps at chosen layers, showing
      what each depth keeps (Mahendran & Vedaldi 2015).
    * `style_transfer` starts from a content image and matches a style image's Gram matrices while keeping
      the content's features (Gatys et al. 2016); `content_and_style_loss` builds that objective.
    * Both run `optimize_image` (Adam on the pixels, kept in [0, 1]) with an optional `total_variation`
      smoothness prior, and return an `OptimizedImage` that `save_result` writes as PNG plus JSON.
    * `style_distance` (Gram matrices in one feature space) and `patch_distance` (pixel patches, no network)
      judge the results.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from tgai import perceptual
from tgai.core import validation


def total_variation(images):
    """Mean squared difference between neighbouring pixels, per image: a smoothness prior.

    Introduced in lesson 02 (Mahendran & Vedaldi 2015 regularise feature inversion with it).
    """
    images = tf.convert_to_tensor(images, dtype=tf.float32)
    down = tf.reduce_mean(tf.square(images[:, 1:] - images[:, :-1]), axis=[1, 2, 3])
    right = tf.reduce_mean(tf.square(images[:, :, 1:] - images[:, :, :-1]), axis=[1, 2, 3])
    return down + right


@dataclasses.dataclass
class OptimizedImage:
    """The result of `optimize_image`: the image, the loss after each step and the parameters used.

    Introduced in lesson 02.
    """

    image: np.ndarray
    history: np.ndarray
    params: dict

    def save(self, path) -> tuple[pathlib.Path, pathlib.Path]:
        """Write `path`.png and `path`.json (see `save_result`)."""
        return save_result(path, self.image, self.params | {"final_loss": float(self.history[-1])})


def optimize_image(objective, initial, steps, learning_rate=0.05, tv_weight=0.0, progress=4, params=None):
    """Optimise images with Adam so that `objective(images)` falls, keeping pixels in [0, 1].

    Introduced in lesson 02. The pixels are the sigmoid of free logits, so every step stays a valid image
    without clipping (which would stall gradients at the bounds).

    Args:
        objective: Function `(N, H, W, C) tensor in [0, 1] -> (N,)` loss tensor, differentiable.
        initial: (N, H, W, C) starting images in [0, 1] (noise for inversion, the content for style).
        steps: Number of Adam steps.
        learning_rate: Adam's learning rate on the logits.
        tv_weight: Weight of `total_variation`, a smoothness prior added to the objective.
        progress: How many progress lines to print (0 for none): a few compact lines, never a bar.
        params: Extra parameters to record with the result (e.g. layers, backbone).

    Returns:
        An `OptimizedImage` with `.image` (float32, [0, 1]), `.history` (mean loss per step, before the
        update) and `.params`.

    Raises:
        ValueError, TypeError: for images that are not float NHWC in [0, 1], or non-positive steps.
    """
    initial = validation.images(initial, "initial")
    steps = validation.positive_int(steps, "steps")
    progress = validation.positive_int(progress, "progress", minimum=0)
    if not callable(objective):
        raise TypeError(f"objective must be a function of the images; received {validation.describe(objective)}.")
    if not learning_rate > 0 or tv_weight < 0:
        raise ValueError(
            f"learning_rate must be > 0 and tv_weight >= 0; received learning_rate={learning_rate!r}, "
            f"tv_weight={tv_weight!r}. Use e.g. learning_rate=0.05, tv_weight=0.0."
        )
    # Keep the logits finite where the initial image sits exactly on 0 or 1.
    clipped = np.clip(initial, 1e-3, 1 - 1e-3)
    logits = tf.Variable(np.log(clipped / (1 - clipped)), dtype=tf.float32, name="image_logits")
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            images = tf.sigmoid(logits)
            loss = tf.reduce_mean(objective(images))
            total = loss + tv_weight * tf.reduce_mean(total_variation(images)) if tv_weight else loss
        optimizer.apply_gradients([(tape.gradient(total, logits), logits)])
        return loss

    report = set(np.linspace(0, steps - 1, progress).round().astype(int)) if progress else set()
    history = []
    for index in range(steps):
        history.append(float(step()))
        if index in report:
            print(f"step {index + 1:4d}/{steps}: loss {history[-1]:.4g}")
    image = tf.sigmoid(logits).numpy().astype(np.float32)
    record = {"steps": steps, "learning_rate": float(learning_rate), "tv_weight": float(tv_weight)} | dict(params or {})
    return OptimizedImage(image, np.asarray(history), record)


def invert_features(target, layers, extractor=None, steps=100, learning_rate=0.05, tv_weight=0.0, seed=0, progress=4):
    """Reconstruct images from their VGG16 features alone, starting from noise.

    Introduced in lesson 02 ("what each depth keeps"). Reference: Mahendran & Vedaldi, "Understanding Deep
    Image Representations by Inverting Them", CVPR 2015.

    Args:
        target: (N, H, W, C) images in [0, 1] whose features are matched.
        layers: VGG16 layer name(s) whose features are matched (relative squared error, averaged).
        extractor: A `tgai.perceptual.FeatureExtractor` for exactly these layers; `None` builds one (default weights).
        steps, learning_rate, tv_weight, progress: See `optimize_image`.
        seed: Seeds the starting noise.

    Returns:
        An `OptimizedImage`; its history is the relative feature error `||F - F*||^2 / ||F*||^2`.
    """
    target = validation.images(target, "target", min_size=perceptual.MIN_SIZE)
    if extractor is None:
        extractor = perceptual.FeatureExtractor(layers)
    layers = (layers,) if isinstance(layers, str) else tuple(layers)
    if tuple(extractor.layers) != layers:
        raise ValueError(
            f"extractor.layers {extractor.layers!r} must equal layers {layers!r}; "
            "build tgai.perceptual.FeatureExtractor(layers, backbone)."
        )
    targets = [tf.constant(feature) for feature in extractor(target)]
    energies = [tf.reduce_mean(tf.square(feature), axis=[1, 2, 3]) + 1e-8 for feature in targets]

    def objective(images):
        features = extractor(images)
        error = [
            tf.reduce_mean(tf.square(f - t), axis=[1, 2, 3]) / e
            for f, t, e in zip(features, targets, energies, strict=True)
        ]
        return tf.add_n(error) / len(error)

    noise = np.random.default_rng(seed).normal(0.5, 0.05, size=target.shape).clip(0, 1).astype(np.float32)
    params = {"task": "feature inversion", "layers": list(layers), "seed": seed, "weights": extractor.weights_source}
    return optimize_image(objective, noise, steps, learning_rate, tv_weight, progress, params)


def content_and_style_loss(extractor, content_image, style_image, content_layers, style_layers, style_weight=1.0):
    """Build Gatys et al.'s objective as a function of the image being optimised.

    Introduced in lesson 02. Both terms are relative errors, each layer's squared error divided by its
    target's energy, so that `style_weight` means the same for any backbone: the features of a pretrained
    and a random VGG16 differ in scale by orders of magnitude.

    Args:
        extractor: A `tgai.perceptual.FeatureExtractor` whose layers include `content_layers` and `style_layers`.
        content_image: (1, H, W, C) image in [0, 1] whose features the result keeps.
        style_image: (1, h, w, C) image in [0, 1] whose Gram matrices the result copies (any size >= 32).
        content_layers: Layer names for the content term (may be empty for pure texture synthesis).
        style_layers: Layer names for the style term.
        style_weight: Weight of the style term relative to the content term.

    Returns:
        `objective(images) -> (N,)` tensor of losses, usable by `optimize_image`.
    """
    content_image = validation.images(content_image, "content_image", min_size=perceptual.MIN_SIZE)
    style_image = validation.images(style_image, "style_image", min_size=perceptual.MIN_SIZE)
    index = {name: position for position, name in enumerate(extractor.layers)}
    for name in (*content_layers, *style_layers):
        if name not in index:
            raise ValueError(
                f"layer {name!r} is not among the extractor's layers {extractor.layers!r}; build it with all of them."
            )
    content_targets = [extractor(content_image)[index[name]] for name in content_layers]
    style_features = extractor(style_image)
    style_targets = [perceptual.gram_matrix(style_features[index[name]]) for name in style_layers]

    def objective(images):
        features = extractor(images)
        loss = 0.0
        if content_layers:
            for name, target in zip(content_layers, content_targets, strict=True):
                error = tf.reduce_mean(tf.square(features[index[name]] - target), axis=[1, 2, 3])
                loss += error / (tf.reduce_mean(tf.square(target)) + 1e-8) / len(content_layers)
        for name, target in zip(style_layers, style_targets, strict=True):
            error = tf.reduce_mean(tf.square(perceptual.gram_matrix(features[index[name]]) - target), axis=[1, 2])
            loss += style_weight * error / (tf.reduce_mean(tf.square(target)) + 1e-8) / len(style_layers)
        return loss

    return objective


def style_transfer(
    content,
    style,
    extractor=None,
    content_layers=perceptual.JOHNSON_CONTENT_LAYERS,
    style_layers=perceptual.JOHNSON_STYLE_LAYERS,
    style_weight=10.0,
    steps=100,
    learning_rate=0.05,
    tv_weight=0.0,
    progress=4,
):
    """Repaint a content image with a style image's textures by optimising the pixels (Gatys et al. 2016).

    Introduced in lesson 02. Starts from the content image; see `content_and_style_loss` for the objective.

    Args:
        content: (1, H, W, C) content image in [0, 1].
        style: (1, h, w, C) style image in [0, 1].
        extractor: A `tgai.perceptual.FeatureExtractor` holding all content and style layers; `None` builds one.
        content_layers, style_layers: VGG16 layer names (default Johnson et al.'s).
        style_weight: Weight of the (relative) style term against the (relative) content term.
        steps, learning_rate, tv_weight, progress: See `optimize_image`.

    Returns:
        An `OptimizedImage`.
    """
    content = validation.images(content, "content", min_size=perceptual.MIN_SIZE)
    layers = tuple(dict.fromkeys((*content_layers, *style_layers)))
    if extractor is None:
        extractor = perceptual.FeatureExtractor(layers)
    objective = content_and_style_loss(
        extractor, content, style, tuple(content_layers), tuple(style_layers), style_weight
    )
    params = {
        "task": "style transfer",
        "content_layers": list(content_layers),
        "style_layers": list(style_layers),
        "style_weight": float(style_weight),
        "weights": extractor.weights_source,
    }
    return optimize_image(objective, content, steps, learning_rate, tv_weight, progress, params)


def style_distance(images, style_image, extractor, layers=None):
    """Relative Gram-matrix distance of each image to a style image, in one extractor's feature space.

    Introduced in lesson 02 to compare style transfers fairly: measure every result in the same space.

    Args:
        images: (N, H, W, C) images in [0, 1].
        style_image: (1, h, w, C) style image in [0, 1].
        extractor: The `tgai.perceptual.FeatureExtractor` that defines the feature space.
        layers: Subset of the extractor's layers (default: all of them).

    Returns:
        (N,) float64 array: per image, the mean over layers of `||G - G_style||^2 / ||G_style||^2`.
    """
    images = validation.images(images, "images", min_size=perceptual.MIN_SIZE)
    style_image = validation.images(style_image, "style_image", min_size=perceptual.MIN_SIZE)
    layers = extractor.layers if layers is None else tuple(layers)
    index = {name: position for position, name in enumerate(extractor.layers)}
    features, style = extractor(images), extractor(style_image)
    total = np.zeros(len(images))
    for name in layers:
        if name not in index:
            raise ValueError(
                f"layer {name!r} is not among the extractor's layers {extractor.layers!r}. Pass layers=None or build "
                "the extractor with this layer."
            )
        target = perceptual.gram_matrix(style[index[name]])
        gram = perceptual.gram_matrix(features[index[name]])
        error = tf.reduce_sum(tf.square(gram - target), axis=[1, 2]) / tf.reduce_sum(tf.square(target))
        total += error.numpy() / len(layers)
    return total


def patch_distance(images_a, images_b, patch_size=5, projections=64, samples=4096, seed=0) -> float:
    """Sliced Wasserstein distance between the pixel-patch distributions of two image sets: no network.

    Introduced in lesson 02 as a neutral judge of texture: it compares the distributions of small RGB
    patches (colour and local structure) directly in pixel space, so no feature space is favoured.

    Args:
        images_a, images_b: (N, H, W, C) images in [0, 1] with the same channel count (sizes may differ).
        patch_size: Side of the square patches.
        projections: Random unit directions to project the patches on.
        samples: Patches drawn from each set.
        seed: Seeds the patch sampling and the directions.

    Returns:
        The mean over directions of the 1-D Wasserstein-1 distance between projected patches.
    """
    images_a = validation.images(images_a, "images_a")
    images_b = validation.images(images_b, "images_b")
    patch_size = validation.positive_int(patch_size, "patch_size")
    smallest = min(*images_a.shape[1:3], *images_b.shape[1:3])
    if patch_size > smallest:
        raise ValueError(
            f"patch_size must fit in every image; received patch_size={patch_size} for images as small as "
            f"{smallest}x{smallest}. Use patch_size <= {smallest}."
        )
    projections = validation.positive_int(projections, "projections")
    samples = validation.positive_int(samples, "samples")
    if images_a.shape[-1] != images_b.shape[-1]:
        raise ValueError(
            f"images_a and images_b need the same channels; received shapes {images_a.shape} and {images_b.shape}. "
            "Convert with tgai.data.to_channels(images, 3)."
        )
    rng = np.random.default_rng(seed)

    def patches(images):
        count, height, width, _ = images.shape
        n = rng.integers(0, count, samples)
        y = rng.integers(0, height - patch_size + 1, samples)
        x = rng.integers(0, width - patch_size + 1, samples)
        offsets = np.arange(patch_size)
        rows = (y[:, None] + offsets)[:, :, None]
        cols = (x[:, None] + offsets)[:, None, :]
        return images[n[:, None, None], rows, cols].reshape(samples, -1)

    first, second = patches(images_a), patches(images_b)
    directions = rng.normal(size=(first.shape[1], projections))
    directions /= np.linalg.norm(directions, axis=0, keepdims=True)
    projected_a = np.sort(first @ directions, axis=0)
    projected_b = np.sort(second @ directions, axis=0)
    return float(np.mean(np.abs(projected_a - projected_b)))


def save_result(path, image, params) -> tuple[pathlib.Path, pathlib.Path]:
    """Save an optimised image as PNG and its parameters as JSON next to it.

    Introduced in lesson 02.

    Args:
        path: File path without suffix (`.png` and `.json` are added).
        image: (H, W, C) or (1, H, W, C) image in [0, 1].
        params: JSON-serialisable parameters (steps, layers, weights source, ...).

    Returns:
        The paths of the PNG and JSON files written.
    """
    image = np.asarray(image)
    image = validation.images(image[None] if image.ndim == 3 else image, "image")
    if len(image) != 1:
        raise ValueError(
            f"image must be a single image; received {validation.describe(image)}. Save each with its own path."
        )
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.round(image[0] * 255).astype(np.uint8)
    png, sidecar = path.with_suffix(".png"), path.with_suffix(".json")
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(png)
    sidecar.write_text(json.dumps(params, indent=2, sort_keys=True, default=str) + "\n")
    return png, sidecar
