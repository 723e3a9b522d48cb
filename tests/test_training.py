"""Tests for tgai.training: resumable fit, the divergence guard, periodic evaluation (lesson 03)."""

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import tgai
from tgai import gan, training

SHAPE = (16, 16, 1)


def small_gan(seed=0):
    tgai.setup(seed=seed)
    model = gan.GAN(gan.build_generator(SHAPE, 8, 16, seed=seed), gan.build_discriminator(SHAPE, 8, seed=seed), seed=seed)
    model.compile()
    return model


def images(count=16):
    return np.random.default_rng(0).uniform(0.0, 1.0, (count, *SHAPE)).astype(np.float32)


def weights(model):
    return [np.array(weight) for weight in model.weights]


class Interrupt(keras.callbacks.Callback):
    """Simulates a killed kernel: raises at the start of a chunk."""

    def __init__(self, chunk):
        super().__init__()
        self.chunk = chunk

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.chunk:
            raise KeyboardInterrupt


class Poison(keras.callbacks.Callback):
    """Writes NaN into a variable at the end of a given chunk or step."""

    def __init__(self, variable, chunk=None, step=None):
        super().__init__()
        self.variable, self.chunk, self.step, self._epoch = variable, chunk, step, 0

    def _poison(self):
        self.variable.assign(np.full(self.variable.shape, np.nan, np.float32))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.chunk:
            self._poison()

    def on_train_batch_end(self, batch, logs=None):
        if self.step is not None and self._epoch * self.params["steps"] + batch + 1 == self.step:
            self._poison()


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    uninterrupted = small_gan()
    training.fit(uninterrupted, images(), steps=6, batch_size=8, seed=0, chunk=2)

    interrupted = small_gan()
    with pytest.raises(KeyboardInterrupt):
        training.fit(interrupted, images(), steps=6, batch_size=8, seed=0, chunk=2, callbacks=[Interrupt(2)], backup_dir=tmp_path / "backup")
    assert training.completed_chunks(tmp_path / "backup") == 2
    resumed = small_gan()  # a fresh process would rebuild the model the same way
    history = training.fit(resumed, images(), steps=6, batch_size=8, seed=0, chunk=2, backup_dir=tmp_path / "backup")
    assert len(history.history["d_loss"]) == 1  # only the last chunk ran
    assert int(resumed.d_optimizer.iterations) == int(uninterrupted.d_optimizer.iterations) == 6
    for expected, actual in zip(weights(uninterrupted), weights(resumed), strict=True):
        assert np.array_equal(expected, actual)
    assert not (tmp_path / "backup").exists()  # deleted once training completed


def test_same_seed_same_weights_other_seed_differs():
    first, second, other = small_gan(0), small_gan(0), small_gan(1)
    for model, seed in ((first, 0), (second, 0), (other, 1)):
        training.fit(model, images(), steps=3, batch_size=8, seed=seed)
    assert all(np.array_equal(a, b) for a, b in zip(weights(first), weights(second), strict=True))
    assert not np.array_equal(weights(first)[0], weights(other)[0])


def test_nan_loss_stops_at_once_and_keeps_the_last_good_backup(tmp_path):
    model = small_gan()
    kernel = model.discriminator.get_layer("d_output_dense").kernel
    with pytest.raises(training.TrainingDivergedError, match=r"diverged at step 3: .*learning rate.*last finite step was 2"):
        training.fit(model, images(), steps=6, batch_size=8, chunk=2, callbacks=[Poison(kernel, chunk=0)], backup_dir=tmp_path)
    assert int(model.d_optimizer.iterations) == 3  # stopped at the first bad step, not at the end of the chunk
    assert training.completed_chunks(tmp_path) == 1
    assert json.loads((tmp_path / "training_metadata.json").read_text())["epoch"] == 1
    restored = small_gan()
    restored.load_weights(tmp_path / "latest.weights.h5")
    assert training.weights_are_finite(restored)


def test_non_finite_weights_are_never_backed_up(tmp_path):
    model = small_gan()
    # The EMA generator does not feed the losses, so only the weight check can catch this.
    variable = model.ema_generator.get_layer("g_output_conv").kernel
    with pytest.raises(training.TrainingDivergedError, match="Weights became NaN"):
        training.fit(model, images(), steps=6, batch_size=8, chunk=2, callbacks=[Poison(variable, step=4)], backup_dir=tmp_path)
    assert training.completed_chunks(tmp_path) == 1


def test_periodic_evaluation_and_snapshots_record_every_k_steps():
    model = small_gan()
    calls = []
    evaluation = training.PeriodicEvaluation(lambda m: calls.append(1) or {"value": float(len(calls))}, every=2)
    snapshots = gan.sample_snapshots(3, every=2)
    training.fit(model, images(), steps=4, batch_size=8, chunk=2, callbacks=[evaluation, snapshots])
    steps, values = evaluation.series("value")
    assert list(steps) == [0, 2, 4] and list(values) == [1.0, 2.0, 3.0]
    assert [step for step, _ in snapshots.snapshots] == [0, 2, 4]
    assert snapshots.snapshots[0][1].shape == (3, *SHAPE)
    assert not np.array_equal(snapshots.snapshots[0][1], snapshots.snapshots[-1][1])


def test_fit_errors_name_the_argument():
    model = small_gan()
    with pytest.raises(ValueError, match=r"training set \(4 images\) is smaller than batch_size=8"):
        training.fit(model, images(4), steps=2, batch_size=8)
    with pytest.raises(ValueError, match="steps=5 must be a multiple of chunk=2"):
        training.fit(model, images(), steps=5, batch_size=8, chunk=2)
    with pytest.raises(TypeError, match="evaluate"):
        training.PeriodicEvaluation("kid", every=2)


def test_corrupt_backup_metadata_is_reported(tmp_path):
    (tmp_path / "training_metadata.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupt"):
        training.completed_chunks(tmp_path)


@pytest.mark.slow
def test_gan_trains_under_mirrored_strategy_on_two_logical_cpus():
    script = textwrap.dedent(
        """
        import numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import tgai
        from tgai import gan, training
        tgai.setup(seed=0)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            model = gan.GAN(gan.build_generator((16, 16, 1), 8, 16), gan.build_discriminator((16, 16, 1), 8),
                            augment=gan.AUGMENT_OPERATIONS)
            model.compile()
        data = np.random.default_rng(0).uniform(0, 1, (32, 16, 16, 1)).astype(np.float32)
        history = training.fit(model, data, steps=4, batch_size=16, chunk=2)
        assert all(np.isfinite(v[-1]) for v in history.history.values()), history.history
        variable = model.generator.weights[0]
        copies = [np.asarray(v) for v in variable.values] if hasattr(variable, "values") else []
        copies = copies or [np.asarray(v) for v in strategy.experimental_local_results(variable.value)]
        assert len(copies) == 2 and np.array_equal(copies[0], copies[1])
        ema = model.ema_generator.weights[0]
        ema_copies = [np.asarray(v) for v in strategy.experimental_local_results(ema.value)]
        assert np.array_equal(ema_copies[0], ema_copies[1])
        assert int(strategy.experimental_local_results(model.d_optimizer.iterations.value)[0]) == 4
        print("replicas", strategy.num_replicas_in_sync, "ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "replicas 2 ok" in result.stdout
