"""Interrupted training resumes exactly; divergence stops at once and keeps the last good checkpoint
(issue 9, items 2 and 4).

The resume test is the real thing: a separate training process (tests/scripts/train_briefly.py) is killed
with SIGKILL part-way through a chunk, after its backup was written; a fresh process with the same
arguments resumes from the backup. Its final weights, optimizer state and step count must equal, bit for
bit, those of a run that was never interrupted.
"""

import signal

import keras
import numpy as np
import pytest
from scripts import train_briefly

STEPS, CHUNK, HANG_AT = 6, 2, 3  # killed during the second chunk, one step after the first backup


def _assert_same_state(expected, actual):
    assert actual["iterations"] == expected["iterations"] == [STEPS] * len(expected["iterations"])
    assert expected["variables"].keys() == actual["variables"].keys()
    different = [name for name, value in expected["variables"].items() if not np.array_equal(value, actual["variables"][name])]
    assert not different, f"{len(different)} variables differ after resuming, e.g. {different[:5]}"


MODELS = ("vae", "gan")


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


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_a_killed_run_resumes_to_the_uninterrupted_result(model, started):
    reference, killed = started[model]
    code = train_briefly.kill_when_hanging(killed)
    assert code == -signal.SIGKILL
    backup = train_briefly.paths(model, 0, STEPS, CHUNK, "killed")["backup"]
    assert (backup / "training_metadata.json").is_file(), "the killed run should have left its backup"

    resumed = train_briefly.finish(train_briefly.launch(model, seed=0, steps=STEPS, chunk=CHUNK, tag="resumed", backup_tag="killed"))
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


@pytest.mark.slow
def test_a_gan_with_non_finite_loss_stops_at_once_naming_the_causes(tmp_path, digits):
    import tgai
    from tgai import gan, training

    tgai.setup(seed=0)
    model, _ = gan.make_gan("scratch", seed=0)
    backup = tmp_path / "backup"
    kernel = model.discriminator.trainable_weights[0]
    with pytest.raises(training.TrainingDivergedError) as caught:
        gan.train(model, digits, steps=6, batch_size=8, seed=0, eval_every=2, callbacks=[Poison(kernel, 3)], backup_dir=backup)
    message = str(caught.value)
    assert "step 3" in message and "last finite step was 2" in message
    for cause in ("learning rate", "[0, 1]", "D/G balance"):
        assert cause in message, f"{cause!r} missing from: {message}"
    assert int(model.d_optimizer.iterations.numpy()) <= 3, "training must stop at the first non-finite loss"
    assert training.completed_chunks(backup) == 1 and (backup / "latest.weights.h5").is_file()
    restored, _ = gan.make_gan("scratch", seed=0)
    restored.load_weights(backup / "latest.weights.h5")
    assert _finite(restored.weights), "the kept backup must be the last good (finite) state"
    assert int(restored.d_optimizer.iterations.numpy()) == 2


@pytest.mark.slow
def test_a_vae_with_non_finite_loss_stops_at_once_and_keeps_the_backup(tmp_path, digits):
    import tgai
    from tgai import training, vae

    tgai.setup(seed=0)
    model = vae.compile_model(vae.build(latent_dim=4, seed=0))
    backup = tmp_path / "backup"
    kernel = model.decoder.trainable_weights[0]
    with pytest.raises(training.TrainingDivergedError) as caught:
        vae.train(model, digits, steps=6, batch_size=8, seed=0, eval_every=2, backup_dir=backup, callbacks=[Poison(kernel, 3)])
    message = str(caught.value)
    assert "step 3" in message and "last finite step was 2" in message, message
    assert "[0, 1]" in message and "learning rate" in message, message
    assert int(model.optimizer.iterations.numpy()) <= 3, "training must stop at the first non-finite loss"
    assert training.completed_chunks(backup) == 1 and (backup / "latest.weights.h5").is_file(), "the last good backup must be kept"
    restored = vae.compile_model(vae.build(latent_dim=4, seed=0))
    restored.load_weights(backup / "latest.weights.h5")
    assert _finite(restored.weights)
    assert int(restored.optimizer.iterations.numpy()) == 2
