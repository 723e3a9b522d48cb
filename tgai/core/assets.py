"""The registry of downloadable files, and how they are fetched, checked, cached and bundled.

Introduced in lesson 00. Each asset has a url, a hash (sha256, or the md5 that Keras itself checks for its
weight files), a size, a licence and a file name. `fetch` downloads atomically (temporary file, then
rename), checks the hash, retries once on a mismatch, and never leaves a corrupt file in the cache.

Usage notes:
    * `python -m tgai fetch NAME...` or `--all` prefetches assets before a workshop.
    * `python -m tgai bundle PATH` packs the cache into one archive; `python -m tgai unbundle PATH` (or
      `tar -xzf PATH -C $TGAI_HOME`) unpacks it on a machine without internet.
    * With `TGAI_OFFLINE=1`, nothing touches the network: a missing asset raises `AssetMissingError`,
      which names the command that fetches it.
    * A file already in Keras' own cache (`~/.keras/models`, `~/.keras/datasets`) is found and used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pathlib
import tarfile
import tempfile
import urllib.request

from tgai.core import caches, config, files

_KERAS_APPLICATIONS = "https://storage.googleapis.com/tensorflow/keras-applications/"
_KERAS_DATASETS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


class AssetError(RuntimeError):
    """Base class for asset problems."""


class AssetMissingError(AssetError, FileNotFoundError):
    """An asset is not in the cache and may not be downloaded (offline)."""


class AssetIntegrityError(AssetError, ValueError):
    """A downloaded or cached file does not match its registered hash or size (a bad value, so a ValueError)."""


@dataclasses.dataclass(frozen=True)
class Asset:
    """One downloadable file.

    Attributes:
        name: Registry key, used on the command line.
        url: Where online users download it from.
        filename: File name in the cache.
        file_hash: Hex digest of the file.
        hash_algorithm: `"sha256"`, or `"md5"` where that is the hash Keras itself checks.
        size: Size in bytes, or None when unknown.
        licence: Licence of the content.
        description: One line for `python -m tgai doctor`.
        keras_subdir: Folder under `~/.keras` where Keras' own downloader caches it, if any.
    """

    name: str
    url: str
    filename: str
    file_hash: str
    hash_algorithm: str
    size: int | None
    licence: str
    description: str
    keras_subdir: str | None = None


REGISTRY: dict[str, Asset] = {
    asset.name: asset
    for asset in (
        Asset(
            name="vgg16_imagenet",
            url=_KERAS_APPLICATIONS + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
            filename="vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
            file_hash="6d6bbae143d832006294945121d1f1fc",
            hash_algorithm="md5",
            size=58889256,
            licence="CC BY 4.0 (VGG authors); distributed by the Keras team",
            description="VGG16 ImageNet weights without the classifier head (Keras applications)",
            keras_subdir="models",
        ),
        Asset(
            name="resnet50_imagenet",
            url=_KERAS_APPLICATIONS + "resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
            filename="resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
            file_hash="4d473c1dd8becc155b73f8504c6f6626",
            hash_algorithm="md5",
            size=94765736,
            licence="MIT (Kaiming He's ResNet release); distributed by the Keras team",
            description="ResNet50 ImageNet weights without the classifier head (Keras applications)",
            keras_subdir="models",
        ),
        Asset(
            name="mnist",
            url=_KERAS_DATASETS + "mnist.npz",
            filename="mnist.npz",
            file_hash="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
            hash_algorithm="sha256",
            size=11490434,
            licence="CC BY-SA 3.0 (Yann LeCun and Corinna Cortes)",
            description="MNIST handwritten digits, 70,000 images at 28x28",
            keras_subdir="datasets",
        ),
        *(
            Asset(
                name=f"fashion_mnist_{part}",
                url=_KERAS_DATASETS + filename,
                filename=filename,
                file_hash=md5,
                hash_algorithm="md5",
                size=size,
                licence="MIT (Zalando SE)",
                description=f"Fashion-MNIST {part.replace('_', ' ')}",
                keras_subdir="datasets/fashion-mnist",
            )
            for part, filename, md5, size in (
                ("train_images", "train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26421880),
                ("train_labels", "train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe", 29515),
                ("test_images", "t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79", 4422102),
                ("test_labels", "t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310", 5148),
            )
        ),
        Asset(
            # The binary release, read with NumPy: the Python release is pickled, and tgai never unpickles.
            name="cifar10",
            url="https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
            filename="cifar-10-binary.tar.gz",
            file_hash="c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
            hash_algorithm="sha256",
            size=170052171,
            licence="Free for research (Krizhevsky, Nair and Hinton)",
            description="CIFAR-10 binary release, 60,000 colour images at 32x32",
        ),
    )
}

# Datasets made of several registry entries.
GROUPS: dict[str, tuple[str, ...]] = {
    "fashion_mnist": tuple(name for name in REGISTRY if name.startswith("fashion_mnist_")),
}

_CHUNK = 1 << 20


def _expand(names) -> list[str]:
    """Expand group names (e.g. `fashion_mnist`) into registry names, checking each."""
    expanded = []
    for name in names:
        if name in GROUPS:
            expanded.extend(GROUPS[name])
        elif name in REGISTRY:
            expanded.append(name)
        else:
            valid = ", ".join(sorted([*REGISTRY, *GROUPS]))
            raise ValueError(f"Unknown asset: received {name!r}. Valid assets: {valid}.")
    return expanded


def get(name: str | Asset) -> Asset:
    """Return the registry entry for `name` (an `Asset` passes through)."""
    if isinstance(name, Asset):
        return name
    return REGISTRY[_expand([name])[0]]


def cache_dir() -> pathlib.Path:
    """Return the folder that holds downloaded assets (`$TGAI_HOME/assets`)."""
    path = config.cache_home() / "assets"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_path(asset: str | Asset) -> pathlib.Path:
    """Return where `asset` lives in the tgai cache (whether or not it is there)."""
    return cache_dir() / get(asset).filename


def verify(asset: str | Asset, path) -> bool:
    """True if the file at `path` has the asset's size and hash."""
    asset = get(asset)
    path = pathlib.Path(path)
    if not path.is_file():
        return False
    if asset.size is not None and path.stat().st_size != asset.size:
        return False
    return files.digest(path, asset.hash_algorithm) == asset.file_hash


