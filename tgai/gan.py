"""A small DCGAN for transfer: builders, a `GAN` model with its own `train_step`, FreezeD, DiffAugment.

Introduced in lesson 03 (GAN fine-tuning). The lesson starts a GAN from a source generator and
discriminator pre-trained on typeset glyphs (committed under `data/`, made by `python -m tgai pretrain gan`)
and adapts it to a few handwritten digits, comparing strategies with training from scratch.

Usage notes:
    * Every public function takes and returns images as float32 NHWC in [0, 1]. Inside, the GAN works in
      [-1, 1] (a tanh generator), converting at its boundary.
    * Layers are named by depth, `g_block1_*` ... `g_block4_*` and `d_block1_*` ... `d_block3_*`, counted
      from the latent for the generator and from the image for the discriminator, so that "freeze the lowest
      two discriminator blocks" is a statement about names.
    * All evaluation and sampling use the EMA generator (an exponential moving average of the generator's
      weights): single GAN runs without it swing several-fold from step to step.
    * Randomness inside `train_step` (latents, augmentation) is drawn statelessly from `(seed, step,
      replica)`, so that a resumed run repeats an uninterrupted one exactly and replicas under
      `tf.distribute.MirroredStrategy` draw different latents.

References:
    Radford et al., "Unsupervised Representation Learning with Deep Convolutional GANs" (DCGAN), 2016.
    Wang et al., "Transferring GANs: generating images from limited data", ECCV 2018.
    Mo et al., "Freeze the Discriminator: a Simple Baseline for Fine-Tuning GANs" (FreezeD), CVPRW 2020.
    Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training" (DiffAugment), NeurIPS 2020.
    keras-io `examples/generative/dcgan_overriding_train_step.py` for the `train_step` style.
"""

from __future__ import annotations

import dataclasses
import re
import time

import keras
import numpy as np
import tensorflow as tf

from tgai import checkpoints, config, data, metrics, training, validation

LATENT_DIM = 64
IMAGE_SHAPE = (32, 32, 1)
GENERATOR_BLOCKS = 4  # g_block1 is the latent projection; g_block2..4 each double the resolution.
DISCRIMINATOR_BLOCKS = 3  # d_block1..3 each halve the resolution.
STRATEGIES = ("scratch", "full", "freeze_d", "freeze_g")
AUGMENT_OPERATIONS = ("color", "translation", "cutout")
LOSSES = ("non_saturating", "hinge")
SOURCE_FILES = {"gan_generator": "gan_generator.weights.h5", "gan_discriminator": "gan_discriminator.weights.h5"}
PRETRAIN_BATCH_SIZE = 64


# --------------------------------------------------------------------------------------------- builders


def check_image_shape(image_shape) -> tuple[int, int, int]:
    """Return `image_shape` as a tuple if the DCGAN can serve it (sides >= 16 and divisible by 8, 1 or 3 channels).

    Raises:
        ValueError: naming the shape and the nearest shape that works.
    """
    if not isinstance(image_shape, (tuple, list)) or len(image_shape) != 3:
        raise ValueError(f"image_shape must be (height, width, channels); received image_shape={image_shape!r}.")
    if not all(isinstance(side, (int, np.integer)) and not isinstance(side, bool) for side in image_shape):
        raise ValueError(f"image_shape must hold integers; received image_shape={image_shape!r}.")
    height, width, channels = (int(side) for side in image_shape)
    if channels not in (1, 3):
        raise ValueError(f"image_shape must have 1 or 3 channels; received image_shape={tuple(image_shape)}.")
    for side in (height, width):
        if side < 16 or side % 8:
            nearest = max(16, int(round(side / 8)) * 8)
            raise ValueError(
                f"image_shape sides must be >= 16 and divisible by 8 (three stride-2 stages); received "
                f"image_shape={tuple(image_shape)}. Resize the images, e.g. tgai.data.resize(images, {nearest})."
            )
    return height, width, channels


