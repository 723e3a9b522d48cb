"""A convolutional VAE for transfer: the encoder, the decoder, and a `VAE` model with its `train_step`.

Introduced in lesson 04: a VAE pre-trained on typeset `glyphs` (committed under `data/`) is adapted to a
few real handwritten digits (`mnist_5k`): all of it, its decoder or its encoder, each compared with one
trained from scratch, with the GAN's transfer functions (`tgai.models.transfer`). The loss is the negative evidence
lower bound in nats per image, `-ELBO = E_q[-log p(x | z)] + beta * KL(q(z | x) || N(0, I))`, with a
Bernoulli decoder, a Gaussian encoder and an optional perceptual term (DFC-VAE).

A Bernoulli decoder is a likelihood of binary images only: on a gray pixel x its cross-entropy can never go
below the binary entropy of x, so gray images carry a floor that no model reaches and the "nats" stop being
-log p(x). Images are therefore binarised first (`binarize`, as the TensorFlow CVAE tutorial does for MNIST),
and `train` and `negative_elbo` refuse gray pixels. Images are float32 NHWC with values 0 or 1.

References:
    Kingma and Welling, "Auto-Encoding Variational Bayes", ICLR 2014.
    Hou et al., "Deep Feature Consistent Variational Autoencoder", WACV 2017 (DFC-VAE).
    keras-io `examples/generative/vae.py` (the train_step pattern).
"""

from __future__ import annotations

import math
import numbers

import keras
import numpy as np
import tensorflow as tf
from sklearn.mixture import GaussianMixture

from tgai import metrics, perceptual, training
from tgai.core import checkpoints, config, keras_internals, seeds, validation
from tgai.models import lora, transfer

LATENT_DIM = 16
WIDTHS = (16, 32)  # the encoder's two convolutions' channels; the decoder mirrors them
IMAGE_SHAPE = (32, 32, 1)
LEARNING_RATE = 1e-3  # training from scratch (and pretraining the sources)
# Fine-tuning from a source: gentler, so that 100 digits improve it for longer before it over-adapts (the held-out
# -ELBO of `full` on 100 digits is at its best near step 100 at 3e-4, near step 50 at 1e-3; lesson 04).
FINE_TUNE_LEARNING_RATE = 3e-4
# L2-SP's weight for ten images (lesson 04, section 8): test -ELBO ends about 10 nats below the source at 1000, 7 at
# 300, while plain fine-tuning ends 60 to 110 above it (seeds_vae).
FEW_IMAGES_DRIFT_PENALTY = 1000.0
# A mixture of ten full-covariance Gaussians over the codes, one per digit if the codes cluster by class; the
# covariance floor keeps a component of a few codes from collapsing onto them.
DENSITY_COMPONENTS = 10
DENSITY_COVARIANCE_FLOOR = 1e-3

# VAE budgets. Lesson 04 adapts for `vae_adapt_steps` (evaluated every `vae_adapt_eval_every`) on `vae_seeds` seeds;
# lesson 05's VAE section and the budget benchmarks train for `vae_steps`.
config.register_settings(
    "lessons 04 and 05 (tgai.models.vae)",
    class_={
        "vae_steps": 100,
        "vae_eval_every": 10,
        "vae_batch_size": 32,
        "vae_adapt_steps": 200,
        "vae_adapt_eval_every": 25,
        "vae_seeds": 2,
    },
    full={
        "vae_steps": 1500,
        "vae_eval_every": 100,
        "vae_batch_size": 64,
        "vae_adapt_steps": 200,
        "vae_adapt_eval_every": 25,
        "vae_seeds": 5,
    },
)
_GEOMETRY = {"min_side": 8, "multiple_of": 4, "why": "the encoder halves it twice"}


def binarize(images, threshold: float = 0.5) -> np.ndarray:
    """Return float32 images whose pixels are 1 where `images` exceed `threshold` and 0 elsewhere.

    Introduced in lesson 04: the Bernoulli likelihood of the VAE is a probability of binary pixels, so its
    -ELBO is an upper bound on -log p(x) (and a perfect reconstruction scores 0 nats) only on such images.
    """
    images = validation.images(images, "images")
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0.0 < threshold < 1.0:
        raise ValueError(
            f"threshold must be a number strictly between 0 and 1; received threshold={threshold!r}. Use e.g. 0.5."
        )
    return (images > threshold).astype(np.float32)


