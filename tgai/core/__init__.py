"""The kit's infrastructure: what every lesson relies on and none of them teaches.

    config          setup(): seed, determinism, profile, cache home, threads, quiet logs, banner; settings
    seeds           derive(seed, purpose, index): the one place a run's seed becomes its parts' seeds
    validation      argument checks of the public API, with errors that name the argument and the fix
    keras_internals the Keras internals the kit needs, behind one helper, checked per Keras version
    files           atomic writes and sha256
    caches          the cache home (TGAI_HOME) and the read-only shared layer (TGAI_SHARED)
    assets          downloadable files: URLs, hashes, licences, the offline bundle
    offline_weights the VGG16 trunk used offline
    checkpoints     the committed weights under data/: one format, sha256, the manifest
    results         lessons' summary.json
    measured        the committed benchmark rows that lessons cite (benchmarks/results.json)
    lessons         the one list of lessons, and the tables generated from it

Submodules are imported on first use (`tgai.core.config`, `from tgai.core import files`).
"""

from tgai import _lazy

SUBMODULES = _lazy.attach(__name__, __path__, globals())
