"""Against what a learner would otherwise use: the TensorFlow DCGAN tutorial, from scratch, against the kit's transfer.

tutorial_gan: the TensorFlow tutorial "Deep Convolutional Generative Adversarial Network" is the path most people
take to generated MNIST digits. This benchmark builds its published architecture and recipe, written from the
tutorial's description: a 100-d noise vector; a generator Dense(7x7x256, no bias), batch norm, LeakyReLU, then
5x5 transposed convolutions to 128 (stride 1), 64 (stride 2) and 1 channel (stride 2, tanh), each hidden one
followed by batch norm and LeakyReLU; a discriminator of two 5x5 stride-2 convolutions (64, 128) with LeakyReLU
and dropout 0.3, then one logit; binary cross-entropy on logits, Adam 1e-4 for both networks, batch 256, images
in [-1, 1], 50 epochs. It trains from scratch on all 1,000 images of the target pool (`mnist_5k` train, at
MNIST's 28x28), in the same run as the kit's lesson-03 fine-tuning of the committed source on 100 of them
(batch 32, `gan_steps` steps, seeds 0-2). Both are judged the same way on held-out digits (the tutorial's
28x28 samples resized to 32x32 as the kit resizes MNIST): balanced recognisability and KID x 1000 in the judge's
feature space. Rows: the seconds of training each needs to first reach the quality of `budget_gan`
(`benchmarks.common.GAN_QUALITY`) and the ratio tutorial / kit, which is the README's headline; and the quality
each has after as many training seconds as the kit's fine-tuning takes in lesson 03.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks import common

NOISE_DIM = 100
BATCH_SIZE = 256
LEARNING_RATE = 1e-4
MNIST_SIZE = 28


def build_generator():
    """The tutorial's generator: 100-d noise to a 28x28x1 image in [-1, 1]."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input((NOISE_DIM,)),
            layers.Dense(7 * 7 * 256, use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Reshape((7, 7, 256)),
            layers.Conv2DTranspose(128, 5, strides=1, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Conv2DTranspose(1, 5, strides=2, padding="same", use_bias=False, activation="tanh"),
        ],
        name="tutorial_generator",
    )


