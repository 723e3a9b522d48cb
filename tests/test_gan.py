"""Tests for tgai.gan: builders, train_step, EMA, DiffAugment, strategies, checkpoints and errors (lesson 03)."""

import numpy as np
import pytest
import tensorflow as tf

import tgai
from tgai import checkpoints, gan, training

SHAPE = (16, 16, 1)


def small_gan(seed=0, augment=None, strategy="full", blocks=1, loss="non_saturating"):
    generator = gan.build_generator(SHAPE, latent_dim=8, width=16, seed=seed)
    discriminator = gan.build_discriminator(SHAPE, width=8, seed=seed)
    report = gan.apply_strategy(generator, discriminator, strategy, blocks)
    model = gan.GAN(generator, discriminator, augment=augment, seed=seed, loss=loss)
    model.compile()
    return model, report


def images(count=16, seed=0):
    return np.random.default_rng(seed).uniform(0.0, 1.0, (count, *SHAPE)).astype(np.float32)


def snapshot(weights):
    return [np.array(weight) for weight in weights]


# ------------------------------------------------------------------------------------------- builders


def test_default_sizes_match_the_pilot():
    generator, discriminator = gan.build_generator(), gan.build_discriminator()
    assert generator.output_shape == (None, 32, 32, 1)
    assert discriminator.output_shape == (None, 1)
    assert 250_000 < gan.count_parameters(generator.weights) < 350_000
    assert 140_000 < gan.count_parameters(discriminator.weights) < 200_000


@pytest.mark.parametrize("shape", [(16, 16, 3), (24, 32, 1), (64, 64, 3)])
def test_builders_serve_shapes_divisible_by_eight(shape):
    generator = gan.build_generator(shape, latent_dim=8, width=16)
    discriminator = gan.build_discriminator(shape, width=8)
    assert generator.output_shape == (None, *shape)
    assert discriminator.input_shape == (None, *shape)
    output = np.asarray(generator(np.zeros((2, 8), np.float32)))
    assert output.min() >= -1.0 and output.max() <= 1.0


def test_layers_are_named_by_depth():
    generator, discriminator = gan.build_generator(SHAPE, 8, 16), gan.build_discriminator(SHAPE, 8)
    names = [layer.name for layer in discriminator.layers]
    assert ["d_block1_conv", "d_block2_conv", "d_block3_conv", "d_output_dense"] == [name for name in names if name.endswith(("_conv", "_dense"))]
    assert {layer.name for layer in gan.block_layers(generator, "g", 2) if layer.weights} == {"g_block1_dense", "g_block1_norm", "g_block2_conv", "g_block2_norm"}


@pytest.mark.parametrize(
    ("shape", "message"),
    [((20, 20, 1), "divisible by 8"), ((8, 8, 1), ">= 16"), ((32, 32, 2), "1 or 3 channels"), ((32, 32), "(height, width, channels)"), (("32", 32, 1), "integers")],
)
def test_builders_reject_shapes_they_cannot_serve(shape, message):
    with pytest.raises(ValueError, match="image_shape") as error:
        gan.build_generator(shape)
    assert message in str(error.value)
    with pytest.raises(ValueError, match="image_shape"):
        gan.build_discriminator(shape)


# ----------------------------------------------------------------------------------------- train_step


def test_train_step_losses_finite_and_frozen_weights_bit_identical():
    tgai.setup(seed=0)
    model, report = small_gan(strategy="freeze_d", blocks=2)
    frozen = [weight for layer in gan.block_layers(model.discriminator, "d", 2) for weight in layer.weights]
    assert frozen and all(not weight.trainable for weight in frozen)
    frozen_before = snapshot(frozen)
    trainable_before = snapshot(model.discriminator.trainable_weights + model.generator.trainable_weights)
    logs = model.train_step(tf.constant(images(8)))
    assert all(np.isfinite(float(value)) for value in logs.values())
    assert set(logs) == {"d_loss", "g_loss", "real_score", "fake_score"}
    for before, after in zip(frozen_before, snapshot(frozen), strict=True):
        assert np.array_equal(before, after)
    trainable_after = snapshot(model.discriminator.trainable_weights + model.generator.trainable_weights)
    changed = [not np.array_equal(before, after) for before, after in zip(trainable_before, trainable_after, strict=True)]
    assert all(changed)
    assert int(model.d_optimizer.iterations) == 1 and int(model.g_optimizer.iterations) == 1


