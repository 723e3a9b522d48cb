"""tgai.probes: the linear probe of frozen features and its from-scratch CNN baseline (lesson 01)."""

import numpy as np
import pytest

import tgai
from tgai import probes


def test_linear_probe_separates_separable_features():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8)) * 5
    labels = np.repeat(np.arange(3), 20)
    features = centres[labels] + rng.normal(size=(60, 8))
    assert probes.linear_probe(features[::2], labels[::2], features[1::2], labels[1::2]) > 0.9
    noise = rng.normal(size=(60, 8))
    assert probes.linear_probe(noise[::2], labels[::2], noise[1::2], labels[1::2]) < 0.8


def test_linear_probe_errors():
    features, labels = np.zeros((4, 3)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="same dimension"):
        probes.linear_probe(features, labels, np.zeros((4, 2)), labels)
    with pytest.raises(ValueError, match="one label per image"):
        probes.linear_probe(features, labels[:3], features, labels)
    with pytest.raises(ValueError, match="at least 2 classes"):
        probes.linear_probe(features, np.zeros(4, np.int64), features, labels)


def test_scratch_classifier_learns_and_is_seeded():
    images, labels = tgai.data.load("digits", "train", 32, 1, limit=60)
    test_images, test_labels = tgai.data.load("digits", "test", 32, 1, limit=60)
    first = probes.scratch_classifier(images, labels, test_images, test_labels, epochs=15, seed=1)
    second = probes.scratch_classifier(images, labels, test_images, test_labels, epochs=15, seed=1)
    assert first == second
    assert first > 0.3  # Chance is 0.1.
    with pytest.raises(ValueError, match="epochs"):
        probes.scratch_classifier(images, labels, test_images, test_labels, epochs=0)
