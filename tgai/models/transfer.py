"""The model contract every generative model of the kit follows, and the transfer functions written once on it.

Introduced in lesson 03 (GAN fine-tuning); lessons 04 (VAE) and 05 (LoRA) use the same functions.

The contract. A model class (`tgai.models.gan.GAN`, `tgai.models.vae.VAE`,
`tgai.models.diffusion.LatentDiffusion`) is a `keras.Model` with:

    STRATEGIES      {name: Strategy}: where a run starts and what stays frozen (`freeze`, `prepare`, `restart`)
    CHECKPOINT      the manifest name of its committed source (`load_source`, `tgai.core.checkpoints`)
    networks        property {name: keras.Model}: the networks whose weights transfer (`start_from`, `freeze`,
                    and the checkpoint file, which stores them by these names)
    optimizers      property: the optimizers `compile` built (`restart` restarts their state)
    image_shape     (height, width, channels) of the images it trains on (`tgai.core.validation.model_images`)
    get_config()    Keras: the architecture and options, `seed` included; `from_config(config)` builds a model
                    like it with fresh networks drawn from `config["seed"]` (missing keys take their defaults).
                    `prepare` loads a source of the same architecture with it, `restart` a fresh copy.
    get_compile_config() / compile_from_config(config)
                    Keras: what `compile` was given (optimizers, XLA); `restart` compiles its rebuilt copy so, and
                    `compile_from_config(model.get_compile_config())` compiles a model like another
    sample(count, seed=0)
                    images float32 NHWC in [0, 1], from seeded draws: what a lesson shows and evaluates
    divergence_hint property str: the likely causes of non-finite losses (`tgai.training.NaNGuard` quotes it)

and its module (`tgai.models.gan`, ...) has, with these signatures:

    make(strategy, source=None, seed=0, **options) -> (compiled model, ParameterReport)
    load_source(seed=0, checkpoint=None, **options) -> uncompiled model holding the committed source
    prepare_images(images) -> the images `train` takes, from float32 NHWC in [0, 1] (the VAE binarises them)
    train(model, images, steps, batch_size, seed=0, eval_every=None, callbacks=(), backup_dir=None)
        -> keras.callbacks.History, through `tgai.training.fit` (chunks, NaN guard, resumable backups);
        evaluation along the way is a callback (`tgai.training.PeriodicEvaluation`)

Checkpoints are one format for every model (`tgai.core.checkpoints`): one HDF5 dataset per weight of each
network in `networks`. Randomness inside `train_step` is drawn statelessly from `(seed, step, replica)`, so a
resumed run repeats an uninterrupted one. `MODELS` below lists the model modules; the test harness and the
benchmarks loop over it.

Everything else is here, once: `freeze` (with a parameter report), `start_from` (copy a source's networks),
`load_source` (the committed checkpoint), `prepare` (start and freeze for a strategy) and `restart` (put a
compiled model back to the start of a run for another seed, by rebuilding and copying every variable, so that
no stateful variable can escape the reset).

Usage notes:
    * Layers are named by depth, `<prefix>_block<n>_<what>`, counted from the input of each network, so
      "freeze the lowest two blocks of the discriminator" is a statement about names.
    * Frozen means `trainable = False` on each layer, checked by counting trainable weights.
"""

from __future__ import annotations

import dataclasses
import re

import keras
import numpy as np

from tgai.core import checkpoints, keras_internals, validation

# The model modules that follow the contract, by name: the test harness and the benchmarks loop over them.
MODELS = ("gan", "vae", "diffusion")

ALL = "all"  # freeze a whole network
LOWEST = "lowest"  # freeze the lowest `blocks` blocks of a network
_BLOCK = re.compile(r"^[a-z]+_block(\d+)_")


@dataclasses.dataclass(frozen=True)
class Strategy:
    """A transfer strategy: where training starts and what stays frozen.

    Attributes:
        name: Short name used in code and tables, e.g. `freeze_d`.
        description: One line for learners.
        from_source: Start from the committed (or given) source weights; False starts from fresh weights.
        frozen: `{network name: ALL or LOWEST}`; LOWEST freezes the lowest `blocks` blocks.
    """

    name: str
    description: str
    from_source: bool = True
    frozen: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class ParameterReport:
    """What a strategy left trainable, counted in parameters (scalars; `parameters`), per network."""

    strategy: str
    frozen_layers: tuple[str, ...]
    trainable: dict
    total: dict

    @property
    def trainable_total(self) -> int:
        return sum(self.trainable.values())

    @property
    def frozen_total(self) -> int:
        return sum(self.total.values()) - self.trainable_total

    def __str__(self):
        parts = [f"{name} {self.trainable[name]:,}/{self.total[name]:,}" for name in self.total]
        return f"{self.strategy}: trainable {', '.join(parts)}"


def count_parameters(weights) -> int:
    """Total number of scalars in a list of variables (e.g. `model.trainable_weights`)."""
    return int(sum(np.prod(weight.shape) for weight in weights))


