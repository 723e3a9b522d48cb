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

seeds_lora: lesson 05's GAN claims the same way, one run of each method per seed (20 at the full scale): N = 100
target digits drawn with the seed, the class profile's 200 steps at batch 32, evaluated once at the end with 500
samples; full fine-tuning and `freeze_g` at Adam 2e-4, adapters of ranks 1, 4 and 16 at 2e-3 (sweep_gan's best
rate for rank 4 at this budget), and a rank-4 adapter on 104 typeset capitals. Rows: the untrained source's and
each method's KID x 1000 (judge space), balanced and plain recognisability and digits covered, and each adapter's
KID to held-out handwriting and to held-out letters.

seeds_lora_vae: lesson 05's VAE claims (section 8) the same way: for each seed, N = 100 binarised target digits,
`decoder_only` fine-tuning and adapters of ranks 1, 4 and 16 on the source VAE's decoder, each trained for the
profile's `vae_steps` at the VAE's learning rate, scored by held-out -ELBO (nats per binarised image, 1,000
held-out digits); rows of each method's -ELBO and of each rank's difference from `decoder_only`.
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


# Lesson 05's GAN: every method at the rate the sweep chose for it (sweep_gan), as the lesson trains them.
LORA_LEARNING_RATE = 2e-3  # sweep_gan's best rate for rank-4 adapters at lesson 05's 200 steps
LORA_RANKS = (1, 4, 16)
LETTERS_PER_CLASS = 4  # lesson 05's second adapter: 104 typeset capitals


def _lora_seed(seed: int, source, steps: int, samples: int) -> dict[str, float]:
    """Lesson 05's GAN runs for one seed: every method's evaluation and the two adapters' KIDs, by row name."""
    from tgai import data, metrics
    from tgai.models import gan

    pair = data.domain_pair(n_target=TARGET_COUNT, seed=seed)
    evaluate = gan.sample_evaluation(pair.heldout_images, samples)
    builders = {
        "full": lambda: gan.make("full", source=source, seed=seed, ema_warmup=False)[0],
        "freeze_g": lambda: gan.make("freeze_g", blocks=2, source=source, seed=seed, ema_warmup=False)[0],
    }
    for rank in LORA_RANKS:
        builders[f"LoRA r{rank}"] = lambda rank=rank: gan.make_lora(
            rank, source, seed=seed, learning_rate=LORA_LEARNING_RATE
        )
    quality = {"source": evaluate(source, seed)}
    trained = {}
    for label, build in builders.items():
        trained[label] = build()
        gan.train(trained[label], pair.target_images, steps, 32, seed=seed)
        quality[label] = evaluate(trained[label], seed)
    values = {
        f"{label}_{measure}": float(measured[measure])
        for label, measured in quality.items()
        for measure in ("kid", "balanced", "recognisable", "classes")
    }
    letter_images, letter_labels = data.load("glyph_letters", "train", seed=seed)
    letter_target, _ = data.few_shot(letter_images, letter_labels, LETTERS_PER_CLASS, seed=seed)
    letters = gan.make_lora(4, source, seed=seed, learning_rate=LORA_LEARNING_RATE)
    gan.train(letters, letter_target, steps, 32, seed=seed)
    letters_heldout, _ = data.load("glyph_letters", "test", seed=seed, limit=samples)
    references = {
        "digits": metrics.judge_features(pair.heldout_images[:samples]),
        "letters": metrics.judge_features(letters_heldout),
    }
    latents = gan.latents(samples, seed=seed)
    for name, model in (("digits", trained["LoRA r4"]), ("letters", letters)):
        drawn = gan.generate(model.ema_generator, latents)
        for reference, features in references.items():
            values[f"{name}_adapter_kid_to_{reference}"] = metrics.kid_x1000(drawn, features, seed=seed)
    return values


