"""Import a package's submodules on first use (PEP 562), so that a kernel pays only for what it uses.

Used by `tgai`, `tgai.core` and `tgai.models`: `tgai.models.gan` (or `from tgai.models import gan`) imports the
GAN the first time it is asked for, and a lesson on feature extraction never imports it. A new module in one of
these folders is found without editing any `__init__.py`.
"""

from __future__ import annotations

import importlib
import pkgutil


def submodules(package: str, path) -> tuple[str, ...]:
    """The names of the public modules and packages in a package's folder."""
    return tuple(sorted(module.name for module in pkgutil.iter_modules(path) if not module.name.startswith("_")))


def attach(package: str, path, namespace: dict) -> tuple[str, ...]:
    """Give a package's namespace the PEP 562 `__getattr__` and `__dir__` that import its submodules lazily."""
    names = submodules(package, path)

    def __getattr__(name: str):  # noqa: N807 (the module hook PEP 562 names)
        if name in names:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():  # noqa: N807
        return sorted(set(namespace) | set(names))

    namespace["__getattr__"], namespace["__dir__"] = __getattr__, __dir__
    return names


def import_all(package: str) -> None:
    """Import every module under `package`, subpackages included."""
    root = importlib.import_module(package)
    for module in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        if not module.name.rsplit(".", 1)[-1].startswith("_"):
            importlib.import_module(module.name)
