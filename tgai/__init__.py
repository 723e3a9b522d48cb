"""tgai: transfer learning for generative models, with Keras 3 on TensorFlow.

The package behind the kit's notebooks. Every notebook starts with:

    import tgai
    tgai.setup(seed=SEED)

`import tgai` loads TensorFlow (with its log noise silenced first) and `tgai.config`. Every other submodule
(`tgai.data`, `tgai.gan`, ...) is imported the first time it is used, as an attribute or by
`from tgai import gan` (PEP 562), so that a kernel or a child process pays only for what it uses: a lesson
on feature extraction never imports the GAN. A new module in this folder is found without editing this
file (see CONTRIBUTING.md), and `tgai.profile()` imports the modules that register settings when a setting
is first read.
"""

from tgai import config as _config

_config.quiet_tensorflow()

import importlib  # noqa: E402
import pkgutil  # noqa: E402

from tgai.config import VERSION as __version__  # noqa: E402, N811
from tgai.config import cache_home, is_offline, profile, setup  # noqa: E402

SUBMODULES = tuple(sorted(module.name for module in pkgutil.iter_modules(__path__) if not module.name.startswith("_")))

__all__ = ["__version__", "cache_home", "is_offline", "profile", "setup", *SUBMODULES]


def __getattr__(name: str):
    """Import the submodule `name` on first use (`tgai.gan`), as if it had been imported eagerly."""
    if name in SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(SUBMODULES))


def import_all() -> None:
    """Import every submodule: what `import tgai` did before imports became lazy (settings, `dir`, tests)."""
    for name in SUBMODULES:
        importlib.import_module(f"{__name__}.{name}")
