"""A small DCGAN for transfer: the generator, the discriminator, and a `GAN` model with its `train_step`.

The generator upsamples by resize-convolution and the discriminator has spectral normalization and a minibatch
standard deviation: the levers that, measured in `tgai.pretrain.pretrain_gan`, gave the best source.

Introduced in lesson 03 (GAN fine-tuning). The lesson starts a GAN from a source generator and
discriminator pre-trained on typeset glyphs (committed under `data/`, made by `python -m tgai pretrain gan`)
and adapts it to a few handwritten digits, comparing transfer strategies with training from scratch.

Usage notes:
    * Every public function takes and returns images as float32 NHWC in [0, 1]. Inside, the GAN works in
      [-1, 1] (a tanh generator), converting at its boundary.
    * Layers are named by depth, `g_block1_*` ... `g_block4_*` and `d_block1_*` ... `d_block3_*`, counted
      from the latent for the generator and from the image for the discriminator, so that "freeze the lowest
      two discriminator blocks" is a statement about names (see `tgai.models.transfer`).
    * Sampling and evaluation use the EMA generator (an exponential moving average of the generator's
      weights): single GAN runs without it swing several-fold from step to step.
    * Randomness inside `train_step` (latents, augmentation) is drawn statelessly from `(seed, step,
      replica)`, so that a resumed run repeats an uninterrupted one exactly and replicas under
      `tf.distribute.MirroredStrategy` draw different latents.

References:
    Radford et al., "Unsupervised Representation Learning with Deep Convolutional GANs" (DCGAN), 2016.
    Odena et al., "Deconvolution and Checkerboard Artifacts", Distill 2016 (resize-convolution).
    Miyato et al., "Spectral Normalization for Generative Adversarial Networks", ICLR 2018.
    Karras et al., "Progressive Growing of GANs" (minibatch standard deviation), ICLR 2018.
    Wang et al., "Transferring GANs: generating images from limited data", ECCV 2018.
    Mo et al., "Freeze the Discriminator: a Simple Baseline for Fine-Tuning GANs" (FreezeD), CVPRW 2020.
    keras-io `examples/generative/dcgan_overriding_train_step.py` for the `train_step` style.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tgai import augment, metrics, training
from tgai.augment import AUGMENT_OPERATIONS
from tgai.core import config, keras_internals, seeds, validation
from tgai.models import lora, transfer

LATENT_DIM = 64
GENERATOR_WIDTH = 192
IMAGE_SHAPE = (32, 32, 1)
GENERATOR_BLOCKS = 4  # g_block1 is the latent projection; g_block2..4 each double the resolution.
DISCRIMINATOR_BLOCKS = 3  # d_block1..3 each halve the resolution.
LOSSES = ("non_saturating", "hinge")
_GEOMETRY = {"min_side": 16, "multiple_of": 8, "why": "three stride-2 stages"}
_ADAM = {"learning_rate": 2e-4, "beta_1": 0.5}  # DCGAN's settings

# Lesson 03's budget: 250 steps at batch 32 is where, on a 2-core CPU with XLA, fine-tuned samples have become
# handwriting (balanced recognisability 0.59 at seed 0) and scratch's are blurred, half-formed digits (0.30 with
# its EMA warm-up); `make bench` measures longer runs. Two seeds per strategy in the class profile: each run
# takes about 30 s on the slower processors of the 2-core machine type, and three seeds took lesson 03 past its
# 3 minutes there (192-203 s). Its claims bound every one of seeds_gan's 20 seeds, so they hold for the median
# of any number of them.
config.register_settings(
    "lesson 03 (tgai.models.gan)",
    class_={"gan_steps": 250, "gan_eval_every": 125, "gan_batch_size": 32, "gan_seeds": 2},
    full={"gan_steps": 2000, "gan_eval_every": 200, "gan_batch_size": 64, "gan_seeds": 5},
)


def build_generator(image_shape=IMAGE_SHAPE, latent_dim: int = LATENT_DIM, width: int = GENERATOR_WIDTH, seed: int = 0):
    """Build the generator: latent (latent_dim,) -> image in [-1, 1] (tanh), upsampling by resize-convolution.

    Introduced in lesson 03. `g_block1` projects the latent to a (H/8, W/8, width) map; `g_block2..4` each
    double the resolution (nearest-neighbour upsampling, then a 3x3 `Conv2D`) and halve the channels;
    `g_output` maps to the image's channels. Per-pixel layer normalization (no batch statistics) keeps the
    EMA copy exact. At 32x32x1 and width 192 it has about 0.4M parameters.

    Resize-convolution rather than transposed convolution (Odena et al., 2016): measured at equal pretraining
    steps it gave a source as good or better (see `tgai.pretrain`), and its layers are plain `Conv2D`, which
    Keras' own `enable_lora` adapts (lesson 05).

    Args:
        image_shape: (height, width, channels) of the images; sides >= 16 and multiples of 8.
        latent_dim: Size of the latent vector.
        width: Channels of the first feature map.
        seed: Seeds the initializers.

    Returns:
        A functional `keras.Model` named `generator`.
    """
    height, image_width, channels = validation.image_shape(image_shape, **_GEOMETRY)
    latent_dim = validation.positive_int(latent_dim, "latent_dim")
    width = validation.positive_int(width, "width", minimum=8)
    initializer = lambda index: keras.initializers.RandomNormal(
        0.0, 0.02, seeds.derive(seed, "first_network_init", index)
    )
    latents = keras.Input((latent_dim,), name="latents")
    x = keras.layers.Dense(
        height // 8 * image_width // 8 * width, kernel_initializer=initializer(0), name="g_block1_dense"
    )(latents)
    x = keras.layers.Reshape((height // 8, image_width // 8, width), name="g_block1_reshape")(x)
    x = keras.layers.LayerNormalization(name="g_block1_norm")(x)
    x = keras.layers.ReLU(name="g_block1_act")(x)
    filters = width
    for block in range(2, GENERATOR_BLOCKS + 1):
        filters //= 2
        x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"g_block{block}_up")(x)
        x = keras.layers.Conv2D(
            filters, 3, padding="same", kernel_initializer=initializer(block), name=f"g_block{block}_conv"
        )(x)
        x = keras.layers.LayerNormalization(name=f"g_block{block}_norm")(x)
        x = keras.layers.ReLU(name=f"g_block{block}_act")(x)
    x = keras.layers.Conv2D(channels, 3, padding="same", kernel_initializer=initializer(9), name="g_output_conv")(x)
    outputs = keras.layers.Activation("tanh", name="g_output_tanh")(x)
    return keras.Model(latents, outputs, name="generator")


@keras.saving.register_keras_serializable(package="tgai")
class SpectralNormalization(keras.layers.SpectralNormalization):
    """Keras' spectral normalization, which leaves a frozen layer's kernel as it is.

    Keras' wrapper divides the kernel by its largest singular value in place at every training call (one
    power iteration, its vector `vector_u` a non-trainable weight). A frozen layer must stay bit-identical
    (FreezeD), so here the update runs only while the layer is trainable; the source's kernels were
    normalized in pretraining, so a frozen one is already at norm 1. The power iteration starts from a fixed
    unit vector rather than Keras' unseeded random one, so that the same seed builds the same network.
    """

    def build(self, input_shape):
        super().build(input_shape)
        size = self.vector_u.shape[-1]
        self.vector_u.assign(np.full(self.vector_u.shape, 1.0 / np.sqrt(size), np.float32))

    def call(self, inputs, training=False):
        return super().call(inputs, training=bool(training) and self.trainable)


@keras.saving.register_keras_serializable(package="tgai")
class MinibatchStandardDeviation(keras.layers.Layer):
    """Append one channel holding the batch's mean feature standard deviation (Karras et al., 2018).

    A discriminator that sees how varied a batch is can reject a generator that draws the same few shapes:
    a cheap guard against mode collapse. Real and generated batches go through the discriminator separately,
    so each batch's statistic describes one kind of image.
    """

    def call(self, inputs):
        spread = keras.ops.mean(keras.ops.sqrt(keras.ops.var(inputs, axis=0) + 1e-8))
        return keras.ops.concatenate([inputs, keras.ops.ones_like(inputs[..., :1]) * spread], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)


def build_discriminator(
    image_shape=IMAGE_SHAPE, width: int = 32, seed: int = 0, spectral_norm: bool = True, minibatch_std: bool = True
):
    """Build the discriminator: image in [-1, 1] -> one logit (real vs fake).

    Introduced in lesson 03. `d_block1..3` each halve the resolution with a stride-2 convolution and double
    the channels; `d_output` is a linear layer on the flattened (H/8, W/8) map. No batch normalization, so
    that batches of real and fake images never mix statistics. At 32x32x1 and width 32, about 0.17M
    parameters.

    Args:
        image_shape: (height, width, channels); sides >= 16 and multiples of 8.
        width: Channels of the first block.
        seed: Seeds the initializers.
        spectral_norm: Wrap each convolution in `keras.layers.SpectralNormalization` (Miyato et al., 2018),
            which bounds how sharply the discriminator can change and so steadies the generator's gradients.
        minibatch_std: Append the batch's feature spread before the output layer (`MinibatchStandardDeviation`).

    Returns:
        A functional `keras.Model` named `discriminator`.
    """
    image_shape = validation.image_shape(image_shape, **_GEOMETRY)
    width = validation.positive_int(width, "width", minimum=4)
    for value, argument in ((spectral_norm, "spectral_norm"), (minibatch_std, "minibatch_std")):
        if not isinstance(value, bool):
            raise TypeError(f"{argument} must be True or False; received {validation.describe(value)}.")
    initializer = lambda index: keras.initializers.RandomNormal(
        0.0, 0.02, seeds.derive(seed, "second_network_init", index)
    )
    images = keras.Input(image_shape, name="images")
    x = images
    filters = width
    for block in range(1, DISCRIMINATOR_BLOCKS + 1):
        name = f"d_block{block}_conv"
        convolution = keras.layers.Conv2D(
            filters,
            4,
            strides=2,
            padding="same",
            kernel_initializer=initializer(block),
            name=f"{name}_inner" if spectral_norm else name,
        )
        if spectral_norm:  # the wrapper takes the block's name, so that freezing by name freezes both
            convolution = SpectralNormalization(convolution, name=name)
        x = convolution(x)
        x = keras.layers.LeakyReLU(0.2, name=f"d_block{block}_act")(x)
        filters *= 2
    if minibatch_std:
        x = MinibatchStandardDeviation(name="d_output_std")(x)
    x = keras.layers.Flatten(name="d_output_flatten")(x)
    logits = keras.layers.Dense(1, kernel_initializer=initializer(9), name="d_output_dense")(x)
    return keras.Model(images, logits, name="discriminator")


class GAN(keras.Model):
    """A GAN whose `train_step` alternates one discriminator and one generator update, with an EMA generator.

    Introduced in lesson 03. Follows keras-io's `dcgan_overriding_train_step`: `compile` takes one optimizer
    per network, `metrics` lists `keras.metrics.Mean` trackers, and `fit` runs `train_step` on batches of
    real images in [0, 1]. It also follows the protocol of `tgai.models.transfer`, so strategies, freezing,
    sources and restarts work on it.

    Args:
        generator: Model latent -> image in [-1, 1] (see `build_generator`).
        discriminator: Model image in [-1, 1] -> logit (see `build_discriminator`).
        ema_decay: Decay of the generator's exponential moving average.
        ema_warmup: If True, the decay ramps up as `min(ema_decay, (1 + step) / (10 + step))`, so that a
            fresh generator's random start fades fast. Fine-tuning turns it off: there the start is the
            source generator, and keeping it in the average softens the adaptation shock.
        augment: DiffAugment policy (a tuple from `AUGMENT_OPERATIONS`), or None for no augmentation.
        loss: `non_saturating` (the default) or `hinge`.
        seed: Seeds the latents and augmentation drawn inside `train_step`.
    """

    CHECKPOINT = "gan"
    STRATEGIES = {
        "scratch": transfer.Strategy("scratch", "fresh weights, everything trained", from_source=False),
        "full": transfer.Strategy("full", "source weights, everything trained (Transferring GANs)"),
        "freeze_d": transfer.Strategy(
            "freeze_d", "source weights, lowest D blocks frozen (FreezeD)", frozen={"discriminator": transfer.LOWEST}
        ),
        "freeze_g": transfer.Strategy(
            "freeze_g", "source weights, lowest G blocks frozen", frozen={"generator": transfer.LOWEST}
        ),
    }

    def __init__(
        self,
        generator,
        discriminator,
        ema_decay=0.99,
        ema_warmup=True,
        augment=None,
        loss="non_saturating",
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        validation.choice(loss, "loss", LOSSES)
        if isinstance(augment, str):
            raise ValueError(
                f"augment must be a tuple of operations, not a string; received augment={augment!r}. "
                f"Use augment=({augment!r},) or augment={AUGMENT_OPERATIONS!r}."
            )
        for operation in augment or ():
            validation.choice(operation, "augment entry", AUGMENT_OPERATIONS)
        if not 0.0 <= float(ema_decay) < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1); received ema_decay={ema_decay!r}. Use e.g. 0.99.")
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = int(generator.input_shape[-1])
        self.image_shape = tuple(discriminator.input_shape[1:])
        if not isinstance(ema_warmup, bool):
            raise TypeError(f"ema_warmup must be True or False; received {validation.describe(ema_warmup)}.")
        self.ema_decay = float(ema_decay)
        self.ema_warmup = ema_warmup
        self.augment = None if augment is None else tuple(augment)
        self.loss_name = loss
        # A variable, not a constant baked into the traced step, so that a restart can change it.
        self.seed_variable = keras.Variable(
            validation.positive_int(seed, "seed", minimum=0), dtype="int64", trainable=False, name="seed"
        )
        # The EMA starts from the generator here and again at `compile`, after a strategy set the start.
        self.ema_generator = transfer.copy_network(generator)
        self.ema_generator.trainable = False
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.real_score_tracker = keras.metrics.Mean(name="real_score")
        self.fake_score_tracker = keras.metrics.Mean(name="fake_score")
        self.built = True

    def get_config(self) -> dict:
        """The architecture and options (Keras' config): `from_config` builds a GAN like this one, fresh weights."""
        first = self.discriminator.get_layer("d_block1_conv")
        spectral_norm = isinstance(first, keras.layers.SpectralNormalization)
        widths = (
            self.generator.get_layer("g_block1_reshape").output.shape[-1],
            (first.layer if spectral_norm else first).filters,
        )
        return {
            "image_shape": self.image_shape,
            "latent_dim": self.latent_dim,
            "widths": widths,
            "spectral_norm": spectral_norm,
            "minibatch_std": any(layer.name == "d_output_std" for layer in self.discriminator.layers),
            "ema_decay": self.ema_decay,
            "ema_warmup": self.ema_warmup,
            "augment": self.augment,
            "loss": self.loss_name,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config: dict):
        """Build a GAN with fresh networks drawn from `config["seed"]`; missing keys take `GAN`'s defaults.

        Keys: `image_shape`, `latent_dim`, `widths` (generator, discriminator), `spectral_norm` and
        `minibatch_std` (the discriminator's, both default True), `seed`, and `GAN`'s options (`ema_decay`,
        `ema_warmup`, `augment`, `loss`).
        """
        options = dict(config)
        seed = options.pop("seed", 0)
        image_shape, latent_dim = options.pop("image_shape", IMAGE_SHAPE), options.pop("latent_dim", LATENT_DIM)
        generator_width, discriminator_width = options.pop("widths", (GENERATOR_WIDTH, 32))
        discriminator_options = {key: options.pop(key, True) for key in ("spectral_norm", "minibatch_std")}
        generator = build_generator(image_shape, latent_dim, generator_width, seed=seed)
        discriminator = build_discriminator(image_shape, discriminator_width, seed=seed, **discriminator_options)
        return cls(generator, discriminator, seed=seed, **options)

    @property
    def seed(self) -> int:
        """The seed of the current run (a variable, so that `tgai.models.transfer.restart` can change it)."""
        return int(self.seed_variable.numpy())

    @property
    def networks(self) -> dict:
        return {"generator": self.generator, "discriminator": self.discriminator}

    @property
    def optimizers(self) -> list:
        return [self.d_optimizer, self.g_optimizer]

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.real_score_tracker, self.fake_score_tracker]

    @property
    def divergence_hint(self) -> str:
        """The likely causes of non-finite losses, quoted by `tgai.training.NaNGuard`."""
        rates = [
            f"{name} {float(np.asarray(o.learning_rate)):.2g}" for name, o in zip("DG", self.optimizers, strict=True)
        ]
        return (
            f"learning rate too high ({', '.join(rates)}): try 2e-4 or lower; data range: real images must be "
            "float32 in [0, 1] (the GAN maps them to [-1, 1]); D/G balance: if d_loss went to 0 while g_loss "
            "grew, the discriminator won, so lower its learning rate, freeze more of it, or add DiffAugment."
        )

    def compile(self, d_optimizer=None, g_optimizer=None, jit_compile="auto", **kwargs):
        """Set one optimizer per network (default Adam(2e-4, beta_1=0.5), DCGAN's) and start the EMA.

        Call after choosing the starting weights and which layers are frozen: each optimizer holds state for
        the trainable variables it was built with, and the EMA starts from the generator as it is now.

        Args:
            d_optimizer: The discriminator's optimizer.
            g_optimizer: The generator's optimizer.
            jit_compile: True, False or `"auto"`: compile `train_step` with XLA. `"auto"` uses XLA on a CPU
                without `tf.distribute` replicas, where it is deterministic and about 2x faster
                (`tgai.training.resolve_jit_compile`).
            **kwargs: Passed to `keras.Model.compile`.
        """
        use_xla = training.resolve_jit_compile(self, jit_compile)
        super().compile(optimizer=None, jit_compile=False, **kwargs)
        keras_internals.force_jit_compile(self, use_xla)
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(**_ADAM)
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(**_ADAM)
        # Built now so that a restored backup finds the same variables to load into.
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)
        self.ema_generator.set_weights(self.generator.get_weights())

    def get_compile_config(self) -> dict:
        """What `compile` was given (Keras' compile config): both optimizers, serialized, and the XLA choice."""
        serialize = keras.saving.serialize_keras_object
        return {
            "d_optimizer": serialize(self.d_optimizer),
            "g_optimizer": serialize(self.g_optimizer),
            "steps_per_execution": self.steps_per_execution,
            "jit_compile": self.jit_compile,
        }

    def compile_from_config(self, config: dict):
        """Compile with fresh optimizers configured as in `config` (from `get_compile_config`)."""
        self.compile(
            keras.saving.deserialize_keras_object(config["d_optimizer"], safe_mode=True),
            keras.saving.deserialize_keras_object(config["g_optimizer"], safe_mode=True),
            steps_per_execution=config.get("steps_per_execution", 1),
            jit_compile=config["jit_compile"],
        )

    def call(self, latents, training=False):
        """Map latents to images in [0, 1] with the EMA generator."""
        return (self.ema_generator(latents, training=False) + 1.0) / 2.0

    def train_step(self, real_images):
        """One discriminator step and one generator step on a batch of real images in [0, 1]."""
        real_images = real_images * 2.0 - 1.0  # the generator's tanh range
        batch_size = tf.shape(real_images)[0]

        # Discriminator: score real images high and generated ones low.
        fake_images = self.generator(self.random_latents(batch_size, draw=0), training=True)
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(self.augmented(real_images, draw=1), training=True)
            fake_logits = self.discriminator(self.augmented(fake_images, draw=2), training=True)
            if self.loss_name == "hinge":
                d_loss = tf.reduce_mean(tf.nn.relu(1.0 - real_logits)) + tf.reduce_mean(tf.nn.relu(1.0 + fake_logits))
            else:  # -log D(x) - log(1 - D(G(z))), written with logits
                d_loss = tf.reduce_mean(tf.nn.softplus(-real_logits)) + tf.reduce_mean(tf.nn.softplus(fake_logits))
        self.apply_gradients(tape, d_loss, self.discriminator, self.d_optimizer)

        # Generator: make the discriminator score its images high. Non-saturating: maximise log D(G(z))
        # rather than minimise log(1 - D(G(z))), whose gradient vanishes exactly when G is bad.
        with tf.GradientTape() as tape:
            fake_images = self.generator(self.random_latents(batch_size, draw=3), training=True)
            scores = self.discriminator(self.augmented(fake_images, draw=4), training=True)
            g_loss = -tf.reduce_mean(scores) if self.loss_name == "hinge" else tf.reduce_mean(tf.nn.softplus(-scores))
        self.apply_gradients(tape, g_loss, self.generator, self.g_optimizer)

        self.update_ema()
        values = (d_loss, g_loss, tf.sigmoid(real_logits), tf.sigmoid(fake_logits))
        for tracker, value in zip(self.metrics, values, strict=True):
            tracker.update_state(tf.reduce_mean(value))
        return {tracker.name: tracker.result() for tracker in self.metrics}

    # The plumbing `train_step` calls: stateless randomness, DiffAugment, tf.distribute and the EMA.

    def step_seed(self, index):
        """A stateless seed for random draw `index` of this step, from (seed, step, replica, index).

        Stateless, so that a resumed run repeats an uninterrupted one exactly; the replica enters, so that
        replicas under `tf.distribute` draw different latents.
        """
        context = tf.distribute.get_replica_context()
        replica = tf.cast(context.replica_id_in_sync_group if context is not None else 0, tf.int64)
        key = tf.stack([tf.cast(self.seed_variable, tf.int64), tf.cast(self.d_optimizer.iterations, tf.int64)])
        return tf.random.experimental.stateless_fold_in(tf.random.experimental.stateless_fold_in(key, replica), index)

    def random_latents(self, batch_size, draw):
        """Standard-normal latents for this step's random draw `draw`."""
        return tf.random.stateless_normal([batch_size, self.latent_dim], seed=self.step_seed(draw))

    def augmented(self, images, draw):
        """Images as the discriminator sees them: DiffAugment's policy (if on), a fresh draw per batch.

        The same policy applies to every image D sees, real or generated, in both steps (Zhao et al., 2020).
        """
        return augment.diff_augment(images, self.augment, self.step_seed(draw)) if self.augment else images

    def apply_gradients(self, tape, loss, network, optimizer):
        """One optimizer step of `network` on `loss`; under `tf.distribute`, gradients are summed over
        replicas, so each replica contributes its share."""
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        gradients = tape.gradient(loss, network.trainable_variables)
        optimizer.apply_gradients(
            zip([gradient / replicas for gradient in gradients], network.trainable_variables, strict=True)
        )

    def update_ema(self):
        """Move the EMA generator towards the generator (with `ema_warmup`, faster while the step is small).

        The weights are equal on every replica after the all-reduce, so the average is updated once, in
        cross-replica context (merge_call).
        """
        step = tf.cast(self.g_optimizer.iterations, tf.float32)
        decay = tf.minimum(self.ema_decay, (1.0 + step) / (10.0 + step)) if self.ema_warmup else self.ema_decay
        pairs = list(zip(self.ema_generator.weights, self.generator.weights, strict=True))
        tf.distribute.get_replica_context().merge_call(
            lambda _: [average.assign(decay * average + (1.0 - decay) * weight) for average, weight in pairs]
        )

    def ema_copy(self):
        """A copy of the EMA generator with its current weights, to keep after the GAN trains on."""
        return transfer.copy_network(self.ema_generator)

    def sample(self, count: int, seed: int = 0, batch_size: int = 256, ema: bool = True) -> np.ndarray:
        """Draw `count` images in [0, 1] from the EMA generator (or the live one) with seeded latents."""
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
    return generate(generator, latents(count, seed, generator.input_shape[-1]), batch_size)


