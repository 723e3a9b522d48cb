"""Maintainer code: regenerate the committed judges and source models (`python -m tgai pretrain NAME`).

Not part of any lesson: learners use the committed files under `data/`. Each function trains one model with
the active profile's settings, saves it in the kit's one weight format (`tgai.core.checkpoints.save`), and
records its sha256 and provenance (data, steps, seed, seconds, a quality number, versions) in
`data/manifest.json`, which also rewrites the table in `data/README.md`.
"""

from __future__ import annotations

import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from tgai import data, judge, metrics, training
from tgai.core import checkpoints, config, seeds
from tgai.models import diffusion, gan, transfer, vae

BATCH_SIZE = 64
IMAGE_SIZE = 32

config.register_settings(
    "pretrain",
    full={
        "pretrain_gan_steps": 9000,
        "pretrain_vae_steps": 5000,
        "judge_epochs": 20,
        "pretrain_autoencoder_steps": 3000,
        "pretrain_diffusion_steps": 20000,
    },
    class_={
        "pretrain_gan_steps": 9000,
        "pretrain_vae_steps": 1500,
        "judge_epochs": 8,
        "pretrain_autoencoder_steps": 3000,
        "pretrain_diffusion_steps": 20000,
    },
)


def _versions() -> dict:
    return {"tensorflow": tf.__version__, "keras": keras.__version__}


def train_judge(epochs: int, seed: int = 0, name: str = "judge"):
    """Train a judge on its training data (`tgai.judge.JUDGES`), with small shifts and rotations as augmentation.

    Returns:
        `(model, accuracy)`: the trained model and its accuracy on its dataset's test split (for the
        handwriting judge, `mnist_5k`'s test split: the held-out reference every comparison uses), which it
        never saw.
    """
    dataset, split = judge.JUDGES[name]
    images, labels = data.load(dataset, split, IMAGE_SIZE, 1)
    check_images, check_labels = data.load(dataset, "test", IMAGE_SIZE, 1)
    keras.utils.set_random_seed(seed)
    augment = keras.Sequential(
        [
            keras.layers.RandomTranslation(0.08, 0.08, seed=seeds.derive(seed, "judge_augmentation", 0)),
            keras.layers.RandomRotation(0.04, seed=seeds.derive(seed, "judge_augmentation", 1)),
        ]
    )
    model = judge.build(seed)
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1))
    trainer = keras.Model(inputs, model(augment(inputs)))
    trainer.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    trainer.fit(images, labels, batch_size=64, epochs=epochs, verbose=0, shuffle=True)
    predictions = np.argmax(model.predict(check_images, verbose=0), axis=1)
    return model, float(np.mean(predictions == check_labels))


def pretrain_judge(seed: int = 0, name: str = "judge") -> dict:
    """Train a judge and commit it to `data/NAME.weights.h5` (`python -m tgai pretrain judge`, or `glyph_judge`)."""
    epochs = config.profile().judge_epochs
    dataset, split = judge.JUDGES[name]
    start = time.perf_counter()
    model, accuracy = train_judge(epochs, seed, name)
    seconds = time.perf_counter() - start
    file = checkpoints.save({"judge": model}, checkpoints.data_dir() / f"{name}.weights.h5")
    judge.clear_caches()
    return checkpoints.record(
        name,
        file,
        command=f"python -m tgai pretrain {name}",
        trained_on=f"{dataset} {split} split ({len(data.load(dataset, split)[1])} images)",
        epochs=epochs,
        seed=seed,
        seconds=round(seconds, 1),
        **{f"accuracy_on_{dataset}_test": round(accuracy, 4)},
        **_versions(),
    )