def build_generator(image_shape=IMAGE_SHAPE, latent_dim: int = LATENT_DIM, width: int = 128, seed: int = 0):
    """Build the DCGAN generator: latent (latent_dim,) -> image in [-1, 1] (tanh).

    Introduced in lesson 03. `g_block1` projects the latent to a (H/8, W/8, width) map; `g_block2..4` each
    double the resolution with a transposed convolution and halve the channels; `g_output` maps to the
    image's channels. Per-pixel layer normalization (no batch statistics) keeps the EMA copy exact.
    At 32x32x1 and width 128 it has about 0.3M parameters.

    Args:
        image_shape: (height, width, channels) of the images; sides >= 16 and divisible by 8.
        latent_dim: Size of the latent vector.
        width: Channels of the first feature map.
        seed: Seeds the initializers.

    Returns:
        A functional `keras.Model` named `generator`.
    """
    height, image_width, channels = check_image_shape(image_shape)
    latent_dim = validation.positive_int(latent_dim, "latent_dim")
    width = validation.positive_int(width, "width", minimum=8)
    initializer = lambda offset: keras.initializers.RandomNormal(stddev=0.02, seed=seed * 100 + offset)
    latents = keras.Input((latent_dim,), name="latents")
    x = keras.layers.Dense(height // 8 * image_width // 8 * width, kernel_initializer=initializer(0), name="g_block1_dense")(latents)
    x = keras.layers.Reshape((height // 8, image_width // 8, width), name="g_block1_reshape")(x)
    x = keras.layers.LayerNormalization(name="g_block1_norm")(x)
    x = keras.layers.ReLU(name="g_block1_act")(x)
    filters = width
    for block in range(2, GENERATOR_BLOCKS + 1):
        filters //= 2
        x = keras.layers.Conv2DTranspose(
            filters, 4, strides=2, padding="same", kernel_initializer=initializer(block), name=f"g_block{block}_conv"
        )(x)
        x = keras.layers.LayerNormalization(name=f"g_block{block}_norm")(x)
        x = keras.layers.ReLU(name=f"g_block{block}_act")(x)
    x = keras.layers.Conv2D(channels, 3, padding="same", kernel_initializer=initializer(9), name="g_output_conv")(x)
    outputs = keras.layers.Activation("tanh", name="g_output_tanh")(x)
    return keras.Model(latents, outputs, name="generator")


def build_discriminator(image_shape=IMAGE_SHAPE, width: int = 32, seed: int = 0):
    """Build the DCGAN discriminator: image in [-1, 1] -> one logit (real vs fake).

    Introduced in lesson 03. `d_block1..3` each halve the resolution with a stride-2 convolution and double
    the channels; `d_output` is a linear layer on the flattened (H/8, W/8) map. No normalization, so that
    batches of real and fake images never mix statistics. At 32x32x1 and width 32, about 0.17M parameters.

    Args:
        image_shape: (height, width, channels); sides >= 16 and divisible by 8.
        width: Channels of the first block.
        seed: Seeds the initializers.

    Returns:
        A functional `keras.Model` named `discriminator`.
    """
    image_shape = check_image_shape(image_shape)
    width = validation.positive_int(width, "width", minimum=4)
    initializer = lambda offset: keras.initializers.RandomNormal(stddev=0.02, seed=seed * 100 + 50 + offset)
    images = keras.Input(image_shape, name="images")
    x = images
    filters = width
    for block in range(1, DISCRIMINATOR_BLOCKS + 1):
        x = keras.layers.Conv2D(filters, 4, strides=2, padding="same", kernel_initializer=initializer(block), name=f"d_block{block}_conv")(x)
        x = keras.layers.LeakyReLU(0.2, name=f"d_block{block}_act")(x)
        filters *= 2
    x = keras.layers.Flatten(name="d_output_flatten")(x)
    logits = keras.layers.Dense(1, kernel_initializer=initializer(9), name="d_output_dense")(x)
    return keras.Model(images, logits, name="discriminator")


def block_layers(model, prefix: str, blocks: int):
    """Return the layers of `model` named `{prefix}_block1_*` ... `{prefix}_block{blocks}_*`."""
    pattern = re.compile(rf"^{prefix}_block(\d+)_")
    return [layer for layer in model.layers if (match := pattern.match(layer.name)) and int(match.group(1)) <= blocks]


def count_parameters(weights) -> int:
    """Total number of scalars in a list of variables."""
    return int(sum(np.prod(weight.shape) for weight in weights))


# ------------------------------------------------------------------------------------------ DiffAugment


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


# ------------------------------------------------------------------------------------------------ model


class GAN(keras.Model):
    """A GAN whose `train_step` alternates one discriminator and one generator update, with an EMA generator.

    Introduced in lesson 03. Follows keras-io's `dcgan_overriding_train_step`: `compile` takes one optimizer
    per network, `metrics` lists `keras.metrics.Mean` trackers, and `fit` runs `train_step` on batches of
    real images in [0, 1].

    Args:
        generator: Model latent -> image in [-1, 1] (see `build_generator`).
        discriminator: Model image in [-1, 1] -> logit (see `build_discriminator`).
        latent_dim: Latent size the generator expects (read from it if None).
        ema_decay: Decay of the generator's exponential moving average. The decay ramps up as
            `min(ema_decay, (1 + step) / (10 + step))`, so early steps are not dominated by the start.
        augment: DiffAugment policy (a tuple from `AUGMENT_OPERATIONS`), or None for no augmentation.
        loss: `non_saturating` (the default) or `hinge`.
        seed: Seeds the latents and augmentation drawn inside `train_step` (see `restart` to change it).
    """

    def __init__(self, generator, discriminator, latent_dim=None, ema_decay=0.99, augment=None, loss="non_saturating", seed=0, **kwargs):
        super().__init__(**kwargs)
        validation.choice(loss, "loss", LOSSES)
        if isinstance(augment, str):
            raise ValueError(
                f"augment must be a tuple of operations, not a string; received augment={augment!r}. "
                f"Use augment=({augment!r},) or augment={AUGMENT_OPERATIONS!r}."
            )
        if augment is not None:
            augment = tuple(augment)
            for operation in augment:
                validation.choice(operation, "augment entry", AUGMENT_OPERATIONS)
        if not 0.0 <= float(ema_decay) < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1); received ema_decay={ema_decay!r}. Use e.g. 0.99.")
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(latent_dim or generator.input_shape[-1])
        self.ema_decay = float(ema_decay)
        self.augment = augment
        self.loss_name = loss
        self.seed = validation.positive_int(seed, "seed", minimum=0)
        # A variable, not a constant baked into the traced step, so that `restart` can reuse the traced
        # train function for another seed.
        self.seed_variable = keras.Variable(self.seed, dtype="int64", trainable=False, name="seed")
        self.ema_generator = keras.models.clone_model(generator)
        self.ema_generator.set_weights(generator.get_weights())
        self.ema_generator.trainable = False
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.real_score_tracker = keras.metrics.Mean(name="real_score")
        self.fake_score_tracker = keras.metrics.Mean(name="fake_score")
        self.built = True

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.real_score_tracker, self.fake_score_tracker]

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        """Set one optimizer per network (default Adam(2e-4, beta_1=0.5), DCGAN's) and build their state.

        Call after choosing which layers are frozen: each optimizer holds state for the trainable
        variables it was built with.
        """
        super().compile(optimizer=None, jit_compile=False, **kwargs)
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(2e-4, beta_1=0.5)
        # Built now so that a restored backup finds the same variables to load into.
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)
        # Remembered so that `restart` can put both optimizers back to the start of a run.
        self.fresh_optimizer_state = [np.array(variable) for variable in self._optimizer_variables()]

    def _optimizer_variables(self):
        return list(self.d_optimizer.variables) + list(self.g_optimizer.variables)

    def call(self, latents, training=False):
        """Map latents to images in [0, 1] with the EMA generator."""
        return (self.ema_generator(latents, training=False) + 1.0) / 2.0

    def divergence_hint(self) -> str:
        """Name the likely causes of non-finite losses, for `tgai.training.NaNGuard`."""
        rates = []
        for name, optimizer in (("D", getattr(self, "d_optimizer", None)), ("G", getattr(self, "g_optimizer", None))):
            if optimizer is not None:
                rates.append(f"{name} {float(np.asarray(optimizer.learning_rate)):.2g}")
        return (
            f"learning rate too high ({', '.join(rates)}): try 2e-4 or lower; data range: real images must be "
            "float32 in [0, 1] (the GAN maps them to [-1, 1]); D/G balance: if d_loss went to 0 while g_loss "
            "grew, the discriminator won, so lower its learning rate, freeze more of it, or add DiffAugment."
        )

    def _step_seed(self, index):
        # Everything random in a step derives from (seed, step, replica, index): a resumed run draws exactly
        # what an uninterrupted one drew, and replicas draw different latents.
        context = tf.distribute.get_replica_context()
        replica = context.replica_id_in_sync_group if context is not None else 0
        step = tf.cast(self.d_optimizer.iterations, tf.int64)
        key = tf.stack([tf.cast(self.seed_variable, tf.int64), step])
        key = tf.random.experimental.stateless_fold_in(key, tf.cast(replica, tf.int64))
        return tf.random.experimental.stateless_fold_in(key, index)

    def _augment(self, batches, seed):
        return diff_augment(batches, self.augment, seed) if self.augment else batches

    def _discriminator_loss(self, real_logits, fake_logits):
        if self.loss_name == "hinge":
            return tf.reduce_mean(tf.nn.relu(1.0 - real_logits)) + tf.reduce_mean(tf.nn.relu(1.0 + fake_logits))
        return tf.reduce_mean(tf.nn.softplus(-real_logits)) + tf.reduce_mean(tf.nn.softplus(fake_logits))

    def _generator_loss(self, fake_logits):
        if self.loss_name == "hinge":
            return -tf.reduce_mean(fake_logits)
        # Non-saturating: maximise log D(G(z)) rather than minimise log(1 - D(G(z))), whose gradient vanishes
        # exactly when the generator is bad.
        return tf.reduce_mean(tf.nn.softplus(-fake_logits))

    def train_step(self, real_images):
        """One discriminator step and one generator step on a batch of real images in [0, 1]."""
        real_images = real_images * 2.0 - 1.0
        batch_size = tf.shape(real_images)[0]
        # Each replica computes the mean over its share of the batch; optimizers sum gradients over replicas.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        d_seed, g_seed = self._step_seed(0), self._step_seed(1)

        latents = tf.random.stateless_normal([batch_size, self.latent_dim], seed=self._step_seed(2))
        with tf.GradientTape() as tape:
            fake_images = self.generator(latents, training=True)
            real_seen, fake_seen = self._augment([real_images, fake_images], d_seed)
            real_logits = self.discriminator(real_seen, training=True)
            fake_logits = self.discriminator(fake_seen, training=True)
            d_loss = self._discriminator_loss(real_logits, fake_logits)
            scaled = d_loss / replicas
        gradients = tape.gradient(scaled, self.discriminator.trainable_variables)
        self.d_optimizer.apply_gradients(zip(gradients, self.discriminator.trainable_variables, strict=True))

        latents = tf.random.stateless_normal([batch_size, self.latent_dim], seed=self._step_seed(3))
        with tf.GradientTape() as tape:
            fake_images = self.generator(latents, training=True)
            (fake_seen,) = self._augment([fake_images], g_seed)
            g_loss = self._generator_loss(self.discriminator(fake_seen, training=True))
            scaled = g_loss / replicas
        gradients = tape.gradient(scaled, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(gradients, self.generator.trainable_variables, strict=True))
        self._update_ema()

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.real_score_tracker.update_state(tf.reduce_mean(tf.sigmoid(real_logits)))
        self.fake_score_tracker.update_state(tf.reduce_mean(tf.sigmoid(fake_logits)))
        return {metric.name: metric.result() for metric in self.metrics}

    def _update_ema(self):
        step = tf.cast(self.g_optimizer.iterations, tf.float32)
        decay = tf.minimum(self.ema_decay, (1.0 + step) / (10.0 + step))
        pairs = list(zip(self.ema_generator.weights, self.generator.weights, strict=True))

        def update(*_):
            for average, live in pairs:
                average.assign(decay * average + (1.0 - decay) * live)

        # The generator's weights are identical on every replica after the optimizer's all-reduce, so the
        # average is updated once, in cross-replica context (merge_call), rather than by each replica.
        context = tf.distribute.get_replica_context()
        if context is None:
            update()
        else:
            context.merge_call(update)

    def sample(self, count: int, seed: int = 0, batch_size: int = 256, ema: bool = True) -> np.ndarray:
        """Draw `count` images in [0, 1] from the EMA generator (or the live one) with seeded latents."""
        count = validation.positive_int(count, "count")
        return sample(self.ema_generator if ema else self.generator, count, seed, batch_size)


