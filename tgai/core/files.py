"""The kit's files on disk: atomic writes for every cache and result file, and the digest every check reads.

Learners share caches: a JupyterHub class points many kernels at one `TGAI_HOME`, and one learner may run two
notebooks at once. Each writer therefore writes a temporary file of its own (a unique name from `tempfile`,
in the destination's folder) and renames it over the destination in one atomic step, so a reader sees the
old file or the new one, never half of one, and concurrent writers never rename each other's file away.
Nothing is ever written into the read-only shared layer (`tgai.core.caches`): a write there is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import tempfile

from tgai.core import caches


@contextlib.contextmanager
def atomic_path(path):
    """Yield a unique temporary path next to `path`; on success, move it over `path` atomically.

    Write the file to the yielded path (with any library: `np.savez`, `h5py`, `json`). If the block
    raises, the temporary file is removed and `path` is left as it was.

    Args:
        path: The destination file; its folder is created if needed.

    Yields:
        A `pathlib.Path` with the destination's suffix, so that libraries that add one do not.

    Raises:
        PermissionError: if `path` lies in the shared layer that `TGAI_SHARED` names.
    """
    path = pathlib.Path(path)
    if caches.is_shared(path):
        raise PermissionError(
            f"tgai never writes into the shared layer ({caches.ENV_SHARED}); refused path={str(path)!r}. Write under "
            "tgai.cache_home() instead (caches.writable)."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    temporary = pathlib.Path(name)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def digest(path, algorithm: str = "sha256") -> str:
    """Return the hex digest of the file at `path`, read in 1 MiB chunks (weights files run to hundreds of MiB)."""
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest()
