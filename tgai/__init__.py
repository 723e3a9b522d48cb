"""tgai: transfer learning for generative models, with Keras 3 on TensorFlow.

The package behind the kit's notebooks. Every notebook starts with:

    import tgai
    tgai.setup(seed=SEED)

Submodules (`tgai.data`, `tgai.backbones`, `tgai.metrics`, ...) are imported on first use, so that
`import tgai` stays light and TensorFlow's log settings are in place before TensorFlow loads.
"""

from tgai import config as _config

_config.quiet_tensorflow()

import importlib  # noqa: E402

from tgai.config import VERSION as __version__  # noqa: E402, N811
from tgai.config import cache_home, is_offline, profile, setup  # noqa: E402

SUBMODULES = (
    "assets",
    "backbones",
    "config",
    "data",
    "gan",
    "glyphs",
    "judge",
    "metrics",
    "perceptual",
    "plots",
    "show",
    "training",
    "validation",
    "vae",
)

__all__ = ["__version__", "cache_home", "is_offline", "profile", "setup", *SUBMODULES]


def __getattr__(name):
    """Import a submodule on first attribute access (`tgai.data`, `tgai.gan`, ...)."""
    if name in SUBMODULES:
        return importlib.import_module(f"tgai.{name}")
    raise AttributeError(f"module 'tgai' has no attribute {name!r}")