def latents(count: int, seed: int = 0, latent_dim: int = LATENT_DIM) -> np.ndarray:
    """Seeded standard-normal latents (NumPy, so that they do not depend on TensorFlow's random state)."""
    count = validation.positive_int(count, "count")
    seed = validation.positive_int(seed, "seed", minimum=0)
    latent_dim = validation.positive_int(latent_dim, "latent_dim")
    return np.random.default_rng(seed).standard_normal((count, latent_dim)).astype(np.float32)


def sample(generator, count: int, seed: int = 0, batch_size: int = 256) -> np.ndarray:
    """Draw `count` images in [0, 1] from a generator (outputs in [-1, 1]) with seeded latents."""
    count = validation.positive_int(count, "count")
    codes = latents(count, seed, generator.input_shape[-1])
    return generate(generator, codes, batch_size)


def generate(generator, codes, batch_size: int = 256) -> np.ndarray:
    """Map given latents to images in [0, 1]."""
    codes = np.asarray(codes, dtype=np.float32)
    expected = generator.input_shape[-1]
    if codes.ndim != 2 or codes.shape[1] != expected or len(codes) == 0:
        raise ValueError(
            f"codes must have shape (N, {expected}) with N >= 1 for this generator; received {validation.describe(codes)}. "
            f"Draw them with tgai.gan.latents(count, seed, latent_dim={expected})."
        )
    outputs = [np.asarray(generator(codes[start : start + batch_size], training=False)) for start in range(0, len(codes), batch_size)]
    return np.clip((np.concatenate(outputs) + 1.0) / 2.0, 0.0, 1.0).astype(np.float32)