def generate(generator, codes, batch_size: int = 256) -> np.ndarray:
    """Map given latents to images in [0, 1]."""
    codes = np.asarray(codes, dtype=np.float32)
    expected = generator.input_shape[-1]
    if codes.ndim != 2 or codes.shape[1] != expected or len(codes) == 0:
        raise ValueError(
            f"codes must have shape (N, {expected}) with N >= 1 for this generator; received "
            f"{validation.describe(codes)}. "
            f"Draw them with tgai.models.gan.latents(count, seed, latent_dim={expected})."
        )
    outputs = [
        np.asarray(generator(codes[start : start + batch_size], training=False))
        for start in range(0, len(codes), batch_size)
    ]
    return np.clip((np.concatenate(outputs) + 1.0) / 2.0, 0.0, 1.0).astype(np.float32)


def load_source(seed: int = 0, checkpoint: str | None = None, **options) -> GAN:
    """Return an uncompiled GAN holding the committed source generator and discriminator (sha256 checked).

    Introduced in lesson 03. Its `generator` is the source run's EMA generator, the one that was sampled, and
    its own EMA starts from it, so `load_source().sample(...)` draws from the source. `options` go to
    `GAN.from_config` and must describe the checkpoint's architecture (e.g. `ema_decay` may differ).
    """
    source = transfer.load_source(GAN, seed=seed, checkpoint=checkpoint, **options)
    source.ema_generator.set_weights(source.generator.get_weights())
    return source


