"""Lesson 04's claims over many seeds (seeds_vae): one run of each of its trainings per seed, as a learner's SEED gives.

For each of `seed_count` seeds (20 at the full scale), lesson 04's recipe at its comparison point: N = 100
binarised target digits and N = 10 for the few-image sections, drawn with that seed; the held-out digits split
into a validation part (the first 500, which chooses the step) and a test part (the other 1,500, which reports
it); the class profile's `vae_adapt_steps` (200) at batch 32 (the N = 10 runs: one batch of all ten), evaluated
every `vae_adapt_eval_every` (25) steps. Runs from the committed sources at `FINE_TUNE_LEARNING_RATE` (3e-4),
scratch at the VAE's 1e-3. Samples decode codes drawn from a Gaussian mixture fitted to the training digits'
codes (`tgai.models.vae.code_density`), `kid_samples` of them. One row per quantity the lesson asserts, with every
seed's value, so that a claim's threshold can be read against the worst seed (a claim that holds for each seed's
run also holds for the median of the lesson's seeds).
"""

from __future__ import annotations

import numpy as np

from benchmarks import common

TARGET_COUNT = 100
FEW_COUNT = 10
VALIDATION_COUNT = 500  # the rest of the held-out digits are the test part
PERCEPTUAL_PROBE = 300


def _curves(model, images, steps, every, batch_size, seed, validation, test):
    """Train one run; return the validation and test -ELBO at step 0 and after every `every` steps."""
    from tgai import training
    from tgai.models import vae

    checks = [training.PeriodicEvaluation(vae.heldout_evaluation(part), every=every) for part in (validation, test)]
    vae.train(model, images, steps, batch_size, seed, eval_every=every, callbacks=checks)
    return tuple(np.asarray(check.series("negative_elbo")[1]) for check in checks)


def _seed(seed: int, sources: dict, steps: int, every: int, samples: int, losses: dict) -> dict[str, float]:
    """Every quantity lesson 04 asserts, for one seed, by row name."""
    from tgai import data, metrics, upsampler
    from tgai.models import vae

    pair = data.domain_pair("glyphs", "mnist_5k", n_target=TARGET_COUNT, seed=seed)
    few = data.domain_pair("glyphs", "mnist_5k", n_target=FEW_COUNT, seed=seed)
    target, few_target = vae.binarize(pair.target_images), vae.binarize(few.target_images)
    heldout = vae.binarize(pair.heldout_images)
    validation, test = heldout[:VALIDATION_COUNT], heldout[VALIDATION_COUNT:]
    references = metrics.judge_features(heldout)
    values: dict[str, float] = {}

    def run(label, strategy, start, images, batch_size, **options):
        rate = vae.LEARNING_RATE if strategy == "scratch" else vae.FINE_TUNE_LEARNING_RATE
        model, _ = vae.make(strategy, source=start, seed=seed, learning_rate=rate, steps_per_execution=every, **options)
        valid, tested = _curves(model, images, steps, every, batch_size, seed, validation, test)
        chosen = int(np.argmin(valid))
        values[f"{label}_test_end"] = float(tested[-1])
        values[f"{label}_test_at_chosen"] = float(tested[chosen])
        values[f"{label}_chosen_step"] = float(chosen * every)
        values[f"{label}_validation_rise"] = float(valid[-1] - valid.min())
        return model, tested

    def sampled(label, model):
        drawn = vae.sample_density(model, vae.code_density(model, target, seed=seed), samples, seed=seed)
        values[f"{label}_mixture_balanced"] = metrics.recognisability(drawn).balanced
        values[f"{label}_mixture_kid"] = metrics.kid_x1000(drawn, references, seed=seed)

    source = sources["near"]
    sampled("source", source)
    values["source_prior_balanced"] = metrics.recognisability(source.sample(samples, seed=seed)).balanced
    trained, tested = {}, {}
    for strategy in vae.STRATEGIES:
        trained[strategy], tested[strategy] = run(strategy, strategy, source, target, 32)
    values["source_test"] = float(tested["full"][0])  # step 0 of a run from the source: the source itself
    for strategy in ("full", "decoder_only", "scratch"):
        sampled(strategy, trained[strategy])
    values["full_prior_balanced"] = metrics.recognisability(trained["full"].sample(samples, seed=seed)).balanced
    run("far", "full", sources["far"], target, 32)
    values["far_zero_shot_test"] = vae.heldout_evaluation(test)(sources["far"])["negative_elbo"]
    for label, strategy, start in (
        ("near", "full", source),
        ("far", "full", sources["far"]),
        ("scratch", "scratch", source),
    ):
        run(f"few_{label}", strategy, start, few_target, FEW_COUNT)
    run("few_anchored", "full", source, few_target, FEW_COUNT, drift_penalty=vae.FEW_IMAGES_DRIFT_PENALTY)
    # Section 8: the pixel model is section 5's `full`; the perceptual one adds the feature term at the same steps.
    probe = heldout[:PERCEPTUAL_PROBE]
    weight = vae.negative_elbo(source, probe)["reconstruction"] / float(
        losses["feature"](probe, vae.reconstruct(source, probe))
    )
    perceptual, _ = run(
        "perceptual", "full", source, target, 32, perceptual_weight=weight, feature_loss=losses["feature"]
    )
    real_energy = float(np.mean(upsampler.gradient_energy(probe)))
    for label, model in (("pixel", trained["full"]), ("perceptual", perceptual)):
        reconstructions = vae.reconstruct(model, probe)
        values[f"{label}_distance"] = float(losses["judge"](probe, reconstructions))
        values[f"{label}_probe_negative_elbo"] = vae.negative_elbo(model, probe)["negative_elbo"]
        values[f"{label}_sharpness"] = float(np.mean(upsampler.gradient_energy(reconstructions))) / real_energy
    return values


