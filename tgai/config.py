"""Session setup: seeds and determinism, the profile, the cache home, quiet logs and a banner.

Introduced in lesson 00 and called once at the top of every notebook:

    import tgai
    tgai.setup(seed=SEED)

Usage notes:
    * `TGAI_PROFILE` picks the profile (`class`, the default, or `full`); `setup(profile=...)` overrides it.
      Notebooks read step counts from `tgai.profile()` and never hard-code them.
    * `TGAI_HOME` sets the cache home (default `~/.cache/tgai`).
    * `TGAI_OFFLINE=1` forbids network access; missing assets then raise an error that names the command
      that fetches them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import pathlib
import platform
import random
import sys

VERSION = "0.1.0"

ENV_PROFILE = "TGAI_PROFILE"
ENV_HOME = "TGAI_HOME"
ENV_OFFLINE = "TGAI_OFFLINE"


# Each lesson's settings, registered by the module that lesson introduces (`register_settings` below), so
# that a new lesson adds its own without editing this file: {setting name: {profile name: value}}.
_SETTINGS: dict[str, dict[str, object]] = {}


@dataclasses.dataclass(frozen=True)
class Profile:
    """Step counts and sample sizes for one profile, read as attributes: `tgai.profile().gan_steps`.

    `class` fits each notebook into 3 minutes on a 2-core CPU; `full` takes more steps and more data, for a
    GPU or a patient CPU. The settings themselves are registered by the modules that use them (lesson 03's
    in `tgai.gan`, lesson 04's in `tgai.vae`, ...) with `register_settings`; `settings()` lists them.
    """

    name: str
    description: str

    def __getattr__(self, setting: str):
        if setting.startswith("__") or setting not in _SETTINGS:
            known = ", ".join(sorted(_SETTINGS)) or "none registered"
            raise AttributeError(f"Profile has no setting {setting!r}. Registered settings: {known}.")
        return _SETTINGS[setting][self.name]

    def settings(self) -> dict:
        """Every registered setting and its value in this profile."""
        return {setting: values[self.name] for setting, values in sorted(_SETTINGS.items())}


PROFILES: dict[str, Profile] = {
    "class": Profile("class", "each notebook in at most 3 minutes on a 2-core CPU"),
    "full": Profile("full", "more steps and more data, for a GPU or a patient CPU"),
}


def register_settings(owner: str, class_: dict, full: dict) -> None:
    """Register a lesson's settings for both profiles; the module that lesson introduces calls it once.

    Args:
        owner: Who registers them (a module or lesson name), quoted in errors.
        class_: `{setting: value}` for the `class` profile (3 minutes per notebook on a 2-core CPU).
        full: The same settings for the `full` profile.

    Raises:
        ValueError: if the two profiles name different settings, or a setting is already registered with
            other values by another owner.
    """
    if not isinstance(class_, dict) or not isinstance(full, dict) or set(class_) != set(full):
        raise ValueError(
            f"{owner}: class_ and full must be dicts naming the same settings; received {sorted(class_)} and "
            f"{sorted(full)}. Give every setting a value in both profiles."
        )
    registered = {setting: {"class": class_[setting], "full": full[setting]} for setting in class_}
    for setting, values in registered.items():  # every check before any change: a refusal registers nothing
        if _SETTINGS.get(setting, values) != values:
            raise ValueError(
                f"{owner}: setting {setting!r} is already registered with other values ({_SETTINGS[setting]}). "
                "Pick a name prefixed by your lesson's topic."
            )
    _SETTINGS.update(registered)


DEFAULT_PROFILE = "class"

_state = {"profile": None, "seed": None}


def _resolve_profile(profile: str | None) -> Profile:
    """Return the named profile, else the one `TGAI_PROFILE` names, else `class`."""
    name = profile if profile is not None else os.environ.get(ENV_PROFILE, "").strip() or DEFAULT_PROFILE
    if not isinstance(name, str) or name not in PROFILES:
        source = "profile" if profile is not None else ENV_PROFILE
        raise ValueError(
            f"Unknown {source}: received {name!r}. Valid profiles: {', '.join(sorted(PROFILES))}. "
            f"Use `tgai.setup(profile='class')` or `export {ENV_PROFILE}=full`."
        )
    return PROFILES[name]


def profile() -> Profile:
    """Return the active profile: the one `setup` chose, else the one the environment names."""
    return _state["profile"] or _resolve_profile(None)


def current_seed() -> int:
    """Return the seed `setup` was last called with (0 before any call)."""
    return _state["seed"] if _state["seed"] is not None else 0


def is_offline() -> bool:
    """True when `TGAI_OFFLINE` is set to a true value: nothing may touch the network."""
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in {"1", "true", "yes", "on"}


def cache_home() -> pathlib.Path:
    """Return the cache home (`TGAI_HOME`, default `~/.cache/tgai`), creating it if needed."""
    home = pathlib.Path(os.environ.get(ENV_HOME) or pathlib.Path.home() / ".cache" / "tgai").expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


@contextlib.contextmanager
def silenced_stderr():
    """Point file descriptor 2 at /dev/null for the duration, C++ writers included.

    TensorFlow's CUDA probe logs through absl before `TF_CPP_MIN_LOG_LEVEL` is read, straight to fd 2,
    which Python's `sys.stderr` redirection cannot catch.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ and Python log noise out of notebook outputs.

    The environment variables only work if set before TensorFlow is imported, which is why
    `tgai/__init__.py` calls this first and imports TensorFlow itself, with the C++ stderr silenced.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if "tensorflow" not in sys.modules:
        with silenced_stderr():
            import tensorflow as tf

            tf.config.list_physical_devices()
    sys.modules["tensorflow"].get_logger().setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # absl ships with TensorFlow; without it there is nothing to quieten.
        pass


def device_description() -> str:
    """Return `GPU (name, ...)` when TensorFlow sees a GPU, else `CPU`."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    names = []
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        names.append(details.get("device_name", gpu.name))
    return f"GPU ({', '.join(names)})"


def weights_and_data_description() -> str:
    """Say where weights and data come from in this session, for the banner."""
    if is_offline():
        return (
            "offline: VGG16 = HED edge-detection trunk (not ImageNet), ResNet50 = random init, "
            "data = glyphs + mnist_5k + digits"
        )
    return "online: ImageNet weights and keras datasets are fetched on first use"


def setup(seed: int = 0, profile: str | None = None) -> str:
    """Seed everything, turn on determinism, pick the profile, print and return a banner.

    Introduced in lesson 00; every notebook calls it once, right after its parameters cell.

    Args:
        seed: Non-negative integer seeding Python, NumPy and Keras (and so TensorFlow).
        profile: `"class"` or `"full"`; `None` reads `TGAI_PROFILE` (default `class`).

    Returns:
        The one-line banner: tgai, TensorFlow and Keras versions, device, profile and online/offline.

    Raises:
        TypeError: if `seed` is not an integer.
        ValueError: if `seed` is negative or the profile is unknown.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be a non-negative int; received {seed!r} ({type(seed).__name__}). Use e.g. seed=0.")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int; received seed={seed}. Use e.g. seed=0.")
    chosen = _resolve_profile(profile)
    quiet_tensorflow()
    import keras
    import tensorflow as tf

    quiet_tensorflow()
    random.seed(seed)
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    _state["profile"] = chosen
    _state["seed"] = seed
    banner = (
        f"tgai {VERSION} | TensorFlow {tf.__version__} | Keras {keras.__version__} | "
        f"Python {platform.python_version()} | device {device_description()} | "
        f"profile {chosen.name} | seed {seed} | {weights_and_data_description()}"
    )
    print(banner)
    return banner
