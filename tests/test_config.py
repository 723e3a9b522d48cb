"""tgai.setup: seeds, determinism, profiles and the banner (lesson 00)."""

import random

import numpy as np
import pytest

import tgai
from tgai.core import config


def test_setup_returns_and_prints_banner(capsys):
    banner = tgai.setup(seed=3, profile="class")
    printed = capsys.readouterr().out.strip()
    assert printed == banner
    for part in ("tgai", "TensorFlow", "Keras", "device", "profile class", "seed 3"):
        assert part in banner
    assert "\n" not in banner


def test_setup_seeds_python_numpy_and_keras():
    import keras

    tgai.setup(seed=7)
    first = (random.random(), np.random.rand(), keras.random.uniform((3,)).numpy())  # noqa: NPY002 (setup seeds the legacy global state)
    tgai.setup(seed=7)
    second = (random.random(), np.random.rand(), keras.random.uniform((3,)).numpy())  # noqa: NPY002 (setup seeds the legacy global state)
    assert first[0] == second[0] and first[1] == second[1]
    np.testing.assert_array_equal(first[2], second[2])
    tgai.setup(seed=8)
    assert random.random() != first[0]


def test_setup_turns_on_op_determinism():
    from tensorflow.python.framework import config as framework_config

    tgai.setup(seed=0)
    # TensorFlow has no public getter for this flag; the framework module holds it.
    assert framework_config.is_op_determinism_enabled()


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv("TGAI_PROFILE", "full")
    tgai.setup(seed=0)
    assert tgai.profile().name == "full"
    monkeypatch.delenv("TGAI_PROFILE")
    tgai.setup(seed=0)
    assert tgai.profile().name == "class"


def test_profiles_scale_up():
    small, large = config.PROFILES["class"], config.PROFILES["full"]
    assert large.gan_steps > small.gan_steps and large.vae_steps > small.vae_steps


# ------------------------------------------------------------------------------------ the settings registry


@pytest.fixture
def registry(monkeypatch):
    """The registered settings, restored after the test (registering is global state)."""
    monkeypatch.setattr(config, "_SETTINGS", dict(config._SETTINGS))
    return config._SETTINGS


def test_the_lessons_register_their_settings():
    for setting in (
        "gan_steps",
        "gan_eval_every",
        "gan_batch_size",
        "seeds",
        "kid_samples",
        "pretrain_gan_steps",
        "judge_epochs",
        "vae_steps",
    ):
        assert setting in config._SETTINGS, f"{setting} is not registered"
    assert tgai.profile().gan_steps == config.PROFILES[tgai.profile().name].settings()["gan_steps"]


def test_both_profiles_have_every_setting():
    settings = {name: profile.settings() for name, profile in config.PROFILES.items()}
    assert set(settings) == {"class", "full"}
    assert settings["class"].keys() == settings["full"].keys() == config._SETTINGS.keys()
    for setting, values in config._SETTINGS.items():
        assert set(values) == set(config.PROFILES), f"{setting} lacks a profile: {sorted(values)}"


def test_an_unknown_setting_lists_the_registered_ones():
    with pytest.raises(
        AttributeError,
        match=r"Profile has no setting 'gan_stepz'\. Registered settings: .*gan_eval_every, gan_seeds, gan_steps",
    ) as caught:
        config.PROFILES["class"].gan_stepz  # noqa: B018
    assert all(setting in str(caught.value) for setting in config._SETTINGS)
    assert not hasattr(config.PROFILES["full"], "nonsense")


def test_register_settings_adds_a_lesson_without_editing_config(registry):
    config.register_settings("lesson 99", class_={"lesson99_steps": 10}, full={"lesson99_steps": 1000})
    assert config.PROFILES["class"].lesson99_steps == 10 and config.PROFILES["full"].lesson99_steps == 1000
    config.register_settings(
        "lesson 99, imported again", class_={"lesson99_steps": 10}, full={"lesson99_steps": 1000}
    )  # same values: fine


def test_register_settings_refuses_profiles_that_name_different_settings(registry):
    with pytest.raises(
        ValueError,
        match=r"lesson 99: class_ and full must be dicts naming the same settings; received \['a', 'b'\] and \['a'\]\. "
        r"Give every setting a value in both profiles",
    ):
        config.register_settings("lesson 99", class_={"a": 1, "b": 2}, full={"a": 10})
    assert "a" not in registry and "b" not in registry


def test_register_settings_refuses_a_conflicting_redefinition(registry):
    steps = dict(registry["gan_steps"])
    with pytest.raises(
        ValueError,
        match=r"lesson 99: setting 'gan_steps' is already registered with other values .*Pick a name prefixed by your "
        r"lesson's topic",
    ):
        config.register_settings("lesson 99", class_={"gan_steps": 5}, full={"gan_steps": 2000})
    assert registry["gan_steps"] == steps
    with pytest.raises(ValueError, match="'gan_steps' is already registered"):
        config.register_settings(
            "lesson 99", class_={"lesson99_steps": 1, "gan_steps": 5}, full={"lesson99_steps": 2, "gan_steps": 2000}
        )
    assert "lesson99_steps" not in registry, "a refused registration must register none of its settings"


@pytest.mark.parametrize("profile", ["fast", "CLASS", ""])
def test_unknown_profile_lists_valid_ones(profile):
    with pytest.raises(ValueError, match=r"received .*Valid profiles: class, full"):
        tgai.setup(profile=profile)


def test_unknown_profile_from_environment(monkeypatch):
    monkeypatch.setenv("TGAI_PROFILE", "turbo")
    with pytest.raises(ValueError, match="TGAI_PROFILE.*'turbo'"):
        tgai.setup()


@pytest.mark.parametrize("seed, error", [(-1, ValueError), (1.5, TypeError), ("0", TypeError), (True, TypeError)])
def test_bad_seed(seed, error):
    with pytest.raises(error, match="seed"):
        tgai.setup(seed=seed)


def test_offline_flag_and_banner(monkeypatch):
    monkeypatch.setenv("TGAI_OFFLINE", "1")
    assert tgai.is_offline()
    assert "offline" in tgai.setup()
    monkeypatch.setenv("TGAI_OFFLINE", "0")
    assert not tgai.is_offline()
    assert "online" in tgai.setup()


def test_cache_home_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TGAI_HOME", str(tmp_path / "cache"))
    assert tgai.cache_home() == tmp_path / "cache"
    assert (tmp_path / "cache").is_dir()


def test_tensorflow_log_level_set_before_import():
    import os

    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"


def test_unknown_attribute():
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        tgai.nonsense  # noqa: B018


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (5, ValueError, r"N_TARGET must be an integer from 10 to 1000 \(one per digit\); received N_TARGET=5\."),
        (1001, ValueError, r"received N_TARGET=1001"),
        (50.0, TypeError, r"from 10 to 1000 \(one per digit\); received 50\.0"),
        (True, TypeError, r"received True"),
    ],
)
def test_notebook_parameters_are_checked_by_their_own_name(value, error, message):
    with pytest.raises(error, match=message):
        tgai.core.validation.int_in_range(value, "N_TARGET", 10, 1000, "one per digit")
    assert tgai.core.validation.int_in_range(np.int64(10), "N_TARGET", 10, 1000) == 10
