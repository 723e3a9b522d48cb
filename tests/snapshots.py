"""A folder's contents as data, to check that nothing wrote into it (the read-only shared layer's tests).

Importable from pytest (tests/ is on `sys.path`).
"""

from __future__ import annotations

import hashlib
import pathlib


def snapshot(folder: pathlib.Path) -> dict:
    """Every file under `folder` with its size, modification time and sha256: any write changes it."""
    return {
        str(path.relative_to(folder)): (
            path.stat().st_size,
            path.stat().st_mtime_ns,
            hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
