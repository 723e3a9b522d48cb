"""A tiny super-resolution network, to compare a pixel loss with a perceptual loss at the same budget.

Introduced in lesson 02 (perceptual features). `build_upsampler` makes a small x2 / x4 upsampler and
`train_upsampler` trains it with any Keras loss (`"mse"` or a `tgai.perceptual.FeatureLoss`), with the same
data order, steps and seed, so that only the loss differs. `gradient_energy` measures how sharp the results
are (a pixel loss averages plausible details into blur); lesson 04 reuses it on VAE reconstructions.

Reference: Johnson et al., "Perceptual Losses for Real-Time Style Transfer and Super-Resolution", 2016.
"""

from __future__ import annotations

import keras
import numpy as np

from tgai import data
from tgai.core import seeds, validation


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
    `tgai.perceptual.FeatureLoss`, so that only the loss differs.

    Args:
        low: (N, h, w, C) low-resolution images in [0, 1].
        high: (N, h * scale, w * scale, C) targets in [0, 1], at least 32x32 for a `tgai.perceptual.FeatureLoss`.
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