def prepare_images(images) -> np.ndarray:
    """The images `train` takes, from float32 images in [0, 1]: binarised (`binarize`), for the Bernoulli likelihood."""
    return binarize(images)


def binary_images(model, images, argument: str = "images") -> np.ndarray:
    """Check that `images` fit the model and are binary (0 or 1); return them as float32."""
    return _binary(validation.model_images(model, images, argument), argument)


def _binary(images, argument: str) -> np.ndarray:
    gray = float(np.mean((images != 0.0) & (images != 1.0)))
    if gray > 0:
        raise ValueError(
            f"{argument} must be binary (every pixel 0 or 1) for the VAE's Bernoulli likelihood; received images with "
            f"{gray:.1%} gray pixels. Binarise them first: tgai.models.vae.binarize({argument}). On gray pixels the "
            f"-ELBO "
            "has a floor no model can reach and is not a bound on -log p(x)."
        )
    return images


def _latent_dim(latent_dim) -> int:
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, numbers.Integral):
        raise TypeError(
            f"latent_dim must be a positive integer; received {validation.describe(latent_dim)}. Use e.g. "
            f"latent_dim=16."
        )
    if latent_dim <= 0:
        raise ValueError(
            f"latent_dim must be a positive integer; received latent_dim={latent_dim}. Use e.g. latent_dim=16."
        )
    return int(latent_dim)


def _widths(widths) -> tuple[int, int]:
    if (
        not isinstance(widths, tuple | list)
        or len(widths) != 2
        or not all(
            isinstance(width, numbers.Integral) and not isinstance(width, bool) and width > 0 for width in widths
        )
    ):
        raise ValueError(
            f"widths must be two positive integers (the channels of the two convolutions); received "
            f"widths={widths!r}. Use e.g. widths={WIDTHS}."
        )
    return int(widths[0]), int(widths[1])