def make(strategy="full", source=None, seed=0, blocks=2, learning_rate=2e-4, **options):
    """Build, start, freeze and compile a GAN for one transfer strategy; returns `(gan, report)`.

    Introduced in lesson 03, which writes these steps out once on the page. `scratch` starts from a fresh
    initialization (seeded); every other strategy starts both networks from the source (Transferring GANs:
    fine-tune G and D together). Build it inside `strategy.scope()` to train under `tf.distribute`.

    Args:
        strategy: A key of `GAN.STRATEGIES`.
        source: A GAN to start from (None: the committed source checkpoint).
        seed: Seeds the initialization (scratch) and the training randomness.
        blocks: Blocks to freeze for `freeze_d` / `freeze_g`.
        learning_rate: Adam learning rate of both networks.
        **options: `GAN.from_config` keys: `augment` (a DiffAugment policy), `ema_decay` (default 0.99),
            `ema_warmup`, `loss`, and `image_shape` (the source checkpoint needs (32, 32, 1)).

    Returns:
        `(gan, report)`, the report a `tgai.models.transfer.ParameterReport`.
    """
    learning_rate = validation.positive_number(learning_rate, "learning_rate", "2e-4 (DCGAN's)")
    gan = GAN.from_config({**options, "seed": seed})
    report = transfer.prepare(gan, strategy, blocks, source)
    gan.compile(keras.optimizers.Adam(learning_rate, beta_1=0.5), keras.optimizers.Adam(learning_rate, beta_1=0.5))
    return gan, report


