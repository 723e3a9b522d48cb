"""Perceptual features: losses on frozen VGG16 features (feature loss, Gram-matrix style loss).

Introduced in lesson 02. A classifier's features are a generative signal: match an image's VGG16 feature
maps and you reconstruct it (feature inversion, Mahendran & Vedaldi 2015); match their Gram matrices and
you copy its texture (style transfer, Gatys et al. 2016); train a network through them and you get a
perceptual loss (Johnson et al. 2016), reused by the perceptual VAE of lesson 04 (DFC-VAE, Hou et al. 2017).

This module holds the measuring side: `FeatureExtractor`, `gram_matrix`, `FeatureLoss`, `StyleLoss` and the
customary layer choices. Images optimised against them are in `tgai.inversion`; the upsampler trained with
a pixel or a perceptual loss is in `tgai.upsampler`.

Usage notes:
    * Images cross every public boundary as float32 NHWC in [0, 1], 1 or 3 channels. Inside, gray is
      repeated to RGB, scaled to 0-255 and passed through the backbone's own `preprocess_input`.
    * Keras VGG16's `blockK_convJ` layers include their ReLU: their outputs are the paper's `reluK_J`.
    * The VGG16 is frozen (`trainable=False`); gradients reach the image or the model being trained, never
      the VGG16 weights.
    * Any image size from 32x32 up works: the VGG16 layers are reapplied to a size-free input.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tgai import backbones
from tgai.core import config, validation

# Lesson 02's budget: image size and optimisation steps of feature inversion, steps of the upsampler.
config.register_settings(
    "lesson 02 (tgai.perceptual)",
    class_={"perceptual_size": 64, "perceptual_steps": 80, "upsampler_steps": 100},
    full={"perceptual_size": 224, "perceptual_steps": 400, "upsampler_steps": 1000},
)

# Customary layers (Johnson et al., 2016; Zhang et al., 2018). Keras names; relu2_2 = block2_conv2.
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
