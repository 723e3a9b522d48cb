"""The committed source checkpoints under `data/`: where they are, their sha256, and their provenance.

Introduced in lesson 00. `data/manifest.json` records, for each committed file, its sha256 and how it was
made (command, seed, steps, run time, a quality number). `python -m tgai pretrain NAME` regenerates a file
and its manifest entry, and rewrites the table in `data/README.md`. Loading checks the sha256 first, so a
truncated or corrupt checkpoint is detected, never loaded.
"""

from __future__ import annotations

import hashlib
import json
import pathlib

DATA_DIR = pathlib.Path(__file__).resolve().parent.parent / "data"
MANIFEST = DATA_DIR / "manifest.json"
README = DATA_DIR / "README.md"
_TABLE_START = "<!-- checkpoint table: written by python -m tgai pretrain -->"
_TABLE_END = "<!-- end of checkpoint table -->"


class CheckpointError(ValueError):
    """A committed checkpoint is missing, corrupt, or does not match the architecture."""


def sha256(path) -> str:
    """Return the sha256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest() -> dict:
    """Return the manifest of committed checkpoints (empty if none yet)."""
    if not MANIFEST.is_file():
        return {}
    return json.loads(MANIFEST.read_text())


def path(name: str) -> pathlib.Path:
    """Return the path of a committed checkpoint after checking its sha256 against the manifest.

    Raises:
        TypeError: if `name` is not a string.
        FileNotFoundError: if the checkpoint is not listed or its file is missing.
        CheckpointError: if the file's sha256 differs from the manifest (truncated or corrupt).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a checkpoint name such as 'judge'; received {name!r} ({type(name).__name__}).")
    entries = manifest()
    if name not in entries:
        valid = ", ".join(sorted(entries)) or "none yet"
        raise FileNotFoundError(
            f"No committed checkpoint named {name!r} (committed: {valid}). Use one of those names, or make it "
            "with `python -m tgai pretrain NAME`."
        )
    entry = entries[name]
    file = DATA_DIR / entry["file"]
    if not file.is_file():
        raise FileNotFoundError(f"Checkpoint {name!r} is listed but {file.name} is missing. Run `python -m tgai pretrain {name}`.")
    actual = sha256(file)
    if actual != entry["sha256"]:
        raise CheckpointError(
            f"Checkpoint {name!r} ({file.name}) is corrupt or was changed: sha256 {actual[:12]}..., expected "
            f"{entry['sha256'][:12]}... Restore it with `git checkout data/` or regenerate it with "
            f"`python -m tgai pretrain {name}`."
        )
    return file


def record(name: str, file, **provenance) -> dict:
    """Add or replace a manifest entry for a freshly written checkpoint, and refresh `data/README.md`.

    Args:
        name: Checkpoint name (`judge`, `gan`, `vae`, ...).
        file: Path of the written file, inside `data/`.
        **provenance: What made it: command, seed, steps, seconds, a quality metric, versions.

    Returns:
        The manifest entry.
    """
    file = pathlib.Path(file)
    entries = manifest()
    entry = {"file": file.name, "sha256": sha256(file), "bytes": file.stat().st_size, **provenance}
    entries[name] = entry
    MANIFEST.write_text(json.dumps(dict(sorted(entries.items())), indent=2) + "\n")
    _refresh_readme(entries)
    return entry


def _refresh_readme(entries: dict) -> None:
    if not README.is_file():
        return
    rows = ["| name | file | bytes | sha256 | made by | provenance |", "| --- | --- | --- | --- | --- | --- |"]
    for name, entry in entries.items():
        details = ", ".join(f"{key}={value}" for key, value in entry.items() if key not in {"file", "sha256", "bytes", "command"})
        rows.append(
            f"| {name} | `{entry['file']}` | {entry['bytes']:,} | `{entry['sha256']}` | `{entry.get('command', '')}` | {details} |"
        )
    text = README.read_text()
    if _TABLE_START in text and _TABLE_END in text:
        head, rest = text.split(_TABLE_START, 1)
        _, tail = rest.split(_TABLE_END, 1)
        README.write_text(head + _TABLE_START + "\n" + "\n".join(rows) + "\n" + _TABLE_END + tail)
