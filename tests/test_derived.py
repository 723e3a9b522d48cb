"""A damaged or full cache never stops a lesson: derivable caches are checked, rebuilt, or skipped with one warning."""

import errno
import os
import pathlib
import shutil
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest
from snapshots import snapshot

from tgai import __main__ as cli
from tgai import backbones, data
from tgai.core import checkpoints, derived, files

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def home(monkeypatch, tmp_path):
    """An empty cache home, no shared layer, and no problem reported yet in this process."""
    home = tmp_path / "home"
    monkeypatch.setenv("TGAI_HOME", str(home))
    monkeypatch.delenv("TGAI_SHARED", raising=False)
    derived.reset_reports()
    yield home
    derived.reset_reports()


@pytest.fixture(scope="module")
def vgg16():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", backbones.OfflineFallbackWarning)
        return backbones.load("vgg16", "offline")


def _glyphs():
    return data.load("glyphs", "test", image_size=16, limit=6)


def _only_file(folder: pathlib.Path) -> pathlib.Path:
    (path,) = [path for path in folder.glob("*.npz") if not path.name.startswith(".")]
    return path


def _truncate(path: pathlib.Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage(path: pathlib.Path) -> None:
    path.write_bytes(b"this is not a numpy archive\n" * 40)


def _foreign(path: pathlib.Path) -> None:
    # A well-formed archive with the wrong content: another version's file, or a file copied from elsewhere.
    with open(path, "wb") as handle:
        np.savez(handle, images=np.zeros((3, 5, 5, 1), np.float32), labels=np.zeros(3, np.int64))


def _flipped_byte(path: pathlib.Path) -> None:
    # One flipped byte inside the stored array: the zip's CRC-32 catches it.
    content = bytearray(path.read_bytes())
    content[len(content) // 3] ^= 0xFF
    path.write_bytes(bytes(content))


def _one_warning(record, category) -> str:
    messages = [str(item.message) for item in record if issubclass(item.category, category)]
    assert len(messages) == 1, messages
    return messages[0]


@pytest.mark.parametrize("damage", [_truncate, _garbage, _foreign, _flipped_byte])
def test_a_damaged_glyph_cache_is_rebuilt_with_one_warning_naming_it(home, damage):
    images, labels = _glyphs()
    cached = _only_file(home / "glyphs")
    damage(cached)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        again_images, again_labels = _glyphs()
        _glyphs()  # the rebuilt file loads without a second warning
    message = _one_warning(record, derived.DamagedCacheWarning)
    assert f"damaged cache file {cached}" in message and "computed again" in message
    np.testing.assert_array_equal(again_images, images)
    np.testing.assert_array_equal(again_labels, labels)
    assert derived.read([cached], derived.load_npz) is not None  # rewritten whole


@pytest.mark.parametrize("damage", [_truncate, _garbage, _flipped_byte])
def test_a_damaged_feature_cache_is_rebuilt_with_one_warning_naming_it(home, vgg16, damage):
    images, _ = _glyphs()
    features = backbones.extract(images, vgg16, "block1_pool", cache=True)
    cached = _only_file(home / "features")
    damage(cached)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        again = backbones.extract(images, vgg16, "block1_pool", cache=True)
    assert f"damaged cache file {cached}" in _one_warning(record, derived.DamagedCacheWarning)
    np.testing.assert_array_equal(again, features)
    np.testing.assert_array_equal(derived.load_npz(cached)["block1_pool"], features)


def test_features_of_the_wrong_shape_are_not_trusted(home, vgg16):
    images, _ = _glyphs()
    features = backbones.extract(images, vgg16, "block1_pool", cache=True)
    cached = _only_file(home / "features")
    with open(cached, "wb") as handle:
        np.savez(handle, block1_pool=np.zeros((2, 3), np.float32))
    with pytest.warns(derived.DamagedCacheWarning, match=r"features are float32 \(2, 3\), expected float32 for 6"):
        np.testing.assert_array_equal(backbones.extract(images, vgg16, "block1_pool", cache=True), features)


def _no_space(*arguments, **keywords):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_cache_home_gives_one_warning_and_the_work_goes_on_from_memory(home, monkeypatch, vgg16):
    expected_images, expected_labels = _glyphs()
    shutil.rmtree(home)
    monkeypatch.setattr(files.tempfile, "mkstemp", _no_space)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        images, labels = _glyphs()
        _glyphs()
        features = backbones.extract(images, vgg16, "block1_pool", cache=True)  # no second warning either
    message = _one_warning(record, derived.UnwritableCacheWarning)
    assert f"TGAI_HOME={home}" in message and "No space left on device" in message
    assert str(home / "glyphs") in message and "MB needed" in message and "MB free" in message
    assert "point TGAI_HOME at a folder with room" in message and "Working from memory" in message
    np.testing.assert_array_equal(images, expected_images)
    np.testing.assert_array_equal(labels, expected_labels)
    assert features.shape[0] == len(images)
    assert not list(home.rglob("*.npz"))


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES, errno.EDQUOT])
def test_a_read_only_or_over_quota_home_is_handled_like_a_full_one(home, monkeypatch, code):
    monkeypatch.setattr(files.tempfile, "mkstemp", lambda *a, **k: (_ for _ in ()).throw(OSError(code, "refused")))
    with pytest.warns(derived.UnwritableCacheWarning, match="refused"):
        assert len(_glyphs()[0]) == 6


