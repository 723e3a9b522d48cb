"""Low-rank adapters (LoRA) for the kit's generators and decoders: enable, merge, save and load.

Introduced in lesson 05 (parameter-efficient fine-tuning). LoRA keeps every source weight frozen and learns a
low-rank correction of each kernel instead, `W + (alpha / rank) * A @ B` (Hu et al., 2021). Keras 3 has it
built in for `Dense` and `Conv2D` (`layer.enable_lora(rank)`), but not for `Conv2DTranspose`, which the DCGAN
generator and the VAE decoder use to upsample. `Conv2DTranspose` below adds it in the same form, and
`adaptable(model)` returns a copy of a model whose transposed convolutions are that layer, same weights.

The lessons' LoRA models are built where the models live: `tgai.models.gan.make_lora` (adapters on the
generator) and `tgai.models.vae.make_lora` (adapters on the decoder).

Usage notes:
    * As in Keras, `A` starts from a He-uniform draw and `B` from zeros, so a model with fresh adapters
      computes exactly what the source does; `alpha` defaults to the rank (a scale of 1).
    * `layer.kernel` is the effective kernel (source plus correction), as it is for Keras' own layers, so
      merging is copying `layer.kernel` into a plain copy of the source (`merge`).
    * An adapter file (`save`) holds only `A` and `B` per layer, with each layer's rank, alpha and a
      fingerprint of the base kernel it was trained on; `load` checks all of it, layer by layer, before
      assigning anything.

References:
    Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", ICLR 2022 (arXiv 2106.09685).
"""

from __future__ import annotations

import pathlib

import h5py
import keras
import numpy as np
from keras import ops

from tgai.core import checkpoints, config, files, keras_internals, seeds, validation

ADAPTER_WEIGHTS = ("lora_kernel_a", "lora_kernel_b")
# Adapters usually take a larger step than full fine-tuning: benchmarks' sweep_gan tried rank-4 adapters at
# 2e-4, 5e-4, 1e-3 and 2e-3 for lesson 05's 200 steps, and 2e-3 ended closest to handwriting (KID x1000 14 against
# 23 at 1e-3 and 39 at DCGAN's 2e-4, balanced recognisability 0.57 against 0.55 and 0.51).
GAN_LEARNING_RATE = 2e-3

# Lesson 05's GAN budget: lesson 03's recipe (batch 32) with 200 steps instead of 250, so that its six GAN runs
# fit in the lesson's three minutes on a 2-core CPU; its VAE runs use lesson 04's `vae_steps`.
config.register_settings("lesson 05 (tgai.models.lora)", class_={"lora_gan_steps": 200}, full={"lora_gan_steps": 2000})
# Relative change of a base kernel's norm that `load` still accepts: the EMA copy of a frozen kernel can
# differ from it in the last bits, a different base differs by far more.
_FINGERPRINT_TOLERANCE = 1e-4


