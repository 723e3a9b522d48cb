"""Distances between sets of images, measured in a stated feature space: Fréchet distance and KID.

Introduced in lesson 01 and used by every lesson that compares generative models.

Usage notes:
    * Compare numbers only within one feature space, and compute real and fake features from images that
      were resized the same way.
    * Fréchet distance is biased at small N (it needs more samples than feature dimensions), so compare it
      only at equal N. KID, the unbiased polynomial-kernel MMD, has an expected value independent of N;
      it is the kit's headline number, averaged over subsets.
    * Real-vs-real KID near 0 is the sanity check.

Reference: Bińkowski et al., "Demystifying MMD GANs", ICLR 2018 (KID); Heusel et al., NeurIPS 2017 (FID).
"""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np
import scipy.linalg

from tgai import judge
from tgai.core import validation


def _check_pair(features_a, features_b):
    features_a = validation.features(features_a, "features_a")
    features_b = validation.features(features_b, "features_b")
    if features_a.shape[1] != features_b.shape[1]:
        raise ValueError(
            f"features_a and features_b must have the same dimension; received {features_a.shape[1]} and "
            f"{features_b.shape[1]}. Extract both with the same feature extractor and layer."
        )
    return features_a, features_b


def frechet_distance(features_a, features_b) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID when the features are Inception's).

    FD = |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

    Args:
        features_a: (N, D) features of one set.
        features_b: (M, D) features of the other, same D.

    Returns:
        The distance, a non-negative float.
    """
    features_a, features_b = _check_pair(features_a, features_b)
    mean_a, mean_b = features_a.mean(axis=0), features_b.mean(axis=0)
    covariance_a = np.atleast_2d(np.cov(features_a, rowvar=False))
    covariance_b = np.atleast_2d(np.cov(features_b, rowvar=False))
    # Tr((S_a S_b)^(1/2)) equals the sum of square roots of the eigenvalues of S_a^(1/2) S_b S_a^(1/2),
    # a symmetric PSD matrix, so no complex residue can appear (unlike sqrtm of the non-symmetric S_a S_b).
    eigenvalues_a, eigenvectors_a = np.linalg.eigh(covariance_a)
    root_a = (eigenvectors_a * np.sqrt(np.clip(eigenvalues_a, 0.0, None))) @ eigenvectors_a.T
    middle = root_a @ covariance_b @ root_a
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    distance = np.sum((mean_a - mean_b) ** 2) + np.trace(covariance_a) + np.trace(covariance_b) - 2.0 * trace_root
    return float(max(distance, 0.0))


def frechet_distance_sqrtm(features_a, features_b) -> float:
    """Fréchet distance via `scipy.linalg.sqrtm`, the textbook route; kept to cross-check `frechet_distance`."""
    features_a, features_b = _check_pair(features_a, features_b)
    covariance_a = np.atleast_2d(np.cov(features_a, rowvar=False))
    covariance_b = np.atleast_2d(np.cov(features_b, rowvar=False))
    root = scipy.linalg.sqrtm(covariance_a @ covariance_b)
    root = np.real(root)  # The imaginary residue of a near-singular product is numerical noise.
    difference = features_a.mean(axis=0) - features_b.mean(axis=0)
    return float(difference @ difference + np.trace(covariance_a + covariance_b - 2.0 * root))


def _polynomial_mmd(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Unbiased MMD^2 with the kernel k(x, y) = (x.y / D + 1)^3."""
    dimension = features_a.shape[1]
    kernel_aa = (features_a @ features_a.T / dimension + 1.0) ** 3
    kernel_bb = (features_b @ features_b.T / dimension + 1.0) ** 3
    kernel_ab = (features_a @ features_b.T / dimension + 1.0) ** 3
    m, n = len(features_a), len(features_b)
    within_a = (kernel_aa.sum() - np.trace(kernel_aa)) / (m * (m - 1))
    within_b = (kernel_bb.sum() - np.trace(kernel_bb)) / (n * (n - 1))
    return float(within_a + within_b - 2.0 * kernel_ab.mean())


