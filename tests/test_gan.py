"""Tests for tgai.models.gan: builders, train_step, EMA, DiffAugment, strategies, checkpoints and errors (lesson 03).

Strategies, freezing, sources and restarts are `tgai.models.transfer`'s, tested for every model in
tests/test_transfer.py; here they are checked where the GAN's layer names and numbers matter.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tgai
from tgai import augment, experiments, metrics, training
from tgai.core import checkpoints, seeds
from tgai.models import gan, transfer

SHAPE = (16, 16, 1)
SMALL = {"image_shape": SHAPE, "latent_dim": 8, "widths": (16, 8)}


def small_gan(seed=0, augment=None, strategy="full", blocks=1, loss="non_saturating"):
    """A compiled 16x16 GAN; strategies from the source start from a small GAN of seed 99."""
    model = gan.GAN.from_config(dict(seed=seed, augment=augment, loss=loss, **SMALL))
    source = gan.GAN.from_config(dict(seed=99, **SMALL)) if gan.GAN.STRATEGIES[strategy].from_source else None
    report = transfer.prepare(model, strategy, blocks, source)
    model.compile()
    return model, report


def block_layers(network, blocks):
    """The layers of the lowest `blocks` blocks of a network."""
    return [layer for number, layers in transfer.blocks_of(network).items() if number <= blocks for layer in layers]


def images(count=16, seed=0):
    return np.random.default_rng(seed).uniform(0.0, 1.0, (count, *SHAPE)).astype(np.float32)


def snapshot(weights):
    return [np.array(weight) for weight in weights]


# ------------------------------------------------------------------------------------------- builders


def test_default_sizes_match_the_docstrings():
    generator, discriminator = gan.build_generator(), gan.build_discriminator()
    assert generator.output_shape == (None, 32, 32, 1)
    assert discriminator.output_shape == (None, 1)
    assert 350_000 < transfer.count_parameters(generator.weights) < 450_000  # "about 0.4M"
    assert 140_000 < transfer.count_parameters(discriminator.weights) < 200_000  # "about 0.17M"
    # Resize-convolution: every generator convolution is a plain Conv2D, which Keras' enable_lora adapts.
    assert not any(isinstance(layer, keras.layers.Conv2DTranspose) for layer in generator.layers)
    assert all(
        isinstance(discriminator.get_layer(f"d_block{block}_conv"), keras.layers.SpectralNormalization)
        for block in (1, 2, 3)
    )


def test_minibatch_std_appends_the_batch_spread():
    layer = gan.MinibatchStandardDeviation()
    same = np.ones((4, 2, 2, 3), np.float32)
    varied = np.arange(48, dtype=np.float32).reshape(4, 2, 2, 3)
    assert np.asarray(layer(same)).shape == (4, 2, 2, 4)
    assert np.allclose(np.asarray(layer(same))[..., -1], 0.0, atol=1e-3), "identical images: no spread"
    assert np.all(np.asarray(layer(varied))[..., -1] > 1.0), "varied images: a positive spread"


def test_discriminator_options_round_trip_through_the_config():
    plain = gan.GAN.from_config({**SMALL, "spectral_norm": False, "minibatch_std": False})
    config = plain.get_config()
    assert config["spectral_norm"] is False and config["minibatch_std"] is False
    assert not any(layer.name == "d_output_std" for layer in plain.discriminator.layers)
    assert gan.GAN.from_config(config).get_config() == config
    with pytest.raises(TypeError, match="spectral_norm must be True or False"):
        gan.build_discriminator(spectral_norm="yes")


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
    assert ["d_block1_conv", "d_block2_conv", "d_block3_conv", "d_output_dense"] == [
        name for name in names if name.endswith(("_conv", "_dense"))
    ]
    assert {layer.name for layer in block_layers(generator, 2) if layer.weights} == {
        "g_block1_dense",
        "g_block1_norm",
        "g_block2_conv",
        "g_block2_norm",
    }
    assert list(transfer.blocks_of(generator)) == [1, 2, 3, 4] and list(transfer.blocks_of(discriminator)) == [1, 2, 3]


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((20, 20, 1), "multiple of 8"),
        ((8, 8, 1), ">= 16"),
        ((32, 32, 2), "1 (gray) or 3 (RGB)"),
        ((32, 32), "(height, width, channels)"),
        (("32", 32, 1), "integers"),
    ],
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
    frozen = [weight for layer in block_layers(model.discriminator, 2) for weight in layer.weights]
    assert frozen and all(not weight.trainable for weight in frozen)
    frozen_before = snapshot(frozen)
    trainable_before = snapshot(model.discriminator.trainable_weights + model.generator.trainable_weights)
    logs = model.train_step(tf.constant(images(8)))
    assert all(np.isfinite(float(value)) for value in logs.values())
    assert set(logs) == {"d_loss", "g_loss", "real_score", "fake_score"}
    for before, after in zip(frozen_before, snapshot(frozen), strict=True):
        assert np.array_equal(before, after)
    trainable_after = snapshot(model.discriminator.trainable_weights + model.generator.trainable_weights)
    changed = [
        not np.array_equal(before, after) for before, after in zip(trainable_before, trainable_after, strict=True)
    ]
    assert all(changed)
    assert int(model.d_optimizer.iterations) == 1 and int(model.g_optimizer.iterations) == 1


@pytest.mark.parametrize("loss", ["non_saturating", "hinge"])
def test_fit_runs_with_each_loss_and_augmentation(loss):
    tgai.setup(seed=0)
    model, _ = small_gan(augment=augment.AUGMENT_OPERATIONS, loss=loss)
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


def test_diff_augment_draws_per_seed_so_real_and_fake_draw_independently():
    batch = tf.constant(images(6) * 2 - 1)
    first = np.asarray(augment.diff_augment(batch, seed=(1, 2)))
    assert not np.allclose(first, np.asarray(batch))
    assert np.array_equal(np.asarray(augment.diff_augment(batch, seed=(1, 2))), first)  # stateless
    assert not np.array_equal(np.asarray(augment.diff_augment(batch, seed=(1, 3))), first)


def test_train_step_augments_real_and_fake_with_independent_draws(monkeypatch):
    tgai.setup(seed=0)
    model, _ = small_gan(augment=augment.AUGMENT_OPERATIONS)
    seeds_seen = []
    original = augment.diff_augment

    def recording(images, policy, seed):
        seeds_seen.append(tuple(np.asarray(seed)))
        return original(images, policy, seed)

    monkeypatch.setattr(augment, "diff_augment", recording)
    model.train_step(tf.constant(images(8)))  # eagerly: one call per augmented batch
    assert len(seeds_seen) == 3 and len(set(seeds_seen)) == 3  # real, fake (D step) and fake (G step)


def test_diff_augment_is_differentiable():
    batch = tf.Variable(images(4) * 2 - 1)
    with tf.GradientTape() as tape:
        augmented = augment.diff_augment(batch, seed=(0, 5))
        total = tf.reduce_sum(augmented**2)
    gradient = np.asarray(tape.gradient(total, batch))
    assert np.all(np.isfinite(gradient)) and np.abs(gradient).sum() > 0


def test_translation_shifts_content_and_cutout_zeroes_a_patch():
    batch = tf.ones((8, *SHAPE))
    shifted = augment.diff_augment(batch, policy=("translation",), seed=(0, 1))
    shifted = np.asarray(shifted)
    assert set(np.unique(shifted)) <= {0.0, 1.0} and shifted.sum() < batch.numpy().sum()
    cut = augment.diff_augment(batch, policy=("cutout",), seed=(0, 1))
    zeros = (np.asarray(cut) == 0).reshape(8, -1).sum(axis=1)
    assert np.all(zeros > 0) and np.all(zeros <= 8 * 8)


def test_diff_augment_rejects_unknown_operations():
    with pytest.raises(ValueError, match="policy entry"):
        augment.diff_augment(tf.zeros((1, *SHAPE)), policy=("rotation",))
    with pytest.raises(ValueError, match="augment entry"):
        gan.GAN(gan.build_generator(SHAPE, 8, 16), gan.build_discriminator(SHAPE, 8), augment=("flip",))


# ------------------------------------------------------------------------------------------- strategies


def test_strategy_parameter_counts():
    model = gan.GAN.from_config(dict(**SMALL))
    generator, discriminator = model.generator, model.discriminator
    total_g, total_d = transfer.count_parameters(generator.weights), transfer.count_parameters(discriminator.weights)
    # Spectral normalization's power-iteration vectors are weights no optimizer trains: state, not parameters.
    vectors = [
        layer.vector_u for layer in discriminator.layers if isinstance(layer, keras.layers.SpectralNormalization)
    ]
    assert len(vectors) == 3
    state = transfer.count_parameters(vectors)
    full = transfer.freeze(model, "full")
    assert (full.trainable["generator"], full.trainable["discriminator"]) == (total_g, total_d - state)
    assert full.total == {"generator": total_g, "discriminator": total_d - state}
    assert full.frozen_layers == () and full.frozen_total == 0
    freeze_d = transfer.freeze(model, "freeze_d", blocks=2)
    lowest = sum(transfer.count_parameters(layer.weights) for layer in block_layers(discriminator, 2))
    assert (
        freeze_d.trainable["discriminator"]
        == total_d - lowest - transfer.count_parameters(vectors[2:])
        == transfer.count_parameters(discriminator.trainable_weights)
    )
    assert freeze_d.trainable["generator"] == total_g
    assert freeze_d.frozen_layers == ("d_block1_conv", "d_block2_conv")
    freeze_g = transfer.freeze(model, "freeze_g", blocks=1)
    assert freeze_g.trainable["generator"] == total_g - transfer.count_parameters(
        generator.get_layer("g_block1_dense").weights + generator.get_layer("g_block1_norm").weights
    )
    assert (
        freeze_g.trainable["discriminator"] == total_d - state
    )  # switching strategy unfreezes what the last one froze
    assert "trainable" in str(freeze_g)


def test_freezing_more_blocks_than_exist_is_an_error():
    model = gan.GAN.from_config(dict(**SMALL))
    with pytest.raises(ValueError, match="blocks=4 but the discriminator has only 3 blocks"):
        transfer.freeze(model, "freeze_d", blocks=4)
    with pytest.raises(ValueError, match="blocks=5 but the generator has only 4 blocks"):
        transfer.freeze(model, "freeze_g", blocks=5)
    with pytest.raises(ValueError, match="strategy"):
        transfer.freeze(model, "freeze_everything")


# ------------------------------------------------------------------------------------------ checkpoints


def test_checkpoint_round_trip(tmp_path):
    model = gan.GAN.from_config(dict(seed=1, **SMALL))
    file = checkpoints.save(model.networks, tmp_path / "gan.weights.h5", latent_dim=8)
    restored = gan.GAN.from_config(dict(seed=2, **SMALL))
    codes = gan.latents(3, 0, 8)
    assert not np.array_equal(gan.generate(model.generator, codes), gan.generate(restored.generator, codes))
    checkpoints.load(restored.networks, file)
    assert np.array_equal(gan.generate(model.generator, codes), gan.generate(restored.generator, codes))
    for name in ("generator", "discriminator"):
        assert all(
            np.array_equal(a, b)
            for a, b in zip(model.networks[name].get_weights(), restored.networks[name].get_weights(), strict=True)
        )


def test_checkpoint_mismatch_is_reported_by_layer(tmp_path):
    file = checkpoints.save(
        {"discriminator": gan.build_discriminator(SHAPE, width=8)}, tmp_path / "d.weights.h5", width=8
    )
    wider = gan.build_discriminator(SHAPE, width=16)
    before = [np.array(weight) for weight in wider.weights]
    with pytest.raises(checkpoints.CheckpointError, match="discriminator/d_block1_conv: file has") as error:
        checkpoints.load({"discriminator": wider}, file)
    assert (
        "d_block3_conv" in str(error.value)
        and "d_output_dense" in str(error.value)
        and "saved with width=8" in str(error.value)
    )
    assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(before, wider.weights, strict=True)), (
        "a failed load must assign nothing"
    )
    with pytest.raises(checkpoints.CheckpointError, match="d_output_dense"):
        checkpoints.load({"discriminator": gan.build_discriminator((32, 32, 1), width=8)}, file)
    with pytest.raises(checkpoints.CheckpointError, match="layers this model lacks|missing from the file"):
        checkpoints.load({"discriminator": gan.build_generator(SHAPE, 8, 16)}, file)
    with pytest.raises(checkpoints.CheckpointError, match="generator/g_block1_dense: missing from the file"):
        checkpoints.load({"generator": gan.build_generator(SHAPE, 8, 16)}, file)
    with pytest.raises(FileNotFoundError, match="path must be an existing"):
        checkpoints.load({"discriminator": gan.build_discriminator(SHAPE, 8)}, tmp_path / "nothing.weights.h5")
    broken = tmp_path / "broken.weights.h5"
    broken.write_bytes(b"not hdf5")
    with pytest.raises(checkpoints.CheckpointError, match="not a readable weights file"):
        checkpoints.load({"discriminator": gan.build_discriminator(SHAPE, 8)}, broken)


def test_committed_source_checkpoint_loads_and_samples():
    entries = checkpoints.manifest()
    assert "gan" in entries and entries["gan"]["file"] == "gan.weights.h5"
    assert entries["gan"]["bytes"] < 5_000_000
    source = gan.load_source()
    assert source.sample(4).shape == (4, 32, 32, 1)
    # The loaded GAN's EMA starts from the source generator: sampling it draws from the source.
    np.testing.assert_array_equal(source.sample(4, seed=1), gan.sample(source.generator, 4, seed=1))
    model, report = gan.make("freeze_d", blocks=2)
    assert report.trainable["discriminator"] < report.total["discriminator"]
    assert report.trainable["generator"] == report.total["generator"]
    for name in ("generator", "discriminator"):  # make starts both networks from the committed source
        assert all(
            np.array_equal(a, b)
            for a, b in zip(source.networks[name].get_weights(), model.networks[name].get_weights(), strict=True)
        )
    assert model.sample(4).shape == (4, 32, 32, 1)
    with pytest.raises(
        checkpoints.CheckpointError,
        match=r"(?s)generator/g_block1_dense: file has .*discriminator/d_output_dense: file has",
    ):
        gan.load_source(image_shape=(64, 64, 1))


def test_sample_evaluation_uses_fixed_latents_and_the_judge():
    real = np.random.default_rng(0).uniform(0.0, 1.0, (12, 32, 32, 1)).astype(np.float32)
    model, _ = gan.make("scratch", seed=0)
    evaluate = gan.sample_evaluation(real, samples=8)
    first, second = evaluate(model, 3), evaluate(model, 3)
    assert set(first) == {"kid", "recognisable", "classes", "balanced"} and np.isfinite(first["kid"])
    assert 0.0 <= first["balanced"] <= first["recognisable"] <= 1.0 and 0 <= first["classes"] <= 10
    assert first == second  # the same latents every time for one seed: numbers along a run are comparable
    fixed = gan.latents(8, seeds.derive(3, "evaluation_latents"), model.latent_dim)
    expected = metrics.kid_x1000(
        gan.generate(model.ema_generator, fixed), metrics.judge_features(real[:8]), subsets=20, seed=3
    )
    assert first["kid"] == pytest.approx(expected)
    judged = metrics.recognisability(gan.generate(model.ema_generator, fixed))
    assert (first["recognisable"], first["classes"], first["balanced"]) == (
        judged.fraction,
        judged.classes,
        judged.balanced,
    )
    assert evaluate(model, 4) != first  # another seed draws other latents


def test_comparison_reuses_one_model_per_strategy_and_keeps_each_runs_generator():
    # experiments.run restarts one compiled model per run; each run equals a run on a new gan.make model.
    tgai.setup(seed=0)
    real = np.random.default_rng(0).uniform(0.0, 1.0, (24, 32, 32, 1)).astype(np.float32)
    evaluate = gan.sample_evaluation(real[16:], samples=4)
    keep = lambda model: [np.array(weight) for weight in model.ema_generator.weights]
    built = []
    for seed in (0, 1):
        fresh, _ = gan.make("full", seed=seed)
        built.append(experiments.run(fresh, "full", real[:16], 2, 8, 1, seed=seed, evaluate=evaluate, keep=keep))
    model, _ = gan.make("full", seed=7)
    reused = [
        experiments.run(model, "full", real[:16], 2, 8, 1, seed=seed, evaluate=evaluate, keep=keep) for seed in (0, 1)
    ]
    for first, again in zip(built, reused, strict=True):
        assert first.history == again.history and list(first.steps) == [0, 1, 2]
        assert all(np.array_equal(a, b) for a, b in zip(first.kept, again.kept, strict=True))
    assert not np.array_equal(reused[0].kept[0], reused[1].kept[0])
    with pytest.raises(
        ValueError, match=r"strategy='freeze_d' with blocks=2 freezes other weights.*build a new model for 'freeze_d'"
    ):
        experiments.run(model, "freeze_d", real[:16], 2, 8, 1)


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
    indices, distances = metrics.nearest_training_images(samples, training_images)
    assert list(indices[:2]) == [3, 1]
    assert distances[0] == pytest.approx(0.0, abs=1e-5) and distances[2] > 1.0


# ------------------------------------------------------------------------------------------ options


def test_compile_uses_xla_on_a_cpu_and_honours_an_explicit_choice(monkeypatch):
    tgai.setup(seed=0)
    monkeypatch.setenv("TGAI_XLA", "auto")  # what a lesson runs with (tests/conftest.py sets 0)
    model, _ = small_gan()
    assert model.jit_compile is True  # "auto" on a CPU, with op determinism on
    monkeypatch.setenv("TGAI_XLA", "0")
    model.compile()
    assert model.jit_compile is False  # the tests' switch turns "auto" off...
    model.compile(jit_compile=True)
    assert model.jit_compile is True  # ...but never an explicit choice
    monkeypatch.setenv("TGAI_XLA", "sometimes")
    with pytest.raises(ValueError, match="TGAI_XLA must be 0 or 1; received TGAI_XLA='sometimes'. Unset it"):
        model.compile()
    monkeypatch.setenv("TGAI_XLA", "auto")
    model.compile(jit_compile=False)
    assert model.jit_compile is False
    restarted = gan.GAN.from_config(dict(seed=1, **SMALL))
    restarted.compile_from_config(model.get_compile_config())
    assert restarted.jit_compile is False  # a restart keeps the run's setting
    with pytest.raises(ValueError, match="jit_compile must be True, False or 'auto'; received jit_compile='xla'"):
        model.compile(jit_compile="xla")


def test_ema_without_warmup_uses_the_constant_decay():
    tgai.setup(seed=0)
    model = gan.GAN.from_config(dict(seed=0, ema_warmup=False, **SMALL))
    model.compile()
    ema_before = snapshot(model.ema_generator.weights)
    model.train_step(tf.constant(images(8)))
    live = snapshot(model.generator.weights)
    for before, current, average in zip(ema_before, live, snapshot(model.ema_generator.weights), strict=True):
        np.testing.assert_allclose(average, 0.99 * before + 0.01 * current, rtol=1e-5, atol=1e-7)
    assert model.get_config()["ema_warmup"] is False
    with pytest.raises(TypeError, match="ema_warmup must be True or False; received 'no'"):
        gan.GAN.from_config(dict(seed=0, ema_warmup="no", **SMALL))