def pretrain_gan(seed: int = 0, snapshot_dir=None) -> dict:
    """Train the source GAN on the `glyphs` train split and commit it (`python -m tgai pretrain gan`).

    Saves the EMA generator (as `generator`) and the discriminator (fine-tuning starts both from the
    source) in `data/gan.weights.h5`. With `snapshot_dir`, the two networks are also saved there every
    `SNAPSHOT_EVERY` steps, for measuring how fine-tuning depends on the pretraining length.

    The recipe, measured at 2,000 pretraining steps (batch 64, seed 0) by the glyph judge's balanced
    recognisability of 1,000 source samples, and by lesson 03's fine-tuning (250 steps on 100 digits, the
    handwriting judge's balanced recognisability):

    | generator, discriminator | source (glyph judge) | fine-tuned |
    | --- | --- | --- |
    | transposed conv, width 128 (the previous source) | 0.65 | 0.35 |
    | resize-conv, width 128 | 0.56 | 0.31 |
    | resize-conv, width 256 | 0.61 | 0.38 |
    | resize-conv, width 256, two convs per block | collapsed to 2 digits | 0.04 |
    | resize-conv, width 256, spectral norm in D | 0.74 | 0.44 |
    | resize-conv, width 256, minibatch std in D | 0.70 | 0.45 |
    | resize-conv, width 256, batch 128 | 0.50 | 0.31 |

    Spectral normalization and minibatch standard deviation each helped, depth and a larger batch did not,
    and width 256 cost 3.4x the time per step of the old source. The source uses both discriminator levers
    and width 192 (`GENERATOR_WIDTH`), which keeps lesson 03's runs within its budget (about 22 s for 250
    steps at batch 32, like the old source's). An R1 penalty was not measured: the pilot's implementation
    failed, and spectral normalization already regularises the discriminator.

    Pretraining length, this recipe (snapshots of one run; fine-tuning seed 0 as above):

    | pretraining steps | source (glyph judge) | fine-tuned |
    | --- | --- | --- |
    | 1,500 | 0.70 | 0.44 |
    | 4,500 | 0.85 | 0.56 |
    | 9,000 (committed; 1,522 s on 2 cores) | 0.87 | 0.59 |
    """
    steps = config.profile().pretrain_gan_steps
    images, _ = data.load("glyphs", "train", IMAGE_SIZE, 1, seed=seed)
    model = gan.GAN.from_config({"seed": seed, "ema_decay": 0.999})
    model.compile()
    chunk = min(SNAPSHOT_EVERY, steps) if steps % min(SNAPSHOT_EVERY, steps) == 0 else steps
    callbacks = [] if snapshot_dir is None else [_Snapshots(model, snapshot_dir)]
    start = time.perf_counter()
    training.fit(model, images, steps, BATCH_SIZE, seed=seed, chunk=chunk, callbacks=callbacks)
    seconds = time.perf_counter() - start
    networks = {"generator": model.ema_generator, "discriminator": model.discriminator}
    file = checkpoints.save(networks, checkpoints.data_dir() / "gan.weights.h5", latent_dim=model.latent_dim)
    return checkpoints.record(
        "gan",
        file,
        command="python -m tgai pretrain gan",
        trained_on=f"glyphs train split ({len(images)} images)",
        steps=steps,
        batch_size=BATCH_SIZE,
        seed=seed,
        seconds=round(seconds, 1),
        architecture=model.get_config(),
        note="generator: the EMA generator (decay 0.999); discriminator: at the last step",
        **gan_quality(model.ema_generator, seed),
        **_versions(),
    )


SNAPSHOT_EVERY = 1500


class _Snapshots(keras.callbacks.Callback):
    """Save the EMA generator and the discriminator after every `fit` chunk (`pretrain_gan`'s `snapshot_dir`)."""

    def __init__(self, model, folder):
        super().__init__()
        self.gan, self.folder, self.chunks = model, pathlib.Path(folder), 0

    def on_epoch_end(self, epoch, logs=None):
        self.chunks += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        networks = {"generator": self.gan.ema_generator, "discriminator": self.gan.discriminator}
        step = int(self.gan.g_optimizer.iterations.numpy())
        checkpoints.save(networks, self.folder / f"gan_step{step}.weights.h5", latent_dim=self.gan.latent_dim)


def gan_quality(generator, seed: int = 0) -> dict:
    """KID x 1000 of a generator's samples against held-out glyphs and held-out digits, in the judge's space,
    and how the glyph judge reads them (the source on its own domain: recognisable, digits covered, balanced).

    Recorded with the sha256 of the judge that measured them, so that a retrained judge shows which entries
    are stale (`tests/test_repository.py` checks it; `python -m tgai pretrain gan --measure` re-measures).
    """
    glyph_test, _ = data.load("glyphs", "test", IMAGE_SIZE, 1, seed=seed)
    target_test, _ = data.load("mnist_5k", "test", IMAGE_SIZE, 1)
    count = min(1000, len(glyph_test), len(target_test))
    samples = gan.sample(generator, count, seed=seeds.derive(seed, "evaluation_samples"))
    own = metrics.recognisability(samples, judge_name="glyph_judge")  # the source on its own domain
    return {
        "glyph_judge_recognisable": round(own.fraction, 3),
        "glyph_judge_digits_covered": own.classes,
        "glyph_judge_balanced": round(own.balanced, 3),
        "glyph_judge_sha256": checkpoints.manifest()["glyph_judge"]["sha256"],
        "kid_x1000_vs_glyphs_test_judge": round(
            metrics.kid_x1000(samples, metrics.judge_features(glyph_test[:count])), 2
        ),
        "kid_x1000_vs_mnist_5k_test_judge": round(
            metrics.kid_x1000(samples, metrics.judge_features(target_test[:count])), 2
        ),
        "judge_sha256": checkpoints.manifest()["judge"]["sha256"],
    }


