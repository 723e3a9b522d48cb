"""Perceptual features: losses on frozen VGG16 features, and images optimised to match them.

Introduced in lesson 02. A classifier's features are a generative signal: match an image's VGG16 feature
maps and you reconstruct it (feature inversion, Mahendran & Vedaldi 2015); match their Gram matrices and
you copy its texture (style transfer, Gatys et al. 2016); train a network through them and you get a
perceptual loss (Johnson et al. 2016), reused by the perceptual VAE of lesson 04 (DFC-VAE, Hou et al. 2017).

Usage notes:
    * Images cross every public boundary as float32 NHWC in [0, 1], 1 or 3 channels. Inside, gray is
      repeated to RGB, scaled to 0-255 and passed through the backbone's own `preprocess_input`.
    * Keras VGG16's `blockK_convJ` layers include their ReLU: their outputs are the paper's `reluK_J`.
    * The VGG16 is frozen (`trainable=False`); gradients reach the image or the model being trained, never
      the VGG16 weights.
    * Any image size from 32x32 up works: the VGG16 layers are reapplied to a size-free input.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from tgai import backbones, config, data, seeds, validation

# Lesson 02's budget: image size and optimisation steps of feature inversion, steps of the upsampler.
config.register_settings(
    "lesson 02 (tgai.perceptual)",
    class_={"perceptual_size": 64, "perceptual_steps": 80, "upsampler_steps": 100},
    full={"perceptual_size": 224, "perceptual_steps": 400, "upsampler_steps": 1000},
)

# Customary layers (RESEARCH.md). Keras names; relu2_2 = block2_conv2.
JOHNSON_CONTENT_LAYERS = ("block2_conv2",)
JOHNSON_STYLE_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3")
GATYS_CONTENT_LAYERS = ("block5_conv2",)
GATYS_STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
DFC_VAE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1")
# The last convolution of each block: what "the features of block K" means in lesson 02.
BLOCK_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3")
DEFAULT_FEATURE_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3")

# VGG16 halves the image five times; below 32x32 block5 has no pixels left.
MIN_SIZE = backbones.MIN_SIZE
MIN_SIZE_WHY = "VGG16 halves the image 5 times"


class FeatureExtractor:
    """A frozen VGG16 that maps [0, 1] images of any size >= 32x32 to its feature maps at named layers.

    Introduced in lesson 02. Only the layers up to the deepest one asked for are run.

    Args:
        layers: Names of VGG16 layers (e.g. `"block2_conv2"`), at least one.
        backbone: A `tgai.backbones.Backbone` (VGG16). `None` loads one with `weights`.
        weights: Used only when `backbone` is None: `"imagenet"` (offline: the HED trunk, with a warning),
            `"offline"`, or `None` for random initialisation.

    Raises:
        ValueError: for an empty or unknown layer name (the message lists the valid names), or a backbone
            that is not VGG16.
        TypeError: for layers that are not strings.
    """

    def __init__(self, layers, backbone=None, weights="imagenet"):
        if backbone is None:
            backbone = backbones.load("vgg16", weights=weights)
        if getattr(backbone, "name", None) != "vgg16" or not hasattr(backbone, "model"):
            raise ValueError(
                f"backbone must be a VGG16 from tgai.backbones.load('vgg16', ...); received "
                f"{validation.describe(backbone)}. Perceptual losses here use VGG16's layer names."
            )
        if isinstance(layers, str):
            layers = (layers,)
        layers = tuple(layers)
        valid = [layer.name for layer in backbone.model.layers[1:]]
        if not layers:
            raise ValueError(
                f"layers must name at least one VGG16 layer; received layers=(). Valid names: {', '.join(valid)}."
            )
        for name in layers:
            if not isinstance(name, str):
                raise TypeError(
                    f"layers must be layer names (strings); received {validation.describe(name)} in layers={layers!r}."
                )
            if name not in valid:
                raise ValueError(
                    f"Unknown VGG16 layer: received {name!r} in layers={layers!r}. Valid names: {', '.join(valid)}."
                )
        self.layers = layers
        self.backbone = backbone
        backbone.model.trainable = False
        # VGG16 is a plain chain: reapplying its layers to a size-free input shares the weights and lifts
        # the fixed input_shape the backbone was built with.
        deepest = max(valid.index(name) for name in layers)
        inputs = keras.Input(shape=(None, None, 3))
        outputs = {}
        tensor = inputs
        for layer in backbone.model.layers[1 : deepest + 2]:
            tensor = layer(tensor)
            outputs[layer.name] = tensor
        self.model = keras.Model(inputs, [outputs[name] for name in layers], name="vgg16_features")
        self.model.trainable = False
        if self.model.trainable_weights:
            raise RuntimeError("the VGG16 feature extractor must be frozen, yet it has trainable weights.")

    @property
    def weights_source(self) -> str:
        """Where the VGG16 weights came from, in words (print it next to every result)."""
        return self.backbone.weights_source

    def __call__(self, images) -> list:
        """Return the feature maps, one (N, h, w, c) tensor per layer, for images in [0, 1].

        Args:
            images: float NHWC images (tensor or array) in [0, 1], 1 or 3 channels, at least 32x32.
        """
        images = tf.convert_to_tensor(images, dtype=tf.float32)
        _check_image_tensor(images, "images")
        if images.shape[-1] == 1:
            images = tf.repeat(images, 3, axis=-1)
        features = self.model(self.backbone.preprocess(images * 255.0), training=False)
        return list(features) if isinstance(features, (list, tuple)) else [features]


def _check_image_tensor(images, argument: str) -> None:
    """Check what can be checked of a (possibly symbolic) image batch: rank, channels, minimum size."""
    shape = tuple(images.shape)
    if len(shape) != 4:
        raise ValueError(
            f"{argument} must have rank 4 (N, H, W, C); received shape {shape}. Add a batch axis with images[None]."
        )
    validation.channels(shape[-1], f"{argument}.shape[-1]")
    # Height and width may be unknown (None) while a compiled step is traced; then they cannot be checked.
    if None not in shape[1:3]:
        validation.image_shape(shape[1:], f"{argument}.shape[1:]", min_side=MIN_SIZE, why=MIN_SIZE_WHY)


def _image_pair(y_true, y_pred):
    """Convert a loss's two image batches to float32 tensors and check each (see `_check_image_tensor`)."""
    y_true = tf.convert_to_tensor(y_true, dtype=tf.float32)
    y_pred = tf.convert_to_tensor(y_pred, dtype=tf.float32)
    _check_image_tensor(y_true, "y_true")
    _check_image_tensor(y_pred, "y_pred")
    return y_true, y_pred


