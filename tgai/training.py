"""Training helpers shared by the generative lessons: resumable `fit`, a divergence guard, periodic evaluation.

Introduced in lesson 03 (GAN fine-tuning); lesson 04 (VAE adaptation) reuses them.

Every model in the kit trains with `model.fit` on a `tf.data` pipeline, in chunks of `steps_per_epoch`
steps (an "epoch" here is a chunk, not a pass over the data). The callbacks here act between steps:

* `NaNGuard` stops training at the first non-finite loss, with a message naming the likely cause.
* `ResumableBackup` is `keras.callbacks.BackupAndRestore` that refuses to overwrite the last good backup
  with non-finite weights.
* `PeriodicEvaluation` runs a metric (e.g. KID on held-out data) every K steps and keeps the history.
* `SampleSnapshots` keeps images from fixed inputs (e.g. fixed latents) every K steps, in memory.

`fit(...)` ties them together so that a killed process, restarted with the same arguments, resumes from
the last chunk and ends with the same weights and step count as a run that was never interrupted.

Usage notes:
    * Exact resumption needs everything random inside `train_step` to derive from a seed and the step
      counter (see `tgai.models.gan.GAN`), and the data order to depend only on the seed: `fit` rebuilds the
      shuffled stream and skips the batches already trained on.
    * Under `tf.distribute.MirroredStrategy`, build and compile the model inside `strategy.scope()`, then
      call `fit` as usual; the batch size is the global batch, split across replicas.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import sys

import keras
import numpy as np

from tgai import data
from tgai.core import config, validation


class TrainingDivergedError(RuntimeError):
    """Training produced a non-finite loss or non-finite weights; the last good backup is kept."""


DEFAULT_DIVERGENCE_HINT = "Lower the learning rate, check that the inputs are finite and in [0, 1], or clip gradients."


def divergence_hint(model) -> str:
    """The model's `divergence_hint` (a str property on every tgai model), or the generic hint."""
    hint = getattr(model, "divergence_hint", None)
    if hint is not None and not isinstance(hint, str):
        raise TypeError(
            f"divergence_hint must be a str (a property); received {validation.describe(hint)} on "
            f"{type(model).__name__}."
        )
    return hint or DEFAULT_DIVERGENCE_HINT


def _is_finite_log(value) -> bool:
    try:
        return bool(np.all(np.isfinite(np.asarray(value, dtype=np.float64))))
    except (TypeError, ValueError):
        return True  # Not a number (e.g. a string); nothing to check.


class StepCallback(keras.callbacks.Callback):
    """A Keras callback that knows the global training step, across chunks and after a resume.

    `fit` trains in chunks, one Keras epoch each, and a resumed `fit` numbers its epochs from where the backup
    left off (`BackupAndRestore` sets the initial epoch), so the step after batch `b` of epoch `e` is
    `e * steps_per_epoch + b + 1` in every case. Subclasses override `on_start(step)`, called once before the
    first step a `fit` trains (0 for a fresh run), and `on_step(step, logs)`, called after every step.
    """

    def __init__(self):
        super().__init__()
        self._epoch = None

    def on_train_begin(self, logs=None):
        self._epoch = None  # the first epoch of this `fit` tells the step it starts from

    def global_step(self, batch: int) -> int:
        """Steps completed after `batch` (0-based) of the current epoch."""
        return self._epoch * (self.params.get("steps") or 1) + batch + 1

    def on_epoch_begin(self, epoch, logs=None):
        first = self._epoch is None
        self._epoch = epoch
        if first:
            self.on_start(self.global_step(-1))

    def on_train_batch_end(self, batch, logs=None):
        self.on_step(self.global_step(batch), logs or {})

    def on_start(self, step: int) -> None:
        """Called once, before the first step of a `fit`, with the steps already done (0 unless resumed)."""

    def on_step(self, step: int, logs: dict) -> None:
        """Called after every step with the global step and the step's logs."""


class ProgressBar(StepCallback):
    """A progress bar of training steps on stderr (`tqdm.auto`: a widget in JupyterLab, text elsewhere).

    Introduced in lesson 03, where each run trains for tens of seconds. It writes to stderr, which nbval
    never compares, and `tgai.core.config.show_progress` turns it off for committed outputs (`TGAI_PROGRESS=0`).
    The bar closes when training ends, so that a finished run leaves no trace in the notebook.
    """

    def __init__(self, total: int, description: str = "training"):
        super().__init__()
        self.total, self.description = int(total), str(description)
        self._bar = None

    def on_start(self, step):
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=self.total,
            initial=step,
            desc=self.description,
            unit="step",
            leave=False,
            file=sys.stderr,
            mininterval=0.5,
        )

    def on_step(self, step, logs):
        self._bar.update(max(0, min(step, self.total) - self._bar.n))

    def on_train_end(self, logs=None):
        if self._bar is not None:
            self._bar.close()


