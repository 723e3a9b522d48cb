"""tgai.backbones: weight resolution (offline, random, file), preprocessing, extraction, caching, errors."""

import time
import warnings

import h5py
import keras
import numpy as np
import pytest

import tgai
from tgai import backbones
from tgai.core import derived, offline_weights


@pytest.fixture(scope="module")
def hed_vgg16():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", backbones.OfflineFallbackWarning)
        return backbones.load("vgg16", "offline")


@pytest.fixture(scope="module")
def random_vgg16():
    return backbones.load("vgg16", None, seed=0)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("TGAI_OFFLINE", "1")
    monkeypatch.setenv("TGAI_HOME", str(tmp_path))


def _images(count=6, size=20, channels=1, seed=0):
    return np.random.default_rng(seed).random((count, size, size, channels)).astype(np.float32)


# --- load ------------------------------------------------------------------------------------------------


def test_offline_vgg16_loads_every_hed_convolution_by_name(hed_vgg16):
    assert hed_vgg16.weights == "offline"
    assert "HED edge-detection VGG16 trunk" in hed_vgg16.weights_source
    assert "not the ImageNet classifier" in hed_vgg16.weights_source
    with h5py.File(offline_weights.hed_weights_path(), "r") as handle:
        checked = 0
        for block, count in offline_weights.VGG16_CONVS.items():
            for index in range(count):
                group = f"block{block}/layers/conv2d{'' if index == 0 else f'_{index}'}/vars"
                kernel, bias = hed_vgg16.model.get_layer(f"block{block}_conv{index + 1}").get_weights()
                np.testing.assert_array_equal(kernel, handle[f"{group}/0"][()])
                np.testing.assert_array_equal(bias, handle[f"{group}/1"][()])
                checked += 1
    assert checked == 13


def test_offline_vgg16_differs_from_random_init(hed_vgg16, random_vgg16):
    for layer in ("block1_conv1", "block3_conv3", "block5_conv3"):
        pretrained = hed_vgg16.model.get_layer(layer).get_weights()[0]
        random = random_vgg16.model.get_layer(layer).get_weights()[0]
        assert pretrained.shape == random.shape
        assert np.abs(pretrained - random).mean() > 1e-3
    assert random_vgg16.weights == "random" and "random initialisation" in random_vgg16.weights_source
    # Legends name the weights plainly, for a learner who has not read the README.
    assert hed_vgg16.label == "VGG16 trunk (HED edge weights)" and random_vgg16.label == "VGG16 (random weights)"


def test_backbones_are_frozen_by_default(hed_vgg16):
    assert hed_vgg16.trainable_weight_count() == 0
    assert len(hed_vgg16.model.trainable_weights) == 0
    assert len(hed_vgg16.model.non_trainable_weights) == 26


def test_random_init_is_seeded():
    model = backbones.load("vgg16", None, seed=3).model
    first = model.get_layer("block2_conv1").get_weights()[0]
    keras.random.uniform((5,))  # Other random draws in between must not change the result.
    second = backbones.load("vgg16", None, seed=3).model.get_layer("block2_conv1").get_weights()[0]
    other = backbones.load("vgg16", None, seed=4).model.get_layer("block2_conv1").get_weights()[0]
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)
    # seeds.derive(seed, "random_backbone_init", index) is the original `seed * 1000 + index`: same weights.
    index = [layer.name for layer in model.layers].index("block2_conv1")
    expected = keras.initializers.GlorotUniform(seed=3 * 1000 + index)(first.shape)
    np.testing.assert_array_equal(first, np.asarray(expected))


def test_imagenet_falls_back_offline_with_a_warning(offline):
    with pytest.warns(backbones.OfflineFallbackWarning, match="TGAI_OFFLINE is set"):
        backbone = backbones.load("vgg16")
    assert backbone.weights == "offline"
    assert backbone.weights_source.startswith("offline fallback for weights='imagenet'")
    assert "not the ImageNet classifier" in backbone.weights_source


def test_resnet50_offline_is_labelled_random(offline):
    with pytest.warns(backbones.OfflineFallbackWarning):
        backbone = backbones.load("resnet50")
    assert backbone.weights == "random"
    assert "random initialisation (no offline ResNet50 weights)" in backbone.weights_source
    assert backbone.model.output.shape[1:] == (1, 1, 2048)


def test_imagenet_online_uses_the_cached_asset(monkeypatch, tmp_path, hed_vgg16):
    # A genuine Keras-layout file in the cache stands in for the ImageNet download; no network is used.
    monkeypatch.delenv("TGAI_OFFLINE", raising=False)
    file = tmp_path / "stand_in.weights.h5"
    hed_vgg16.model.save_weights(file)
    calls = []
    monkeypatch.setattr(tgai.core.assets, "fetch", lambda asset, quiet=False: calls.append(asset.name) or file)
    backbone = backbones.load("vgg16", "imagenet")
    assert calls == ["vgg16_imagenet"]
    assert backbone.weights == "imagenet" and "ImageNet classifier weights" in backbone.weights_source
    np.testing.assert_array_equal(backbone.model.weights[4].numpy(), hed_vgg16.model.weights[4].numpy())


