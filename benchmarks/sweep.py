"""Learning rates for lessons 03, 05 and 06, each method's chosen by the same small sweep at the lesson's budget.

sweep_gan: on N = 100 target digits (data seed 0, batch 32, lesson 03's recipe otherwise: Adam beta_1 0.5, EMA
0.99 with the warm-up for scratch only, XLA on a CPU), each method is trained at each of four learning rates for
the class profile's `gan_steps` (lesson 03's comparison point) and evaluated every `sweep_eval_every` steps on
held-out digits: balanced recognisability (the judge reads a sample as a digit with probability >= 0.9, at most
a tenth of the samples per digit), digits covered and KID x 1000, in the judge's feature space. Methods: `full`
fine-tuning and `freeze_d` (FreezeD, the two lowest discriminator blocks frozen) from the committed source,
`scratch`, and lesson 05's `LoRA r4` (rank-4 adapters on every generator convolution, the discriminator
trained whole at 2e-4), read at lesson 05's `lora_gan_steps` beside `full` read at the same step. One row per
method and rate (median over the sweep's seeds), and one row per method naming the rate with the highest
median balanced recognisability (ties go to the lower KID). The lessons cite these rows for the rates they use.

sweep_diffusion: on N = 100 target digits drawn with each of the sweep's seeds (0 and 1 at the full scale), full
fine-tuning from the committed source denoiser and LoRA rank-4 adapters on its convolutions, each at each of
four learning rates, for the class profile's `diffusion_steps` at batch 32 (AdamW, EMA 0.99 with its warm-up),
then sampled (`diffusion_samples` EMA samples, 20 DDIM steps) and read by the handwriting judge: balanced
recognisability. One row per method and rate (median over the seeds) and one per method naming the rate with
the highest median (ties go to the lower rate). Lesson 06 prints these rows beside the rates it uses.
"""

from __future__ import annotations

import numpy as np

from benchmarks import common

# Each method's four rates: DCGAN's 2e-4 and the two either side; adapters train fewer weights and take
# larger steps (lesson 05's 1e-3 is in the middle of theirs).
RATES = {
    "full": (1e-4, 2e-4, 5e-4, 1e-3),
    "freeze_d": (1e-4, 2e-4, 5e-4, 1e-3),
    "scratch": (1e-4, 2e-4, 5e-4, 1e-3),
    "LoRA r4": (2e-4, 5e-4, 1e-3, 2e-3),
}
TARGET_COUNT = 100


def _train(method: str, rate: float, seed: int, source, pair, steps: int, eval_every: int, evaluate):
    """Train one method at one rate and seed; return `{step: evaluation}` and the training seconds."""
    import time

    from tgai import experiments
    from tgai.models import gan

    if method == "LoRA r4":
        # As lesson 05 trains it: a new adaptable model per run (restart copies whole networks, not adapters).
        model = gan.make_lora(4, source, seed=seed, learning_rate=rate)
        start = time.perf_counter()
        gan.train(model, pair.target_images, steps, 32, seed=seed)
        return {steps: evaluate(model, seed)}, time.perf_counter() - start
    # As in lesson 03: scratch's EMA gets the warm-up that suits a random start; fine-tuning's starts at the source.
    model, _ = gan.make(method, source=source, seed=seed, learning_rate=rate, ema_warmup=method == "scratch")
    result = experiments.run(
        model, method, pair.target_images, steps, 32, eval_every, seed=seed, evaluate=evaluate, source=source
    )
    return {int(step): values for step, values in result.history}, result.seconds


def _read_steps(scale: common.Scale, profile) -> dict:
    """The step each method is read at: lesson 03's comparison point, and lesson 05's for full against LoRA."""
    lesson_03 = scale.sweep_steps or profile.gan_steps
    lesson_05 = min(scale.sweep_steps or profile.lora_gan_steps, lesson_03)
    return {"full": lesson_03, "freeze_d": lesson_03, "scratch": lesson_03, "LoRA r4": lesson_05}


