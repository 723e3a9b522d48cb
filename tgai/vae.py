"""A convolutional VAE, its `train_step`, adaptation strategies, held-out evaluation and the source checkpoint.

Introduced in lesson 04 (VAE domain adaptation). A VAE pre-trained on typeset `glyphs` is the source
model; lesson 04 adapts it to a few handwritten `digits` by fine-tuning all of it (`full`), only its
decoder (`decoder_only`) or only its encoder (`encoder_only`), and compares each with a VAE trained from
`scratch` on the same images, at the same number of steps.

The loss is the negative evidence lower bound (-ELBO), in nats per image:

    -ELBO = E_q[-log p(x | z)] + beta * KL(q(z | x) || N(0, I))

with a Bernoulli decoder (binary cross-entropy summed over pixels, as in keras-io's `vae.py`) and a
diagonal Gaussian encoder sampled with the reparameterisation trick. An optional perceptual term
(DFC-VAE) adds a frozen-VGG16 feature distance between an image and its reconstruction.

References:
    Kingma and Welling, "Auto-Encoding Variational Bayes", ICLR 2014.
    Hou et al., "Deep Feature Consistent Variational Autoencoder", WACV 2017 (DFC-VAE).
    keras-io `examples/generative/vae.py` (the train_step pattern).
"""

from __future__ import annotations

import math
import numbers
import pathlib
import time

import keras
import numpy as np

from tgai import checkpoints, config, data, validation

CHECKPOINT_NAME = "vae"
FILE_NAME = "vae.weights.h5"
DEFAULT_LATENT_DIM = 16
IMAGE_SIZE = 32
STRATEGIES = ("full", "decoder_only", "encoder_only", "scratch")
PRETRAIN_BATCH_SIZE = 64
LEARNING_RATE = 1e-3


def _check_latent_dim(latent_dim):
    if isinstance(latent_dim, bool) or not isinstance(latent_dim, int | np.integer):
        raise TypeError(f"latent_dim must be a positive integer; received {validation.describe(latent_dim)}. Use e.g. latent_dim=16.")
    if latent_dim <= 0:
        raise ValueError(f"latent_dim must be a positive integer; received latent_dim={latent_dim}. Use e.g. latent_dim=16.")
    return int(latent_dim)


def _check_shape(image_size, channels):
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8 or image_size % 4:
        raise ValueError(
            f"image_size must be a multiple of 4 and >= 8 (the encoder halves it twice); received image_size={image_size!r}."
        )
    if isinstance(channels, bool) or channels not in (1, 3):
        raise ValueError(f"channels must be 1 (gray) or 3 (RGB); received channels={channels!r}.")


def build_encoder(latent_dim: int = DEFAULT_LATENT_DIM, image_size: int = IMAGE_SIZE, channels: int = 1, seed: int = 0):
    """Build the conv encoder: images in [0, 1] -> `[z_mean, z_log_var]`, each of shape (N, latent_dim).

    Introduced in lesson 04. Two stride-2 convolutions (32 and 64 filters) and a 128-unit dense layer, as
    in keras-io's MNIST VAE, at half its widths (16 and 32 filters) so a lesson trains in seconds on a CPU.

    Args:
        latent_dim: Size of the latent code, > 0.
        image_size: Input height and width, a multiple of 4.
        channels: 1 or 3.
        seed: Seeds the kernel initialisers.

    Returns:
        A functional `keras.Model` named `encoder`.

    Raises:
        ValueError: if `latent_dim <= 0`, or for a bad `image_size` or `channels`.
    """
    latent_dim = _check_latent_dim(latent_dim)
    _check_shape(image_size, channels)
    initializer = lambda offset: keras.initializers.GlorotUniform(seed=seed * 100 + offset)
    inputs = keras.Input((image_size, image_size, channels), name="images")
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", kernel_initializer=initializer(1), name="conv1")(inputs)
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", kernel_initializer=initializer(2), name="conv2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(128, activation="relu", kernel_initializer=initializer(3), name="dense")(x)
    z_mean = keras.layers.Dense(latent_dim, kernel_initializer=initializer(4), name="z_mean")(x)
    z_log_var = keras.layers.Dense(latent_dim, kernel_initializer=initializer(5), name="z_log_var")(x)
    return keras.Model(inputs, [z_mean, z_log_var], name="encoder")