def test_imagenet_missing_offline_asset_is_named(monkeypatch, tmp_path):
    # Offline, "imagenet" never reaches fetch; called directly, fetch names the asset and the command.
    monkeypatch.setenv("TGAI_OFFLINE", "1")
    monkeypatch.setenv("TGAI_HOME", str(tmp_path))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(tgai.core.assets.AssetMissingError, match="python -m tgai fetch vgg16_imagenet"):
        tgai.core.assets.fetch(backbones.IMAGENET_ASSETS["vgg16"])


def test_weights_file_round_trip_and_mismatch(tmp_path, hed_vgg16):
    file = tmp_path / "trunk.weights.h5"
    hed_vgg16.model.save_weights(file)
    loaded = backbones.load("vgg16", str(file))
    assert loaded.weights == "file" and "trunk.weights.h5" in loaded.weights_source
    np.testing.assert_array_equal(loaded.model.weights[-2].numpy(), hed_vgg16.model.weights[-2].numpy())
    small = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(8, 3, name="block1_conv1")])
    wrong = tmp_path / "small.weights.h5"
    small.save_weights(wrong)
    with pytest.raises(ValueError, match="does not match the vgg16 architecture.*block1_conv1"):
        backbones.load("vgg16", str(wrong))


@pytest.mark.parametrize(
    ("arguments", "error", "pattern"),
    [
        ({"name": "vgg19"}, ValueError, "Valid values: resnet50, vgg16"),
        ({"name": "vgg16", "weights": "imagenet21k"}, ValueError, "Unknown weights: received weights='imagenet21k'"),
        ({"name": "vgg16", "weights": 3}, ValueError, "Unknown weights"),
        ({"name": "vgg16", "weights": "missing/file.weights.h5"}, FileNotFoundError, "weights file not found"),
        ({"name": "vgg16", "input_shape": (16, 16, 3)}, ValueError, r"integer >= 32 \(VGG16.*\(16, 16, 3\)"),
        ({"name": "vgg16", "input_shape": (32, 32, 1)}, ValueError, "3 channels"),
        ({"name": "vgg16", "input_shape": (32, 32)}, ValueError, "height, width, channels"),
        ({"name": "vgg16", "input_shape": (32.0, 32, 3)}, ValueError, "integers"),
    ],
)
def test_load_errors(arguments, error, pattern):
    with pytest.raises(error, match=pattern):
        backbones.load(**arguments)


# --- preprocessing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["vgg16", "resnet50"])
def test_prepare_matches_keras_preprocess_input_on_0_255_rgb(name):
    backbone = backbones.load(name, None) if name == "vgg16" else _resnet()
    images = _images(3, 32, 3)
    module = keras.applications.vgg16 if name == "vgg16" else keras.applications.resnet50
    expected = module.preprocess_input(images.copy() * 255.0)
    np.testing.assert_allclose(backbone.prepare(images), expected, rtol=1e-6, atol=1e-4)
    # Caffe-style: BGR order, ImageNet mean subtracted; a white pixel becomes (255 - mean_B, ...).
    white = backbone.prepare(np.ones((1, 32, 32, 1), np.float32))[0, 0, 0]
    np.testing.assert_allclose(white, [255 - 103.939, 255 - 116.779, 255 - 123.68], atol=1e-3)


def test_prepare_resizes_gray_and_does_not_modify_the_input(random_vgg16):
    images = _images(2, 20, 1)
    copy = images.copy()
    prepared = random_vgg16.prepare(images)
    assert prepared.shape == (2, 32, 32, 3) and prepared.dtype == np.float32
    np.testing.assert_array_equal(images, copy)


_RESNET = {}


def _resnet():
    if "model" not in _RESNET:
        _RESNET["model"] = backbones.load("resnet50", None)
    return _RESNET["model"]


# --- extract ---------------------------------------------------------------------------------------------


def test_extract_default_layer_and_pooling(hed_vgg16):
    features = backbones.extract(_images(5), hed_vgg16, batch_size=2)
    assert features.shape == (5, 512) and features.dtype == np.float32
    assert backbones.default_layer(hed_vgg16) == "block5_pool"


def test_extract_matches_a_direct_forward_pass(hed_vgg16):
    images = _images(4, 32, 3)
    direct = keras.Model(hed_vgg16.model.input, hed_vgg16.model.get_layer("block3_conv3").output)
    maps = np.asarray(direct(keras.applications.vgg16.preprocess_input(images * 255.0)))
    np.testing.assert_allclose(
        backbones.extract(images, hed_vgg16, "block3_conv3", pooling=None), maps, rtol=1e-4, atol=1e-3
    )
    np.testing.assert_allclose(
        backbones.extract(images, hed_vgg16, "block3_conv3"), maps.mean(axis=(1, 2)), rtol=1e-4, atol=1e-3
    )
    np.testing.assert_allclose(
        backbones.extract(images, hed_vgg16, "block3_conv3", pooling="max"), maps.max(axis=(1, 2)), rtol=1e-4, atol=1e-3
    )


