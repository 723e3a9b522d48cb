"""Run the tgai benchmarks and write `RESULTS.md` and `results.json` (`make bench`, `make bench-quick`).

Usage:
    python benchmarks/run.py                      # everything, about three hours on a 2-core CPU
    python benchmarks/run.py --quick              # smoke run, 2-3 minutes, written to build/benchmarks-quick/
    python benchmarks/run.py --only throughput_vae extraction
    TGAI_PROFILE=full python benchmarks/run.py    # the full profile (benchmarks/gpu.sh does this on a GPU)

Benchmarks: throughput_gan, throughput_vae, throughput_diffusion, extraction, transfer_gan, transfer_vae, budget_gan,
budget_vae, budget_diffusion, sweep_gan, tutorial_gan, seeds_gan, seeds_lora, seeds_lora_vae, seeds_vae, seeds_style,
seeds_lessons, sweep_diffusion, seeds_diffusion, prose, notebooks (`--only` also takes the
prefixes `throughput`, `transfer` and `seeds`). Results are written after every benchmark; rows of benchmarks a run
does not measure (`--only`, or an interrupted run) are kept from the output's previous `results.json`, each table
saying which run measured it.

The benchmarks measure and never assert: a slow result is a row to read, not a failure. Runs are offline
(`TGAI_OFFLINE=1` unless already set) and in the `class` profile unless `TGAI_PROFILE` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("TGAI_OFFLINE", "1")

from benchmarks import common  # noqa: E402

BENCHMARKS = (
    "throughput_gan",
    "throughput_vae",
    "throughput_diffusion",
    "extraction",
    "transfer_gan",
    "transfer_vae",
    "budget_gan",
    "budget_vae",
    "budget_diffusion",
    "sweep_gan",
    "tutorial_gan",
    "seeds_gan",
    "seeds_lora",
    "seeds_lora_vae",
    "seeds_vae",
    "seeds_style",
    "seeds_lessons",
    "sweep_diffusion",
    "seeds_diffusion",
    "prose",
    "notebooks",
)


def _module_summary(name: str) -> str:
    """The paragraph of the benchmark module's docstring that describes `name`, on one line.

    A benchmark with a module of its own name (seeds_vae) is described by that module. A module that runs
    several benchmarks (budget_gan and budget_vae) gives a later one its own paragraph, which names it; every
    other benchmark gets the paragraph after the docstring's title line.
    """
    import importlib
    import importlib.util

    own_module = importlib.util.find_spec(f"benchmarks.{name}") is not None
    module = importlib.import_module(f"benchmarks.{name if own_module else name.split('_')[0]}")
    paragraphs = [" ".join(paragraph.split()) for paragraph in (module.__doc__ or "").strip().split("\n\n")[1:]]
    own = [paragraph for paragraph in paragraphs if name in paragraph]
    return (own or paragraphs or [""])[0]


def _run_one(name: str, scale: common.Scale, log) -> list[dict]:
    from benchmarks import (
        budget,
        extraction,
        notebooks,
        prose,
        seeds,
        seeds_diffusion,
        seeds_lessons,
        seeds_style,
        seeds_vae,
        sweep,
        throughput,
        transfer,
        tutorial,
    )

    if name == "throughput_gan":
        return throughput.run("gan", scale, log)
    if name == "throughput_vae":
        return throughput.run("vae", scale, log)
    if name == "throughput_diffusion":
        return throughput.run("diffusion", scale, log)
    if name == "extraction":
        return extraction.run(scale, log)
    if name == "transfer_gan":
        return transfer.run_gan(scale, log)
    if name == "transfer_vae":
        return transfer.run_vae(scale, log)
    if name == "budget_gan":
        return budget.run(scale, log)
    if name == "budget_vae":
        return budget.run_vae(scale, log)
    if name == "budget_diffusion":
        return budget.run_diffusion(scale, log)
    if name == "sweep_gan":
        return sweep.run(scale, log)
    if name == "tutorial_gan":
        return tutorial.run(scale, log)
    if name == "seeds_gan":
        return seeds.run(scale, log)
    if name == "seeds_lora":
        return seeds.run_lora(scale, log)
    if name == "seeds_lora_vae":
        return seeds.run_lora_vae(scale, log)
    if name == "seeds_vae":
        return seeds_vae.run(scale, log)
    if name == "seeds_style":
        return seeds_style.run(scale, log)
    if name == "seeds_lessons":
        return seeds_lessons.run(scale, log)
    if name == "sweep_diffusion":
        return sweep.run_diffusion(scale, log)
    if name == "seeds_diffusion":
        return seeds_diffusion.run(scale, log)
    if name == "prose":
        return prose.run(scale, log)
    if name == "notebooks":
        return notebooks.run(scale, log)
    raise ValueError(f"Unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}.")


def select(only) -> list[str]:
    """Expand `--only` names and prefixes into benchmark names, in the suite's order."""
    if not only:
        return list(BENCHMARKS)
    chosen = []
    for name in only:
        # A benchmark's own name selects it alone (seeds_lora, not seeds_lora_vae too); other names are prefixes.
        prefixed = [benchmark for benchmark in BENCHMARKS if benchmark.startswith(name + "_")]
        matches = [name] if name in BENCHMARKS else prefixed
        if not matches:
            raise SystemExit(
                f"run.py: unknown benchmark {name!r}. Choose from: {', '.join(BENCHMARKS)} "
                "(or throughput, transfer, seeds)."
            )
        chosen += [match for match in matches if match not in chosen]
    return [benchmark for benchmark in BENCHMARKS if benchmark in chosen]


