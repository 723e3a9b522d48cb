"""Latent diffusion in miniature: a frozen autoencoder, a small UNet denoiser on its latent, DDIM sampling.

Introduced in lesson 06. Stable Diffusion's design at the kit's scale (Rombach et al. 2022): an autoencoder,
trained once on the source domain and then frozen, maps a 32x32 image to an 8x8x4 latent (16 times fewer
positions than pixels), and a denoiser learns to remove Gaussian noise from such latents. Sampling starts from
pure noise and denoises it step by step with DDIM (Song et al. 2021); the decoder turns the result into an image.
Fine-tuning, as DreamBooth and LoRA do it, trains only the denoiser: the autoencoder is shared.

Two committed checkpoints (`python -m tgai pretrain autoencoder`, then `... pretrain diffusion`):
`autoencoder` (the encoder and decoder, trained on typeset digits and capitals, with `latent_scale`, the
standard deviation of its latents on the source digits) and `diffusion` (the denoiser, trained on the latents
of the typeset digits: the source). `LatentDiffusion.networks` is the denoiser alone: it is what transfers.

Usage notes:
    * The schedule is continuous (keras-io's DDIM example): at diffusion time t in [0, 1] a latent is
      `signal_rate * x + noise_rate * noise` with `signal_rate = cos(angle)`, `noise_rate = sin(angle)`, the
      angle running linearly from `acos(MAX_SIGNAL_RATE)` to `acos(MIN_SIGNAL_RATE)`, so that the two rates'
      squares always add to 1 (variance preserving).
    * The denoiser predicts the noise, and is told how much there is by the noise variance, embedded
      sinusoidally (`NoiseEmbedding`). Its normalisation is `GroupNormalization`, which needs no batch
      statistics: a sample does not depend on the other samples in its batch.
    * Randomness inside `train_step` (noise, times, prior batches) is drawn statelessly from `(seed, step,
      replica)`, so a resumed run repeats an uninterrupted one. Sampling draws its starting noise from `seed`
      alone, so models sampled with one seed start from the same noise (common random numbers).
    * Sampling and evaluation use the EMA denoiser, as the GAN uses its EMA generator.

References:
    Ho, Jain and Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020.
    Song, Meng and Ermon, "Denoising Diffusion Implicit Models", ICLR 2021 (DDIM).
    Rombach et al., "High-Resolution Image Synthesis with Latent Diffusion Models", CVPR 2022.
    Ruiz et al., "DreamBooth: Fine Tuning Text-to-Image Diffusion Models for Subject-Driven Generation",
        CVPR 2023 (prior preservation).
    keras-io `examples/generative/ddim.py` (the schedule, the embedding and the UNet's style).
"""

from __future__ import annotations

import math
import numbers

import keras
import numpy as np
import tensorflow as tf

from tgai import metrics, training
from tgai.core import checkpoints, config, keras_internals, seeds, validation
from tgai.models import lora, transfer

IMAGE_SHAPE = (32, 32, 1)
LATENT_CHANNELS = 4
AUTOENCODER_WIDTH = 32  # the autoencoder's first convolution; its deeper ones have twice as many channels
DENOISER_WIDTHS = (64, 128)  # the UNet's channels at the latent's 8x8 and at 4x4
EMBEDDING_DIMENSIONS = 32
MIN_SIGNAL_RATE = 0.02
MAX_SIGNAL_RATE = 0.95
SAMPLING_STEPS = 20
LEARNING_RATE = 1e-3  # training a denoiser from scratch (and pretraining the source)
# Lesson 06's rates, each the best of the same sweep at its budget (benchmarks/sweep.py, sweep_diffusion): full
# fine-tuning read 0.572 / 0.593 / 0.603 / 0.602 at 5e-4 / 1e-3 / 2e-3 / 4e-3, rank-4 adapters 0.460 / 0.505 /
# 0.517 / 0.520 at 2e-3 / 5e-3 / 1e-2 / 2e-2 (medians of 2 seeds): adapters train few weights and take larger steps.
FINE_TUNE_LEARNING_RATE = 2e-3
LORA_LEARNING_RATE = 2e-2
# The EMA's decay in lesson 06's runs of a few hundred steps (with its warm-up, the average stays short until
# step 900); pretraining uses PRETRAIN_EMA_DECAY.
EMA_DECAY = 0.99
PRETRAIN_EMA_DECAY = 0.999
AUTOENCODER = "autoencoder"  # the manifest name of the committed autoencoder
_GEOMETRY = {"min_side": 8, "multiple_of": 8, "why": "the autoencoder halves it twice and the UNet once more"}