def build_decoder(latent_dim: int = DEFAULT_LATENT_DIM, image_size: int = IMAGE_SIZE, channels: int = 1, seed: int = 0):
    """Build the conv decoder: latent codes -> Bernoulli logits of shape (N, image_size, image_size, channels).

    Introduced in lesson 04. It outputs logits, not probabilities, so that the reconstruction loss uses
    the numerically stable cross-entropy-with-logits; `VAE.decode` applies the sigmoid.

    Args:
        latent_dim: Size of the latent code, > 0.
        image_size: Output height and width, a multiple of 4.
        channels: 1 or 3.
        seed: Seeds the kernel initialisers.

    Returns:
        A functional `keras.Model` named `decoder`.

    Raises:
        ValueError: if `latent_dim <= 0`, or for a bad `image_size` or `channels`.
    """
    latent_dim = _check_latent_dim(latent_dim)
    _check_shape(image_size, channels)
    initializer = lambda offset: keras.initializers.GlorotUniform(seed=seed * 100 + 50 + offset)
    quarter = image_size // 4
    inputs = keras.Input((latent_dim,), name="z")
    x = keras.layers.Dense(quarter * quarter * 32, activation="relu", kernel_initializer=initializer(1), name="dense")(inputs)
    x = keras.layers.Reshape((quarter, quarter, 32), name="reshape")(x)
    x = keras.layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu", kernel_initializer=initializer(2), name="deconv1")(x)
    x = keras.layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu", kernel_initializer=initializer(3), name="deconv2")(x)
    logits = keras.layers.Conv2DTranspose(channels, 3, padding="same", kernel_initializer=initializer(4), name="logits")(x)
    return keras.Model(inputs, logits, name="decoder")


@keras.saving.register_keras_serializable(package="tgai")
class Sampling(keras.layers.Layer):
    """Draw z = mean + exp(log_var / 2) * epsilon, epsilon ~ N(0, I): the reparameterisation trick.

    Introduced in lesson 04. The noise is outside the path from the encoder's outputs to z, so gradients
    flow to `mean` and `log_var`. `VAE.train_step` passes its step counter, and the noise is then drawn
    statelessly from `(seed, step, replica)`: a run resumed from a backup draws exactly what an
    uninterrupted run would. Called in training without a step, the layer draws from its
    `keras.random.SeedGenerator`. Outside training the noise is a fixed function of `noise_seed`: evaluating
    never disturbs the training draws, and every model is evaluated with the same noise (common random
    numbers make comparisons between models less noisy).

    Args:
        seed: Seeds the training noise and, offset by `noise_seed`, the evaluation noise.
    """

    def __init__(self, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False, noise_seed: int = 0, step=None):
        z_mean, z_log_var = inputs
        if training and step is not None:
            import tensorflow as tf

            # The generator's state (its seed, untouched by this stateless path) is a variable, so `restart`
            # can reseed a compiled model without retracing it.
            state = tf.cast(self.seed_generator.state, tf.int64)
            key = tf.random.experimental.stateless_fold_in(state, tf.cast(step, tf.int64))
            replica = tf.distribute.get_replica_context()
            replica_id = replica.replica_id_in_sync_group if replica is not None else 0
            key = tf.random.experimental.stateless_fold_in(key, tf.cast(replica_id, tf.int64))
            epsilon = tf.random.stateless_normal(tf.shape(z_mean), seed=key, dtype=z_mean.dtype)
        else:
            seed = self.seed_generator if training else 7919 * self.seed + 1 + noise_seed
            epsilon = keras.random.normal(keras.ops.shape(z_mean), seed=seed)
        return z_mean + keras.ops.exp(0.5 * z_log_var) * epsilon

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def _replicas_in_sync() -> int:
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


