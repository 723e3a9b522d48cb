"""The Keras internals the kit relies on (`tgai.core.keras_internals`) still work in the installed Keras.

Each check fails naming the Keras version, so that a maintainer who upgrades Keras knows which helper to fix.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tgai.core import keras_internals

VERSION = f"Keras {keras.__version__}"


def _model():
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(2)(inputs))


def test_force_jit_compile_sets_xla_past_the_determinism_check():
    model = _model()
    model.compile(optimizer="adam", loss="mse", jit_compile=False)
    tf.config.experimental.enable_op_determinism()  # what tgai.setup turns on
    with pytest.warns(UserWarning):
        model.jit_compile = True  # the public setter refuses XLA under op determinism...
    assert model.jit_compile is False, f"{VERSION}: the public setter no longer refuses XLA; drop force_jit_compile"
    keras_internals.force_jit_compile(model, True)  # ...the helper does not
    assert model.jit_compile is True, (
        f"{VERSION}: Model.jit_compile no longer reads _jit_compile; fix force_jit_compile"
    )
    keras_internals.force_jit_compile(model, False)
    assert model.jit_compile is False, f"{VERSION}: force_jit_compile(model, False) did not turn XLA off"


def test_adding_weights_adds_a_variable_to_a_built_layer_and_locks_it_again():
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    with pytest.raises(ValueError):
        layer.add_weight(shape=(1,), name="late")  # a built layer's state is locked
    with keras_internals.adding_weights(layer):
        extra = layer.add_weight(shape=(1,), name="late", initializer="zeros")
    assert any(weight is extra for weight in layer.weights), (
        f"{VERSION}: a weight added in adding_weights is not tracked"
    )
    with pytest.raises(ValueError):
        layer.add_weight(shape=(1,), name="later")
    assert np.asarray(extra).shape == (1,), f"{VERSION}: adding_weights no longer lets add_weight run"


def test_no_private_keras_attribute_is_used_outside_the_helper():
    import pathlib
    import re

    package = pathlib.Path(keras_internals.__file__).resolve().parent.parent
    private = re.compile(r"\._(jit_compile|tracker)\b")
    offenders = [
        str(path.relative_to(package.parent))
        for path in package.rglob("*.py")
        if path.name != "keras_internals.py" and private.search(path.read_text())
    ]
    assert offenders == [], f"private Keras attributes outside tgai/core/keras_internals.py: {offenders}"


def test_state_weights_are_the_weights_a_layer_created_untrainable_and_survive_freezing():
    inputs = keras.Input((4, 4, 1))
    wrapped = keras.layers.SpectralNormalization(keras.layers.Conv2D(2, 3))
    model = keras.Model(inputs, keras.layers.BatchNormalization()(wrapped(inputs)))
    names = sorted(weight.name for weight in keras_internals.state_weights(model))
    assert names == ["moving_mean", "moving_variance", "vector_u"], f"{VERSION}: state_weights found {names}"
    for layer in model.layers:
        layer.trainable = False
    assert sorted(weight.name for weight in keras_internals.state_weights(model)) == names, (
        f"{VERSION}: freezing changed _non_trainable_variables; fix state_weights"
    )
