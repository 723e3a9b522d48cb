"""Lesson 03's longer picture: how transfer's head start changes with the number of target images and with steps.

For N = 10, 30 and 100 target images (from `mnist_5k`'s train split, data seed 0) and each training seed, the GAN
is fine-tuned from the committed source (`full`) and trained from scratch with lesson 03's recipe (Adam 2e-4 for
fine-tuning, whose `sweep_gan` rates are within noise of each other, and 1e-3 for scratch, its sweep's best;
batch 32 or N, EMA 0.99 with the warm-up for scratch only, XLA on a CPU) for the scale's steps, and evaluated on
held-out digits:
balanced recognisability (the judge reads a sample as a digit with probability >= 0.9, counting at most a tenth
of the samples per digit), digits covered and KID x 1000 in the judge's feature space. Rows: fine-tuning's
median at each evaluated step against scratch's (ratio fine-tune / scratch), and the seconds of training each
needs to first reach balanced recognisability 0.5 with KID x 1000 at most 30 (time to quality: digits that read
as digits and are distributed like handwriting; a run that never gets there counts as its whole length, so that
ratio is a lower bound).

The VAE's counterpart (budget_vae, lesson 04): for the same N and seeds, the VAE is fine-tuned from the
committed near source (`full`) and trained from scratch with lesson 04's recipe (Adam 1e-3, batch 32 or N) for
`vae_budget_steps`, with held-out -ELBO (binarised digits, nats per image) every `vae_budget_eval_every`
steps. Rows: the seconds each needs to first reach two levels of held-out -ELBO, 200 nats (about where the
source model already starts on the target) and 175 nats (better than scratch gets with 30 images), with the
ratio scratch / fine-tune. A run that never gets there counts as its whole length (a lower bound); one that
starts there counts 0 s, and its ratio is left out rather than divided by zero.

The latent diffusion model's counterpart (budget_diffusion, lesson 06): for N = 10, 30 and 100 target digits
drawn with each seed (20 seeds at the full scale, as the lesson draws them), the denoiser is fine-tuned from the
committed source (`full`, AdamW 2e-3) and trained from scratch (1e-3), each for the lesson's steps at batch 32
or N, and evaluated every `diffusion_eval_every` steps as the lesson evaluates it (`diffusion.sample_evaluation`:
its samples from fixed noise, 20 DDIM steps). Rows: at each evaluated step, fine-tuning's balanced
recognisability and KID x 1000 against scratch's; at the last step, fine-tuning's lead in balanced
recognisability and scratch's KID over fine-tuning's, seed by seed (the bounds of lesson 06's claims at each N);
and the seconds of training each needs to reach the GAN's quality level, as budget_gan counts them.
"""

from __future__ import annotations

import numpy as np

from benchmarks import common

QUALITY = common.GAN_QUALITY  # balanced recognisability at least, KID x 1000 (judge space) at most
VAE_LEVELS = (200.0, 175.0)  # held-out -ELBO, nats per image: where the source starts, and past scratch at N=30


def _seconds_to_quality(history, last_step: int, seconds_per_step: float) -> tuple[float, bool]:
    """Training seconds until the first evaluated step at QUALITY, and whether it was reached.

    `history` holds `(step, {"balanced": ..., "kid": ...})` in training order; a run that never gets there counts
    as its whole length, `last_step`.
    """
    for step, values in history:
        if common.at_quality(values):
            return step * seconds_per_step, True
    return last_step * seconds_per_step, False


