"""Tests for tgai.training: resumable fit, the divergence guard, periodic evaluation (lesson 03)."""

import json

import keras
import numpy as np
import pytest

import tgai
from tgai import training
from tgai.models import gan

SHAPE = (16, 16, 1)


def small_gan(seed=0):
    tgai.setup(seed=seed)
    model = gan.GAN.from_config(dict(seed=seed, image_shape=SHAPE, latent_dim=8, widths=(16, 8)))
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
        training.fit(
            interrupted,
            images(),
            steps=6,
            batch_size=8,
            seed=0,
            chunk=2,
            callbacks=[Interrupt(2)],
            backup_dir=tmp_path / "backup",
        )
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
    with pytest.raises(
        training.TrainingDivergedError, match=r"diverged at step 3: .*learning rate.*last finite step was 2"
    ):
        training.fit(
            model, images(), steps=6, batch_size=8, chunk=2, callbacks=[Poison(kernel, chunk=0)], backup_dir=tmp_path
        )
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
        training.fit(
            model, images(), steps=6, batch_size=8, chunk=2, callbacks=[Poison(variable, step=4)], backup_dir=tmp_path
        )
    assert training.completed_chunks(tmp_path) == 1


def test_periodic_evaluation_and_snapshots_record_every_k_steps():
    model = small_gan()
    calls = []
    evaluation = training.PeriodicEvaluation(lambda m: calls.append(1) or {"value": float(len(calls))}, every=2)
    codes = gan.latents(3, 0, model.latent_dim)
    snapshots = training.SampleSnapshots(lambda trained: gan.generate(trained.ema_generator, codes), every=2)
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


def test_fit_refuses_images_of_another_shape_than_the_model():
    model = small_gan()
    with pytest.raises(
        ValueError,
        match=r"images must have shape \(N, 16, 16, 1\) for this GAN; received .*\(16, 32, 32, "
        r"1\).*tgai\.data\.resize\(images, 16\)",
    ):
        training.fit(model, np.zeros((16, 32, 32, 1), np.float32), steps=2, batch_size=8)
    with pytest.raises(ValueError, match=r"\(16, 16, 16, 3\).*tgai\.data\.to_channels\(images, 1\)"):
        training.fit(model, np.zeros((16, 16, 16, 3), np.float32), steps=2, batch_size=8)


# --------------------------------------------------------------------------------------- divergence hints


