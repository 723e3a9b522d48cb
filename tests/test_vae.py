"""Tests for tgai.models.vae: builders, sampling, train/test steps, strategies, perceptual term, checkpoints, errors."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import tgai
from tgai.core import checkpoints
from tgai.models import transfer, vae

LATENT = 4


@pytest.fixture(scope="module", autouse=True)
def deterministic_session():
    tgai.setup(seed=0)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return vae.binarize(rng.uniform(0.0, 1.0, (64, 32, 32, 1)))  # binary: the data a Bernoulli likelihood scores


@pytest.fixture(scope="module")
def source():
    keras.utils.set_random_seed(0)
    return vae.VAE.from_config(dict(seed=3, latent_dim=LATENT))


def weights_of(model):
    return [np.array(weight.numpy()) for weight in model.weights]


def same(first, second):
    return len(first) == len(second) and all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def parameters(network):
    return sum(int(np.prod(weight.shape)) for weight in network.weights)


# Builders and sampling.


def test_builders_shapes_and_seeded_initialisation():
    encoder = vae.build_encoder(latent_dim=LATENT, seed=1)
    decoder = vae.build_decoder(latent_dim=LATENT, seed=1)
    z_mean, z_log_var = encoder(np.zeros((2, 32, 32, 1), np.float32))
    assert z_mean.shape == (2, LATENT) and z_log_var.shape == (2, LATENT)
    assert decoder(np.zeros((2, LATENT), np.float32)).shape == (2, 32, 32, 1)
    assert vae.build_decoder((32, 32, 3), LATENT).output.shape[1:] == (32, 32, 3)
    assert vae.build_decoder((16, 24, 1), LATENT).output.shape[1:] == (16, 24, 1)
    assert same(weights_of(encoder), weights_of(vae.build_encoder(latent_dim=LATENT, seed=1)))
    assert not same(weights_of(encoder), weights_of(vae.build_encoder(latent_dim=LATENT, seed=2)))


def test_initialisers_use_the_documented_seed_streams():
    # seeds.derive reproduces the seed * 100 + offset (encoder) and seed * 100 + 50 + offset (decoder) streams
    # the committed checkpoint and the notebook outputs were made with.
    encoder, decoder = vae.build_encoder(latent_dim=LATENT, seed=2), vae.build_decoder(latent_dim=LATENT, seed=2)
    expected_conv = keras.initializers.GlorotUniform(seed=201)((3, 3, 1, 16))
    expected_dense = keras.initializers.GlorotUniform(seed=251)((LATENT, 8 * 8 * 32))
    np.testing.assert_array_equal(encoder.get_layer("conv1").kernel.numpy(), np.asarray(expected_conv))
    np.testing.assert_array_equal(decoder.get_layer("dense").kernel.numpy(), np.asarray(expected_dense))


@pytest.mark.parametrize("latent_dim", [0, -3])
def test_latent_size_must_be_positive(latent_dim):
    with pytest.raises(ValueError, match=rf"latent_dim must be a positive integer; received latent_dim={latent_dim}"):
        vae.build_encoder(latent_dim=latent_dim)
    with pytest.raises(ValueError, match="latent_dim"):
        vae.VAE.from_config(dict(latent_dim=latent_dim))


def test_latent_size_type_and_image_shape_errors():
    with pytest.raises(TypeError, match="latent_dim must be a positive integer; received 2.5"):
        vae.build_decoder(latent_dim=2.5)
    with pytest.raises(
        ValueError,
        match=r"image_shape sides must be .*8 and a multiple of 4 \(the encoder halves it twice\); received "
        r"image_shape=\(30, 30, 1\)",
    ):
        vae.build_encoder((30, 30, 1), LATENT)
    with pytest.raises(ValueError, match=r"channels\) must be 1 \(gray\) or 3"):
        vae.build_encoder((32, 32, 2), LATENT)


def test_mismatched_encoder_and_decoder():
    with pytest.raises(ValueError, match="latent sizes differ: received 4 and 5"):
        vae.VAE(vae.build_encoder(latent_dim=4), vae.build_decoder(latent_dim=5))


def test_sampling_shape_gradient_and_seed():
    mean = tf.Variable(np.zeros((5, LATENT), np.float32))
    log_var = tf.Variable(np.zeros((5, LATENT), np.float32))
    layer = vae.Sampling(seed=7)
    with tf.GradientTape() as tape:
        z = layer([mean, log_var], training=True)
        total = tf.reduce_sum(z)
    assert z.shape == (5, LATENT)
    gradient_mean, gradient_log_var = tape.gradient(total, [mean, log_var])
    # dz/dmean = 1 and dz/dlog_var = epsilon / 2 at log_var = 0: the noise is outside the gradient path.
    np.testing.assert_allclose(gradient_mean.numpy(), 1.0)
    np.testing.assert_allclose(gradient_log_var.numpy(), z.numpy() / 2.0, rtol=1e-6)
    again = vae.Sampling(seed=7)([mean, log_var], training=True)
    np.testing.assert_array_equal(z.numpy(), again.numpy())
    assert not np.array_equal(z.numpy(), vae.Sampling(seed=8)([mean, log_var], training=True).numpy())
    # Training draws advance the generator; evaluation noise is a fixed function of noise_seed.
    assert not np.array_equal(z.numpy(), layer([mean, log_var], training=True).numpy())
    evaluation = layer([mean, log_var])
    np.testing.assert_array_equal(evaluation.numpy(), layer([mean, log_var]).numpy())
    assert not np.array_equal(evaluation.numpy(), layer([mean, log_var], noise_seed=1).numpy())
    # The evaluation noise of draw k is seeded by seeds.derive(k, "evaluation_noise") = k + 1, whatever the
    # layer's own seed: every model is evaluated on the same draws.
    expected = keras.random.normal((5, LATENT), seed=1 + 1)
    np.testing.assert_array_equal(vae.Sampling(seed=3)([mean, log_var], noise_seed=1).numpy(), np.asarray(expected))
    np.testing.assert_array_equal(layer([mean, log_var], noise_seed=1).numpy(), np.asarray(expected))


# The transfer protocol.


def test_vae_follows_the_transfer_protocol(source):
    assert vae.STRATEGIES == tuple(vae.VAE.STRATEGIES) == ("full", "decoder_only", "encoder_only", "scratch")
    assert vae.VAE.CHECKPOINT == "vae" and source.image_shape == (32, 32, 1)
    assert source.networks == {"encoder": source.encoder, "decoder": source.decoder}
    copy = vae.VAE.from_config({**source.get_config(), "seed": 5})
    assert (copy.latent_dim, copy.image_shape, copy.beta) == (source.latent_dim, source.image_shape, source.beta)
    assert [tuple(w.shape) for w in copy.weights] == [tuple(w.shape) for w in source.weights]
    model, _ = vae.make("scratch", source=source, learning_rate=3e-4, steps_per_execution=2)
    assert model.optimizers == [model.optimizer] and model.optimizer.built
    assert isinstance(model.divergence_hint, str) and "beta (now 1)" in model.divergence_hint
    other = vae.VAE.from_config({**source.get_config(), "seed": 1})
    other.compile_from_config(model.get_compile_config())
    assert other.optimizer is not model.optimizer and other.steps_per_execution == 2
    assert float(other.optimizer.learning_rate.numpy()) == pytest.approx(3e-4) and other.optimizer.built


# Steps, metrics and the loss.


def test_train_and_test_step_report_each_term(images, source):
    model, report = vae.make("full", source=source, seed=0)
    assert isinstance(report, transfer.ParameterReport)
    assert report.frozen_total == 0 and report.trainable_total == sum(report.total.values()) > 0
    history = model.fit(images, batch_size=32, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "reconstruction", "kl"}
    result = model.evaluate(images, batch_size=32, verbose=0, return_dict=True)
    assert set(result) == {"loss", "reconstruction", "kl"}
    assert np.isfinite(result["loss"]) and result["kl"] >= 0
    np.testing.assert_allclose(result["loss"], result["reconstruction"] + result["kl"], rtol=1e-5)
    score = vae.negative_elbo(model, images, samples=2)
    assert set(score) == {"negative_elbo", "reconstruction", "kl", "pixel_error"}
    # Coin-flip pixels cannot be predicted: a model scores about log 2 = 0.69 nats on each.
    assert score["reconstruction"] > 0.4 * 32 * 32


def test_train_step_computes_the_losses_compute_losses_does(images, source):
    # train_step writes the -ELBO out inline; compute_losses (for evaluation) must agree with it term by term.
    for jit_compile, tolerance in ((False, 1e-5), (True, 1e-4)):
        model, _ = vae.make("full", source=source, seed=4, beta=0.5)
        model.compile(jit_compile=jit_compile)
        batch = images[:16]
        expected = model.compute_losses(batch, training=True, step=model.optimizer.iterations)
        logs = model.train_on_batch(batch, return_dict=True)
        assert set(logs) == {"loss", "reconstruction", "kl"}
        for name in logs:
            # Without XLA the same float32 graph; with it (the default on a CPU) the 1,024 pixel terms are summed
            # in another order, which moves the last digits (about 2e-5 relative).
            np.testing.assert_allclose(logs[name], float(expected[name]), rtol=tolerance)
        np.testing.assert_allclose(logs["loss"], logs["reconstruction"] + 0.5 * logs["kl"], rtol=1e-5)


@pytest.mark.parametrize(
    ("strategy", "frozen_part", "trained_part"),
    [("decoder_only", "encoder", "decoder"), ("encoder_only", "decoder", "encoder")],
)
def test_frozen_parts_stay_bit_identical(images, source, strategy, frozen_part, trained_part):
    model, report = vae.make(strategy, source=source, seed=0)
    frozen = getattr(model, frozen_part)
    trained = getattr(model, trained_part)
    assert len(frozen.trainable_weights) == 0 and all(not layer.trainable for layer in frozen.layers)
    frozen_count = parameters(frozen)
    assert report.frozen_total == frozen_count and report.trainable_total == sum(report.total.values()) - frozen_count
    assert report.trainable == {frozen_part: 0, trained_part: parameters(trained)}
    assert set(report.frozen_layers) == {layer.name for layer in frozen.layers if layer.weights}
    assert len(model.trainable_weights) == len(trained.weights)
    before_frozen, before_trained = weights_of(frozen), weights_of(trained)
    vae.train(model, images, 2, 32, seed=0)
    assert same(before_frozen, weights_of(frozen)), f"{frozen_part} changed under {strategy}"
    assert not same(before_trained, weights_of(trained)), f"{trained_part} did not train under {strategy}"
    assert same(weights_of(getattr(source, frozen_part)), weights_of(frozen)), "the source weights were not copied"


def test_unknown_strategy_lists_valid_ones(source):
    with pytest.raises(
        ValueError,
        match="Unknown strategy: received 'freeze_all'. Valid values: decoder_only, encoder_only, full, scratch",
    ):
        vae.make("freeze_all", source=source)
    with pytest.raises(ValueError, match="Unknown strategy"):
        transfer.freeze(source, "decoder")


def test_perceptual_term_enters_the_loss(images):
    class MeanFeatureDistance:
        """A stand-in feature loss: squared distance of 2x2-pooled images, known in closed form."""

        def __call__(self, originals, reconstructions):
            pool = keras.layers.AveragePooling2D(2)
            return keras.ops.mean(keras.ops.square(pool(originals) - pool(reconstructions)))

    model = vae.VAE.from_config(
        dict(seed=0, latent_dim=LATENT, perceptual_weight=10.0, feature_loss=MeanFeatureDistance())
    )
    model.compile()
    result = model.evaluate(images, batch_size=64, verbose=0, return_dict=True)
    assert set(result) == {"loss", "reconstruction", "kl", "perceptual"}
    assert result["perceptual"] > 0
    np.testing.assert_allclose(
        result["loss"], result["reconstruction"] + result["kl"] + 10.0 * result["perceptual"], rtol=1e-5
    )
    history = model.fit(images, batch_size=32, epochs=1, verbose=0)
    assert "perceptual" in history.history
    with pytest.raises(ValueError, match="perceptual_weight must be a number >= 0; received perceptual_weight=-1"):
        vae.VAE.from_config(dict(latent_dim=LATENT, perceptual_weight=-1))


def test_perceptual_term_with_vgg16_feature_loss(images):
    perceptual = pytest.importorskip("tgai.perceptual")
    feature_loss = perceptual.FeatureLoss(layers=("block1_conv1",))
    model = vae.VAE.from_config(dict(seed=0, latent_dim=LATENT, perceptual_weight=1.0, feature_loss=feature_loss))
    original = images[:4]
    distance_self = float(feature_loss(original, original))
    distance_noise = float(feature_loss(original, np.clip(original[::-1] * 0.5, 0, 1)))
    assert distance_self < 1e-6 < distance_noise
    losses = model.compute_losses(original)
    assert float(losses["perceptual"]) > 0


# Checkpoints: the kit's one weight-file format (tgai.core.checkpoints).


def test_checkpoint_round_trip(tmp_path, source, images):
    path = checkpoints.save(source.networks, tmp_path / "vae.weights.h5", latent_dim=source.latent_dim)
    copy = vae.VAE.from_config(dict(seed=9, latent_dim=LATENT))
    assert not same(weights_of(copy.encoder), weights_of(source.encoder))
    checkpoints.load(copy.networks, path)
    assert same(
        weights_of(copy.encoder) + weights_of(copy.decoder), weights_of(source.encoder) + weights_of(source.decoder)
    )
    np.testing.assert_array_equal(vae.reconstruct(copy, images[:3]), vae.reconstruct(source, images[:3]))


def test_mismatched_checkpoint_is_reported_by_layer(tmp_path, source):
    path = checkpoints.save(source.networks, tmp_path / "vae.weights.h5", latent_dim=source.latent_dim)
    other = vae.VAE.from_config(dict(latent_dim=LATENT + 2))
    before = weights_of(other)
    with pytest.raises(
        checkpoints.CheckpointError,
        match=r"(?s)saved with latent_dim=4.*encoder/z_mean: file has \[\(128, 4\), \(4,\)\], model expects \[\(128, "
        r"6\), \(6,\)\].*decoder/dense",
    ):
        checkpoints.load(other.networks, path)
    assert same(before, weights_of(other)), "a refused checkpoint must not be partly loaded"
    with pytest.raises(FileNotFoundError, match="path must be an existing weights file"):
        checkpoints.load(other.networks, tmp_path / "missing.weights.h5")
    corrupt = tmp_path / "corrupt.weights.h5"
    corrupt.write_bytes(path.read_bytes()[:100])
    with pytest.raises(checkpoints.CheckpointError, match="not a readable weights file"):
        checkpoints.load(other.networks, corrupt)


@pytest.mark.parametrize("checkpoint", sorted(vae.SOURCES))
def test_committed_sources_load_and_model_their_own_glyphs_better_than_handwriting(checkpoint):
    entry = checkpoints.manifest()[checkpoint]
    dataset = vae.SOURCES[checkpoint]
    assert entry["bytes"] < 5_000_000 and "binarised" in entry["trained_on"] and dataset in entry["trained_on"]
    assert entry[f"heldout_{dataset}_negative_elbo_nats"] < entry["zero_shot_mnist_5k_test_negative_elbo_nats"]
    model = vae.load_source(checkpoint=checkpoint)
    assert model.latent_dim == entry["latent_dim"]
    own = vae.binarize(tgai.data.load(dataset, "test", limit=200)[0])
    handwriting = vae.binarize(tgai.data.load("mnist_5k", "test", limit=200)[0])
    assert vae.negative_elbo(model, own)["negative_elbo"] < vae.negative_elbo(model, handwriting)["negative_elbo"]


def test_binarize_thresholds_and_keeps_the_shape():
    images = np.array([0.0, 0.2, 0.5, 0.51, 1.0], np.float32).reshape(1, 1, 5, 1)
    np.testing.assert_array_equal(vae.binarize(images).ravel(), [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(vae.binarize(images, threshold=0.1).ravel(), [0, 1, 1, 1, 1])
    assert vae.binarize(images).dtype == np.float32


def _certain_decoder(model, logit):
    """Make the decoder output `logit` at every pixel, whatever the code: zero kernel, constant bias."""
    layer = model.decoder.get_layer("logits")
    layer.kernel.assign(np.zeros(layer.kernel.shape, np.float32))
    layer.bias.assign(np.full(layer.bias.shape, logit, np.float32))


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_a_perfect_reconstruction_of_binary_images_scores_zero_nats(value):
    model = vae.VAE.from_config(dict(seed=0, latent_dim=LATENT))
    _certain_decoder(model, 40.0 if value else -40.0)  # sure, and right, at every pixel
    images = np.full((4, 32, 32, 1), value, np.float32)
    assert float(model.compute_losses(images)["reconstruction"]) < 1e-6


def test_an_unsure_decoder_scores_log_2_nats_per_binary_pixel():
    model = vae.VAE.from_config(dict(seed=0, latent_dim=LATENT))
    _certain_decoder(model, 0.0)  # p = 0.5 everywhere: the likelihood of any binary image is 2 ** -1024
    images = vae.binarize(np.random.default_rng(1).uniform(0, 1, (4, 32, 32, 1)))
    np.testing.assert_allclose(float(model.compute_losses(images)["reconstruction"]), 1024 * np.log(2.0), rtol=1e-5)


def test_gray_images_are_refused_with_the_fix(source):
    model, _ = vae.make("full", source=source)
    gray = np.full((8, 32, 32, 1), 0.5, np.float32)
    with pytest.raises(
        ValueError, match=r"images must be binary.*100\.0% gray pixels.*tgai\.models\.vae\.binarize\(images\)"
    ):
        vae.train(model, gray, 2, 4)
    with pytest.raises(ValueError, match=r"images must be binary"):
        vae.negative_elbo(model, gray)


def test_make_decoder_only_is_the_freezing_lesson_04_writes_by_hand():
    source = vae.load_source()
    model = vae.VAE.from_config(dict(seed=0, latent_dim=source.latent_dim))
    model.encoder.set_weights(source.encoder.get_weights())
    model.decoder.set_weights(source.decoder.get_weights())
    model.encoder.trainable = False
    model.compile()
    made, report = vae.make("decoder_only", source=source)
    assert [w.path for w in made.trainable_weights] == [w.path for w in model.trainable_weights]
    assert (
        report.trainable_total
        == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        == parameters(source.decoder)
    )
    assert same(
        weights_of(made.encoder) + weights_of(made.decoder), weights_of(model.encoder) + weights_of(model.decoder)
    )


def test_make_from_the_committed_source_copies_it():
    model, report = vae.make("decoder_only")
    committed = vae.load_source()
    assert model.latent_dim == committed.latent_dim and report.trainable["encoder"] == 0
    assert same(
        weights_of(model.encoder) + weights_of(model.decoder),
        weights_of(committed.encoder) + weights_of(committed.decoder),
    )


# Training: data checks, determinism, restart, resume, divergence.


def test_training_data_errors(source, images):
    model, _ = vae.make("full", source=source)
    with pytest.raises(ValueError, match=r"images must lie in \[0, 1\]; received values in \[0.*255\].*Divide by 255"):
        vae.train(model, images * 255.0, 2, 32)
    with pytest.raises(ValueError, match=r"training set \(64 images\) is smaller than batch_size=100"):
        vae.train(model, images, 2, 100)
    with pytest.raises(ValueError, match="must have 1 channels"):
        vae.train(model, np.repeat(images, 3, axis=-1), 2, 32)
    with pytest.raises(ValueError, match="steps must be a multiple of eval_every"):
        vae.train(model, images, 5, 32, eval_every=2)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        vae.train(model, images, 0, 32)
    with pytest.raises(ValueError, match="learning_rate must be a finite number > 0; received learning_rate=0"):
        vae.make("full", source=source, learning_rate=0)


def test_evaluate_batch_agrees_with_keras_evaluate(images, source):
    model, _ = vae.make("full", source=source, seed=0)
    model.compile(
        jit_compile=False
    )  # evaluate_batch never uses XLA (slower on a whole held-out set), so neither may evaluate
    vae.train(model, images, 2, 16, seed=0)
    expected = model.evaluate(images, batch_size=len(images), verbose=0, return_dict=True)
    for _ in range(2):  # the same numbers every call: evaluate_batch leaves the trackers alone
        assert model.evaluate_batch(images) == {
            name: float(expected[name]) for name in ("loss", "reconstruction", "kl")
        }


def test_restart_equals_a_fresh_model_bit_for_bit(images, source):
    fresh, _ = vae.make("scratch", source=source, seed=1)
    fresh_history = vae.train(fresh, images, 4, 16, seed=1, eval_every=2)
    reused, _ = vae.make("scratch", source=source, seed=0)
    vae.train(reused, images, 4, 16, seed=0)
    report = transfer.restart(reused, "scratch", seed=1, source=source)
    assert isinstance(report, transfer.ParameterReport) and report.frozen_total == 0
    # Everything a run changes is back at the start: the sampler's seed state, the step counter, the trackers.
    assert int(reused.optimizer.iterations.numpy()) == 0
    np.testing.assert_array_equal(
        reused.sampling.seed_generator.state.numpy(), vae.Sampling(seed=1).seed_generator.state.numpy()
    )
    assert all(float(tracker.count.numpy()) == 0 for tracker in reused.metrics)
    history = vae.train(reused, images, 4, 16, seed=1, eval_every=2)
    assert same(
        weights_of(fresh.encoder) + weights_of(fresh.decoder), weights_of(reused.encoder) + weights_of(reused.decoder)
    )
    assert same([v.numpy() for v in fresh.optimizer.variables], [v.numpy() for v in reused.optimizer.variables])
    assert history.history["loss"] == fresh_history.history["loss"], "the training noise must restart with the seed"
    # Held-out curves are not compared: the evaluation noise follows the seed the model was built with.
    before = weights_of(reused)
    with pytest.raises(ValueError, match="freezes other weights than the model was compiled with"):
        transfer.restart(reused, "decoder_only", source=source)
    assert same(before, weights_of(reused)) and len(reused.trainable_weights) == len(fresh.trainable_weights)


def test_restart_from_a_source_equals_make(images, source):
    fresh, _ = vae.make("decoder_only", source=source, seed=2)
    vae.train(fresh, images, 2, 16, seed=2)
    reused, _ = vae.make("decoder_only", source=source, seed=0)
    vae.train(reused, images, 2, 16, seed=0)
    transfer.restart(reused, "decoder_only", seed=2, source=source)
    assert same(
        weights_of(reused.encoder) + weights_of(reused.decoder), weights_of(source.encoder) + weights_of(source.decoder)
    )
    vae.train(reused, images, 2, 16, seed=2)
    assert same(
        weights_of(fresh.encoder) + weights_of(fresh.decoder), weights_of(reused.encoder) + weights_of(reused.decoder)
    )


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, images, source):
    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt("simulated kill after two epochs")

    def heldout_curve():
        return tgai.training.PeriodicEvaluation(vae.heldout_evaluation(images[:16]), every=2)

    reference, _ = vae.make("full", source=source, seed=0)
    reference_evaluation = heldout_curve()
    vae.train(reference, images, 8, 16, seed=0, eval_every=2, callbacks=[reference_evaluation])
    steps, reference_curve = reference_evaluation.series("negative_elbo")
    assert steps.tolist() == [0, 2, 4, 6, 8]
    interrupted, _ = vae.make("full", source=source, seed=0)
    backup = tmp_path / "backup"
    with pytest.raises(KeyboardInterrupt):
        vae.train(
            interrupted,
            images,
            8,
            16,
            seed=0,
            eval_every=2,
            backup_dir=backup,
            callbacks=[heldout_curve(), Interrupt()],
        )
    assert (backup / "latest.weights.h5").is_file()
    resumed, _ = vae.make("full", source=source, seed=0)
    resumed_evaluation = heldout_curve()
    history = vae.train(resumed, images, 8, 16, seed=0, eval_every=2, backup_dir=backup, callbacks=[resumed_evaluation])
    steps, curve = resumed_evaluation.series("negative_elbo")
    assert steps.tolist() == [6, 8], "the resumed run should pick up after the two saved epochs, without a step 0"
    assert len(history.history["loss"]) == 2, "History lists the chunks this fit trained"
    assert int(resumed.optimizer.iterations.numpy()) == int(reference.optimizer.iterations.numpy()) == 8
    assert same(
        weights_of(reference.encoder) + weights_of(reference.decoder),
        weights_of(resumed.encoder) + weights_of(resumed.decoder),
    )
    assert not backup.exists(), "a completed run deletes its backup"
    assert curve.tolist() == reference_curve[3:].tolist(), "evaluation is a function of the weights alone"


def test_non_finite_loss_stops_with_a_message_and_keeps_the_backup(tmp_path, images):
    class BreaksAtStepThree:
        def __init__(self):
            self.calls = tf.Variable(0)

        def __call__(self, originals, reconstructions):
            self.calls.assign_add(1)
            broken = keras.ops.where(self.calls > 3, np.float32("nan"), np.float32(0.0))
            return broken + 0.0 * keras.ops.mean(reconstructions)

    model = vae.VAE.from_config(
        dict(seed=0, latent_dim=LATENT, perceptual_weight=1.0, feature_loss=BreaksAtStepThree())
    )
    model.compile()
    backup = tmp_path / "backup"
    with pytest.raises(
        tgai.training.TrainingDivergedError,
        match=r"diverged at step \d+: .*loss=nan.*images lie in \[0, 1\].*learning rate",
    ):
        vae.train(model, images, 8, 16, seed=0, eval_every=2, backup_dir=backup)
    assert (backup / "latest.weights.h5").is_file(), "the last good backup must be kept"


def test_samples_interpolations_and_kid(source, images):
    samples = source.sample(6, seed=0)
    assert samples.shape == (6, 32, 32, 1) and samples.min() >= 0 and samples.max() <= 1
    np.testing.assert_array_equal(samples, source.sample(6, seed=0))
    path = vae.interpolate(source, images[0], images[1], steps=5)
    assert path.shape == (5, 32, 32, 1)
    np.testing.assert_allclose(path[0], vae.reconstruct(source, images[:1])[0], atol=1e-6)
    np.testing.assert_array_equal(path, vae.interpolate(source, images[:1], images[1:2], steps=5))
    with pytest.raises(ValueError, match=r"image_a must be one image \(H, W, C\) or a batch of one"):
        vae.interpolate(source, images[:2], images[1])
    assert vae.encode(source, images).shape == (64, LATENT)
    digits, _ = tgai.data.load("digits", "test", limit=60)
    assert np.isfinite(vae.sample_kid(source, digits, count=40))
    with pytest.raises(ValueError, match="count must be an integer >= 1"):
        source.sample(0)


@pytest.mark.integration
def test_fit_under_mirrored_strategy_on_two_logical_cpus():
    script = textwrap.dedent(
        """
        import numpy as np
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import tgai
        tgai.setup(seed=0)
        from tgai.models import vae
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        images = vae.binarize(np.random.default_rng(0).uniform(0, 1, (64, 32, 32, 1)))
        with strategy.scope():
            model, report = vae.make("scratch", seed=0)
        evaluation = tgai.training.PeriodicEvaluation(vae.heldout_evaluation(images[:32]), every=2)
        vae.train(model, images, 4, 16, seed=0, eval_every=2, callbacks=[evaluation])
        losses = evaluation.series("negative_elbo")[1]
        assert strategy.num_replicas_in_sync == 2
        assert all(np.isfinite(losses)), losses
        assert losses[-1] < losses[0], losses
        mirrored = model.encoder.weights[0].value  # the tf.distribute MirroredVariable under the Keras variable
        replicas = [value.numpy() for value in mirrored.values]
        assert len(replicas) == 2 and np.array_equal(replicas[0], replicas[1])
        print("ok", losses)
        """
    )
    environment = {**os.environ, "TGAI_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=environment
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]


def test_each_source_reads_its_own_architecture_from_the_manifest(monkeypatch):
    entries = {"vae": {"latent_dim": 16, "widths": [32, 64]}, "vae_letters": {"latent_dim": 8}}
    monkeypatch.setattr(tgai.core.checkpoints, "manifest", lambda: entries)
    assert tgai.models.vae.source_architecture("vae") == {"latent_dim": 16, "widths": (32, 64)}
    # an entry without widths was trained at the default widths
    assert tgai.models.vae.source_architecture("vae_letters") == {"latent_dim": 8, "widths": tgai.models.vae.WIDTHS}
    assert tgai.models.vae.source_architecture() == tgai.models.vae.source_architecture("vae")  # the near source


# L2-SP, widths and sampling from a density over the codes (lesson 04).


def test_drift_penalty_anchors_at_the_start_and_adds_its_term(images, source):
    anchored, _ = vae.make("full", source=source, seed=1, drift_penalty=50.0)
    plain, _ = vae.make("full", source=source, seed=1)
    # Anchors are the source weights, copied in before compile; nothing has drifted yet.
    assert same([a.numpy() for a in anchored.anchors], weights_of(source.encoder) + weights_of(source.decoder))
    assert float(anchored.drift()) == 0.0
    anchored_history = vae.train(anchored, images, 6, 16, seed=1)
    plain_history = vae.train(plain, images, 6, 16, seed=1)
    assert set(anchored_history.history) == {"loss", "reconstruction", "kl", "drift"}
    assert "drift" not in plain_history.history and plain.anchors == []
    drift = float(anchored.drift())
    assert drift > 0
    # The penalty holds the weights nearer the source than the plain run's.
    plain_drift = sum(
        float(np.sum((w - s) ** 2))
        for w, s in zip(
            weights_of(plain.encoder) + weights_of(plain.decoder),
            weights_of(source.encoder) + weights_of(source.decoder),
            strict=True,
        )
    )
    assert drift < plain_drift
    # Evaluation keeps the -ELBO alone: the penalty is a training term.
    losses = anchored.compute_losses(images[:16])
    assert set(losses) == {"loss", "reconstruction", "kl"}


def test_drift_counts_only_trainable_weights_and_restart_reanchors(images, source):
    model, _ = vae.make("decoder_only", source=source, seed=0, drift_penalty=1.0)
    vae.train(model, images, 3, 16, seed=0)
    decoder_drift = sum(
        float(np.sum((w - s) ** 2)) for w, s in zip(weights_of(model.decoder), weights_of(source.decoder), strict=True)
    )
    np.testing.assert_allclose(float(model.drift()), decoder_drift, rtol=1e-5)
    transfer.restart(model, "decoder_only", seed=1, source=source)
    assert float(model.drift()) == 0.0


@pytest.mark.parametrize("penalty", [-1.0, True, "10"])
def test_drift_penalty_errors_name_the_argument(penalty):
    with pytest.raises(ValueError, match="drift_penalty must be a number >= 0"):
        vae.VAE.from_config({"latent_dim": LATENT, "drift_penalty": penalty})


def test_widths_build_wider_networks_and_travel_in_the_config():
    model = vae.VAE.from_config({"latent_dim": LATENT, "widths": (8, 12)})
    assert model.widths == (8, 12) and model.get_config()["widths"] == (8, 12)
    assert model.encoder.get_layer("conv2").filters == 12 and model.decoder.get_layer("deconv2").filters == 8
    copy = vae.VAE.from_config(model.get_config())
    assert [w.shape for w in copy.weights] == [w.shape for w in model.weights]
    with pytest.raises(ValueError, match=r"widths must be two positive integers.*received widths=\(8,\)"):
        vae.build_decoder(latent_dim=LATENT, widths=(8,))


def test_code_density_samples_where_the_codes_are(images, source):
    density = vae.code_density(source, images, seed=0, components=3)
    assert density.means_.shape == (3, LATENT) and density.covariance_type == "full"
    codes = vae.encode(source, images)
    # Codes drawn as sample_density draws them follow the mixture: its mean and covariance.
    decoded = []
    original_decode = source.decode
    source.decode = lambda codes: decoded.append(np.asarray(codes)) or original_decode(codes)
    try:
        first = vae.sample_density(source, density, 4000, seed=1)
    finally:
        del source.decode
    drawn = np.concatenate(decoded)
    mixture_mean = density.weights_ @ density.means_
    np.testing.assert_allclose(drawn.mean(axis=0), mixture_mean, atol=0.1 * codes.std(axis=0).max() + 0.02)
    assert np.abs(mixture_mean - codes.mean(axis=0)).max() < 1e-3  # the fitted mixture is centred on the codes
    second = vae.sample_density(source, density, 4000, seed=1)
    assert first.shape == (4000, 32, 32, 1) and first.dtype == np.float32 and np.array_equal(first, second)
    assert not np.array_equal(first[:5], vae.sample_density(source, density, 5, seed=2))


def test_code_density_errors(images, source):
    with pytest.raises(ValueError, match="components must be at most the number of images; received components=10"):
        vae.code_density(source, images[:4], components=10)
    with pytest.raises(TypeError, match="density must be a fitted sklearn GaussianMixture"):
        vae.sample_density(source, "mixture", 4)
    other = vae.VAE.from_config({"latent_dim": LATENT + 1})
    with pytest.raises(ValueError, match=f"density models codes of {LATENT} numbers"):
        vae.sample_density(other, vae.code_density(source, images, components=2), 4)
