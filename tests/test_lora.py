"""Tests for tgai.models.lora: adapters on the GAN generator and the VAE decoder, counting, merging, saving, loading."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tgai
from tgai.core import checkpoints
from tgai.models import gan, lora, vae
from tgai.models.transfer import count_parameters as count

GENERATOR_LAYERS = ["g_block1_dense", "g_block2_conv", "g_block3_conv", "g_block4_conv", "g_output_conv"]


def generator(seed=0):
    return tgai.models.gan.build_generator(image_shape=(16, 16, 1), latent_dim=8, width=16, seed=seed)


def decoder(seed=0):
    return tgai.models.vae.build_decoder(image_shape=(16, 16, 1), latent_dim=4, seed=seed)


def codes(model, number=6, seed=0):
    return np.random.default_rng(seed).standard_normal((number, model.input_shape[-1])).astype(np.float32)


def perturb(model, seed=1):
    """Give every adapter nonzero values, as training would (B starts at zero, so fresh adapters change nothing)."""
    rng = np.random.default_rng(seed)
    for layer in lora.adapted_layers(model):
        for name in lora.ADAPTER_WEIGHTS:
            variable = getattr(layer, name)
            variable.assign(rng.normal(0.0, 0.1, variable.shape).astype(np.float32))


@pytest.mark.parametrize("build", [generator, decoder], ids=["gan-generator", "vae-decoder"])
def test_adaptable_copy_and_fresh_adapters_compute_what_the_source_does(build):
    source = build()
    inputs = codes(source)
    copy = lora.adaptable(source)
    transposed = any(isinstance(layer, keras.layers.Conv2DTranspose) for layer in source.layers)
    assert any(isinstance(layer, lora.Conv2DTranspose) for layer in copy.layers) == transposed, (
        "transposed convolutions, and only those, are swapped for the kit's adaptable kind"
    )
    np.testing.assert_array_equal(np.asarray(copy(inputs)), np.asarray(source(inputs)))
    lora.enable(copy, rank=2)
    np.testing.assert_array_equal(np.asarray(copy(inputs)), np.asarray(source(inputs)), "B starts at zero")


@pytest.mark.parametrize("rank", [1, 3])
def test_enable_leaves_only_the_adapters_trainable_and_counts_them(rank):
    model = lora.adaptable(generator())
    names = lora.enable(model, rank)
    assert names == GENERATOR_LAYERS
    expected = 0
    for layer in model.layers:
        if layer.name in names:
            kernel_shape = tuple(layer._kernel.shape)
            expected += int(np.prod(kernel_shape[:-1])) * rank + rank * kernel_shape[-1]
    assert count(model.trainable_weights) == expected
    assert {weight.name for weight in model.trainable_weights} == set(lora.ADAPTER_WEIGHTS)
    assert count(model.weights) == count(generator().weights) + expected


def test_only_the_adapters_change_in_training():
    model = lora.adaptable(generator())
    lora.enable(model, 2)
    before = {weight.path: np.array(weight) for weight in model.weights}
    optimizer = keras.optimizers.Adam(1e-2)
    inputs = codes(model, 8)
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(keras.ops.square(model(inputs, training=True) - 0.5))
        optimizer.apply_gradients(
            zip(tape.gradient(loss, model.trainable_weights), model.trainable_weights, strict=True)
        )
    for weight in model.weights:
        changed = not np.array_equal(before[weight.path], np.array(weight))
        if weight.name == "lora_kernel_b":
            assert changed, f"{weight.path} should train"
        elif weight.name != "lora_kernel_a":
            assert not changed, f"{weight.path} is frozen and must not move"


@pytest.mark.parametrize("build", [generator, decoder], ids=["gan-generator", "vae-decoder"])
def test_merging_adapters_leaves_outputs_unchanged(build):
    model = lora.adaptable(build())
    lora.enable(model, 3)
    perturb(model)
    merged = lora.merge(model)
    inputs = codes(model, 8)
    assert not lora.adapted_layers(merged)
    assert all(type(layer) is not lora.Conv2DTranspose for layer in merged.layers), "the merged model is plain Keras"
    assert count(merged.weights) == count(build().weights)
    np.testing.assert_allclose(np.asarray(merged(inputs)), np.asarray(model(inputs)), atol=1e-5)
    assert not np.allclose(np.asarray(merged(inputs)), np.asarray(build()(inputs)), atol=1e-3), (
        "the adapters changed something"
    )


def test_the_gan_ema_copy_carries_the_adapters():
    model = lora.adaptable(generator())
    lora.enable(model, 2)
    perturb(model)
    gan = tgai.models.gan.GAN(model, tgai.models.gan.build_discriminator((16, 16, 1), 8), ema_warmup=False)
    assert len(lora.adapted_layers(gan.ema_generator)) == len(GENERATOR_LAYERS)
    inputs = codes(model)
    np.testing.assert_array_equal(np.asarray(gan.ema_generator(inputs)), np.asarray(model(inputs)))


def test_adapter_file_round_trip_holds_only_the_adapters(tmp_path):
    model = lora.adaptable(generator())
    lora.enable(model, 2)
    perturb(model)
    path = lora.save(model, tmp_path / "digits.h5", target="mnist_5k")
    fresh = lora.adaptable(generator())
    lora.enable(fresh, 2)
    lora.load(fresh, path)
    inputs = codes(model)
    np.testing.assert_array_equal(np.asarray(fresh(inputs)), np.asarray(model(inputs)))
    full = checkpoints.save({"generator": lora.merge(model)}, tmp_path / "full.h5")
    assert path.stat().st_size < full.stat().st_size


def test_loading_a_mismatched_rank_names_the_layers_and_ranks(tmp_path):
    model = lora.adaptable(generator())
    lora.enable(model, 2)
    path = lora.save(model, tmp_path / "rank2.h5")
    other = lora.adaptable(generator())
    lora.enable(other, 4)
    perturb(other)
    before = [np.array(weight) for weight in other.weights]
    with pytest.raises(
        checkpoints.CheckpointError, match=r"g_block2_conv: file rank 2 \(alpha 2\), model rank 4"
    ) as error:
        lora.load(other, path)
    assert "rank 2" in str(error.value).splitlines()[-1], "the fix names the file's rank"
    assert all(np.array_equal(a, np.array(b)) for a, b in zip(before, other.weights, strict=True)), "nothing assigned"


def test_loading_onto_missing_layers_or_another_base_is_refused(tmp_path):
    model = lora.adaptable(generator())
    lora.enable(model, 2)
    path = lora.save(model, tmp_path / "adapters.h5")
    partial = lora.adaptable(generator())
    partial.get_layer("g_block3_conv").enable_lora(2)
    with pytest.raises(
        checkpoints.CheckpointError,
        match="g_block2_conv: the file has rank 2 adapters, the model's layer has no adapters",
    ):
        lora.load(partial, path)
    other_base = lora.adaptable(generator(seed=5))
    lora.enable(other_base, 2)
    with pytest.raises(checkpoints.CheckpointError, match="trained on another base kernel"):
        lora.load(other_base, path)


def test_bad_input_gets_clear_errors(tmp_path):
    with pytest.raises(TypeError, match="model must be a keras.Model"):
        lora.adaptable("generator")
    model = lora.adaptable(generator())
    with pytest.raises(ValueError, match="rank"):
        lora.enable(model, 0)
    with pytest.raises(ValueError, match="no adapters to merge"):
        lora.merge(model)
    with pytest.raises(ValueError, match="no adapters to save"):
        lora.save(model, tmp_path / "none.h5")
    with pytest.raises(FileNotFoundError, match="received path="):
        lora.load(model, tmp_path / "missing.h5")
    plain = keras.Sequential([keras.Input((4,)), keras.layers.ReLU()])
    with pytest.raises(ValueError, match="has no layer with enable_lora"):
        lora.enable(plain, 2)
    lora.enable(model, 2)
    with pytest.raises(ValueError, match="already"):  # Keras' own Conv2D adapters refuse a second rank too
        model.get_layer("g_block2_conv").enable_lora(2)
    adapted_decoder = lora.adaptable(decoder())
    lora.enable(adapted_decoder, 2)
    transposed = next(layer for layer in adapted_decoder.layers if isinstance(layer, lora.Conv2DTranspose))
    with pytest.raises(ValueError, match="already has adapters of rank 2"):
        transposed.enable_lora(2)


def test_make_lora_trains_the_generator_adapters_and_the_whole_discriminator():
    source = tgai.models.gan.GAN.from_config(dict(seed=0, image_shape=(16, 16, 1), latent_dim=8, widths=(16, 8)))
    model = gan.make_lora(2, source, seed=1)
    assert model.compiled and model.seed == 1
    assert {weight.name for weight in model.generator.trainable_weights} == set(lora.ADAPTER_WEIGHTS)
    assert count(model.discriminator.trainable_weights) == count(tgai.models.transfer.parameters(source.discriminator))
    assert model.discriminator is not source.discriminator, "the source's networks stay untouched"
    inputs = codes(source.generator)
    np.testing.assert_array_equal(np.asarray(model.generator(inputs)), np.asarray(source.generator(inputs)))
    tgai.models.gan.train(
        model, np.random.default_rng(0).uniform(0, 1, (16, 16, 16, 1)).astype(np.float32), 2, 8, seed=1
    )
    assert not np.array_equal(np.asarray(model.generator(inputs)), np.asarray(source.generator(inputs))), (
        "the adapters trained"
    )


def test_make_vae_freezes_the_encoder_and_trains_decoder_adapters():
    source = tgai.models.vae.VAE.from_config(dict(seed=0, image_shape=(16, 16, 1), latent_dim=4))
    model = vae.make_lora(3, source, seed=0)
    assert count(model.encoder.trainable_weights) == 0
    assert {weight.name for weight in model.trainable_weights} == set(lora.ADAPTER_WEIGHTS)
    assert len(lora.adapted_layers(model.decoder)) == 4, "the Dense layer and the three transposed convolutions"


@pytest.mark.parametrize("make", [gan.make_lora, vae.make_lora], ids=["gan", "vae"])
def test_make_refuses_a_wrong_source_or_learning_rate(make):
    with pytest.raises(TypeError, match="source must be a tgai"):
        make(2, source="generator")
    source = (
        tgai.models.gan.GAN.from_config(dict(image_shape=(16, 16, 1), latent_dim=8, widths=(16, 8)))
        if make is gan.make_lora
        else tgai.models.vae.VAE.from_config(dict(image_shape=(16, 16, 1), latent_dim=4))
    )
    with pytest.raises(ValueError, match="learning_rate must be a finite number > 0; received learning_rate=-0.001"):
        make(2, source, learning_rate=-1e-3)
