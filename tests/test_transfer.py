"""Tests for tgai.models.transfer, the core every generative model shares: freezing, sources and restarts.

Every test that holds for any model runs over the registry of tests/models.py (the GAN and the VAE, small
and at 16x16); the GAN-specific numbers (which blocks a strategy freezes) are in tests/test_gan.py.
"""

import keras
import numpy as np
import pytest
from models import MODELS, NAMES, SMALL_SHAPE

import tgai
from tgai.core import keras_internals
from tgai.models import gan, transfer

STRATEGIES = [(name, strategy) for name in NAMES for strategy in MODELS[name].model_class.STRATEGIES]


def images(count=16, seed=0):
    return np.random.default_rng(seed).uniform(0.0, 1.0, (count, *SMALL_SHAPE)).astype(np.float32)


def snapshot(variables):
    return [np.array(variable) for variable in variables]


def same(first, second) -> bool:
    first, second = snapshot(first), snapshot(second)
    return len(first) == len(second) and all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def everything(model):
    """Every variable a run changes, the optimizers' included, in a fixed order."""
    return list(model.variables) + [variable for optimizer in model.optimizers for variable in optimizer.variables]


# ------------------------------------------------------------------------------------------------ freeze


@pytest.mark.parametrize(("name", "strategy"), STRATEGIES, ids=[f"{name}-{strategy}" for name, strategy in STRATEGIES])
def test_freeze_counts_match_the_strategy_and_the_trainable_weights(name, strategy):
    case = MODELS[name]
    model = case.create_small()
    spec = type(model).STRATEGIES[strategy]
    transfer.freeze(model, "scratch")  # nothing frozen: a later strategy must not inherit anything
    report = transfer.freeze(model, strategy, blocks=1)
    assert report.strategy == strategy
    frozen_names = []
    for network_name, network in model.networks.items():
        total = transfer.count_parameters(transfer.parameters(network))
        trainable = transfer.count_parameters(network.trainable_weights)
        state = {id(weight) for weight in keras_internals.state_weights(network)}
        assert report.total[network_name] == total
        assert report.trainable[network_name] == trainable, "the report must count the weights left trainable"
        how = spec.frozen.get(network_name)
        if how == transfer.ALL:
            expected = 0
            frozen_names += [layer.name for layer in network.layers if layer.weights]
        elif how == transfer.LOWEST:
            lowest = transfer.blocks_of(network)[1]
            expected = total - transfer.count_parameters(
                [weight for layer in lowest for weight in layer.weights if id(weight) not in state]
            )
            frozen_names += [layer.name for layer in lowest if layer.weights]
        else:
            expected = total
        assert trainable == expected, f"{network_name}: {trainable} trainable, expected {expected}"
        if how is None:
            assert all(weight.trainable for weight in transfer.parameters(network)), (
                f"{network_name} should be wholly trainable"
            )
    assert report.frozen_layers == tuple(frozen_names)
    assert report.trainable_total == sum(report.trainable.values())
    assert report.frozen_total == sum(report.total.values()) - report.trainable_total
    assert strategy in str(report) and "trainable" in str(report)
    # Back to a strategy that freezes nothing: every weight is trainable again.
    assert transfer.freeze(model, "full").trainable == report.total


def test_freeze_names_the_frozen_networks_of_the_vae():
    model = MODELS["vae"].create_small()
    decoder_only = transfer.freeze(model, "decoder_only")
    assert decoder_only.trainable["encoder"] == 0 and decoder_only.trainable["decoder"] == decoder_only.total["decoder"]
    assert all(not weight.trainable for weight in model.encoder.weights)
    encoder_only = transfer.freeze(model, "encoder_only")
    assert encoder_only.trainable["decoder"] == 0 and encoder_only.trainable["encoder"] == encoder_only.total["encoder"]
    assert all(weight.trainable for weight in model.encoder.weights)