# Lesson 06's budget: steps per run, evaluation interval, batch, seeds, and samples per evaluation. At 600 steps a
# run trains in about 22 s on a 2-core CPU, and fine-tuned samples are read at a balanced 0.58-0.67 over 20 seeds
# (seeds_diffusion; 0.49-0.54 at 300 steps on seeds 0-1).
config.register_settings(
    "lesson 06 (tgai.models.diffusion)",
    class_={
        "diffusion_steps": 600,
        "diffusion_eval_every": 200,
        "diffusion_batch_size": 32,
        "diffusion_seeds": 1,
        "diffusion_samples": 300,
    },
    full={
        "diffusion_steps": 1500,
        "diffusion_eval_every": 300,
        "diffusion_batch_size": 64,
        "diffusion_seeds": 3,
        "diffusion_samples": 1000,
    },
)


def _positive_ints(value, count: int, argument: str, example) -> tuple:
    if (
        not isinstance(value, tuple | list)
        or len(value) != count
        or not all(isinstance(item, numbers.Integral) and not isinstance(item, bool) and item > 0 for item in value)
    ):
        raise ValueError(
            f"{argument} must be {count} positive integers; received {argument}={value!r}. Use e.g. "
            f"{argument}={example!r}."
        )
    return tuple(int(item) for item in value)


def _convolution(width, name, seed, index, kernel_size=3, strides=1, activation=None):
    """A 'same' convolution whose initializer is seeded by `(seed, index)`; `index` is unique in the model."""
    initializer = keras.initializers.GlorotUniform(seed=seeds.derive(seed, "diffusion_init", index))
    return keras.layers.Conv2D(
        width,
        kernel_size,
        strides=strides,
        padding="same",
        activation=activation,
        kernel_initializer=initializer,
        name=name,
    )


def build_encoder(
    image_shape=IMAGE_SHAPE, latent_channels: int = LATENT_CHANNELS, width: int = AUTOENCODER_WIDTH, seed=0
):
    """Build the autoencoder's encoder: images in [0, 1] (N, H, W, C) -> latents (N, H/4, W/4, latent_channels).

    Two stride-2 convolutions halve the image twice; a 1x1 convolution makes the latent's channels. No
    sampling and no KL term: Stable Diffusion's KL weight is tiny, here an L2 pull on the latent during
    pretraining (`tgai.pretrain.pretrain_autoencoder`) keeps its scale in check.
    """
    image_shape = validation.image_shape(image_shape, **_GEOMETRY)
    latent_channels = validation.positive_int(latent_channels, "latent_channels")
    width = validation.positive_int(width, "width")
    images = keras.Input(image_shape, name="images")
    x = _convolution(width, "e_block1_conv", seed, 1, activation="swish")(images)
    x = _convolution(2 * width, "e_block2_down", seed, 2, strides=2, activation="swish")(x)
    x = _convolution(2 * width, "e_block2_conv", seed, 3, activation="swish")(x)
    x = _convolution(2 * width, "e_block3_down", seed, 4, strides=2, activation="swish")(x)
    x = _convolution(2 * width, "e_block3_conv", seed, 5, activation="swish")(x)
    latents = _convolution(latent_channels, "e_latent", seed, 6, kernel_size=1)(x)
    return keras.Model(images, latents, name="encoder")