class VAE(keras.Model):
    """A VAE whose `train_step` minimises reconstruction + beta * KL (+ an optional perceptual term).

    Introduced in lesson 04, in the style of keras-io's `vae.py`: the model owns its loss, and `metrics`
    lists one `keras.metrics.Mean` per term, so `fit` and `evaluate` report `loss`, `reconstruction`, `kl`
    (and `perceptual` when its weight is > 0), all in nats per image except `perceptual`.

    Args:
        encoder: From `build_encoder`.
        decoder: From `build_decoder`, with the same latent size.
        beta: Weight of the KL term (1 gives the ELBO).
        perceptual_weight: Weight of the perceptual term; 0 turns it off.
        feature_loss: A `tgai.perceptual.FeatureLoss` (any callable `(images, reconstructions) -> scalar` on
            [0, 1] images); built with its defaults if `perceptual_weight > 0` and none is given.
        seed: Seeds the `Sampling` layer.
    """

    def __init__(self, encoder, decoder, beta: float = 1.0, perceptual_weight: float = 0.0, feature_loss=None, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        for argument, part in (("encoder", encoder), ("decoder", decoder)):
            if not isinstance(part, keras.Model):
                raise TypeError(f"{argument} must be a keras.Model from tgai.vae.build_{argument}; received {validation.describe(part)}.")
        encoder_latent = encoder.outputs[0].shape[-1]
        decoder_latent = decoder.inputs[0].shape[-1]
        if encoder_latent != decoder_latent:
            raise ValueError(
                f"encoder and decoder latent sizes differ: received {encoder_latent} and {decoder_latent}. Build both "
                "with the same latent_dim."
            )
        if not (isinstance(beta, int | float) and beta >= 0):
            raise ValueError(f"beta must be a number >= 0; received beta={beta!r}.")
        if not (isinstance(perceptual_weight, int | float) and perceptual_weight >= 0):
            raise ValueError(f"perceptual_weight must be a number >= 0; received perceptual_weight={perceptual_weight!r}.")
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = int(encoder_latent)
        self.image_shape = tuple(encoder.inputs[0].shape[1:])
        self.beta = float(beta)
        self.perceptual_weight = float(perceptual_weight)
        if self.perceptual_weight > 0 and feature_loss is None:
            from tgai import perceptual

            feature_loss = perceptual.FeatureLoss(layers=perceptual.DFC_VAE_LAYERS, input_shape=self.image_shape[:2] + (3,))
        self.feature_loss = feature_loss
        self.sampling = Sampling(seed=seed, name="sampling")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.perceptual_tracker = keras.metrics.Mean(name="perceptual") if self.perceptual_weight > 0 else None
        # Read by tgai.training.NaNGuard when a loss turns non-finite.
        self.divergence_hint = (
            f"check that the images lie in [0, 1], lower the learning rate (e.g. 1e-4) or beta (now {self.beta:g})."
        )

    @property
    def metrics(self):
        trackers = [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]
        return trackers + ([self.perceptual_tracker] if self.perceptual_tracker is not None else [])

    def call(self, images, training=False):
        """Reconstruct `images` through a sampled z; returns Bernoulli means in [0, 1]."""
        z_mean, z_log_var = self.encoder(images, training=training)
        return keras.ops.sigmoid(self.decoder(self.sampling([z_mean, z_log_var], training=training), training=training))

    def decode(self, z):
        """Map latent codes to images in [0, 1] (the decoder's Bernoulli means)."""
        return keras.ops.sigmoid(self.decoder(z, training=False))

    def compute_losses(self, images, training=False, noise_seed: int = 0, step=None, perceptual: bool = True):
        """Return `{loss, reconstruction, kl[, perceptual]}` for one batch, averaged over images.

        reconstruction = sum over pixels of the binary cross-entropy (nats), for one sampled z per image;
        kl = KL(N(mean, exp(log_var)) || N(0, I)) in closed form. `noise_seed` picks the evaluation noise
        (ignored in training); `step` makes the training noise a function of the step (see `Sampling`);
        `perceptual=False` skips the (costly) perceptual term, e.g. to measure -ELBO alone.
        """
        z_mean, z_log_var = self.encoder(images, training=training)
        z = self.sampling([z_mean, z_log_var], training=training, noise_seed=noise_seed, step=step)
        logits = self.decoder(z, training=training)
        pixel_losses = keras.ops.binary_crossentropy(images, logits, from_logits=True)
        reconstruction = keras.ops.mean(keras.ops.sum(pixel_losses, axis=(1, 2, 3)))
        kl_per_image = -0.5 * keras.ops.sum(1.0 + z_log_var - keras.ops.square(z_mean) - keras.ops.exp(z_log_var), axis=1)
        kl = keras.ops.mean(kl_per_image)
        losses = {"loss": reconstruction + self.beta * kl, "reconstruction": reconstruction, "kl": kl}
        if self.perceptual_tracker is not None and perceptual:
            perceptual = self.feature_loss(images, keras.ops.sigmoid(logits))
            losses["perceptual"] = perceptual
            losses["loss"] = losses["loss"] + self.perceptual_weight * perceptual
        return losses

    def _update_trackers(self, losses):
        for tracker in self.metrics:
            tracker.update_state(losses[tracker.name])
        return {tracker.name: tracker.result() for tracker in self.metrics}

    def train_step(self, data):
        import tensorflow as tf

        images = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            losses = self.compute_losses(images, training=True, step=self.optimizer.iterations)
            # Under tf.distribute each replica sees part of the batch and the optimizer sums the replicas'
            # gradients, so each replica's loss is divided by the replica count to keep a per-batch mean.
            scaled_loss = losses["loss"] / _replicas_in_sync()
        gradients = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights, strict=True))
        return self._update_trackers(losses)

    def test_step(self, data):
        images = data[0] if isinstance(data, tuple) else data
        return self._update_trackers(self.compute_losses(images, training=False))

    def evaluate_batch(self, images) -> dict:
        """Losses on one batch of images, as `evaluate(images, batch_size=len(images))` returns them.

        `train` evaluates held-out images every few steps; `evaluate` builds a new data pipeline on every
        call, which cost as much as the computation itself. This runs the same `test_step` in a traced
        function, after resetting the metric trackers as `evaluate` does (a test checks that both agree).
        """
        import tensorflow as tf

        if getattr(self, "_evaluate_batch_function", None) is None:
            self._evaluate_batch_function = tf.function(self.test_step, reduce_retracing=True)
        self.reset_metrics()
        return {name: float(value) for name, value in self._evaluate_batch_function(tf.convert_to_tensor(images)).items()}