@pytest.mark.parametrize("name", NAMES)
def test_freeze_refuses_unknown_strategies_and_non_models(name):
    model = MODELS[name].create_small()
    with pytest.raises(ValueError, match=r"strategy.*'freeze_all'.*Valid values: "):
        transfer.freeze(model, "freeze_all")
    with pytest.raises(TypeError, match=r"model must be a tgai generative model.*received"):
        transfer.freeze(model.networks[next(iter(model.networks))], "full")


@pytest.mark.parametrize(
    ("strategy", "network", "blocks"), [("freeze_d", "discriminator", 3), ("freeze_g", "generator", 4)]
)
def test_blocks_beyond_the_network_raise(strategy, network, blocks):
    model = gan.GAN.from_config(dict(**MODELS["gan"].small))
    before = [layer.trainable for net in model.networks.values() for layer in net.layers]
    assert transfer.freeze(model, strategy, blocks=blocks).frozen_total > 0  # every block: allowed
    with pytest.raises(
        ValueError,
        match=rf"blocks={blocks + 1} but the {network} has only {blocks} blocks; strategy='{strategy}' can freeze 1 to "
        rf"{blocks}",
    ):
        transfer.freeze(model, strategy, blocks=blocks + 1)
    with pytest.raises(ValueError, match=r"blocks.*blocks=0"):
        transfer.freeze(model, strategy, blocks=0)
    transfer.freeze(model, "full")
    assert [layer.trainable for net in model.networks.values() for layer in net.layers] == [True] * len(before)


# ------------------------------------------------------------------------------------------- start_from


@pytest.mark.parametrize("name", NAMES)
def test_start_from_copies_every_network_weight(name):
    case = MODELS[name]
    model, source = case.create_small(seed=0), case.create_small(seed=5)
    assert not same(model.weights, source.weights)
    transfer.start_from(model, source)
    for network_name, network in model.networks.items():
        assert same(network.weights, source.networks[network_name].weights)


@pytest.mark.parametrize("name", NAMES)
def test_start_from_refuses_a_mismatched_source_and_leaves_the_model_unchanged(name):
    case = MODELS[name]
    model = case.create_small(seed=0)
    before = snapshot(model.weights)
    wider = case.model_class.from_config(dict(seed=5, **{**case.small, **case.other_shape}))
    with pytest.raises(
        ValueError,
        match=r"source \w+ does not match the model's: received weight shapes .* Pass a source built like the model, "
        r"or source=None",
    ):
        transfer.start_from(model, wider)
    assert same(before, model.weights), "a refused source must leave the model as it was"
    other = MODELS[next(other for other in NAMES if other != name)].create_small()
    with pytest.raises(
        TypeError, match=rf"source must be a {type(model).__name__} \(e\.g\. from load_source\(\)\); received"
    ):
        transfer.start_from(model, other)
    assert same(before, model.weights)


@pytest.mark.parametrize("name", NAMES)
def test_the_committed_source_refuses_another_architecture_layer_by_layer(name):
    from tgai.core import checkpoints

    case = MODELS[name]
    with pytest.raises(checkpoints.CheckpointError) as caught:
        case.load_source(**case.mismatched)
    message = str(caught.value)
    assert f"{case.model_class.CHECKPOINT}.weights.h5 does not match this model" in message
    for layer in case.mismatched_layers:
        assert f"{layer}: file has" in message, message
    assert f"python -m tgai pretrain {case.model_class.CHECKPOINT}" in message


# ---------------------------------------------------------------------------------------------- restart