class NaNGuard(StepCallback):
    """Stop training at once when a logged loss or metric is NaN or infinite.

    Introduced in lesson 03. The check runs after every step. It raises `TrainingDivergedError` rather than
    merely setting `stop_training`, so that `fit` does not reach `on_train_end`, where
    `BackupAndRestore` would delete the backup: the last good checkpoint stays on disk.

    The message names the step, the offending values, and the model's `divergence_hint` (a str property;
    a GAN names its learning rates, the data range and the D/G balance).
    """

    def __init__(self):
        super().__init__()
        self.last_good_step = 0

    def on_start(self, step):
        self.last_good_step = step

    def on_step(self, step, logs):
        bad = {name: value for name, value in logs.items() if not _is_finite_log(value)}
        if not bad:
            self.last_good_step = step
            return
        self.model.stop_training = True
        hint = divergence_hint(self.model)
        values = ", ".join(f"{name}={float(np.asarray(value)):.4g}" for name, value in sorted(bad.items()))
        raise TrainingDivergedError(
            f"Training diverged at step {step}: {values}. Likely cause: {hint} "
            f"The last finite step was {self.last_good_step}; the last good backup (if any) is kept."
        )


def weights_are_finite(model) -> bool:
    """True when every variable of `model` (optimizer state excluded) is finite."""
    return all(bool(np.all(np.isfinite(np.asarray(weight)))) for weight in model.weights if weight.dtype != "string")