def measure_gan() -> dict:
    """Re-measure the committed source GAN with today's judge and update its manifest entry (no retraining).

    The evaluation draws are seeded with the seed the entry records, the one the source was trained and first
    measured with.
    """
    entry = checkpoints.manifest()["gan"]
    source = gan.load_source(seed=entry["seed"])
    provenance = {key: value for key, value in entry.items() if key not in {"file", "sha256", "bytes"}}
    provenance.pop("kid_x1000_vs_digits_test_judge", None)  # named after the judge's first training set
    return checkpoints.record(
        "gan", checkpoints.path("gan"), **{**provenance, **gan_quality(source.generator, entry["seed"])}
    )


def pretrain_vae(seed: int = 0, checkpoint: str = "vae") -> dict:
    """Train a source VAE on binarised glyphs and commit it (`python -m tgai pretrain vae`, or `vae_letters`).

    `checkpoint` picks the source and its data (`tgai.models.vae.SOURCES`): `vae` learns the typeset digits
    (`glyphs`), `vae_letters` the typeset capitals (`glyph_letters`). Runs `profile().pretrain_vae_steps`
    steps at batch 64 on the train split binarised at 0.5, and records the run time and the held-out -ELBO
    on the glyph set's test split and, zero-shot, on mnist_5k's test split (both binarised).
    """
    dataset = vae.SOURCES[checkpoint]
    steps = config.profile().pretrain_vae_steps
    images = vae.binarize(data.load(dataset, "train", IMAGE_SIZE, 1, seed=seed)[0])
    heldout = vae.binarize(data.load(dataset, "test", IMAGE_SIZE, 1, limit=1000, seed=seed)[0])
    target = vae.binarize(data.load("mnist_5k", "test", IMAGE_SIZE, 1)[0])
    keras.utils.set_random_seed(seed)
    model = vae.VAE.from_config({"seed": seed, "latent_dim": vae.LATENT_DIM, "widths": vae.WIDTHS})
    transfer.prepare(model, "scratch")
    model.compile(learning_rate=vae.LEARNING_RATE, steps_per_execution=100)
    start = time.perf_counter()
    vae.train(model, images, steps, BATCH_SIZE, seed, eval_every=100)
    seconds = time.perf_counter() - start
    source_score = vae.negative_elbo(model, heldout, samples=5)
    target_score = vae.negative_elbo(model, target, samples=5)
    file = checkpoints.save(
        model.networks, checkpoints.data_dir() / f"{checkpoint}.weights.h5", latent_dim=model.latent_dim
    )
    return checkpoints.record(
        checkpoint,
        file,
        command=f"python -m tgai pretrain {checkpoint}",
        trained_on=f"{dataset} train split ({len(images)} images), binarised at 0.5",
        latent_dim=model.latent_dim,
        widths=list(model.widths),
        steps=steps,
        batch_size=BATCH_SIZE,
        seed=seed,
        seconds=round(seconds, 1),
        **{f"heldout_{dataset}_negative_elbo_nats": round(source_score["negative_elbo"], 2)},
        zero_shot_mnist_5k_test_negative_elbo_nats=round(target_score["negative_elbo"], 2),
        **_versions(),
    )


# The L2 weight on the autoencoder's latent while it pretrains: Stable Diffusion's tiny KL term, in its simplest
# form. It keeps the latent's scale from drifting; the latent is divided by its standard deviation afterwards.
AUTOENCODER_LATENT_PENALTY = 1e-4


