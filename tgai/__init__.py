"""tgai: transfer learning for generative models, with Keras 3 on TensorFlow.

The package behind the kit's notebooks. Every notebook starts with:

    import tgai
    tgai.setup(seed=SEED)

`import tgai` loads TensorFlow (with its log noise silenced first) and then every submodule, so that
`tgai.data`, `tgai.gan`, ... are there at once and each lesson's profile settings are registered. A new
module in this folder is picked up without editing this file (see CONTRIBUTING.md).
"""

from tgai import config as _config

_config.quiet_tensorflow()

import importlib  # noqa: E402
import pkgutil  # noqa: E402

from tgai.config import VERSION as __version__  # noqa: E402, N811
from tgai.config import cache_home, is_offline, profile, setup  # noqa: E402

SUBMODULES = tuple(sorted(module.name for module in pkgutil.iter_modules(__path__) if not module.name.startswith("_")))
for _name in SUBMODULES:
    importlib.import_module(f"{__name__}.{_name}")

__all__ = ["__version__", "cache_home", "is_offline", "profile", "setup", *SUBMODULES]
