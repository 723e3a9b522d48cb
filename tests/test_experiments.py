"""tgai.experiments: fair comparisons (every label x seed, equal steps) and the Run accessors (lessons 03, 04).

A tiny GAN at 16x16 (the registry's small GAN, tests/models.py) keeps each run to a few steps; the evaluation is
a cheap function of the model (the EMA generator's mean on fixed latents) plus what it was called with.
"""

import numpy as np
import pytest
from models import MODELS

from tgai import experiments
from tgai.models import gan, transfer

CASE = MODELS["gan"]
SHAPE = CASE.small["image_shape"]
IMAGES = np.random.default_rng(0).uniform(0.0, 1.0, (16, *SHAPE)).astype(np.float32)
CODES = gan.latents(4, 0, CASE.small["latent_dim"])


def mean(model):
    return float(gan.generate(model.ema_generator, CODES).mean())


def evaluate(model, seed):
    """The EMA generator's mean on fixed latents, with the step and seed it was evaluated at."""
    return {"mean": mean(model), "step": int(model.d_optimizer.iterations), "seed": seed}


def keep(model):
    return {
        "steps": [int(optimizer.iterations) for optimizer in model.optimizers],
        "weights": [np.array(w) for w in model.ema_generator.weights],
    }


@pytest.fixture(scope="module")
def source():
    return CASE.create_small(seed=99)


def test_compare_runs_every_label_for_every_seed_at_equal_steps(source):
    scratch, _ = CASE.build_small("scratch", seed=5)
    frozen, _ = CASE.build_small("freeze_d", seed=5, blocks=1, source=source)
    order = []
    runs = experiments.compare(
        {"scratch": (scratch, "scratch"), "fine-tune": (scratch, "full"), "freeze-d": (frozen, "freeze_d")},
        IMAGES,
        seeds=[0, 1],
        steps=4,
        batch_size=8,
        eval_every=2,
        on_run=lambda run: order.append((run.label, run.seed)),
        evaluate=evaluate,
        snapshot=lambda model, seed: gan.generate(model.ema_generator, CODES[:2]),
        keep=keep,
        blocks=1,
        source=source,
    )
    assert list(runs) == ["scratch", "fine-tune", "freeze-d"]
    # Seeds are the outer loop: stopping early leaves every configuration with the same seeds.
    assert order == [(label, seed) for seed in (0, 1) for label in ("scratch", "fine-tune", "freeze-d")]
    for label, strategy in (("scratch", "scratch"), ("fine-tune", "full"), ("freeze-d", "freeze_d")):
        assert [run.seed for run in runs[label]] == [0, 1]
        for run in runs[label]:
            assert (run.label, run.strategy, run.report.strategy) == (label, strategy, strategy)
            assert run.steps.tolist() == [0, 2, 4] and run.series("step").tolist() == [0, 2, 4]
            assert set(run.series("seed")) == {run.seed}, "every evaluation receives the run's seed"
            assert [step for step, _ in run.snapshots] == [0, 2, 4] and run.snapshots[0][1].shape == (2, *SHAPE)
            assert run.kept["steps"] == [4, 4], "every run trains for the same number of steps"
            assert run.seconds > 0
    assert runs["freeze-d"][0].report.trainable["discriminator"] < runs["freeze-d"][0].report.total["discriminator"]
    # Fine-tuning starts from the source, scratch from fresh weights of the run's seed.
    from_source = float(gan.generate(source.generator, CODES).mean())  # compile copies G into the EMA
    assert runs["fine-tune"][0].at(0, "mean") == runs["fine-tune"][1].at(0, "mean") == from_source
    assert runs["scratch"][0].at(0, "mean") != runs["scratch"][1].at(0, "mean")
    assert runs["scratch"][1].at(0, "mean") == float(gan.generate(CASE.create_small(seed=1).generator, CODES).mean())


def test_a_run_on_a_reused_model_equals_a_run_on_a_new_one(source):
    reused, _ = CASE.build_small("full", seed=3, source=source)
    experiments.run(reused, "full", IMAGES, 4, 8, 2, seed=0, evaluate=evaluate, source=source)
    again = experiments.run(reused, "full", IMAGES, 4, 8, 2, seed=1, evaluate=evaluate, keep=keep, source=source)
    fresh_model, _ = CASE.build_small("full", seed=1, source=source)
    fresh = experiments.run(fresh_model, "full", IMAGES, 4, 8, 2, seed=1, evaluate=evaluate, keep=keep, source=source)
    assert again.history == fresh.history
    assert all(np.array_equal(a, b) for a, b in zip(again.kept["weights"], fresh.kept["weights"], strict=True))


def test_batch_size_is_capped_at_the_number_of_images(source):
    model, _ = CASE.build_small("scratch")
    run = experiments.run(model, "scratch", IMAGES[:6], 2, 16, 2, evaluate=evaluate)
    assert run.final("step") == 2 and run.label == "scratch" and run.snapshots == [] and run.kept is None


def test_run_accessors():
    history = [(0, {"kid": 10.0}), (25, {"kid": 6.0}), (50, {"kid": 4.0}), (75, {"kid": 5.0})]
    run = experiments.Run("full", "full", 0, None, history, [], 1.0)
    assert run.steps.tolist() == [0, 25, 50, 75]
    assert run.series("kid").tolist() == [10.0, 6.0, 4.0, 5.0]
    assert run.at(25, "kid") == 6.0 and run.at(0, "kid") == 10.0
    assert run.final("kid") == 5.0
    assert (
        run.steps_to_reach("kid", 6.0) == 25
        and run.steps_to_reach("kid", 4.5) == 50
        and run.steps_to_reach("kid", 10.0) == 0
    )
    assert run.steps_to_reach("kid", 3.9) is None
    with pytest.raises(ValueError, match=r"step=30 was not evaluated; evaluated steps: \[0, 25, 50, 75\]"):
        run.at(30, "kid")
    other = experiments.Run(
        "full",
        "full",
        1,
        None,
        [(step, {"kid": value + 2}) for step, value in [(0, 10.0), (25, 6.0), (50, 4.0), (75, 5.0)]],
        [],
        1.0,
    )
    third = experiments.Run(
        "full",
        "full",
        2,
        None,
        [(step, {"kid": value * 3}) for step, value in [(0, 10.0), (25, 6.0), (50, 4.0), (75, 5.0)]],
        [],
        1.0,
    )
    assert experiments.median([run, other, third], "kid").tolist() == [12.0, 8.0, 6.0, 7.0]


def test_compare_refuses_bad_configurations_and_seeds(source):
    model, _ = CASE.build_small("scratch")
    with pytest.raises(
        TypeError, match=r"configurations must be a non-empty dict \{label: \(model, strategy\)\}; received"
    ):
        experiments.compare({}, IMAGES, [0], 2, 8, 2)
    with pytest.raises(TypeError, match=r"configurations must be a non-empty dict"):
        experiments.compare([(model, "scratch")], IMAGES, [0], 2, 8, 2)
    with pytest.raises(ValueError, match=r"seed.*>= 0.*-1"):
        experiments.compare({"scratch": (model, "scratch")}, IMAGES, [-1], 2, 8, 2)
    trainable = transfer.count_parameters(model.trainable_weights)
    with pytest.raises(ValueError, match=r"strategy='freeze_d' with blocks=2 freezes other weights"):
        experiments.compare({"freeze-d": (model, "freeze_d")}, IMAGES, [0], 2, 8, 2, source=source)
    assert transfer.count_parameters(model.trainable_weights) == trainable, "a refused run keeps the model's freezing"