def copy_network(network):
    """A new Keras network of the same architecture holding a copy of `network`'s current weights."""
    copy = keras.models.clone_model(network)
    copy.set_weights(network.get_weights())
    return copy


def blocks_of(network) -> dict[int, list]:
    """Return `{block number: [layers]}` for a network whose layers are named `<prefix>_block<n>_...`."""
    blocks: dict[int, list] = {}
    for layer in network.layers:
        match = _BLOCK.match(layer.name)
        if match:
            blocks.setdefault(int(match.group(1)), []).append(layer)
    return dict(sorted(blocks.items()))


def strategy_of(model, strategy: str) -> Strategy:
    """Return the `Strategy` named `strategy` for this model, or raise listing the valid names."""
    strategies = getattr(type(model), "STRATEGIES", None)
    if strategies is None:
        raise TypeError(
            f"model must be a tgai generative model (tgai.models.gan.GAN, tgai.models.vae.VAE, "
            f"tgai.models.diffusion.LatentDiffusion); "
            f"received {validation.describe(model)}."
        )
    return strategies[validation.choice(strategy, "strategy", strategies)]


def freeze(model, strategy: str, blocks: int = 2) -> ParameterReport:
    """Set `trainable` on every layer of the model's networks for a strategy; report what is left trainable.

    Introduced in lesson 03. Every layer is made trainable first, then the strategy's layers are frozen, so
    calling it twice with different strategies never accumulates frozen layers.

    Args:
        model: A model that follows the protocol in this module's docstring.
        strategy: A key of `type(model).STRATEGIES`.
        blocks: How many of the lowest blocks a `LOWEST` strategy freezes.

    Returns:
        A `ParameterReport`.

    Raises:
        ValueError: for an unknown strategy, or more blocks than the network has.
    """
    spec = strategy_of(model, strategy)
    blocks = validation.positive_int(blocks, "blocks")
    networks = model.networks
    frozen = []
    for name, network in networks.items():
        for layer in network.layers:
            layer.trainable = True
        how = spec.frozen.get(name)
        if how == ALL:
            frozen += network.layers
        elif how == LOWEST:
            available = blocks_of(network)
            if blocks > len(available):
                raise ValueError(
                    f"blocks={blocks} but the {name} has only {len(available)} blocks; strategy={strategy!r} can "
                    f"freeze 1 to {len(available)}."
                )
            frozen += [layer for number, layers in available.items() if number <= blocks for layer in layers]
    for layer in frozen:
        layer.trainable = False
    return ParameterReport(
        strategy,
        tuple(layer.name for layer in frozen if layer.weights),
        {name: count_parameters(network.trainable_weights) for name, network in networks.items()},
        {name: count_parameters(parameters(network)) for name, network in networks.items()},
    )


def parameters(network) -> list:
    """A network's parameters: its weights less its state (`tgai.core.keras_internals.state_weights`).

    Spectral normalization's power-iteration vector, for one, is a weight that no strategy trains; counting
    it as frozen would make a fully trainable network look partly frozen.
    """
    state = {id(weight) for weight in keras_internals.state_weights(network)}
    return [weight for weight in network.weights if id(weight) not in state]


def start_from(model, source) -> None:
    """Copy every weight of the source's networks into the model's networks of the same names.

    Introduced in lesson 03. All shapes are checked before anything is assigned, so a mismatched source
    leaves the model as it was.

    Args:
        model: The model to start.
        source: A model of the same kind (its `networks` are copied), e.g. from `load_source`.

    Raises:
        TypeError: if `source` is not a model of the same kind.
        ValueError: if a network's weight shapes differ.
    """
    if type(source) is not type(model):
        raise TypeError(
            f"source must be a {type(model).__name__} (e.g. from load_source()); "
            f"received {validation.describe(source)}."
        )
    pairs = []
    for name, network in model.networks.items():
        values = source.networks[name].weights
        shapes, expected = [tuple(w.shape) for w in values], [tuple(w.shape) for w in network.weights]
        if shapes != expected:
            raise ValueError(
                f"source {name} does not match the model's: received weight shapes {shapes[:3]}... where the model "
                f"has {expected[:3]}.... Pass a source built like the model, or source=None for the committed one."
            )
        pairs += zip(network.weights, values, strict=True)
    for target, value in pairs:
        target.assign(value)


class OneOptimizerCompileConfig:
    """The contract's `get_compile_config` / `compile_from_config` for a model with one optimizer.

    A mixin for `keras.Model` subclasses whose `compile(optimizer, steps_per_execution=..., jit_compile=...)`
    builds one optimizer (`tgai.models.vae.VAE`, `tgai.models.diffusion.LatentDiffusion`); the GAN, with two,
    writes its own.
    """

    def get_compile_config(self) -> dict:
        """What `compile` was given (Keras' compile config): the optimizer, serialized, steps per call, XLA."""
        return {
            "optimizer": keras.saving.serialize_keras_object(self.optimizer),
            "steps_per_execution": self.steps_per_execution,
            "jit_compile": self.jit_compile,
        }

    def compile_from_config(self, config: dict):
        """Compile with a fresh optimizer configured as in `config` (from `get_compile_config`)."""
        optimizer = keras.saving.deserialize_keras_object(config["optimizer"], safe_mode=True)
        self.compile(optimizer, steps_per_execution=config["steps_per_execution"], jit_compile=config["jit_compile"])