def _layer_weights(layer_weights, layers) -> tuple:
    if layer_weights is None:
        return tuple(1.0 / len(layers) for _ in layers)
    layer_weights = tuple(float(weight) for weight in layer_weights)
    if len(layer_weights) != len(layers) or any(weight < 0 for weight in layer_weights):
        raise ValueError(
            f"layer_weights must hold one non-negative number per layer; received layer_weights={layer_weights!r} "
            f"for layers={layers!r}. Leave it None to average the layers."
        )
    return layer_weights


def gram_matrix(features):
    """Return the Gram matrices of feature maps: channel-by-channel correlations averaged over positions.

    Introduced in lesson 02. `G[c, d] = mean over pixels of F[..., c] * F[..., d]`: where the features fire
    is averaged away, which textures they fire together is kept. This is Gatys et al.'s style statistic.

    Args:
        features: (N, H, W, C) feature maps (tensor or array).

    Returns:
        A float32 (N, C, C) tensor, symmetric and positive semi-definite.

    Raises:
        ValueError: if `features` is not rank 4.
    """
    features = tf.convert_to_tensor(features, dtype=tf.float32)
    if len(features.shape) != 4:
        raise ValueError(
            f"features must have rank 4 (N, H, W, C); received shape {tuple(features.shape)}. Pass one layer's feature "
            "maps, e.g. FeatureExtractor(layers, backbone)(images)[0]."
        )
    positions = tf.cast(tf.shape(features)[1] * tf.shape(features)[2], tf.float32)
    return tf.einsum("nhwc,nhwd->ncd", features, features) / positions