def build_encoder(image_shape=IMAGE_SHAPE, latent_dim: int = LATENT_DIM, seed: int = 0, widths=WIDTHS):
    """Build the encoder: images in [0, 1] -> `[z_mean, z_log_var]`, each (N, latent_dim).

    keras-io's MNIST VAE at half its widths by default (`widths`), so that a lesson trains in seconds on a CPU.
    """
    image_shape = validation.image_shape(image_shape, **_GEOMETRY)
    latent_dim = _latent_dim(latent_dim)
    widths = _widths(widths)
    initializer = lambda index: keras.initializers.GlorotUniform(seed=seeds.derive(seed, "first_network_init", index))
    inputs = keras.Input(image_shape, name="images")
    x = keras.layers.Conv2D(
        widths[0], 3, strides=2, padding="same", activation="relu", kernel_initializer=initializer(1), name="conv1"
    )(inputs)
    x = keras.layers.Conv2D(
        widths[1], 3, strides=2, padding="same", activation="relu", kernel_initializer=initializer(2), name="conv2"
    )(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(128, activation="relu", kernel_initializer=initializer(3), name="dense")(x)
    z_mean = keras.layers.Dense(latent_dim, kernel_initializer=initializer(4), name="z_mean")(x)
    z_log_var = keras.layers.Dense(latent_dim, kernel_initializer=initializer(5), name="z_log_var")(x)
    return keras.Model(inputs, [z_mean, z_log_var], name="encoder")


def build_decoder(image_shape=IMAGE_SHAPE, latent_dim: int = LATENT_DIM, seed: int = 0, widths=WIDTHS):
    """Build the decoder: codes -> Bernoulli logits (N, *image_shape); `VAE.decode` applies the sigmoid.

    It mirrors the encoder: `widths` are the channels of its two upsampling layers, last to first.
    """
    height, width, channels = validation.image_shape(image_shape, **_GEOMETRY)
    latent_dim = _latent_dim(latent_dim)
    widths = _widths(widths)
    initializer = lambda index: keras.initializers.GlorotUniform(seed=seeds.derive(seed, "second_network_init", index))
    inputs = keras.Input((latent_dim,), name="z")
    x = keras.layers.Dense(
        height // 4 * width // 4 * widths[1], activation="relu", kernel_initializer=initializer(1), name="dense"
    )(inputs)
    x = keras.layers.Reshape((height // 4, width // 4, widths[1]), name="reshape")(x)
    x = keras.layers.Conv2DTranspose(
        widths[1], 3, strides=2, padding="same", activation="relu", kernel_initializer=initializer(2), name="deconv1"
    )(x)
    x = keras.layers.Conv2DTranspose(
        widths[0], 3, strides=2, padding="same", activation="relu", kernel_initializer=initializer(3), name="deconv2"
    )(x)
    logits = keras.layers.Conv2DTranspose(
        channels, 3, padding="same", kernel_initializer=initializer(4), name="logits"
    )(x)
    return keras.Model(inputs, logits, name="decoder")


@keras.saving.register_keras_serializable(package="tgai")
class Sampling(keras.layers.Layer):
    """Draw z = mean + exp(log_var / 2) * epsilon, epsilon ~ N(0, I): the reparameterisation trick.

    Introduced in lesson 04. The noise is off the path from the encoder's outputs to z, so gradients reach
    `mean` and `log_var`. With `step` (from `train_step`) it is drawn statelessly from `(seed, step, replica)`,
    so a resumed run draws what an uninterrupted one did. Outside training it is a fixed function of
    `noise_seed` alone: evaluating never disturbs training, and every model, whatever its seed, is evaluated
    on the same draws (common random numbers make comparisons between models less noisy).
    """

    def __init__(self, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False, noise_seed: int = 0, step=None):
        z_mean, z_log_var = inputs
        if training and step is not None:
            # The generator's state is a variable (untouched here), so a restart reseeds without retracing.
            key = tf.random.experimental.stateless_fold_in(
                tf.cast(self.seed_generator.state, tf.int64), tf.cast(step, tf.int64)
            )
            replica = tf.distribute.get_replica_context()
            replica_id = replica.replica_id_in_sync_group if replica is not None else 0
            key = tf.random.experimental.stateless_fold_in(key, tf.cast(replica_id, tf.int64))
            epsilon = tf.random.stateless_normal(tf.shape(z_mean), seed=key, dtype=z_mean.dtype)
        else:
            seed = self.seed_generator if training else seeds.derive(noise_seed, "evaluation_noise")
            epsilon = keras.random.normal(keras.ops.shape(z_mean), seed=seed)
        return z_mean + keras.ops.exp(0.5 * z_log_var) * epsilon

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


class VAE(transfer.OneOptimizerCompileConfig, keras.Model):
    """A VAE whose `train_step` minimises reconstruction + beta * KL (+ an optional perceptual term).

    Introduced in lesson 04, in the style of keras-io's `vae.py`: the model owns its loss, and `fit` and
    `evaluate` report `loss`, `reconstruction`, `kl` (nats per image) and `perceptual` when its weight > 0.
    `beta` weighs the KL term (1: the ELBO); `feature_loss` is any callable `(images, reconstructions) ->
    scalar` (default: a `tgai.perceptual.FeatureLoss` on the DFC-VAE layers); `seed` seeds `Sampling`.
    """

    CHECKPOINT = "vae"
    STRATEGIES = {
        "full": transfer.Strategy("full", "source weights, everything trained"),
        "decoder_only": transfer.Strategy(
            "decoder_only", "source weights, encoder frozen", frozen={"encoder": transfer.ALL}
        ),
        "encoder_only": transfer.Strategy(
            "encoder_only", "source weights, decoder frozen", frozen={"decoder": transfer.ALL}
        ),
        "scratch": transfer.Strategy("scratch", "fresh weights, everything trained", from_source=False),
    }

    def __init__(
        self,
        encoder,
        decoder,
        beta: float = 1.0,
        perceptual_weight: float = 0.0,
        feature_loss=None,
        drift_penalty: float = 0.0,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for argument, network in (("encoder", encoder), ("decoder", decoder)):
            if not isinstance(network, keras.Model):
                raise TypeError(
                    f"{argument} must be a keras.Model from tgai.models.vae.build_{argument}; received "
                    f"{validation.describe(network)}."
                )
        if encoder.outputs[0].shape[-1] != decoder.inputs[0].shape[-1]:
            raise ValueError(
                f"encoder and decoder latent sizes differ: received {encoder.outputs[0].shape[-1]} and "
                f"{decoder.inputs[0].shape[-1]}. Build both with the same latent_dim."
            )
        if not (isinstance(beta, int | float) and beta >= 0):
            raise ValueError(f"beta must be a number >= 0; received beta={beta!r}.")
        if not (isinstance(perceptual_weight, int | float) and perceptual_weight >= 0):
            raise ValueError(
                f"perceptual_weight must be a number >= 0; received perceptual_weight={perceptual_weight!r}."
            )
        if isinstance(drift_penalty, bool) or not (isinstance(drift_penalty, int | float) and drift_penalty >= 0):
            raise ValueError(
                f"drift_penalty must be a number >= 0; received drift_penalty={drift_penalty!r}. Use e.g. 10.0, or "
                f"0 for no pull towards the starting weights."
            )
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = int(encoder.outputs[0].shape[-1])
        self.image_shape = tuple(encoder.inputs[0].shape[1:])
        self.widths = (int(encoder.get_layer("conv1").filters), int(encoder.get_layer("conv2").filters))
        self.beta = float(beta)
        self.perceptual_weight = float(perceptual_weight)
        if self.perceptual_weight > 0 and feature_loss is None:
            feature_loss = perceptual.FeatureLoss(
                layers=perceptual.DFC_VAE_LAYERS, input_shape=self.image_shape[:2] + (3,)
            )
        self.feature_loss = feature_loss
        self.drift_penalty = float(drift_penalty)
        # L2-SP's anchors: the weights the run started from, set by `compile` (after the source is copied in).
        self.anchors = (
            [keras.Variable(weight, trainable=False, name="anchor") for weight in encoder.weights + decoder.weights]
            if self.drift_penalty > 0
            else []
        )
        self.sampling = Sampling(seed=seed, name="sampling")
        # A variable, like the GAN's, so that `tgai.models.transfer.restart` changes the seed `get_config` reports.
        self.seed_variable = keras.Variable(
            validation.positive_int(seed, "seed", minimum=0), dtype="int64", trainable=False, name="seed"
        )
        terms = ("loss", "reconstruction", "kl") + (("perceptual",) if self.perceptual_weight > 0 else ())
        terms += ("drift",) if self.drift_penalty > 0 else ()
        self.trackers = [keras.metrics.Mean(name=name) for name in terms]  # one running mean per reported term
        self.built = True

    def get_config(self) -> dict:
        """The architecture and options (Keras' config): `from_config` builds a VAE like this one, fresh weights.

        The `feature_loss` is passed as the object itself (a frozen VGG16 loss, shared rather than rebuilt): the
        config serves `from_config` in memory; weights are saved with `tgai.core.checkpoints`, not Keras' saving.
        """
        return {
            "image_shape": self.image_shape,
            "latent_dim": self.latent_dim,
            "widths": self.widths,
            "beta": self.beta,
            "perceptual_weight": self.perceptual_weight,
            "feature_loss": self.feature_loss,
            "drift_penalty": self.drift_penalty,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config: dict):
        """Build a VAE with fresh networks drawn from `config["seed"]`; missing keys take `VAE`'s defaults.

        Keys: `image_shape`, `latent_dim`, `widths`, `seed`, and `VAE`'s options (`beta`, `perceptual_weight`,
        `feature_loss`, `drift_penalty`).
        """
        options = dict(config)
        seed = options.pop("seed", 0)
        image_shape, latent_dim = options.pop("image_shape", IMAGE_SHAPE), options.pop("latent_dim", LATENT_DIM)
        widths = options.pop("widths", WIDTHS)
        return cls(
            build_encoder(image_shape, latent_dim, seed, widths),
            build_decoder(image_shape, latent_dim, seed, widths),
            seed=seed,
            **options,
        )

    @property
    def seed(self) -> int:
        """The seed of the current run."""
        return int(self.seed_variable.numpy())

    @property
    def networks(self) -> dict:
        return {"encoder": self.encoder, "decoder": self.decoder}

    @property
    def optimizers(self) -> list:
        return [self.optimizer]

    @property
    def metrics(self):
        return self.trackers

    @property
    def divergence_hint(self) -> str:
        """The likely causes of non-finite losses, quoted by `tgai.training.NaNGuard`."""
        return f"check that the images lie in [0, 1], lower the learning rate (e.g. 1e-4) or beta (now {self.beta:g})."

    def compile(
        self,
        optimizer=None,
        learning_rate: float = LEARNING_RATE,
        steps_per_execution: int = 1,
        jit_compile="auto",
        **kwargs,
    ):
        """Set the optimizer (default Adam) and build its state: call it after starting and freezing.

        `steps_per_execution > 1` runs that many steps per TensorFlow call (less Python overhead on a CPU).
        `jit_compile`: True, False or `"auto"` (XLA on a CPU without replicas; `tgai.training.resolve_jit_compile`).
        """
        use_xla = training.resolve_jit_compile(self, jit_compile)
        if optimizer is None:
            optimizer = keras.optimizers.Adam(validation.positive_number(learning_rate, "learning_rate", "1e-3"))
        steps_per_execution = validation.positive_int(steps_per_execution, "steps_per_execution")
        super().compile(optimizer=optimizer, steps_per_execution=steps_per_execution, jit_compile=False, **kwargs)
        keras_internals.force_jit_compile(self, use_xla)
        self.optimizer.build(self.trainable_variables)
        if self.drift_penalty > 0:
            for anchor, weight in zip(self.anchors, self.encoder.weights + self.decoder.weights, strict=True):
                anchor.assign(weight)  # L2-SP pulls towards the weights the run starts from

    def call(self, images, training=False):
        """Reconstruct `images` through a sampled z; returns Bernoulli means in [0, 1]."""
        z_mean, z_log_var = self.encoder(images, training=training)
        return keras.ops.sigmoid(self.decoder(self.sampling([z_mean, z_log_var], training=training), training=training))

    def decode(self, z):
        """Map latent codes to images in [0, 1] (the decoder's Bernoulli means)."""
        return keras.ops.sigmoid(self.decoder(z, training=False))

    def train_step(self, data):
        """One optimizer step on a batch of images in [0, 1]: encode, sample z, decode, -ELBO, gradients."""
        images = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            # The noise is a function of (seed, step, replica), so a resumed run draws what an uninterrupted one did.
            losses = self.compute_losses(images, training=True, step=self.optimizer.iterations)
            if self.drift_penalty > 0:  # L2-SP: the -ELBO plus a pull towards the starting weights
                losses["drift"] = self.drift()
                losses["loss"] = losses["loss"] + 0.5 * self.drift_penalty * losses["drift"]
            # Under tf.distribute each replica sees part of the batch and the optimizer sums the replicas'
            # gradients, so each replica's loss is divided by the replica count to keep a per-batch mean.
            scaled_loss = losses["loss"] / tf.distribute.get_strategy().num_replicas_in_sync
        gradients = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights, strict=True))
        for tracker in self.metrics:
            tracker.update_state(losses[tracker.name])
        return {tracker.name: tracker.result() for tracker in self.metrics}

    def compute_losses(self, images, training=False, noise_seed: int = 0, step=None, perceptual: bool = True):
        """The -ELBO of one batch and its terms, in nats per image: what `train_step` minimises.

        `perceptual=False` leaves the perceptual term out (-ELBO alone, for evaluation). `step` (in training)
        draws the noise from `(seed, step, replica)`; outside training it comes from `noise_seed`.
        """
        z_mean, z_log_var = self.encoder(images, training=training)
        z = self.sampling([z_mean, z_log_var], training=training, noise_seed=noise_seed, step=step)
        logits = self.decoder(z, training=training)
        # Reconstruction: Bernoulli cross-entropy summed over pixels, averaged over images (nats per image).
        pixel_losses = keras.ops.binary_crossentropy(images, logits, from_logits=True)
        reconstruction = keras.ops.mean(keras.ops.sum(pixel_losses, axis=(1, 2, 3)))
        # KL(N(mean, exp(log_var)) || N(0, I)) in closed form, summed over the latent, averaged over images.
        kl = keras.ops.mean(
            -0.5 * keras.ops.sum(1.0 + z_log_var - keras.ops.square(z_mean) - keras.ops.exp(z_log_var), axis=1)
        )
        losses = {"loss": reconstruction + self.beta * kl, "reconstruction": reconstruction, "kl": kl}
        if self.perceptual_weight > 0 and perceptual:  # DFC-VAE: a feature distance to the reconstruction
            losses["perceptual"] = self.feature_loss(images, keras.ops.sigmoid(logits))
            losses["loss"] = losses["loss"] + self.perceptual_weight * losses["perceptual"]
        return losses

    def drift(self):
        """The squared distance ||w - w_start||^2 of the trainable weights from where the run started (L2-SP).

        Introduced in lesson 04: with `drift_penalty` = alpha > 0, `train_step` minimises -ELBO + alpha / 2 *
        drift (Li, Grandvalet and Davoine, "Explicit inductive bias for transfer learning with convolutional
        networks", ICML 2018). Frozen weights never drift, so they add nothing.
        """
        trainable = {id(weight) for weight in self.trainable_weights}
        pairs = zip(self.encoder.weights + self.decoder.weights, self.anchors, strict=True)
        return keras.ops.sum(
            [keras.ops.sum(keras.ops.square(weight - anchor)) for weight, anchor in pairs if id(weight) in trainable]
        )

    def test_step(self, data):
        losses = self.compute_losses(data[0] if isinstance(data, tuple) else data, training=False)
        if self.drift_penalty > 0:
            losses["drift"] = self.drift()
        for tracker in self.metrics:
            tracker.update_state(losses[tracker.name])
        return {tracker.name: tracker.result() for tracker in self.metrics}

    def evaluate_batch(self, images) -> dict:
        """The losses of `test_step` on one batch, through one traced function (no per-call data pipeline).

        It leaves the metric trackers alone, so that it can run inside `fit` (a `PeriodicEvaluation`) without
        changing the training losses `fit` reports.
        """
        if getattr(self, "_evaluate_batch_function", None) is None:
            self._evaluate_batch_function = tf.function(
                lambda batch: self.compute_losses(batch, training=False), reduce_retracing=True
            )
        return {
            name: float(value) for name, value in self._evaluate_batch_function(tf.convert_to_tensor(images)).items()
        }

    def sample(self, count: int, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
        """Decode `count` codes z ~ N(0, temperature^2 I) into images in [0, 1] (the Bernoulli means).

        Introduced in lesson 04. The codes come from `seed` alone (NumPy), so every model sampled with one
        seed decodes the same codes.
        """
        count = validation.positive_int(count, "count")
        validation.positive_int(seed, "seed", minimum=0)
        if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
            raise TypeError(
                f"temperature must be a number >= 0; received {validation.describe(temperature)}. Use e.g. 1.0."
            )
        if not math.isfinite(temperature) or temperature < 0:
            raise ValueError(
                f"temperature must be a finite number >= 0; received temperature={temperature!r}. It scales the "
                f"prior's "
                "standard deviation: 1.0 samples the prior, below 1 gives more typical samples, 0 decodes z = 0."
            )
        z = np.random.default_rng(seed).standard_normal((count, self.latent_dim)).astype(np.float32) * temperature
        return _in_batches(self.decode, z).astype(np.float32)


STRATEGIES = tuple(VAE.STRATEGIES)
# The committed source VAEs and the glyph set each was trained on.
SOURCES = {"vae": "glyphs", "vae_letters": "glyph_letters"}


def source_architecture(checkpoint: str = VAE.CHECKPOINT) -> dict:
    """The latent size and widths of a committed source VAE, as its manifest entry records them."""
    entry = checkpoints.manifest().get(checkpoint, {})
    return {"latent_dim": int(entry.get("latent_dim", LATENT_DIM)), "widths": tuple(entry.get("widths", WIDTHS))}


def load_source(seed: int = 0, checkpoint: str | None = None, **options) -> VAE:
    """Return an uncompiled VAE holding committed source networks (sha256 checked; latent size from the manifest).

    `checkpoint` names the source: `"vae"` (the default: trained on typeset digits, the near source) or
    `"vae_letters"` (typeset capital letters, the far source of lesson 04's negative-transfer section).
    `options` go to `VAE.from_config` (e.g. `beta`).
    """
    checkpoint = validation.choice(VAE.CHECKPOINT if checkpoint is None else checkpoint, "checkpoint", SOURCES)
    return transfer.load_source(VAE, seed=seed, checkpoint=checkpoint, **{**source_architecture(checkpoint), **options})


def make(
    strategy: str,
    source=None,
    seed: int = 0,
    learning_rate: float = LEARNING_RATE,
    steps_per_execution: int = 1,
    **options,
):
    """Build, start (`source`: a VAE, or None for the committed one), freeze and compile a VAE for a strategy.

    Introduced in lesson 04. `options` go to `VAE.from_config` (`beta`, `perceptual_weight`, `feature_loss`);
    the architecture is the source's. Returns `(model, report)`, the report a
    `tgai.models.transfer.ParameterReport`.
    """
    validation.choice(strategy, "strategy", VAE.STRATEGIES)
    if source is not None:
        architecture = {"image_shape": source.image_shape, "latent_dim": source.latent_dim, "widths": source.widths}
    else:
        architecture = source_architecture()
    model = VAE.from_config({**architecture, **options, "seed": seed})
    report = transfer.prepare(model, strategy, source=source)
    model.compile(learning_rate=learning_rate, steps_per_execution=steps_per_execution)
    return model, report


def make_lora(rank: int, source=None, seed: int = 0, learning_rate: float = LEARNING_RATE, alpha=None):
    """Build and compile a VAE whose decoder trains rank-`rank` adapters only; the encoder stays frozen.

    Introduced in lesson 05: LoRA's counterpart of lesson 04's `decoder_only` strategy (`tgai.models.lora`).
    """
    source = transfer.checked_source(load_source(seed) if source is None else source, VAE)
    encoder = transfer.copy_network(source.encoder)
    encoder.trainable = False
    decoder = lora.adaptable(source.decoder)
    lora.enable(decoder, rank, alpha)
    model = VAE(encoder, decoder, beta=source.beta, seed=seed)
    model.compile(learning_rate=validation.positive_number(learning_rate, "learning_rate", "1e-3"))
    return model


def heldout_evaluation(heldout):
    """Return `evaluate(model) -> {"negative_elbo", "reconstruction", "kl"}` on binary held-out images.

    Introduced in lesson 04, for `tgai.training.PeriodicEvaluation`: the held-out -ELBO and its terms in nats per
    image, one draw of z per image from the model's evaluation noise (the estimate `test_step` reports).
    """
    heldout = _binary(validation.images(heldout, "heldout"), "heldout")

    def evaluate(model, seed=None):
        result = model.evaluate_batch(binary_images(model, heldout, "heldout"))
        return {"negative_elbo": result["loss"], "reconstruction": result["reconstruction"], "kl": result["kl"]}

    return evaluate


def train(
    model,
    images,
    steps: int,
    batch_size: int = 32,
    seed: int = 0,
    eval_every: int | None = None,
    callbacks=(),
    backup_dir=None,
):
    """Train a compiled VAE for `steps` batches with `tgai.training.fit`, in chunks of `eval_every` steps.

    Introduced in lesson 04; `tgai.training.fit` does the chunks, the NaN guard and resuming from `backup_dir`.
    Returns the Keras `History` of `fit`: `loss`, `reconstruction` and `kl` (nats per image), one mean per chunk.
    For held-out curves pass `tgai.training.PeriodicEvaluation(heldout_evaluation(heldout), eval_every)`.
    """
    images = binary_images(model, images)
    steps = validation.positive_int(steps, "steps")
    eval_every = steps if eval_every is None else validation.positive_int(eval_every, "eval_every")
    if steps % eval_every:
        raise ValueError(f"steps must be a multiple of eval_every; received steps={steps}, eval_every={eval_every}.")
    if eval_every % model.steps_per_execution:
        raise ValueError(
            f"eval_every must be a multiple of the model's steps_per_execution; received eval_every={eval_every}, "
            f"steps_per_execution={model.steps_per_execution}."
        )
    return training.fit(
        model, images, steps, batch_size, seed, chunk=eval_every, callbacks=list(callbacks), backup_dir=backup_dir
    )


def _in_batches(function, images, batch_size=512):
    return np.concatenate(
        [np.asarray(function(images[start : start + batch_size])) for start in range(0, len(images), batch_size)]
    )


def encode(model, images) -> np.ndarray:
    """Return the latent means (N, latent_dim) of [0, 1] images: the points lesson 04 plots."""
    images = validation.model_images(model, images)
    return _in_batches(lambda batch: model.encoder(batch, training=False)[0], images)


def reconstruct(model, images) -> np.ndarray:
    """Reconstruct [0, 1] images through their latent means (no sampling noise): decoder(mean(x))."""
    images = validation.model_images(model, images)
    return _in_batches(lambda batch: model.decode(model.encoder(batch, training=False)[0]), images).astype(np.float32)


def negative_elbo(model, images, samples: int = 1, batch_size: int = 512) -> dict:
    """Estimate -ELBO on held-out images, in nats per image, averaged over `samples` draws of z per image.

    Introduced in lesson 04. `samples=1` is the estimate `test_step` reports; more samples lower its
    variance (of the same bound). Returns `{"negative_elbo", "reconstruction", "kl"}` in nats per image and
    `"pixel_error"`, the per-pixel squared error of the reconstructions through the latent means.
    """
    images = binary_images(model, images)
    samples = validation.positive_int(samples, "samples")
    totals = {"reconstruction": 0.0, "kl": 0.0}
    for draw in range(samples):
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size]
            losses = model.compute_losses(batch, training=False, noise_seed=draw, perceptual=False)
            weight = len(batch) / len(images) / samples
            for name in totals:
                totals[name] += float(losses[name]) * weight
    pixel_error = float(np.mean((reconstruct(model, images) - images) ** 2))
    return {"negative_elbo": totals["reconstruction"] + model.beta * totals["kl"], **totals, "pixel_error": pixel_error}


def interpolate(model, image_a, image_b, steps: int = 8) -> np.ndarray:
    """Decode the straight line between two images' latent means: `steps` images from a to b."""
    steps = validation.positive_int(steps, "steps", minimum=2)
    pair = [
        np.asarray(image)[0] if np.ndim(image) == 4 and len(image) == 1 else np.asarray(image)
        for image in (image_a, image_b)
    ]
    for argument, image in zip(("image_a", "image_b"), pair, strict=True):
        if image.ndim != 3:
            raise ValueError(
                f"{argument} must be one image (H, W, C) or a batch of one; received {validation.describe(image)}. "
                f"Pick one image, e.g. images[0]."
            )
    means = encode(model, validation.model_images(model, np.stack(pair), "image_a/image_b"))
    weights = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return np.asarray(model.decode((1.0 - weights) * means[0] + weights * means[1])).astype(np.float32)


def code_density(model, images, seed: int = 0, components: int = DENSITY_COMPONENTS) -> GaussianMixture:
    """Fit a Gaussian mixture to the latent means of `images`: a distribution of codes where the data is.

    Introduced in lesson 04. A small VAE's aggregate posterior (where its encoder puts real images) is far
    from its N(0, I) prior: many prior codes decode to blends no image maps to. Fitting a density to the
    codes of the training images after training and sampling from it ("ex-post density estimation", Ghosh et
    al., "From variational to deterministic autoencoders", ICLR 2020) draws codes from where the images are.
    It uses scikit-learn's `GaussianMixture` (full covariances, `DENSITY_COVARIANCE_FLOOR` added to each,
    `random_state=seed` for its k-means start); `sample_density` decodes codes drawn from it.
    """
    images = validation.model_images(model, images)
    components = validation.positive_int(components, "components")
    if components > len(images):
        raise ValueError(
            f"components must be at most the number of images; received components={components} for "
            f"{len(images)} images. Pass more images or fewer components."
        )
    density = GaussianMixture(components, covariance_type="full", reg_covar=DENSITY_COVARIANCE_FLOOR, random_state=seed)
    return density.fit(encode(model, images))


def sample_density(model, density: GaussianMixture, count: int, seed: int = 0) -> np.ndarray:
    """Decode `count` codes drawn from `density` (from `code_density`) into images in [0, 1].

    The codes come from `seed` alone (NumPy): a component by its weight, then mean + L @ epsilon with L the
    Cholesky factor of its covariance, so every model sampled with one seed and density decodes the same codes.
    """
    count = validation.positive_int(count, "count")
    validation.positive_int(seed, "seed", minimum=0)
    if not isinstance(density, GaussianMixture) or not hasattr(density, "means_"):
        raise TypeError(
            f"density must be a fitted sklearn GaussianMixture, e.g. from tgai.models.vae.code_density(model, "
            f"images); received {validation.describe(density)}."
        )
    if density.means_.shape[1] != model.latent_dim:
        raise ValueError(
            f"density models codes of {density.means_.shape[1]} numbers, the model's latent has {model.latent_dim}. "
            f"Fit it on this model's codes: tgai.models.vae.code_density(model, images)."
        )
    rng = np.random.default_rng(seed)
    components = rng.choice(len(density.weights_), size=count, p=density.weights_ / density.weights_.sum())
    factors = np.linalg.cholesky(density.covariances_)
    noise = rng.standard_normal((count, model.latent_dim))
    codes = density.means_[components] + np.einsum("nij,nj->ni", factors[components], noise)
    return _in_batches(model.decode, codes.astype(np.float32)).astype(np.float32)


def sample_kid(model, reference_images, count: int | None = None, seed: int = 0) -> float:
    """KID x 1000 of `count` samples (default: the profile's) vs held-out images, in the judge's feature space."""
    count = config.profile().kid_samples if count is None else count
    return metrics.kid_x1000(model.sample(count, seed), metrics.judge_features(reference_images), seed=seed)
