"""Probes of frozen features: a linear read-out and the from-scratch CNN it must beat.

Introduced in lesson 01 (feature extraction): with few labels, how well do a backbone's frozen features
separate the classes (`linear_probe`), compared with a small CNN trained on the same labelled images alone
(`scratch_classifier`)? Features come from `tgai.backbones.extract`; the backbone is never updated.
"""

from __future__ import annotations

import keras
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tgai import data
from tgai.core import seeds, validation


def linear_probe(train_features, train_labels, test_features, test_labels, regularization: float = 1.0) -> float:
    """Accuracy of a logistic-regression probe on frozen features: how linearly readable the classes are.

    Introduced in lesson 01 (the few-label probe). Features are standardised with statistics of the
    training features only; the backbone is never updated.

    Args:
        train_features: (N, D) features of the labelled images.
        train_labels: N integer labels.
        test_features: (M, D) features of held-out images.
        test_labels: M integer labels.
        regularization: Inverse L2 strength `C` of scikit-learn's `LogisticRegression`.

    Returns:
        Accuracy on the held-out features, in [0, 1].
    """
    train_features = validation.features(train_features, "train_features")
    test_features = validation.features(test_features, "test_features")
    train_labels = validation.labels(train_labels, len(train_features), "train_labels")
    test_labels = validation.labels(test_labels, len(test_features), "test_labels")
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            f"train_features and test_features must have the same dimension; received {train_features.shape[1]} "
            f"and {test_features.shape[1]}. Extract both from the same layer."
        )
    if len(np.unique(train_labels)) < 2:
        raise ValueError("train_labels must hold at least 2 classes; a probe needs something to separate.")
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=regularization, max_iter=2000))
    probe.fit(train_features, train_labels)
    return float(np.mean(probe.predict(test_features) == test_labels))


def scratch_classifier(
    train_images, train_labels, test_images, test_labels, epochs: int, seed: int = 0, batch_size: int = 32
) -> float:
    """Accuracy of a small CNN trained from scratch on the same labelled images: the probe's baseline.

    Introduced in lesson 01: frozen features are worth using only if they beat learning from the few labels
    alone. Two conv blocks and a dense layer (about 0.1M parameters), Adam at 1e-3, all initialisers and
    shuffling seeded.

    Args:
        train_images: float NHWC [0, 1] images, gray or RGB, resized to 32x32 gray.
        train_labels: Their integer labels (10 classes).
        test_images: Held-out images.
        test_labels: Their labels.
        epochs: Passes over the labelled images (the profile's `probe_cnn_epochs`).
        seed: Seeds initialisers and shuffling.
        batch_size: Images per step.

    Returns:
        Accuracy on the held-out images, in [0, 1].
    """
    train_images = data.resize(data.to_channels(validation.images(train_images, "train_images"), 1), 32)
    test_images = data.resize(data.to_channels(validation.images(test_images, "test_images"), 1), 32)
    train_labels = validation.labels(train_labels, len(train_images), "train_labels")
    test_labels = validation.labels(test_labels, len(test_images), "test_labels")
    epochs = validation.positive_int(epochs, "epochs")
    seed = validation.positive_int(seed, "seed", minimum=0)
    keras.utils.set_random_seed(seed)

    def initializer(index):
        return keras.initializers.GlorotUniform(seed=seeds.derive(seed, "first_network_init", index))

    model = keras.Sequential(
        [
            keras.Input((32, 32, 1)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu", kernel_initializer=initializer(0)),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu", kernel_initializer=initializer(1)),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu", kernel_initializer=initializer(2)),
            keras.layers.Dense(10, kernel_initializer=initializer(3)),
        ],
        name="scratch_cnn",
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(train_images, train_labels, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True)
    predictions = np.argmax(model.predict(test_images, batch_size=256, verbose=0), axis=1)
    return float(np.mean(predictions == test_labels))
