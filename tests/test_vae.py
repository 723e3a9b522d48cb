"""Tests for tgai.vae: builders, sampling, train/test steps, freezing, perceptual term, checkpoints, errors."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import tgai
from tgai import checkpoints, vae

LATENT = 4


@pytest.fixture(scope="module", autouse=True)
def deterministic_session():
    tgai.setup(seed=0)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.uniform(0.0, 1.0, (64, 32, 32, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def source():
    keras.utils.set_random_seed(0)
    return vae.build(LATENT, seed=3)


def weights_of(model):
    return [np.array(weight.numpy()) for weight in model.weights]


def same(first, second):
    return len(first) == len(second) and all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


# Builders and sampling.


def test_builders_shapes_and_seeded_initialisation():
    encoder = vae.build_encoder(LATENT, seed=1)
    decoder = vae.build_decoder(LATENT, seed=1)
    z_mean, z_log_var = encoder(np.zeros((2, 32, 32, 1), np.float32))
    assert z_mean.shape == (2, LATENT) and z_log_var.shape == (2, LATENT)
    assert decoder(np.zeros((2, LATENT), np.float32)).shape == (2, 32, 32, 1)
    assert vae.build_decoder(LATENT, channels=3).output.shape[1:] == (32, 32, 3)
    assert same(weights_of(encoder), weights_of(vae.build_encoder(LATENT, seed=1)))
    assert not same(weights_of(encoder), weights_of(vae.build_encoder(LATENT, seed=2)))


@pytest.mark.parametrize("latent_dim", [0, -3])
def test_latent_size_must_be_positive(latent_dim):
    with pytest.raises(ValueError, match=rf"latent_dim must be a positive integer; received latent_dim={latent_dim}"):
        vae.build_encoder(latent_dim)
    with pytest.raises(ValueError, match="latent_dim"):
        vae.build(latent_dim)


def test_latent_size_type_and_image_shape_errors():
    with pytest.raises(TypeError, match="latent_dim must be a positive integer; received 2.5"):
        vae.build_decoder(2.5)
    with pytest.raises(ValueError, match="image_size must be a multiple of 4"):
        vae.build_encoder(LATENT, image_size=30)
    with pytest.raises(ValueError, match="channels must be 1"):
        vae.build_encoder(LATENT, channels=2)


def test_mismatched_encoder_and_decoder():
    with pytest.raises(ValueError, match="latent sizes differ: received 4 and 5"):
        vae.VAE(vae.build_encoder(4), vae.build_decoder(5))


def test_sampling_shape_gradient_and_seed():
    import tensorflow as tf

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


# Steps, metrics and the loss.


def test_train_and_test_step_report_each_term(images, source):
    model, counts = vae.make("full", source=source, seed=0)
    assert counts["frozen"] == 0 and counts["trainable"] == counts["total"] > 0
    history = model.fit(images, batch_size=32, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "reconstruction", "kl"}
    result = model.evaluate(images, batch_size=32, verbose=0, return_dict=True)
    assert set(result) == {"loss", "reconstruction", "kl"}
    assert np.isfinite(result["loss"]) and result["kl"] >= 0
    np.testing.assert_allclose(result["loss"], result["reconstruction"] + result["kl"], rtol=1e-5)
    score = vae.negative_elbo(model, images, samples=2)
    assert set(score) == {"negative_elbo", "reconstruction", "kl", "pixel_error"}
    # Bernoulli cross-entropy of uniform noise is at least its entropy, about 0.5 nats per pixel.
    assert score["reconstruction"] > 0.4 * 32 * 32


@pytest.mark.parametrize(
    ("strategy", "frozen_part", "trained_part"),
    [("decoder_only", "encoder", "decoder"), ("encoder_only", "decoder", "encoder")],
)
def test_frozen_parts_stay_bit_identical(images, source, strategy, frozen_part, trained_part):
    model, counts = vae.make(strategy, source=source, seed=0)
    frozen = getattr(model, frozen_part)
    trained = getattr(model, trained_part)
    assert frozen.trainable is False and len(frozen.trainable_weights) == 0
    frozen_count = sum(int(np.prod(weight.shape)) for weight in frozen.weights)
    assert counts["frozen"] == frozen_count and counts["trainable"] == counts["total"] - frozen_count
    assert len(model.trainable_weights) == len(trained.weights)
    before_frozen, before_trained = weights_of(frozen), weights_of(trained)
    vae.train(model, images, 2, 32, seed=0)
    assert same(before_frozen, weights_of(frozen)), f"{frozen_part} changed under {strategy}"
    assert not same(before_trained, weights_of(trained)), f"{trained_part} did not train under {strategy}"
    assert same(weights_of(getattr(source, frozen_part)), weights_of(frozen)), "the source weights were not copied"


def test_unknown_strategy_lists_valid_ones(source):
    with pytest.raises(ValueError, match="Unknown strategy: received 'freeze_all'. Valid values: decoder_only, encoder_only, full, scratch"):
        vae.make("freeze_all", source=source)
    with pytest.raises(ValueError, match="Unknown strategy"):
        vae.adapt(source, "decoder")


def test_perceptual_term_enters_the_loss(images):
    class MeanFeatureDistance:
        """A stand-in feature loss: squared distance of 2x2-pooled images, known in closed form."""

        def __call__(self, originals, reconstructions):
            pool = keras.layers.AveragePooling2D(2)
            return keras.ops.mean(keras.ops.square(pool(originals) - pool(reconstructions)))

    model = vae.build(LATENT, seed=0, perceptual_weight=10.0, feature_loss=MeanFeatureDistance())
    vae.compile_model(model)
    result = model.evaluate(images, batch_size=64, verbose=0, return_dict=True)
    assert set(result) == {"loss", "reconstruction", "kl", "perceptual"}
    assert result["perceptual"] > 0
    np.testing.assert_allclose(result["loss"], result["reconstruction"] + result["kl"] + 10.0 * result["perceptual"], rtol=1e-5)
    history = model.fit(images, batch_size=32, epochs=1, verbose=0)
    assert "perceptual" in history.history
    with pytest.raises(ValueError, match="perceptual_weight must be a number >= 0; received perceptual_weight=-1"):
        vae.build(LATENT, perceptual_weight=-1)


def test_perceptual_term_with_vgg16_feature_loss(images):
    perceptual = pytest.importorskip("tgai.perceptual")
    feature_loss = perceptual.FeatureLoss(layers=("block1_conv1",))
    model = vae.build(LATENT, seed=0, perceptual_weight=1.0, feature_loss=feature_loss)
    original = images[:4]
    distance_self = float(feature_loss(original, original))
    distance_noise = float(feature_loss(original, np.clip(original[::-1] * 0.5, 0, 1)))
    assert distance_self < 1e-6 < distance_noise
    losses = model.compute_losses(original)
    assert float(losses["perceptual"]) > 0


# Checkpoints.


def test_checkpoint_round_trip(tmp_path, source, images):
    path = vae.save_weights(source, tmp_path / "vae.weights.h5")
    copy = vae.build(LATENT, seed=9)
    assert not same(weights_of(copy.encoder), weights_of(source.encoder))
    vae.load_weights(copy, path)
    assert same(weights_of(copy.encoder) + weights_of(copy.decoder), weights_of(source.encoder) + weights_of(source.decoder))
    np.testing.assert_array_equal(vae.reconstruct(copy, images[:3]), vae.reconstruct(source, images[:3]))


def test_mismatched_checkpoint_is_reported_by_layer(tmp_path, source):
    path = vae.save_weights(source, tmp_path / "vae.weights.h5")
    other = vae.build(LATENT + 2)
    with pytest.raises(checkpoints.CheckpointError, match=r"saved with latent_dim=4.*encoder/z_mean: checkpoint \(128, 4\) vs model \(128, 6\).*decoder/dense"):
        vae.load_weights(other, path)
    before = weights_of(other)
    assert same(before, weights_of(other)), "a refused checkpoint must not be partly loaded"
    with pytest.raises(FileNotFoundError, match="path must be an existing VAE weights file"):
        vae.load_weights(other, tmp_path / "missing.weights.h5")
    corrupt = tmp_path / "corrupt.weights.h5"
    corrupt.write_bytes(path.read_bytes()[:100])
    with pytest.raises(checkpoints.CheckpointError, match="not a readable h5 weights file"):
        vae.load_weights(other, corrupt)


def test_committed_source_loads_and_reconstructs_glyphs_better_than_digits():
    entry = checkpoints.manifest()["vae"]
    assert entry["bytes"] < 5_000_000
    assert entry["heldout_glyph_negative_elbo_nats"] < entry["zero_shot_digit_negative_elbo_nats"]
    model = vae.load_source()
    assert model.latent_dim == entry["latent_dim"]
    glyphs, _ = tgai.data.load("glyphs", "test", limit=200)
    digits, _ = tgai.data.load("digits", "test", limit=200)
    assert vae.negative_elbo(model, glyphs)["negative_elbo"] < vae.negative_elbo(model, digits)["negative_elbo"]


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
    with pytest.raises(ValueError, match="learning_rate must be a number > 0"):
        vae.make("full", source=source, learning_rate=0)


def test_evaluate_batch_agrees_with_keras_evaluate(images, source):
    model, _ = vae.make("full", source=source, seed=0)
    vae.train(model, images, 2, 16, seed=0)
    expected = model.evaluate(images, batch_size=len(images), verbose=0, return_dict=True)
    for _ in range(2):  # trackers are reset per call, as evaluate resets them
        assert model.evaluate_batch(images) == {name: float(expected[name]) for name in ("loss", "reconstruction", "kl")}


def test_restart_equals_a_fresh_model_bit_for_bit(images, source):
    fresh, _ = vae.make("scratch", source=source, seed=1)
    vae.train(fresh, images, 4, 16, seed=1)
    reused, _ = vae.make("scratch", source=source, seed=0)
    vae.train(reused, images, 4, 16, seed=0)
    vae.restart(reused, "scratch", source, seed=1)
    vae.train(reused, images, 4, 16, seed=1)
    assert same(weights_of(fresh.encoder) + weights_of(fresh.decoder), weights_of(reused.encoder) + weights_of(reused.decoder))
    with pytest.raises(ValueError, match="freezes other parts than the model was compiled with"):
        vae.restart(reused, "decoder_only", source)


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, images, source):
    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt("simulated kill after two epochs")

    reference, _ = vae.make("full", source=source, seed=0)
    history = vae.train(reference, images, 8, 16, seed=0, heldout=images[:16], eval_every=2)
    assert history["step"] == [0, 2, 4, 6, 8] and len(history["negative_elbo"]) == 5
    reference_curve = history["negative_elbo"]
    interrupted, _ = vae.make("full", source=source, seed=0)
    backup = tmp_path / "backup"
    with pytest.raises(KeyboardInterrupt):
        vae.train(interrupted, images, 8, 16, seed=0, heldout=images[:16], eval_every=2, backup_dir=backup, callbacks=[Interrupt()])
    assert (backup / "latest.weights.h5").is_file()
    resumed, _ = vae.make("full", source=source, seed=0)
    history = vae.train(resumed, images, 8, 16, seed=0, heldout=images[:16], eval_every=2, backup_dir=backup)
    assert history["step"] == [6, 8], "the resumed run should pick up after the two saved epochs"
    assert int(resumed.optimizer.iterations.numpy()) == int(reference.optimizer.iterations.numpy()) == 8
    assert same(weights_of(reference.encoder) + weights_of(reference.decoder), weights_of(resumed.encoder) + weights_of(resumed.decoder))
    assert not backup.exists(), "a completed run deletes its backup"
    assert history["negative_elbo"] == reference_curve[3:], "evaluation is a function of the weights alone"


def test_non_finite_loss_stops_with_a_message_and_keeps_the_backup(tmp_path, images):
    class BreaksAtStepThree:
        def __init__(self):
            import tensorflow as tf

            self.calls = tf.Variable(0)

        def __call__(self, originals, reconstructions):
            self.calls.assign_add(1)
            broken = keras.ops.where(self.calls > 3, np.float32("nan"), np.float32(0.0))
            return broken + 0.0 * keras.ops.mean(reconstructions)

    model = vae.build(LATENT, seed=0, perceptual_weight=1.0, feature_loss=BreaksAtStepThree())
    vae.compile_model(model)
    backup = tmp_path / "backup"
    with pytest.raises(tgai.training.TrainingDivergedError, match=r"diverged at step \d+: .*loss=nan.*images lie in \[0, 1\].*learning rate"):
        vae.train(model, images, 8, 16, seed=0, eval_every=2, backup_dir=backup)
    assert (backup / "latest.weights.h5").is_file(), "the last good backup must be kept"


def test_samples_interpolations_and_kid(source, images):
    samples = vae.sample(source, 6, seed=0)
    assert samples.shape == (6, 32, 32, 1) and samples.min() >= 0 and samples.max() <= 1
    np.testing.assert_array_equal(samples, vae.sample(source, 6, seed=0))
    path = vae.interpolate(source, images[0], images[1], steps=5)
    assert path.shape == (5, 32, 32, 1)
    np.testing.assert_allclose(path[0], vae.reconstruct(source, images[:1])[0], atol=1e-6)
    assert vae.encode(source, images).shape == (64, LATENT)
    digits, _ = tgai.data.load("digits", "test", limit=60)
    assert np.isfinite(vae.sample_kid(source, digits, count=40))
    with pytest.raises(ValueError, match="count must be an integer >= 1"):
        vae.sample(source, 0)


@pytest.mark.slow
def test_fit_under_mirrored_strategy_on_two_logical_cpus():
    script = textwrap.dedent(
        """
        import numpy as np
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import tgai
        tgai.setup(seed=0)
        from tgai import vae
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        images = np.random.default_rng(0).uniform(0, 1, (64, 32, 32, 1)).astype("float32")
        with strategy.scope():
            model, counts = vae.make("scratch", seed=0)
        history = vae.train(model, images, 4, 16, seed=0, heldout=images[:32], eval_every=2)
        losses = history["negative_elbo"]
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
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=environment)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]