def _keras_cache_path(asset: Asset) -> pathlib.Path | None:
    if asset.keras_subdir is None:
        return None
    keras_home = pathlib.Path(os.environ.get("KERAS_HOME", pathlib.Path.home() / ".keras"))
    return keras_home / asset.keras_subdir / asset.filename


def status(asset: str | Asset) -> tuple[str, pathlib.Path | None]:
    """Return `("present", path)`, `("corrupt", path)` or `("missing", None)` for an asset.

    Looks in the read-only shared layer (`TGAI_SHARED`, see `tgai.core.caches`) first, then the cache home, then
    Keras' own cache.
    """
    asset = get(asset)
    corrupt = None
    shared = caches.find(f"assets/{asset.filename}")
    for path in dict.fromkeys((shared, cache_path(asset), _keras_cache_path(asset))):
        if path is not None and path.is_file():
            if verify(asset, path):
                return "present", path
            corrupt = path
    return ("corrupt", corrupt) if corrupt else ("missing", None)


def _download(asset: Asset, destination: pathlib.Path) -> None:
    """Download to a temporary file beside `destination`, check it, then rename it into place."""
    handle, temporary = tempfile.mkstemp(prefix=f".{asset.filename}.", suffix=".part", dir=destination.parent)
    try:
        digest = hashlib.new(asset.hash_algorithm)
        received = 0
        with os.fdopen(handle, "wb") as output, urllib.request.urlopen(asset.url, timeout=60) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                output.write(chunk)
                digest.update(chunk)
                received += len(chunk)
        if asset.size is not None and received != asset.size:
            raise AssetIntegrityError(
                f"Download of {asset.name!r} is truncated or padded: received {received} bytes, expected "
                f"{asset.size}. The file was discarded."
            )
        if digest.hexdigest() != asset.file_hash:
            raise AssetIntegrityError(
                f"Download of {asset.name!r} does not match its {asset.hash_algorithm}: received "
                f"{digest.hexdigest()}, expected {asset.file_hash}. The file was discarded."
            )
        os.replace(temporary, destination)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def fetch(name: str | Asset, quiet: bool = False) -> pathlib.Path:
    """Return the local path of an asset, downloading and checking it if needed.

    Args:
        name: A registry name (see `REGISTRY`) or an `Asset`.
        quiet: If False, say when a download starts.

    Returns:
        Path to a file whose size and hash match the registry.

    Raises:
        ValueError: if `name` is not in the registry.
        AssetMissingError: if the asset is missing and `TGAI_OFFLINE` is set.
        AssetIntegrityError: if two downloads in a row fail the hash or size check.
    """
    asset = get(name)
    state, path = status(asset)
    if state == "present":
        return path
    destination = cache_path(asset)
    if state == "corrupt" and path == destination:
        destination.unlink()
    if config.is_offline():
        reason = "is corrupt" if state == "corrupt" else "is not in the cache"
        raise AssetMissingError(
            f"Asset {asset.name!r} {reason} and TGAI_OFFLINE is set, so it cannot be downloaded. On a machine "
            f"with internet run `python -m tgai fetch {asset.name}` (or unpack a classroom bundle with "
            f"`python -m tgai unbundle PATH`); the cache is {cache_dir()}."
        )
    if not quiet:
        size = f" ({asset.size / 1e6:.1f} MB)" if asset.size else ""
        print(f"tgai: downloading {asset.name}{size} from {asset.url}")
    try:
        _download(asset, destination)
    except AssetIntegrityError as first_error:
        if not quiet:
            print(f"tgai: {first_error} Retrying once.")
        try:
            _download(asset, destination)
        except AssetIntegrityError as second_error:
            raise AssetIntegrityError(
                f"{second_error} Two downloads failed the check; the server or a proxy may be altering the "
                f"file. Try again later, or copy a good {asset.filename} into {cache_dir()}."
            ) from first_error
    return destination