def trainable_parameters(model) -> dict:
    """Count a model's trainable and frozen parameters (what `adapt` froze is what is not trainable).

    Introduced in lesson 04. Counts weights, not layers, so `trainable=False` is checked where it matters.

    Returns:
        `{"trainable": int, "frozen": int, "total": int}`; seed-generator states and metric variables are
        not parameters and are not counted.
    """
    trainable = sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)
    parts = [model.encoder, model.decoder] if isinstance(model, VAE) else [model]
    total = sum(int(np.prod(weight.shape)) for part in parts for weight in part.weights)
    return {"trainable": trainable, "frozen": total - trainable, "total": total}


def adapt(model, strategy: str) -> dict:
    """Freeze the parts of a source VAE that a strategy keeps fixed; return the parameter counts.

    Introduced in lesson 04.

    Args:
        model: A `VAE`.
        strategy: `full` (train everything), `decoder_only` (freeze the encoder), `encoder_only` (freeze the
            decoder), or `scratch` (train everything; the caller starts from fresh weights).

    Returns:
        `trainable_parameters(model)` after freezing.

    Raises:
        ValueError: for an unknown strategy.
    """
    validation.choice(strategy, "strategy", STRATEGIES)
    model.encoder.trainable = strategy in ("full", "scratch", "encoder_only")
    model.decoder.trainable = strategy in ("full", "scratch", "decoder_only")
    return trainable_parameters(model)


def build(latent_dim: int = DEFAULT_LATENT_DIM, image_size: int = IMAGE_SIZE, channels: int = 1, seed: int = 0, **vae_options):
    """Build a fresh (untrained) `VAE` with seeded weights.

    Introduced in lesson 04. `vae_options` go to `VAE` (beta, perceptual_weight, feature_loss).
    """
    encoder = build_encoder(latent_dim, image_size, channels, seed)
    decoder = build_decoder(latent_dim, image_size, channels, seed)
    return VAE(encoder, decoder, seed=seed, **vae_options)


def compile_model(model, learning_rate: float = LEARNING_RATE, steps_per_execution: int = 1):
    """Compile a VAE with Adam (its loss lives in `train_step`) and build the optimizer. Returns the model.

    `steps_per_execution > 1` runs that many steps inside one TensorFlow call, which removes most of the
    per-step Python overhead of a small model on a CPU; `train` then needs `eval_every` to be a multiple.
    The optimizer's fresh state is remembered so that `restart` can reuse the compiled model.
    """
    if not (isinstance(learning_rate, int | float) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a number > 0; received learning_rate={learning_rate!r}. Use e.g. 1e-3.")
    steps_per_execution = validation.positive_int(steps_per_execution, "steps_per_execution")
    if not model.built:
        model(keras.ops.zeros((1, *model.image_shape)))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), steps_per_execution=steps_per_execution)
    model.optimizer.build(model.trainable_variables)
    model.fresh_optimizer_state = [np.array(variable.numpy()) for variable in model.optimizer.variables]
    return model


