"""Comparing transfer strategies fairly: every strategy, every seed, the same steps, batch and evaluations.

Introduced in lesson 03 (GAN fine-tuning); lesson 04 writes the same loop out with `tgai.models.transfer.restart`,
`tgai.models.vae.train` and a `tgai.training.PeriodicEvaluation` of the held-out -ELBO, whose curves it plots. A
comparison is a loop over seeds and strategies; each run restarts one compiled model per strategy
(`tgai.models.transfer.restart`, which costs nothing, where tracing a new model costs seconds on a CPU), trains it
with `tgai.training.fit`, evaluates it every `eval_every` steps, and keeps snapshots and a copy of the result.

    runs = tgai.experiments.compare({"scratch": (model, "scratch"), "fine-tune": (model, "full")},
                                    images, seeds=[0, 1, 2], steps=100, batch_size=16, eval_every=25,
                                    evaluate=tgai.models.gan.sample_evaluation(heldout, samples=500))
    runs["fine-tune"][0].final("kid")

A claim about a strategy should rest on the median over seeds and on an effect larger than the spread.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from tgai import training
from tgai.core import config, validation
from tgai.models import transfer

# Shared by the comparisons of lessons 03 and 04: seeds per configuration, samples per KID.
config.register_settings(
    "tgai.experiments", class_={"seeds": 3, "kid_samples": 500}, full={"seeds": 5, "kid_samples": 1000}
)


@dataclasses.dataclass
class Run:
    """One training run: what was trained, how the evaluated numbers moved, and samples over time.

    Attributes:
        label: The name the comparison gave this configuration.
        strategy: The transfer strategy.
        seed: The seed of the run.
        report: The `tgai.models.transfer.ParameterReport` of the strategy.
        history: `[(step, {name: value})]` from the evaluations, step 0 included.
        snapshots: `[(step, images)]` from `snapshot(model)` at the same steps.
        seconds: Wall time of training and evaluation.
        kept: What `keep(model)` returned at the end (e.g. a copy of the generator), or None.
    """

    label: str
    strategy: str
    seed: int
    report: transfer.ParameterReport
    history: list
    snapshots: list
    seconds: float
    kept: object = None

    @property
    def steps(self) -> np.ndarray:
        """The evaluated steps."""
        return np.asarray([step for step, _ in self.history])

    def series(self, name: str) -> np.ndarray:
        """The values of one evaluated quantity, one per evaluated step."""
        return np.asarray([values[name] for _, values in self.history])

    def at(self, step: int, name: str) -> float:
        """The value of `name` at an evaluated step."""
        matches = np.flatnonzero(self.steps == step)
        if not len(matches):
            raise ValueError(f"step={step} was not evaluated; evaluated steps: {self.steps.tolist()}.")
        return float(self.series(name)[matches[0]])

    def final(self, name: str) -> float:
        """The value of `name` at the last evaluation."""
        return float(self.series(name)[-1])

    def steps_to_reach(self, name: str, target: float):
        """The first evaluated step at which `name` is at most `target`, or None if it never is."""
        reached = np.flatnonzero(self.series(name) <= target)
        return int(self.steps[reached[0]]) if len(reached) else None


def run(
    model,
    strategy,
    images,
    steps,
    batch_size,
    eval_every,
    seed=0,
    evaluate=None,
    snapshot=None,
    keep=None,
    blocks=2,
    source=None,
    label=None,
) -> Run:
    """Restart a compiled model for `strategy` and `seed`, train it, and return the `Run`.

    Introduced in lesson 03. `batch_size` is capped at the number of images (10 images train at batch 10).

    Args:
        model: A compiled tgai model, frozen for `strategy` (e.g. from `tgai.models.gan.make`).
        strategy: A key of `type(model).STRATEGIES`.
        images: Training images, float32 NHWC in [0, 1].
        steps: Training steps, a multiple of `eval_every`.
        batch_size: Images per step.
        eval_every: Steps between evaluations and snapshots.
        seed: Seeds the restart (fresh weights, training randomness) and the data order.
        evaluate: `function(model, seed) -> {name: float}`, called at step 0 and every `eval_every` steps;
            `seed` is the run's, so that every strategy run with one seed is evaluated on the same draws.
        snapshot: `function(model, seed) -> images`, called at the same steps.
        keep: `function(model) -> object` called once at the end, e.g. to copy the generator.
        blocks: For strategies that freeze the lowest blocks.
        source: A model of the same kind to start from (None: the committed source checkpoint).
        label: The name of the configuration (default: the strategy).
    """
    images = validation.images(images)
    batch_size = min(validation.positive_int(batch_size, "batch_size"), len(images))
    report = transfer.restart(model, strategy, seed, blocks, source)
    callbacks = []
    if evaluate is not None:
        callbacks.append(training.PeriodicEvaluation(lambda trained: evaluate(trained, seed), eval_every))
    if snapshot is not None:
        callbacks.append(training.SampleSnapshots(lambda trained: snapshot(trained, seed), eval_every))
    start = time.perf_counter()
    training.fit(
        model,
        images,
        steps,
        batch_size,
        seed=seed,
        chunk=eval_every,
        callbacks=callbacks,
        description=f"{label or strategy}, seed {seed}",
    )
    seconds = time.perf_counter() - start
    history = callbacks[0].history if evaluate is not None else []
    snapshots = callbacks[-1].snapshots if snapshot is not None else []
    return Run(label or strategy, strategy, seed, report, history, snapshots, seconds, keep(model) if keep else None)


def compare(configurations, images, seeds, steps, batch_size, eval_every, on_run=None, **run_options) -> dict:
    """Run every configuration for every seed at equal steps, batch size and evaluations.

    Introduced in lesson 03. Seeds are the outer loop, so that stopping early still leaves every
    configuration with the same seeds.

    Args:
        configurations: `{label: (model, strategy)}`; one compiled model may serve several labels whose
            strategies leave the same weights trainable (e.g. `scratch` and `full`).
        images: Training images, float32 NHWC in [0, 1].
        seeds: The seeds, e.g. `range(SEED, SEED + 3)`.
        steps, batch_size, eval_every: As in `run`, the same for every run.
        on_run: Optional `function(run)` called after each run (e.g. to print a line).
        **run_options: Passed to `run` (evaluate, snapshot, keep, blocks, source).

    Returns:
        `{label: [Run, one per seed]}`.
    """
    if not isinstance(configurations, dict) or not configurations:
        raise TypeError(
            f"configurations must be a non-empty dict {{label: (model, strategy)}}; received "
            f"{validation.describe(configurations)}."
        )
    seeds = [validation.positive_int(seed, "seed", minimum=0) for seed in seeds]
    runs = {label: [] for label in configurations}
    for seed in seeds:
        for label, (model, strategy) in configurations.items():
            result = run(model, strategy, images, steps, batch_size, eval_every, seed=seed, label=label, **run_options)
            runs[label].append(result)
            if on_run is not None:
                on_run(result)
    return runs


def median(runs, name: str) -> np.ndarray:
    """The median over runs of one evaluated quantity, step by step."""
    return np.median([run.series(name) for run in runs], axis=0)
