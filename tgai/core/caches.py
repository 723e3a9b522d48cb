"""Where cached files are found: a read-only shared layer first, then the learner's own cache home.

On a JupyterHub server the instructor unpacks the offline bundle once into a shared folder that learners can
read but not write (and warms the glyph and feature caches there, `make shared SHARED=/srv/tgai`), then
points every learner's kernel at it with `TGAI_SHARED`. Each learner keeps a personal, writable
`TGAI_HOME`. Lookups read the shared layer first; every write goes to the cache home and never to the
shared layer (`files.atomic_path` refuses it), so thirty kernels share one copy of the data without ever
contending for it.

Usage:

    path = caches.find("glyphs/glyphs-v1-digits-train-10000-32-5.npz")   # shared copy if there is one
    with files.atomic_path(caches.writable(relative)) as temporary: ...   # always the cache home
"""

from __future__ import annotations

import os
import pathlib

from tgai.core import config

ENV_SHARED = "TGAI_SHARED"


def shared_home() -> pathlib.Path | None:
    """Return the shared layer that `TGAI_SHARED` names, or None when it is unset.

    Raises:
        ValueError: if `TGAI_SHARED` names something that is not an existing folder.
    """
    value = os.environ.get(ENV_SHARED, "").strip()
    if not value:
        return None
    path = pathlib.Path(value).expanduser()
    if not path.is_dir():
        raise ValueError(
            f"{ENV_SHARED} must name an existing folder; received {ENV_SHARED}={value!r}. Unpack the bundle there "
            f"first (`TGAI_HOME={value} python -m tgai unbundle PATH`), or unset {ENV_SHARED}."
        )
    path = path.resolve()
    if config.cache_home().resolve().is_relative_to(path):
        raise ValueError(
            f"TGAI_HOME must lie outside the shared layer, which tgai never writes; received {ENV_SHARED}={value!r} "
            f"and cache home {str(config.cache_home())!r}. Give each learner a home of their own; to fill the "
            f"shared layer itself, unset {ENV_SHARED} and set TGAI_HOME={value}."
        )
    return path


def find(relative) -> pathlib.Path:
    """Return the shared layer's copy of `relative` if it has one, else its place in the cache home.

    Args:
        relative: A path inside a cache folder, such as `"features/vgg16-....npz"`.

    Returns:
        An existing file in the shared layer, or the (possibly absent) file under `tgai.cache_home()`.
    """
    relative = _relative(relative)
    shared = shared_home()
    if shared is not None and (shared / relative).is_file():
        return shared / relative
    return writable(relative)


def candidates(relative) -> list[pathlib.Path]:
    """Every place `relative` may be read from, best first: the shared layer's copy, then the cache home's.

    A reader that finds the shared copy damaged falls back to the learner's own (`tgai.core.derived.read`).
    """
    relative = _relative(relative)
    shared = shared_home()
    return ([shared / relative] if shared is not None else []) + [writable(relative)]


def writable(relative) -> pathlib.Path:
    """Return where `relative` is written: always under the learner's cache home."""
    return config.cache_home() / _relative(relative)


def is_shared(path) -> bool:
    """True if `path` lies inside the shared layer (which nothing in the kit may write)."""
    shared = shared_home()
    if shared is None:
        return False
    return pathlib.Path(path).resolve().is_relative_to(shared)


def describe() -> list[str]:
    """One line per layer for `python -m tgai doctor`: where it is, whether it is writable, what it holds."""
    shared = shared_home()
    lines = [f"cache home (writable): {config.cache_home()} ({_contents(config.cache_home())})"]
    if shared is None:
        lines.append(f"shared layer: none ({ENV_SHARED} is unset)")
    else:
        access = "writable by this user, but never written by tgai" if os.access(shared, os.W_OK) else "read-only"
        lines.append(f"shared layer ({access}): {shared} ({_contents(shared)})")
    return lines


def _contents(folder: pathlib.Path) -> str:
    counts = []
    for name in ("assets", "glyphs", "features", "results"):
        files = [path for path in (folder / name).glob("*") if path.is_file() and not path.name.startswith(".")]
        counts.append(f"{name} {len(files)}")
    return ", ".join(counts) + " files"


def _relative(relative) -> pathlib.PurePath:
    relative = pathlib.PurePosixPath(str(relative))
    if relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"relative must be a path inside a cache folder; received {str(relative)!r}.")
    return relative
