"""The read-only shared layer (`TGAI_SHARED`) and the per-kernel thread cap (`TGAI_THREADS`): a class on one server."""

import dataclasses
import hashlib
import os
import pathlib
import subprocess
import sys
import warnings

import numpy as np
import pytest
from snapshots import snapshot

from tgai import __main__ as cli
from tgai import backbones, data
from tgai.core import assets, caches, files

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def layers(monkeypatch, tmp_path):
    """A shared layer and a learner's home, both empty; the shared layer is switched on by the test."""
    shared, home = tmp_path / "shared", tmp_path / "home"
    shared.mkdir()
    monkeypatch.setenv("TGAI_HOME", str(home))
    monkeypatch.delenv("TGAI_SHARED", raising=False)
    return shared, home


def test_find_reads_the_shared_layer_first_and_writes_go_home(layers, monkeypatch):
    shared, home = layers
    (shared / "glyphs").mkdir()
    (shared / "glyphs" / "a.npz").write_bytes(b"shared")
    assert caches.find("glyphs/a.npz") == home / "glyphs" / "a.npz"  # no shared layer yet
    monkeypatch.setenv("TGAI_SHARED", str(shared))
    assert caches.find("glyphs/a.npz") == shared.resolve() / "glyphs" / "a.npz"
    assert caches.find("glyphs/b.npz") == home / "glyphs" / "b.npz"
    assert caches.writable("glyphs/a.npz") == home / "glyphs" / "a.npz"
    with pytest.raises(PermissionError, match="never writes into the shared layer"):
        with files.atomic_path(shared / "glyphs" / "a.npz"):
            pass
    assert (shared / "glyphs" / "a.npz").read_bytes() == b"shared"


def test_a_bad_shared_layer_is_named_with_the_fix(layers, monkeypatch, tmp_path):
    shared, _ = layers
    monkeypatch.setenv("TGAI_SHARED", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match=r"TGAI_SHARED must name an existing folder; received TGAI_SHARED='.*missing'"):
        caches.find("glyphs/a.npz")
    monkeypatch.setenv("TGAI_SHARED", str(shared))
    monkeypatch.setenv("TGAI_HOME", str(shared / "learner"))
    with pytest.raises(ValueError, match="TGAI_HOME must lie outside the shared layer"):
        caches.find("glyphs/a.npz")
    with pytest.raises(ValueError, match="relative must be a path inside a cache folder; received '../x'"):
        caches.writable("../x")


def test_glyphs_and_features_come_from_the_shared_layer_without_a_write(layers, monkeypatch):
    shared, home = layers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", backbones.OfflineFallbackWarning)
        vgg16 = backbones.load("vgg16", "offline")
    # The instructor fills the shared layer (it is their TGAI_HOME while they do)...
    monkeypatch.setenv("TGAI_HOME", str(shared))
    images, labels = data.load("glyphs", "test", limit=8)
    features = backbones.extract(images, vgg16, "block2_conv2", cache=True)
    before = snapshot(shared)
    assert {name.split("/")[0] for name in before} == {"glyphs", "features"}
    # ...and a learner with an empty home reads it.
    monkeypatch.setenv("TGAI_HOME", str(home))
    monkeypatch.setenv("TGAI_SHARED", str(shared))
    shared_images, shared_labels = data.load("glyphs", "test", limit=8)
    np.testing.assert_array_equal(shared_images, images)
    np.testing.assert_array_equal(shared_labels, labels)
    np.testing.assert_array_equal(backbones.extract(images, vgg16, "block2_conv2", cache=True), features)
    assert snapshot(shared) == before
    assert not (home / "glyphs").exists() and not list((home / "features").glob("*"))
    # What the shared layer lacks is computed and written to the learner's home, not to the shared layer.
    backbones.extract(images[:4], vgg16, "block2_conv2", cache=True)
    assert len(list((home / "features").glob("*.npz"))) == 1
    assert snapshot(shared) == before


def test_assets_and_doctor_see_both_layers(layers, monkeypatch, capsys):
    shared, home = layers
    payload = b"a shared copy of mnist " * 100
    fake = dataclasses.replace(
        assets.REGISTRY["mnist"], file_hash=hashlib.sha256(payload).hexdigest(), size=len(payload)
    )
    monkeypatch.setitem(assets.REGISTRY, "mnist", fake)
    monkeypatch.setenv("TGAI_OFFLINE", "1")
    (shared / "assets").mkdir()
    (shared / "assets" / "mnist.npz").write_bytes(payload)
    monkeypatch.setenv("TGAI_SHARED", str(shared))
    assert assets.status("mnist") == ("present", shared.resolve() / "assets" / "mnist.npz")
    assert assets.fetch("mnist") == shared.resolve() / "assets" / "mnist.npz"
    cli.main(["doctor"])
    output = capsys.readouterr().out
    assert f"cache home (writable): {home}" in output
    assert (
        f"shared layer (writable by this user, but never written by tgai): {shared.resolve()} (assets 1," in output
        or (f"shared layer (read-only): {shared.resolve()} (assets 1," in output)
    )
    assert f"mnist                        present ({shared.resolve() / 'assets' / 'mnist.npz'})" in output


_THREADS = (
    "import tgai, tensorflow as tf; from threadpoolctl import threadpool_info; tgai.setup(seed=0); "
    "print(tf.config.threading.get_intra_op_parallelism_threads(), "
    "tf.config.threading.get_inter_op_parallelism_threads(), "
    "sorted({pool['num_threads'] for pool in threadpool_info()}))"
)


@pytest.mark.integration
def test_tgai_threads_caps_tensorflow_blas_and_openmp():
    environment = {**os.environ, "TGAI_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, "-c", _THREADS], env=environment, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.strip().splitlines()
    assert lines[0].endswith("| threads 1")
    assert lines[-1] == "1 1 [1]"
    environment["TGAI_THREADS"] = "many"
    run = subprocess.run(
        [sys.executable, "-c", "import tgai"], env=environment, capture_output=True, text=True, timeout=300
    )
    assert run.returncode != 0
    assert "TGAI_THREADS must be a positive integer; received TGAI_THREADS='many'" in run.stderr


@pytest.mark.integration
def test_threads_after_tensorflow_ran_are_refused_by_name():
    script = (
        "import tgai, tensorflow as tf\n"
        "tgai.setup(seed=0, threads=1)\n"
        "tf.constant(1.0) + 1\n"
        "tgai.setup(seed=0, threads=1)  # the same cap again is fine\n"
        "try:\n    tgai.setup(seed=0, threads=2)\nexcept ValueError as error:\n    print('refused:', error)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "refused: threads=2 cannot take effect: TensorFlow has already run with 1 threads" in run.stdout
    assert "Restart the kernel" in run.stdout


@pytest.mark.parametrize(
    ("threads", "error", "message"), [(0, ValueError, "received threads=0"), ("2", TypeError, "received '2' \\(str\\)")]
)
def test_bad_threads_are_named(threads, error, message):
    import tgai

    with pytest.raises(error, match=f"threads must be a positive int; {message}"):
        tgai.core.config.limit_threads(threads)
