"""Fine-tune the GAN and the VAE for a few steps under `tf.distribute.MirroredStrategy` on two logical CPUs.

Run in a fresh interpreter by tests/test_distribute.py: the CPU must be split into logical devices before
TensorFlow runs any op, which only a new process guarantees. Prints one JSON line with, per model, the
losses, the replica count, the optimizer steps seen by each replica, and the largest difference between
the two replicas' copies of any variable (0.0 when they agree bit for bit).
"""

import json
import sys

import tensorflow as tf

# Before anything else touches TensorFlow: two logical CPUs stand in for two GPUs.
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import numpy as np  # noqa: E402

import tgai  # noqa: E402
from tgai import data, gan, vae  # noqa: E402

STEPS, CHUNK, BATCH = 4, 2, 16


def _replica_gap(strategy, variables) -> tuple[int, float]:
    """How many variables are mirrored, and the largest |replica 0 - replica 1| over all of them."""
    mirrored, gap = 0, 0.0
    for variable in variables:
        copies = [np.asarray(value) for value in strategy.experimental_local_results(getattr(variable, "value", variable))]
        if len(copies) != strategy.num_replicas_in_sync:
            continue
        mirrored += 1
        gap = max(gap, float(np.max(np.abs(copies[0].astype(np.float64) - copies[1].astype(np.float64)))) if copies[0].size else 0.0)
    return mirrored, gap


def _steps(strategy, optimizer) -> list[int]:
    return [int(value) for value in strategy.experimental_local_results(getattr(optimizer.iterations, "value", optimizer.iterations))]


def main() -> None:
    tgai.setup(seed=0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    images, _ = data.load("digits", "train", image_size=32, channels=1, limit=64)
    report = {"replicas": strategy.num_replicas_in_sync, "devices": list(strategy.extended.worker_devices)}

    with strategy.scope():
        model, _ = vae.make("full", seed=0)  # fine-tune the committed source VAE
    history = vae.train(model, images, STEPS, BATCH, seed=0, heldout=images[:32], eval_every=CHUNK)
    # Weights and optimizer slots, not metric trackers: those are per-replica partial sums by design.
    variables = model.weights + model.optimizer.variables
    count, gap = _replica_gap(strategy, variables)
    report["vae"] = {
        "losses": history["train_loss"][1:] + history["negative_elbo"],
        "mirrored_variables": count,
        "total_variables": len(variables),
        "replica_gap": gap,
        "steps": _steps(strategy, model.optimizer),
    }

    with strategy.scope():
        model, _ = gan.make_gan("scratch", seed=0, augment=gan.AUGMENT_OPERATIONS)
    history = gan.train(model, images, STEPS, BATCH, seed=0, eval_every=CHUNK)
    variables = model.weights + model.d_optimizer.variables + model.g_optimizer.variables
    count, gap = _replica_gap(strategy, variables)
    report["gan"] = {
        "losses": [float(value) for name in ("d_loss", "g_loss") for value in history.history[name]],
        "mirrored_variables": count,
        "total_variables": len(variables),
        "replica_gap": gap,
        "steps": _steps(strategy, model.d_optimizer) + _steps(strategy, model.g_optimizer),
    }
    sys.stdout.write("RESULT " + json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