class FeatureLoss(keras.losses.Loss):
    """Perceptual (feature) loss: mean squared difference of frozen VGG16 features at named layers.

    Introduced in lesson 02 (pixel vs perceptual loss); lesson 04 uses it as the DFC-VAE reconstruction term.
    Reference: Johnson et al., "Perceptual Losses for Real-Time Style Transfer and Super-Resolution", 2016.

    Per image: `sum over layers of layer_weight * mean((phi(y_true) - phi(y_pred))**2)`. Use it like any
    Keras loss: `model.compile(loss=FeatureLoss())` or `loss = FeatureLoss()(y_true, y_pred)`.

    Args:
        layers: VGG16 layer names (default relu1_2, relu2_2, relu3_3).
        weights: Backbone weights when `backbone` is None: `"imagenet"` (offline: the HED trunk),
            `"offline"` or `None` (random initialisation).
        backbone: A `tgai.backbones.Backbone` VGG16 to use instead of loading one.
        input_shape: Expected (height, width, channels) of the images; only checked (any size >= 32 works).
        layer_weights: One non-negative weight per layer; default averages the layers.
        name: Name of the loss.
        reduction: Keras reduction over the batch.

    Raises:
        ValueError: for unknown layers (the message lists the valid ones), inputs below 32x32 or bad weights.
    """

    def __init__(
        self,
        layers=DEFAULT_FEATURE_LAYERS,
        weights="imagenet",
        backbone=None,
        input_shape=(32, 32, 3),
        layer_weights=None,
        name="feature_loss",
        reduction="sum_over_batch_size",
    ):
        super().__init__(name=name, reduction=reduction)
        self.input_shape = validation.image_shape(input_shape, "input_shape", min_side=MIN_SIZE, why=MIN_SIZE_WHY)
        self.extractor = FeatureExtractor(layers, backbone=backbone, weights=weights)
        self.layers = self.extractor.layers
        self.layer_weights = _layer_weights(layer_weights, self.layers)

    @property
    def weights_source(self) -> str:
        """Where the VGG16 weights came from, in words."""
        return self.extractor.weights_source

    def trainable_weight_count(self) -> int:
        """Number of trainable scalars in the loss network: 0, since the VGG16 is frozen."""
        return int(sum(np.prod(variable.shape) for variable in self.extractor.model.trainable_weights))

    def __call__(self, y_true, y_pred, sample_weight=None):
        if tf.executing_eagerly():
            # Concrete values can be range-checked too (0-255 images are the classic mistake); inside a
            # compiled train_step only the shapes are checked, in `call`.
            for value, argument in ((y_true, "y_true"), (y_pred, "y_pred")):
                validation.images(np.asarray(value), argument, min_size=MIN_SIZE)
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def call(self, y_true, y_pred):
        y_true, y_pred = _image_pair(y_true, y_pred)
        if y_true.shape[1:3] != y_pred.shape[1:3] and None not in (*y_true.shape[1:3], *y_pred.shape[1:3]):
            raise ValueError(
                f"y_true and y_pred must have the same height and width; received shapes {tuple(y_true.shape)} and "
                f"{tuple(y_pred.shape)}. Resize one of them, e.g. tgai.data.resize(images, size)."
            )
        # The targets are data, not parameters.
        true_features = self.extractor(tf.stop_gradient(y_true))
        pred_features = self.extractor(y_pred)
        total = 0.0
        for weight, true, pred in zip(self.layer_weights, true_features, pred_features, strict=True):
            total += weight * tf.reduce_mean(tf.square(pred - true), axis=[1, 2, 3])
        return total

    def get_config(self):
        return {
            "name": self.name,
            "reduction": self.reduction,
            "layers": list(self.layers),
            "input_shape": list(self.input_shape),
            "layer_weights": list(self.layer_weights),
        }


class StyleLoss(keras.losses.Loss):
    """Style loss: squared difference of Gram matrices of frozen VGG16 features at named layers.

    Introduced in lesson 02. Reference: Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional
    Neural Networks", CVPR 2016. `y_true` holds the style image(s); its size may differ from `y_pred`'s,
    and a single style image is broadcast over the batch.

    Args:
        layers: VGG16 layer names (default Johnson et al.'s relu1_2, relu2_2, relu3_3, relu4_3).
        weights: Backbone weights when `backbone` is None (see `FeatureLoss`).
        backbone: A `tgai.backbones.Backbone` VGG16.
        layer_weights: One non-negative weight per layer; default averages the layers.
        name: Name of the loss.
        reduction: Keras reduction over the batch.
    """

    def __init__(
        self,
        layers=JOHNSON_STYLE_LAYERS,
        weights="imagenet",
        backbone=None,
        layer_weights=None,
        name="style_loss",
        reduction="sum_over_batch_size",
    ):
        super().__init__(name=name, reduction=reduction)
        self.extractor = FeatureExtractor(layers, backbone=backbone, weights=weights)
        self.layers = self.extractor.layers
        self.layer_weights = _layer_weights(layer_weights, self.layers)

    def call(self, y_true, y_pred):
        y_true, y_pred = _image_pair(y_true, y_pred)
        true_features = self.extractor(tf.stop_gradient(y_true))
        pred_features = self.extractor(y_pred)
        total = 0.0
        for weight, true, pred in zip(self.layer_weights, true_features, pred_features, strict=True):
            total += weight * tf.reduce_mean(tf.square(gram_matrix(pred) - gram_matrix(true)), axis=[1, 2])
        return total