class MethodHintModel(keras.Model):
    """The old bug: `divergence_hint` written as a method, so the message would quote `<bound method ...>`."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(1)

    def call(self, inputs):
        return self.dense(inputs)

    def divergence_hint(self):
        return "never quoted"


class PropertyHintModel(MethodHintModel):
    divergence_hint = property(lambda self: "lower the toy learning rate")


def _nan_regression(model):
    model.compile(optimizer="sgd", loss="mse")
    features = np.ones((8, 2), np.float32)
    model.fit(features, features[:, :1], epochs=1, batch_size=8, verbose=0)
    model.dense.kernel.assign(np.full(model.dense.kernel.shape, np.nan, np.float32))
    return lambda: model.fit(
        features, features[:, :1], epochs=1, batch_size=8, verbose=0, callbacks=[training.NaNGuard()]
    )


def test_a_divergence_hint_that_is_a_method_is_refused_not_quoted():
    with pytest.raises(
        TypeError, match=r"divergence_hint must be a str \(a property\); received .*MethodHintModel"
    ) as caught:
        training.divergence_hint(MethodHintModel())
    assert "Likely cause" not in str(caught.value)
    fit = _nan_regression(MethodHintModel())
    with pytest.raises(TypeError, match="divergence_hint must be a str"):
        fit()


def test_the_hint_property_and_the_default_are_quoted():
    assert training.divergence_hint(PropertyHintModel()) == "lower the toy learning rate"
    assert training.divergence_hint(keras.Sequential([keras.layers.Dense(1)])) == training.DEFAULT_DIVERGENCE_HINT
    with pytest.raises(training.TrainingDivergedError) as caught:
        _nan_regression(PropertyHintModel())()
    assert "Likely cause: lower the toy learning rate" in str(caught.value)
    assert "<bound method" not in str(caught.value)


def test_nan_guard_and_resumable_backup_both_quote_the_gans_hint(tmp_path):
    model = small_gan()
    hint = model.divergence_hint
    assert isinstance(hint, str) and "learning rate too high (D 0.0002, G 0.0002)" in hint and "D/G balance" in hint
    kernel = model.discriminator.get_layer("d_output_dense").kernel
    with pytest.raises(training.TrainingDivergedError) as caught:
        training.fit(
            model,
            images(),
            steps=4,
            batch_size=8,
            chunk=2,
            callbacks=[Poison(kernel, step=1)],
            backup_dir=tmp_path / "guard",
        )
    assert f"Likely cause: {hint}" in str(caught.value) and "<bound method" not in str(caught.value)
    model = small_gan()
    variable = model.ema_generator.get_layer("g_output_conv").kernel  # only the weight check sees it
    with pytest.raises(training.TrainingDivergedError, match="Weights became NaN") as caught:
        training.fit(
            model,
            images(),
            steps=4,
            batch_size=8,
            chunk=2,
            callbacks=[Poison(variable, step=1)],
            backup_dir=tmp_path / "backup",
        )
    assert f"Likely cause: {hint}" in str(caught.value) and "<bound method" not in str(caught.value)


def test_long_training_shows_a_progress_bar_unless_turned_off(capfd, monkeypatch):
    # A learner's session shows a bar of steps on stderr; TGAI_PROGRESS=0 (make notebooks, make test) shows none.
    monkeypatch.delenv("TGAI_PROGRESS", raising=False)
    training.fit(small_gan(), images(), steps=4, batch_size=8, seed=0, chunk=2, description="fine-tune, seed 0")
    shown = capfd.readouterr().err
    assert "fine-tune, seed 0" in shown and "/4 [" in shown, shown
    monkeypatch.setenv("TGAI_PROGRESS", "0")
    training.fit(small_gan(), images(), steps=4, batch_size=8, seed=0, chunk=2, description="fine-tune, seed 0")
    assert "fine-tune" not in capfd.readouterr().err


def test_a_resumed_run_continues_the_bar_where_it_stopped(tmp_path, capfd, monkeypatch):
    monkeypatch.delenv("TGAI_PROGRESS", raising=False)
    with pytest.raises(KeyboardInterrupt):
        training.fit(
            small_gan(),
            images(),
            steps=6,
            batch_size=8,
            seed=0,
            chunk=2,
            callbacks=[Interrupt(2)],
            backup_dir=tmp_path / "backup",
        )
    capfd.readouterr()
    training.fit(small_gan(), images(), steps=6, batch_size=8, seed=0, chunk=2, backup_dir=tmp_path / "backup")
    shown = capfd.readouterr().err
    # Interrupted at the start of chunk 2, the run had finished 2 chunks of 2 steps: the bar resumes at 4 of 6.
    assert "4/6 [" in shown and "0/6 [" not in shown, shown


@pytest.mark.parametrize(("value", "allowed"), [("", True), ("1", True), ("auto", True), ("0", False), ("off", False)])
def test_tgai_xla_turns_auto_off_only_with_a_false_word(monkeypatch, value, allowed):
    monkeypatch.setenv(training.ENV_XLA, value)
    assert training.xla_allowed() is allowed


def test_a_bad_tgai_xla_is_named_with_the_fix(monkeypatch):
    monkeypatch.setenv(training.ENV_XLA, "maybe")
    with pytest.raises(ValueError, match=r"TGAI_XLA must be 0 or 1; received TGAI_XLA='maybe'\. Unset it"):
        training.xla_allowed()
