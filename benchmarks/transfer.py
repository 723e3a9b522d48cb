"""Transfer against scratch: GAN and VAE on the default pair (glyphs -> digits), several seeds and target sizes.

For each target size N (10, 30, 100 images drawn from the digits train split with data seed 0) and each
training seed, the same model is trained from the committed source checkpoint (`full` fine-tuning) and from
scratch, at the same steps, batch size and seed, and evaluated on the held-out digits (the test split):

* GAN: KID x 1000 of EMA samples against held-out digits, in the judge CNN's 128-d feature space
  (`tgai.experiments.run` with `tgai.models.gan.sample_evaluation`, evaluated every `eval_every` steps). Lower is
  better.
* VAE: held-out -ELBO in nats per image (`tgai.models.vae.train` with `heldout`). Lower is better.

Reported per N, as medians over seeds with their range: the quality of each at equal (final) steps, the ratio
scratch / transfer (> 1: transfer is better), and the steps transfer needs to reach scratch's final quality
(first evaluated step at or below it) against the steps scratch needs, as a speed-up. Steps are resolved only to
the evaluation interval: when transfer gets there at the first evaluation, the speed-up shown (scratch steps /
interval) is the largest the interval can show, a lower bound.
"""

from __future__ import annotations

import numpy as np

from benchmarks import common


def _steps_to_reach(steps, values, target):
    reached = np.flatnonzero(np.asarray(values) <= target)
    return int(np.asarray(steps)[reached[0]]) if len(reached) else None


def _summaries(benchmark, label, unit, count, curves, total_steps, setting):
    """Rows for one N from `curves[strategy] = [(steps, values) per seed]`."""
    scratch_final = [values[-1] for _, values in curves["scratch"]]
    transfer_final = [values[-1] for _, values in curves["full"]]
    transfer_first = [values[0] for _, values in curves["full"]]
    scratch_first = [values[0] for _, values in curves["scratch"]]
    rows = [
        common.row(
            benchmark,
            f"n{count}_scratch_final",
            f"{label}, N={count}: scratch, after {total_steps} steps",
            unit,
            scratch_final,
            notes=setting + f"; at step 0: {np.median(scratch_first):.4g}",
        ),
        common.row(
            benchmark,
            f"n{count}_transfer_final",
            f"{label}, N={count}: transfer (full fine-tune from source), after {total_steps} steps",
            unit,
            transfer_final,
            baseline="scratch at equal steps",
            baseline_samples=scratch_final,
            higher_is_better=False,
            ratio_meaning="scratch / transfer, > 1 favours transfer",
            notes=f"at step 0 (source model, zero-shot): {np.median(transfer_first):.4g}",
        ),
    ]
    transfer_steps, scratch_steps, speedups, unreached, immediate, flat = [], [], [], 0, 0, 0
    for (scratch_axis, scratch_values), (transfer_axis, transfer_values) in zip(
        curves["scratch"], curves["full"], strict=True
    ):
        target = scratch_values[-1]
        needed_by_scratch = _steps_to_reach(scratch_axis, scratch_values, target)
        needed = _steps_to_reach(transfer_axis, transfer_values, target)
        scratch_steps.append(needed_by_scratch)
        if needed is None:
            unreached += 1
            transfer_steps.append(float("nan"))
            continue
        transfer_steps.append(needed)
        if needed_by_scratch == 0:
            # Scratch ended no better than it started: there is no progress to compare speeds on.
            flat += 1
            continue
        if needed == 0:
            # The source model already beats scratch's final quality: the speed-up is only bounded below,
            # by the evaluation interval (the first step transfer could have been seen to reach it).
            immediate += 1
            needed = int(transfer_axis[1]) if len(transfer_axis) > 1 else 1
        speedups.append(needed_by_scratch / needed)
    notes = []
    if unreached:
        notes.append(
            f"{unreached} of {len(transfer_steps)} seeds: transfer never reached it within {total_steps} steps (n/a)"
        )
    if immediate:
        notes.append(
            f"{immediate} of {len(transfer_steps)} seeds: the source model (step 0) already beat scratch's final "
            f"quality; "
            "their speed-up is a lower bound (scratch steps / first evaluation step)"
        )
    if flat:
        notes.append(
            f"{flat} of {len(transfer_steps)} seeds: scratch ended no better than its step 0, no speed-up computed"
        )
    result = common.row(
        benchmark,
        f"n{count}_steps_to_scratch_final",
        f"{label}, N={count}: steps transfer needs to reach scratch's final quality",
        "steps",
        transfer_steps,
        baseline="steps scratch needs",
        baseline_samples=scratch_steps,
        higher_is_better=False,
        ratio=float(np.median(speedups)) if speedups else None,
        ratio_meaning="median speed-up, scratch steps / transfer steps" + (" (lower bound)" if immediate else ""),
        notes="; ".join(notes),
    )
    rows.append(result)
    return rows