def run(scale: common.Scale, log=print) -> list[dict]:
    import tgai
    from tgai import data, experiments
    from tgai.models import gan

    profile = tgai.profile()
    steps, eval_every = scale.budget_steps, scale.budget_eval_every
    samples = scale.kid_samples or profile.kid_samples
    source = gan.load_source()
    # Each start gets the EMA that suits it, as in lesson 03: a warm-up for scratch, none for fine-tuning.
    # Scratch also gets its own learning rate, the best of sweep_gan's at the lesson's budget.
    models = {
        "scratch": gan.make("scratch", source=source, learning_rate=common.SCRATCH_LEARNING_RATE, ema_warmup=True)[0],
        "full": gan.make("full", source=source, ema_warmup=False)[0],
    }
    rows = []
    for count in scale.transfer_counts:
        pair = data.domain_pair(n_target=count, seed=0)
        batch_size = min(32, count)
        evaluate = gan.sample_evaluation(pair.heldout_images, samples)
        runs = {"scratch": [], "full": []}
        seconds = {"scratch": [], "full": []}
        for seed in range(scale.transfer_seeds):
            for strategy, model in models.items():
                result = experiments.run(
                    model,
                    strategy,
                    pair.target_images,
                    steps,
                    batch_size,
                    eval_every,
                    seed=seed,
                    evaluate=evaluate,
                    source=source,
                )
                runs[strategy].append(result)
                # Seconds per step include the evaluations, which cost the same for both strategies.
                seconds[strategy].append(result.seconds / steps)
                log(
                    f"  budget_gan: N={count} seed {seed} {strategy}: balanced "
                    f"{result.series('balanced').round(2).tolist()} "
                    f"KID {result.series('kid').round(0).tolist()} ({result.seconds:.0f} s)"
                )
        setting = f"batch {batch_size}, {samples} samples per evaluation, seeds 0-{scale.transfer_seeds - 1}"
        for step in runs["full"][0].steps[1:]:
            transfer = [run_.at(step, "balanced") for run_ in runs["full"]]
            scratch = [run_.at(step, "balanced") for run_ in runs["scratch"]]
            kid = {name: np.median([run_.at(step, "kid") for run_ in runs[name]]) for name in runs}
            classes = {name: np.median([run_.at(step, "classes") for run_ in runs[name]]) for name in runs}
            rows.append(
                common.row(
                    "budget_gan",
                    f"n{count}_step{step}_balanced",
                    f"GAN, N={count}, step {step}: balanced recognisability, fine-tune",
                    "fraction",
                    transfer,
                    baseline="scratch at equal steps",
                    baseline_samples=scratch,
                    ratio_meaning="fine-tune / scratch, > 1 favours transfer",
                    notes=f"digits covered {classes['full']:.0f} vs {classes['scratch']:.0f}; KID x1000 "
                    f"{kid['full']:.0f} vs "
                    f"{kid['scratch']:.0f}; {setting}",
                )
            )
        reached = {
            name: [
                _seconds_to_quality(run_.history, run_.steps[-1], per_step)
                for run_, per_step in zip(runs[name], seconds[name], strict=True)
            ]
            for name in runs
        }
        unreached = {name: sum(not hit for _, hit in reached[name]) for name in runs}
        transfer_seconds = [value for value, _ in reached["full"]]
        scratch_seconds = [value for value, _ in reached["scratch"]]
        neither = unreached["full"] == len(transfer_seconds)  # a ratio of two caps says nothing
        timing = common.row(
            "budget_gan",
            f"n{count}_seconds_to_quality",
            f"GAN, N={count}: seconds of training to {common.quality_text()}, fine-tune",
            "s",
            transfer_seconds,
            baseline="scratch",
            baseline_samples=scratch_seconds,
            higher_is_better=False,
            ratio_meaning="scratch / fine-tune"
            + (" (lower bound: scratch did not get there in every run)" if unreached["scratch"] else ""),
            notes=("no ratio: fine-tuning never got there either; " if neither else "")
            + f"not reached within {steps} steps: fine-tune {unreached['full']}, scratch "
            f"{unreached['scratch']} of "
            f"{scale.transfer_seeds} runs (counted as {steps} steps); {setting}",
        )
        if neither:
            timing["ratio"] = None
        rows.append(timing)
    return rows


def _seconds_to_level(steps, values, level, seconds_per_step):
    """Training seconds until held-out -ELBO first falls to `level` or below, and whether it did."""
    for step, value in zip(steps, values, strict=True):
        if value <= level:
            return step * seconds_per_step, True
    return steps[-1] * seconds_per_step, False