def _merge(previous: dict, run: dict, rows: list, done: list) -> dict:
    """This run's rows, plus the previous results' rows for benchmarks this run did not measure."""
    kept = [result for result in previous.get("rows", []) if result["benchmark"] not in done]
    kept_runs = []
    for old in previous.get("runs", []):
        remaining = [
            name
            for name in old["benchmarks"]
            if name not in done and any(result["run"] == old["started"] for result in kept)
        ]
        if remaining:
            kept_runs.append(
                {
                    **old,
                    "benchmarks": remaining,
                    "timings": {name: value for name, value in old.get("timings", {}).items() if name in remaining},
                }
            )
    order = lambda result: (
        BENCHMARKS.index(result["benchmark"]) if result["benchmark"] in BENCHMARKS else len(BENCHMARKS)
    )
    merged_rows = sorted(kept + rows, key=order)
    runs = kept_runs + [run]
    descriptions = {
        name: _module_summary(name) for name in BENCHMARKS if any(result["benchmark"] == name for result in merged_rows)
    }
    return {"runs": runs, "rows": merged_rows, "notes": contention_notes(runs), "descriptions": descriptions}


# A benchmark keeps every core busy itself, so the load average reaches about the core count on an idle
# machine; only load beyond that means other processes were competing.
CONTENTION_MARGIN = 0.5


def contention_notes(runs: list) -> list[str]:
    """One note per run whose load average exceeded the core count by more than CONTENTION_MARGIN."""
    notes = []
    for entry in runs:
        cores = entry["machine"]["cores"]
        if max(entry["load_start"], entry["load_end"]) > cores + CONTENTION_MARGIN:
            notes.append(
                f"Contention in the run of {entry['started']}: the load average ({entry['load_start']} at start, "
                f"{entry['load_end']} at end) exceeded the {cores} cores, so other processes were "
                "competing for the CPU and absolute rates are lower than on an idle machine; ratios measured side by "
                "side in the same run are much less affected."
            )
    return notes


