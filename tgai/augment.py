"""DiffAugment: differentiable color, translation and cutout for training a GAN on few images.

Introduced in lesson 03. With a few hundred images or fewer, a discriminator memorises the real set and its
feedback to the generator collapses. DiffAugment applies random, differentiable augmentations to every image
the discriminator sees, real and generated, in both the discriminator's and the generator's steps, so the
discriminator cannot memorise and the generator still receives gradients through the augmentation.

Reference: Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training", NeurIPS 2020.
"""

from __future__ import annotations

import tensorflow as tf

from tgai.core import validation

AUGMENT_OPERATIONS = ("color", "translation", "cutout")


def _uniform(seed, count, index):
    return tf.random.stateless_uniform([count], seed=tf.random.experimental.stateless_fold_in(seed, index))


def diff_augment(images, policy=AUGMENT_OPERATIONS, seed=(0, 0)):
    """Apply DiffAugment's differentiable color, translation and cutout to a batch of images.

    Introduced in lesson 03. The parameters are drawn per image from `seed`. As in the paper, a GAN calls
    this separately, with different seeds, on the real batch and on the generated batch (draws are
    independent), with the same policy on both sides and in both the discriminator's and the generator's
    steps. Every operation is differentiable in the images, so the generator learns through it.

    Reference: Zhao et al., NeurIPS 2020 (ratios 1/8 for translation, 1/2 for cutout, as there).

    Args:
        images: Image tensor (N, H, W, C) in [-1, 1].
        policy: Operations to apply, from `AUGMENT_OPERATIONS`.
        seed: Stateless seed, a pair of integers (or an int tensor of shape (2,)).

    Returns:
        The augmented tensor, of the same shape.
    """
    for operation in policy:
        validation.choice(operation, "policy entry", AUGMENT_OPERATIONS)
    images = tf.convert_to_tensor(images)
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    shape = tf.shape(images)
    count, height, width = shape[0], shape[1], shape[2]
    if "color" in policy:
        brightness = tf.reshape(_uniform(seed, count, 0) - 0.5, [-1, 1, 1, 1])
        contrast = tf.reshape(_uniform(seed, count, 1) + 0.5, [-1, 1, 1, 1])
        saturation = tf.reshape(_uniform(seed, count, 2) * 2.0, [-1, 1, 1, 1])
        images = images + brightness
        if images.shape[-1] != 1:  # Saturation is the identity on gray images.
            channel_mean = tf.reduce_mean(images, axis=3, keepdims=True)
            images = (images - channel_mean) * saturation + channel_mean
        image_mean = tf.reduce_mean(images, axis=[1, 2, 3], keepdims=True)
        images = (images - image_mean) * contrast + image_mean
    if "translation" in policy:
        shift_y = tf.cast(tf.cast(height, tf.float32) * 0.125 + 0.5, tf.int32)
        shift_x = tf.cast(tf.cast(width, tf.float32) * 0.125 + 0.5, tf.int32)
        offset_y = (
            tf.cast(tf.floor(_uniform(seed, count, 3) * tf.cast(2 * shift_y + 1, tf.float32)), tf.int32) - shift_y
        )
        offset_x = (
            tf.cast(tf.floor(_uniform(seed, count, 4) * tf.cast(2 * shift_x + 1, tf.float32)), tf.int32) - shift_x
        )
        # Shifting is a product with one-hot shift matrices (rows, then columns): pixels shifted in are
        # zeros (mid-gray in [-1, 1]), and matrix products are fast and differentiable on every device.
        row_shift = tf.one_hot(tf.range(height)[None, :] - offset_y[:, None], height, dtype=images.dtype)
        column_shift = tf.one_hot(tf.range(width)[None, :] - offset_x[:, None], width, dtype=images.dtype)
        images = tf.einsum("bwk,bhkc->bhwc", column_shift, tf.einsum("bij,bjwc->biwc", row_shift, images))
    if "cutout" in policy:
        size_y = tf.cast(tf.cast(height, tf.float32) * 0.5 + 0.5, tf.int32)
        size_x = tf.cast(tf.cast(width, tf.float32) * 0.5 + 0.5, tf.int32)
        top = (
            tf.cast(tf.floor(_uniform(seed, count, 5) * tf.cast(height + 1 - size_y % 2, tf.float32)), tf.int32)
            - size_y // 2
        )
        left = (
            tf.cast(tf.floor(_uniform(seed, count, 6) * tf.cast(width + 1 - size_x % 2, tf.float32)), tf.int32)
            - size_x // 2
        )
        inside_y = (tf.range(height)[None, :] >= top[:, None]) & (tf.range(height)[None, :] < top[:, None] + size_y)
        inside_x = (tf.range(width)[None, :] >= left[:, None]) & (tf.range(width)[None, :] < left[:, None] + size_x)
        mask = 1.0 - tf.cast(inside_y[:, :, None] & inside_x[:, None, :], images.dtype)
        images = images * mask[..., None]
    return images