def pretrain_autoencoder(seed: int = 0) -> dict:
    """Train the latent diffusion's autoencoder on typeset digits and capitals, and commit it.

    `python -m tgai pretrain autoencoder`. The encoder maps 32x32 images to 8x8x4 latents, the decoder maps them
    back (Bernoulli cross-entropy on the gray pixels, `profile().pretrain_autoencoder_steps` steps at batch 64,
    Adam 1e-3), with `AUTOENCODER_LATENT_PENALTY`. Capitals train it on strokes beyond the ten digits. Records
    `latent_scale` (the latents' standard deviation on the typeset digits, which the denoiser learns) and the
    ceiling every diffusion sample is bounded by: how the handwriting judge reads reconstructions of held-out
    handwritten digits, which the autoencoder never saw.
    """
    steps = config.profile().pretrain_autoencoder_steps
    images = np.concatenate(
        [data.load(name, "train", IMAGE_SIZE, 1, seed=seed)[0] for name in ("glyphs", "glyph_letters")]
    )
    keras.utils.set_random_seed(seed)
    encoder = diffusion.build_encoder(seed=seed)
    decoder = diffusion.build_decoder(seed=seed)
    inputs = keras.Input(diffusion.IMAGE_SHAPE)
    latents = keras.layers.ActivityRegularization(l2=AUTOENCODER_LATENT_PENALTY)(encoder(inputs))
    trainer = keras.Model(inputs, decoder(latents))
    trainer.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=lambda targets, logits: keras.ops.mean(
            keras.ops.sum(keras.ops.binary_crossentropy(targets, logits, from_logits=True), axis=(1, 2, 3))
        ),
    )
    stream = (
        tf.data.Dataset.from_tensor_slices((images, images))
        .shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(BATCH_SIZE, drop_remainder=True)
    )
    start = time.perf_counter()
    trainer.fit(stream, steps_per_epoch=steps, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    glyph_latents = encoder.predict(data.load("glyphs", "train", IMAGE_SIZE, 1, seed=seed)[0], verbose=0)
    latent_scale = float(np.std(glyph_latents))
    file = checkpoints.save(
        {"encoder": encoder, "decoder": decoder},
        checkpoints.data_dir() / f"{diffusion.AUTOENCODER}.weights.h5",
        latent_scale=latent_scale,
    )
    return checkpoints.record(
        diffusion.AUTOENCODER,
        file,
        command="python -m tgai pretrain autoencoder",
        trained_on=f"glyphs and glyph_letters train splits ({len(images)} images)",
        latent_shape=list(encoder.output_shape[1:]),
        width=diffusion.AUTOENCODER_WIDTH,
        latent_scale=round(latent_scale, 6),
        steps=steps,
        batch_size=BATCH_SIZE,
        seed=seed,
        seconds=round(seconds, 1),
        **autoencoder_quality(encoder, decoder, seed),
        **_versions(),
    )


def autoencoder_quality(encoder, decoder, seed: int = 0) -> dict:
    """How the judges read the autoencoder's reconstructions of held-out images: the ceiling for its samples."""
    reconstruct = lambda images: 1.0 / (1.0 + np.exp(-decoder.predict(encoder.predict(images, verbose=0), verbose=0)))
    target_test = data.load("mnist_5k", "test", IMAGE_SIZE, 1)[0][:1000]
    glyph_test = data.load("glyphs", "test", IMAGE_SIZE, 1, seed=seed)[0][:1000]
    return {
        "mnist_5k_test_reconstructions_balanced": round(metrics.recognisability(reconstruct(target_test)).balanced, 3),
        "mnist_5k_test_balanced": round(metrics.recognisability(target_test).balanced, 3),
        "mnist_5k_test_reconstruction_mse": round(float(np.mean((reconstruct(target_test) - target_test) ** 2)), 5),
        "glyphs_test_reconstructions_glyph_judge_balanced": round(
            metrics.recognisability(reconstruct(glyph_test), judge_name="glyph_judge").balanced, 3
        ),
        "judge_sha256": checkpoints.manifest()["judge"]["sha256"],
    }


class _DenoiserSnapshots(keras.callbacks.Callback):
    """Save the EMA denoiser after every `fit` chunk (`pretrain_diffusion`'s `snapshot_dir`)."""

    def __init__(self, model, folder):
        super().__init__()
        self.diffusion, self.folder = model, pathlib.Path(folder)

    def on_epoch_end(self, epoch, logs=None):
        self.folder.mkdir(parents=True, exist_ok=True)
        step = int(self.diffusion.optimizer.iterations.numpy())
        checkpoints.save({"denoiser": self.diffusion.ema_denoiser}, self.folder / f"diffusion_step{step}.weights.h5")


def pretrain_diffusion(seed: int = 0, snapshot_dir=None) -> dict:
    """Train the source denoiser on the committed autoencoder's latents of typeset digits, and commit it.

    `python -m tgai pretrain diffusion` (after `pretrain autoencoder`). `profile().pretrain_diffusion_steps`
    steps at batch 64, AdamW 1e-3, EMA decay 0.999; saves the EMA denoiser as `denoiser`. Records how the glyph
    judge and the handwriting judge read 1,000 samples (20 DDIM steps) and their KID to both test sets. With
    `snapshot_dir`, the EMA denoiser is also saved there every 1,000 steps, for measuring how fine-tuning depends on
    the pretraining length.
    """
    steps = config.profile().pretrain_diffusion_steps
    images, _ = data.load("glyphs", "train", IMAGE_SIZE, 1, seed=seed)
    model = diffusion.LatentDiffusion.from_config({"seed": seed, "ema_decay": diffusion.PRETRAIN_EMA_DECAY})
    transfer.prepare(model, "scratch")
    model.compile(learning_rate=diffusion.LEARNING_RATE)
    chunk = 1000 if steps % 1000 == 0 else steps
    start = time.perf_counter()
    callbacks = [] if snapshot_dir is None else [_DenoiserSnapshots(model, snapshot_dir)]
    training.fit(model, images, steps, BATCH_SIZE, seed=seed, chunk=chunk, callbacks=callbacks, description="denoiser")
    seconds = time.perf_counter() - start
    file = checkpoints.save(
        {"denoiser": model.ema_denoiser},
        checkpoints.data_dir() / "diffusion.weights.h5",
        latent_shape="x".join(map(str, model.latent_shape)),
        widths=",".join(map(str, model.widths)),
    )
    return checkpoints.record(
        "diffusion",
        file,
        command="python -m tgai pretrain diffusion",
        trained_on=f"glyphs train split ({len(images)} images), as latents of the committed autoencoder",
        widths=list(model.widths),
        steps=steps,
        batch_size=BATCH_SIZE,
        seed=seed,
        seconds=round(seconds, 1),
        autoencoder_sha256=checkpoints.manifest()[diffusion.AUTOENCODER]["sha256"],
        note="denoiser: the EMA denoiser (decay 0.999)",
        **diffusion_quality(model, seed),
        **_versions(),
    )


def diffusion_quality(model, seed: int = 0) -> dict:
    """The judges on 1,000 samples of a latent diffusion model (20 DDIM steps), and KID x 1000 to both test sets."""
    glyph_test, _ = data.load("glyphs", "test", IMAGE_SIZE, 1, seed=seed)
    target_test, _ = data.load("mnist_5k", "test", IMAGE_SIZE, 1)
    samples = model.sample(1000, seed=seeds.derive(seed, "evaluation_samples"))
    own = metrics.recognisability(samples, judge_name="glyph_judge")
    return {
        "glyph_judge_recognisable": round(own.fraction, 3),
        "glyph_judge_digits_covered": own.classes,
        "glyph_judge_balanced": round(own.balanced, 3),
        "judge_balanced": round(metrics.recognisability(samples).balanced, 3),
        "kid_x1000_vs_glyphs_test_judge": round(
            metrics.kid_x1000(samples, metrics.judge_features(glyph_test[:1000])), 2
        ),
        "kid_x1000_vs_mnist_5k_test_judge": round(
            metrics.kid_x1000(samples, metrics.judge_features(target_test[:1000])), 2
        ),
        "glyph_judge_sha256": checkpoints.manifest()["glyph_judge"]["sha256"],
        "judge_sha256": checkpoints.manifest()["judge"]["sha256"],
    }


PRETRAINERS = {
    "judge": pretrain_judge,
    "glyph_judge": lambda seed=0: pretrain_judge(seed, "glyph_judge"),
    "gan": pretrain_gan,
    "vae": pretrain_vae,
    "vae_letters": lambda seed=0: pretrain_vae(seed, "vae_letters"),
    "autoencoder": pretrain_autoencoder,
    "diffusion": pretrain_diffusion,
}
# Re-measure a committed checkpoint's quality numbers without retraining it (`python -m tgai pretrain NAME --measure`).
MEASURERS = {"gan": measure_gan}