def restart(model, strategy: str, source=None, seed: int = 0) -> dict:
    """Put a compiled VAE back to the start of a run, reusing its traced train and test functions.

    Introduced in lesson 04, where one model per strategy runs several seeds: tracing a new model costs
    seconds on a CPU, resetting its variables costs nothing. After `restart(model, strategy, source, seed)`
    a run is identical to one on `make(strategy, source, seed)` with the same freezing (a test checks it).

    Args:
        model: A VAE compiled by `make` or `compile_model`, frozen for `strategy` already.
        strategy: As in `make`; must freeze the same parts the model was compiled with.
        source: Source VAE for every strategy but `scratch` (`None`: the committed checkpoint).
        seed: Seeds fresh weights (`scratch`) and the sampler.

    Returns:
        `trainable_parameters(model)`.
    """
    validation.choice(strategy, "strategy", STRATEGIES)
    before = [id(weight) for weight in model.trainable_weights]
    counts = adapt(model, strategy)
    if [id(weight) for weight in model.trainable_weights] != before:
        raise ValueError(
            f"strategy={strategy!r} freezes other parts than the model was compiled with; build a new model with "
            f"make({strategy!r}, ...) instead."
        )
    if strategy == "scratch":
        origin = build(model.latent_dim, model.image_shape[0], model.image_shape[2], seed=seed)
    else:
        origin = source if source is not None else load_source(seed=seed)
    for target, value in zip(model.encoder.weights + model.decoder.weights, origin.encoder.weights + origin.decoder.weights, strict=True):
        target.assign(value)
    for variable, value in zip(model.optimizer.variables, model.fresh_optimizer_state, strict=True):
        variable.assign(value)
    model.sampling.seed_generator.state.assign(Sampling(seed=seed).seed_generator.state)
    for tracker in model.metrics:
        tracker.reset_state()
    return counts


# ---------------------------------------------------------------------------------------------------------
# The source checkpoint: encoder and decoder weights as plain h5py arrays, one group per layer, so that a
# mismatch is reported layer by layer before anything is assigned.


def save_weights(model, path) -> pathlib.Path:
    """Save a VAE's encoder and decoder weights to an h5 file (h5py arrays, no pickle).

    Layout: `/<encoder|decoder>/<layer>/<index>` datasets; root attributes record latent_dim and image shape.
    """
    import h5py

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with h5py.File(temporary, "w") as handle:
        handle.attrs["latent_dim"] = model.latent_dim
        handle.attrs["image_shape"] = list(model.image_shape)
        for part in (model.encoder, model.decoder):
            for layer in part.layers:
                for index, weight in enumerate(layer.weights):
                    handle.create_dataset(f"{part.name}/{layer.name}/{index}", data=np.asarray(weight.numpy()))
    temporary.replace(path)
    return path


def load_weights(model, path) -> None:
    """Load encoder and decoder weights saved by `save_weights`, after checking every layer's shapes.

    Raises:
        FileNotFoundError: if `path` does not exist.
        tgai.checkpoints.CheckpointError: if the file is not an h5 file, or if any layer is missing or has
            other shapes; the message lists each mismatched layer and the checkpoint's latent size.
    """
    import h5py

    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path must be an existing VAE weights file; received path={str(path)!r}. Make one with save_weights or `python -m tgai pretrain vae`.")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise checkpoints.CheckpointError(f"{path.name} is not a readable h5 weights file ({error}). Regenerate it with `python -m tgai pretrain vae`.") from None
    with handle:
        problems, assignments = [], []
        for part in (model.encoder, model.decoder):
            for layer in part.layers:
                for index, weight in enumerate(layer.weights):
                    key = f"{part.name}/{layer.name}/{index}"
                    if key not in handle:
                        problems.append(f"{part.name}/{layer.name}: missing from the checkpoint")
                        break
                    stored = handle[key]
                    if tuple(stored.shape) != tuple(weight.shape):
                        problems.append(f"{part.name}/{layer.name}: checkpoint {tuple(stored.shape)} vs model {tuple(weight.shape)}")
                        break
                    assignments.append((weight, stored[()]))
        if problems:
            saved = handle.attrs.get("latent_dim")
            raise checkpoints.CheckpointError(
                f"{path.name} does not match this VAE (latent_dim={model.latent_dim}, image shape {model.image_shape}); "
                f"the checkpoint was saved with latent_dim={saved}. Mismatched layers: {'; '.join(problems)}. "
                f"Build the VAE with latent_dim={saved} or retrain the checkpoint."
            )
    for weight, value in assignments:
        weight.assign(value)


