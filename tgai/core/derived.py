"""Cache files the kit can compute again: checked when read, rebuilt when damaged, skipped when the disk is full.

The glyph renders (`tgai.data`), the extracted features (`tgai.backbones`) and the lessons' `summary.json` files
only save time: each can be made again from what the kit ships. So neither a damaged copy nor a full disk should
stop a lesson. On a classroom server both are common: home directories have quotas, and caches get copied
between machines, synced, or unpacked by other tools.

- **Reading** (`read`): every candidate copy (the shared layer's first, then the cache home's) is loaded and
  checked. A copy that does not load, or whose content fails its check, is reported once with a
  `DamagedCacheWarning` that names the file; the cache home's copy is deleted, and the caller rebuilds it.
- **Writing** (`write`): a write that fails for lack of room or permission (no space, quota, read-only) gives
  one `UnwritableCacheWarning` that names `TGAI_HOME`, the space needed and the fix. The caller carries on with
  the data in memory.

Files the kit cannot recompute (downloaded weights, committed checkpoints, the bundle) do not come through
here: they fail with an error that names the file and the command that restores it (`tgai.core.assets`,
`tgai.core.checkpoints`).

Usage:

    stored = derived.read(caches.candidates(relative), load_npz, check=has_the_right_shapes)
    if stored is None:
        result = compute()
        derived.write(caches.writable(relative), lambda path: np.savez(path, **result), size=nbytes)
"""

from __future__ import annotations

import errno
import json
import pathlib
import shutil
import warnings
import zipfile
from collections.abc import Callable, Iterable

import numpy as np

from tgai.core import caches, config, files

# The errors a full, over-quota or read-only cache home raises. Anything else is a bug and is raised.
_UNWRITABLE = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}
# What loading a truncated or garbage file raises, from numpy's zip reader down to the JSON parser.
_UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError)

_reported_damaged: set[str] = set()
_reported_unwritable: set[str] = set()


class DamagedCacheWarning(UserWarning):
    """A cache file did not load or failed its check; the kit computes it again."""


class UnwritableCacheWarning(UserWarning):
    """The cache home has no room or no write permission; the kit works from memory."""


def read(paths: Iterable, reader: Callable, check: Callable | None = None):
    """Return the first candidate that loads and passes `check`, or None if none does.

    Args:
        paths: Candidate files, best first (`caches.candidates`); missing ones are skipped.
        reader: Loads one file: `reader(path) -> value`. Whatever a damaged file makes it raise is caught.
        check: Optional `check(value) -> str | None`: a reason the content is wrong, or None if it is right.

    Returns:
        The loaded value, or None when there is no usable copy (the caller then computes and `write`s it).
    """
    for path in paths:
        path = pathlib.Path(path)
        if not path.is_file():
            continue
        try:
            value = reader(path)
            problem = check(value) if check is not None else None
        except _UNREADABLE as error:
            problem = f"it does not load ({type(error).__name__}: {error})"
        if problem is None:
            return value
        _discard(path, problem)
    return None


def write(path, writer: Callable, size: int) -> bool:
    """Write a cache file atomically with `writer(temporary_path)`; on a full or read-only disk, warn and go on.

    Args:
        path: The destination, under the cache home (`caches.writable`) or a folder the caller chose.
        writer: Writes the file to the temporary path it is given (`np.savez`, `Path.write_text`, ...).
        size: Roughly how many bytes the file takes, for the warning's "space needed".

    Returns:
        True if the file was written; False if the disk refused it (one warning per cache home and process).

    Raises:
        OSError: for any failure other than no space, quota or permission.
    """
    path = pathlib.Path(path)
    try:
        with files.atomic_path(path) as temporary:
            writer(temporary)
        return True
    except OSError as error:
        if error.errno not in _UNWRITABLE:
            raise
        _report_unwritable(path, error, size)
        return False


