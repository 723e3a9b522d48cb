"""Lesson 03's claims over many seeds: one run per seed, each with its own target digits, as a learner's SEED gives.

seeds_gan: for each of `seed_count` seeds (20 at the full scale), lesson 03's recipe at its comparison point:
N = 100 target digits drawn with that seed (`domain_pair(n_target=100, seed=seed)`), batch 32, the class
profile's 250 steps evaluated every 125 on held-out digits with 300 samples; fine-tuning from the committed
source at Adam 2e-4 with a constant EMA, scratch at 1e-3 (sweep_gan's best) with the EMA warm-up. One row per
quantity the lesson asserts, with every seed's value as its samples, so that a claim's threshold can be read
against the worst seed: balanced recognisability, plain recognisability, digits covered and KID x 1000 (judge
space) at steps 0, 125 and 250; fine-tuning's margin over scratch at step 250 (balanced, and KID as scratch /
fine-tune); and the memorisation ratios (median distance of 200 fine-tuned samples to their nearest training
image over that of 200 held-out digits, in pixels and in the judge's features). A claim that holds for each
seed's single run also holds for the median of several runs (the lesson's unit): if every run's value clears a
threshold, so does any median of them.
"""

from __future__ import annotations

import numpy as np

from benchmarks import common

TARGET_COUNT = 100
FINE_TUNE_LEARNING_RATE = 2e-4
MEMORISATION_SAMPLES = 200


def _memorisation(generator, pair, seed) -> dict:
    """Median nearest-training distance of samples over that of held-out digits, in both spaces."""
    from tgai import metrics
    from tgai.models import gan

    samples = gan.sample(generator, MEMORISATION_SAMPLES, seed=seed + 7)  # as lesson 03 draws them
    heldout = pair.heldout_images[:MEMORISATION_SAMPLES]
    ratios = {}
    for space in metrics.NEAREST_SPACES:
        _, sample_distances = metrics.nearest_training_images(samples, pair.target_images, space=space)
        _, heldout_distances = metrics.nearest_training_images(heldout, pair.target_images, space=space)
        ratios[space] = float(np.median(sample_distances) / np.median(heldout_distances))
    return ratios


def run(scale: common.Scale, log=print) -> list[dict]:
    import tgai
    from tgai import data, experiments
    from tgai.models import gan

    profile = tgai.profile()
    steps = scale.seeds_steps or profile.gan_steps
    eval_every = scale.seeds_eval_every or profile.gan_eval_every
    samples = scale.kid_samples or profile.kid_samples
    source = gan.load_source()
    models = {  # built and compiled once; experiments.run restarts them for every seed
        "fine-tune": gan.make("full", source=source, learning_rate=FINE_TUNE_LEARNING_RATE, ema_warmup=False)[0],
        "scratch": gan.make("scratch", source=source, learning_rate=common.SCRATCH_LEARNING_RATE, ema_warmup=True)[0],
    }
    strategies = {"fine-tune": "full", "scratch": "scratch"}
    values: dict[str, list[float]] = {}

    def record(name, value):
        values.setdefault(name, []).append(float(value))

    for seed in range(scale.seed_count):
        pair = data.domain_pair(n_target=TARGET_COUNT, seed=seed)
        evaluate = gan.sample_evaluation(pair.heldout_images, samples)
        runs = {}
        for label, model in models.items():
            runs[label] = experiments.run(
                model,
                strategies[label],
                pair.target_images,
                steps,
                32,
                eval_every,
                seed=seed,
                evaluate=evaluate,
                source=source,
                keep=lambda trained: trained.ema_copy(),
            )
            for step in runs[label].steps:
                for measure in ("balanced", "recognisable", "classes", "kid"):
                    record(f"{label}_{measure}_step{step}", runs[label].at(step, measure))
        last = runs["fine-tune"].steps[-1]
        record(
            f"balanced_margin_step{last}", runs["fine-tune"].at(last, "balanced") - runs["scratch"].at(last, "balanced")
        )
        record(f"kid_ratio_step{last}", runs["scratch"].at(last, "kid") / runs["fine-tune"].at(last, "kid"))
        for space, ratio in _memorisation(runs["fine-tune"].kept, pair, seed).items():
            record(f"memorisation_{space}", ratio)
        curves = {
            label: f"balanced {run_.series('balanced').round(2).tolist()} KID {run_.series('kid').round(1).tolist()}"
            for label, run_ in runs.items()
        }
        log(f"  seeds_gan: seed {seed}: fine-tune {curves['fine-tune']}; scratch {curves['scratch']}")
    setting = (
        f"N={TARGET_COUNT} drawn with each seed, batch 32, {samples} samples per evaluation, one run per seed, seeds "
        f"0-{scale.seed_count - 1}"
    )
    units = {"balanced": "fraction", "recognisable": "fraction", "classes": "digits", "kid": "KID x1000"}
    rows = []
    for name, samples_of_row in values.items():
        unit = next((unit for measure, unit in units.items() if f"_{measure}_" in name), "ratio")
        rows.append(
            common.row(
                "seeds_gan",
                name,
                f"GAN lesson 03 recipe: {name.replace('_', ' ')}",
                "fraction" if name.startswith("balanced_margin") else unit,
                samples_of_row,
                notes=setting,
            )
        )
    return rows