def make_lora(rank: int, source=None, seed: int = 0, learning_rate: float = lora.GAN_LEARNING_RATE, alpha=None):
    """Build and compile a GAN whose generator trains rank-`rank` adapters only; the discriminator trains whole.

    Introduced in lesson 05, which writes these steps out once. The generator is an adaptable copy of the
    source's, with `tgai.models.lora.enable`; the discriminator a copy of the source's, all trainable (it is a
    training tool, not part of what ships). The discriminator keeps DCGAN's Adam(2e-4); the adapters get
    `learning_rate`.
    """
    source = transfer.checked_source(load_source(seed) if source is None else source, GAN)
    learning_rate = validation.positive_number(learning_rate, "learning_rate", "1e-3")
    generator = lora.adaptable(source.generator)
    lora.enable(generator, rank, alpha)
    model = GAN(generator, transfer.copy_network(source.discriminator), ema_warmup=False, seed=seed)
    model.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(learning_rate, beta_1=0.5))
    return model


def prepare_images(images) -> np.ndarray:
    """The images `train` takes, from float32 images in [0, 1]: the same images (the GAN scales them itself)."""
    return validation.images(images)


def train(
    gan,
    images,
    steps: int,
    batch_size: int,
    seed: int = 0,
    eval_every: int | None = None,
    callbacks=(),
    backup_dir=None,
):
    """Train a GAN on images in [0, 1] with `tgai.training.fit`, in chunks of `eval_every` steps.

    Introduced in lesson 03. Returns the Keras `History` of `fit`: `d_loss`, `g_loss`, `real_score` and
    `fake_score`, one mean per chunk. To evaluate along the way, pass a `tgai.training.PeriodicEvaluation`.

    Raises:
        ValueError: for images of another shape than the GAN's, or a training set smaller than `batch_size`.
        tgai.training.TrainingDivergedError: on non-finite losses, with the likely cause.
    """
    return training.fit(
        gan, images, steps, batch_size, seed=seed, chunk=eval_every, callbacks=list(callbacks), backup_dir=backup_dir
    )


