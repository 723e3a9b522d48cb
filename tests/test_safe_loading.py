"""Safe loading: tgai never unpickles. Weights come through Keras `.weights.h5` / h5py, arrays through
`np.load(..., allow_pickle=False)` (issue 9, item 5).

Two kinds of check: a scan of every module's source (imports, calls and keywords, read from the syntax
tree so comments and docstrings cannot hide or fake a hit), and behaviour (with `pickle` booby-trapped,
tgai's loaders still work, and a cache file that carries a pickle payload is never executed).
"""

import ast
import pathlib
import pickle

import numpy as np
import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "tgai"
SOURCES = sorted(PACKAGE.rglob("*.py"))  # tgai/core and tgai/models included
# Modules whose only purpose is to serialise arbitrary Python objects: any use of them can run code on load.
PICKLING_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal", "jsonpickle"}


def _trees():
    return [(source.name, ast.parse(source.read_text(), filename=str(source))) for source in SOURCES]


def _dotted(node) -> str:
    """`np.lib.npyio.load` for an attribute chain, '' for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def test_the_scan_sees_the_package():
    names = {name for name, _ in _trees()}
    assert {"data.py", "assets.py", "judge.py", "checkpoints.py"} <= names


def test_no_module_imports_a_pickling_library():
    offenders = []
    for name, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            elif isinstance(node, ast.Call) and _dotted(node.func) in {"importlib.import_module", "__import__"}:
                modules = [arg.value for arg in node.args[:1] if isinstance(arg, ast.Constant)]
            else:
                continue
            offenders += [
                f"{name}:{node.lineno} imports {module}"
                for module in modules
                if module.split(".")[0] in PICKLING_MODULES
            ]
    assert not offenders, offenders


def test_no_module_calls_a_pickle_loader():
    suspicious = {"load", "loads", "Unpickler"}
    offenders = []
    for name, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                dotted = _dotted(node.func)
                root = dotted.split(".")[0]
                if root in PICKLING_MODULES and dotted.split(".")[-1] in suspicious:
                    offenders.append(f"{name}:{node.lineno} calls {dotted}")
                # pandas.read_pickle and numpy's object loaders unpickle too.
                if dotted.endswith(("read_pickle", "np.lib.format.read_array")):
                    offenders.append(f"{name}:{node.lineno} calls {dotted}")
    assert not offenders, offenders


def test_every_np_load_passes_allow_pickle_false():
    calls, offenders = 0, []
    for name, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _dotted(node.func) in {"np.load", "numpy.load"}:
                calls += 1
                flags = [keyword.value for keyword in node.keywords if keyword.arg == "allow_pickle"]
                if not (len(flags) == 1 and isinstance(flags[0], ast.Constant) and flags[0].value is False):
                    offenders.append(f"{name}:{node.lineno}")
    assert calls >= 2, "the scan should find the glyph cache and mnist loaders"
    assert not offenders, f"np.load without allow_pickle=False at {offenders}"


def test_no_keyword_turns_safety_off():
    offenders = []
    for name, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg in {"allow_pickle", "safe_mode"}:
                if not (isinstance(node.value, ast.Constant) and node.value.value in (False, True)):
                    offenders.append(f"{name}:{node.value.lineno} {node.arg} is not a literal")
                elif node.arg == "allow_pickle" and node.value.value is True:
                    offenders.append(f"{name}:{node.value.lineno} allow_pickle=True")
                elif node.arg == "safe_mode" and node.value.value is False:
                    offenders.append(f"{name}:{node.value.lineno} safe_mode=False")
            if isinstance(node, ast.Call) and _dotted(node.func).split(".")[-1] == "enable_unsafe_deserialization":
                offenders.append(f"{name}:{node.lineno} enables unsafe deserialisation")
    assert not offenders, offenders


def test_weights_are_loaded_only_from_h5_files():
    """`load_model` (a whole pickled-or-not model) is not used; weights come through `load_weights` or h5py."""
    offenders = []
    for name, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                last = _dotted(node.func).split(".")[-1] if _dotted(node.func) else getattr(node.func, "attr", "")
                if last in {"load_model", "model_from_json", "model_from_config", "deserialize_keras_object"}:
                    safe = [k for k in node.keywords if k.arg == "safe_mode"]
                    if not safe or not (isinstance(safe[0].value, ast.Constant) and safe[0].value.value is True):
                        offenders.append(f"{name}:{node.lineno} {last} without safe_mode=True")
                if last == "load" and _dotted(node.func).split(".")[0] in {"torch", "tf", "tensorflow"}:
                    offenders.append(f"{name}:{node.lineno} {_dotted(node.func)}")
    assert not offenders, offenders


@pytest.fixture
def pickle_trap(monkeypatch):
    """Make every unpickling entry point fail loudly for the duration of a test."""

    def refuse(*args, **kwargs):
        raise AssertionError("tgai tried to unpickle")

    class TrappedUnpickler(pickle.Unpickler):  # libraries subclass Unpickler at import time: keep it a class
        load = refuse

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", TrappedUnpickler)


def test_loaders_work_with_pickle_disabled(pickle_trap, monkeypatch, tmp_path):
    from tgai import data, metrics

    monkeypatch.setenv("TGAI_HOME", str(tmp_path))
    images, labels = data.load("digits", "test", limit=8)
    features = metrics.judge_features(images)  # h5 weights through Keras load_weights
    assert features.shape == (8, 128) and np.isfinite(features).all()


class _Payload:
    """Unpickling this object writes a marker file: proof that code ran on load."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (pathlib.Path.write_text, (pathlib.Path(self.marker), "code ran on load"))


def test_a_pickle_payload_in_the_glyph_cache_never_runs(monkeypatch, tmp_path):
    from tgai import data

    monkeypatch.setenv("TGAI_HOME", str(tmp_path))
    marker = tmp_path / "pwned.txt"
    cache = tmp_path / "glyphs" / f"glyphs-v{data._GLYPH_CACHE_VERSION}-digits-test-2000-8-0.npz"
    cache.parent.mkdir(parents=True)
    payload = np.empty(1, dtype=object)
    payload[0] = _Payload(marker)
    np.savez(cache, images=payload, labels=payload)
    images, labels = data.load("glyphs", "test", image_size=8, limit=4)
    assert not marker.exists(), "the pickle payload in a cache file was executed"
    assert images.shape == (4, 8, 8, 1) and images.dtype == np.float32 and labels.dtype == np.int64
    with np.load(cache, allow_pickle=False) as stored:  # the poisoned file was replaced by a clean render
        assert stored["images"].dtype != object


def test_a_bundle_that_escapes_the_cache_is_refused(monkeypatch, tmp_path):
    """`unbundle` extracts with tarfile's "data" filter: a member aimed outside TGAI_HOME is refused."""
    import io
    import tarfile

    from tgai.core import assets

    home, outside = tmp_path / "home", tmp_path / "escaped.txt"
    monkeypatch.setenv("TGAI_HOME", str(home))
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as handle:
        for name, content in (("MANIFEST.json", b'{"assets": []}'), ("../escaped.txt", b"outside the cache")):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            handle.addfile(info, io.BytesIO(content))
    with pytest.raises(
        ValueError, match=r"bundle 'evil\.tar\.gz' was refused: .*escaped\.txt.*only write inside the cache home"
    ):
        assets.unbundle(archive)
    assert not outside.exists(), "a bundle member was written outside the cache home"
