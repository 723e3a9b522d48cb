"""Interrupted training resumes exactly; divergence stops at once and keeps the last good checkpoint
(issue 9, items 2 and 4).

The resume test is the real thing: a separate training process (tests/scripts/train_briefly.py) is killed
with SIGKILL part-way through a chunk, after its backup was written; a fresh process with the same
arguments resumes from the backup. Its final weights, optimizer state and step count must equal, bit for
bit, those of a run that was never interrupted.

Both harnesses run every model of the registry (tests/models.py).
"""

import signal

import keras
import numpy as np
import pytest
from models import MODELS as REGISTRY
from models import NAMES
from scripts import train_briefly

STEPS, CHUNK, HANG_AT = 6, 2, 3  # killed during the second chunk, one step after the first backup


def _assert_same_state(expected, actual):
    assert actual["iterations"] == expected["iterations"] == [STEPS] * len(expected["iterations"])
    assert expected["variables"].keys() == actual["variables"].keys()
    different = [
        name for name, value in expected["variables"].items() if not np.array_equal(value, actual["variables"][name])
    ]
    assert not different, f"{len(different)} variables differ after resuming, e.g. {different[:5]}"


MODELS = NAMES


@pytest.fixture(scope="module")
def started():
    """Start the reference and the to-be-killed runs of both models at once; they are independent."""
    return {
        model: (
            train_briefly.launch(model, seed=0, steps=STEPS, chunk=CHUNK, tag="plain"),
            train_briefly.launch(model, seed=0, steps=STEPS, chunk=CHUNK, tag="killed", hang_at=HANG_AT),
        )
        for model in MODELS
    }


@pytest.mark.integration
@pytest.mark.parametrize("model", MODELS)
def test_a_killed_run_resumes_to_the_uninterrupted_result(model, started):
    reference, killed = started[model]
    code = train_briefly.kill_when_hanging(killed)
    assert code == -signal.SIGKILL
    backup = train_briefly.paths(model, 0, STEPS, CHUNK, "killed")["backup"]
    assert (backup / "training_metadata.json").is_file(), "the killed run should have left its backup"

    resumed = train_briefly.finish(
        train_briefly.launch(model, seed=0, steps=STEPS, chunk=CHUNK, tag="resumed", backup_tag="killed")
    )
    expected = train_briefly.finish(reference)
    assert expected["start_chunk"] == 0
    assert resumed["start_chunk"] == HANG_AT // CHUNK, "the second process must resume, not start over"
    _assert_same_state(expected, resumed)
    assert not backup.exists(), "a completed run removes its backup"


# ---------------------------------------------------------------------------------------------- divergence


class Poison(keras.callbacks.Callback):
    """Turn one weight NaN just before step `step` (1-based): the loss of that step is non-finite."""

    def __init__(self, variable, step):
        super().__init__()
        self.variable, self.step, self.count = variable, step, 0

    def on_train_batch_begin(self, batch, logs=None):
        self.count += 1
        if self.count == self.step:
            self.variable.assign(np.full(self.variable.shape, np.nan, dtype=np.float32))


@pytest.fixture(scope="module")
def digits():
    from tgai import data

    return data.load("digits", "train", image_size=32, channels=1, limit=32)[0]


def _finite(weights) -> bool:
    return all(np.isfinite(np.asarray(weight)).all() for weight in weights)


@pytest.mark.parametrize("name", NAMES)
def test_a_non_finite_loss_stops_at_once_naming_the_causes_and_keeps_the_backup(name, tmp_path, digits):
    import tgai
    from tgai import training

    case = REGISTRY[name]
    tgai.setup(seed=0)
    model, _ = case.build("scratch", seed=0)
    backup = tmp_path / "backup"
    with pytest.raises(training.TrainingDivergedError) as caught:
        case.train(
            model,
            digits,
            steps=6,
            batch_size=8,
            seed=0,
            eval_every=2,
            callbacks=[Poison(case.poisoned_weight(model), 3)],
            backup_dir=backup,
        )
    message = str(caught.value)
    assert "step 3" in message and "last finite step was 2" in message, message
    for cause in case.causes:
        assert cause in message, f"{cause!r} missing from: {message}"
    steps = [int(optimizer.iterations.numpy()) for optimizer in model.optimizers]
    assert max(steps) <= 3, f"training must stop at the first non-finite loss; optimizer steps {steps}"
    assert training.completed_chunks(backup) == 1 and (backup / "latest.weights.h5").is_file(), (
        "the last good backup must be kept"
    )
    restored, _ = case.build("scratch", seed=0)
    restored.load_weights(backup / "latest.weights.h5")
    assert _finite(restored.weights), "the kept backup must be the last good (finite) state"
    assert [int(optimizer.iterations.numpy()) for optimizer in restored.optimizers] == [2] * len(restored.optimizers)
