"""Settings for every test under tests/ (the notebooks under nbval are not affected).

`TGAI_XLA=0`: models built in tests compile their steps without XLA. XLA costs seconds of compilation for each
freshly built model, and what the unit tests check (shapes, losses, freezing, errors, resume bookkeeping) does
not depend on it. The tests whose subject is XLA pass `jit_compile=True` or restore `TGAI_XLA=auto`: the
determinism and resume harnesses (tests/scripts/train_briefly.py), and the XLA-against-not comparisons.
"""

import os

os.environ.setdefault("TGAI_XLA", "0")