def load_source(seed: int = 0, **vae_options):
    """Build a VAE and load the committed source checkpoint (pre-trained on glyphs) into it.

    Introduced in lesson 04. The file's sha256 is checked against `data/manifest.json` first.
    """
    entry = checkpoints.manifest().get(CHECKPOINT_NAME, {})
    model = build(int(entry.get("latent_dim", DEFAULT_LATENT_DIM)), seed=seed, **vae_options)
    load_weights(model, checkpoints.path(CHECKPOINT_NAME))
    return model


def make(strategy: str, source=None, seed: int = 0, learning_rate: float = LEARNING_RATE, steps_per_execution: int = 1, **vae_options):
    """Return a compiled VAE ready to adapt with `strategy`, and its parameter counts.

    Introduced in lesson 04. `scratch` builds fresh weights (seeded by `seed`); every other strategy copies
    the source weights (`source`: a VAE, or `None` for the committed checkpoint) and freezes per `adapt`.

    Returns:
        `(model, counts)` where counts is `trainable_parameters(model)`.

    Raises:
        ValueError: for an unknown strategy.
    """
    validation.choice(strategy, "strategy", STRATEGIES)
    if strategy == "scratch":
        latent_dim = source.latent_dim if source is not None else int(checkpoints.manifest().get(CHECKPOINT_NAME, {}).get("latent_dim", DEFAULT_LATENT_DIM))
        model = build(latent_dim, seed=seed, **vae_options)
    elif source is None:
        model = load_source(seed=seed, **vae_options)
    else:
        model = build(source.latent_dim, source.image_shape[0], source.image_shape[2], seed=seed, **vae_options)
        for target, original in zip(model.encoder.weights + model.decoder.weights, source.encoder.weights + source.decoder.weights, strict=True):
            target.assign(original)
    counts = adapt(model, strategy)
    compile_model(model, learning_rate, steps_per_execution)
    return model, counts


# ---------------------------------------------------------------------------------------------------------
# Training: `tgai.training.fit` (lesson 03) does the resumable, guarded `fit`; here it gains held-out -ELBO.