def content_and_style_loss(extractor, content_image, style_image, content_layers, style_layers, style_weight=1.0):
    """Build Gatys et al.'s objective as a function of the image being optimised.

    Introduced in lesson 02. Both terms are relative errors, each layer's squared error divided by its
    target's energy, so that `style_weight` means the same for any backbone: the features of a pretrained
    and a random VGG16 differ in scale by orders of magnitude.

    Args:
        extractor: A `FeatureExtractor` whose layers include `content_layers` and `style_layers`.
        content_image: (1, H, W, C) image in [0, 1] whose features the result keeps.
        style_image: (1, h, w, C) image in [0, 1] whose Gram matrices the result copies (any size >= 32).
        content_layers: Layer names for the content term (may be empty for pure texture synthesis).
        style_layers: Layer names for the style term.
        style_weight: Weight of the style term relative to the content term.

    Returns:
        `objective(images) -> (N,)` tensor of losses, usable by `optimize_image`.
    """
    content_image = validation.images(content_image, "content_image", min_size=MIN_SIZE)
    style_image = validation.images(style_image, "style_image", min_size=MIN_SIZE)
    index = {name: position for position, name in enumerate(extractor.layers)}
    for name in (*content_layers, *style_layers):
        if name not in index:
            raise ValueError(
                f"layer {name!r} is not among the extractor's layers {extractor.layers!r}; build it with all of them."
            )
    content_targets = [extractor(content_image)[index[name]] for name in content_layers]
    style_features = extractor(style_image)
    style_targets = [gram_matrix(style_features[index[name]]) for name in style_layers]

    def objective(images):
        features = extractor(images)
        loss = 0.0
        if content_layers:
            for name, target in zip(content_layers, content_targets, strict=True):
                error = tf.reduce_mean(tf.square(features[index[name]] - target), axis=[1, 2, 3])
                loss += error / (tf.reduce_mean(tf.square(target)) + 1e-8) / len(content_layers)
        for name, target in zip(style_layers, style_targets, strict=True):
            error = tf.reduce_mean(tf.square(gram_matrix(features[index[name]]) - target), axis=[1, 2])
            loss += style_weight * error / (tf.reduce_mean(tf.square(target)) + 1e-8) / len(style_layers)
        return loss

    return objective


def style_distance(images, style_image, extractor, layers=None):
    """Relative Gram-matrix distance of each image to a style image, in one extractor's feature space.

    Introduced in lesson 02 to compare style transfers fairly: measure every result in the same space.

    Args:
        images: (N, H, W, C) images in [0, 1].
        style_image: (1, h, w, C) style image in [0, 1].
        extractor: The `FeatureExtractor` that defines the feature space.
        layers: Subset of the extractor's layers (default: all of them).

    Returns:
        (N,) float64 array: per image, the mean over layers of `||G - G_style||^2 / ||G_style||^2`.
    """
    images = validation.images(images, "images", min_size=MIN_SIZE)
    style_image = validation.images(style_image, "style_image", min_size=MIN_SIZE)
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
        target = gram_matrix(style[index[name]])
        gram = gram_matrix(features[index[name]])
        error = tf.reduce_sum(tf.square(gram - target), axis=[1, 2]) / tf.reduce_sum(tf.square(target))
        total += error.numpy() / len(layers)
    return total


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
        extractor: A `FeatureExtractor` for exactly these layers; `None` builds one (default weights).
        steps, learning_rate, tv_weight, progress: See `optimize_image`.
        seed: Seeds the starting noise.

    Returns:
        An `OptimizedImage`; its history is the relative feature error `||F - F*||^2 / ||F*||^2`.
    """
    target = validation.images(target, "target", min_size=MIN_SIZE)
    if extractor is None:
        extractor = FeatureExtractor(layers)
    layers = (layers,) if isinstance(layers, str) else tuple(layers)
    if tuple(extractor.layers) != layers:
        raise ValueError(
            f"extractor.layers {extractor.layers!r} must equal layers {layers!r}; "
            "build FeatureExtractor(layers, backbone)."
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


def style_transfer(
    content,
    style,
    extractor=None,
    content_layers=JOHNSON_CONTENT_LAYERS,
    style_layers=JOHNSON_STYLE_LAYERS,
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
        extractor: A `FeatureExtractor` holding all content and style layers; `None` builds one.
        content_layers, style_layers: VGG16 layer names (default Johnson et al.'s).
        style_weight: Weight of the (relative) style term against the (relative) content term.
        steps, learning_rate, tv_weight, progress: See `optimize_image`.

    Returns:
        An `OptimizedImage`.
    """
    content = validation.images(content, "content", min_size=MIN_SIZE)
    layers = tuple(dict.fromkeys((*content_layers, *style_layers)))
    if extractor is None:
        extractor = FeatureExtractor(layers)
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