def test_extract_several_layers_returns_a_dict(hed_vgg16):
    result = backbones.extract(_images(3), hed_vgg16, layers=["block1_conv2", "block3_conv3"], pooling=None)
    assert set(result) == {"block1_conv2", "block3_conv3"}
    assert result["block1_conv2"].shape == (3, 32, 32, 64)
    assert result["block3_conv3"].shape == (3, 8, 8, 256)


def test_extract_batching_does_not_change_results(hed_vgg16):
    images = _images(7)
    np.testing.assert_allclose(
        backbones.extract(images, hed_vgg16, batch_size=3),
        backbones.extract(images, hed_vgg16, batch_size=64),
        rtol=1e-5,
        atol=1e-4,
    )


def test_extract_resnet50_layer_vocabulary():
    result = backbones.extract(_images(2), _resnet(), layers=["conv2_block3_out", "conv4_block6_out"])
    assert result["conv2_block3_out"].shape == (2, 256)
    assert result["conv4_block6_out"].shape == (2, 1024)


def test_extract_cache_hit_is_identical_and_fast(monkeypatch, tmp_path, hed_vgg16):
    monkeypatch.setenv("TGAI_HOME", str(tmp_path))
    images = _images(40)
    start = time.perf_counter()
    first = backbones.extract(images, hed_vgg16, layers=["block2_conv2", "block4_conv3"], cache=True)
    cold = time.perf_counter() - start
    files = list((tmp_path / "features").glob("*.npz"))
    assert len(files) == 1
    calls = []
    monkeypatch.setattr(backbones, "_extractor", lambda *arguments: calls.append(arguments))
    start = time.perf_counter()
    second = backbones.extract(images, hed_vgg16, layers=["block2_conv2", "block4_conv3"], cache=True)
    warm = time.perf_counter() - start
    assert calls == []  # Served from disk: the model never ran.
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])
    assert warm < cold
    # Different images, layers or pooling are different keys.
    monkeypatch.undo()
    monkeypatch.setenv("TGAI_HOME", str(tmp_path))
    backbones.extract(images[:39], hed_vgg16, layers=["block2_conv2", "block4_conv3"], cache=True)
    backbones.extract(images, hed_vgg16, layers=["block2_conv2", "block4_conv3"], pooling="max", cache=True)
    assert len(list((tmp_path / "features").glob("*.npz"))) == 3


def test_extract_cache_ignores_a_corrupt_file(monkeypatch, tmp_path, hed_vgg16):
    monkeypatch.setenv("TGAI_HOME", str(tmp_path))
    images = _images(3)
    expected = backbones.extract(images, hed_vgg16, cache=True)
    (file,) = (tmp_path / "features").glob("*.npz")
    file.write_bytes(b"not an npz")
    with pytest.warns(derived.DamagedCacheWarning, match=r"it is not an \.npz archive \(it starts with b'not '\)"):
        np.testing.assert_array_equal(backbones.extract(images, hed_vgg16, cache=True), expected)


def test_extract_progress_goes_to_stderr(capsys, hed_vgg16):
    backbones.extract(_images(3), hed_vgg16, batch_size=2, progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "vgg16 features 3/3" in captured.err
    backbones.extract(_images(3), hed_vgg16)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("images", "kwargs", "error", "pattern"),
    [
        (np.full((2, 32, 32, 1), np.nan, np.float32), {}, ValueError, "NaN or inf"),
        (np.zeros((32, 32, 1), np.float32), {}, ValueError, "rank 4"),
        (np.full((2, 32, 32, 1), 200.0, np.float32), {}, ValueError, "0-255"),
        (np.full((2, 32, 32, 1), 200, np.uint8), {}, TypeError, "0-255"),
        (np.zeros((2, 32, 32, 2), np.float32), {}, ValueError, "1 or 3 channels"),
        ([[0.0]], {}, TypeError, "NumPy array"),
        (np.zeros((2, 32, 32, 1), np.float32), {"layers": "conv4_block6_out"}, ValueError, "Unknown layer for vgg16"),
        (np.zeros((2, 32, 32, 1), np.float32), {"layers": []}, TypeError, "layers must be"),
        (np.zeros((2, 32, 32, 1), np.float32), {"layers": ["block1_conv1", "block1_conv1"]}, ValueError, "repeat"),
        (np.zeros((2, 32, 32, 1), np.float32), {"pooling": "mean"}, ValueError, "Unknown pooling"),
        (np.zeros((2, 32, 32, 1), np.float32), {"batch_size": 0}, ValueError, "batch_size"),
    ],
)
def test_extract_errors(hed_vgg16, images, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        backbones.extract(images, hed_vgg16, **kwargs)


def test_extract_rejects_a_bare_keras_model(hed_vgg16):
    with pytest.raises(TypeError, match="tgai.backbones.load"):
        backbones.extract(_images(2), hed_vgg16.model)


def test_extract_cache_dir(tmp_path, hed_vgg16):
    backbones.extract(_images(2), hed_vgg16, cache=True, cache_dir=tmp_path / "mine")
    assert len(list((tmp_path / "mine").glob("*.npz"))) == 1
