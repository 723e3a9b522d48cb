"""The Keras internals the kit relies on, in one place, each with the reason no public API does the job.

Keras 3 keeps these private, so a minor release may move them. `tests/test_keras_internals.py` checks every one
against the installed Keras and fails naming its version; a maintainer who upgrades Keras fixes this module
alone.

    force_jit_compile(model, value)   XLA for `train_step` while TensorFlow's op determinism is on
    adding_weights(layer)             new weights on a built layer (LoRA adapters on Conv2DTranspose)
    state_weights(network)            the weights no optimizer trains, even with every layer trainable
"""

from __future__ import annotations

import contextlib

import keras


def force_jit_compile(model, value: bool) -> None:
    """Set whether `model.train_step` compiles with XLA, past Keras' determinism check.

    The public `model.jit_compile = True` (and `compile(jit_compile=True)`) refuses XLA whenever
    `tf.config.experimental.enable_op_determinism()` is on, which `tgai.setup` turns on, because some XLA GPU
    kernels are not deterministic. The kit's steps draw their randomness statelessly and XLA's CPU kernels are
    deterministic (`tests/test_determinism.py` checks reruns bit for bit), so the flag Keras reads is set
    directly. `tgai.training.resolve_jit_compile` decides the value.
    """
    model._jit_compile = bool(value)


@contextlib.contextmanager
def adding_weights(layer):
    """Let `layer.add_weight` run on a layer that is already built, as Keras' own `enable_lora` does.

    Keras locks a layer's state once it is built, so that no variable appears after a model was traced; its
    `Dense.enable_lora` and `Conv2D.enable_lora` unlock the tracker around their `add_weight` calls, and
    `tgai.models.lora.Conv2DTranspose.enable_lora` does the same through this helper.
    """
    layer._tracker.unlock()
    try:
        yield layer
    finally:
        layer._tracker.lock()


def keras_version() -> str:
    """The installed Keras version, which the internals above were checked against."""
    return keras.__version__


def state_weights(network) -> list:
    """The weights a network keeps as state rather than parameters, such as `SpectralNormalization`'s vector.

    Public Keras cannot tell them apart from frozen parameters: `layer.trainable = False` moves a layer's
    kernel into `non_trainable_weights` too. Each layer keeps the weights it created non-trainable in
    `_non_trainable_variables`, which freezing leaves alone.
    """
    state = {}
    for layer in network._flatten_layers(include_self=True):
        for variable in layer._non_trainable_variables:
            state[id(variable)] = variable
    return list(state.values())