def run(scale: common.Scale, log=print) -> list[dict]:
    import tgai
    from tgai import data
    from tgai.models import gan

    profile = tgai.profile()
    read_at = _read_steps(scale, profile)
    steps, eval_every = max(read_at.values()), scale.sweep_eval_every
    samples = scale.kid_samples or profile.kid_samples
    source = gan.load_source()
    pair = data.domain_pair(n_target=TARGET_COUNT, seed=0)
    evaluate = gan.sample_evaluation(pair.heldout_images, samples)
    seeds = range(scale.sweep_seeds)
    results: dict[tuple[str, float], list] = {}
    rows = []
    for method, rates in RATES.items():
        for rate in rates[: scale.sweep_rates]:
            results[method, rate] = []
            for seed in seeds:
                steps_of_method = read_at[method] if method == "LoRA r4" else steps
                history, seconds = _train(method, rate, seed, source, pair, steps_of_method, eval_every, evaluate)
                results[method, rate].append(history)
                last = history[max(history)]
                log(
                    f"  sweep_gan: {method} lr {rate:g} seed {seed}: step {max(history)} balanced "
                    f"{last['balanced']:.2f} KID {last['kid']:.1f} digits {last['classes']} ({seconds:.0f} s)"
                )
    setting = f"N={TARGET_COUNT}, batch 32, {samples} samples per evaluation, seeds 0-{scale.sweep_seeds - 1}"
    extra = {"full": [read_at["LoRA r4"]] if read_at["LoRA r4"] != read_at["full"] else []}
    for method, rates in RATES.items():
        scores = {}
        for step in [read_at[method], *extra.get(method, [])]:
            for rate in rates[: scale.sweep_rates]:
                histories = results[method, rate]
                balanced = [history[step]["balanced"] for history in histories]
                kid = float(np.median([history[step]["kid"] for history in histories]))
                classes = float(np.median([history[step]["classes"] for history in histories]))
                if step == read_at[method]:
                    scores[rate] = (float(np.median(balanced)), -kid)
                rows.append(
                    common.row(
                        "sweep_gan",
                        f"{method.replace(' ', '_').lower()}_lr{rate:g}_step{step}_balanced",
                        f"GAN {method}, learning rate {rate:g}, step {step}: balanced recognisability",
                        "fraction",
                        balanced,
                        notes=f"KID x1000 {kid:.1f}; digits covered {classes:.0f}; {setting}",
                    )
                )
        best = max(scores, key=scores.get)
        rows.append(
            common.row(
                "sweep_gan",
                f"{method.replace(' ', '_').lower()}_best_rate",
                f"GAN {method}: the learning rate with the highest median balanced recognisability at step "
                f"{read_at[method]}",
                "learning rate",
                [best],
                notes="balanced by rate: "
                + ", ".join(f"{rate:g} {score[0]:.2f} (KID {-score[1]:.1f})" for rate, score in scores.items())
                + f"; {setting}",
            )
        )
    return rows


# Lesson 06: full fine-tuning's and rank-4 adapters' rates. A first sweep at (3e-4, 1e-3, 2e-3) and (1e-3, 2e-3, 5e-3)
# found each method's best at the top of its range, so each range goes one step higher.
DIFFUSION_RATES = {"full": (5e-4, 1e-3, 2e-3, 4e-3), "LoRA r4": (2e-3, 5e-3, 1e-2, 2e-2)}


def run_diffusion(scale: common.Scale, log=print) -> list[dict]:
    """sweep_diffusion: each method's learning rate, by the same small sweep at lesson 06's budget."""
    import tgai
    from benchmarks import seeds_diffusion
    from tgai import data, metrics
    from tgai.models import diffusion

    profile = tgai.profile()
    steps = scale.seeds_steps or profile.diffusion_steps
    samples = profile.diffusion_samples if scale.name == "full" else scale.kid_samples
    seeds = range(2 if scale.name == "full" else 1)
    source = diffusion.load_source()
    balanced: dict[tuple[str, float], list[float]] = {}
    for seed in seeds:
        pair = data.domain_pair(n_target=seeds_diffusion.TARGET_COUNT, seed=seed)
        for method, rates in DIFFUSION_RATES.items():
            for rate in rates:
                if method == "full":
                    model, _ = diffusion.make("full", source=source, seed=seed, learning_rate=rate)
                else:
                    model = diffusion.make_lora(seeds_diffusion.LORA_RANK, source=source, seed=seed, learning_rate=rate)
                seeds_diffusion.train_once(model, pair.target_images, steps, seed)
                value = metrics.recognisability(model.sample(samples, seed=seed)).balanced
                balanced.setdefault((method, rate), []).append(value)
                log(f"  sweep_diffusion: {method} at {rate:g}, seed {seed}: balanced {value:.2f}")
    setting = (
        f"N={seeds_diffusion.TARGET_COUNT}; {steps} steps at batch {seeds_diffusion.BATCH_SIZE}; {samples} samples; "
        f"seeds {list(seeds)}"
    )
    rows = [
        common.row(
            "sweep_diffusion",
            f"{method.replace(' ', '_')}_rate{rate:g}",
            f"{method} at learning rate {rate:g}: balanced recognisability",
            "fraction",
            values,
            notes=setting,
        )
        for (method, rate), values in balanced.items()
    ]
    for method, rates in DIFFUSION_RATES.items():
        best = max(rates, key=lambda rate: (float(np.median(balanced[(method, rate)])), -rate))
        rows.append(
            common.row(
                "sweep_diffusion",
                f"{method.replace(' ', '_')}_best_rate",
                f"{method}: the rate with the highest median balanced recognisability",
                "learning rate",
                [best],
                notes=setting,
            )
        )
    return rows