def parse(argv=None):
    parser = argparse.ArgumentParser(description="Run the tgai benchmarks and write RESULTS.md and results.json.")
    parser.add_argument("--quick", action="store_true", help="smoke run: few steps and repeats (2-3 minutes)")
    parser.add_argument(
        "--tiny", action="store_true", help="the unit test's scale: seconds per benchmark, numbers meaningless"
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help=f"run only these: {', '.join(BENCHMARKS)}")
    parser.add_argument(
        "--update-readme",
        action="store_true",
        help="only rewrite README.md's Performance section from benchmarks/results.json",
    )
    parser.add_argument(
        "--output",
        type=pathlib.Path,
        help="folder for RESULTS.md and results.json (default: benchmarks/, or build/benchmarks-quick/ with "
        "--quick/--tiny)",
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    arguments = parse(argv)
    if arguments.update_readme:
        folder = arguments.output or ROOT / "benchmarks"
        results = json.loads((folder / "results.json").read_text())
        # RESULTS.md is re-rendered too, so that both say the same with the current wording.
        results["descriptions"] = {
            name: _module_summary(name) for name in BENCHMARKS if name in results.get("descriptions", {})
        }
        results["notes"] = contention_notes(results.get("runs", []))
        common.write_results(results, folder)
        common.update_readme(results, ROOT / "README.md")
        print("README.md: Performance section rewritten from results.json (RESULTS.md re-rendered)")
        return 0
    scale = common.SCALES["tiny" if arguments.tiny else "quick" if arguments.quick else "full"]
    output = arguments.output or (ROOT / "benchmarks" if scale.name == "full" else ROOT / "build" / "benchmarks-quick")
    names = select(arguments.only)

    import tgai

    tgai.setup(seed=0)
    profile = tgai.profile().name
    context = common.environment()
    machine = common.machine_short(context["machine"])
    versions = common.versions_short(context["versions"])
    print(
        f"benchmarks: {', '.join(names)} | scale {scale.name} | profile {profile} | {machine} | {versions}", flush=True
    )

    def log(message):
        print(message, flush=True)

    started, start, load_start = common.now(), time.perf_counter(), common.load_average()
    previous_path = pathlib.Path(output) / "results.json"
    previous = json.loads(previous_path.read_text()) if previous_path.is_file() else {}
    rows, failed, timings, done = [], [], {}, []
    run = {}
    for name in names:
        before = common.load_average()
        print(f"[{time.strftime('%H:%M:%S')}] {name} ...", flush=True)
        cpu_before = os.times()
        with common.Stopwatch() as watch:
            try:
                new_rows = _run_one(name, scale, log)
            except Exception as error:  # noqa: BLE001 - one broken benchmark must not lose the others' rows.
                import traceback

                traceback.print_exc()
                failed.append(name)
                new_rows = [
                    common.row(
                        name,
                        "error",
                        f"{name} failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}",
                        "-",
                        [float("nan")],
                    )
                ]
        after = common.load_average()
        cpu_after = os.times()
        # CPU seconds (this process and its children, e.g. notebook kernels) barely depend on contention: with
        # the wall time they say how much of the wall time was waiting for a core.
        cpu = sum(cpu_after[index] - cpu_before[index] for index in range(4))
        for result in new_rows:
            result.update(
                load=result.pop("notebook_load", f"{before}->{after}"),
                machine=machine,
                versions=versions,
                run=started,
                scale=scale.name,
                profile=profile,
            )
        timings[name] = {"wall_seconds": round(watch.seconds, 1), "cpu_seconds": round(cpu, 1)}
        rows += new_rows
        done.append(name)
        print(f"[{time.strftime('%H:%M:%S')}] {name} done in {watch.seconds:.0f} s wall, {cpu:.0f} s CPU", flush=True)
        # Written after every benchmark, so that an interrupted run keeps what it measured; rows of benchmarks
        # this run has not (yet) measured are kept from the previous results, with their own run's details.
        run = {
            "started": started,
            "finished": common.now(),
            "seconds": time.perf_counter() - start,
            "scale": scale.name,
            "profile": profile,
            "benchmarks": list(done),
            "timings": timings,
            "load_start": load_start,
            "load_end": common.load_average(),
            **context,
        }
        json_path, markdown_path = common.write_results(_merge(previous, run, rows, done), output)
    if run:
        print(
            f"wrote {markdown_path.relative_to(ROOT) if markdown_path.is_relative_to(ROOT) else markdown_path} and "
            f"{json_path.name} in {run['seconds'] / 60:.1f} min",
            flush=True,
        )
    if failed:
        print(f"benchmarks that failed (see the rows marked 'failed'): {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
