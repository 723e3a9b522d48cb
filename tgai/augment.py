"""DiffAugment: differentiable color, translation and cutout for training a GAN on few images.

Introduced in lesson 03. With a few hundred images or fewer, a discriminator memorises the real set and its
feedback to the generator collapses. DiffAugment applies random, differentiable augmentations to every image
the discriminator sees, real and generated, in both the discriminator's and the generator's steps, so the
discriminator cannot memorise and the generator still receives gradients through the augmentation.

Reference: Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training", NeurIPS 2020.
"""

from __future__ import annotations

import tensorflow as tf

from tgai import validation

AUGMENT_OPERATIONS = ("color", "translation", "cutout")


def _uniform(seed, count, index):
    return tf.random.stateless_uniform([count], seed=tf.random.experimental.stateless_fold_in(seed, index))


def diff_augment(batches, policy=AUGMENT_OPERATIONS, seed=(0, 0)):
    """Apply DiffAugment's differentiable color, translation and cutout to one or more image batches.

    Introduced in lesson 03. The transformation parameters are drawn once per call, per image index, and
    applied identically to every batch in `batches`: the D step passes `[real, fake]`, so image i of each
    goes through the same brightness, contrast, shift and cutout. Every operation is differentiable in the
    images, so the generator learns through it.

    Reference: Zhao et al., NeurIPS 2020 (ratios 1/8 for translation, 1/2 for cutout, as there).

    Args:
        batches: list of image tensors (N, H, W, C) in [-1, 1], all the same shape.
        policy: Operations to apply, from `AUGMENT_OPERATIONS`.
        seed: Stateless seed, a pair of integers (or an int tensor of shape (2,)).

    Returns:
        list of augmented tensors, in the order given.
    """
    for operation in policy:
        validation.choice(operation, "policy entry", AUGMENT_OPERATIONS)
    batches = [tf.convert_to_tensor(batch) for batch in batches]
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    shape = tf.shape(batches[0])
    count, height, width = shape[0], shape[1], shape[2]
    if "color" in policy:
        brightness = tf.reshape(_uniform(seed, count, 0) - 0.5, [-1, 1, 1, 1])
        contrast = tf.reshape(_uniform(seed, count, 1) + 0.5, [-1, 1, 1, 1])
        saturation = tf.reshape(_uniform(seed, count, 2) * 2.0, [-1, 1, 1, 1])
        colored = []
        for batch in batches:
            batch = batch + brightness
            if batch.shape[-1] != 1:  # Saturation is the identity on gray images.
                channel_mean = tf.reduce_mean(batch, axis=3, keepdims=True)
                batch = (batch - channel_mean) * saturation + channel_mean
            image_mean = tf.reduce_mean(batch, axis=[1, 2, 3], keepdims=True)
            colored.append((batch - image_mean) * contrast + image_mean)
        batches = colored
    if "translation" in policy:
        shift_y = tf.cast(tf.cast(height, tf.float32) * 0.125 + 0.5, tf.int32)
        shift_x = tf.cast(tf.cast(width, tf.float32) * 0.125 + 0.5, tf.int32)
        offset_y = tf.cast(tf.floor(_uniform(seed, count, 3) * tf.cast(2 * shift_y + 1, tf.float32)), tf.int32) - shift_y
        offset_x = tf.cast(tf.floor(_uniform(seed, count, 4) * tf.cast(2 * shift_x + 1, tf.float32)), tf.int32) - shift_x
        # Shifting is a product with one-hot shift matrices (rows, then columns): pixels shifted in are
        # zeros (mid-gray in [-1, 1]), and matrix products are fast and differentiable on every device.
        row_shift = tf.one_hot(tf.range(height)[None, :] - offset_y[:, None], height, dtype=batches[0].dtype)
        column_shift = tf.one_hot(tf.range(width)[None, :] - offset_x[:, None], width, dtype=batches[0].dtype)
        translated = [
            tf.einsum("bwk,bhkc->bhwc", column_shift, tf.einsum("bij,bjwc->biwc", row_shift, batch)) for batch in batches
        ]
        batches = translated
    if "cutout" in policy:
        size_y = tf.cast(tf.cast(height, tf.float32) * 0.5 + 0.5, tf.int32)
        size_x = tf.cast(tf.cast(width, tf.float32) * 0.5 + 0.5, tf.int32)
        top = tf.cast(tf.floor(_uniform(seed, count, 5) * tf.cast(height + 1 - size_y % 2, tf.float32)), tf.int32) - size_y // 2
        left = tf.cast(tf.floor(_uniform(seed, count, 6) * tf.cast(width + 1 - size_x % 2, tf.float32)), tf.int32) - size_x // 2
        inside_y = (tf.range(height)[None, :] >= top[:, None]) & (tf.range(height)[None, :] < top[:, None] + size_y)
        inside_x = (tf.range(width)[None, :] >= left[:, None]) & (tf.range(width)[None, :] < left[:, None] + size_x)
        mask = 1.0 - tf.cast(inside_y[:, :, None] & inside_x[:, None, :], batches[0].dtype)
        batches = [batch * mask[..., None] for batch in batches]
    return batches