def run_vae(scale: common.Scale, log=print) -> list[dict]:
    from benchmarks import transfer
    from tgai.models import vae

    steps, eval_every = scale.vae_budget_steps, scale.vae_budget_eval_every
    source, models, rows = vae.load_source(), {}, []
    for count in scale.transfer_counts:
        curves, heldout, batch_size = transfer.vae_curves(
            scale, count, steps, eval_every, source, models, log, "budget_vae"
        )
        setting = (
            f"held-out -ELBO on {len(heldout)} binarised digits, every {eval_every} steps up to {steps}; batch "
            f"{batch_size}; "
            f"seeds 0-{scale.transfer_seeds - 1}"
        )
        for level in VAE_LEVELS:
            reached = {
                name: [
                    _seconds_to_level(
                        curve["steps"], curve["values"], level=level, seconds_per_step=curve["seconds_per_step"]
                    )
                    for curve in curves[name]
                ]
                for name in curves
            }
            unreached = {name: sum(not hit for _, hit in reached[name]) for name in curves}
            at_start = sum(curve["values"][0] <= level for curve in curves["full"])
            transfer_seconds = [value for value, _ in reached["full"]]
            scratch_seconds = [value for value, _ in reached["scratch"]]
            starts_there = np.median(transfer_seconds) == 0
            neither = unreached["full"] == len(transfer_seconds)  # nothing to compare: a ratio of caps says nothing
            result = common.row(
                "budget_vae",
                f"n{count}_seconds_to_{level:.0f}_nats",
                f"VAE, N={count}: seconds of training to held-out -ELBO <= {level:.0f} nats, fine-tune",
                "s",
                transfer_seconds,
                baseline="scratch",
                baseline_samples=scratch_seconds,
                higher_is_better=False,
                ratio_meaning="scratch / fine-tune"
                + (" (lower bound: scratch did not get there in every run)" if unreached["scratch"] else ""),
                notes=("no ratio: fine-tuning starts at this level (0 s); " if starts_there else "")
                + ("no ratio: fine-tuning never got there either; " if neither else "")
                + f"fine-tune already there at step 0 in {at_start} of {scale.transfer_seeds} runs; not reached within "
                f"{steps} steps: fine-tune {unreached['full']}, scratch {unreached['scratch']} (counted as {steps} "
                f"steps); {setting}",
            )
            if neither:
                result["ratio"] = None
            rows.append(result)
    return rows


# budget_diffusion's rows at each evaluated step: (value name, unit, label).
DIFFUSION_MEASURES = (("balanced", "fraction", "balanced recognisability"), ("kid", "KID x1000", "KID"))


def _diffusion_seed(models, source, count: int, steps: int, eval_every: int, samples: int, seed: int) -> dict:
    """One seed of budget_diffusion: both starts trained on N = `count` digits drawn with `seed`, by value name."""
    import tgai
    from tgai import data, experiments
    from tgai.models import diffusion

    pair = data.domain_pair(n_target=count, seed=seed)
    evaluate = diffusion.sample_evaluation(pair.heldout_images, samples)
    batch_size = min(tgai.profile().diffusion_batch_size, count)
    values = {}
    for strategy, model in models.items():
        images = pair.target_images
        result = experiments.run(model, strategy, images, steps, batch_size, eval_every, seed, evaluate, source=source)
        values[f"{strategy}_seconds"] = result.seconds
        for step, evaluated in result.history:
            for name in ("balanced", "kid", "classes", "glyph_balanced"):
                values[f"{strategy}_{name}_step{step}"] = evaluated[name]
    return values


def _diffusion_seconds_to_quality(values: dict, strategy: str, steps: list[int]) -> tuple[float, bool]:
    """`_seconds_to_quality` for one diffusion run, from its per-step values as `per_seed` keeps them."""
    history = [
        (step, {name: values[f"{strategy}_{name}_step{step}"] for name in ("balanced", "kid")}) for step in steps
    ]
    return _seconds_to_quality(history, steps[-1], values[f"{strategy}_seconds"] / steps[-1])


