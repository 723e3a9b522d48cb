"""tgai: transfer learning for generative models, with Keras 3 on TensorFlow.

The package behind the kit's notebooks. Every notebook starts with:

    import tgai
    tgai.setup(seed=SEED)

`import tgai` loads TensorFlow (with its log noise silenced first) and `tgai.core.config`. Every other submodule
(`tgai.data`, `tgai.models.gan`, ...) is imported the first time it is used, as an attribute or by
`from tgai.models import gan` (PEP 562, `tgai._lazy`), so that a kernel or a child process pays only for what it uses: a
lesson
on feature extraction never imports the GAN. A new module in this folder is found without editing this
file (see CONTRIBUTING.md), and `tgai.profile()` imports the modules that register settings when a setting
is first read.
"""

from tgai.core import config as _config

_config.quiet_tensorflow()

from tgai import _lazy  # noqa: E402
from tgai.core.config import VERSION as __version__  # noqa: E402, N811
from tgai.core.config import cache_home, is_offline, profile, setup  # noqa: E402

SUBMODULES = _lazy.attach(__name__, __path__, globals())

__all__ = ["__version__", "cache_home", "is_offline", "profile", "setup", *SUBMODULES]


def import_all() -> None:
    """Import every module of the kit: what `import tgai` did before imports became lazy (settings, tests)."""
    _lazy.import_all(__name__)