@pytest.mark.parametrize("loss", ["non_saturating", "hinge"])
def test_fit_runs_with_each_loss_and_augmentation(loss):
    tgai.setup(seed=0)
    model, _ = small_gan(augment=gan.AUGMENT_OPERATIONS, loss=loss)
    history = gan.train(model, images(16), steps=4, batch_size=8, eval_every=2)
    assert all(np.isfinite(values[-1]) for values in history.history.values())


def test_ema_follows_the_documented_update():
    tgai.setup(seed=0)
    model, _ = small_gan()
    ema_before = snapshot(model.ema_generator.weights)
    model.train_step(tf.constant(images(8)))
    live = snapshot(model.generator.weights)
    decay = min(model.ema_decay, (1.0 + 1.0) / (10.0 + 1.0))  # after the first generator update
    for before, current, average in zip(ema_before, live, snapshot(model.ema_generator.weights), strict=True):
        np.testing.assert_allclose(average, decay * before + (1.0 - decay) * current, rtol=1e-5, atol=1e-7)
    assert not np.array_equal(snapshot(model.ema_generator.weights)[0], live[0])


def test_sample_is_seeded_and_in_unit_range():
    model, _ = small_gan()
    first, second = model.sample(5, seed=3), model.sample(5, seed=3)
    assert first.shape == (5, *SHAPE) and first.dtype == np.float32
    assert first.min() >= 0.0 and first.max() <= 1.0
    assert np.array_equal(first, second)
    assert not np.array_equal(first, model.sample(5, seed=4))


# ------------------------------------------------------------------------------------------ DiffAugment


def test_diff_augment_is_identical_on_real_and_fake_for_one_draw():
    batch = tf.constant(images(6) * 2 - 1)
    real, fake = gan.diff_augment([batch, tf.identity(batch)], seed=(1, 2))
    assert np.array_equal(np.asarray(real), np.asarray(fake))
    assert not np.allclose(np.asarray(real), np.asarray(batch))
    (again,) = gan.diff_augment([batch], seed=(1, 2))
    assert np.array_equal(np.asarray(again), np.asarray(real))
    (other,) = gan.diff_augment([batch], seed=(1, 3))
    assert not np.array_equal(np.asarray(other), np.asarray(real))


def test_diff_augment_is_differentiable():
    batch = tf.Variable(images(4) * 2 - 1)
    with tf.GradientTape() as tape:
        (augmented,) = gan.diff_augment([batch], seed=(0, 5))
        total = tf.reduce_sum(augmented**2)
    gradient = np.asarray(tape.gradient(total, batch))
    assert np.all(np.isfinite(gradient)) and np.abs(gradient).sum() > 0


def test_translation_shifts_content_and_cutout_zeroes_a_patch():
    batch = tf.ones((8, *SHAPE))
    (shifted,) = gan.diff_augment([batch], policy=("translation",), seed=(0, 1))
    shifted = np.asarray(shifted)
    assert set(np.unique(shifted)) <= {0.0, 1.0} and shifted.sum() < batch.numpy().sum()
    (cut,) = gan.diff_augment([batch], policy=("cutout",), seed=(0, 1))
    zeros = (np.asarray(cut) == 0).reshape(8, -1).sum(axis=1)
    assert np.all(zeros > 0) and np.all(zeros <= 8 * 8)


def test_diff_augment_rejects_unknown_operations():
    with pytest.raises(ValueError, match="policy entry"):
        gan.diff_augment([tf.zeros((1, *SHAPE))], policy=("rotation",))
    with pytest.raises(ValueError, match="augment entry"):
        gan.GAN(gan.build_generator(SHAPE, 8, 16), gan.build_discriminator(SHAPE, 8), augment=("flip",))


# ------------------------------------------------------------------------------------------- strategies