# ------------------------------------------------------------------------------------------ checkpoints


def _snake_case(name: str) -> str:
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _file_keys(model) -> dict:
    """Map each layer name to its group in a Keras 3 `.weights.h5` file (keyed by class name and order)."""
    used, keys = {}, {}
    for layer in model.layers:
        base = _snake_case(layer.__class__.__name__)
        count = used.get(base, 0)
        used[base] = count + 1
        keys[layer.name] = base if count == 0 else f"{base}_{count}"
    return keys


def load_weights_checked(model, file) -> None:
    """Load a `.weights.h5` file into `model` after checking every layer's weight shapes, naming mismatches.

    Introduced in lesson 03. Keras would otherwise fail with a message about variable counts, or not at all
    when shapes happen to line up.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: listing, by layer name, every weight whose shape differs or is missing.
    """
    import pathlib

    import h5py

    file = pathlib.Path(file)
    if not file.is_file():
        raise FileNotFoundError(f"file must be an existing .weights.h5 file; received file={str(file)!r}.")
    problems = []
    try:
        with h5py.File(file, "r") as stored:
            groups = stored.get("layers")
            if groups is None:
                raise ValueError(f"{file.name} is not a Keras weights file (no 'layers' group). Save with model.save_weights.")
            keys = _file_keys(model)
            for layer in model.layers:
                if not layer.weights:
                    continue
                key = keys[layer.name]
                expected = [tuple(weight.shape) for weight in layer.weights]
                if key not in groups:
                    problems.append(f"layer {layer.name}: missing from the file (expects {expected})")
                    continue
                variables = groups[key]["vars"]
                found = [tuple(variables[str(index)].shape) for index in range(len(variables))]
                if found != expected:
                    problems.append(f"layer {layer.name}: file has {found}, model expects {expected}")
            weighted = {keys[layer.name] for layer in model.layers if layer.weights}
            extra = sorted(key for key in groups if key not in weighted and len(groups[key].get("vars", {})))
            if extra:
                problems.append(f"file has weights for layers this model lacks: {', '.join(extra)}")
    except OSError as error:
        raise ValueError(f"{file.name} is not a readable HDF5 weights file ({error}). Regenerate it.") from error
    if problems:
        raise ValueError(
            f"{file.name} does not match the architecture of model {model.name!r}:\n  "
            + "\n  ".join(problems)
            + "\nBuild the model with the image_shape and widths the checkpoint was made with."
        )
    model.load_weights(file)


