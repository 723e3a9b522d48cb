"""Fine-tune every registered model for a few steps under `tf.distribute.MirroredStrategy` on two logical CPUs.

Run in a fresh interpreter by tests/test_distribute.py: the CPU must be split into logical devices before
TensorFlow runs any op, which only a new process guarantees. The models are the entries of the registry in
tests/models.py (each one's `fine_tune`, built inside `strategy.scope()`, then its module's `train`). Prints
one JSON line with, per model, the losses, the replica count, the optimizer steps seen by each replica, and
the largest difference between the two replicas' copies of any variable (0.0 when they agree bit for bit).
"""

import json
import pathlib
import sys

import tensorflow as tf

# Before anything else touches TensorFlow: two logical CPUs stand in for two GPUs.
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # the model registry
import models  # noqa: E402

import tgai  # noqa: E402
from tgai import data  # noqa: E402

STEPS, CHUNK, BATCH = 4, 2, 16


def _replica_gap(strategy, variables) -> tuple[int, float]:
    """How many variables are mirrored, and the largest |replica 0 - replica 1| over all of them."""
    mirrored, gap = 0, 0.0
    for variable in variables:
        copies = [
            np.asarray(value) for value in strategy.experimental_local_results(getattr(variable, "value", variable))
        ]
        if len(copies) != strategy.num_replicas_in_sync:
            continue
        mirrored += 1
        gap = max(
            gap,
            float(np.max(np.abs(copies[0].astype(np.float64) - copies[1].astype(np.float64))))
            if copies[0].size
            else 0.0,
        )
    return mirrored, gap


def _steps(strategy, optimizer) -> list[int]:
    return [
        int(value)
        for value in strategy.experimental_local_results(getattr(optimizer.iterations, "value", optimizer.iterations))
    ]


def main() -> None:
    tgai.setup(seed=0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    images, _ = data.load("digits", "train", image_size=32, channels=1, limit=64)
    report = {"replicas": strategy.num_replicas_in_sync, "devices": list(strategy.extended.worker_devices)}

    for name, case in models.MODELS.items():
        with strategy.scope():
            model, _ = case.build_fine_tune(seed=0)
        losses = case.train(model, images, STEPS, BATCH, seed=0, eval_every=CHUNK)
        # Weights and optimizer slots, not metric trackers: those are per-replica partial sums by design.
        variables = model.weights + [variable for optimizer in model.optimizers for variable in optimizer.variables]
        count, gap = _replica_gap(strategy, variables)
        report[name] = {
            "losses": losses,
            "mirrored_variables": count,
            "total_variables": len(variables),
            "replica_gap": gap,
            "steps": [step for optimizer in model.optimizers for step in _steps(strategy, optimizer)],
        }
    sys.stdout.write("RESULT " + json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