def test_strategy_parameter_counts():
    generator, discriminator = gan.build_generator(SHAPE, 8, 16), gan.build_discriminator(SHAPE, 8)
    total_g, total_d = gan.count_parameters(generator.weights), gan.count_parameters(discriminator.weights)
    full = gan.apply_strategy(generator, discriminator, "full")
    assert (full.trainable_generator, full.trainable_discriminator) == (total_g, total_d)
    assert full.frozen_layers == ()
    freeze_d = gan.apply_strategy(generator, discriminator, "freeze_d", blocks=2)
    lowest = sum(gan.count_parameters(layer.weights) for layer in gan.block_layers(discriminator, "d", 2))
    assert freeze_d.trainable_discriminator == total_d - lowest == gan.count_parameters(discriminator.trainable_weights)
    assert freeze_d.trainable_generator == total_g
    assert freeze_d.frozen_layers == ("d_block1_conv", "d_block2_conv")
    freeze_g = gan.apply_strategy(generator, discriminator, "freeze_g", blocks=1)
    assert freeze_g.trainable_generator == total_g - gan.count_parameters(generator.get_layer("g_block1_dense").weights + generator.get_layer("g_block1_norm").weights)
    assert freeze_g.trainable_discriminator == total_d  # switching strategy unfreezes what the last one froze
    assert "trainable" in str(freeze_g)


def test_freezing_more_blocks_than_exist_is_an_error():
    generator, discriminator = gan.build_generator(SHAPE, 8, 16), gan.build_discriminator(SHAPE, 8)
    with pytest.raises(ValueError, match="blocks=4 but the discriminator has only 3 blocks"):
        gan.apply_strategy(generator, discriminator, "freeze_d", blocks=4)
    with pytest.raises(ValueError, match="blocks=5 but the generator has only 4 blocks"):
        gan.apply_strategy(generator, discriminator, "freeze_g", blocks=5)
    with pytest.raises(ValueError, match="strategy"):
        gan.apply_strategy(generator, discriminator, "freeze_everything")


# ------------------------------------------------------------------------------------------ checkpoints


def test_checkpoint_round_trip(tmp_path):
    generator = gan.build_generator(SHAPE, 8, 16, seed=1)
    file = tmp_path / "g.weights.h5"
    generator.save_weights(file)
    restored = gan.build_generator(SHAPE, 8, 16, seed=2)
    codes = gan.latents(3, 0, 8)
    assert not np.array_equal(gan.generate(generator, codes), gan.generate(restored, codes))
    gan.load_weights_checked(restored, file)
    assert np.array_equal(gan.generate(generator, codes), gan.generate(restored, codes))


def test_checkpoint_mismatch_is_reported_by_layer(tmp_path):
    file = tmp_path / "d.weights.h5"
    gan.build_discriminator(SHAPE, width=8).save_weights(file)
    with pytest.raises(ValueError, match="d_block1_conv: file has") as error:
        gan.load_weights_checked(gan.build_discriminator(SHAPE, width=16), file)
    assert "d_block3_conv" in str(error.value) and "d_output_dense" in str(error.value)
    with pytest.raises(ValueError, match="d_output_dense"):
        gan.load_weights_checked(gan.build_discriminator((32, 32, 1), width=8), file)
    with pytest.raises(ValueError, match="layers this model lacks|missing from the file"):
        gan.load_weights_checked(gan.build_generator(SHAPE, 8, 16), file)
    with pytest.raises(FileNotFoundError, match="file must be an existing"):
        gan.load_weights_checked(gan.build_discriminator(SHAPE, 8), tmp_path / "nothing.weights.h5")
    broken = tmp_path / "broken.weights.h5"
    broken.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="not a readable HDF5"):
        gan.load_weights_checked(gan.build_discriminator(SHAPE, 8), broken)


def test_committed_source_checkpoints_load_and_sample():
    entries = checkpoints.manifest()
    assert {"gan_generator", "gan_discriminator"} <= set(entries)
    assert all(entries[name]["bytes"] < 5_000_000 for name in ("gan_generator", "gan_discriminator"))
    model, report = gan.make_gan("freeze_d", blocks=2)
    assert report.trainable_discriminator < report.total_discriminator
    assert model.sample(4).shape == (4, 32, 32, 1)


def test_restart_equals_a_fresh_model_bit_for_bit():
    # Scratch at seed 1 trained fresh, against a model first trained at seed 0 then restarted at seed 1.
    fresh, _ = small_gan(seed=1, strategy="scratch")
    gan.train(fresh, images(16), steps=3, batch_size=8, seed=1)
    reused, _ = small_gan(seed=0, strategy="scratch")
    gan.train(reused, images(16), steps=3, batch_size=8, seed=0)
    gan.restart(reused, "scratch", seed=1)
    assert reused.seed == 1 and int(reused.d_optimizer.iterations) == 0
    gan.train(reused, images(16), steps=3, batch_size=8, seed=1)
    for network in ("generator", "ema_generator", "discriminator"):
        expected = snapshot(getattr(fresh, network).weights)
        assert all(np.array_equal(a, b) for a, b in zip(expected, snapshot(getattr(reused, network).weights), strict=True))
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(fresh._optimizer_variables(), reused._optimizer_variables(), strict=True))


