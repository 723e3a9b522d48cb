"""Atomic writes and lesson result files: concurrent writers never crash, readers never see half a file."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tgai
from tgai import files, results

# Several fresh processes load the same glyph split into one empty TGAI_HOME at once. Each renders and
# writes the same cache file; before atomic writes through unique names, some died renaming another's file.
_LOAD_GLYPHS = "import tgai; images, _ = tgai.data.load('glyphs', 'test', limit=5); print(images.shape)"


def test_concurrent_processes_share_one_glyph_cache_without_crashing(tmp_path):
    environment = {**os.environ, "TGAI_HOME": str(tmp_path), "TGAI_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    processes = [
        subprocess.Popen([sys.executable, "-c", _LOAD_GLYPHS], env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outcomes = [process.communicate(timeout=300) for process in processes]
    for process, (output, errors) in zip(processes, outcomes, strict=True):
        assert process.returncode == 0, errors[-2000:]
        assert "(5, 32, 32, 1)" in output
    cached = list((tmp_path / "glyphs").iterdir())
    assert len(cached) == 1 and not cached[0].name.startswith(".")  # no temporary file left behind


def test_atomic_path_leaves_the_old_file_when_the_writer_fails(tmp_path):
    destination = tmp_path / "sub" / "values.npz"
    with files.atomic_path(destination) as temporary:
        np.savez(temporary, values=np.arange(3))
    with pytest.raises(RuntimeError):
        with files.atomic_path(destination) as temporary:
            temporary.write_bytes(b"half a fi")
            raise RuntimeError("the writer died")
    with np.load(destination) as stored:
        assert stored["values"].tolist() == [0, 1, 2]
    assert [path.name for path in destination.parent.iterdir()] == ["values.npz"]


def test_results_round_trip_with_numpy_values(monkeypatch, tmp_path):
    monkeypatch.setenv("TGAI_HOME", str(tmp_path))
    written = results.save("03_gan_finetuning", {"kid_x1000": np.float32(12.5), "classes": np.int64(10), "seeds": [0, 1]})
    assert written == tmp_path / "results" / "03_gan_finetuning" / "summary.json"
    assert json.loads(written.read_text()) == {"classes": 10, "kid_x1000": 12.5, "seeds": [0, 1]}
    assert results.load("03_gan_finetuning") == {"classes": 10, "kid_x1000": 12.5, "seeds": [0, 1]}
    assert tgai.results.path("04_vae") == tmp_path / "results" / "04_vae" / "summary.json"


def test_results_reject_bad_input_by_name(monkeypatch, tmp_path):
    monkeypatch.setenv("TGAI_HOME", str(tmp_path))
    with pytest.raises(ValueError, match="lesson must be a notebook's name.*received lesson='../x'"):
        results.save("../x", {})
    with pytest.raises(TypeError, match=r"summary\['model'\] holds a object"):
        results.save("03_gan_finetuning", {"model": object()})
    with pytest.raises(ValueError, match="NaN or infinite"):
        results.save("03_gan_finetuning", {"kid": float("nan")})
    with pytest.raises(TypeError, match="summary must be a dict"):
        results.save("03_gan_finetuning", [1, 2])
    with pytest.raises(FileNotFoundError, match="run notebooks/05_lora.ipynb first"):
        results.load("05_lora")