def build_decoder(
    image_shape=IMAGE_SHAPE, latent_channels: int = LATENT_CHANNELS, width: int = AUTOENCODER_WIDTH, seed=0
):
    """Build the autoencoder's decoder: latents -> Bernoulli logits (N, H, W, C); `decode` applies the sigmoid.

    It mirrors the encoder, upsampling by resize-convolution (nearest-neighbour upsampling, then a convolution).
    """
    height, width_pixels, channels = validation.image_shape(image_shape, **_GEOMETRY)
    latent_channels = validation.positive_int(latent_channels, "latent_channels")
    width = validation.positive_int(width, "width")
    latents = keras.Input((height // 4, width_pixels // 4, latent_channels), name="latents")
    x = _convolution(2 * width, "d_block1_conv1", seed, 11, activation="swish")(latents)
    x = _convolution(2 * width, "d_block1_conv2", seed, 12, activation="swish")(x)
    x = keras.layers.UpSampling2D(name="d_block2_up")(x)
    x = _convolution(2 * width, "d_block2_conv", seed, 13, activation="swish")(x)
    x = keras.layers.UpSampling2D(name="d_block3_up")(x)
    x = _convolution(width, "d_block3_conv", seed, 14, activation="swish")(x)
    logits = _convolution(channels, "d_logits", seed, 15)(x)
    return keras.Model(latents, logits, name="decoder")


@keras.saving.register_keras_serializable(package="tgai")
class NoiseEmbedding(keras.layers.Layer):
    """Embed a noise variance (N, 1, 1, 1) as `dimensions` sines and cosines of log-spaced frequencies.

    Introduced in lesson 06, as in keras-io's DDIM example (frequencies from 1 to 1000): the transformer's
    position embedding applied to the noise level, so that the denoiser can tell small noise from large.
    """

    def __init__(self, dimensions: int = EMBEDDING_DIMENSIONS, **kwargs):
        super().__init__(**kwargs)
        self.dimensions = int(dimensions)

    def call(self, variances):
        frequencies = keras.ops.exp(keras.ops.linspace(0.0, math.log(1000.0), self.dimensions // 2))
        angles = 2.0 * math.pi * frequencies * keras.ops.cast(variances, "float32")
        return keras.ops.concatenate([keras.ops.sin(angles), keras.ops.cos(angles)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.dimensions)

    def get_config(self):
        return {**super().get_config(), "dimensions": self.dimensions}


def _residual_block(x, width, name, seed, index):
    """GroupNorm, 3x3 conv (swish), 3x3 conv, plus the input (through a 1x1 conv when the width changes)."""
    residual = x if x.shape[-1] == width else _convolution(width, f"{name}_skip", seed, index, kernel_size=1)(x)
    x = keras.layers.GroupNormalization(groups=8, name=f"{name}_norm")(x)
    x = _convolution(width, f"{name}_conv1", seed, index + 1, activation="swish")(x)
    x = _convolution(width, f"{name}_conv2", seed, index + 2)(x)
    return keras.layers.Add(name=f"{name}_add")([x, residual])


def build_denoiser(latent_shape=(8, 8, LATENT_CHANNELS), widths=DENOISER_WIDTHS, seed: int = 0):
    """Build the UNet: `[noisy latents (N, h, w, c), noise variances (N, 1, 1, 1)]` -> predicted noise (N, h, w, c).

    keras-io's DDIM UNet in miniature: the noise variance is embedded (`NoiseEmbedding`), spread over the
    latent and concatenated to it; a residual block at the latent's resolution on the way down, two at half of it,
    one at full resolution on the way up; a skip connection carries the first block's output past the bottleneck
    to the last. The last convolution starts at zero, so a
    fresh denoiser predicts no noise.
    """
    latent_shape = _positive_ints(latent_shape, 3, "latent_shape", (8, 8, LATENT_CHANNELS))
    widths = _positive_ints(widths, 2, "widths", DENOISER_WIDTHS)
    if any(width % 8 for width in widths):
        raise ValueError(
            f"widths must be multiples of 8 (group normalisation splits channels into 8 groups); received "
            f"widths={widths!r}. Use e.g. widths={DENOISER_WIDTHS!r}."
        )
    if latent_shape[0] % 2 or latent_shape[1] % 2:
        raise ValueError(f"latent_shape must have even height and width; received latent_shape={latent_shape}.")
    noisy = keras.Input(latent_shape, name="noisy_latents")
    variances = keras.Input((1, 1, 1), name="noise_variances")
    embedding = NoiseEmbedding(name="embedding")(variances)
    embedding = keras.layers.UpSampling2D(latent_shape[:2], name="embedding_spread")(embedding)
    x = _convolution(widths[0], "input_conv", seed, 50, kernel_size=1)(noisy)
    x = keras.layers.Concatenate(name="input_concat")([x, embedding])
    skip = _residual_block(x, widths[0], "down", seed, 60)
    x = keras.layers.AveragePooling2D(2, name="down_pool")(skip)
    x = _residual_block(x, widths[1], "middle1", seed, 70)
    x = _residual_block(x, widths[1], "middle2", seed, 80)
    x = keras.layers.UpSampling2D(interpolation="bilinear", name="up_upsample")(x)
    x = keras.layers.Concatenate(name="up_concat")([x, skip])
    x = _residual_block(x, widths[0], "up", seed, 90)
    noise = keras.layers.Conv2D(latent_shape[-1], 1, kernel_initializer="zeros", name="output_conv")(x)
    return keras.Model([noisy, variances], noise, name="denoiser")


def diffusion_schedule(times):
    """The signal and noise rates at diffusion times in [0, 1]: `(cos(angle), sin(angle))`.

    Introduced in lesson 06. The angle runs linearly from `acos(MAX_SIGNAL_RATE)` at t = 0 to
    `acos(MIN_SIGNAL_RATE)` at t = 1: a cosine schedule. The rates' squares add to 1 at every t.
    """
    start, end = math.acos(MAX_SIGNAL_RATE), math.acos(MIN_SIGNAL_RATE)
    angles = start + keras.ops.cast(times, "float32") * (end - start)
    return keras.ops.cos(angles), keras.ops.sin(angles)


class LatentDiffusion(transfer.OneOptimizerCompileConfig, keras.Model):
    """A latent diffusion model whose `train_step` teaches the denoiser to predict the noise added to latents.

    Introduced in lesson 06. The encoder and decoder are frozen (the shared first stage); the denoiser trains,
    and an EMA copy of it samples. With `prior_weight` > 0, every step also denoises a batch of latents sampled
    from the model as it was when compiled (the source, for fine-tuning): DreamBooth's prior preservation.

    Args:
        encoder, decoder: The autoencoder (`build_encoder`, `build_decoder`), kept frozen.
        denoiser: The UNet (`build_denoiser`).
        latent_scale: The standard deviation of the encoder's latents on the source: latents are divided by it,
            so that the data the denoiser sees has unit variance, as the schedule assumes.
        ema_decay: Decay of the denoiser's exponential moving average.
        ema_warmup: If True, the decay ramps up as `min(ema_decay, (1 + step) / (10 + step))`, so that a fresh
            denoiser's random start fades fast.
        prior_weight: Weight of the prior-preservation loss (DreamBooth's lambda; 0 turns it off).
        prior_samples: How many source latents to sample, at `compile`, for prior preservation.
        autoencoder: `"committed"` (the committed autoencoder, loaded by `from_config`) or `"fresh"` (seeded
            random weights: for tests of other shapes); recorded so that `from_config` rebuilds the same kind.
        seed: Seeds the noise, times and prior batches drawn inside `train_step`.
    """

    CHECKPOINT = "diffusion"
    STRATEGIES = {
        "full": transfer.Strategy("full", "source denoiser, all of it trained (autoencoder frozen)"),
        "scratch": transfer.Strategy(
            "scratch", "fresh denoiser, all of it trained (the same frozen autoencoder)", from_source=False
        ),
    }

    def __init__(
        self,
        encoder,
        decoder,
        denoiser,
        latent_scale: float = 1.0,
        ema_decay: float = EMA_DECAY,
        ema_warmup: bool = True,
        prior_weight: float = 0.0,
        prior_samples: int = 256,
        autoencoder: str = "committed",
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for argument, network in (("encoder", encoder), ("decoder", decoder), ("denoiser", denoiser)):
            if not isinstance(network, keras.Model):
                raise TypeError(
                    f"{argument} must be a keras.Model from tgai.models.diffusion.build_{argument}; received "
                    f"{validation.describe(network)}."
                )
        if tuple(encoder.outputs[0].shape[1:]) != tuple(denoiser.inputs[0].shape[1:]):
            raise ValueError(
                f"the encoder's latents {tuple(encoder.outputs[0].shape[1:])} and the denoiser's input "
                f"{tuple(denoiser.inputs[0].shape[1:])} differ. Build the denoiser with latent_shape equal to the "
                f"encoder's output shape."
            )
        self.latent_scale = validation.positive_number(latent_scale, "latent_scale", "the autoencoder's (manifest)")
        if isinstance(ema_decay, bool) or not isinstance(ema_decay, numbers.Real) or not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"ema_decay must be a number in [0, 1); received ema_decay={ema_decay!r}. Use e.g. 0.999.")
        if not isinstance(ema_warmup, bool):
            raise TypeError(f"ema_warmup must be True or False; received {validation.describe(ema_warmup)}.")
        if isinstance(prior_weight, bool) or not isinstance(prior_weight, numbers.Real) or not prior_weight >= 0:
            raise ValueError(
                f"prior_weight must be a number >= 0; received prior_weight={prior_weight!r}. Use e.g. 1.0 "
                f"(DreamBooth's), or 0 for no prior preservation."
            )
        self.autoencoder = validation.choice(autoencoder, "autoencoder", ("committed", "fresh"))
        self.encoder, self.decoder, self.denoiser = encoder, decoder, denoiser
        self.encoder.trainable = False
        self.decoder.trainable = False
        self.image_shape = tuple(encoder.inputs[0].shape[1:])
        self.latent_shape = tuple(encoder.outputs[0].shape[1:])
        self.widths = (
            int(denoiser.get_layer("down_conv1").filters),
            int(denoiser.get_layer("middle1_conv1").filters),
        )
        self.ema_decay, self.ema_warmup = float(ema_decay), ema_warmup
        self.prior_weight = float(prior_weight)
        self.prior_samples = validation.positive_int(prior_samples, "prior_samples")
        # Prior preservation's batch source: latents sampled from the starting denoiser by `compile`.
        self.prior_latents = (
            keras.Variable(
                np.zeros((self.prior_samples, *self.latent_shape), np.float32), trainable=False, name="prior"
            )
            if self.prior_weight > 0
            else None
        )
        self.seed_variable = keras.Variable(
            validation.positive_int(seed, "seed", minimum=0), dtype="int64", trainable=False, name="seed"
        )
        self.ema_denoiser = transfer.copy_network(denoiser)
        self.ema_denoiser.trainable = False
        terms = ("loss", "noise_loss") + (("prior_loss",) if self.prior_weight > 0 else ())
        self.trackers = [keras.metrics.Mean(name=name) for name in terms]
        self.built = True

    def get_config(self) -> dict:
        """The architecture and options (Keras' config): `from_config` builds a model like this one, fresh denoiser."""
        return {
            "image_shape": self.image_shape,
            "latent_channels": self.latent_shape[-1],
            "autoencoder_width": int(self.encoder.get_layer("e_block1_conv").filters),
            "widths": self.widths,
            "latent_scale": self.latent_scale,
            "ema_decay": self.ema_decay,
            "ema_warmup": self.ema_warmup,
            "prior_weight": self.prior_weight,
            "prior_samples": self.prior_samples,
            "autoencoder": self.autoencoder,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config: dict):
        """Build a model with a fresh denoiser drawn from `config["seed"]`; missing keys take the defaults.

        Keys: `image_shape`, `latent_channels`, `autoencoder_width`, `widths` (the denoiser's), `seed`, and the
        class's options. With `autoencoder="committed"` (the default) the frozen autoencoder is the committed
        one and `latent_scale` defaults to its manifest's; with `"fresh"` it is drawn from the seed.
        """
        options = dict(config)
        seed = options.pop("seed", 0)
        image_shape = options.pop("image_shape", IMAGE_SHAPE)
        latent_channels = options.pop("latent_channels", LATENT_CHANNELS)
        width = options.pop("autoencoder_width", AUTOENCODER_WIDTH)
        widths = options.pop("widths", DENOISER_WIDTHS)
        autoencoder = options.get("autoencoder", "committed")
        encoder = build_encoder(image_shape, latent_channels, width, seed)
        decoder = build_decoder(image_shape, latent_channels, width, seed)
        if autoencoder == "committed":
            checkpoints.load(
                {"encoder": encoder, "decoder": decoder},
                checkpoints.path(AUTOENCODER),
                fix="run `python -m tgai pretrain autoencoder`",
            )
            options.setdefault("latent_scale", committed_latent_scale())
        denoiser = build_denoiser(tuple(encoder.outputs[0].shape[1:]), widths, seed)
        return cls(encoder, decoder, denoiser, seed=seed, **options)

    @property
    def seed(self) -> int:
        """The seed of the current run (a variable, so that `tgai.models.transfer.restart` can change it)."""
        return int(self.seed_variable.numpy())

    @property
    def networks(self) -> dict:
        return {"denoiser": self.denoiser}

    @property
    def optimizers(self) -> list:
        return [self.optimizer]

    @property
    def metrics(self):
        return self.trackers

    @property
    def divergence_hint(self) -> str:
        """The likely causes of non-finite losses, quoted by `tgai.training.NaNGuard`."""
        return (
            "check that the images lie in [0, 1] (the encoder expects them so), and lower the learning rate "
            f"(now {float(np.asarray(self.optimizer.learning_rate)):.2g}; e.g. 3e-4)."
        )

    def compile(self, optimizer=None, learning_rate: float = LEARNING_RATE, jit_compile="auto", **kwargs):
        """Set the optimizer (default AdamW, weight decay 1e-4, keras-io's), start the EMA, sample the prior.

        Call after starting and freezing: the EMA starts from the denoiser as it is now, and with
        `prior_weight` > 0 the prior latents are sampled from it (seeded by the model's seed).
        """
        use_xla = training.resolve_jit_compile(self, jit_compile)
        if optimizer is None:
            rate = validation.positive_number(learning_rate, "learning_rate", "1e-3")
            optimizer = keras.optimizers.AdamW(rate, weight_decay=1e-4)
        super().compile(optimizer=optimizer, jit_compile=False, **kwargs)
        keras_internals.force_jit_compile(self, use_xla)
        self.optimizer.build(self.trainable_variables)
        self.ema_denoiser.set_weights(self.denoiser.get_weights())
        if self.prior_weight > 0:
            noise = initial_noise(self.prior_samples, seeds.derive(self.seed, "prior_samples"), self.latent_shape)
            self.prior_latents.assign(self.denoise(noise, SAMPLING_STEPS))

    def encode(self, images):
        """Images in [0, 1] -> latents of unit scale (the frozen encoder's output / `latent_scale`)."""
        return self.encoder(images, training=False) / self.latent_scale

    def decode(self, latents):
        """Latents of unit scale -> images in [0, 1] (the frozen decoder's Bernoulli means)."""
        return keras.ops.sigmoid(self.decoder(latents * self.latent_scale, training=False))

    def call(self, images, training=False):
        """Encode and decode `images` (the autoencoder's reconstruction)."""
        return self.decode(self.encode(images))

    def train_step(self, images):
        """One step: encode the batch, noise it to random times, and teach the denoiser to predict that noise."""
        losses = {}
        with tf.GradientTape() as tape:
            losses["noise_loss"] = self.noise_prediction_loss(self.encode(images), draw=0)
            losses["loss"] = losses["noise_loss"]
            if self.prior_weight > 0:  # DreamBooth: keep denoising what the source generated
                batch = tf.shape(images)[0]
                rows = tf.random.stateless_uniform([batch], self.step_seed(2), 0, self.prior_samples, dtype=tf.int32)
                losses["prior_loss"] = self.noise_prediction_loss(tf.gather(self.prior_latents, rows), draw=3)
                losses["loss"] = losses["loss"] + self.prior_weight * losses["prior_loss"]
            # Each replica's share of the batch mean: the optimizer sums the replicas' gradients.
            scaled_loss = losses["loss"] / tf.distribute.get_strategy().num_replicas_in_sync
        gradients = tape.gradient(scaled_loss, self.denoiser.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.denoiser.trainable_weights, strict=True))
        self.update_ema()
        for tracker in self.metrics:
            tracker.update_state(losses[tracker.name])
        return {tracker.name: tracker.result() for tracker in self.metrics}

    def noise_prediction_loss(self, latents, draw: int):
        """Noise `latents` to uniform random times; the mean squared error of the denoiser's noise prediction."""
        noise = tf.random.stateless_normal(tf.shape(latents), seed=self.step_seed(draw))
        times = tf.random.stateless_uniform([tf.shape(latents)[0], 1, 1, 1], seed=self.step_seed(draw + 10))
        signal_rates, noise_rates = diffusion_schedule(times)
        noisy = signal_rates * latents + noise_rates * noise
        predicted = self.denoiser([noisy, noise_rates**2], training=True)
        return keras.ops.mean(keras.ops.square(predicted - noise))

    # The plumbing `train_step` calls: stateless randomness, tf.distribute and the EMA.

    def step_seed(self, index):
        """A stateless seed for random draw `index` of this step, from (seed, step, replica, index)."""
        context = tf.distribute.get_replica_context()
        replica = tf.cast(context.replica_id_in_sync_group if context is not None else 0, tf.int64)
        key = tf.stack([tf.cast(self.seed_variable, tf.int64), tf.cast(self.optimizer.iterations, tf.int64)])
        return tf.random.experimental.stateless_fold_in(tf.random.experimental.stateless_fold_in(key, replica), index)

    def update_ema(self):
        """Move the EMA denoiser towards the denoiser, once per step (in cross-replica context under replicas)."""
        step = tf.cast(self.optimizer.iterations, tf.float32)
        decay = tf.minimum(self.ema_decay, (1.0 + step) / (10.0 + step)) if self.ema_warmup else self.ema_decay
        pairs = list(zip(self.ema_denoiser.weights, self.denoiser.weights, strict=True))
        tf.distribute.get_replica_context().merge_call(
            lambda _: [average.assign(decay * average + (1.0 - decay) * weight) for average, weight in pairs]
        )

    def denoise(self, noise, steps: int = SAMPLING_STEPS, ema: bool = True, trajectory: bool = False):
        """Run DDIM from pure-noise latents to clean latents in `steps` steps: the sampler's loop.

        Introduced in lesson 06. Time runs from 1 (all noise) down to 0 in equal steps; `ddim_step` does one.
        With `trajectory`, also returns the clean latents predicted at every step.
        """
        steps = validation.positive_int(steps, "steps")
        step = self._compiled_step(self.ema_denoiser if ema else self.denoiser)
        latents, predictions = tf.convert_to_tensor(noise, tf.float32), []
        for index in range(steps):
            latents, clean = step(latents, tf.constant(1.0 - index / steps), tf.constant(1.0 / steps))
            predictions.append(clean)
        return (clean, predictions) if trajectory else clean

    def _compiled_step(self, denoiser):
        """`ddim_step` for one denoiser, traced once (a TensorFlow graph per denoiser, reused by every call)."""
        cache = self.__dict__.setdefault("_ddim_steps", {})
        if id(denoiser) not in cache:
            cache[id(denoiser)] = tf.function(
                lambda latents, time, step_size: ddim_step(denoiser, latents, time, step_size), reduce_retracing=True
            )
        return cache[id(denoiser)]

    def sample(self, count: int, seed: int = 0, steps: int = SAMPLING_STEPS, ema: bool = True) -> np.ndarray:
        """Draw `count` images in [0, 1]: seeded noise, `steps` DDIM steps with the (EMA) denoiser, decoded."""
        count = validation.positive_int(count, "count")
        noise = initial_noise(count, validation.positive_int(seed, "seed", minimum=0), self.latent_shape)
        return _in_batches(lambda batch: self.decode(self.denoise(batch, steps, ema)), noise)


STRATEGIES = tuple(LatentDiffusion.STRATEGIES)


def ddim_step(denoiser, latents, time, step_size):
    """One deterministic DDIM step from diffusion time `time` to `time - step_size`.

    Introduced in lesson 06. The denoiser predicts the noise in `latents`; the clean latent that implies is
    `(latents - noise_rate * noise) / signal_rate`; the next latent mixes the two at the next time's rates
    (Song et al. 2021, with no fresh noise: the same start always gives the same sample).

    Returns:
        `(next latents, predicted clean latents)`.
    """
    latents = tf.convert_to_tensor(latents, tf.float32)
    times = tf.fill([tf.shape(latents)[0], 1, 1, 1], tf.cast(time, tf.float32))
    signal_rates, noise_rates = diffusion_schedule(times)
    predicted_noise = denoiser([latents, noise_rates**2], training=False)
    clean = (latents - noise_rates * predicted_noise) / signal_rates
    next_signal_rates, next_noise_rates = diffusion_schedule(times - step_size)
    return next_signal_rates * clean + next_noise_rates * predicted_noise, clean


def initial_noise(count: int, seed: int, latent_shape) -> np.ndarray:
    """Standard-normal starting latents from `seed` alone (NumPy): every model sampled with a seed starts alike."""
    return np.random.default_rng(seed).standard_normal((count, *latent_shape)).astype(np.float32)


def _in_batches(function, inputs, batch_size=500):
    return np.concatenate(
        [np.asarray(function(inputs[start : start + batch_size])) for start in range(0, len(inputs), batch_size)]
    ).astype(np.float32)


def committed_latent_scale() -> float:
    """The committed autoencoder's latent scale, as its manifest entry records it."""
    entry = checkpoints.manifest().get(AUTOENCODER)
    if entry is None:
        raise FileNotFoundError("the manifest has no autoencoder; run `python -m tgai pretrain autoencoder`.")
    return float(entry["latent_scale"])


def source_architecture() -> dict:
    """The denoiser widths of the committed source, as its manifest entry records them."""
    entry = checkpoints.manifest().get(LatentDiffusion.CHECKPOINT, {})
    return {"widths": tuple(entry.get("widths", DENOISER_WIDTHS))}


def load_source(seed: int = 0, checkpoint: str | None = None, **options) -> LatentDiffusion:
    """Return an uncompiled model holding the committed source denoiser (and autoencoder), sha256 checked.

    Introduced in lesson 06. Its EMA denoiser starts from the source, so `load_source().sample(...)` draws
    from the source. `options` go to `LatentDiffusion.from_config`.
    """
    source = transfer.load_source(
        LatentDiffusion, seed=seed, checkpoint=checkpoint, **{**source_architecture(), **options}
    )
    source.ema_denoiser.set_weights(source.denoiser.get_weights())
    return source


def make(strategy: str, source=None, seed: int = 0, learning_rate: float = FINE_TUNE_LEARNING_RATE, **options):
    """Build, start (`source`, or None for the committed one), freeze and compile a model for a strategy.

    Introduced in lesson 06. `options` go to `LatentDiffusion.from_config` (`ema_decay`, `prior_weight`, ...).
    Returns `(model, report)`, the report a `tgai.models.transfer.ParameterReport`.
    """
    validation.choice(strategy, "strategy", LatentDiffusion.STRATEGIES)
    architecture = {"widths": source.widths} if source is not None else source_architecture()
    model = LatentDiffusion.from_config({**architecture, **options, "seed": seed})
    report = transfer.prepare(model, strategy, source=source)
    model.compile(learning_rate=learning_rate)
    return model, report


def make_lora(rank: int, source=None, seed: int = 0, learning_rate: float = LORA_LEARNING_RATE, alpha=None, **options):
    """Build and compile a model whose denoiser trains rank-`rank` adapters on its convolutions only.

    Introduced in lesson 06: LoRA as it is used on Stable Diffusion, on the denoiser (`tgai.models.lora`).
    `options` go to `LatentDiffusion` (`ema_decay`, `prior_weight`, ...).
    """
    source = transfer.checked_source(load_source(seed) if source is None else source, LatentDiffusion)
    denoiser = lora.adaptable(source.ema_denoiser)
    lora.enable(denoiser, rank, alpha, seed=validation.positive_int(seed, "seed", minimum=0))
    model = LatentDiffusion(
        transfer.copy_network(source.encoder),
        transfer.copy_network(source.decoder),
        denoiser,
        latent_scale=source.latent_scale,
        autoencoder=source.autoencoder,
        seed=seed,
        **options,
    )
    model.compile(learning_rate=learning_rate)
    return model


def prepare_images(images) -> np.ndarray:
    """The images `train` takes, from float32 images in [0, 1]: the same images (the encoder takes [0, 1])."""
    return validation.images(images)


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
    """Train a compiled model's denoiser on images in [0, 1] with `tgai.training.fit`, in chunks of `eval_every`.

    Introduced in lesson 06. Returns the Keras `History` of `fit`: `loss` and `noise_loss` (and `prior_loss`
    with prior preservation), one mean per chunk. For curves along training pass a
    `tgai.training.PeriodicEvaluation(sample_evaluation(...), eval_every)`.
    """
    return training.fit(
        model, images, steps, batch_size, seed=seed, chunk=eval_every, callbacks=list(callbacks), backup_dir=backup_dir
    )


def sample_evaluation(heldout_images, samples: int, steps: int = SAMPLING_STEPS):
    """Return `evaluate(model, seed) -> {"kid", "recognisable", "classes", "balanced", "glyph_balanced"}`.

    Introduced in lesson 06, for `tgai.training.PeriodicEvaluation` and `tgai.experiments`: KID x 1000 between
    `samples` EMA samples and as many held-out images in the judge's feature space, how the handwriting judge
    reads the samples (`tgai.metrics.recognisability`), and how the glyph judge reads them (`glyph_balanced`:
    the source domain, for forgetting). Every evaluation with one seed starts from the same noise.
    """
    samples = validation.positive_int(samples, "samples", minimum=2)
    heldout_images = validation.images(heldout_images, "heldout_images")
    if len(heldout_images) < samples:
        raise ValueError(
            f"samples={samples} exceeds the {len(heldout_images)} held-out images; use samples <= "
            f"{len(heldout_images)}."
        )
    reference = metrics.judge_features(heldout_images[:samples])

    def evaluate(model, seed=0):
        generated = model.sample(samples, seeds.derive(seed, "evaluation_samples"), steps)
        judged = metrics.recognisability(generated)
        return {
            "kid": metrics.kid_x1000(generated, reference, subsets=20, seed=seed),
            "recognisable": judged.fraction,
            "classes": judged.classes,
            "balanced": judged.balanced,
            "glyph_balanced": metrics.recognisability(generated, judge_name="glyph_judge").balanced,
        }

    return evaluate
