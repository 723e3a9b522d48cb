"""Committed weight files: one format, one error type, their sha256 and their provenance.

Introduced in lesson 00. `data/manifest.json` records, for each committed file, its sha256 and how it was
made (command, seed, steps, run time, a quality number). `python -m tgai pretrain NAME` regenerates a file
and its manifest entry, and rewrites the table in `data/README.md`. Loading checks the sha256 first, so a
truncated or corrupt checkpoint is detected, never loaded.

Every weight file of the kit (the judge, the source GAN, the source VAE, and anything a learner saves with
`save`) has one layout: an HDF5 file with one dataset per weight at `<network>/<layer>/<index>`, written
from `layer.get_weights()` and read back with `layer.set_weights()`, both public Keras APIs. `load` checks
every layer of every network before it assigns anything, so a mismatch is reported layer by layer and
leaves the model as it was.

Where the files are: `TGAI_DATA_DIR` if set; else the `data/` folder of the repository this package was
installed from (`pip install -e .` in a clone); else the package's own `tgai/weights/`, which a wheel carries
(`make dist`). A missing folder raises an error naming the fixes.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import pathlib

import h5py
import numpy as np

from tgai.core import files

ENV_DATA_DIR = "TGAI_DATA_DIR"
# The repository's data/ folder, next to the package in a clone; `data_dir()` lets TGAI_DATA_DIR override it.
DATA_DIR = pathlib.Path(__file__).resolve().parents[2] / "data"
# The same files as package data of an installed wheel (pyproject.toml maps data/ to tgai.weights).
PACKAGED = "weights"
_TABLE_START = "<!-- checkpoint table: written by python -m tgai pretrain -->"
_TABLE_END = "<!-- end of checkpoint table -->"


class CheckpointError(ValueError):
    """A weight file is corrupt, changed, unreadable, or does not match the model it is loaded into."""


def data_dir() -> pathlib.Path:
    """Return the folder of committed weights: `TGAI_DATA_DIR` if set, else the repository's `data/`.

    Raises:
        FileNotFoundError: if the folder has no `manifest.json`, naming the three ways to provide one.
    """
    folder = _folder()
    if not (folder / "manifest.json").is_file():
        source = f"{ENV_DATA_DIR}={folder}" if os.environ.get(ENV_DATA_DIR) else f"the package ({folder})"
        raise FileNotFoundError(
            f"No committed weights found: {source} has no manifest.json. Install the kit's wheel (`make dist` "
            f"builds it), or clone the repository and install it with `pip install -e .`, or point "
            f"{ENV_DATA_DIR} at a copy of its data/ folder."
        )
    return folder


def _folder() -> pathlib.Path:
    """`TGAI_DATA_DIR`, else the clone's data/ if it has a manifest, else the installed package's weights/."""
    if os.environ.get(ENV_DATA_DIR):
        return pathlib.Path(os.environ[ENV_DATA_DIR]).expanduser()
    if (DATA_DIR / "manifest.json").is_file():
        return DATA_DIR
    packaged = importlib.resources.files("tgai") / PACKAGED
    return pathlib.Path(str(packaged)) if (packaged / "manifest.json").is_file() else DATA_DIR


def manifest() -> dict:
    """Return the manifest of committed checkpoints (empty if none yet)."""
    manifest_file = _folder() / "manifest.json"
    if not manifest_file.is_file():
        return {}
    return json.loads(manifest_file.read_text())


def path(name: str) -> pathlib.Path:
    """Return the path of a committed checkpoint after checking its sha256 against the manifest.

    Raises:
        TypeError: if `name` is not a string.
        FileNotFoundError: if the data folder has no manifest (see `data_dir`), or the checkpoint is not listed or
            its file is missing.
        CheckpointError: if the file's sha256 differs from the manifest (truncated or corrupt).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a checkpoint name such as 'judge'; received {name!r} ({type(name).__name__}).")
    folder = data_dir()  # first: a folder without a manifest is named as such, with both ways to provide one
    entries = manifest()
    if name not in entries:
        valid = ", ".join(sorted(entries)) or "none yet"
        raise FileNotFoundError(
            f"No committed checkpoint named {name!r} (committed: {valid}). Use one of those names, or make it "
            "with `python -m tgai pretrain NAME`."
        )
    entry = entries[name]
    file = folder / entry["file"]
    if not file.is_file():
        raise FileNotFoundError(
            f"Checkpoint {name!r} is listed but {file.name} is missing. Run `python -m tgai pretrain {name}`."
        )
    actual = files.digest(file)
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
    entry = {"file": file.name, "sha256": files.digest(file), "bytes": file.stat().st_size, **provenance}
    entries[name] = entry
    _write_text(data_dir() / "manifest.json", json.dumps(dict(sorted(entries.items())), indent=2) + "\n")
    _refresh_readme(entries)
    return entry