def train(model, images, steps: int, batch_size: int = 32, seed: int = 0, heldout=None, eval_every: int | None = None, backup_dir=None, callbacks=()):
    """Train a compiled VAE for `steps` batches with `fit`; evaluate held-out -ELBO along the way.

    Introduced in lesson 04. `tgai.training.fit` runs `steps / eval_every` Keras epochs ("chunks") of
    `eval_every` steps on a seeded `tf.data` stream, stops at the first non-finite loss
    (`tgai.training.TrainingDivergedError`, the last good backup kept), and with `backup_dir` backs up
    weights, optimizer and sampler state after every chunk, so that a rerun with the same arguments resumes
    and ends with the same weights as an uninterrupted run. The held-out data is evaluated (single-sample
    -ELBO, `test_step`) before the first step and after every chunk.

    Args:
        model: A compiled `VAE` (see `make`).
        images: Training images, float32 NHWC in [0, 1], at least `batch_size` of them.
        steps: Number of optimizer steps.
        batch_size: Images per step.
        seed: Seeds the batch order.
        heldout: Optional held-out images, evaluated every `eval_every` steps.
        eval_every: Steps per chunk and evaluation (default: `steps`); a multiple of the model's
            `steps_per_execution`.
        backup_dir: Optional folder for the resumable backup; it is deleted when the run completes.
        callbacks: Extra Keras callbacks.

    Returns:
        A dict of lists: `step`, and for the held-out data `negative_elbo`, `reconstruction`, `kl` (nats per
        image), plus `train_loss` (the training loss averaged over each chunk, `nan` at step 0). A resumed run
        lists only the chunks it trained.

    Raises:
        ValueError: for data outside [0, 1] or of another shape than the VAE's, fewer images than
            `batch_size`, or bad counts.
        tgai.training.TrainingDivergedError: if the loss becomes NaN or infinite.
    """
    from tgai import training

    images = _model_images(model, images)
    steps = validation.positive_int(steps, "steps")
    eval_every = steps if eval_every is None else validation.positive_int(eval_every, "eval_every")
    if steps % eval_every:
        raise ValueError(f"steps must be a multiple of eval_every; received steps={steps}, eval_every={eval_every}.")
    per_call = int(getattr(model, "steps_per_execution", 1) or 1)
    if eval_every % per_call:
        raise ValueError(f"eval_every must be a multiple of the model's steps_per_execution; received eval_every={eval_every}, steps_per_execution={per_call}.")
    if heldout is not None:
        heldout = _model_images(model, heldout, "heldout")
    history = {"step": [], "negative_elbo": [], "reconstruction": [], "kl": [], "train_loss": []}

    def evaluate(step, train_loss):
        history["step"].append(step)
        history["train_loss"].append(train_loss)
        if heldout is not None:
            result = model.evaluate_batch(heldout)
            for key, name in (("negative_elbo", "loss"), ("reconstruction", "reconstruction"), ("kl", "kl")):
                history[key].append(float(result[name]))

    class HeldoutEvaluation(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            evaluate((epoch + 1) * eval_every, float((logs or {}).get("loss", np.nan)))

    if backup_dir is None or training.completed_chunks(backup_dir) == 0:
        evaluate(0, float("nan"))
    training.fit(model, images, steps, batch_size, seed, chunk=eval_every, callbacks=[HeldoutEvaluation(), *callbacks], backup_dir=backup_dir)
    return history


# ---------------------------------------------------------------------------------------------------------
# Held-out evaluation.


def _model_images(model, images, argument: str = "images") -> np.ndarray:
    """Check images for this VAE: float NHWC in [0, 1] with the VAE's height, width and channels."""
    images = validation.images(images, argument, channels=(model.image_shape[2],))
    if images.shape[1:] != model.image_shape:
        raise ValueError(
            f"{argument} must have shape (N, {', '.join(map(str, model.image_shape))}) to match the VAE; received "
            f"{validation.describe(images)}. Resize with tgai.data.resize(images, {model.image_shape[0]})."
        )
    return images


def _in_batches(function, images, batch_size=512):
    return np.concatenate([np.asarray(function(images[start : start + batch_size])) for start in range(0, len(images), batch_size)])


def encode(model, images) -> np.ndarray:
    """Return the latent means (N, latent_dim) of [0, 1] images: the points lesson 04 plots."""
    images = _model_images(model, images)
    return _in_batches(lambda batch: model.encoder(batch, training=False)[0], images)


def reconstruct(model, images) -> np.ndarray:
    """Reconstruct [0, 1] images through their latent means (no sampling noise): decoder(mean(x))."""
    images = _model_images(model, images)
    return _in_batches(lambda batch: model.decode(model.encoder(batch, training=False)[0]), images).astype(np.float32)


def negative_elbo(model, images, samples: int = 1, batch_size: int = 512) -> dict:
    """Estimate -ELBO on held-out images, in nats per image, averaged over `samples` draws of z per image.

    Introduced in lesson 04. With `samples=1` this is the single-sample estimate `test_step` reports; more
    samples lower its variance (it stays an estimate of the same bound, not an importance-weighted one).

    Returns:
        `{"negative_elbo", "reconstruction", "kl"}` as floats (nats per image), and `"pixel_error"`: the mean
        squared error per pixel between the images and their reconstructions through the latent means.
    """
    images = _model_images(model, images)
    samples = validation.positive_int(samples, "samples")
    totals = {"negative_elbo": 0.0, "reconstruction": 0.0, "kl": 0.0}
    for draw in range(samples):
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size]
            losses = model.compute_losses(batch, training=False, noise_seed=draw, perceptual=False)
            weight = len(batch) / len(images) / samples
            totals["reconstruction"] += float(losses["reconstruction"]) * weight
            totals["kl"] += float(losses["kl"]) * weight
    totals["negative_elbo"] = totals["reconstruction"] + model.beta * totals["kl"]
    totals["pixel_error"] = float(np.mean((reconstruct(model, images) - images) ** 2))
    return totals