@pytest.mark.parametrize("name", NAMES)
def test_restart_equals_a_fresh_model_bit_for_bit(name):
    # Scratch at seed 1 trained fresh, against a model first trained at seed 0 then restarted at seed 1.
    case = MODELS[name]
    data = images(16)
    fresh, _ = case.build_small("scratch", seed=1)
    case.train(fresh, data, steps=3, batch_size=8, seed=1)
    reused, _ = case.build_small("scratch", seed=0)
    case.train(reused, data, steps=3, batch_size=8, seed=0)
    assert not same(everything(fresh), everything(reused))
    transfer.restart(reused, "scratch", seed=1)
    assert all(int(optimizer.iterations) == 0 for optimizer in reused.optimizers)
    case.train(reused, data, steps=3, batch_size=8, seed=1)
    for network_name, network in fresh.networks.items():
        assert same(network.weights, reused.networks[network_name].weights), network_name
    different = [a.path for a, b in zip(everything(fresh), everything(reused), strict=True) if not np.array_equal(a, b)]
    assert not different, f"after a restart, variables differ from a fresh model's: {different[:5]}"


@pytest.mark.parametrize("name", NAMES)
def test_a_restarted_model_evaluates_like_a_fresh_one(name):
    # Evaluation randomness a model derives from its seed (e.g. the VAE's sampling noise) must follow the
    # restart too, or every comparison of restarted runs is evaluated on other draws than fresh runs.
    case = MODELS[name]
    data = images(8)
    reused, _ = case.build_small("scratch", seed=0)
    transfer.restart(reused, "scratch", seed=1)
    fresh, _ = case.build_small("scratch", seed=1)
    assert same(everything(fresh), everything(reused))
    assert case.evaluate(reused, data) == case.evaluate(fresh, data)


def test_restart_of_the_gan_equals_a_fresh_make_and_reseeds_it():
    tgai.setup(seed=0)
    data = np.random.default_rng(0).uniform(0.0, 1.0, (16, 32, 32, 1)).astype(np.float32)
    fresh, _ = gan.make("full", seed=1)
    gan.train(fresh, data, steps=2, batch_size=8, seed=1)
    reused, _ = gan.make("full", seed=0)
    gan.train(reused, data, steps=2, batch_size=8, seed=0)
    transfer.restart(reused, "full", seed=1)
    assert reused.seed == 1 and int(reused.d_optimizer.iterations) == 0
    gan.train(reused, data, steps=2, batch_size=8, seed=1)
    assert same(everything(fresh), everything(reused))


def test_restart_from_a_source_and_its_refusals():
    case = MODELS["gan"]
    model, _ = case.build_small("freeze_d", blocks=1)
    source = case.create_small(seed=5)
    case.train(model, images(16), steps=2, batch_size=8)
    report = transfer.restart(model, "freeze_d", seed=2, blocks=1, source=source)
    assert report.trainable["discriminator"] < report.total["discriminator"]
    assert same(model.generator.weights, source.generator.weights) and same(
        model.ema_generator.weights, source.generator.weights
    )
    assert same(model.discriminator.weights, source.discriminator.weights)
    trainable = [weight.trainable for weight in model.weights]
    before = snapshot(everything(model))
    with pytest.raises(
        ValueError,
        match=r"strategy='full' with blocks=1 freezes other weights than the model was compiled with; build a new "
        r"model for 'full'",
    ):
        transfer.restart(model, "full", blocks=1, source=source)
    with pytest.raises(ValueError, match=r"strategy='freeze_d' with blocks=2 freezes other weights"):
        transfer.restart(model, "freeze_d", blocks=2, source=source)
    assert [weight.trainable for weight in model.weights] == trainable, (
        "a refused restart keeps the freezing it was compiled with"
    )
    assert transfer.count_parameters(model.discriminator.trainable_weights) == report.trainable["discriminator"]
    assert same(before, everything(model)), "a refused restart leaves every variable as it was"
    with pytest.raises(TypeError, match=r"model must be a tgai generative model.*received"):
        transfer.restart(source.generator, "full")
    with pytest.raises(
        TypeError, match=r"model must be compiled before restart; received an uncompiled GAN\. Call compile first"
    ):
        transfer.restart(source, "full")
    with pytest.raises(ValueError, match=r"strategy.*'freezed'.*Valid values: "):
        transfer.restart(model, "freezed")
    wide = gan.GAN.from_config(dict(seed=5, **{**case.small, "widths": (32, 8)}))
    with pytest.raises(
        ValueError, match=r"source generator does not match the model's.*Pass a source built like the model"
    ):
        transfer.restart(model, "freeze_d", blocks=1, source=wide)
    assert same(before, everything(model))