def checked_source(source, model_class):
    """`source`, if it is a `model_class`; a TypeError naming the class and how to load one otherwise.

    For functions that take a source model to adapt (`make_lora` in each model module).
    """
    if not isinstance(source, model_class):
        module = model_class.__module__
        raise TypeError(
            f"source must be a {module}.{model_class.__name__} (e.g. {module.rsplit('.', 1)[-1]}.load_source()); "
            f"received {validation.describe(source)}."
        )
    return source


def architecture(model) -> dict:
    """The model's configuration without its seed: what a source must share with it to be copied in."""
    return {key: value for key, value in model.get_config().items() if key != "seed"}


def load_source(model_class, seed: int = 0, checkpoint: str | None = None, **options):
    """Build a model of `model_class` and load a committed source checkpoint (sha256 checked first).

    Introduced in lesson 03. `checkpoint` names the manifest entry (default `model_class.CHECKPOINT`);
    `options` go to `model_class.from_config` (e.g. `image_shape`), and must describe the architecture the
    checkpoint was saved with.
    """
    model = model_class.from_config({**options, "seed": seed})
    name = model_class.CHECKPOINT if checkpoint is None else checkpoint
    checkpoints.load(model.networks, checkpoints.path(name), fix=f"run `python -m tgai pretrain {name}`")
    return model


def prepare(model, strategy: str, blocks: int = 2, source=None) -> ParameterReport:
    """Set a freshly built model up for a strategy: start from the source if it says so, then freeze.

    Introduced in lesson 03; call it before `compile`, since optimizers keep state for the trainable weights.

    Args:
        model: A newly built, uncompiled model.
        strategy: A key of `type(model).STRATEGIES`.
        blocks: For strategies that freeze the lowest blocks.
        source: A model of the same kind to start from, or None for the committed source checkpoint.

    Returns:
        The `ParameterReport` of `freeze`.
    """
    spec = strategy_of(model, strategy)
    if spec.from_source:
        start_from(model, source if source is not None else load_source(type(model), **architecture(model)))
    return freeze(model, strategy, blocks)


def restart(model, strategy: str, seed: int = 0, blocks: int = 2, source=None) -> ParameterReport:
    """Put a compiled model back to the start of a run, for another seed, reusing its traced functions.

    Introduced in lesson 03, where one model per strategy runs several seeds: tracing a new model costs
    seconds on a CPU, copying variables costs nothing. A fresh model is built, prepared and compiled
    exactly as a new run would be (`from_config`, `prepare`, `compile_from_config`), then every one of its variables,
    the optimizers' included, is copied into `model`. After it, a run equals a run on a new model (a test
    checks it bit for bit).

    Args:
        model: A compiled model, frozen for `strategy` already.
        strategy: Must leave the same weights trainable as the model was compiled with.
        seed: Seeds fresh weights (strategies not from the source) and the training randomness.
        blocks: For strategies that freeze the lowest blocks.
        source: A model of the same kind to start from, or None for the committed source checkpoint.

    Returns:
        The `ParameterReport` of the strategy.

    Raises:
        TypeError: if `model` is not a compiled tgai model.
        ValueError: if the strategy freezes other weights than the model was compiled with; the model is
            then left as it was.
    """
    strategy_of(model, strategy)
    if not model.compiled:
        raise TypeError(
            f"model must be compiled before restart; received an uncompiled {type(model).__name__}. Call compile first."
        )
    seed = validation.positive_int(seed, "seed", minimum=0)
    fresh = type(model).from_config({**model.get_config(), "seed": seed})
    report = prepare(fresh, strategy, blocks, source)
    fresh.compile_from_config(model.get_compile_config())
    trainable = [tuple(w.shape) for w in model.trainable_weights]
    if [tuple(w.shape) for w in fresh.trainable_weights] != trainable or [w.trainable for w in _state(fresh)] != [
        w.trainable for w in _state(model)
    ]:
        raise ValueError(
            f"strategy={strategy!r} with blocks={blocks} freezes other weights than the model was compiled with; "
            f"build a new model for {strategy!r} instead."
        )
    targets, values = _state(model), _state(fresh)
    if [(tuple(w.shape), w.dtype) for w in targets] != [(tuple(w.shape), w.dtype) for w in values]:
        raise ValueError(
            f"model and a rebuilt {type(model).__name__} hold different variables; build a new model instead."
        )
    for target, value in zip(targets, values, strict=True):
        target.assign(value)
    return report


def _state(model) -> list:
    """Every variable a run changes: the model's (weights, EMA, seeds, metrics) and its optimizers'."""
    optimizer_variables = [variable for optimizer in model.optimizers for variable in optimizer.variables]
    return list(model.variables) + optimizer_variables + [v for metric in model.metrics for v in metric.variables]