def fetch_all(names=None, quiet: bool = False) -> list[pathlib.Path]:
    """Fetch several assets (all of them when `names` is None); group names such as `fashion_mnist` work."""
    return [fetch(name, quiet=quiet) for name in _expand(names if names is not None else list(REGISTRY))]


MANIFEST = "MANIFEST.json"


def bundle(path, names=None) -> pathlib.Path:
    """Pack cached assets into one `.tar.gz` for a machine without internet.

    The archive unpacks under `TGAI_HOME`. It carries a `MANIFEST.json` with each asset's name, file, hash
    and size, so `unbundle` can check it. Files go into the archive straight from the cache (no staging
    copy), and the archive appears under its name only once it is complete.

    Args:
        path: Archive to write, e.g. `tgai-bundle.tar.gz`.
        names: Assets to include (default: every asset that is present and valid).

    Returns:
        The archive path.

    Raises:
        AssetMissingError: if a named asset is not present.
    """
    path = pathlib.Path(path)
    selected = _expand(names) if names is not None else list(REGISTRY)
    entries, sources = [], []
    for name in selected:
        state, source = status(name)
        if state != "present":
            if names is None:
                continue
            raise AssetMissingError(f"Cannot bundle {name!r}: it is {state}. Run `python -m tgai fetch {name}` first.")
        asset = REGISTRY[name]
        entry = {
            "name": name,
            "file": f"assets/{asset.filename}",
            "hash": asset.file_hash,
            "hash_algorithm": asset.hash_algorithm,
            "size": asset.size,
        }
        entries.append(entry)
        sources.append((source, entry["file"]))
    manifest = json.dumps({"tgai": config.VERSION, "assets": entries}, indent=2).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        with tarfile.open(partial, "w:gz") as archive:
            folder = tarfile.TarInfo("assets")
            folder.type, folder.mode = tarfile.DIRTYPE, 0o755
            archive.addfile(folder)
            for source, arcname in sources:
                archive.add(source, arcname=arcname, recursive=False)
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(manifest)
            archive.addfile(info, io.BytesIO(manifest))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def unbundle(path) -> list[str]:
    """Unpack a bundle made by `bundle` into the cache home and check every file against the manifest.

    Returns:
        The names of the assets unpacked.

    Raises:
        FileNotFoundError: if `path` does not exist.
        AssetIntegrityError: if the archive has no manifest or a file fails its check.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"bundle not found: received path={str(path)!r}. Make one with `python -m tgai bundle PATH`."
        )
    home = config.cache_home()
    try:
        with tarfile.open(path, "r:gz") as archive:
            # The "data" filter refuses absolute paths, links out of the folder and device files.
            archive.extractall(home, filter="data")
    except tarfile.FilterError as error:
        raise AssetIntegrityError(
            f"bundle {path.name!r} was refused: {error}. A bundle may only write inside the cache home; use "
            "bundles made by `python -m tgai bundle`."
        ) from error
    except (tarfile.TarError, EOFError, OSError) as error:
        raise AssetIntegrityError(
            f"bundle {path.name!r} is not a readable .tar.gz ({error}); it may be truncated. Copy it again, or "
            "make a new one with `python -m tgai bundle PATH`."
        ) from error
    manifest_path = home / MANIFEST
    if not manifest_path.is_file():
        raise AssetIntegrityError(f"bundle {path.name!r} has no {MANIFEST}; make bundles with `python -m tgai bundle`.")
    try:
        entries = json.loads(manifest_path.read_text())["assets"]
    except (ValueError, KeyError, TypeError) as error:
        raise AssetIntegrityError(
            f"bundle {path.name!r} has an unreadable {MANIFEST} ({error!r}); make bundles with `python -m tgai bundle`."
        ) from error
    names = []
    for entry in entries:
        if not verify(entry["name"], home / entry["file"]):
            raise AssetIntegrityError(
                f"bundle {path.name!r}: {entry['file']} fails its hash check. Make the bundle again from a cache that "
                "`python -m tgai doctor` reports as present."
            )
        names.append(entry["name"])
    return names
