"""Tests for tgai.models.diffusion: builders, the schedule, the DDIM sampler, train_step, prior preservation, LoRA."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

import tgai
from tgai.core import checkpoints
from tgai.models import diffusion, lora, transfer

SMALL = {"image_shape": (16, 16, 1), "autoencoder": "fresh", "autoencoder_width": 8, "widths": (16, 16)}


@pytest.fixture(scope="module", autouse=True)
def deterministic_session():
    tgai.setup(seed=0)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0.0, 1.0, (32, 16, 16, 1)).astype(np.float32)


def small(seed=0, **options):
    return diffusion.LatentDiffusion.from_config({**SMALL, "seed": seed, **options})


def compiled(seed=0, **options):
    model = small(seed, **options)
    transfer.prepare(model, "scratch")
    model.compile()
    return model


# Builders, the embedding and the schedule.


def test_builders_shapes():
    encoder = diffusion.build_encoder(seed=1)
    decoder = diffusion.build_decoder(seed=1)
    assert encoder.output_shape == (None, 8, 8, diffusion.LATENT_CHANNELS)
    assert decoder.output_shape == (None, 32, 32, 1)
    denoiser = diffusion.build_denoiser(seed=1)
    assert denoiser.output_shape == (None, 8, 8, diffusion.LATENT_CHANNELS)


def test_builders_are_seeded_and_seeds_differ():
    first, again, other = (diffusion.build_denoiser(seed=seed) for seed in (1, 1, 2))
    assert all(np.array_equal(a, b) for a, b in zip(first.get_weights(), again.get_weights(), strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first.get_weights(), other.get_weights(), strict=True))


def test_a_fresh_denoiser_predicts_no_noise():
    denoiser = diffusion.build_denoiser(seed=3)
    latents = np.random.default_rng(0).standard_normal((4, 8, 8, 4)).astype(np.float32)
    predicted = denoiser([latents, np.full((4, 1, 1, 1), 0.5, np.float32)])
    assert np.all(np.asarray(predicted) == 0.0)


@pytest.mark.parametrize(
    "widths, message", [((60, 128), "multiples of 8"), ((64,), "2 positive integers"), ((64, 0), "positive")]
)
def test_denoiser_refuses_widths_it_cannot_build(widths, message):
    with pytest.raises(ValueError, match=message):
        diffusion.build_denoiser(widths=widths)


def test_noise_embedding_tells_noise_levels_apart():
    embedding = diffusion.NoiseEmbedding(8)
    values = np.asarray(embedding(np.array([0.1, 0.5], np.float32).reshape(2, 1, 1, 1)))
    assert values.shape == (2, 1, 1, 8)
    assert np.abs(values[0] - values[1]).max() > 0.1
    assert np.allclose(values[..., :4] ** 2 + values[..., 4:] ** 2, 1.0, atol=1e-6)  # sin^2 + cos^2


def test_schedule_preserves_variance_and_runs_from_signal_to_noise():
    times = np.linspace(0.0, 1.0, 11, dtype=np.float32)
    signal, noise = (np.asarray(rate) for rate in diffusion.diffusion_schedule(times))
    assert np.allclose(signal**2 + noise**2, 1.0, atol=1e-6)
    assert signal[0] == pytest.approx(diffusion.MAX_SIGNAL_RATE, abs=1e-6)
    assert signal[-1] == pytest.approx(diffusion.MIN_SIGNAL_RATE, abs=1e-6)
    assert np.all(np.diff(signal) < 0) and np.all(np.diff(noise) > 0)


# The model.


def test_only_the_denoiser_trains_and_the_autoencoder_is_frozen():
    model = compiled()
    assert model.encoder.trainable is False and model.decoder.trainable is False
    assert transfer.count_parameters(model.trainable_weights) == model.denoiser.count_params()
    assert list(model.networks) == ["denoiser"]


def test_train_reports_the_noise_loss_and_leaves_the_autoencoder_untouched(images):
    model = compiled()
    before = [weight.copy() for weight in model.encoder.get_weights() + model.decoder.get_weights()]
    denoiser_before = model.denoiser.get_weights()
    history = diffusion.train(model, images, 4, 8, eval_every=2)
    assert set(history.history) == {"loss", "noise_loss"}
    assert all(math.isfinite(value) for value in history.history["loss"])
    after = model.encoder.get_weights() + model.decoder.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(denoiser_before, model.denoiser.get_weights(), strict=True))


def test_prior_preservation_samples_the_starting_model_at_compile_and_adds_its_loss(images):
    model = compiled(prior_weight=1.0, prior_samples=8)
    noise = diffusion.initial_noise(8, tgai.core.seeds.derive(0, "prior_samples"), model.latent_shape)
    assert np.allclose(model.prior_latents.numpy(), np.asarray(model.denoise(noise)), atol=1e-5)
    history = diffusion.train(model, images, 2, 8)
    assert set(history.history) == {"loss", "noise_loss", "prior_loss"}
    total = history.history["noise_loss"][0] + history.history["prior_loss"][0]
    assert history.history["loss"][0] == pytest.approx(total, rel=1e-5)


def test_ddim_returns_the_data_point_when_the_denoiser_is_an_oracle():
    """With a denoiser that predicts the exact noise for data that is one point x0, every DDIM step lands on x0."""
    model = small()
    target = np.random.default_rng(1).standard_normal((1, *model.latent_shape)).astype(np.float32)
    noisy = keras.Input(model.latent_shape)
    variances = keras.Input((1, 1, 1))
    noise_rates = keras.layers.Lambda(lambda v: keras.ops.sqrt(v))(variances)
    signal_rates = keras.layers.Lambda(lambda v: keras.ops.sqrt(1.0 - v))(variances)
    oracle = keras.layers.Lambda(lambda x: (x[0] - x[1] * target) / x[2])([noisy, signal_rates, noise_rates])
    model.ema_denoiser = keras.Model([noisy, variances], oracle)
    noise = np.random.default_rng(2).standard_normal((3, *model.latent_shape)).astype(np.float32)
    clean, trajectory = model.denoise(noise, steps=5, trajectory=True)
    assert len(trajectory) == 5
    assert np.allclose(np.asarray(clean), np.broadcast_to(target, clean.shape), atol=1e-4)


def test_sample_is_seeded_and_in_unit_range():
    model = compiled()
    first, again, other = model.sample(4, seed=1, steps=3), model.sample(4, seed=1, steps=3), model.sample(4, 2, 3)
    assert first.shape == (4, 16, 16, 1) and first.dtype == np.float32
    assert 0.0 <= first.min() and first.max() <= 1.0
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_config_round_trip_builds_the_same_architecture():
    model = small(seed=4, prior_weight=0.5, prior_samples=4, ema_decay=0.99)
    config = model.get_config()
    rebuilt = diffusion.LatentDiffusion.from_config(config)
    assert rebuilt.get_config() == config
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in model.weights]


@pytest.mark.parametrize(
    "options, error, message",
    [
        ({"prior_weight": -1.0}, ValueError, "prior_weight"),
        ({"ema_decay": 1.0}, ValueError, "ema_decay"),
        ({"ema_warmup": "yes"}, TypeError, "ema_warmup"),
        ({"latent_scale": 0.0}, ValueError, "latent_scale"),
        ({"autoencoder": "imagenet"}, ValueError, "autoencoder"),
        ({"prior_samples": 0}, ValueError, "prior_samples"),
    ],
)
def test_bad_options_are_refused_by_name(options, error, message):
    with pytest.raises(error, match=message):
        small(**options)


def test_a_denoiser_of_another_latent_shape_is_refused():
    encoder, decoder = diffusion.build_encoder((16, 16, 1), 4, 8), diffusion.build_decoder((16, 16, 1), 4, 8)
    with pytest.raises(ValueError, match="latent_shape equal to the encoder's output shape"):
        diffusion.LatentDiffusion(encoder, decoder, diffusion.build_denoiser((8, 8, 4)))


# LoRA on the denoiser.


def test_lora_trains_only_the_adapters_of_the_denoiser(images):
    source = small(seed=2)
    model = diffusion.make_lora(2, source=source, learning_rate=1e-3)
    adapted = lora.adapted_layers(model.denoiser)
    assert adapted and all(isinstance(layer, keras.layers.Conv2D) for layer in adapted)
    assert {weight.name for weight in model.trainable_weights} == set(lora.ADAPTER_WEIGHTS)
    assert transfer.count_parameters(model.trainable_weights) < 0.2 * source.denoiser.count_params()
    # Fresh adapters (B = 0) compute what the source does.
    noise = diffusion.initial_noise(2, 0, source.latent_shape)
    assert np.allclose(np.asarray(model.denoise(noise, 3)), np.asarray(source.denoise(noise, 3)), atol=1e-5)
    diffusion.train(model, images, 2, 8)


def test_make_lora_refuses_another_kind_of_source():
    with pytest.raises(TypeError, match="LatentDiffusion"):
        diffusion.make_lora(2, source=diffusion.build_denoiser())


# The committed checkpoints.


def test_committed_autoencoder_reconstructs_held_out_handwriting():
    entry = checkpoints.manifest()[diffusion.AUTOENCODER]
    assert entry["latent_shape"] == [8, 8, diffusion.LATENT_CHANNELS]
    assert entry["mnist_5k_test_reconstructions_balanced"] >= 0.85  # the ceiling lesson 06 prints
    assert entry["latent_scale"] == pytest.approx(diffusion.committed_latent_scale())


def test_committed_source_loads_and_samples_typeset_digits():
    source = diffusion.load_source()
    assert source.latent_scale == pytest.approx(diffusion.committed_latent_scale())
    samples = source.sample(200, seed=0)
    judged = tgai.metrics.recognisability(samples, judge_name="glyph_judge")
    assert judged.classes == 10, judged


# Lesson 06's exercises: each folded solution passes its check cell, and the skeleton does not.


def test_lesson_06_exercise_solutions_pass_their_checks_and_the_skeletons_do_not():
    import json
    import pathlib
    import re

    cells = json.loads((pathlib.Path(__file__).parents[1] / "notebooks" / "06_latent_diffusion.ipynb").read_text())[
        "cells"
    ]
    sources = ["".join(cell["source"]) for cell in cells]
    source = diffusion.load_source()
    namespace = {"np": np, "keras": keras, "diffusion": diffusion, "source": source}
    namespace["heldout"] = tgai.data.load("mnist_5k", "test")[0][:8]
    checks = [index for index, text in enumerate(sources) if text.startswith("def check_")]
    assert len(checks) >= 2, "lesson 06 should have at least two exercises with check cells"
    for index in checks:
        skeleton, solution_cell, check = sources[index - 2], sources[index - 1], sources[index]
        solution = re.search(r"```python\n(.*?)```", solution_cell, re.DOTALL).group(1)
        check_name = re.match(r"def (\w+)", check).group(1)
        function_name = re.match(r"def (\w+)", skeleton).group(1)
        exec(skeleton, namespace)
        exec(check, namespace)  # the cell ends by checking the skeleton, as a learner first runs it
        assert namespace[check_name](namespace[function_name]).startswith("not yet"), check_name
        exec(solution, namespace)
        assert namespace[check_name](namespace[function_name]).startswith("correct"), check_name
