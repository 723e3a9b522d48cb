"""Atomic writes and lesson result files: concurrent writers never crash, readers never see half a file."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tgai
from tgai.core import files, results

# Six learners start at once on one empty TGAI_HOME. Each renders the same glyphs, extracts the same cached
# VGG16 features, embeds them in the judge's feature space and saves a lesson summary: every cache the kit
# writes. Before atomic writes through unique names, some died renaming another's file away.
_LEARNER = """
import hashlib, warnings
import numpy as np
import tgai
from tgai import backbones, data, judge
from tgai.core import results
tgai.setup(seed=0)
images, labels = data.load("glyphs", "test", limit=16)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", backbones.OfflineFallbackWarning)
    vgg16 = backbones.load("vgg16", "offline")
features = backbones.extract(images, vgg16, "block2_conv2", cache=True)
judged = judge.features(images)
results.save("00_setup", {"mean_pixel": float(images.mean())})
digest = hashlib.sha256()
for array in (images, labels, features, judged):
    digest.update(np.ascontiguousarray(array).tobytes())
print("digest", digest.hexdigest(), results.load("00_setup")["mean_pixel"])
"""


@pytest.mark.integration
def test_six_learners_on_one_empty_cache_all_succeed_and_see_identical_data(tmp_path):
    environment = {
        **os.environ,
        "TGAI_HOME": str(tmp_path),
        "TGAI_OFFLINE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TGAI_THREADS": "1",
    }
    environment.pop("TGAI_SHARED", None)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _LEARNER], env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    outcomes = [process.communicate(timeout=600) for process in processes]
    for process, (_, errors) in zip(processes, outcomes, strict=True):
        assert process.returncode == 0, errors[-2000:]
    digests = {next(line for line in output.splitlines() if line.startswith("digest")) for output, _ in outcomes}
    assert len(digests) == 1, digests  # every learner saw the same data, features and summary
    for cache in ("glyphs", "features", "results/00_setup"):
        written = list((tmp_path / cache).iterdir())
        assert len(written) == 1 and not written[0].name.startswith("."), written  # one file, no temporary left


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
    written = results.save(
        "03_gan_finetuning", {"kid_x1000": np.float32(12.5), "classes": np.int64(10), "seeds": [0, 1]}
    )
    assert written == tmp_path / "results" / "03_gan_finetuning" / "summary.json"
    assert json.loads(written.read_text()) == {"classes": 10, "kid_x1000": 12.5, "seeds": [0, 1]}
    assert results.load("03_gan_finetuning") == {"classes": 10, "kid_x1000": 12.5, "seeds": [0, 1]}
    assert tgai.core.results.path("04_vae") == tmp_path / "results" / "04_vae" / "summary.json"


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
