"""A convolutional VAE for transfer: the encoder, the decoder, and a `VAE` model with its `train_step`.

Introduced in lesson 04: a VAE pre-trained on typeset `glyphs` (committed under `data/`) is adapted to a
few real handwritten digits (`mnist_5k`): all of it, its decoder or its encoder, each compared with one
trained from scratch, with the GAN's transfer functions (`tgai.transfer`). The loss is the negative evidence
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

from tgai import checkpoints, config, metrics, perceptual, seeds, training, transfer, validation

LATENT_DIM = 16
IMAGE_SHAPE = (32, 32, 1)
LEARNING_RATE = 1e-3

# Lesson 04's budget. A real adaptation runs for thousands of steps; the class profile shows the first hundred.
config.register_settings(
    "lesson 04 (tgai.vae)",
    class_={"vae_steps": 100, "vae_eval_every": 10, "vae_batch_size": 32},
    full={"vae_steps": 1500, "vae_eval_every": 100, "vae_batch_size": 64},
)
_GEOMETRY = {"min_side": 8, "multiple_of": 4, "why": "the encoder halves it twice"}


def binarize(images, threshold: float = 0.5) -> np.ndarray:
    """Return float32 images whose pixels are 1 where `images` exceed `threshold` and 0 elsewhere.

    Introduced in lesson 04: the Bernoulli likelihood of the VAE is a probability of binary pixels, so its
    -ELBO is an upper bound on -log p(x) (and a perfect reconstruction scores 0 nats) only on such images.
    """
    images = validation.images(images, "images")
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be a number strictly between 0 and 1; received threshold={threshold!r}. Use e.g. 0.5.")
    return (images > threshold).astype(np.float32)


def binary_images(model, images, argument: str = "images") -> np.ndarray:
    """Check that `images` fit the model and are binary (0 or 1); return them as float32."""
    images = validation.model_images(model, images, argument)
    gray = float(np.mean((images != 0.0) & (images != 1.0)))
    if gray > 0:
        raise ValueError(
            f"{argument} must be binary (every pixel 0 or 1) for the VAE's Bernoulli likelihood; received images with "
            f"{gray:.1%} gray pixels. Binarise them first: tgai.vae.binarize({argument}). On gray pixels the -ELBO "
            "has a floor no model can reach and is not a bound on -log p(x).")
    return images


def _latent_dim(latent_dim) -> int:
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, numbers.Integral):
        raise TypeError(f"latent_dim must be a positive integer; received {validation.describe(latent_dim)}. Use e.g. latent_dim=16.")
    if latent_dim <= 0:
        raise ValueError(f"latent_dim must be a positive integer; received latent_dim={latent_dim}. Use e.g. latent_dim=16.")
    return int(latent_dim)


def build_encoder(image_shape=IMAGE_SHAPE, latent_dim: int = LATENT_DIM, seed: int = 0):
    """Build the encoder: images in [0, 1] -> `[z_mean, z_log_var]`, each (N, latent_dim).

    keras-io's MNIST VAE at half its widths, so that a lesson trains in seconds on a CPU.
    """
    image_shape = validation.image_shape(image_shape, **_GEOMETRY)
    latent_dim = _latent_dim(latent_dim)
    initializer = lambda index: keras.initializers.GlorotUniform(seed=seeds.derive(seed, "first_network_init", index))
    inputs = keras.Input(image_shape, name="images")
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", kernel_initializer=initializer(1), name="conv1")(inputs)
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", kernel_initializer=initializer(2), name="conv2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(128, activation="relu", kernel_initializer=initializer(3), name="dense")(x)
    z_mean = keras.layers.Dense(latent_dim, kernel_initializer=initializer(4), name="z_mean")(x)
    z_log_var = keras.layers.Dense(latent_dim, kernel_initializer=initializer(5), name="z_log_var")(x)
    return keras.Model(inputs, [z_mean, z_log_var], name="encoder")


def build_decoder(image_shape=IMAGE_SHAPE, latent_dim: int = LATENT_DIM, seed: int = 0):
    """Build the decoder: codes -> Bernoulli logits (N, *image_shape); `VAE.decode` applies the sigmoid."""
    height, width, channels = validation.image_shape(image_shape, **_GEOMETRY)
    latent_dim = _latent_dim(latent_dim)
    initializer = lambda index: keras.initializers.GlorotUniform(seed=seeds.derive(seed, "second_network_init", index))
    inputs = keras.Input((latent_dim,), name="z")
    x = keras.layers.Dense(height // 4 * width // 4 * 32, activation="relu", kernel_initializer=initializer(1), name="dense")(inputs)
    x = keras.layers.Reshape((height // 4, width // 4, 32), name="reshape")(x)
    x = keras.layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu", kernel_initializer=initializer(2), name="deconv1")(x)
    x = keras.layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu", kernel_initializer=initializer(3), name="deconv2")(x)
    logits = keras.layers.Conv2DTranspose(channels, 3, padding="same", kernel_initializer=initializer(4), name="logits")(x)
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
            key = tf.random.experimental.stateless_fold_in(tf.cast(self.seed_generator.state, tf.int64), tf.cast(step, tf.int64))
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


class VAE(keras.Model):
    """A VAE whose `train_step` minimises reconstruction + beta * KL (+ an optional perceptual term).

    Introduced in lesson 04, in the style of keras-io's `vae.py`: the model owns its loss, and `fit` and
    `evaluate` report `loss`, `reconstruction`, `kl` (nats per image) and `perceptual` when its weight > 0.
    `beta` weighs the KL term (1: the ELBO); `feature_loss` is any callable `(images, reconstructions) ->
    scalar` (default: a `tgai.perceptual.FeatureLoss` on the DFC-VAE layers); `seed` seeds `Sampling`.
    """

    CHECKPOINT = "vae"
    STRATEGIES = {
        "full": transfer.Strategy("full", "source weights, everything trained"),
        "decoder_only": transfer.Strategy("decoder_only", "source weights, encoder frozen", frozen={"encoder": transfer.ALL}),
        "encoder_only": transfer.Strategy("encoder_only", "source weights, decoder frozen", frozen={"decoder": transfer.ALL}),
        "scratch": transfer.Strategy("scratch", "fresh weights, everything trained", from_source=False),
    }

    def __init__(self, encoder, decoder, beta: float = 1.0, perceptual_weight: float = 0.0, feature_loss=None, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        for argument, network in (("encoder", encoder), ("decoder", decoder)):
            if not isinstance(network, keras.Model):
                raise TypeError(f"{argument} must be a keras.Model from tgai.vae.build_{argument}; received {validation.describe(network)}.")
        if encoder.outputs[0].shape[-1] != decoder.inputs[0].shape[-1]:
            raise ValueError(f"encoder and decoder latent sizes differ: received {encoder.outputs[0].shape[-1]} and {decoder.inputs[0].shape[-1]}. Build both with the same latent_dim.")
        if not (isinstance(beta, int | float) and beta >= 0):
            raise ValueError(f"beta must be a number >= 0; received beta={beta!r}.")
        if not (isinstance(perceptual_weight, int | float) and perceptual_weight >= 0):
            raise ValueError(f"perceptual_weight must be a number >= 0; received perceptual_weight={perceptual_weight!r}.")
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = int(encoder.outputs[0].shape[-1])
        self.image_shape = tuple(encoder.inputs[0].shape[1:])
        self.beta = float(beta)
        self.perceptual_weight = float(perceptual_weight)
        if self.perceptual_weight > 0 and feature_loss is None:
            feature_loss = perceptual.FeatureLoss(layers=perceptual.DFC_VAE_LAYERS, input_shape=self.image_shape[:2] + (3,))
        self.feature_loss = feature_loss
        self.sampling = Sampling(seed=seed, name="sampling")
        terms = ("loss", "reconstruction", "kl") + (("perceptual",) if self.perceptual_weight > 0 else ())
        self.trackers = [keras.metrics.Mean(name=name) for name in terms]  # one running mean per reported term
        self.built = True

    @classmethod
    def create(cls, seed=0, image_shape=IMAGE_SHAPE, latent_dim=LATENT_DIM, **options):
        """Build a VAE with fresh, seeded networks; `options` go to `VAE` (beta, perceptual_weight, feature_loss)."""
        return cls(build_encoder(image_shape, latent_dim, seed), build_decoder(image_shape, latent_dim, seed), seed=seed, **options)

    def options(self) -> dict:
        """The `create` arguments that make another VAE like this one."""
        architecture = {"image_shape": self.image_shape, "latent_dim": self.latent_dim}
        return {**architecture, "beta": self.beta, "perceptual_weight": self.perceptual_weight, "feature_loss": self.feature_loss}

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

    def compile(self, optimizer=None, learning_rate: float = LEARNING_RATE, steps_per_execution: int = 1, jit_compile="auto", **kwargs):
        """Set the optimizer (default Adam) and build its state: call it after starting and freezing.

        `steps_per_execution > 1` runs that many steps per TensorFlow call (less Python overhead on a CPU).
        `jit_compile`: True, False or `"auto"` (XLA on a CPU without replicas; `tgai.training.resolve_jit_compile`).
        """
        use_xla = training.resolve_jit_compile(self, jit_compile)
        if optimizer is None:
            optimizer = keras.optimizers.Adam(validation.positive_number(learning_rate, "learning_rate", "1e-3"))
        steps_per_execution = validation.positive_int(steps_per_execution, "steps_per_execution")
        super().compile(optimizer=optimizer, steps_per_execution=steps_per_execution, jit_compile=False, **kwargs)
        self._jit_compile = use_xla  # past Keras' determinism check: see training.resolve_jit_compile
        self.optimizer.build(self.trainable_variables)

    def compile_like(self, other):
        """Compile with a fresh optimizer configured like `other`'s (see `tgai.transfer.restart`)."""
        optimizer = type(other.optimizer).from_config(other.optimizer.get_config())
        self.compile(optimizer, steps_per_execution=other.steps_per_execution, jit_compile=other.jit_compile)

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
            z_mean, z_log_var = self.encoder(images, training=True)
            # The noise is a function of (seed, step, replica), so a resumed run draws what an uninterrupted one did.
            z = self.sampling([z_mean, z_log_var], training=True, step=self.optimizer.iterations)
            logits = self.decoder(z, training=True)
            # Reconstruction: Bernoulli cross-entropy summed over pixels, averaged over images (nats per image).
            pixel_losses = keras.ops.binary_crossentropy(images, logits, from_logits=True)
            reconstruction = keras.ops.mean(keras.ops.sum(pixel_losses, axis=(1, 2, 3)))
            # KL(N(mean, exp(log_var)) || N(0, I)) in closed form, summed over the latent, averaged over images.
            kl = keras.ops.mean(-0.5 * keras.ops.sum(1.0 + z_log_var - keras.ops.square(z_mean) - keras.ops.exp(z_log_var), axis=1))
            loss = reconstruction + self.beta * kl
            values = {"reconstruction": reconstruction, "kl": kl}
            if self.perceptual_weight > 0:  # DFC-VAE: a feature distance to the reconstruction
                values["perceptual"] = self.feature_loss(images, keras.ops.sigmoid(logits))
                loss = loss + self.perceptual_weight * values["perceptual"]
            # Under tf.distribute each replica sees part of the batch and the optimizer sums the replicas'
            # gradients, so each replica's loss is divided by the replica count to keep a per-batch mean.
            scaled_loss = loss / tf.distribute.get_strategy().num_replicas_in_sync
        gradients = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights, strict=True))
        values["loss"] = loss
        for tracker in self.metrics:
            tracker.update_state(values[tracker.name])
        return {tracker.name: tracker.result() for tracker in self.metrics}

    def compute_losses(self, images, training=False, noise_seed: int = 0, step=None, perceptual: bool = True):
        """The losses of `train_step` for one batch, for evaluation (`perceptual=False`: -ELBO alone)."""
        z_mean, z_log_var = self.encoder(images, training=training)
        z = self.sampling([z_mean, z_log_var], training=training, noise_seed=noise_seed, step=step)
        logits = self.decoder(z, training=training)
        pixel_losses = keras.ops.binary_crossentropy(images, logits, from_logits=True)
        reconstruction = keras.ops.mean(keras.ops.sum(pixel_losses, axis=(1, 2, 3)))
        kl = keras.ops.mean(-0.5 * keras.ops.sum(1.0 + z_log_var - keras.ops.square(z_mean) - keras.ops.exp(z_log_var), axis=1))
        losses = {"loss": reconstruction + self.beta * kl, "reconstruction": reconstruction, "kl": kl}
        if self.perceptual_weight > 0 and perceptual:
            losses["perceptual"] = self.feature_loss(images, keras.ops.sigmoid(logits))
            losses["loss"] = losses["loss"] + self.perceptual_weight * losses["perceptual"]
        return losses

    def test_step(self, data):
        losses = self.compute_losses(data[0] if isinstance(data, tuple) else data, training=False)
        for tracker in self.metrics:
            tracker.update_state(losses[tracker.name])
        return {tracker.name: tracker.result() for tracker in self.metrics}

    def evaluate_batch(self, images) -> dict:
        """`evaluate(images, batch_size=len(images))` without its per-call data pipeline (as costly as the step)."""
        if getattr(self, "_evaluate_batch_function", None) is None:
            self._evaluate_batch_function = tf.function(self.test_step, reduce_retracing=True)
        self.reset_metrics()
        return {name: float(value) for name, value in self._evaluate_batch_function(tf.convert_to_tensor(images)).items()}