def run_gan(scale: common.Scale, log=print) -> list[dict]:
    import tgai
    from tgai import data, experiments
    from tgai.models import gan

    profile = tgai.profile()
    steps = scale.gan_transfer_steps or profile.gan_steps
    eval_every = scale.gan_transfer_eval_every or profile.gan_eval_every
    kid_samples = scale.kid_samples or profile.kid_samples
    models = {}
    rows = []
    for count in scale.transfer_counts:
        pair = data.domain_pair(n_target=count, n_source=10, seed=0)
        batch_size = min(profile.gan_batch_size, count)
        evaluate = gan.sample_evaluation(pair.heldout_images, kid_samples)
        curves = {"scratch": [], "full": []}
        for seed in range(scale.transfer_seeds):
            for strategy in curves:
                # One compiled model per strategy, restarted per run (`experiments.run`): the same result as a
                # fresh `gan.make`, without retracing.
                if strategy not in models:
                    # Lesson 03's treatment: scratch gets the EMA warm-up and its own sweep's learning rate.
                    scratch = strategy == "scratch"
                    rate = common.SCRATCH_LEARNING_RATE if scratch else 2e-4
                    models[strategy], _ = gan.make(strategy, seed=seed, learning_rate=rate, ema_warmup=scratch)
                with common.Stopwatch() as watch:
                    result = experiments.run(
                        models[strategy],
                        strategy,
                        pair.target_images,
                        steps,
                        batch_size,
                        eval_every,
                        seed=seed,
                        evaluate=evaluate,
                    )
                kid = result.series("kid")
                curves[strategy].append((result.steps, kid))
                log(
                    f"  transfer_gan: N={count} seed {seed} {strategy}: KID x1000 {kid.round(1).tolist()} "
                    f"({watch.seconds:.0f} s)"
                )
        setting = f"KID x1000 vs {kid_samples} held-out digits, judge space; batch {batch_size}, "
        setting += f"eval every {eval_every} steps"
        rows += _summaries("transfer_gan", "GAN KID x1000", "KIDx1000", count, curves, steps, setting)
    return rows


def vae_curves(scale: common.Scale, count: int, steps: int, eval_every: int, source, models: dict, log, benchmark: str):
    """Train the VAE from `source` (`full`) and from scratch on N = `count` target digits, for each seed.

    Returns `(curves, heldout, batch_size)`, `curves[strategy]` a list per seed of `{"steps", "values"
    (held-out -ELBO, nats per image), "seconds_per_step"}`. `models` keeps one compiled model per strategy
    across calls, reset per run (`tgai.models.transfer.restart`): the same result as a fresh `vae.make`, without
    retracing. Seconds per step include the held-out evaluations, which cost the same for both strategies.
    """
    import tgai
    from tgai import data, training
    from tgai.models import transfer, vae

    pair = data.domain_pair(n_target=count, n_source=10, seed=0)
    target, heldout = vae.binarize(pair.target_images), vae.binarize(pair.heldout_images)  # as lesson 04 scores them
    batch_size = min(tgai.profile().vae_batch_size, count)
    curves = {"scratch": [], "full": []}
    for seed in range(scale.transfer_seeds):
        for strategy in curves:
            if strategy not in models:
                models[strategy], _ = vae.make(strategy, source=source, seed=seed)
            model = models[strategy]
            transfer.restart(model, strategy, seed=seed, source=source)
            evaluation = training.PeriodicEvaluation(vae.heldout_evaluation(heldout), eval_every)
            with common.Stopwatch() as watch:
                vae.train(model, target, steps, batch_size, seed=seed, eval_every=eval_every, callbacks=[evaluation])
            evaluated, values = evaluation.series("negative_elbo")
            curves[strategy].append(
                {"steps": evaluated.tolist(), "values": values.tolist(), "seconds_per_step": watch.seconds / steps}
            )
            best = int(np.argmin(values))
            log(
                f"  {benchmark}: N={count} seed {seed} {strategy}: -ELBO {values[0]:.1f} -> {values[-1]:.1f}, best "
                f"{values[best]:.1f} at step {evaluated[best]} ({watch.seconds:.0f} s)"
            )
    return curves, heldout, batch_size


def run_vae(scale: common.Scale, log=print) -> list[dict]:
    import tgai
    from tgai.models import vae

    profile = tgai.profile()
    steps = scale.vae_transfer_steps or profile.vae_steps
    eval_every = scale.vae_transfer_eval_every or profile.vae_eval_every
    source, models, rows = vae.load_source(), {}, []
    for count in scale.transfer_counts:
        curves, heldout, batch_size = vae_curves(scale, count, steps, eval_every, source, models, log, "transfer_vae")
        pairs = {
            name: [(np.asarray(run["steps"]), np.asarray(run["values"])) for run in runs]
            for name, runs in curves.items()
        }
        setting = (
            f"-ELBO on {len(heldout)} held-out digits (nats/image); batch {batch_size}, eval every {eval_every} steps"
        )
        rows += _summaries("transfer_vae", "VAE held-out -ELBO", "nats", count, pairs, steps, setting)
    return rows
