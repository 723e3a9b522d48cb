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
    * `TGAI_SHARED` names a read-only shared layer of caches that a class shares (see `tgai.core.caches`).
    * `TGAI_THREADS=N` caps each kernel's TensorFlow, BLAS and OpenMP threads at N (for many kernels on one
      server); `setup(threads=N)` does the same from a notebook, before TensorFlow has run anything.
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
ENV_THREADS = "TGAI_THREADS"
ENV_PROGRESS = "TGAI_PROGRESS"


# Each lesson's settings, registered by the module that lesson introduces (`register_settings` below), so
# that a new lesson adds its own without editing this file: {setting name: {profile name: value}}.
_SETTINGS: dict[str, dict[str, object]] = {}


@dataclasses.dataclass(frozen=True)
class Profile:
    """Step counts and sample sizes for one profile, read as attributes: `tgai.profile().gan_steps`.

    `class` fits each notebook into 3 minutes on a 2-core CPU; `full` takes more steps and more data, for a
    GPU or a patient CPU. The settings themselves are registered by the modules that use them (lesson 03's
    in `tgai.models.gan`, lesson 04's in `tgai.models.vae`, ...) with `register_settings`; `settings()` lists them.
    """

    name: str
    description: str

    def __getattr__(self, setting: str):
        if setting.startswith("__"):
            raise AttributeError(setting)
        if setting not in _SETTINGS:
            _register_every_lesson()
        if setting not in _SETTINGS:
            known = ", ".join(sorted(_SETTINGS)) or "none registered"
            raise AttributeError(f"Profile has no setting {setting!r}. Registered settings: {known}.")
        return _SETTINGS[setting][self.name]

    def settings(self) -> dict:
        """Every registered setting and its value in this profile."""
        _register_every_lesson()
        return {setting: values[self.name] for setting, values in sorted(_SETTINGS.items())}


def _register_every_lesson() -> None:
    """Import every tgai module, so that each lesson's `register_settings` call has run.

    `import tgai` imports its submodules lazily (tgai/__init__.py), so a setting of a module not used yet is
    registered only once that module is imported: this does it when a setting is read.
    """
    import tgai

    tgai.import_all()


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

_state = {"profile": None, "seed": None, "threads": None}


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


def show_progress() -> bool:
    """True unless `TGAI_PROGRESS` is set to a false value: long training shows a progress bar on stderr.

    `make notebooks`, `make test` and `make check-seeds` set `TGAI_PROGRESS=0`, so that committed outputs hold
    no bars; a learner's own session shows them (nbval never compares stderr either way).
    """
    return os.environ.get(ENV_PROGRESS, "").strip().lower() not in {"0", "false", "no", "off"}


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
    threads = thread_limit()
    if threads is not None and _state["threads"] is None:  # an explicit setup(threads=...) wins
        limit_threads(threads)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # absl ships with TensorFlow; without it there is nothing to quieten.
        pass


def thread_limit() -> int | None:
    """Return the thread cap that `TGAI_THREADS` sets, or None when it is unset.

    Raises:
        ValueError: if `TGAI_THREADS` is not a positive integer.
    """
    value = os.environ.get(ENV_THREADS, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(
            f"{ENV_THREADS} must be a positive integer; received {ENV_THREADS}={value!r}. Use e.g. "
            f"`export {ENV_THREADS}=2` (threads per kernel), or unset it to use every core."
        )
    return int(value)


def limit_threads(threads: int) -> None:
    """Cap TensorFlow's thread pools and the BLAS and OpenMP pools (NumPy, scikit-learn) at `threads`.

    On a shared server each kernel would otherwise start as many threads as the machine has cores, and thirty
    kernels then spend their time switching between threads rather than computing.

    Args:
        threads: Positive integer: threads for each of TensorFlow's two pools (within and across ops).

    Raises:
        TypeError, ValueError: if `threads` is not a positive integer, or TensorFlow has already run an op
            with other settings (its pools are fixed from then on: restart the kernel).
    """
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise TypeError(
            f"threads must be a positive int; received {threads!r} ({type(threads).__name__}). Use e.g. threads=2."
        )
    if threads < 1:
        raise ValueError(f"threads must be a positive int; received threads={threads}. Use e.g. threads=2.")
    import tensorflow as tf
    from threadpoolctl import threadpool_limits

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError as error:
        raise ValueError(
            f"threads={threads} cannot take effect: TensorFlow has already run with "
            f"{tf.config.threading.get_intra_op_parallelism_threads() or 'all'} threads ({error}). Restart the kernel "
            f"and call tgai.setup(threads={threads}) first, or set {ENV_THREADS}={threads} before Jupyter starts."
        ) from error
    threadpool_limits(limits=threads)  # global: NumPy's BLAS and scikit-learn's OpenMP from now on
    _state["threads"] = threads


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


def setup(seed: int = 0, profile: str | None = None, threads: int | None = None) -> str:
    """Seed everything, turn on determinism, pick the profile, print and return a banner.

    Introduced in lesson 00; every notebook calls it once, right after its parameters cell.

    Args:
        seed: Non-negative integer seeding Python, NumPy and Keras (and so TensorFlow).
        profile: `"class"` or `"full"`; `None` reads `TGAI_PROFILE` (default `class`).
        threads: Cap TensorFlow, BLAS and OpenMP at this many threads (`limit_threads`); `None` keeps
            `TGAI_THREADS`, else every core.

    Returns:
        The one-line banner: tgai, TensorFlow and Keras versions, device, profile and online/offline.

    Raises:
        TypeError: if `seed` or `threads` is not an integer.
        ValueError: if `seed` is negative, the profile is unknown, or `threads` is not positive or comes
            after TensorFlow has already run with other thread settings.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be a non-negative int; received {seed!r} ({type(seed).__name__}). Use e.g. seed=0.")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int; received seed={seed}. Use e.g. seed=0.")
    chosen = _resolve_profile(profile)
    quiet_tensorflow()
    if threads is not None:
        limit_threads(threads)
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
    if _state["threads"] is not None:
        banner += f" | threads {_state['threads']}"
    print(banner)
    return banner