def source_models(image_shape=IMAGE_SHAPE, seed: int = 0):
    """Return `(generator, discriminator)` loaded from the committed source checkpoints (sha256 checked)."""
    generator = build_generator(image_shape, seed=seed)
    discriminator = build_discriminator(image_shape, seed=seed)
    load_weights_checked(generator, checkpoints.path("gan_generator"))
    load_weights_checked(discriminator, checkpoints.path("gan_discriminator"))
    return generator, discriminator


# ------------------------------------------------------------------------------------------- strategies


@dataclasses.dataclass(frozen=True)
class StrategyReport:
    """What a transfer strategy left trainable."""

    strategy: str
    frozen_layers: tuple[str, ...]
    trainable_generator: int
    total_generator: int
    trainable_discriminator: int
    total_discriminator: int

    def __str__(self):
        return (
            f"{self.strategy}: G {self.trainable_generator:,}/{self.total_generator:,} trainable, "
            f"D {self.trainable_discriminator:,}/{self.total_discriminator:,} trainable"
        )


def apply_strategy(generator, discriminator, strategy: str, blocks: int = 2) -> StrategyReport:
    """Freeze layers for a transfer strategy and report the trainable parameters left.

    Introduced in lesson 03.

    * `scratch` and `full`: everything trainable (they differ in the starting weights, see `make_gan`).
    * `freeze_d` (FreezeD): the lowest `blocks` discriminator blocks (`d_block1..blocks`) frozen.
    * `freeze_g`: the lowest `blocks` generator blocks (`g_block1..blocks`, nearest the latent) frozen.

    Frozen means `trainable=False`; the report counts trainable weights to show it.

    Raises:
        ValueError: for an unknown strategy, or more blocks than the network has.
    """
    validation.choice(strategy, "strategy", STRATEGIES)
    blocks = validation.positive_int(blocks, "blocks")
    limit = {"freeze_d": DISCRIMINATOR_BLOCKS, "freeze_g": GENERATOR_BLOCKS}.get(strategy)
    if limit is not None and blocks > limit:
        network = "discriminator" if strategy == "freeze_d" else "generator"
        raise ValueError(
            f"blocks={blocks} but the {network} has only {limit} blocks; strategy={strategy!r} can freeze 1 to {limit}."
        )
    for layer in generator.layers + discriminator.layers:
        layer.trainable = True
    frozen = []
    if strategy == "freeze_d":
        frozen = block_layers(discriminator, "d", blocks)
    elif strategy == "freeze_g":
        frozen = block_layers(generator, "g", blocks)
    for layer in frozen:
        layer.trainable = False
    return StrategyReport(
        strategy,
        tuple(layer.name for layer in frozen if layer.weights),
        count_parameters(generator.trainable_weights),
        count_parameters(generator.weights),
        count_parameters(discriminator.trainable_weights),
        count_parameters(discriminator.weights),
    )