def _write_text(path: pathlib.Path, text: str) -> None:
    """Write a text file atomically, as every other file of the kit is (`tgai.core.files.atomic_path`)."""
    with files.atomic_path(path) as temporary:
        temporary.write_text(text)


def _refresh_readme(entries: dict) -> None:
    readme = data_dir() / "README.md"
    if not readme.is_file():
        return
    rows = ["| name | file | bytes | sha256 | made by | provenance |", "| --- | --- | --- | --- | --- | --- |"]
    for name, entry in entries.items():
        details = ", ".join(
            f"{key}={value}" for key, value in entry.items() if key not in {"file", "sha256", "bytes", "command"}
        )
        rows.append(
            f"| {name} | `{entry['file']}` | {entry['bytes']:,} | `{entry['sha256']}` | `{entry.get('command', '')}` | "
            f"{details} |"
        )
    text = readme.read_text()
    if _TABLE_START in text and _TABLE_END in text:
        head, rest = text.split(_TABLE_START, 1)
        _, tail = rest.split(_TABLE_END, 1)
        _write_text(readme, head + _TABLE_START + "\n" + "\n".join(rows) + "\n" + _TABLE_END + tail)


def save(networks: dict, path, **attributes) -> pathlib.Path:
    """Write the weights of named networks to one HDF5 file, atomically (a unique temporary, then a rename).

    Introduced in lesson 03. Layout: one dataset per weight at `<network>/<layer>/<index>`, from the public
    `layer.get_weights()`; `attributes` (e.g. `latent_dim=16`) are stored on the root, to name in errors.

    Args:
        networks: `{name: keras.Model}`, e.g. `{"generator": ..., "discriminator": ...}`.
        path: The file to write.
        **attributes: Numbers or strings that describe how the networks were built.

    Returns:
        The path written.
    """
    path = pathlib.Path(path)
    with files.atomic_path(path) as temporary, h5py.File(temporary, "w") as handle:
        for key, value in attributes.items():
            handle.attrs[key] = value
        for network_name, network in networks.items():
            for layer in network.layers:
                for index, value in enumerate(layer.get_weights()):
                    handle.create_dataset(f"{network_name}/{layer.name}/{index}", data=np.asarray(value))
    return path


def load(networks: dict, path, fix: str = "save it again with tgai.core.checkpoints.save") -> None:
    """Load weights written by `save` into named networks, after checking every layer of every network.

    Introduced in lesson 03. Nothing is assigned unless every layer matches, so a failed load leaves the
    networks as they were.

    Args:
        networks: `{name: keras.Model}` with the same names and layers as when the file was saved.
        path: The file to read.
        fix: What the user should do about a bad file, quoted in the error (e.g. the pretrain command).

    Raises:
        FileNotFoundError: if `path` does not exist.
        CheckpointError: if the file is not a readable weight file, or any layer is missing, has other
            shapes, or the file holds layers the networks lack; the message lists each by name.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"path must be an existing weights file; received path={str(path)!r}. To make one, {fix}."
        )
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise CheckpointError(f"{path.name} is not a readable weights file ({error}). To replace it, {fix}.") from None
    with handle:
        problems, assignments = [], []
        for network_name, network in networks.items():
            expected_layers = set()
            for layer in network.layers:
                current = layer.get_weights()
                if not current:
                    continue
                expected_layers.add(layer.name)
                group = handle.get(f"{network_name}/{layer.name}")
                stored = (
                    [group[str(index)][()] for index in range(len(group))] if isinstance(group, h5py.Group) else None
                )
                if stored is None:
                    problems.append(f"{network_name}/{layer.name}: missing from the file")
                elif [value.shape for value in stored] != [value.shape for value in current]:
                    found, wanted = [value.shape for value in stored], [value.shape for value in current]
                    problems.append(f"{network_name}/{layer.name}: file has {found}, model expects {wanted}")
                else:
                    assignments.append((layer, stored))
            group = handle.get(network_name)
            extra = sorted(set(group) - expected_layers) if isinstance(group, h5py.Group) else []
            if extra:
                problems.append(f"{network_name}: the file has layers this model lacks ({', '.join(extra)})")
        if problems:
            described = ", ".join(f"{key}={value}" for key, value in handle.attrs.items()) or "no build attributes"
            raise CheckpointError(
                f"{path.name} does not match this model (the file was saved with {described}):\n  "
                + "\n  ".join(problems)
                + f"\nBuild the model as the file was saved, or {fix}."
            )
    for layer, values in assignments:
        layer.set_weights(values)