STRATEGIES = tuple(VAE.STRATEGIES)
# The committed source VAEs and the glyph set each was trained on.
SOURCES = {"vae": "glyphs", "vae_letters": "glyph_letters"}


def _source_latent_dim(checkpoint: str = VAE.CHECKPOINT) -> int:  # as that source's manifest entry records it
    return int(checkpoints.manifest().get(checkpoint, {}).get("latent_dim", LATENT_DIM))


def load_source(seed: int = 0, checkpoint: str = VAE.CHECKPOINT, **options) -> VAE:
    """Return an uncompiled VAE holding committed source networks (sha256 checked; latent size from the manifest).

    `checkpoint` names the source: `"vae"` (trained on typeset digits, the near source) or `"vae_letters"`
    (typeset capital letters, the far source of lesson 04's negative-transfer section).
    """
    validation.choice(checkpoint, "checkpoint", SOURCES)
    return transfer.load_source(VAE, seed=seed, checkpoint=checkpoint, **{"latent_dim": _source_latent_dim(checkpoint), **options})


def make(strategy: str, source=None, seed: int = 0, learning_rate: float = LEARNING_RATE, steps_per_execution: int = 1, **options):
    """Build, start (`source`: a VAE, or None for the committed one), freeze and compile a VAE for a strategy.

    Introduced in lesson 04. Returns `(model, report)`, the report a `tgai.transfer.ParameterReport`.
    """
    validation.choice(strategy, "strategy", VAE.STRATEGIES)
    architecture = {"image_shape": source.image_shape, "latent_dim": source.latent_dim} if source is not None else {"latent_dim": _source_latent_dim()}
    model = VAE.create(seed=seed, **{**architecture, **options})
    report = transfer.prepare(model, strategy, source=source)
    model.compile(learning_rate=learning_rate, steps_per_execution=steps_per_execution)
    return model, report