def gradient_energy(images) -> np.ndarray:
    """Mean squared finite-difference gradient per image: how much edge there is (sharpness).

    Introduced in lesson 02. Blur lowers it; compare it to the ground truth's value.
    """
    images = validation.images(images, "images")
    down = np.mean(np.square(np.diff(images, axis=1)), axis=(1, 2, 3))
    right = np.mean(np.square(np.diff(images, axis=2)), axis=(1, 2, 3))
    return down + right


def build_upsampler(scale=2, channels=1, filters=32, seed=0):
    """A tiny convolutional upsampler (x`scale` super-resolution) for the pixel-vs-perceptual comparison.

    Introduced in lesson 02. Nearest-neighbour upsampling, then three 3x3 convolutions that learn to fill
    in the detail; a sigmoid keeps the output in [0, 1].

    Args:
        scale: Upsampling factor (2 or 4).
        channels: Image channels, 1 or 3.
        filters: Width of the hidden convolutions.
        seed: Seeds the Glorot-uniform initialisers.

    Returns:
        An uncompiled `keras.Sequential` mapping (N, h, w, C) to (N, h * scale, w * scale, C).
    """
    scale = validation.positive_int(scale, "scale", minimum=2)
    filters = validation.positive_int(filters, "filters")
    channels = validation.channels(channels, "channels")

    def conv(units, index, activation):
        initializer = keras.initializers.GlorotUniform(seed=seeds.derive(seed, "upsampler_init", index))
        return keras.layers.Conv2D(units, 3, padding="same", activation=activation, kernel_initializer=initializer)

    return keras.Sequential(
        [
            keras.Input(shape=(None, None, channels)),
            keras.layers.UpSampling2D(scale, interpolation="nearest"),
            conv(filters, 0, "relu"),
            conv(filters, 1, "relu"),
            conv(channels, 2, "sigmoid"),
        ],
        name=f"upsampler_x{scale}",
    )


def train_upsampler(low, high, loss, steps, batch_size=16, learning_rate=2e-3, seed=0):
    """Train `build_upsampler` to map `low` to `high` with a given loss, at a fixed budget and seed.

    Introduced in lesson 02: the same model, data order, steps and seed with `loss="mse"` or a
    `FeatureLoss`, so that only the loss differs.

    Args:
        low: (N, h, w, C) low-resolution images in [0, 1].
        high: (N, h * scale, w * scale, C) targets in [0, 1], at least 32x32 for a `FeatureLoss`.
        loss: Any Keras loss (`"mse"`, `FeatureLoss(...)`).
        steps: Adam steps (batches).
        batch_size: Images per step.
        learning_rate: Adam's learning rate.
        seed: Seeds the initialisation and the shuffling.

    Returns:
        `(model, losses)`: the trained upsampler and, per step, the running mean of the training loss as
        Keras reports it.
    """
    low = validation.images(low, "low")
    high = validation.images(high, "high")
    steps = validation.positive_int(steps, "steps")
    batch_size = validation.positive_int(batch_size, "batch_size")
    if isinstance(loss, str):
        try:
            keras.losses.get(loss)
        except ValueError:
            raise ValueError(
                f"Unknown loss: received loss={loss!r}. Use 'mse', 'mae' or a keras.losses.Loss such as "
                "tgai.perceptual.FeatureLoss()."
            ) from None
    if len(low) != len(high) or high.shape[1] % low.shape[1] or high.shape[1] // low.shape[1] < 2:
        raise ValueError(
            f"low and high must pair one-to-one, high being an integer multiple (>= 2) of low's size; received "
            f"{validation.describe(low)} and {validation.describe(high)}. Make low with tgai.data.resize(high, size)."
        )
    model = build_upsampler(high.shape[1] // low.shape[1], low.shape[-1], seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    dataset = data.to_dataset(low, batch_size, seed=seed, repeat=True, targets=high)
    history = keras.callbacks.History()
    losses = []
    record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: losses.append(float(logs["loss"])))
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False, callbacks=[history, record])
    return model, np.asarray(losses)