def run_diffusion(scale: common.Scale, log=print) -> list[dict]:
    """budget_diffusion: fine-tuning against scratch over steps for each N, one run of each per seed.

    At the full scale (about 50 minutes) each seed's values are kept in `build/benchmark-progress/`, keyed by the
    two committed networks and the settings, so that a run that stops part-way resumes at the next seed.
    """
    import tgai
    from tgai.models import diffusion

    profile = tgai.profile()
    steps = scale.seeds_steps or profile.diffusion_steps
    eval_every = scale.seeds_eval_every if scale.seeds_steps else profile.diffusion_eval_every
    samples = profile.diffusion_samples if scale.name == "full" else scale.kid_samples
    source = diffusion.load_source()
    models = {
        "full": diffusion.make("full", source=source, learning_rate=diffusion.FINE_TUNE_LEARNING_RATE)[0],
        "scratch": diffusion.make("scratch", source=source, learning_rate=diffusion.LEARNING_RATE)[0],
    }
    key = common.checkpoints_key("autoencoder", "diffusion")
    evaluated_steps = list(range(0, steps + 1, eval_every))
    rows = []
    for count in scale.transfer_counts:
        recipe = (
            f"N={count} drawn with each seed; batch {min(profile.diffusion_batch_size, count)}; full at "
            f"{diffusion.FINE_TUNE_LEARNING_RATE:g}, scratch at {diffusion.LEARNING_RATE:g}; {samples} samples per "
            f"evaluation, {diffusion.SAMPLING_STEPS} DDIM steps"
        )
        values: dict[str, list[float]] = {}
        for seed, measured in common.per_seed(
            "budget_diffusion",
            key,
            f"n{count}-{steps}steps-every{eval_every}-{samples}samples-{common.recipe_key(recipe)}",
            range(scale.seed_count),
            lambda seed, count=count: _diffusion_seed(models, source, count, steps, eval_every, samples, seed),
            keep=scale.name == "full",
        ):
            common.collect(measured, values)
            reached = {name: _diffusion_seconds_to_quality(measured, name, evaluated_steps) for name in models}
            for name in models:
                values.setdefault(f"{name}_to_quality", []).append(reached[name][0])
                values.setdefault(f"{name}_hit", []).append(reached[name][1])
            log(
                f"  budget_diffusion: N={count} seed {seed}: balanced "
                + " / ".join(
                    f"{name} " + " ".join(f"{measured[f'{name}_balanced_step{step}']:.2f}" for step in evaluated_steps)
                    for name in models
                )
                + f"; KID at step {steps} full {measured[f'full_kid_step{steps}']:.1f} scratch "
                f"{measured[f'scratch_kid_step{steps}']:.1f}"
            )
        setting = f"{recipe}; one run each per seed, seeds 0-{scale.seed_count - 1}"
        for step in evaluated_steps[1:]:
            for name, unit, label in DIFFUSION_MEASURES:
                rows.append(
                    common.row(
                        "budget_diffusion",
                        f"n{count}_step{step}_{name}",
                        f"latent diffusion, N={count}, step {step}: {label}, fine-tune",
                        unit,
                        values[f"full_{name}_step{step}"],
                        baseline="scratch at equal steps",
                        baseline_samples=values[f"scratch_{name}_step{step}"],
                        higher_is_better=name == "balanced",
                        ratio_meaning=f"{'fine-tune / scratch' if name == 'balanced' else 'scratch / fine-tune'}, "
                        "> 1 favours transfer",
                        notes=setting,
                    )
                )
        full_balanced, scratch_balanced = (np.array(values[f"{name}_balanced_step{steps}"]) for name in models)
        full_kid, scratch_kid = (np.array(values[f"{name}_kid_step{steps}"]) for name in models)
        rows.append(
            common.row(
                "budget_diffusion",
                f"n{count}_final_balanced",
                f"latent diffusion, N={count}, step {steps}: fine-tuning's balanced recognisability",
                "fraction",
                full_balanced.tolist(),
                notes=f"seed by seed, as the n{count}_step{steps}_balanced row; {setting}",
            )
        )
        rows.append(
            common.row(
                "budget_diffusion",
                f"n{count}_over_scratch",
                f"latent diffusion, N={count}, step {steps}: fine-tuning's balanced recognisability minus scratch's",
                "fraction",
                (full_balanced - scratch_balanced).tolist(),
                notes=f"seed by seed; {setting}",
            )
        )
        rows.append(
            common.row(
                "budget_diffusion",
                f"n{count}_kid_ratio",
                f"latent diffusion, N={count}, step {steps}: scratch's KID / fine-tuning's",
                "ratio",
                (scratch_kid / full_kid).tolist(),
                notes=f"seed by seed; {setting}",
            )
        )
        unreached = {name: sum(not hit for hit in values[f"{name}_hit"]) for name in models}
        neither = unreached["full"] == scale.seed_count
        timing = common.row(
            "budget_diffusion",
            f"n{count}_seconds_to_quality",
            f"latent diffusion, N={count}: seconds of training to {common.quality_text()}, fine-tune",
            "s",
            values["full_to_quality"],
            baseline="scratch",
            baseline_samples=values["scratch_to_quality"],
            higher_is_better=False,
            ratio_meaning="scratch / fine-tune"
            + (" (lower bound: scratch did not get there in every run)" if unreached["scratch"] else ""),
            notes=("no ratio: fine-tuning never got there either; " if neither else "")
            + f"not reached within {steps} steps: fine-tune {unreached['full']}, scratch {unreached['scratch']} of "
            f"{scale.seed_count} runs (counted as {steps} steps; seconds include the evaluations); {setting}",
        )
        if neither:
            timing["ratio"] = None
        rows.append(timing)
    return rows
