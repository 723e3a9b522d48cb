"""Train a tiny GAN or VAE for a few steps in a fresh process, for the resume and determinism tests.

Run as a script (the child):

    python tests/scripts/train_briefly.py {gan,vae} OUT.npz --seed 0 --steps 6 --chunk 2 \
        [--backup DIR] [--hang-at STEP --marker FILE]

MODEL is a key of the registry in tests/models.py. The run fine-tunes through the public API (the entry's
`fine_tune`, e.g. `tgai.models.gan.make("freeze_d", ...)`, then the module's `train`) on 64 target digits, then
writes every model and optimizer variable, the optimizers' step counters and the chunk the run started from
to OUT.npz. `--hang-at STEP` makes the run stop moving
after STEP steps (after writing `--marker`), so that the parent can kill it at a known point part-way
through a chunk, after a backup has been written.

Imported (the parent), it offers `launch` / `finish` / `kill_when_hanging`, memoised by arguments so that
the resume and determinism tests share the reference run within one pytest session.
"""

from __future__ import annotations

import argparse
import atexit
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPOSITORY = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY / "tests"))  # the model registry, when run as a script

import models  # noqa: E402

TARGET_IMAGES = 64
BATCH_SIZE = 16


# ----------------------------------------------------------------------------------------------- child


def _variables(model):
    """Every variable that decides the future of a run: weights, seed states, and optimizer slots."""
    optimizers = model.optimizers  # the tgai.models.transfer protocol: every model lists its optimizers
    arrays = {f"weight/{index:03d}/{variable.path}": variable.numpy() for index, variable in enumerate(model.weights)}
    for number, optimizer in enumerate(optimizers):
        for index, variable in enumerate(optimizer.variables):
            arrays[f"optimizer{number}/{index:03d}/{variable.path}"] = variable.numpy()
    iterations = [int(optimizer.iterations.numpy()) for optimizer in optimizers]
    return arrays, iterations


def _child(arguments) -> None:
    # tgai before keras: it sets TF_ENABLE_ONEDNN_OPTS=0 (and quietens the logs) before TensorFlow loads.
    # Imported after keras, oneDNN would be on or off depending on whether the parent process had imported
    # tgai when it launched this run, and two same-seed runs launched before and after would differ.
    import tgai  # noqa: I001 - must come first
    import keras
    import numpy as np

    from tgai import data, training

    tgai.setup(seed=arguments.seed)
    images, _ = data.load("digits", "train", image_size=32, channels=1, limit=TARGET_IMAGES)

    class Hang(keras.callbacks.Callback):
        """Stop moving after `step` steps, as a process stuck or about to be killed would."""

        def __init__(self, step):
            super().__init__()
            self.hang_at, self.count = step, 0

        def on_train_batch_end(self, batch, logs=None):
            self.count += 1
            if self.count == self.hang_at:
                pathlib.Path(arguments.marker).write_text(str(self.count))
                time.sleep(3600)

    callbacks = [Hang(arguments.hang_at)] if arguments.hang_at else []
    backup = arguments.backup
    # Chunks a backup records as done (Keras BackupAndRestore metadata): where this run will start.
    start_chunk = training.completed_chunks(backup) if backup else 0
    case = models.MODELS[arguments.model]
    model, _ = case.build_fine_tune(seed=arguments.seed)
    case.train(
        model,
        images,
        arguments.steps,
        BATCH_SIZE,
        seed=arguments.seed,
        eval_every=arguments.chunk,
        callbacks=callbacks,
        backup_dir=backup,
    )
    arrays, iterations = _variables(model)
    np.savez(arguments.out, iterations=np.asarray(iterations), start_chunk=np.asarray(start_chunk), **arrays)


# ---------------------------------------------------------------------------------------------- parent

_SCRATCH: list[pathlib.Path] = []
_PROCESSES: dict[tuple, subprocess.Popen] = {}
_RESULTS: dict[tuple, dict] = {}