def run_lora(scale: common.Scale, log=print) -> list[dict]:
    """seeds_lora: lesson 05's GAN claims over many seeds, one run of each method per seed.

    For each of `seed_count` seeds (20 at the full scale), lesson 05's recipe: N = 100 target digits drawn with
    that seed, batch 32, the class profile's `lora_gan_steps` (200), evaluated once at the end on held-out digits
    with the profile's samples (500): full fine-tuning and `freeze_g` (the generator's two lowest blocks frozen)
    at DCGAN's Adam 2e-4 (flat over the sweep's rates), adapters of ranks 1, 4 and 16 at 2e-3 (sweep_gan's best
    for rank 4), and a rank-4 letters adapter trained on 104 typeset capitals. One row per quantity the lesson
    asserts, with every seed's value: the untrained source's and each method's KID x 1000 (judge space),
    balanced recognisability and digits covered, and the letters section's KIDs of each adapter's samples to
    held-out handwriting and to held-out letters.

    At the full scale (about 40 minutes) each seed's values are also kept in `build/benchmark-progress/`, keyed by
    the source checkpoint and the settings, so that a run that stops part-way (a crash, a closed laptop) resumes
    at the next seed. On 2026-12-07 two runs on this machine type stopped with a segmentation fault in libgcc_s
    after about 13 seeds (some 80 GAN models built, compiled with XLA and trained in one process); each rerun
    resumed and finished.
    """
    import tgai
    from tgai.models import gan

    profile = tgai.profile()
    steps = scale.seeds_steps or profile.lora_gan_steps
    # The lesson's sample count at the full scale (the claims' thresholds are read against it); fewer when smoke.
    samples = profile.kid_samples if scale.name == "full" else scale.kid_samples
    setting = (
        f"N={TARGET_COUNT} drawn with each seed, {steps} steps at batch 32, {samples} samples per evaluation, "
        f"adapters at {LORA_LEARNING_RATE:g}, full and freeze_g at 2e-4, one run per seed, seeds "
        f"0-{scale.seed_count - 1}"
    )
    # Kept values are reused only for the same source checkpoint and settings: a retrained source starts afresh.
    source_sha256 = common.checkpoints_key("gan")
    source = gan.load_source()
    values: dict[str, list[float]] = {}
    for seed, measured in common.per_seed(
        "seeds_lora",
        source_sha256,
        f"{steps}steps-{samples}samples-lr{LORA_LEARNING_RATE:g}",
        range(scale.seed_count),
        lambda seed: _lora_seed(seed, source, steps, samples),
        keep=scale.name == "full",
    ):
        common.collect(measured, values)
        log(
            f"  seeds_lora: seed {seed}: "
            + ", ".join(
                f"{label} KID {measured[label + '_kid']:.1f} balanced {measured[label + '_balanced']:.2f}"
                for label in ("source", "full", "freeze_g", *(f"LoRA r{rank}" for rank in LORA_RANKS))
            )
        )
    units = {"balanced": "fraction", "recognisable": "fraction", "classes": "digits", "kid": "KID x1000"}
    return [
        common.row(
            "seeds_lora",
            name,
            f"GAN lesson 05 recipe: {name.replace('_', ' ')}",
            next(unit for measure, unit in units.items() if measure in name),
            samples_of_row,
            notes=setting,
        )
        for name, samples_of_row in values.items()
    ]


def run_lora_vae(scale: common.Scale, log=print) -> list[dict]:
    """seeds_lora_vae: lesson 05's VAE claims over many seeds (section 8), one run of each method per seed."""
    import tgai
    from tgai import data
    from tgai.models import vae

    profile = tgai.profile()
    steps = scale.seeds_steps or profile.vae_steps
    source = vae.load_source()
    values: dict[str, list[float]] = {}
    for seed in range(scale.seed_count):
        pair = data.domain_pair(n_target=TARGET_COUNT, seed=seed)
        target = vae.binarize(pair.target_images)
        heldout = vae.binarize(pair.heldout_images[:1000])
        models = {"decoder_only": vae.make("decoder_only", source=source, seed=seed)[0]}
        models.update({f"LoRA r{rank}": vae.make_lora(rank, source, seed=seed) for rank in LORA_RANKS})
        elbo = {"source": vae.negative_elbo(source, heldout)["negative_elbo"]}
        for label, model in models.items():
            vae.train(model, target, steps, min(profile.vae_batch_size, TARGET_COUNT), seed=seed)
            elbo[label] = vae.negative_elbo(model, heldout)["negative_elbo"]
        for label, value in elbo.items():
            values.setdefault(f"{label}_negative_elbo", []).append(float(value))
            if label.startswith("LoRA"):
                values.setdefault(f"{label}_minus_decoder_only", []).append(float(value - elbo["decoder_only"]))
        log(f"  seeds_lora_vae: seed {seed}: " + ", ".join(f"{label} {value:.1f}" for label, value in elbo.items()))
    setting = (
        f"N={TARGET_COUNT} drawn with each seed, binarised, {steps} steps, held-out -ELBO on 1,000 binarised "
        f"held-out digits, one run per seed, seeds 0-{scale.seed_count - 1}"
    )
    return [
        common.row(
            "seeds_lora_vae",
            name,
            f"VAE lesson 05 recipe: {name.replace('_', ' ')}",
            "nats",
            samples_of_row,
            notes=setting,
        )
        for name, samples_of_row in values.items()
    ]