class CountingGAN(gan.GAN):
    """A GAN with one more stateful variable, added after the kit was written: it counts train steps."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.counter = keras.Variable(0, dtype="int64", trainable=False, name="counter")

    def train_step(self, real_images):
        self.counter.assign_add(1)
        return super().train_step(real_images)


def test_restart_resets_every_variable_even_one_it_was_never_told_about():
    # No hand-kept list of what to reset: restart rebuilds a model and copies every variable.
    small = MODELS["gan"].small
    model = CountingGAN.from_config(dict(seed=0, **small))
    transfer.prepare(model, "scratch")
    model.compile()
    assert any(variable is model.counter for variable in model.variables)
    gan.train(model, images(16), steps=3, batch_size=8)
    assert int(model.counter.numpy()) == 3
    transfer.restart(model, "scratch", seed=1)
    assert int(model.counter.numpy()) == 0, "restart left a stateful variable behind"
    fresh = CountingGAN.from_config(dict(seed=1, **small))
    transfer.prepare(fresh, "scratch")
    fresh.compile()
    assert same(everything(fresh), everything(model))
    gan.train(model, images(16), steps=2, batch_size=8, seed=1)  # the traced step still increments it
    assert int(model.counter.numpy()) == 2


@pytest.mark.parametrize("name", NAMES)
def test_prepare_starts_from_the_source_only_for_source_strategies(name):
    case = MODELS[name]
    source = case.create_small(seed=5)
    for strategy, spec in case.model_class.STRATEGIES.items():
        model = case.create_small(seed=0)
        report = transfer.prepare(model, strategy, 1, source)
        for network_name, network in model.networks.items():
            assert same(network.weights, source.networks[network_name].weights) == spec.from_source, (
                strategy,
                network_name,
            )
        assert report == transfer.freeze(model, strategy, 1)


def test_the_registry_lists_every_model_of_the_contract_and_each_follows_it():
    import importlib

    assert tuple(MODELS) == transfer.MODELS, "tests/models.py must have one entry per name in transfer.MODELS"
    for name in transfer.MODELS:
        module = importlib.import_module(f"tgai.models.{name}")
        for function in ("make", "load_source", "prepare_images", "train"):
            assert callable(getattr(module, function, None)), f"tgai.models.{name} has no {function}()"
        model_class = MODELS[name].model_class
        for member in ("STRATEGIES", "CHECKPOINT", "networks", "optimizers", "divergence_hint", "sample"):
            assert hasattr(model_class, member), f"{model_class.__name__} has no {member}"
        for method in ("get_config", "from_config", "get_compile_config", "compile_from_config"):
            assert getattr(model_class, method) is not getattr(keras.Model, method), f"{model_class.__name__}.{method}"


@pytest.mark.parametrize("name", transfer.MODELS)
def test_from_config_rebuilds_the_architecture_with_fresh_weights(name):
    case = MODELS[name]
    model = case.create_small(seed=3)
    config = model.get_config()
    assert config["seed"] == 3
    copy = type(model).from_config(config)
    assert copy.get_config() == config
    assert [tuple(w.shape) for w in copy.weights] == [tuple(w.shape) for w in model.weights]
    other = type(model).from_config({**config, "seed": 4})
    first = next(iter(model.networks))
    assert not np.array_equal(model.networks[first].weights[0].numpy(), other.networks[first].weights[0].numpy())
    np.testing.assert_array_equal(model.networks[first].weights[0].numpy(), copy.networks[first].weights[0].numpy())