def train(model, images, steps: int, batch_size: int = 32, seed: int = 0, heldout=None, eval_every: int | None = None, backup_dir=None, callbacks=()):
    """Train a compiled VAE for `steps` batches with `tgai.training.fit`; evaluate held-out -ELBO along the way.

    Introduced in lesson 04; `tgai.training.fit` does the chunks, the NaN guard and resuming from `backup_dir`.
    Returns lists `step`, `train_loss` (chunk means) and held-out `negative_elbo`, `reconstruction`, `kl`
    (nats per image) at step 0 and after every chunk; a resumed run lists the chunks it trained.
    """
    images = binary_images(model, images)
    steps = validation.positive_int(steps, "steps")
    eval_every = steps if eval_every is None else validation.positive_int(eval_every, "eval_every")
    if steps % eval_every:
        raise ValueError(f"steps must be a multiple of eval_every; received steps={steps}, eval_every={eval_every}.")
    if eval_every % model.steps_per_execution:
        raise ValueError(f"eval_every must be a multiple of the model's steps_per_execution; received eval_every={eval_every}, steps_per_execution={model.steps_per_execution}.")
    heldout = None if heldout is None else binary_images(model, heldout, "heldout")
    history = {name: [] for name in ("step", "negative_elbo", "reconstruction", "kl", "train_loss")}

    def evaluate(step, train_loss):
        history["step"].append(step)
        history["train_loss"].append(train_loss)
        if heldout is not None:
            result = model.evaluate_batch(heldout)
            for key, name in (("negative_elbo", "loss"), ("reconstruction", "reconstruction"), ("kl", "kl")):
                history[key].append(float(result[name]))

    if backup_dir is None or training.completed_chunks(backup_dir) == 0:
        evaluate(0, float("nan"))
    after_chunk = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: evaluate((epoch + 1) * eval_every, float((logs or {}).get("loss", np.nan))))
    training.fit(model, images, steps, batch_size, seed, chunk=eval_every, callbacks=[after_chunk, *callbacks], backup_dir=backup_dir)
    return history


