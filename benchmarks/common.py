"""Shared pieces of the benchmarks: scales, the machine description, timing statistics, result rows, writers.

The benchmarks measure; they never assert a timing. Every row of the results compares a measurement with a
baseline measured in the same run (same process, same machine, interleaved repeats where possible), because
absolute timings on a shared CPU move with whatever else runs, while ratios measured side by side move much less.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class Scale:
    """How much work each benchmark does. `full` is `make bench`, `quick` a smoke run, `tiny` the unit test."""

    name: str
    repeats: int  # Timed repeats per measurement (median and spread are over these).
    gan_steps: int  # Timed train steps per throughput repeat (a multiple of 32, for steps_per_execution=32).
    vae_steps: int
    determinism_steps: int  # Steps of each same-seed run compared for identical weights.
    extraction_images: int
    transfer_seeds: int
    transfer_counts: tuple[int, ...]  # Target-set sizes N.
    gan_transfer_steps: int | None  # None: the profile's gan_steps.
    gan_transfer_eval_every: int | None
    vae_transfer_steps: int | None
    vae_transfer_eval_every: int | None
    kid_samples: int | None  # None: the profile's kid_samples.
    notebooks: str  # "all", "first" or "none".
    xla: bool  # Measure the XLA variants (each compiles for 30-50 s on a loaded 2-core CPU).
    budget_steps: int = 1000  # Lesson 03's longer picture (budget_gan): steps per run and between evaluations.
    budget_eval_every: int = 250
    vae_budget_steps: int = 500  # Lesson 04's time to quality (budget_vae): steps per run and between evaluations.
    vae_budget_eval_every: int = 10
    sweep_steps: int | None = None  # Lessons 03/05's learning-rate sweep (sweep_gan); None: the profile's steps.
    sweep_eval_every: int = 50
    sweep_seeds: int = 2
    sweep_rates: int = 4  # How many of each method's rates (benchmarks.sweep.RATES), from the smallest.
    tutorial_epochs: int = 50  # The TensorFlow DCGAN tutorial's recipe (tutorial_gan): epochs, and between evaluations.
    tutorial_eval_epochs: int = 5
    seed_count: int = 20  # Lessons 03 and 05: claims over many seeds (seeds_gan, seeds_lora): one run per seed.
    seeds_steps: int | None = None  # None: the profile's gan_steps and gan_eval_every.
    seeds_eval_every: int | None = None


# Time to quality for the GAN (budget_gan, tutorial_gan): samples that read as digits and are distributed like
# handwriting. The committed source already reads as digits (balanced about 0.45 by the MNIST judge) but is far
# from MNIST's style (KID about 290), so both count.
GAN_QUALITY = {"balanced": 0.5, "kid": 30.0}  # balanced recognisability at least, KID x 1000 (judge space) at most


def at_quality(values: dict) -> bool:
    """True if one GAN evaluation `{"balanced", "kid", ...}` meets GAN_QUALITY."""
    return values["balanced"] >= GAN_QUALITY["balanced"] and values["kid"] <= GAN_QUALITY["kid"]


def quality_text() -> str:
    """GAN_QUALITY in words, for row labels."""
    return f"balanced recognisability >= {GAN_QUALITY['balanced']} with KID x1000 <= {GAN_QUALITY['kid']:.0f}"


# Scratch's learning rate in lesson 03 and in budget_gan: the best of sweep_gan's four at lesson 03's budget
# (balanced recognisability 0.29 and KID 31 at 1e-3, against 0.26 and 77 at DCGAN's 2e-4; seeds 0-1).
# tests/test_benchmarks.py checks it against the committed sweep.
SCRATCH_LEARNING_RATE = 1e-3

# At the full scale `make bench` takes about three hours on a 2-core CPU, notebooks included: most of it the
# lessons' evidence (sweep_gan about 30 minutes, seeds_gan 17, seeds_lora about 40, budget_gan 19, budget_vae 8).
# Transfer runs use fixed step counts (GAN 100 steps, VAE 200, evaluated every 25) so that the comparison does
# not move when a lesson's class profile is retuned; batch sizes come from the profile.
SCALES = {
    # Five repeats of about 10 s per variant: this VM's neighbours moved single repeats by 20-50 %.
    "full": Scale("full", 5, 128, 512, 32, 256, 3, (10, 30, 100), 100, 25, 200, 25, 300, "all", True),
    "quick": Scale(  # fmt: skip
        "quick",
        2,
        32,
        64,
        32,
        64,
        1,
        (10, 30, 100),
        20,
        10,
        20,
        10,
        100,
        "first",
        False,
        40,
        20,
        40,
        10,
        sweep_steps=20,
        sweep_eval_every=10,
        sweep_seeds=1,
        sweep_rates=2,
        tutorial_epochs=2,
        tutorial_eval_epochs=1,
        seed_count=2,
        seeds_steps=20,
        seeds_eval_every=10,
    ),
    "tiny": Scale(  # fmt: skip
        "tiny",
        1,
        32,
        32,
        32,
        32,
        1,
        (10,),
        4,
        2,
        4,
        2,
        50,
        "none",
        False,
        4,
        2,
        4,
        2,
        sweep_steps=4,
        sweep_eval_every=2,
        sweep_seeds=1,
        sweep_rates=1,
        tutorial_epochs=1,
        tutorial_eval_epochs=1,
        seed_count=1,
        seeds_steps=4,
        seeds_eval_every=2,
    ),
}


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU model name from /proc/cpuinfo (or the platform's guess elsewhere), with its family and model numbers.

    Virtual machines of one type may run on several processors under one generic name ("Intel(R) Xeon(R)
    Processor"), and the lessons' times differ by half between them (lesson 06: 155 s on one, 262 s on another), so
    rows name the processor by its numbers too.
    """
    try:
        cpuinfo = pathlib.Path("/proc/cpuinfo").read_text() if cpuinfo is None else cpuinfo
    except OSError:
        return platform.processor() or platform.machine()
    fields = {}
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        fields.setdefault(name.strip().lower(), value.strip())
    if "model name" not in fields:
        return platform.processor() or platform.machine()
    labels = {"cpu family": "family", "model": "model"}
    numbers = [f"{label} {fields[key]}" for key, label in labels.items() if key in fields]
    return fields["model name"] + (f" ({', '.join(numbers)})" if numbers else "")