def run(scale: common.Scale, log=print) -> list[dict]:
    """seeds_vae: lesson 04's claims over many seeds, one run of each of its trainings per seed.

    At the full scale (about 30 minutes) each seed's values are kept in `build/benchmark-progress/`, keyed by the
    two source checkpoints and the settings, so that a run that stops part-way resumes at the next seed.
    """
    import warnings

    import tgai
    from tgai import backbones, perceptual
    from tgai.models import vae

    profile = tgai.profile()
    steps = scale.seeds_steps or profile.vae_adapt_steps
    every = scale.seeds_eval_every if scale.seeds_steps else profile.vae_adapt_eval_every
    samples = profile.kid_samples if scale.name == "full" else scale.kid_samples
    layers = ("block1_conv1",) if profile.name == "class" else perceptual.DFC_VAE_LAYERS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", backbones.OfflineFallbackWarning)
        losses = {
            "feature": perceptual.FeatureLoss(layers=layers),
            "judge": perceptual.FeatureLoss(layers=("block2_conv2",)),
        }
    sources = {"near": vae.load_source(), "far": vae.load_source(checkpoint="vae_letters")}
    key = common.checkpoints_key("vae", "vae_letters")
    values: dict[str, list[float]] = {}
    for seed, measured in common.per_seed(
        "seeds_vae",
        key,
        f"{steps}steps-every{every}-{samples}samples",
        range(scale.seed_count),
        lambda seed: _seed(seed, sources, steps, every, samples, losses),
        keep=scale.name == "full",
    ):
        common.collect(measured, values)
        log(
            f"  seeds_vae: seed {seed}: source test {measured['source_test']:.1f}, full at its chosen step "
            f"{measured['full_test_at_chosen']:.1f}; mixture balanced source {measured['source_mixture_balanced']:.2f} "
            f"full {measured['full_mixture_balanced']:.2f} scratch {measured['scratch_mixture_balanced']:.2f}; "
            f"10 images: plain {measured['few_near_test_end']:.1f}, anchored {measured['few_anchored_test_end']:.1f}"
        )
    setting = (
        f"N={TARGET_COUNT} and {FEW_COUNT} drawn with each seed, binarised; {steps} steps evaluated every {every}; "
        f"fine-tuning at {vae.FINE_TUNE_LEARNING_RATE:g}, scratch at {vae.LEARNING_RATE:g}; step chosen on "
        f"{VALIDATION_COUNT} validation digits, -ELBO on the other held-out digits; {samples} mixture samples; "
        f"one run per seed, seeds 0-{scale.seed_count - 1}"
    )

    def unit(name):
        if "balanced" in name:
            return "fraction"
        if "kid" in name:
            return "KID x1000"
        if name.endswith("chosen_step"):
            return "steps"
        if "distance" in name or "sharpness" in name:
            return "ratio" if "sharpness" in name else "VGG16 block2_conv2 distance"
        return "nats"

    return [
        common.row(
            "seeds_vae",
            name,
            f"VAE lesson 04 recipe: {name.replace('_', ' ')}",
            unit(name),
            samples_of_row,
            notes=setting,
        )
        for name, samples_of_row in values.items()
    ]