def make_gan(strategy: str = "full", blocks: int = 2, augment=None, seed: int = 0, image_shape=IMAGE_SHAPE, learning_rate: float = 2e-4, ema_decay: float = 0.99):
    """Build, set up and compile a GAN for one transfer strategy; returns `(gan, report)`.

    Introduced in lesson 03. `scratch` starts from a fresh initialization (seeded); every other strategy
    starts both networks from the committed source checkpoints (Transferring GANs: fine-tune G and D
    together). Build it inside `strategy.scope()` to train under `tf.distribute`.

    Args:
        strategy: One of `STRATEGIES`.
        blocks: Blocks to freeze for `freeze_d` / `freeze_g`.
        augment: DiffAugment policy or None.
        seed: Seeds the initialization (scratch) and the training randomness.
        image_shape: Image shape; the source checkpoints need (32, 32, 1).
        learning_rate: Adam learning rate of both networks.
        ema_decay: See `GAN`.
    """
    validation.choice(strategy, "strategy", STRATEGIES)
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or not learning_rate > 0:
        raise ValueError(f"learning_rate must be a number > 0; received learning_rate={learning_rate!r}. Use e.g. 2e-4 (DCGAN's).")
    if strategy == "scratch":
        generator, discriminator = build_generator(image_shape, seed=seed), build_discriminator(image_shape, seed=seed)
    else:
        generator, discriminator = source_models(image_shape)
    report = apply_strategy(generator, discriminator, strategy, blocks)
    gan = GAN(generator, discriminator, ema_decay=ema_decay, augment=augment, seed=seed)
    gan.compile(keras.optimizers.Adam(learning_rate, beta_1=0.5), keras.optimizers.Adam(learning_rate, beta_1=0.5))
    return gan, report


def restart(model: GAN, strategy: str, seed: int = 0, blocks: int = 2, source=None) -> StrategyReport:
    """Put a compiled GAN back to the start of a run, reusing its traced train function.

    Introduced in lesson 03, where one model per strategy runs several seeds: tracing a new GAN costs
    seconds on a CPU, resetting its variables costs nothing. After `restart(model, strategy, seed)` a run is
    identical to one on `make_gan(strategy, seed=seed)` with the same freezing and augmentation (a test
    checks it bit for bit).

    Args:
        model: A GAN compiled by `make_gan`, frozen for `strategy` already.
        strategy: As in `make_gan`; must leave the same weights trainable as the model was compiled with.
        seed: Seeds fresh weights (`scratch`) and the training randomness.
        blocks: Blocks to freeze for `freeze_d` / `freeze_g`.
        source: `(generator, discriminator)` to start from for every strategy but `scratch`
            (None: the committed source checkpoints, loaded and checked again).

    Returns:
        The `StrategyReport` of `apply_strategy`.

    Raises:
        TypeError: if `model` is not a compiled `tgai.gan.GAN`.
        ValueError: if `strategy` freezes other weights than the model was compiled with.
    """
    if not isinstance(model, GAN) or not hasattr(model, "fresh_optimizer_state"):
        raise TypeError(f"model must be a GAN compiled by tgai.gan.make_gan; received {validation.describe(model)}.")
    validation.choice(strategy, "strategy", STRATEGIES)
    seed = validation.positive_int(seed, "seed", minimum=0)
    before = [id(weight) for weight in model.generator.trainable_weights + model.discriminator.trainable_weights]
    layers = model.generator.layers + model.discriminator.layers
    flags = [layer.trainable for layer in layers]
    report = apply_strategy(model.generator, model.discriminator, strategy, blocks)
    if [id(weight) for weight in model.generator.trainable_weights + model.discriminator.trainable_weights] != before:
        for layer, flag in zip(layers, flags, strict=True):  # leave the model frozen as it was compiled
            layer.trainable = flag
        raise ValueError(
            f"strategy={strategy!r} with blocks={blocks} freezes other weights than the model was compiled with; "
            f"build a new model with make_gan({strategy!r}, blocks={blocks}) instead."
        )
    image_shape = tuple(model.discriminator.input_shape[1:])
    if strategy == "scratch":
        # Rebuilt at the model's own widths (read off its first layers) with the new seed's initializers.
        generator_width = int(model.generator.get_layer("g_block1_reshape").output.shape[-1])
        discriminator_width = int(model.discriminator.get_layer("d_block1_conv").filters)
        generator = build_generator(image_shape, model.latent_dim, generator_width, seed=seed)
        discriminator = build_discriminator(image_shape, discriminator_width, seed=seed)
    else:
        generator, discriminator = source if source is not None else source_models(image_shape)
    pairs = ((model.generator, generator), (model.ema_generator, generator), (model.discriminator, discriminator))
    # Checked before anything is assigned, so that a mismatched source leaves the model as it was.
    for targets, values in pairs:
        shapes, expected = [tuple(w.shape) for w in values.weights], [tuple(w.shape) for w in targets.weights]
        if shapes != expected:
            raise ValueError(
                f"source {values.name} does not match the model's {targets.name}: received weight shapes {shapes[:3]}... "
                f"where the model has {expected[:3]}.... Pass source=(generator, discriminator) built like the model's, "
                "or source=None for the committed checkpoints."
            )
    for targets, values in pairs:
        for target, value in zip(targets.weights, values.weights, strict=True):
            target.assign(value)
    for variable, value in zip(model._optimizer_variables(), model.fresh_optimizer_state, strict=True):
        variable.assign(value)
    model.seed = seed
    model.seed_variable.assign(seed)
    for tracker in model.metrics:
        tracker.reset_state()
    return report