def test_restart_from_a_source_and_its_errors():
    model, _ = small_gan(strategy="freeze_d", blocks=1)
    source = small_gan(seed=5)[0]
    gan.train(model, images(16), steps=2, batch_size=8)
    report = gan.restart(model, "freeze_d", seed=2, blocks=1, source=(source.generator, source.discriminator))
    assert report.trainable_discriminator < report.total_discriminator
    assert all(np.array_equal(a, b) for a, b in zip(snapshot(model.ema_generator.weights), snapshot(source.generator.weights), strict=True))
    with pytest.raises(ValueError, match=r"strategy='full' with blocks=1 freezes other weights.*make_gan\('full', blocks=1\)"):
        gan.restart(model, "full", blocks=1, source=(source.generator, source.discriminator))
    assert gan.count_parameters(model.discriminator.trainable_weights) == report.trainable_discriminator  # still frozen
    with pytest.raises(TypeError, match=r"model must be a GAN compiled by tgai.gan.make_gan; received"):
        gan.restart(source.generator, "full")
    wide = gan.build_generator(SHAPE, latent_dim=8, width=32)
    before = snapshot(model.generator.weights)
    with pytest.raises(ValueError, match=r"source generator does not match the model's generator.*Pass source="):
        gan.restart(model, "freeze_d", blocks=1, source=(wide, source.discriminator))
    assert all(np.array_equal(a, b) for a, b in zip(before, snapshot(model.generator.weights), strict=True))


def test_fine_tune_reuses_a_model_and_keeps_each_runs_generator():
    tgai.setup(seed=0)
    real = np.random.default_rng(0).uniform(0.0, 1.0, (24, 32, 32, 1)).astype(np.float32)
    first = gan.fine_tune("full", real[:16], real[16:], steps=2, batch_size=8, eval_every=1, kid_samples=4, seed=0)
    second = gan.fine_tune("full", real[:16], real[16:], steps=2, batch_size=8, eval_every=1, kid_samples=4, seed=1, model=None)
    model, _ = gan.make_gan("full", seed=7)
    reused = [gan.fine_tune("full", real[:16], real[16:], 2, 8, 1, 4, seed=seed, model=model) for seed in (0, 1)]
    # Reusing one model gives the same curves as building one per run, and each result keeps its own generator.
    for built, again in zip((first, second), reused, strict=True):
        assert np.array_equal(built.kid_values, again.kid_values)
        assert all(np.array_equal(a, b) for a, b in zip(built.generator.get_weights(), again.generator.get_weights(), strict=True))
    assert not np.array_equal(reused[0].generator.get_weights()[0], reused[1].generator.get_weights()[0])
    with pytest.raises(ValueError, match=r"augment=\('color',\) but the model was built with augment=None"):
        gan.fine_tune("full", real[:16], real[16:], 2, 8, 1, 4, augment=("color",), model=model)


# ---------------------------------------------------------------------------------------------- errors


def test_training_set_smaller_than_batch_is_an_error():
    model, _ = small_gan()
    with pytest.raises(ValueError, match="smaller than batch_size=32"):
        gan.train(model, images(10), steps=2, batch_size=32)


def test_nan_loss_names_the_likely_cause():
    tgai.setup(seed=0)
    model, _ = small_gan()
    kernel = model.discriminator.get_layer("d_output_dense").kernel
    kernel.assign(np.full(kernel.shape, np.nan, np.float32))
    with pytest.raises(training.TrainingDivergedError) as error:
        gan.train(model, images(16), steps=4, batch_size=8)
    message = str(error.value)
    assert "step 1" in message and "learning rate" in message and "[0, 1]" in message and "D/G balance" in message


def test_memorisation_check_finds_copies():
    training_images = images(5)
    samples = np.concatenate([training_images[[3, 1]], np.zeros((1, *SHAPE), np.float32)])
    indices, distances = gan.nearest_training_images(samples, training_images)
    assert list(indices[:2]) == [3, 1]
    assert distances[0] == pytest.approx(0.0, abs=1e-5) and distances[2] > 1.0
