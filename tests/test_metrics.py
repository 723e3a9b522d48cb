"""tgai.metrics: Fréchet distance and KID against independent implementations and closed forms; the judge."""

import itertools
import shutil

import numpy as np
import pytest
import scipy.linalg

from tgai import data, judge, metrics
from tgai.core import checkpoints


def _gaussian(count, dimension, seed, shift=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(dimension, dimension)) / np.sqrt(dimension)
    return rng.normal(size=(count, dimension)) @ mixing * scale + shift


def _naive_frechet(a, b):
    """Textbook FD, written independently of tgai: sqrtm of the covariance product, real part kept."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    sigma_a, sigma_b = np.cov(a.T), np.cov(b.T)
    root = scipy.linalg.sqrtm(sigma_a @ sigma_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(sigma_a) + np.trace(sigma_b) - 2 * np.trace(root))


def _naive_mmd(a, b):
    """Unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, as explicit loops over pairs."""
    d = a.shape[1]
    k = lambda x, y: (float(np.dot(x, y)) / d + 1.0) ** 3
    m, n = len(a), len(b)
    aa = sum(k(a[i], a[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    bb = sum(k(b[i], b[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    ab = sum(k(a[i], b[j]) for i in range(m) for j in range(n)) / (m * n)
    return aa + bb - 2 * ab


# --- Fréchet distance ------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_frechet_distance_matches_independent_implementations(seed):
    a = _gaussian(300, 8, seed)
    b = _gaussian(250, 8, seed + 10, shift=0.5, scale=1.3)
    expected = _naive_frechet(a, b)
    assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-6, abs=1e-8)
    assert metrics.frechet_distance_sqrtm(a, b) == pytest.approx(expected, rel=1e-6, abs=1e-8)


def test_frechet_distance_of_identical_sets_is_zero():
    a = _gaussian(200, 16, 0)
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-7)


def test_frechet_distance_of_a_mean_shift_is_the_squared_shift():
    # Same covariance, mean moved by delta: FD = |delta|^2 exactly (the trace terms cancel).
    a = _gaussian(400, 6, 3)
    delta = np.array([1.0, -2.0, 0.5, 0.0, 3.0, -1.0])
    assert metrics.frechet_distance(a, a + delta) == pytest.approx(float(delta @ delta), rel=1e-6)


def test_frechet_distance_closed_form_for_isotropic_gaussians():
    # N(0, I) vs N(mu, s^2 I) in d dimensions: FD = |mu|^2 + d (1 - s)^2; large N makes the estimate tight.
    rng = np.random.default_rng(0)
    d, s = 4, 2.0
    a = rng.normal(size=(60_000, d))
    b = rng.normal(size=(60_000, d)) * s + 1.0
    assert metrics.frechet_distance(a, b) == pytest.approx(d * 1.0 + d * (1 - s) ** 2, rel=0.03)


def test_frechet_distance_is_stable_on_singular_covariances():
    # Fewer samples than dimensions: rank-deficient covariances; the result stays real, finite, non-negative.
    a, b = _gaussian(10, 32, 0), _gaussian(10, 32, 1)
    value = metrics.frechet_distance(a, b)
    assert np.isfinite(value) and value >= 0.0


# --- KID -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_kid_matches_a_naive_loop_implementation(seed):
    a = _gaussian(12, 5, seed)
    b = _gaussian(10, 5, seed + 5, shift=0.3)
    # One subset of the full size draws a permutation of every sample, so KID equals the naive MMD^2 of all.
    mean, std = metrics.kid(a, b, subsets=1, subset_size=10, seed=seed)
    rng = np.random.default_rng(seed)
    expected = _naive_mmd(a[rng.choice(12, 10, replace=False)], b[rng.choice(10, 10, replace=False)])
    assert mean == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert std == 0.0


def test_kid_of_whole_equal_sets_is_one_exact_estimate():
    # Equal sizes and subset_size >= that size: every subset is both whole sets, permuted, so the mean of
    # many subsets equals one naive MMD^2 of all samples, with no spread.
    a, b = _gaussian(30, 6, 2), _gaussian(30, 6, 3, shift=0.5)
    mean, std = metrics.kid(a, b, subsets=25, subset_size=30)
    assert mean == pytest.approx(_naive_mmd(a, b), rel=1e-9)
    assert std == 0.0
    assert metrics.kid(a, b, subsets=25, subset_size=1000) == (mean, std)
    # One sample fewer than the sets: real subsets, which differ, so the spread is positive.
    assert metrics.kid(a, b, subsets=25, subset_size=29)[1] > 0.0


def test_kid_subset_size_is_capped_by_the_sample_counts():
    a, b = _gaussian(15, 4, 0), _gaussian(12, 4, 1, shift=1.0)
    mean, _ = metrics.kid(a, b, subsets=3, subset_size=1000)
    assert np.isfinite(mean) and mean > 0


def test_kid_of_same_distribution_is_near_zero():
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(16, 16)) / 4
    real_a = rng.normal(size=(500, 16)) @ mixing
    real_b = rng.normal(size=(500, 16)) @ mixing
    mean, std = metrics.kid(real_a, real_b, subsets=20, subset_size=200)
    shifted, _ = metrics.kid(real_a, real_b + 1.0, subsets=20, subset_size=200)
    assert abs(mean) < 3 * std + 1e-3
    assert shifted > 20 * abs(mean) + 10 * std


def test_kid_mean_is_independent_of_sample_count():
    rng = np.random.default_rng(1)
    mixing = rng.normal(size=(8, 8)) / np.sqrt(8)
    a = rng.normal(size=(2000, 8)) @ mixing
    b = rng.normal(size=(2000, 8)) @ mixing + 0.4
    small, small_std = metrics.kid(a, b, subsets=400, subset_size=40, seed=0)
    large, large_std = metrics.kid(a, b, subsets=20, subset_size=500, seed=0)
    # Unbiased: the expectation does not move with N (subset means agree within ~3%); only the spread shrinks.
    assert small == pytest.approx(large, rel=0.1)
    assert large_std < small_std


def test_frechet_distance_is_biased_at_small_n_unlike_kid():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(4000, 16)), rng.normal(size=(4000, 16))
    small_fd = metrics.frechet_distance(a[:50], b[:50])
    large_fd = metrics.frechet_distance(a, b)
    assert small_fd > 5 * large_fd  # Same distribution, yet FD at N=50 is far from 0.


@pytest.mark.parametrize("function", [metrics.frechet_distance, metrics.frechet_distance_sqrtm, metrics.kid])
def test_metric_errors(function):
    good = _gaussian(10, 4, 0)
    with pytest.raises(ValueError, match="same dimension"):
        function(good, _gaussian(10, 5, 0))
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        function(good[:, 0], good)
    bad = good.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        function(good, bad)
    with pytest.raises(ValueError, match="at least 2 samples"):
        function(good[:1], good)
    with pytest.raises(TypeError, match="NumPy array"):
        function(good.tolist(), good)


def test_kid_argument_errors():
    a = _gaussian(10, 4, 0)
    with pytest.raises(ValueError, match="subsets"):
        metrics.kid(a, a, subsets=0)
    with pytest.raises(ValueError, match="subset_size"):
        metrics.kid(a, a, subset_size=1)
    with pytest.raises(TypeError, match="seed"):
        metrics.kid(a, a, seed=0.5)


# --- the judge feature space ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    images, labels = data.load("mnist_5k", "train", 32, 1, limit=40)
    return images, labels


def test_judge_features_shape_and_determinism(digits):
    images, _ = digits
    first = metrics.judge_features(images)
    second = metrics.judge_features(images, batch_size=7)
    assert first.shape == (40, judge.FEATURE_DIMENSION) == (40, 128)
    assert first.dtype == np.float64
    np.testing.assert_allclose(first, second, rtol=1e-5, atol=1e-5)
    assert np.all(first >= 0)  # ReLU features.


def test_judge_features_are_cached_by_content(digits):
    images, _ = digits
    first = metrics.judge_features(images)
    first[:] = -1.0  # a caller changing its result must not change the cached features
    again = metrics.judge_features(images.copy())
    assert np.all(again >= 0)
    changed = images.copy()
    changed[0, 0, 0, 0] = 1.0 - changed[0, 0, 0, 0]
    assert not np.array_equal(metrics.judge_features(changed)[0], again[0])
    np.testing.assert_array_equal(metrics.judge_features(changed)[1:], again[1:])


def test_judge_accepts_rgb_and_other_sizes(digits):
    images, _ = digits
    rgb = data.to_channels(data.resize(images, 48), 3)
    assert metrics.judge_features(rgb).shape == (40, 128)


def test_judge_kid_real_vs_real_is_smaller_than_against_glyphs():
    # 200 of each: with 40, the unbiased estimate's spread between two real samples is as large as the shift.
    images, _ = data.load("mnist_5k", "train", 32, 1, limit=200)
    other, _ = data.load("mnist_5k", "test", 32, 1, limit=200)
    glyphs, _ = data.load("glyphs", "train", 32, 1, limit=200)
    real, _ = metrics.judge_kid(images, other, subsets=10)
    shifted, _ = metrics.judge_kid(images, glyphs, subsets=10)
    assert shifted > 5 * max(real, 1e-4)


def test_judge_features_reject_bad_images():
    with pytest.raises(ValueError, match="0-255"):
        metrics.judge_features(np.full((2, 32, 32, 1), 255.0, np.float32))
    with pytest.raises(ValueError, match="batch_size"):
        metrics.judge_features(np.zeros((2, 32, 32, 1), np.float32), batch_size=0)


def test_a_corrupt_judge_file_is_refused(monkeypatch, tmp_path, digits):
    for name in (judge.FILE_NAME, "manifest.json"):
        shutil.copyfile(checkpoints.data_dir() / name, tmp_path / name)
    file = tmp_path / judge.FILE_NAME
    content = bytearray(file.read_bytes())
    content[len(content) // 2] ^= 0xFF
    file.write_bytes(bytes(content))
    monkeypatch.setenv(checkpoints.ENV_DATA_DIR, str(tmp_path))
    judge.clear_caches()
    try:
        with pytest.raises(
            checkpoints.CheckpointError, match=r"Checkpoint 'judge' \(judge\.weights\.h5\) is corrupt or was changed"
        ):
            metrics.judge_features(digits[0])
    finally:
        judge.clear_caches()


def test_nearest_training_images_finds_copies_and_their_distances():
    rng = np.random.default_rng(0)
    training_images = rng.uniform(0.0, 1.0, (5, 8, 8, 1)).astype(np.float32)
    samples = np.concatenate([training_images[[3, 1]], np.zeros((1, 8, 8, 1), np.float32)])
    indices, distances = metrics.nearest_training_images(samples, training_images)
    assert list(indices[:2]) == [3, 1]
    expected = np.sqrt(((training_images.reshape(5, -1)) ** 2).sum(1)).min()
    assert distances[:2] == pytest.approx([0.0, 0.0], abs=1e-5) and distances[2] == pytest.approx(expected, rel=1e-6)


def test_nearest_in_the_judge_space_measures_feature_distance(digits):
    images, _ = digits
    training_images = images[:20]
    samples = np.concatenate([training_images[[4, 9]], images[20:22]])
    indices, distances = metrics.nearest_training_images(samples, training_images, space="judge")
    assert list(indices[:2]) == [4, 9] and distances[:2] == pytest.approx([0.0, 0.0], abs=1e-3)
    features = metrics.judge_features(samples[2:3]) - metrics.judge_features(training_images)
    assert distances[2] == pytest.approx(np.sqrt((features**2).sum(1)).min(), rel=1e-4)
    with pytest.raises(ValueError, match="space"):
        metrics.nearest_training_images(samples, training_images, space="vgg")


def test_kid_x1000_is_a_thousand_times_the_judge_kid(digits):
    images, _ = digits
    reference = metrics.judge_features(images[20:])
    expected = (
        1000.0 * metrics.kid(metrics.judge_features(images[:20]), reference, subsets=5, subset_size=20, seed=2)[0]
    )
    assert metrics.kid_x1000(images[:20], reference, subsets=5, seed=2) == pytest.approx(expected)


# --------------------------------------------------------------------------- recognisability (issue 14)


def test_real_held_out_digits_are_recognisable_and_glyphs_less_so():
    from tgai import data

    real, _ = data.load("mnist_5k", "test", limit=400)
    result = metrics.recognisability(real)
    assert result.fraction > 0.85 and result.classes == 10 and sum(result.counts) == round(result.fraction * 400)
    assert str(result) == f"{result.fraction:.2f} recognisable (10 classes, {result.balanced:.2f} balanced)"
    noise = np.random.default_rng(0).uniform(0, 1, (200, 32, 32, 1)).astype(np.float32)
    assert metrics.recognisability(noise).fraction < result.fraction - 0.3
    assert metrics.recognisability(real, threshold=0.99).fraction <= result.fraction


def test_the_judge_is_trained_on_its_own_split_and_reaches_95_percent_on_the_reference():
    from tgai import data, judge
    from tgai.core import checkpoints

    entry = checkpoints.manifest()["judge"]
    assert entry["trained_on"].startswith("mnist_5k judge split") and judge.TRAINING_DATA == ("mnist_5k", "judge")
    reference, labels = data.load("mnist_5k", "test")
    accuracy = float(np.mean(judge.probabilities(reference).argmax(axis=1) == labels))
    assert accuracy >= 0.95 and abs(accuracy - entry["accuracy_on_mnist_5k_test"]) < 1e-3


@pytest.mark.parametrize(
    ("threshold", "error", "message"),
    [
        (0.05, ValueError, r"threshold=0\.05.*chance"),
        (1.0, ValueError, r"threshold=1\.0"),
        ("0.9", TypeError, r"'0\.9'.*Use e\.g\. 0\.9"),
    ],
)
def test_recognisability_checks_its_threshold(threshold, error, message):
    images = np.zeros((2, 32, 32, 1), np.float32)
    with pytest.raises(error, match=message):
        metrics.recognisability(images, threshold=threshold)


def test_balanced_recognisability_caps_each_digit_at_a_tenth():
    from tgai import data

    real, labels = data.load("mnist_5k", "test", limit=400)
    balanced_real = metrics.recognisability(real)
    assert abs(balanced_real.balanced - balanced_real.fraction) < 0.05  # a balanced set loses almost nothing
    ones = real[labels == 1]
    collapsed = metrics.recognisability(ones)  # readable, but a single digit
    assert collapsed.fraction > 0.8 and collapsed.classes <= 2 and collapsed.balanced <= 0.2
    by_hand = metrics.Recognisability(0.5, 2, (15, 5, 0, 0, 0, 0, 0, 0, 0, 0), 0.9, 40)
    assert by_hand.balanced == (4 + 4) / 40  # each digit counts at most 40 / 10 = 4 images


def test_the_glyph_judge_reads_typeset_digits_and_names_a_bad_judge():
    glyphs, labels = data.load("glyphs", "test", limit=200)
    own = metrics.recognisability(glyphs, judge_name="glyph_judge")
    assert own.fraction > 0.95 and own.classes == 10, "the glyph judge should read held-out typeset digits"
    predicted = judge.probabilities(glyphs, name="glyph_judge").argmax(axis=1)
    assert np.mean(predicted == labels) > 0.95
    with pytest.raises(ValueError, match="Unknown judge_name"):
        metrics.recognisability(glyphs, judge_name="imagenet")