def _in_batches(function, images, batch_size=512):
    return np.concatenate([np.asarray(function(images[start : start + batch_size])) for start in range(0, len(images), batch_size)])


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


def sample(model, count: int, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
    """Decode `count` codes z ~ N(0, temperature^2 I) into images in [0, 1] (the Bernoulli means)."""
    count = validation.positive_int(count, "count")
    validation.positive_int(seed, "seed", minimum=0)
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise TypeError(f"temperature must be a number >= 0; received {validation.describe(temperature)}. Use e.g. 1.0.")
    if not math.isfinite(temperature) or temperature < 0:
        raise ValueError(
            f"temperature must be a finite number >= 0; received temperature={temperature!r}. It scales the prior's standard "
            "deviation: 1.0 samples the prior, below 1 gives more typical samples, 0 decodes z = 0.")
    z = np.random.default_rng(seed).standard_normal((count, model.latent_dim)).astype(np.float32) * temperature
    return _in_batches(model.decode, z).astype(np.float32)


def interpolate(model, image_a, image_b, steps: int = 8) -> np.ndarray:
    """Decode the straight line between two images' latent means: `steps` images from a to b."""
    steps = validation.positive_int(steps, "steps", minimum=2)
    pair = [np.asarray(image)[0] if np.ndim(image) == 4 and len(image) == 1 else np.asarray(image) for image in (image_a, image_b)]
    for argument, image in zip(("image_a", "image_b"), pair, strict=True):
        if image.ndim != 3:
            raise ValueError(f"{argument} must be one image (H, W, C) or a batch of one; received {validation.describe(image)}. Pick one image, e.g. images[0].")
    means = encode(model, validation.model_images(model, np.stack(pair), "image_a/image_b"))
    weights = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return np.asarray(model.decode((1.0 - weights) * means[0] + weights * means[1])).astype(np.float32)


def sample_kid(model, reference_images, count: int | None = None, seed: int = 0) -> float:
    """KID x 1000 of `count` samples (default: the profile's) vs held-out reference images, in the judge's feature space."""
    count = config.profile().kid_samples if count is None else count
    return metrics.kid_x1000(sample(model, count, seed), metrics.judge_features(reference_images), seed=seed)