class ResumableBackup(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` that never overwrites a good backup with non-finite weights.

    Introduced in lesson 03. It saves weights (the model's, its optimizers' state included) and the number of
    finished chunks at the end of every chunk. A new `fit` with the same `backup_dir` restores both; `fit`
    below also skips the batches already seen, so the data order matches an uninterrupted run. Non-finite
    weights raise `TrainingDivergedError` instead of being saved.
    """

    def on_epoch_end(self, epoch, logs=None):
        if not weights_are_finite(self.model):
            self.model.stop_training = True
            raise TrainingDivergedError(
                f"Weights became NaN or infinite during chunk {epoch + 1}; the backup from the previous chunk is "
                f"kept in {self.backup_dir}. Likely cause: {divergence_hint(self.model)}"
            )
        super().on_epoch_end(epoch, logs)


def completed_chunks(backup_dir) -> int:
    """Return how many chunks a backup directory records as finished (0 if there is no backup)."""
    metadata = pathlib.Path(backup_dir) / "training_metadata.json"
    if not metadata.is_file():
        return 0
    try:
        return int(json.loads(metadata.read_text())["epoch"])
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"The backup in backup_dir={str(backup_dir)!r} is corrupt ({error}). Delete the folder to start over."
        ) from error


class PeriodicEvaluation(StepCallback):
    """Evaluate the model every `every` steps (and before the first step) and keep the history.

    Introduced in lesson 03, where it computes KID on held-out target images in the judge feature space;
    lesson 04 passes `tgai.models.vae.heldout_evaluation` for held-out -ELBO curves.

    Args:
        evaluate: `function(model) -> dict of floats`, e.g. `{"kid": ...}`.
        every: Evaluate after every `every` training steps.
        at_start: Also evaluate before training (step 0), to show the starting point; a resumed run does
            not repeat it.

    Attributes:
        history: list of `(step, {name: value})`, in step order.
    """

    def __init__(self, evaluate, every: int, at_start: bool = True):
        super().__init__()
        if not callable(evaluate):
            raise TypeError(f"evaluate must be a function model -> dict; received {validation.describe(evaluate)}.")
        self.evaluate = evaluate
        self.every = validation.positive_int(every, "every")
        self.at_start = at_start
        self.history: list[tuple[int, dict]] = []

    def _record(self, step: int):
        if self.history and self.history[-1][0] == step:
            return
        self.history.append((step, {name: float(value) for name, value in self.evaluate(self.model).items()}))

    def on_start(self, step):
        if self.at_start and step == 0:
            self._record(0)

    def on_step(self, step, logs):
        if step % self.every == 0:
            self._record(step)

    def series(self, name: str):
        """Return `(steps, values)` arrays for one evaluated quantity."""
        steps = np.asarray([step for step, _ in self.history])
        return steps, np.asarray([values[name] for _, values in self.history])


class SampleSnapshots(StepCallback):
    """Keep `sample(model)` images every `every` steps (and at step 0), in memory, for a timeline figure.

    Introduced in lesson 03: with fixed latents it shows how one set of samples changes during training.

    Attributes:
        snapshots: list of `(step, images)`, images float32 NHWC in [0, 1].
    """

    def __init__(self, sample, every: int, at_start: bool = True):
        super().__init__()
        if not callable(sample):
            raise TypeError(f"sample must be a function model -> images; received {validation.describe(sample)}.")
        self.sample = sample
        self.every = validation.positive_int(every, "every")
        self.at_start = at_start
        self.snapshots: list[tuple[int, np.ndarray]] = []

    def on_start(self, step):
        if self.at_start and step == 0:
            self.snapshots.append((0, np.asarray(self.sample(self.model))))

    def on_step(self, step, logs):
        if step % self.every == 0:
            self.snapshots.append((step, np.asarray(self.sample(self.model))))


ENV_XLA = "TGAI_XLA"


def xla_allowed() -> bool:
    """False when `TGAI_XLA` is set to a false value (`0`, `false`, `no`, `off`): `"auto"` then means no XLA.

    The unit tests set `TGAI_XLA=0` (tests/conftest.py): compiling a step with XLA costs seconds per model and a
    unit test builds about a hundred of them, while what they check does not depend on XLA. Tests whose subject is
    XLA pass `jit_compile=True`, or unset it (the determinism and resume harnesses). Lessons never set it.

    Raises:
        ValueError: if `TGAI_XLA` holds anything else than a true or false word.
    """
    value = os.environ.get(ENV_XLA, "").strip().lower()
    if value in {"", "1", "true", "yes", "on", "auto"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(
        f"{ENV_XLA} must be 0 or 1; received {ENV_XLA}={value!r}. Unset it to let tgai choose (XLA on a CPU)."
    )


def resolve_jit_compile(model, jit_compile) -> bool:
    """Decide whether `model.train_step` compiles with XLA: `True`, `False`, or `"auto"` (XLA on a CPU).

    `"auto"` means XLA on a CPU without `tf.distribute` replicas, where it is deterministic and faster
    (`make bench`: about 2x for the GAN's step), unless `TGAI_XLA=0` turns it off (see `xla_allowed`). The
    models compile with `jit_compile=False`, then set this result with
    `tgai.core.keras_internals.force_jit_compile`, past Keras' refusal of XLA under op determinism.
    `tests/test_determinism.py` checks that reruns stay bit-identical with it.

    Raises:
        ValueError: if `jit_compile` is not True, False or "auto".
    """
    if jit_compile not in (True, False, "auto") or isinstance(jit_compile, int) and not isinstance(jit_compile, bool):
        raise ValueError(f"jit_compile must be True, False or 'auto'; received jit_compile={jit_compile!r}.")
    if jit_compile == "auto":
        import tensorflow as tf

        single_cpu = model.distribute_strategy.num_replicas_in_sync == 1 and not tf.config.list_logical_devices("GPU")
        return single_cpu and xla_allowed()
    return bool(jit_compile)


def fit(
    model,
    images,
    steps: int,
    batch_size: int,
    seed: int = 0,
    chunk: int | None = None,
    callbacks=(),
    backup_dir=None,
    description: str = "training",
):
    """Train `model` with `model.fit` for `steps` steps on shuffled batches of `images`, resumably.

    Introduced in lesson 03. The data stream depends only on `seed`; training runs in chunks of `chunk`
    steps. With `backup_dir`, the state is backed up after every chunk, and a call with the same arguments
    after an interruption resumes from the last finished chunk (skipping the batches already seen), ending
    with the same weights and step count as an uninterrupted run. The backup folder is deleted when training
    completes, and kept when training stops on divergence.

    Args:
        model: A compiled Keras model whose `train_step` takes a batch of images.
        images: float32 NHWC training images in [0, 1].
        steps: Total training steps (a multiple of `chunk`).
        batch_size: Global batch size; at most the number of images.
        seed: Seeds the shuffling.
        chunk: Steps per `fit` epoch (default: all steps in one chunk); backups happen between chunks.
        callbacks: Extra Keras callbacks (e.g. `PeriodicEvaluation`).
        backup_dir: Folder for `ResumableBackup`, or None for no backups.
        description: Label of the progress bar shown on stderr (see `tgai.core.config.show_progress`).

    Returns:
        The Keras `History`.

    Raises:
        ValueError: for a training set smaller than the batch size, or steps not a multiple of chunk.
        TrainingDivergedError: when a loss or the weights become non-finite.
    """
    images = validation.model_images(model, images) if hasattr(model, "image_shape") else validation.images(images)
    steps = validation.positive_int(steps, "steps")
    batch_size = validation.positive_int(batch_size, "batch_size")
    validation.positive_int(seed, "seed", minimum=0)
    chunk = steps if chunk is None else validation.positive_int(chunk, "chunk")
    if len(images) < batch_size:
        raise ValueError(
            f"The training set ({len(images)} images) is smaller than batch_size={batch_size}. "
            f"Use batch_size <= {len(images)}, or more images."
        )
    if steps % chunk:
        raise ValueError(
            f"steps={steps} must be a multiple of chunk={chunk}. Use e.g. steps={math.ceil(steps / chunk) * chunk}."
        )
    done = completed_chunks(backup_dir) if backup_dir is not None else 0
    dataset = data.to_dataset(images, batch_size, seed=seed, repeat=True)
    if done:
        # The shuffled stream is a function of the seed alone, so skipping the batches already trained on
        # puts a resumed run exactly where the interrupted one stopped.
        dataset = dataset.skip(done * chunk)
    guard = NaNGuard()
    all_callbacks = [guard, *callbacks]
    if backup_dir is not None:
        all_callbacks.insert(1, ResumableBackup(str(backup_dir)))
    if config.show_progress():
        all_callbacks.append(ProgressBar(steps, description))
    return model.fit(
        dataset, epochs=steps // chunk, steps_per_epoch=chunk, callbacks=all_callbacks, verbose=0, shuffle=False
    )
