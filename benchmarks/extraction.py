"""Feature extraction: `tgai.backbones.extract` images/s against raw `model.predict`, cold and cached.

The backbone is VGG16 with the offline weights (the HED trunk), at the kit's default 32x32x3 input, on
held-out digits. The raw baseline runs `backbone.model.predict` on inputs already prepared by
`backbone.prepare` (gray to RGB, resize, 0-255, `preprocess_input`), at the same batch size; `extract` starts
from the [0, 1] images, so its time includes that preparation (reported separately too) and the pooling.

The cache lives under `TGAI_HOME`, pointed at a fresh temporary folder for this benchmark: "cold" is a cache
miss (compute and write), "cached" a hit on the file the miss wrote.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np

from benchmarks import common

BATCH_SIZE = 64


def run(scale: common.Scale, log=print) -> list[dict]:
    """Measure extract (no cache, cache miss, cache hit), prepare and raw predict; return result rows."""
    from tgai import backbones, data

    images, _ = data.load("digits", "test", limit=scale.extraction_images)
    count = len(images)
    saved_home = os.environ.get("TGAI_HOME")
    home = tempfile.mkdtemp(prefix="tgai-bench-home-")
    os.environ["TGAI_HOME"] = home
    try:
        backbone = backbones.load("vgg16", weights="offline")
        prepared = backbone.prepare(images)
        # Warm-up: builds the extractor and predict's traced function.
        backbone.model.predict(prepared[:BATCH_SIZE], batch_size=BATCH_SIZE, verbose=0)
        backbones.extract(images[:BATCH_SIZE], backbone, batch_size=BATCH_SIZE)
        features_folder = os.path.join(home, "features")

        samples = {"predict": [], "prepare": [], "extract": [], "cold": [], "cached": []}
        check = {}
        for repeat in range(scale.repeats):
            with common.Stopwatch() as watch:
                raw = backbone.model.predict(prepared, batch_size=BATCH_SIZE, verbose=0)
            samples["predict"].append(count / watch.seconds)
            with common.Stopwatch() as watch:
                backbone.prepare(images)
            samples["prepare"].append(count / watch.seconds)
            with common.Stopwatch() as watch:
                features = backbones.extract(images, backbone, batch_size=BATCH_SIZE)
            samples["extract"].append(count / watch.seconds)
            shutil.rmtree(features_folder, ignore_errors=True)
            with common.Stopwatch() as watch:
                backbones.extract(images, backbone, batch_size=BATCH_SIZE, cache=True)
            samples["cold"].append(count / watch.seconds)
            with common.Stopwatch() as watch:
                cached = backbones.extract(images, backbone, batch_size=BATCH_SIZE, cache=True)
            samples["cached"].append(count / watch.seconds)
            # What a cache hit costs at least: the cache key hashes every weight of the backbone.
            if hasattr(backbones, "_weights_fingerprint"):
                with common.Stopwatch() as watch:
                    backbones._weights_fingerprint(backbone)
                samples.setdefault("fingerprint", []).append(watch.seconds)
            check = {
                "extract_vs_predict_max_abs_difference": float(np.max(np.abs(features - raw.mean(axis=(1, 2))))),
                "cached_equals_computed": bool(np.array_equal(cached, features)),
            }
            log(
                f"  extraction: repeat {repeat + 1}/{scale.repeats}: "
                + ", ".join(f"{key} {values[-1]:.0f}" for key, values in samples.items())
            )
    finally:
        if saved_home is None:
            os.environ.pop("TGAI_HOME", None)
        else:
            os.environ["TGAI_HOME"] = saved_home
        shutil.rmtree(home, ignore_errors=True)

    setting = f"VGG16 offline weights (HED trunk), 32x32x3 input, {count} digits, batch {BATCH_SIZE}"
    agree = (
        f"extract equals predict + avg pooling to {check['extract_vs_predict_max_abs_difference']:.2g}; "
        f"cached result {'identical' if check['cached_equals_computed'] else 'DIFFERENT'}"
    )
    rows = [
        common.row(
            "extraction",
            "predict",
            "raw model.predict on prepared inputs",
            "images/s",
            samples["predict"],
            notes=setting,
        ),
        common.row(
            "extraction",
            "prepare",
            "Backbone.prepare alone (gray->RGB, resize, preprocess_input)",
            "images/s",
            samples["prepare"],
        ),
        common.row(
            "extraction",
            "extract",
            "tgai.backbones.extract from [0, 1] images, no cache",
            "images/s",
            samples["extract"],
            baseline="raw model.predict",
            baseline_samples=samples["predict"],
            ratio_meaning="x predict",
            goal=">= 0.9 (within 10%)",
            notes=agree,
        ),
        common.row(
            "extraction",
            "extract_cold",
            "extract, cache=True, cold (miss: compute + write)",
            "images/s",
            samples["cold"],
            baseline="raw model.predict",
            baseline_samples=samples["predict"],
            ratio_meaning="x predict",
        ),
        common.row(
            "extraction",
            "extract_cached",
            "extract, cache=True, cached (hit)",
            "images/s",
            samples["cached"],
            baseline="extract cold (cache miss)",
            baseline_samples=samples["cold"],
            ratio_meaning="x cold",
            goal=">= 20",
        ),
    ]
    if "fingerprint" in samples:
        weights_megabytes = sum(int(np.prod(weight.shape)) * 4 for weight in backbone.model.weights) / 1e6
        rows.append(
            common.row(
                "extraction",
                "cache_key_weights_hash",
                f"part of every cache hit: sha256 of the backbone's {weights_megabytes:.0f} MB of weights (cache key)",
                "s",
                samples["fingerprint"],
                baseline="whole cache hit",
                baseline_samples=[count / rate for rate in samples["cached"]],
                ratio_meaning="share of the hit's time",
            )
        )
        rows[-1]["ratio"] = rows[-1]["median"] / rows[-1]["baseline_median"]
    rows[2]["goal_met"] = bool(rows[2]["ratio"] >= 0.9)
    rows[4]["goal_met"] = bool(rows[4]["ratio"] >= 20.0)
    return rows