def environment(home) -> dict:
    # TGAI_XLA=auto, whatever the unit tests set (tests/conftest.py): determinism and resume are checked as the
    # lessons train, with XLA.
    return {
        **os.environ,
        "TGAI_OFFLINE": "1",
        "TGAI_PROFILE": "class",
        "TGAI_HOME": str(home),
        "TGAI_XLA": "auto",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")])),
    }


def _key(model, seed, steps, chunk, tag):
    return (model, seed, steps, chunk, tag)


def _scratch() -> pathlib.Path:
    """One scratch folder per parent process, removed when it exits."""
    if not _SCRATCH:
        _SCRATCH.append(pathlib.Path(tempfile.mkdtemp(prefix="tgai-runs-")))
        atexit.register(shutil.rmtree, _SCRATCH[0], True)
    return _SCRATCH[0]


def paths(model, seed, steps, chunk, tag) -> dict:
    name = f"{model}-seed{seed}-steps{steps}-chunk{chunk}-{tag}"
    scratch = _scratch()
    return {
        "out": scratch / f"{name}.npz",
        "backup": scratch / f"{name}-backup",
        "marker": scratch / f"{name}.hanging",
        "home": scratch / "home",
        "log": scratch / f"{name}.log",
    }


def launch(model, seed=0, steps=6, chunk=2, tag="plain", hang_at=None, backup_tag=None):
    """Start a child run unless one with the same arguments ran already; return its key.

    `backup_tag` lets a run use the backup folder of another tag (the resume after a kill).
    """
    key = _key(model, seed, steps, chunk, tag)
    if key in _PROCESSES or key in _RESULTS:
        return key
    where = paths(model, seed, steps, chunk, tag)
    backup = paths(model, seed, steps, chunk, backup_tag or tag)["backup"]
    command = [sys.executable, str(pathlib.Path(__file__).resolve()), model, str(where["out"]), "--seed", str(seed)]
    command += ["--steps", str(steps), "--chunk", str(chunk), "--backup", str(backup)]
    if hang_at:
        command += ["--hang-at", str(hang_at), "--marker", str(where["marker"])]
    log = open(where["log"], "w")  # closed by finish or kill_when_hanging
    process = subprocess.Popen(
        command, cwd=REPOSITORY, env=environment(where["home"]), stdout=log, stderr=subprocess.STDOUT
    )
    process.log = log
    _PROCESSES[key] = process
    return key


def _log_tail(key) -> str:
    return paths(*key)["log"].read_text()[-3000:]


def finish(key, timeout=600) -> dict:
    """Wait for a child run and return its variables: {'iterations', 'start_chunk', 'variables': {...}}."""
    import numpy as np

    if key in _RESULTS:
        return _RESULTS[key]
    process = _PROCESSES.pop(key)
    code = process.wait(timeout=timeout)
    process.log.close()
    if code != 0:
        raise AssertionError(f"training run {key} exited with {code}:\n{_log_tail(key)}")
    with np.load(paths(*key)["out"], allow_pickle=False) as stored:
        result = {
            "iterations": stored["iterations"].tolist(),
            "start_chunk": int(stored["start_chunk"]),
            "variables": {name: stored[name] for name in stored.files if name not in ("iterations", "start_chunk")},
        }
    _RESULTS[key] = result
    return result


def kill_when_hanging(key, timeout=600) -> int:
    """Wait until the child reports it is hanging, SIGKILL it, and return its exit code."""
    process = _PROCESSES.pop(key)
    marker = paths(*key)["marker"]
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if process.poll() is not None:
            process.log.close()
            raise AssertionError(
                f"training run {key} ended (exit {process.returncode}) before hanging:\n{_log_tail(key)}"
            )
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"training run {key} did not reach its hang point in {timeout} s")
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    code = process.wait(timeout=60)
    process.log.close()
    return code


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=models.NAMES)
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--chunk", type=int, default=2)
    parser.add_argument("--backup", default=None)
    parser.add_argument("--hang-at", type=int, default=None)
    parser.add_argument("--marker", default=None)
    _child(parser.parse_args(argv))


if __name__ == "__main__":
    main()