def load_npz(path, names=None) -> dict:
    """Load every array (or the named ones) of an `.npz` file into memory, so that a truncated file fails here.

    Raises:
        ValueError: if the file is not an `.npz` archive; numpy's and zipfile's errors for damaged ones.
    """
    with open(path, "rb") as handle:
        start = handle.read(4)
    if start != b"PK\x03\x04":  # every zip archive, and so every .npz, starts with this signature
        raise ValueError(f"it is not an .npz archive (it starts with {start!r})")
    loaded = np.load(path, allow_pickle=False)
    with loaded as archive:
        arrays = {name: archive[name] for name in (names if names is not None else archive.files)}
    # numpy hands back the raw bytes of a member that is not an .npy array instead of raising.
    foreign = [name for name, value in arrays.items() if not isinstance(value, np.ndarray)]
    if foreign:
        raise ValueError(f"its members {foreign} are not numpy arrays")
    return arrays


def _discard(path: pathlib.Path, problem: str) -> None:
    shared = caches.is_shared(path)
    if str(path) not in _reported_damaged:
        _reported_damaged.add(str(path))
        action = (
            "It is in the read-only shared layer, so it is left there: ask the instructor to run "
            "`make shared` again. This kernel computes its own copy."
            if shared
            else "It was deleted and is being computed again; nothing needs doing."
        )
        warnings.warn(f"tgai: damaged cache file {path}: {problem}. {action}", DamagedCacheWarning, stacklevel=3)
    if not shared:
        path.unlink(missing_ok=True)


def _report_unwritable(path: pathlib.Path, error: OSError, size: int) -> None:
    # One warning per cache home (a lesson writes glyphs, features and results there), or per folder elsewhere.
    home = config.cache_home()
    where = str(home) if path.is_relative_to(home) else str(path.parent)
    if where in _reported_unwritable:
        return
    _reported_unwritable.add(where)
    free = _free_bytes(path.parent)
    room = f"{free / 1e6:.1f} MB free" if free is not None else "free space unknown"
    warnings.warn(
        f"tgai: cannot write the cache file {path} ({error.strerror or error}): about {size / 1e6:.1f} MB needed, "
        f"{room}, in the cache home TGAI_HOME={config.cache_home()}. Working from memory: this run is unaffected, "
        "but the next one computes the file again. To keep the cache, free space there or point TGAI_HOME at a "
        "folder with room (TGAI_HOME=/path/with/space), then restart the kernel.",
        UnwritableCacheWarning,
        stacklevel=3,
    )


def _free_bytes(folder: pathlib.Path) -> int | None:
    """Free bytes on the filesystem that holds `folder` (or its nearest existing parent)."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def reset_reports() -> None:
    """Forget which files were reported, so the next problem warns again (for tests and long-lived kernels)."""
    _reported_damaged.clear()
    _reported_unwritable.clear()


def _load_json(path) -> dict:
    return json.loads(pathlib.Path(path).read_text())


# Each derivable cache folder and how one of its files loads (the results are the lessons' summary.json files).
FOLDERS = {"glyphs": load_npz, "features": load_npz, "results": _load_json}


def damaged(root) -> list[tuple[pathlib.Path, str]]:
    """Every derivable cache file under `root` (a cache home or shared layer) that does not load.

    Returns:
        `[(path, reason)]`, sorted by path; empty when every file loads.
    """
    problems = []
    for folder, reader in FOLDERS.items():
        for path in sorted((pathlib.Path(root) / folder).rglob("*")):
            if not path.is_file() or path.name.startswith("."):
                continue
            try:
                reader(path)
            except _UNREADABLE as error:
                problems.append((path, f"{type(error).__name__}: {error}"))
    return problems


def describe() -> list[str]:
    """Lines for `python -m tgai doctor`: the cache home's free space and every damaged cache file.

    A damaged file does not make doctor fail (the kit rebuilds it when next used), but each is listed with its fix.
    """
    home = config.cache_home()
    free = _free_bytes(home)
    lines = [f"cache home free space: {free / 1e9:.2f} GB" if free is not None else "cache home free space: unknown"]
    problems = damaged(home)
    shared = caches.shared_home()
    if shared is not None:
        problems += damaged(shared)
    lines.append(f"damaged cache files: {len(problems) or 'none'}")
    for path, reason in problems:
        fix = "ask the instructor to run `make shared` again" if caches.is_shared(path) else f"rm {path}"
        lines.append(f"  DAMAGED {path}: {reason}; the kit rebuilds it when next used (or: {fix})")
    return lines
