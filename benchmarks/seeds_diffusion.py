"""Lesson 06's claims over many seeds (seeds_diffusion): one run of each of its trainings per seed.

seeds_diffusion: for each of `seed_count` seeds (20 at the full scale), lesson 06's recipe at its comparison
point: N = 100 target digits drawn with that seed; full fine-tuning, scratch, LoRA rank 4 (and rank 8, the lever
of a higher rank) and full fine-tuning with prior preservation (weight 1), each for `diffusion_steps` at batch 32
and at the lesson's rates; every model sampled `diffusion_samples` times from the seed's noise and judged
(balanced recognisability by the
handwriting judge and by the glyph judge, KID x 1000 to as many held-out digits in the judge's features), and
the fine-tuned model also sampled with 5, 10 and 50 DDIM steps. Also the autoencoder's ceiling (the judge on
reconstructions of held-out digits), decoded noisy latents at t = 0.6, and the source's samples. One row per
quantity the lesson asserts, with every seed's value, so that a claim's bound can be read against the worst seed.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks import common

TARGET_COUNT = 100
BATCH_SIZE = 32
LORA_RANK = 4
PRIOR_WEIGHT = 1.0
NOISED_TIME = 0.6


def train_once(model, images, steps, seed):
    """Train one run for `steps` (one chunk); return its training seconds."""
    from tgai.models import diffusion

    start = time.perf_counter()
    diffusion.train(model, images, steps, min(BATCH_SIZE, len(images)), seed=seed)
    return time.perf_counter() - start


def _judged(samples, reference, seed) -> dict[str, float]:
    from tgai import metrics

    return {
        "balanced": metrics.recognisability(samples).balanced,
        "glyph_balanced": metrics.recognisability(samples, judge_name="glyph_judge").balanced,
        "kid": metrics.kid_x1000(samples, reference, seed=seed),
    }


def _seed(seed: int, source, steps: int, samples: int) -> dict[str, float]:
    """Every quantity lesson 06 asserts, for one seed, by row name."""
    from tgai import data, metrics
    from tgai.models import diffusion

    pair = data.domain_pair(n_target=TARGET_COUNT, seed=seed)
    heldout = pair.heldout_images[:samples]
    reference = metrics.judge_features(heldout)
    values: dict[str, float] = {"ceiling_balanced": metrics.recognisability(np.asarray(source(heldout))).balanced}
    signal_rate, noise_rate = (float(rate) for rate in diffusion.diffusion_schedule(np.float32(NOISED_TIME)))
    noisy = signal_rate * source.encode(pair.heldout_images[:200]) + noise_rate * diffusion.initial_noise(
        200, seed, source.latent_shape
    )
    values["noised_balanced"] = metrics.recognisability(np.asarray(source.decode(noisy))).balanced
    values["source_glyph_balanced"] = metrics.recognisability(
        source.sample(samples, seed=seed), judge_name="glyph_judge"
    ).balanced
    models = {
        "full": diffusion.make("full", source=source, seed=seed, learning_rate=diffusion.FINE_TUNE_LEARNING_RATE)[0],
        "scratch": diffusion.make("scratch", source=source, seed=seed, learning_rate=diffusion.LEARNING_RATE)[0],
        "lora": diffusion.make_lora(LORA_RANK, source=source, seed=seed, learning_rate=diffusion.LORA_LEARNING_RATE),
        "lora8": diffusion.make_lora(8, source=source, seed=seed, learning_rate=diffusion.LORA_LEARNING_RATE),
        "prior": diffusion.make(
            "full",
            source=source,
            seed=seed,
            learning_rate=diffusion.FINE_TUNE_LEARNING_RATE,
            prior_weight=PRIOR_WEIGHT,
        )[0],
    }
    for label, model in models.items():
        values[f"{label}_seconds"] = train_once(model, pair.target_images, steps, seed)
        for name, value in _judged(model.sample(samples, seed=seed), reference, seed).items():
            values[f"{label}_{name}"] = value
    for sampling_steps in (5, 10, 50):
        drawn = models["full"].sample(samples, seed=seed, steps=sampling_steps)
        for name, value in _judged(drawn, reference, seed).items():
            values[f"steps{sampling_steps}_{name}"] = value
    return values


def _unit(name: str) -> str:
    if "balanced" in name:
        return "fraction"
    if "kid" in name:
        return "KID x1000"
    return "s"


def run(scale: common.Scale, log=print) -> list[dict]:
    """seeds_diffusion: lesson 06's claims over many seeds, one run of each of its trainings per seed.

    At the full scale (about 30 minutes) each seed's values are kept in `build/benchmark-progress/`, keyed by the
    two committed networks and the settings, so that a run that stops part-way resumes at the next seed.
    """
    import tgai
    from tgai.models import diffusion

    profile = tgai.profile()
    steps = scale.seeds_steps or profile.diffusion_steps
    samples = profile.diffusion_samples if scale.name == "full" else scale.kid_samples
    source = diffusion.load_source()
    key = common.checkpoints_key("autoencoder", "diffusion")
    recipe = (
        f"N={TARGET_COUNT} drawn with each seed; {steps} steps at batch {BATCH_SIZE}; full at "
        f"{diffusion.FINE_TUNE_LEARNING_RATE:g}, scratch at {diffusion.LEARNING_RATE:g}, LoRA rank {LORA_RANK} at "
        f"{diffusion.LORA_LEARNING_RATE:g}, prior weight {PRIOR_WEIGHT:g}; {samples} samples, "
        f"{diffusion.SAMPLING_STEPS} DDIM steps unless named"
    )
    values: dict[str, list[float]] = {}
    for seed, measured in common.per_seed(
        "seeds_diffusion",
        key,
        f"{steps}steps-{samples}samples-{common.recipe_key(recipe)}",
        range(scale.seed_count),
        lambda seed: _seed(seed, source, steps, samples),
        keep=scale.name == "full",
    ):
        common.collect(measured, values)
        log(
            f"  seeds_diffusion: seed {seed}: balanced full {measured['full_balanced']:.2f} scratch "
            f"{measured['scratch_balanced']:.2f} LoRA {measured['lora_balanced']:.2f} prior "
            f"{measured['prior_balanced']:.2f}; KID full {measured['full_kid']:.1f} scratch "
            f"{measured['scratch_kid']:.1f}; "
            f"glyph judge full {measured['full_glyph_balanced']:.2f} prior {measured['prior_glyph_balanced']:.2f}"
        )
    setting = f"{recipe}; one run per seed, seeds 0-{scale.seed_count - 1}"
    return [
        common.row(
            "seeds_diffusion",
            name,
            f"latent diffusion lesson 06 recipe: {name.replace('_', ' ')}",
            _unit(name),
            samples_of_row,
            notes=setting,
            higher_is_better="kid" not in name and "seconds" not in name,
        )
        for name, samples_of_row in values.items()
    ]
