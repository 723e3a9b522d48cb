"""Scale: every registered model builds, compiles and fits under `tf.distribute.MirroredStrategy` (issue 9, item 6).

The CPU is split into two logical devices, which must happen before TensorFlow runs any op, so the
training runs in a fresh interpreter (tests/scripts/distributed_steps.py). Each model of the registry
(tests/models.py) runs its short fine-tune for a few steps; the losses must be finite, every weight and optimizer slot
must be mirrored on both replicas with
identical values, and each replica must count the same number of optimizer steps.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from models import NAMES

REPOSITORY = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = REPOSITORY / "tests" / "scripts" / "distributed_steps.py"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    environment = {
        **os.environ,
        "TGAI_OFFLINE": "1",
        "TGAI_PROFILE": "class",
        "TGAI_HOME": str(tmp_path_factory.mktemp("home")),
        "CUDA_VISIBLE_DEVICES": "",  # the two replicas are the logical CPUs, even on a GPU machine
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], cwd=REPOSITORY, env=environment, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-4000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, result.stdout[-2000:]
    return json.loads(lines[0][len("RESULT ") :])


@pytest.mark.integration
def test_two_logical_devices_form_two_replicas(report):
    assert report["replicas"] == 2
    assert len(report["devices"]) == 2 and all("CPU:" in device for device in report["devices"])


@pytest.mark.integration
def test_every_registered_model_ran(report):
    assert set(NAMES) <= set(report), f"models missing from the distributed run: {set(NAMES) - set(report)}"


@pytest.mark.integration
@pytest.mark.parametrize("model", NAMES)
def test_training_under_mirrored_strategy_is_finite_and_the_replicas_agree(model, report):
    result = report[model]
    assert result["losses"] and np.all(np.isfinite(result["losses"])), result["losses"]
    assert result["mirrored_variables"] == result["total_variables"] > 10, "every weight and slot is mirrored"
    assert result["replica_gap"] == 0.0, f"replicas disagree by up to {result['replica_gap']}"
    assert set(result["steps"]) == {4}, f"optimizer steps per replica: {result['steps']}"


def test_the_readme_says_how_to_use_several_gpus_or_machines():
    readme = (REPOSITORY / "README.md").read_text()
    assert "MirroredStrategy" in readme, "README should say how to train on several GPUs"
    assert "MultiWorkerMirroredStrategy" in readme, "README should say how to train on several machines"