# ------------------------------------------------------------------------------------------- evaluation


def kid_x1000(samples, reference_features, subsets: int = 50, seed: int = 0) -> float:
    """KID x 1000 between samples and precomputed reference features, in the judge feature space."""
    return 1000.0 * metrics.kid(metrics.judge_features(samples), reference_features, subsets=subsets, subset_size=len(samples), seed=seed)[0]


def kid_evaluation(heldout_images, samples: int, every: int, seed: int = 0):
    """A `tgai.training.PeriodicEvaluation` of KID x 1000 (EMA samples vs held-out images, judge space).

    Introduced in lesson 03. Uses the same latents at every evaluation, and as many samples as held-out
    images (`samples` of each), so that numbers along a run and across strategies are comparable.
    """
    samples = validation.positive_int(samples, "samples", minimum=2)
    heldout_images = validation.images(heldout_images, "heldout_images")
    if len(heldout_images) < samples:
        raise ValueError(f"samples={samples} exceeds the {len(heldout_images)} held-out images; use samples <= {len(heldout_images)}.")
    reference = metrics.judge_features(heldout_images[:samples])

    def evaluate(model):
        fixed = latents(samples, seed + 1_000_003, model.latent_dim)
        return {"kid": kid_x1000(generate(model.ema_generator, fixed), reference, subsets=20, seed=seed)}

    return training.PeriodicEvaluation(evaluate, every)


def sample_snapshots(count: int, every: int, seed: int = 0):
    """A `tgai.training.SampleSnapshots` of the EMA generator on `count` fixed latents, every `every` steps."""
    count = validation.positive_int(count, "count")
    return training.SampleSnapshots(lambda model: generate(model.ema_generator, latents(count, seed, model.latent_dim)), every)


def nearest_training_images(samples, training_images):
    """For each sample, the index of its nearest training image and the pixel-space (L2) distance.

    Introduced in lesson 03 as a memorisation check: a generator that copies its few training images has
    nearest-neighbour distances far below those of fresh held-out images.

    Returns:
        `(indices, distances)`, NumPy arrays of length len(samples).
    """
    samples = validation.images(samples, "samples")
    training_images = validation.images(training_images, "training_images")
    a = samples.reshape(len(samples), -1).astype(np.float64)
    b = training_images.reshape(len(training_images), -1).astype(np.float64)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"samples {samples.shape[1:]} and training_images {training_images.shape[1:]} must have the same image shape.")
    squared = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2.0 * a @ b.T
    indices = np.argmin(squared, axis=1)
    return indices, np.sqrt(np.maximum(squared[np.arange(len(a)), indices], 0.0))


def train(gan, images, steps: int, batch_size: int, seed: int = 0, eval_every: int | None = None, callbacks=(), backup_dir=None):
    """Train a GAN on images in [0, 1] with `tgai.training.fit`, in chunks of `eval_every` steps.

    Introduced in lesson 03.

    Raises:
        ValueError: for a training set smaller than `batch_size`.
        tgai.training.TrainingDivergedError: on non-finite losses, with the likely cause.
    """
    images = validation.images(images)
    expected = tuple(gan.discriminator.input_shape[1:])
    if images.shape[1:] != expected:
        raise ValueError(
            f"images must have shape (N, {', '.join(map(str, expected))}) for this GAN; received {validation.describe(images)}. "
            f"Resize with tgai.data.resize(images, {expected[0]}) and set channels with "
            f"tgai.data.to_channels(images, {expected[2]})."
        )
    return training.fit(gan, images, steps, batch_size, seed=seed, chunk=eval_every, callbacks=list(callbacks), backup_dir=backup_dir)


@dataclasses.dataclass
class FineTuneResult:
    """One training run of `fine_tune`: what was trained, how KID moved, and samples over time.

    `generator` is a copy of the EMA generator at the end of the run, the model every evaluation used; it
    stays as it was when the GAN that trained it is restarted for another run.
    """

    strategy: str
    augment: tuple | None
    seed: int
    report: StrategyReport
    kid_steps: np.ndarray
    kid_values: np.ndarray
    snapshots: list
    seconds: float
    generator: keras.Model

    @property
    def final_kid(self) -> float:
        return float(self.kid_values[-1])

    def kid_at(self, step: int) -> float:
        """KID x 1000 at an evaluated step."""
        matches = np.flatnonzero(self.kid_steps == step)
        if not len(matches):
            raise ValueError(f"step={step} was not evaluated; evaluated steps: {self.kid_steps.tolist()}.")
        return float(self.kid_values[matches[0]])

    def steps_to_reach(self, target: float):
        """First evaluated step whose KID is at most `target`, or None if none is."""
        reached = np.flatnonzero(self.kid_values <= target)
        return int(self.kid_steps[reached[0]]) if len(reached) else None