def sample(model, count: int, seed: int = 0, temperature: float = 1.0) -> np.ndarray:
    """Decode `count` codes z ~ N(0, temperature^2 I) into images in [0, 1] (the Bernoulli means).

    Raises:
        TypeError: for a temperature that is not a number.
        ValueError: for a negative or non-finite temperature.
    """
    count = validation.positive_int(count, "count")
    validation.positive_int(seed, "seed", minimum=0)
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise TypeError(f"temperature must be a number >= 0; received {validation.describe(temperature)}. Use e.g. 1.0.")
    if not math.isfinite(temperature) or temperature < 0:
        raise ValueError(
            f"temperature must be a finite number >= 0; received temperature={temperature!r}. It scales the prior's "
            "standard deviation: 1.0 samples the prior, below 1 gives more typical samples, 0 decodes z = 0."
        )
    z = np.random.default_rng(seed).standard_normal((count, model.latent_dim)).astype(np.float32) * temperature
    return _in_batches(model.decode, z).astype(np.float32)


def interpolate(model, image_a, image_b, steps: int = 8) -> np.ndarray:
    """Decode the straight line between two images' latent means: `steps` images from a to b."""
    steps = validation.positive_int(steps, "steps", minimum=2)
    images = []
    for argument, image in (("image_a", image_a), ("image_b", image_b)):
        image = np.asarray(image)
        if image.ndim == 4 and len(image) == 1:
            image = image[0]
        if image.ndim != 3:
            raise ValueError(
                f"{argument} must be one image (H, W, C) or a batch of one; received {validation.describe(image)}. "
                "Pick one image, e.g. images[0]."
            )
        images.append(image)
    pair = _model_images(model, np.stack(images), "image_a/image_b")
    means = encode(model, pair)
    weights = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    return np.asarray(model.decode((1.0 - weights) * means[0] + weights * means[1])).astype(np.float32)


def sample_kid(model, reference_images, count: int | None = None, seed: int = 0) -> float:
    """KID x 1000 between `count` samples and reference images, in the judge CNN's 128-d feature space.

    Introduced in lesson 04; reference images are held-out target data (the `digits` test split).
    `count` defaults to the profile's `kid_samples`.
    """
    from tgai import metrics

    count = config.profile().kid_samples if count is None else count
    generated = sample(model, count, seed)
    mean, _ = metrics.kid(metrics.judge_features(generated), metrics.judge_features(reference_images), subsets=50, subset_size=count, seed=seed)
    return 1000.0 * mean


# ---------------------------------------------------------------------------------------------------------
# The committed source VAE.


def pretrain(seed: int = 0) -> dict:
    """Train the source VAE on the glyphs train split and commit it to `data/` (`python -m tgai pretrain vae`).

    Introduced in lesson 04. Runs `profile().pretrain_vae_steps` steps at batch 64 and records the run time
    and the held-out -ELBO on the glyphs test split in the manifest.

    Returns:
        The manifest entry.
    """
    import tensorflow as tf

    steps = config.profile().pretrain_vae_steps
    images, _ = data.load("glyphs", "train", IMAGE_SIZE, 1, seed=seed)
    heldout, _ = data.load("glyphs", "test", IMAGE_SIZE, 1, limit=1000, seed=seed)
    digits, _ = data.load("digits", "test", IMAGE_SIZE, 1)
    keras.utils.set_random_seed(seed)
    model = compile_model(build(DEFAULT_LATENT_DIM, seed=seed), steps_per_execution=100)
    start = time.perf_counter()
    train(model, images, steps, PRETRAIN_BATCH_SIZE, seed, eval_every=100)
    seconds = time.perf_counter() - start
    glyph_score = negative_elbo(model, heldout, samples=5)
    digit_score = negative_elbo(model, digits, samples=5)
    file = save_weights(model, checkpoints.DATA_DIR / FILE_NAME)
    return checkpoints.record(
        CHECKPOINT_NAME,
        file,
        command="python -m tgai pretrain vae",
        trained_on=f"glyphs train split ({len(images)} images)",
        latent_dim=DEFAULT_LATENT_DIM,
        steps=steps,
        batch_size=PRETRAIN_BATCH_SIZE,
        seed=seed,
        seconds=round(seconds, 1),
        heldout_glyph_negative_elbo_nats=round(glyph_score["negative_elbo"], 2),
        zero_shot_digit_negative_elbo_nats=round(digit_score["negative_elbo"], 2),
        tensorflow=tf.__version__,
        keras=keras.__version__,
    )