def sample_evaluation(heldout_images, samples: int):
    """Return `evaluate(gan, seed) -> {"kid", "recognisable", "classes", "balanced"}` of EMA samples.

    Introduced in lesson 03, for `tgai.experiments.compare`. Both numbers come from the judge CNN: KID x 1000
    between `samples` EMA samples and as many held-out images, in its feature space, and the fraction of
    the samples it reads as some digit with probability >= 0.9, how many digits those cover, and the
    fraction counting at most a tenth per digit (`tgai.metrics.recognisability`). Every
    evaluation of a run with seed `seed` uses the same latents, and so does every strategy run with that
    seed, so that numbers along a run and across strategies are comparable.
    """
    samples = validation.positive_int(samples, "samples", minimum=2)
    heldout_images = validation.images(heldout_images, "heldout_images")
    if len(heldout_images) < samples:
        raise ValueError(
            f"samples={samples} exceeds the {len(heldout_images)} held-out images; use samples <= "
            f"{len(heldout_images)}."
        )
    reference = metrics.judge_features(heldout_images[:samples])

    def evaluate(gan, seed):
        generated = generate(
            gan.ema_generator, latents(samples, seeds.derive(seed, "evaluation_latents"), gan.latent_dim)
        )
        kid = metrics.kid_x1000(generated, reference, subsets=20, seed=seed)
        judged = metrics.recognisability(generated)
        return {"kid": kid, "recognisable": judged.fraction, "classes": judged.classes, "balanced": judged.balanced}

    return evaluate