def fine_tune(strategy, target_images, heldout_images, steps, batch_size, eval_every, kid_samples, seed=0, augment=None, blocks=2, snapshot_count=8, model=None, source=None):
    """Train one strategy on target images, measuring KID every `eval_every` steps; returns a `FineTuneResult`.

    Introduced in lesson 03, which calls it for every strategy and seed at equal steps and batch size.
    KID x 1000 compares `kid_samples` EMA samples with as many held-out target images, in the judge
    feature space. `batch_size` is capped at the number of target images (so 10 images train at batch 10).

    Args:
        model: None to build a new GAN with `make_gan`, or a GAN that `make_gan` built for the same
            strategy, blocks and augmentation, to `restart` and train again (saves tracing; same result).
        source: `(generator, discriminator)` for `restart` (None: the committed source checkpoints).
        Others: see `make_gan` and `train`.
    """
    batch_size = min(validation.positive_int(batch_size, "batch_size"), len(target_images))
    if model is None:
        model, report = make_gan(strategy, blocks=blocks, augment=augment, seed=seed)
    else:
        if not isinstance(model, GAN):
            raise TypeError(f"model must be a GAN built by tgai.gan.make_gan, or None; received {validation.describe(model)}.")
        wanted = None if augment is None else tuple(augment)
        if model.augment != wanted:
            raise ValueError(
                f"augment={augment!r} but the model was built with augment={model.augment!r}; pass the same augmentation, "
                f"or model=None to build a new GAN."
            )
        report = restart(model, strategy, seed=seed, blocks=blocks, source=source)
    evaluation = kid_evaluation(heldout_images, kid_samples, eval_every, seed=seed)
    snapshots = sample_snapshots(snapshot_count, eval_every, seed=seed)
    start = time.perf_counter()
    train(model, target_images, steps, batch_size, seed=seed, eval_every=eval_every, callbacks=[evaluation, snapshots])
    kid_steps, kid_values = evaluation.series("kid")
    generator = keras.models.clone_model(model.ema_generator)
    generator.set_weights(model.ema_generator.get_weights())
    return FineTuneResult(strategy, augment, seed, report, kid_steps, kid_values, snapshots.snapshots, time.perf_counter() - start, generator)


def pretrain(seed: int = 0) -> dict:
    """Train the source DCGAN on the `glyphs` train split and commit it (`python -m tgai pretrain gan`).

    Saves the EMA generator and the discriminator (fine-tuning starts both from the source) as
    `data/gan_generator.weights.h5` and `data/gan_discriminator.weights.h5`, each with a manifest entry.

    Returns:
        The generator's manifest entry (with run time and the final source KID).
    """
    steps = config.profile().pretrain_gan_steps
    images, _ = data.load("glyphs", "train", IMAGE_SHAPE[0], IMAGE_SHAPE[2], seed=seed)
    glyph_test, _ = data.load("glyphs", "test", IMAGE_SHAPE[0], IMAGE_SHAPE[2], seed=seed)
    digits_test, _ = data.load("digits", "test", IMAGE_SHAPE[0], IMAGE_SHAPE[2])
    generator, discriminator = build_generator(seed=seed), build_discriminator(seed=seed)
    gan = GAN(generator, discriminator, ema_decay=0.999, seed=seed)
    gan.compile()
    start = time.perf_counter()
    train(gan, images, steps, PRETRAIN_BATCH_SIZE, seed=seed, eval_every=min(500, steps) if steps % min(500, steps) == 0 else steps)
    seconds = time.perf_counter() - start
    count = min(1000, len(glyph_test), len(digits_test))
    samples = gan.sample(count, seed=seed + 1)
    source_kid = kid_x1000(samples, metrics.judge_features(glyph_test[:count]))
    target_kid = kid_x1000(samples, metrics.judge_features(digits_test[:count]))
    common = {
        "command": "python -m tgai pretrain gan",
        "trained_on": f"glyphs train split ({len(images)} images)",
        "steps": steps,
        "batch_size": PRETRAIN_BATCH_SIZE,
        "seed": seed,
        "seconds": round(seconds, 1),
        "kid_x1000_vs_glyphs_test_judge": round(source_kid, 2),
        "kid_x1000_vs_digits_test_judge": round(target_kid, 2),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
    generator_file = checkpoints.DATA_DIR / SOURCE_FILES["gan_generator"]
    discriminator_file = checkpoints.DATA_DIR / SOURCE_FILES["gan_discriminator"]
    gan.ema_generator.save_weights(generator_file)
    discriminator.save_weights(discriminator_file)
    checkpoints.record("gan_discriminator", discriminator_file, **common, note="discriminator at the last step")
    return checkpoints.record("gan_generator", generator_file, **common, note="EMA generator (decay 0.999)")
