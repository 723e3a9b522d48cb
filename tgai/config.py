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


@dataclasses.dataclass(frozen=True)
class Profile:
    """Step counts and sample sizes for one profile.

    `class` fits each notebook into 3 minutes on a 2-core CPU; `full` takes more steps and more data, for a
    GPU or a patient CPU. Field names say which lesson reads them.
    """

    name: str
    description: str
    # Lesson 01: feature extraction.
    feature_images: int
    probe_shots: tuple[int, ...]
    probe_cnn_epochs: int
    # Lesson 02: perceptual features.
    perceptual_size: int
    perceptual_steps: int
    upsampler_steps: int
    # Lesson 03: GAN fine-tuning.
    gan_steps: int
    gan_eval_every: int
    gan_batch_size: int
    # Lesson 04: VAE adaptation.
    vae_steps: int
    vae_eval_every: int
    vae_batch_size: int
    # Shared by lessons 03 and 04.
    seeds: int
    kid_samples: int
    # `python -m tgai pretrain`.
    pretrain_gan_steps: int
    pretrain_vae_steps: int
    judge_epochs: int


PROFILES: dict[str, Profile] = {
    "class": Profile(
        name="class",
        description="each notebook in at most 3 minutes on a 2-core CPU",
        feature_images=300,
        probe_shots=(1, 5, 20),
        probe_cnn_epochs=30,
        perceptual_size=64,
        perceptual_steps=80,
        upsampler_steps=100,
        gan_steps=100,
        gan_eval_every=25,
        gan_batch_size=16,
        vae_steps=100,
        vae_eval_every=10,
        vae_batch_size=32,
        seeds=3,
        kid_samples=500,
        pretrain_gan_steps=2000,
        pretrain_vae_steps=1500,
        judge_epochs=8,
    ),
    "full": Profile(
        name="full",
        description="more steps and more data, for a GPU or a patient CPU",
        feature_images=1000,
        probe_shots=(1, 5, 20, 50),
        probe_cnn_epochs=60,
        perceptual_size=224,
        perceptual_steps=400,
        upsampler_steps=1000,
        gan_steps=2000,
        gan_eval_every=200,
        gan_batch_size=64,
        vae_steps=1500,
        vae_eval_every=100,
        vae_batch_size=64,
        seeds=5,
        kid_samples=1000,
        pretrain_gan_steps=8000,
        pretrain_vae_steps=5000,
        judge_epochs=20,
    ),
}

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
            "data = glyphs + digits"
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
