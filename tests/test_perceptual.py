"""Tests for tgai.perceptual (feature and style losses, Gram matrices), tgai.inversion (image optimisation)
and tgai.upsampler (the pixel-vs-perceptual upsampler)."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import tgai
from tgai import backbones, inversion, perceptual, upsampler


@pytest.fixture(scope="module")
def backbone():
    tgai.setup(seed=0)
    # Random initialisation keeps the tests independent of any weights file; the maths is the same.
    return backbones.load("vgg16", weights=None, seed=0)


@pytest.fixture(scope="module")
def feature_loss(backbone):
    return perceptual.FeatureLoss(layers=("block1_conv2", "block2_conv2"), backbone=backbone)


def _images(count=2, size=32, channels=3, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (count, size, size, channels)).astype(np.float32)


def test_feature_extractor_shapes_any_size(backbone):
    extractor = perceptual.FeatureExtractor(("block1_conv2", "block3_conv3"), backbone)
    for size in (32, 48):
        first, third = extractor(_images(2, size))
        assert first.shape == (2, size, size, 64)
        assert third.shape == (2, size // 4, size // 4, 256)


def test_gray_images_are_repeated_to_rgb(backbone):
    extractor = perceptual.FeatureExtractor("block1_conv1", backbone)
    gray = _images(1, 32, 1)
    (from_gray,) = extractor(gray)
    (from_rgb,) = extractor(np.repeat(gray, 3, axis=-1))
    np.testing.assert_allclose(from_gray.numpy(), from_rgb.numpy(), atol=1e-5)


def test_feature_loss_zero_for_identical_and_positive_otherwise(feature_loss):
    images = _images()
    assert float(feature_loss(images, images)) == pytest.approx(0.0, abs=1e-6)
    assert float(feature_loss(images, _images(seed=1))) > 0.0
    assert isinstance(feature_loss, keras.losses.Loss)


def test_feature_loss_matches_manual_computation(backbone):
    loss = perceptual.FeatureLoss(layers=("block1_conv2",), backbone=backbone)
    first, second = _images(1), _images(1, seed=1)
    (features_first,) = loss.extractor(first)
    (features_second,) = loss.extractor(second)
    expected = float(np.mean((features_first.numpy() - features_second.numpy()) ** 2))
    assert float(loss(first, second)) == pytest.approx(expected, rel=1e-4)


def test_vgg_is_frozen_and_gradients_reach_only_the_prediction(feature_loss):
    assert feature_loss.trainable_weight_count() == 0
    assert not feature_loss.extractor.model.trainable_weights
    target = tf.Variable(_images())
    prediction = tf.Variable(_images(seed=2))
    with tf.GradientTape() as tape:
        value = feature_loss(target, prediction)
    to_target, to_prediction = tape.gradient(value, [target, prediction])
    assert to_prediction is not None and float(tf.reduce_sum(tf.abs(to_prediction))) > 0
    assert np.all(np.isfinite(to_prediction.numpy()))
    # The target is data: stop_gradient keeps it out of the graph.
    assert to_target is None


def test_feature_loss_trains_a_keras_model(feature_loss):
    model = keras.Sequential(
        [keras.Input((32, 32, 1)), keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")]
    )
    model.compile(optimizer="adam", loss=feature_loss)
    before = [w.numpy().copy() for w in feature_loss.extractor.model.weights]
    model.fit(_images(4, channels=1), _images(4, channels=1, seed=3), epochs=1, batch_size=2, verbose=0)
    after = feature_loss.extractor.model.weights
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(before, after, strict=True))


def test_bad_layer_names_list_the_valid_ones(backbone):
    with pytest.raises(ValueError, match="block1_conv1"):
        perceptual.FeatureLoss(layers=("relu2_2",), backbone=backbone)
    with pytest.raises(ValueError, match="at least one"):
        perceptual.FeatureExtractor((), backbone)
    with pytest.raises(TypeError, match="strings"):
        perceptual.FeatureExtractor((3,), backbone)


def test_small_inputs_are_rejected(feature_loss):
    with pytest.raises(ValueError, match="32x32"):
        feature_loss(_images(1, 16), _images(1, 16))
    with pytest.raises(ValueError, match=r"input_shape sides must be an integer >= 32 \(VGG16"):
        perceptual.FeatureLoss(input_shape=(16, 16, 1), backbone=feature_loss.extractor.backbone)
    with pytest.raises(ValueError, match="channels"):
        feature_loss(_images(1, 32, 2), _images(1, 32, 2))
    with pytest.raises(ValueError, match="Divide by 255"):
        feature_loss(_images(1) * 255, _images(1))
    with pytest.raises(ValueError, match="same height and width"):
        feature_loss(_images(1, 32), _images(1, 40))


def test_bad_backbone_and_layer_weights(backbone):
    with pytest.raises(ValueError, match="VGG16"):
        perceptual.FeatureExtractor("block1_conv1", backbone="resnet50")
    with pytest.raises(ValueError, match="layer_weights"):
        perceptual.FeatureLoss(layers=("block1_conv1",), backbone=backbone, layer_weights=(1.0, 2.0))


def test_gram_matrix_known_value_and_symmetry():
    # Two positions, two channels: F = [[1, 2], [3, 4]]; G = F^T F / 2.
    features = np.array([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=np.float32)
    gram = perceptual.gram_matrix(features).numpy()
    np.testing.assert_allclose(gram[0], [[5.0, 7.0], [7.0, 10.0]])
    random = perceptual.gram_matrix(np.random.default_rng(0).normal(size=(3, 4, 5, 6))).numpy()
    np.testing.assert_allclose(random, np.transpose(random, (0, 2, 1)), rtol=1e-5)
    assert np.all(np.linalg.eigvalsh(random.astype(np.float64)) > -1e-4)
    with pytest.raises(ValueError, match="rank 4"):
        perceptual.gram_matrix(np.zeros((2, 3)))


def test_style_loss_ignores_position_and_accepts_other_sizes(backbone):
    loss = perceptual.StyleLoss(layers=("block1_conv1",), backbone=backbone)
    image = _images(1, 32)
    # block1_conv1 with 'same' padding: a rolled image has nearly the same Gram matrix but different features.
    rolled = np.roll(image, 8, axis=2)
    style_change = float(loss(image, rolled))
    other = float(loss(image, _images(1, 32, seed=5) * 0.2))
    assert style_change < 0.05 * other
    assert float(loss(_images(1, 48), image)) > 0.0


def test_optimize_image_decreases_the_loss_and_stays_in_range(backbone, capsys):
    target = _images(1, 32, seed=7)
    extractor = perceptual.FeatureExtractor("block1_conv2", backbone)
    result = inversion.invert_features(target, "block1_conv2", extractor, steps=6, learning_rate=0.1, progress=2)
    assert result.history[-1] < result.history[0]
    assert result.image.shape == target.shape and result.image.min() >= 0.0 and result.image.max() <= 1.0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    assert result.params["layers"] == ["block1_conv2"]


def test_style_transfer_decreases_the_objective(backbone):
    layers = ("block1_conv2", "block2_conv2")
    extractor = perceptual.FeatureExtractor(layers, backbone)
    result = inversion.style_transfer(
        _images(1, 32),
        _images(1, 40, seed=1),
        extractor,
        ("block2_conv2",),
        layers,
        steps=5,
        learning_rate=0.1,
        progress=0,
    )
    assert result.history[-1] < result.history[0]
    distance = inversion.style_distance(result.image, _images(1, 40, seed=1), extractor)
    assert distance.shape == (1,) and distance[0] >= 0


def test_optimize_image_rejects_bad_arguments():
    with pytest.raises(ValueError, match="steps"):
        inversion.optimize_image(lambda x: tf.reduce_mean(x, axis=[1, 2, 3]), _images(1), steps=0)
    with pytest.raises(TypeError, match="objective"):
        inversion.optimize_image("not a function", _images(1), steps=1)
    with pytest.raises(ValueError, match="learning_rate"):
        inversion.optimize_image(lambda x: tf.reduce_mean(x, axis=[1, 2, 3]), _images(1), steps=1, learning_rate=0)
    with pytest.raises(ValueError, match="0, 1"):
        inversion.optimize_image(lambda x: tf.reduce_mean(x, axis=[1, 2, 3]), _images(1) * 255, steps=1)


def test_save_result_writes_png_and_parameters(tmp_path):
    png, sidecar = inversion.save_result(tmp_path / "result", _images(1), {"steps": 3, "layers": ["block1_conv2"]})
    assert Image.open(png).size == (32, 32)
    assert json.loads(sidecar.read_text())["steps"] == 3
    with pytest.raises(ValueError, match="single image"):
        inversion.save_result(tmp_path / "two", _images(2), {})


def test_total_variation_gradient_energy_and_patch_distance():
    flat = np.full((1, 32, 32, 1), 0.5, np.float32)
    noisy = _images(1, 32, 1)
    assert float(inversion.total_variation(flat)[0]) == 0.0
    assert upsampler.gradient_energy(flat)[0] == 0.0 < upsampler.gradient_energy(noisy)[0]
    # Independent patch samples of the same image differ only by sampling noise.
    assert inversion.patch_distance(noisy, noisy) < 0.1 * inversion.patch_distance(noisy, flat)
    with pytest.raises(ValueError, match="channels"):
        inversion.patch_distance(noisy, _images(1))
    with pytest.raises(ValueError, match="patch_size"):
        inversion.patch_distance(noisy, noisy, patch_size=33)


def test_upsampler_shapes_and_training(feature_loss):
    low, high = _images(8, 16, 1), _images(8, 32, 1, seed=1)
    model = upsampler.build_upsampler(2, 1, filters=8, seed=0)
    assert model(low).shape == (8, 32, 32, 1)
    # seeds.derive(seed, "upsampler_init", index) is the original `seed * 10 + index`: same weights.
    kernel = upsampler.build_upsampler(2, 1, filters=8, seed=2).layers[2].kernel
    expected = keras.initializers.GlorotUniform(seed=2 * 10 + 1)(kernel.shape)
    np.testing.assert_array_equal(kernel.numpy(), np.asarray(expected))
    trained, losses = upsampler.train_upsampler(low, high, "mse", steps=3, batch_size=4, seed=0)
    assert len(losses) == 3 and np.all(np.isfinite(losses))
    _, feature_losses = upsampler.train_upsampler(low, high, feature_loss, steps=2, batch_size=4, seed=0)
    assert len(feature_losses) == 2
    with pytest.raises(ValueError, match="'l3'"):
        upsampler.train_upsampler(low, high, "l3", steps=1)
    with pytest.raises(ValueError, match="pair"):
        upsampler.train_upsampler(low, high[:4], "mse", steps=1)