def build_discriminator():
    """The tutorial's discriminator: a 28x28x1 image to one real-or-fake logit."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input((MNIST_SIZE, MNIST_SIZE, 1)),
            layers.Conv2D(64, 5, strides=2, padding="same"),
            layers.LeakyReLU(),
            layers.Dropout(0.3),
            layers.Conv2D(128, 5, strides=2, padding="same"),
            layers.LeakyReLU(),
            layers.Dropout(0.3),
            layers.Flatten(),
            layers.Dense(1),
        ],
        name="tutorial_discriminator",
    )


def train_tutorial(images, epochs: int, eval_every_epochs: int, evaluate, seed: int = 0, log=print):
    """Train the tutorial's DCGAN from scratch; return its evaluations and each epoch's seconds.

    Returns:
        `([(epoch, steps, training seconds so far, evaluation)], [seconds of each epoch])`.

    Args:
        images: float32 NHWC 28x28x1 images in [0, 1].
        epochs: Passes over `images` at batch 256 (the last batch of an epoch is smaller, as in the tutorial).
        eval_every_epochs: Epochs between evaluations (and once before training).
        evaluate: `function(generated images in [0, 1], 28x28) -> {name: value}`.
        seed: Seeds the weights, the noise and the data order.
    """
    import keras
    import tensorflow as tf

    from tgai import training

    keras.utils.set_random_seed(seed)
    generator, discriminator = build_generator(), build_discriminator()
    generator_optimizer, discriminator_optimizer = (
        keras.optimizers.Adam(LEARNING_RATE),
        keras.optimizers.Adam(LEARNING_RATE),
    )
    cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)
    noise_seeds = keras.random.SeedGenerator(seed)

    # The kit's steps run with XLA on a CPU; the tutorial's step gets the same, so the comparison is of recipes.
    @tf.function(jit_compile=training.xla_allowed() and not tf.config.list_logical_devices("GPU"))
    def train_step(batch):
        noise = keras.random.normal((tf.shape(batch)[0], NOISE_DIM), seed=noise_seeds)
        with tf.GradientTape() as generator_tape, tf.GradientTape() as discriminator_tape:
            generated = generator(noise, training=True)
            real_output = discriminator(batch, training=True)
            fake_output = discriminator(generated, training=True)
            generator_loss = cross_entropy(tf.ones_like(fake_output), fake_output)
            discriminator_loss = cross_entropy(tf.ones_like(real_output), real_output) + cross_entropy(
                tf.zeros_like(fake_output), fake_output
            )
        generator_optimizer.apply_gradients(
            zip(
                generator_tape.gradient(generator_loss, generator.trainable_variables),
                generator.trainable_variables,
                strict=True,
            )
        )
        discriminator_optimizer.apply_gradients(
            zip(
                discriminator_tape.gradient(discriminator_loss, discriminator.trainable_variables),
                discriminator.trainable_variables,
                strict=True,
            )
        )

    scaled = (images * 2.0 - 1.0).astype(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices(scaled).shuffle(len(scaled), seed=seed).batch(BATCH_SIZE)
    fixed_noise = np.random.default_rng(seed).standard_normal((evaluate.samples, NOISE_DIM)).astype(np.float32)

    def sample():
        return (np.asarray(generator(fixed_noise, training=False)) + 1.0) / 2.0

    history, seconds, steps = [(0, 0, 0.0, evaluate(sample()))], 0.0, 0
    epoch_seconds = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        for batch in dataset:
            train_step(batch)
            steps += 1
        epoch_seconds.append(time.perf_counter() - start)
        seconds += epoch_seconds[-1]
        if epoch % eval_every_epochs == 0 or epoch == epochs:
            values = evaluate(sample())
            history.append((epoch, steps, seconds, values))
            log(
                f"  tutorial_gan: epoch {epoch} ({steps} steps, {seconds:.0f} s): balanced {values['balanced']:.2f}, "
                f"KID {values['kid']:.1f}"
            )
    return history, epoch_seconds


def _evaluation(heldout_images, samples: int):
    from tgai import data, metrics

    reference = metrics.judge_features(heldout_images[:samples])

    def evaluate(generated):
        resized = data.resize(np.clip(generated, 0.0, 1.0).astype(np.float32), heldout_images.shape[1])
        judged = metrics.recognisability(resized)
        return {"kid": metrics.kid_x1000(resized, reference, subsets=20, seed=0), "balanced": judged.balanced}

    evaluate.samples = samples
    return evaluate


def _first_at_quality(points):
    """Seconds of the first `(seconds, evaluation)` at `common.GAN_QUALITY`, or None."""
    for seconds, values in points:
        if common.at_quality(values):
            return seconds
    return None


def _at_seconds(points, limit):
    """The last evaluation at or before `limit` training seconds."""
    chosen = points[0][1]
    for seconds, values in points:
        if seconds <= limit:
            chosen = values
    return chosen


def run(scale: common.Scale, log=print) -> list[dict]:
    import tgai
    from tgai import data, experiments
    from tgai.models import gan

    profile = tgai.profile()
    samples = scale.kid_samples or profile.kid_samples
    pair = data.domain_pair(n_target=100, seed=0)
    pool, _ = data.load("mnist_5k", "train", image_size=MNIST_SIZE)
    steps = scale.budget_steps if scale.name == "tiny" else profile.gan_steps
    eval_every = scale.budget_eval_every if scale.name == "tiny" else steps // 10
    # The kit: lesson 03's fine-tuning on 100 images.
    source = gan.load_source()
    model, _ = gan.make("full", source=source, ema_warmup=False)
    kit_evaluate = gan.sample_evaluation(pair.heldout_images, samples)
    kit_points, kit_seconds, kit_totals = [], [], []
    for seed in range(scale.transfer_seeds):
        result = experiments.run(
            model, "full", pair.target_images, steps, 32, eval_every, seed=seed, evaluate=kit_evaluate, source=source
        )
        per_step = result.seconds / steps
        points = [(step * per_step, values) for step, values in result.history]
        kit_points.append(points)
        kit_totals.append(result.seconds)
        kit_seconds.append(_first_at_quality(points))
        log(f"  tutorial_gan: kit fine-tune seed {seed}: {kit_seconds[-1]} s to quality, {result.seconds:.0f} s total")
    # The tutorial: from scratch on the whole pool of 1,000.
    evaluate = _evaluation(pair.heldout_images, samples)
    epochs, every = scale.tutorial_epochs, scale.tutorial_eval_epochs
    history, epoch_seconds = train_tutorial(pool, epochs, every, evaluate, seed=0, log=log)
    tutorial_points = [(seconds, values) for _, _, seconds, values in history]
    tutorial_seconds = _first_at_quality(tutorial_points)
    total_seconds, total_steps = history[-1][2], history[-1][1]
    first_epoch, later_epoch = epoch_seconds[0], float(np.median(epoch_seconds[1:] or epoch_seconds))
    reached_kit = [value for value in kit_seconds if value is not None]
    tutorial_value = tutorial_seconds if tutorial_seconds is not None else total_seconds
    kit_budget = float(np.median(kit_totals))
    quality = common.quality_text()
    rows = [
        common.row(
            "tutorial_gan",
            "seconds_to_quality",
            f"seconds of training to {quality}: the kit, fine-tuning the source on 100 images",
            "s",
            reached_kit or [float(np.median(kit_totals))],
            baseline="the TensorFlow DCGAN tutorial from scratch on 1,000 images",
            baseline_samples=[tutorial_value],
            higher_is_better=False,
            ratio_meaning="tutorial / kit: how many times faster the kit gets there"
            + (" (lower bound: the tutorial did not get there)" if tutorial_seconds is None else ""),
            notes=f"kit: {len(reached_kit)} of {len(kit_seconds)} seeds reached it within {steps} steps; tutorial: "
            + (
                f"reached it after {tutorial_seconds:.0f} s"
                if tutorial_seconds is not None
                else f"not reached in {scale.tutorial_epochs} epochs ({total_steps} steps, {total_seconds:.0f} s)"
            )
            + f", 1 seed; {samples} samples per evaluation. Both counts include XLA compilation (the tutorial's "
            f"first epoch took {first_epoch:.0f} s, a later one {later_epoch:.0f} s) and the kit's include "
            "its evaluations, which favours the tutorial",
        )
    ]
    tutorial_at_budget = _at_seconds(tutorial_points, kit_budget)
    for name, unit, higher in (("balanced", "fraction", True), ("kid", "KID x1000", False)):
        kit_final = [points[-1][1][name] for points in kit_points]
        rows.append(
            common.row(
                "tutorial_gan",
                f"{name}_in_lesson_budget",
                f"{'balanced recognisability' if name == 'balanced' else 'KID x1000'} after the lesson's "
                f"{kit_budget:.0f} s of training: the kit (fine-tune, 100 images)",
                unit,
                kit_final,
                baseline="the tutorial at the same training seconds (1,000 images)",
                baseline_samples=[tutorial_at_budget[name]],
                higher_is_better=higher,
                ratio_meaning="kit / tutorial" if higher else "tutorial / kit",
                notes=f"the tutorial after all {scale.tutorial_epochs} epochs ({total_seconds:.0f} s): "
                f"{history[-1][3][name]:.2f}",
            )
        )
    return rows