@keras.saving.register_keras_serializable(package="tgai")
class Conv2DTranspose(keras.layers.Conv2DTranspose):
    """Keras' `Conv2DTranspose` with `enable_lora(rank)`, in the form of Keras' own `Conv2D` adapters.

    The kernel of a transposed convolution has shape `(height, width, filters, input channels)`. Its adapter is
    `A` of shape `(height, width, filters, rank)` and `B` of shape `(rank, input channels)`, and the layer
    computes with `kernel + (alpha / rank) * A @ B`.
    """

    def __init__(self, *args, lora_rank=None, lora_alpha=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else lora_rank
        self.lora_enabled = False

    @property
    def kernel(self):
        """The effective kernel: the source kernel plus the adapter's low-rank correction, if enabled."""
        if not self.lora_enabled:
            return self._kernel
        return self._kernel + (self.lora_alpha / self.lora_rank) * ops.matmul(self.lora_kernel_a, self.lora_kernel_b)

    @kernel.setter
    def kernel(self, value):  # Keras' build assigns the source kernel here
        self._kernel = value

    def build(self, input_shape):
        super().build(input_shape)
        self.built = True  # as Keras' Conv2D does before enabling the adapters its config asks for
        if self.lora_rank:  # a clone of a layer with adapters (e.g. the GAN's EMA copy) gets them too
            self.enable_lora(self.lora_rank, self.lora_alpha)

    def enable_lora(self, rank, lora_alpha=None, a_initializer="he_uniform", b_initializer="zeros"):
        """Freeze the kernel and add the trainable adapter `A`, `B` (as `keras.layers.Conv2D.enable_lora`)."""
        rank = validation.positive_int(rank, "rank")
        if not self.built:
            raise ValueError(f"layer {self.name!r} must be built before enable_lora; call the model on data first.")
        if self.lora_enabled:
            raise ValueError(
                f"layer {self.name!r} already has adapters of rank {self.lora_rank}; enable them once per layer."
            )
        with keras_internals.adding_weights(self):
            self.lora_kernel_a = self.add_weight(
                name="lora_kernel_a",
                shape=tuple(self._kernel.shape[:-1]) + (rank,),
                initializer=a_initializer,
                dtype="float32",
            )
            self.lora_kernel_b = self.add_weight(
                name="lora_kernel_b", shape=(rank, self._kernel.shape[-1]), initializer=b_initializer, dtype="float32"
            )
        self._kernel.trainable = False
        self.lora_enabled = True
        self.lora_rank = rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else rank

    def get_config(self):
        config = super().get_config()
        if self.lora_rank:
            config.update(lora_rank=self.lora_rank, lora_alpha=self.lora_alpha)
        return config


def adaptable(model):
    """Return a copy of a model whose `Conv2DTranspose` layers can take adapters, with the same weights.

    Introduced in lesson 05. Every other layer is copied as it is (`Dense` and `Conv2D` have
    `enable_lora` already); the copy computes exactly what `model` does.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model (e.g. source.generator); received {validation.describe(model)}.")

    def clone(layer):
        kind = Conv2DTranspose if type(layer) is keras.layers.Conv2DTranspose else type(layer)
        return kind.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def adapted_layers(model) -> list:
    """The layers of `model` that have adapters enabled, in order."""
    return [layer for layer in model.layers if getattr(layer, "lora_enabled", False)]


def enable(model, rank: int, alpha=None, seed: int | None = None) -> list:
    """Enable adapters of `rank` on every layer that supports them, and freeze every other weight.

    Introduced in lesson 05, which writes the same loop out on the page. Keras' `enable_lora` freezes the
    kernel only; the biases and normalization weights are frozen here too, so that the adapters alone train.
    With `seed`, each layer's `A` is drawn from a He-uniform initializer seeded by `(seed, layer index)`;
    without it (lesson 05's models) `A` comes from Keras' global random state, which depends on what ran before.

    Returns:
        The names of the layers that got adapters.

    Raises:
        ValueError: for a rank that is not a positive integer, or a model with no layer that takes adapters.
    """
    rank = validation.positive_int(rank, "rank")
    supported = [layer for layer in model.layers if hasattr(layer, "enable_lora")]
    if not supported:
        raise ValueError(
            f"model {model.name!r} has no layer with enable_lora (Dense, Conv2D, tgai.models.lora.Conv2DTranspose); "
            "pass tgai.models.lora.adaptable(model) instead."
        )
    for index, layer in enumerate(supported):
        initializer = (
            "he_uniform" if seed is None else keras.initializers.HeUniform(seed=seeds.derive(seed, "lora_init", index))
        )
        layer.enable_lora(rank, lora_alpha=alpha, a_initializer=initializer)
    for weight in model.weights:
        weight.trainable = weight.name in ADAPTER_WEIGHTS
    return [layer.name for layer in supported]


def merge(model):
    """Return a plain copy of `model` (no adapters) whose kernels are the effective kernels `W + s A B`.

    Introduced in lesson 05. The copy has the layers of the source model, so it saves, loads and runs like
    it, and computes what `model` does to float tolerance.
    """
    adapted = {layer.name: layer for layer in adapted_layers(model)}
    if not adapted:
        raise ValueError(
            f"model {model.name!r} has no adapters to merge; call tgai.models.lora.enable(model, rank) first."
        )

    def plain(layer):
        kind = keras.layers.Conv2DTranspose if isinstance(layer, Conv2DTranspose) else type(layer)
        config = {key: value for key, value in layer.get_config().items() if key not in ("lora_rank", "lora_alpha")}
        return kind.from_config(config)

    merged = keras.models.clone_model(model, clone_function=plain)
    for layer in merged.layers:
        source = model.get_layer(layer.name)
        if layer.name in adapted:
            values = [ops.convert_to_numpy(source.kernel)] + (
                [ops.convert_to_numpy(source.bias)] if source.use_bias else []
            )
            layer.set_weights(values)
        elif layer.weights:
            layer.set_weights(source.get_weights())
    return merged


def _base_norm(layer) -> float:
    return float(np.linalg.norm(ops.convert_to_numpy(layer._kernel)))


def save(model, path, **attributes) -> pathlib.Path:
    """Write only the adapters of `model` (`A`, `B` per layer, with rank, alpha and base fingerprint) to HDF5.

    Introduced in lesson 05. `attributes` (e.g. `target="mnist_5k"`) are stored on the file's root.
    """
    layers = adapted_layers(model)
    if not layers:
        raise ValueError(
            f"model {model.name!r} has no adapters to save; call tgai.models.lora.enable(model, rank) first."
        )
    path = pathlib.Path(path)
    with files.atomic_path(path) as temporary, h5py.File(temporary, "w") as handle:
        for key, value in attributes.items():
            handle.attrs[key] = value
        for layer in layers:
            group = handle.create_group(layer.name)
            group.attrs.update(rank=layer.lora_rank, alpha=layer.lora_alpha, base_norm=_base_norm(layer))
            for name in ADAPTER_WEIGHTS:
                group.create_dataset(name, data=ops.convert_to_numpy(getattr(layer, name)))
    return path


def load(model, path) -> None:
    """Load an adapter file written by `save` into a model with adapters of the same ranks on the same layers.

    Introduced in lesson 05. Every layer is checked first (present, rank, alpha, shapes, base kernel), so a
    mismatched file leaves the model as it was.

    Raises:
        FileNotFoundError: if `path` does not exist.
        tgai.core.checkpoints.CheckpointError: naming each layer and rank that differ.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"path must be an adapter file written by tgai.models.lora.save; received path={str(path)!r}."
        )
    layers = {layer.name: layer for layer in adapted_layers(model)}
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise checkpoints.CheckpointError(f"{path.name} is not a readable adapter file ({error}).") from None
    with handle:
        stored = {name: handle[name] for name in handle if isinstance(handle[name], h5py.Group)}
        problems, assignments = [], []
        for name in sorted(set(stored) - set(layers)):
            has = "has no adapters" if name in [layer.name for layer in model.layers] else "is not in this model"
            problems.append(
                f"{name}: the file has rank {int(stored[name].attrs['rank'])} adapters, the model's layer {has}"
            )
        for name, layer in layers.items():
            if name not in stored:
                problems.append(f"{name}: the model has rank {layer.lora_rank} adapters, the file has none")
                continue
            group = stored[name]
            rank, alpha = int(group.attrs["rank"]), float(group.attrs["alpha"])
            if rank != layer.lora_rank or alpha != layer.lora_alpha:
                problems.append(
                    f"{name}: file rank {rank} (alpha {alpha:g}), model rank {layer.lora_rank} (alpha "
                    f"{layer.lora_alpha:g})"
                )
                continue
            values = [group[weight][()] for weight in ADAPTER_WEIGHTS]
            shapes = [tuple(getattr(layer, weight).shape) for weight in ADAPTER_WEIGHTS]
            if [value.shape for value in values] != shapes:
                problems.append(f"{name}: file shapes {[value.shape for value in values]}, model shapes {shapes}")
                continue
            base = float(group.attrs["base_norm"])
            if abs(_base_norm(layer) - base) > _FINGERPRINT_TOLERANCE * max(base, 1e-12):
                problems.append(
                    f"{name}: the adapters were trained on another base kernel (norm {base:.4g}, this model's "
                    f"{_base_norm(layer):.4g})"
                )
                continue
            assignments.append((layer, values))
        if problems:
            ranks = sorted({int(group.attrs["rank"]) for group in stored.values()})
            raise checkpoints.CheckpointError(
                f"{path.name} does not match this model's adapters:\n  "
                + "\n  ".join(problems)
                + f"\nLoad it into a copy of the network it was trained on (e.g. source.generator) with adapters of "
                f"rank "
                f"{', '.join(map(str, ranks))}: model = tgai.models.lora.adaptable(network); "
                f"tgai.models.lora.enable(model, {ranks[0]})."
            )
    for layer, values in assignments:
        for name, value in zip(ADAPTER_WEIGHTS, values, strict=True):
            getattr(layer, name).assign(value)