def gpu_names() -> list[str]:
    """Names of the GPUs TensorFlow sees (empty on a CPU-only machine)."""
    import tensorflow as tf

    names = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        names.append(details.get("device_name", device.name))
    return names


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def git_revision() -> str:
    """Short commit of the working tree, with `+dirty` when tracked files differ from it."""
    if shutil.which("git") is None:
        return "unknown"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = (
            subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "tgai"], cwd=ROOT, capture_output=True).returncode
            != 0
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty(tgai)" if dirty else "")


def environment() -> dict:
    """Machine and versions, recorded once per run and copied into every row."""
    import keras
    import numpy as np
    import tensorflow as tf

    import tgai

    gpus = gpu_names()
    machine = {
        "cores": cores(),
        "cpu_model": cpu_model(),
        "gpu": ", ".join(gpus) if gpus else None,
    }
    versions = {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tgai": tgai.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    return {"machine": machine, "versions": versions, "git": git_revision()}


def machine_short(machine: dict) -> str:
    device = f"GPU {machine['gpu']}" if machine.get("gpu") else "no GPU"
    return f"{machine['cores']} cores {machine['cpu_model']}, {device}"


def versions_short(versions: dict) -> str:
    return f"TF {versions['tensorflow']}, Keras {versions['keras']}, tgai {versions['tgai']}"


def load_average() -> float:
    """One-minute load average: above the core count, other processes were competing for the CPU."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


def summarize(samples) -> dict:
    """Median, min, max and relative spread ((max - min) / median, in %) of repeated measurements."""
    values = [float(value) for value in samples]
    if not values:
        raise ValueError("summarize needs at least one sample; received none.")
    finite = [value for value in values if value == value]  # NaN marks a failed or unreached repeat.
    if not finite:
        nan = float("nan")
        return {"median": nan, "min": nan, "max": nan, "spread_pct": nan, "samples": values}
    median = statistics.median(finite)
    spread = (max(finite) - min(finite)) / abs(median) * 100.0 if median else float("nan")
    return {"median": median, "min": min(finite), "max": max(finite), "spread_pct": spread, "samples": values}


def row(
    benchmark: str,
    name: str,
    measured: str,
    unit: str,
    samples,
    baseline: str | None = None,
    baseline_samples=None,
    ratio: float | None = None,
    ratio_meaning: str = "",
    goal: str = "",
    goal_met: bool | None = None,
    notes: str = "",
    higher_is_better: bool = True,
) -> dict:
    """One result row. `ratio` defaults to median / baseline median (inverted when lower is better)."""
    stats = summarize(samples)
    base = summarize(baseline_samples) if baseline_samples is not None else None
    if ratio is None and base is not None and base["median"] and stats["median"]:
        ratio = stats["median"] / base["median"] if higher_is_better else base["median"] / stats["median"]
    return {
        "benchmark": benchmark,
        "name": name,
        "measured": measured,
        "unit": unit,
        "repeats": len(stats["samples"]),
        **{key: stats[key] for key in ("median", "min", "max", "spread_pct", "samples")},
        "baseline": baseline,
        "baseline_median": base["median"] if base else None,
        "baseline_samples": base["samples"] if base else None,
        "ratio": ratio,
        "ratio_meaning": ratio_meaning,
        "goal": goal,
        "goal_met": goal_met,
        "notes": notes,
    }


class Stopwatch:
    """`with Stopwatch() as watch: ...` then `watch.seconds`."""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
        return False


def per_seed(benchmark: str, key: str, settings: str, seeds, measure, keep: bool):
    """Yield `(seed, values)` for each seed, measuring with `measure(seed) -> {name: float}` or reading it back.

    The seeds benchmarks run for half an hour or more, and a long run on a 2-core laptop can stop part-way (a
    crash, a closed lid). With `keep` (the full scale) each seed's values are written to
    `build/benchmark-progress/<benchmark>/<key>/seed<seed>-<settings>.json` as soon as they are measured, and a
    rerun reads them back instead of measuring again. `key` names what the values depend on beyond the settings
    (the committed checkpoints' hashes): a retrained source starts afresh.
    """
    folder = ROOT / "build" / "benchmark-progress" / benchmark / key
    for seed in seeds:
        kept = folder / f"seed{seed}-{settings}.json"
        if keep and kept.is_file():
            values = json.loads(kept.read_text())
        else:
            values = measure(seed)
            if keep:
                kept.parent.mkdir(parents=True, exist_ok=True)
                kept.write_text(json.dumps(values))
        yield seed, values


def recipe_key(recipe: str) -> str:
    """A short hash of a benchmark's recipe as its rows describe it, for `per_seed`'s settings.

    Steps and sample counts alone do not name a recipe: a new batch size or learning rate with the same steps
    would read back values measured with the old one. Hashing the description the rows print (without the list of
    seeds, so that more seeds reuse the ones kept) makes any change it states a new measurement.
    """
    return hashlib.sha256(recipe.encode()).hexdigest()[:10]


def checkpoints_key(*names: str) -> str:
    """`per_seed`'s key for values that depend on committed checkpoints: the start of each one's sha256.

    A retrained checkpoint changes the key, so values measured with the old one are measured again.
    """
    from tgai.core import checkpoints

    manifest = checkpoints.manifest()
    return "-".join(manifest[name]["sha256"][:12] for name in names)


def collect(measured: dict[str, float], into: dict[str, list[float]]) -> dict[str, list[float]]:
    """Append one seed's `{name: value}` to `into`'s lists, by name; return `into`."""
    for name, value in measured.items():
        into.setdefault(name, []).append(float(value))
    return into


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value != value:
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 10:
        return f"{value:.2f}"
    return f"{value:.{digits}g}"


def _goal_mark(result: dict) -> str:
    if not result.get("goal"):
        return ""
    met = result.get("goal_met")
    mark = "met" if met else ("NOT met" if met is False else "n/a")
    return f"{result['goal']} ({mark})"


def write_results(results: dict, folder: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """Write `results.json` (everything, every sample) and `RESULTS.md` (the table) into `folder`."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / "results.json"
    json_path.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n")
    markdown_path = folder / "RESULTS.md"
    markdown_path.write_text(markdown(results))
    return json_path, markdown_path


def findings(results: dict) -> list[str]:
    """Summary lines: every goal and whether it was met, and what XLA and steps_per_execution bought."""
    lines = []
    goals = [result for result in results.get("rows", []) if result.get("goal") and result["ratio"] is not None]
    if goals:
        lines += ["## Summary", "", "Goals:", ""]
        for result in goals:
            mark = "met" if result.get("goal_met") else "NOT met"
            lines.append(
                f"- {result['benchmark']}: {result['measured']}: ratio {_number(result['ratio'])} (goal "
                f"{result['goal']}, {mark})"
            )
        lines.append("")
    options = []
    for kind in ("gan", "vae"):
        for key, label in (
            ("tgai_xla", "XLA (the kit's default on a CPU)"),
            ("tgai_spe8", "steps_per_execution=8"),
            ("tgai_spe32", "steps_per_execution=32"),
        ):
            result = _find(results, f"throughput_{kind}", key)
            if result is None or result["ratio"] is None:
                continue
            deterministic = result.get("deterministic")
            same = result.get("same_as_default")
            wins = result["ratio"] >= 1.1
            verdict = (
                "faster, deterministic and bit-identical to the run without it"
                if wins and deterministic and same
                else "faster and deterministic; its weights differ from the run without it in the last bits (float32 "
                "reordering)"
                if wins and deterministic
                else "faster but NOT deterministic"
                if wins
                else "no clear gain (< 1.1x)"
            )
            options.append(
                f"- {kind.upper()} {label}: {_number(result['ratio'])}x the steps/s of `fit` without XLA and with "
                f"steps_per_execution=1; {verdict}."
            )
    if options:
        lines += [
            "Options measured against `fit` without XLA and with steps_per_execution=1 (same run, same model):",
            "",
            *options,
            "",
        ]
        lines += [
            "`steps_per_execution` must divide the evaluation interval (`eval_every`, the `fit` chunk): Keras calls "
            "the batch callbacks (NaN guard, periodic KID or -ELBO) once per execution. XLA is on by default on a "
            'CPU (`jit_compile="auto"`); the models set `model._jit_compile` after `compile` because Keras '
            "disables XLA while TensorFlow op determinism is on, and `tests/test_determinism.py` checks that reruns "
            "stay bit-identical with it. Each new model compiles for several seconds, which short lessons pay again "
            "for every strategy and seed.",
            "",
        ]
    return lines


def markdown(results: dict) -> str:
    """Render results as the RESULTS.md page: context, then one table per benchmark, then notes."""
    lines = ["# Benchmark results", ""]
    lines += [
        "Written by `benchmarks/run.py` (`make bench`); do not edit by hand. Every number is a median over the "
        "repeats shown, with its range (min-max) and relative spread ((max - min) / median). Each ratio compares "
        "the row with its baseline measured in the same run, on the same machine. Benchmarks measure; no test "
        "asserts a timing.",
        "",
    ]
    for run in results.get("runs", []):
        machine, versions = run["machine"], run["versions"]
        lines.append(
            f"- Run `{run['scale']}` scale, profile `{run['profile']}`, {run['started']} -> {run['finished']} "
            f"({run['seconds'] / 60:.1f} min), benchmarks: {', '.join(run['benchmarks'])}; machine: "
            f"{machine_short(machine)}; {versions_short(versions)}, Python {versions['python']}, NumPy "
            f"{versions['numpy']}; commit {run['git']}; load average at start {run['load_start']}, at end "
            f"{run['load_end']} (on {machine['cores']} cores)."
        )
        if run.get("timings"):
            parts = [
                f"{name} {value['wall_seconds']:.0f} s wall / {value['cpu_seconds']:.0f} s CPU"
                for name, value in run["timings"].items()
            ]
            lines.append(f"  Time per benchmark: {'; '.join(parts)}.")
    lines.append("")
    if not any(run["machine"].get("gpu") for run in results.get("runs", [])):
        lines += [
            "No GPU was available to these runs: every number is CPU-only. `benchmarks/gpu.sh` runs the same "
            "suite in the `full` profile on a machine with a GPU and records the device.",
            "",
        ]
    for note in results.get("notes", []):
        lines += [note, ""]
    lines += findings(results)
    order = []
    for result in results.get("rows", []):
        if result["benchmark"] not in order:
            order.append(result["benchmark"])
    for benchmark in order:
        rows = [result for result in results["rows"] if result["benchmark"] == benchmark]
        lines += [f"## {benchmark}", ""]
        first = rows[0]
        if first.get("run"):
            lines += [
                f"Measured in the run of {first['run']} ({first.get('scale', '?')} scale, profile "
                f"{first.get('profile', '?')}).",
                "",
            ]
        description = results.get("descriptions", {}).get(benchmark)
        if description:
            lines += [description, ""]
        lines.append(
            "| measured | median | range | spread | repeats | baseline (same run) | ratio | goal | load | machine | "
            "versions |"
        )
        lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for result in rows:
            ratio = _number(result["ratio"]) if result["ratio"] is not None else "-"
            if result["ratio"] is not None and result.get("ratio_meaning"):
                ratio += f" ({result['ratio_meaning']})"
            baseline = "-"
            if result.get("baseline"):
                baseline = result["baseline"]
                if result.get("baseline_median") is not None:
                    baseline += f": {_number(result['baseline_median'])} {result['unit']}"
            measured = result["measured"] + (f" — {result['notes']}" if result.get("notes") else "")
            lines.append(
                f"| {measured} | {_number(result['median'])} {result['unit']} | "
                f"{_number(result['min'])}-{_number(result['max'])} "
                f"| {_number(result['spread_pct'], 2)}% | {result['repeats']} | {baseline} | {ratio} | "
                f"{_goal_mark(result)} "
                f"| {result.get('load', '-')} | {result.get('machine', '-')} | {result.get('versions', '-')} |"
            )
        lines.append("")
    return "\n".join(lines)


def _find(results: dict, benchmark: str, name: str):
    return next(
        (result for result in results.get("rows", []) if result["benchmark"] == benchmark and result["name"] == name),
        None,
    )


def readme_section(results: dict) -> str:
    """The README's "Performance" section: the headline numbers of `results` and how to reproduce them."""
    runs = results.get("runs", [])
    latest = runs[-1] if runs else None
    lines = ["## Performance", ""]
    if latest:
        machine = latest["machine"]
        lines += [
            f"Measured by `make bench` on {machine['cores']} CPU cores ({machine['cpu_model']}), "
            f"{'GPU ' + machine['gpu'] if machine.get('gpu') else 'no GPU'}, {versions_short(latest['versions'])}, "
            f"{latest['started'][:10]}. Every ratio compares two things measured side by side in the same run; "
            "medians over repeats or seeds. Full table with spreads: [benchmarks/RESULTS.md](benchmarks/RESULTS.md).",
            "",
        ]
        if len(runs) > 1:  # name every processor and the dates of all runs, not only the newest run's
            models = ", ".join(sorted({run["machine"]["cpu_model"] for run in runs}))
            dates = sorted(run["started"][:10] for run in runs)
            lines[-2] = (
                lines[-2]
                .replace(
                    "Measured by `make bench`", f"Measured by `benchmarks/run.py` in {len(runs)} runs (see RESULTS.md)"
                )
                .replace(f"({machine['cpu_model']})", f"({models})")
                .replace(f", {latest['started'][:10]}.", f", {dates[0]} to {dates[-1]}.")
            )
        if results.get("notes"):
            peak = max(max(entry["load_start"], entry["load_end"]) for entry in runs)
            lines += [
                f"Other processes shared the CPU during these runs (load average up to {peak} on {machine['cores']} "
                "cores): absolute rates are understated, and the train-step ratios are noisy at this load (see the "
                "spreads in RESULTS.md); the quality numbers (KID, -ELBO) do not depend on load.",
                "",
            ]
    headline = _find(results, "tutorial_gan", "seconds_to_quality")
    if headline is not None and headline["ratio"] is not None:
        bound = "lower bound" in headline["ratio_meaning"]
        lines += [
            f"**From 100 images, {'at least ' if bound else ''}{headline['ratio']:.0f} times faster than the standard "
            "tutorial from 1,000.** The kit's lesson-03 fine-tuning of its pretrained source on 100 MNIST digits "
            f"reaches {quality_text()} (judge space) after {headline['median']:.0f} s of training on this CPU. The "
            "TensorFlow DCGAN tutorial's architecture and recipe, trained from scratch on all 1,000 digits of the "
            "same pool in the same run, "
            + (
                f"had not reached it after its 50 epochs ({headline['baseline_median']:.0f} s)."
                if bound
                else f"took {headline['baseline_median']:.0f} s."
            ),
            "",
        ]
    table = ["| measured | result | ratio (goal) |", "| --- | --- | --- |"]

    def entry(benchmark, name, label, fmt="{:.3g}"):
        result = _find(results, benchmark, name)
        if result is None or result["median"] != result["median"]:
            return
        value = f"{fmt.format(result['median'])} {result['unit']}"
        if result.get("baseline_median") is not None:
            value += f" vs {fmt.format(result['baseline_median'])}"
        ratio = "-" if result["ratio"] is None else f"{result['ratio']:.2f}"
        if result["ratio"] is not None and result.get("ratio_meaning"):
            ratio += f" ({result['ratio_meaning']})"
        if result.get("goal"):
            ratio += f" (goal {result['goal']}: {'met' if result.get('goal_met') else 'not met'})"
        table.append(f"| {label} | {value} | {ratio} |")

    # The headline rows only: every N, every setting and the spreads are in benchmarks/RESULTS.md.
    entry(
        "tutorial_gan",
        "seconds_to_quality",
        f"GAN time to {quality_text()}: the kit (fine-tune, 100 images) vs the TensorFlow DCGAN tutorial "
        "(scratch, 1,000 images)",
        "{:.0f}",
    )
    for model, label in (("gan", "GAN"), ("vae", "VAE"), ("diffusion", "Latent diffusion")):
        entry(
            f"throughput_{model}",
            "tgai_xla_vs_hand_xla",
            f"{label} train steps/s: tgai `fit` vs a hand-written `tf.function` loop, both with XLA",
        )
    entry("throughput_gan", "tgai_xla", "GAN `fit`: the kit's default (XLA) vs without XLA")
    entry("extraction", "extract_cached", "VGG16 features with the kit's cache: hit vs cold")
    entry(
        "budget_gan",
        "n100_seconds_to_quality",
        f"GAN, 100 target images: seconds to {quality_text()}, fine-tune vs scratch",
        "{:.0f}",
    )
    entry(
        "budget_vae",
        "n100_seconds_to_175_nats",
        "VAE, 100 target images: seconds to held-out -ELBO <= 175 nats, fine-tune vs scratch",
        "{:.1f}",
    )
    entry(
        "budget_diffusion",
        "n100_seconds_to_quality",
        f"Latent diffusion, 100 target images: seconds to {quality_text()}, fine-tune vs scratch",
        "{:.0f}",
    )
    entry("notebooks", "total", "All notebooks, class profile, headless: total wall time", "{:.0f}")
    entry("prose", "total", "All lessons: words of prose (reading time in RESULTS.md)", "{:,.0f}")
    lines += table + [
        "",
        "Every other row (10 and 30 target images, each throughput setting, each lesson's time, memory and prose, "
        "the claims over 20 seeds) is in [benchmarks/RESULTS.md](benchmarks/RESULTS.md).",
        "",
    ]
    lines += [
        "Reproduce: `make bench` (about three hours on a 2-core CPU; writes `benchmarks/RESULTS.md` and "
        "`benchmarks/results.json`), `make bench-quick` for a 3-minute smoke run (written to "
        "`build/benchmarks-quick/`), `.venv/bin/python benchmarks/run.py --only throughput extraction` for a "
        "subset, and `bash benchmarks/gpu.sh` for the `full` profile on a GPU. The benchmarks measure and never "
        "fail on a timing; on a shared machine absolute rates drop, the ratios much less.",
        "",
    ]
    return "\n".join(lines)


def update_readme(results: dict, readme: pathlib.Path) -> None:
    """Replace the README's "## Performance" section (or insert it before "## Troubleshooting") in place."""
    text = readme.read_text()
    section = readme_section(results)
    lines = text.splitlines(keepends=True)
    starts = [index for index, line in enumerate(lines) if line.rstrip() == "## Performance"]
    if starts:
        begin = starts[0]
        end = next((index for index in range(begin + 1, len(lines)) if lines[index].startswith("## ")), len(lines))
    else:
        anchor = next((index for index, line in enumerate(lines) if line.rstrip() == "## Troubleshooting"), len(lines))
        begin = end = anchor
    readme.write_text("".join(lines[:begin]) + section + "\n" + "".join(lines[end:]))
