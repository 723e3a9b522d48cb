"""tgai.setup: seeds, determinism, profiles and the banner (lesson 00)."""

import random

import numpy as np
import pytest

import tgai
from tgai import config


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