def test_any_other_write_error_is_raised(home, monkeypatch):
    monkeypatch.setattr(files.tempfile, "mkstemp", lambda *a, **k: (_ for _ in ()).throw(OSError(errno.EIO, "I/O")))
    with pytest.raises(OSError, match="I/O"):
        _glyphs()


def test_a_damaged_shared_copy_is_left_alone_and_the_learner_gets_their_own(home, monkeypatch, tmp_path):
    shared = tmp_path / "shared"
    monkeypatch.setenv("TGAI_HOME", str(shared))
    images, _ = _glyphs()
    _truncate(_only_file(shared / "glyphs"))
    before = snapshot(shared)
    monkeypatch.setenv("TGAI_HOME", str(home))
    monkeypatch.setenv("TGAI_SHARED", str(shared))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        np.testing.assert_array_equal(_glyphs()[0], images)
        np.testing.assert_array_equal(_glyphs()[0], images)  # now read from the learner's copy
    assert "read-only shared layer" in _one_warning(record, derived.DamagedCacheWarning)
    assert "make shared" in _one_warning(record, derived.DamagedCacheWarning)
    assert snapshot(shared) == before
    assert len(list((home / "glyphs").glob("*.npz"))) == 1


def test_doctor_lists_damaged_cache_files_and_the_free_space(home, capsys):
    _glyphs()
    cached = _only_file(home / "glyphs")
    cli.main(["doctor"])
    output = capsys.readouterr().out
    assert "cache home free space: " in output and "damaged cache files: none" in output
    _garbage(cached)
    (home / "results" / "03_gan_finetuning").mkdir(parents=True)
    (home / "results" / "03_gan_finetuning" / "summary.json").write_text('{"cut sh')
    cli.main(["doctor"])
    output = capsys.readouterr().out
    assert "damaged cache files: 2" in output
    assert f"DAMAGED {cached}: ValueError" in output and f"or: rm {cached})" in output
    assert "summary.json: JSONDecodeError" in output


def test_a_damaged_checkpoint_the_kit_cannot_rebuild_still_fails_with_the_fix(monkeypatch, tmp_path):
    # Checkpoints are not derivable caches: a damaged one is an error that names the file and the command.
    name = "gan"
    source = checkpoints.path(name)
    copy = tmp_path / "data"
    copy.mkdir()
    for file in source.parent.iterdir():
        if file.is_file():
            shutil.copy(file, copy / file.name)
    _truncate(copy / source.name)
    monkeypatch.setenv("TGAI_DATA_DIR", str(copy))
    with pytest.raises(checkpoints.CheckpointError) as raised:
        checkpoints.path(name)
    assert f"({source.name})" in str(raised.value) and "python -m tgai pretrain gan" in str(raised.value)


def test_a_bad_zip_reads_as_damaged_not_as_an_exception(tmp_path):
    path = tmp_path / "x.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("images.npy", b"not an array")
    with pytest.warns(derived.DamagedCacheWarning, match=r"members \['images'\] are not numpy arrays"):
        assert derived.read([path], derived.load_npz) is None
    assert not path.exists()  # deleted, to be computed again


def _tiny_full_tmpfs(folder: pathlib.Path) -> None:
    """Mount a 1 MiB tmpfs at `folder` and fill it; skip where mounting is not allowed."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tiny tmpfs needs root; the monkeypatched ENOSPC tests cover the rest")
    folder.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"this container does not allow mounting a tmpfs: {mounted.stderr.decode().strip()}")
    with open(folder / "filler", "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError as error:
            assert error.errno == errno.ENOSPC


@pytest.fixture
def full_home(tmp_path):
    home = tmp_path / "full"
    _tiny_full_tmpfs(home)
    yield home
    subprocess.run(["umount", str(home)], check=False)


@pytest.mark.integration
def test_lesson_00_runs_to_the_end_on_a_full_cache_home(full_home, tmp_path):
    environment = {
        **os.environ,
        "TGAI_HOME": str(full_home),
        "TGAI_OFFLINE": "1",
        "TGAI_PROFILE": "class",
        "TGAI_PROGRESS": "0",
        "PYTHONWARNINGS": "default",
    }
    environment.pop("TGAI_SHARED", None)
    output = tmp_path / "00.ipynb"
    run = subprocess.run(
        [sys.executable, "-m", "papermill", "--log-level", "ERROR", "-k", "python3",
         str(ROOT / "notebooks" / "00_setup.ipynb"), str(output)],
        cwd=ROOT / "notebooks", env=environment, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    text = output.read_text()
    assert text.count("UnwritableCacheWarning") == 1, "expected exactly one warning about the full cache home"
    assert f"TGAI_HOME={full_home}" in text