def kid(features_a, features_b, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: unbiased polynomial-kernel MMD^2, averaged over random subsets.

    Named after Inception features, but computed in whatever feature space the features come from; say
    which. The kit reports KID x 1000 in tables, as StyleGAN2-ADA does.

    Args:
        features_a: (N, D) features of one set.
        features_b: (M, D) features of the other.
        subsets: Number of random subsets to average over.
        subset_size: Samples per subset from each set; capped at min(N, M).
        seed: Seeds the subset draws.

    Returns:
        `(mean, std)` of the MMD^2 estimates over subsets. The mean can be slightly negative for very
        similar sets, because the estimator is unbiased. When the subsets are both whole sets (equal
        sizes, `subset_size` at least that size) it is computed once and the std is 0.
    """
    features_a, features_b = _check_pair(features_a, features_b)
    subsets = validation.positive_int(subsets, "subsets")
    subset_size = validation.positive_int(subset_size, "subset_size", minimum=2)
    validation.positive_int(seed, "seed", minimum=0)
    size = min(subset_size, len(features_a), len(features_b))
    if size == len(features_a) == len(features_b):
        # Every "subset" would be both whole sets, permuted, and the estimate does not depend on order:
        # one computation gives the same mean, and no subset-to-subset spread.
        return _polynomial_mmd(features_a, features_b), 0.0
    rng = np.random.default_rng(seed)
    estimates = [
        _polynomial_mmd(
            features_a[rng.choice(len(features_a), size, replace=False)],
            features_b[rng.choice(len(features_b), size, replace=False)],
        )
        for _ in range(subsets)
    ]
    return float(np.mean(estimates)), float(np.std(estimates))


def judge_features(images, batch_size: int = 256) -> np.ndarray:
    """Features of the offline judge CNN (128-d), the kit's feature space for digit-like 32x32 images.

    Introduced in lesson 01; used by lessons 03 and 04 for every KID. See `tgai.judge` for how the judge is
    trained and where its weights live.
    """
    return judge.features(images, batch_size=batch_size)


def judge_kid(images_a, images_b, subsets: int = 50, subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """KID between two image sets in the judge feature space; see `kid` and `judge_features`."""
    # Checked here so that errors name the images passed, not the features computed from them.
    for argument, value in (("images_a", images_a), ("images_b", images_b)):
        if len(validation.images(value, argument)) < 2:
            raise ValueError(
                f"{argument} needs at least 2 images; received {validation.describe(value)}. Pass more images."
            )
    return kid(judge_features(images_a), judge_features(images_b), subsets, subset_size, seed)


def kid_x1000(samples, reference_features, subsets: int = 50, seed: int = 0) -> float:
    """KID x 1000 between samples and precomputed reference features, in the judge feature space.

    Introduced in lesson 03, for comparing many generators with one reference set: the reference's features
    are computed once (`judge_features`), each generator's samples here. Subsets hold `len(samples)` images.
    """
    samples = validation.images(samples, "samples")
    return (
        1000.0
        * kid(judge_features(samples), reference_features, subsets=subsets, subset_size=len(samples), seed=seed)[0]
    )


NEAREST_SPACES = ("pixels", "judge")


def nearest_training_images(samples, training_images, space: str = "pixels"):
    """For each sample, the index of its nearest training image and the L2 distance to it.

    Introduced in lesson 03 as a memorisation check: a generator that copies its few training images has
    nearest-neighbour distances far below those of fresh held-out images. It cannot tell "not memorising"
    from "poor samples": blurry or broken samples are far from every training image too.

    Args:
        samples: float NHWC images in [0, 1].
        training_images: float NHWC images in [0, 1], of the same shape.
        space: `"pixels"` (raw pixel vectors: thin, simple strokes such as 1s are near everything, so pixel
            distance favours them) or `"judge"` (the judge CNN's 128-d features, `judge_features`, where
            distance follows digit shape more than ink).

    Returns:
        `(indices, distances)`, NumPy arrays of length len(samples).
    """
    samples = validation.images(samples, "samples")
    training_images = validation.images(training_images, "training_images")
    validation.choice(space, "space", NEAREST_SPACES)
    if samples.shape[1:] != training_images.shape[1:]:
        raise ValueError(
            f"samples {samples.shape[1:]} and training_images {training_images.shape[1:]} must have the same image "
            f"shape."
        )
    if space == "judge":
        a, b = judge_features(samples).astype(np.float64), judge_features(training_images).astype(np.float64)
    else:
        a = samples.reshape(len(samples), -1).astype(np.float64)
        b = training_images.reshape(len(training_images), -1).astype(np.float64)
    squared = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * a @ b.T
    indices = np.argmin(squared, axis=1)
    return indices, np.sqrt(np.maximum(squared[np.arange(len(a)), indices], 0.0))


@dataclasses.dataclass(frozen=True)
class Recognisability:
    """How many images the judge reads as some digit with confidence, and which digits those are.

    Attributes:
        fraction: Share of images whose most likely class has probability >= `threshold`.
        classes: How many of the 10 classes those confident images cover.
        counts: Confident images per class (length 10).
        threshold: The probability threshold used.
        total: How many images were judged.
    """

    fraction: float
    classes: int
    counts: tuple
    threshold: float
    total: int

    @property
    def balanced(self) -> float:
        """The fraction, counting at most a tenth of the images per class (the target's share of each digit).

        A generator that collapsed onto readable 1s scores a high `fraction` but at most 0.1 here, so this
        number is high only for samples that are readable *and* cover the digits as the target does.
        """
        share = self.total / len(self.counts)
        return float(sum(min(count, share) for count in self.counts) / self.total)

    def __str__(self):
        return f"{self.fraction:.2f} recognisable ({self.classes} classes, {self.balanced:.2f} balanced)"


def recognisability(images, threshold: float = 0.9, judge_name: str = "judge") -> Recognisability:
    """The fraction of images the judge gives some class a probability of at least `threshold`.

    Introduced in lesson 00. It measures what a learner's eye checks in a sample grid: do these look like
    digits, and which ones? Real held-out digits are the ceiling to print beside it (about 0.9 at the
    default threshold); a generator that has collapsed to a few shapes scores few `classes`.

    Args:
        images: float NHWC images in [0, 1], at least 16x16 (resized to 32x32 gray for the judge).
        threshold: A probability strictly between 0.1 (chance among 10 classes) and 1.
        judge_name: `judge` (handwriting, the default) or `glyph_judge`, which reads typeset digits: a
            source generator's own domain (`tgai.judge.JUDGES`).

    Returns:
        A `Recognisability`.

    Raises:
        TypeError: for a threshold that is not a number.
        ValueError: for a threshold outside (0.1, 1), or bad images.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(
            f"threshold must be a probability in (0.1, 1); received {validation.describe(threshold)}. Use e.g. 0.9."
        )
    if not 0.1 < float(threshold) < 1.0:
        raise ValueError(
            f"threshold must be a probability in (0.1, 1); received threshold={threshold!r}. At 0.1 or below every "
            f"image "
            "passes (chance among 10 classes); use e.g. 0.9."
        )
    validation.choice(judge_name, "judge_name", judge.JUDGES)
    probabilities = judge.probabilities(validation.images(images), name=judge_name)
    confident = probabilities.max(axis=1) >= threshold
    counts = np.bincount(probabilities.argmax(axis=1)[confident], minlength=probabilities.shape[1])
    return Recognisability(
        float(confident.mean()),
        int((counts > 0).sum()),
        tuple(int(c) for c in counts),
        float(threshold),
        len(confident),
    )
