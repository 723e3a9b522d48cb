"""Lesson 02's style-transfer claims over many seeds (seeds_style): section 3 once per seed, as a learner's SEED gives.

For each of `seed_count` seeds (20 at the full scale), lesson 02's section 3 in the class profile: scikit-learn's
china.jpg (content) and a 200-pixel crop of flower.jpg (style) at the profile's `perceptual_size`, style transfer
for `perceptual_steps` Adam steps at 0.1 with style weight 10 through the VGG16 trunk and through a random VGG16
initialised with the seed; every image then measured by its style distance (relative Gram error at Johnson's
four style layers) in the trunk's space, in the random network's, in a held-out random network (the seed + 1),
and by the sliced Wasserstein distance of 5x5 pixel patches (seeded with the seed). The pretrained run does not
depend on the seed. Rows: each image's distance in each space, and the ratios the lesson's claim cell compares.
"""

from __future__ import annotations

import numpy as np

from benchmarks import common

CONTENT_IMAGE, STYLE_IMAGE, STYLE_BOX = "china.jpg", "flower.jpg", (100, 200, 200)  # as lesson 02's defaults
STYLE_WEIGHT, LEARNING_RATE = 10.0, 0.1


def _sample_image(name, size, box=None):
    """A scikit-learn sample image as lesson 02 loads it: a square crop (default: the central one), resized."""
    from sklearn.datasets import load_sample_image

    from tgai import data

    pixels = load_sample_image(name).astype(np.float32)[None] / 255.0
    if box is None:
        height, width = pixels.shape[1:3]
        side = min(height, width)
        box = ((height - side) // 2, (width - side) // 2, side)
    top, left, side = box
    return data.resize(pixels[:, top : top + side, left : left + side], size)


def run(scale: common.Scale, log=print) -> list[dict]:
    """seeds_style: lesson 02's section 3 once per seed; every distance its claim cell compares."""
    import warnings

    import tgai
    from tgai import backbones, inversion, perceptual

    profile = tgai.profile()
    steps = scale.seeds_steps or profile.perceptual_steps
    content = _sample_image(CONTENT_IMAGE, profile.perceptual_size)
    style = _sample_image(STYLE_IMAGE, profile.perceptual_size, STYLE_BOX)
    layers = tuple(dict.fromkeys(perceptual.JOHNSON_CONTENT_LAYERS + perceptual.JOHNSON_STYLE_LAYERS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", backbones.OfflineFallbackWarning)
        trunk = perceptual.FeatureExtractor(layers, backbones.load("vgg16"))
    pretrained = inversion.style_transfer(
        content, style, trunk, style_weight=STYLE_WEIGHT, steps=steps, learning_rate=LEARNING_RATE, progress=0
    ).image
    values: dict[str, list[float]] = {}
    for seed in range(scale.seed_count):
        spaces = {
            "pretrained": trunk,
            "random": perceptual.FeatureExtractor(layers, backbones.load("vgg16", weights=None, seed=seed)),
            "held-out random": perceptual.FeatureExtractor(
                layers, backbones.load("vgg16", weights=None, seed=seed + 1)
            ),
        }
        randomised = inversion.style_transfer(
            content,
            style,
            spaces["random"],
            style_weight=STYLE_WEIGHT,
            steps=steps,
            learning_rate=LEARNING_RATE,
            progress=0,
        ).image
        images = {"content": content, "pretrained": pretrained, "random": randomised}
        table = {
            image_name: {
                space: float(inversion.style_distance(image, style, judge, perceptual.JOHNSON_STYLE_LAYERS)[0])
                for space, judge in spaces.items()
            }
            | {"pixel patches": inversion.patch_distance(image, style, seed=seed)}
            for image_name, image in images.items()
        }
        measured = {
            f"{image_name} in {space}": value for image_name, row in table.items() for space, value in row.items()
        }
        measured["pretrained / random, pretrained space"] = (
            table["pretrained"]["pretrained"] / table["random"]["pretrained"]
        )
        measured["random / content, pretrained space"] = table["random"]["pretrained"] / table["content"]["pretrained"]
        measured["random / pretrained, held-out space"] = (
            table["random"]["held-out random"] / table["pretrained"]["held-out random"]
        )
        measured["pretrained / content, held-out space"] = (
            table["pretrained"]["held-out random"] / table["content"]["held-out random"]
        )
        for name, value in measured.items():
            values.setdefault(name, []).append(float(value))
        log(
            f"  seeds_style: seed {seed}: in the pretrained space content {table['content']['pretrained']:.3f}, "
            f"pretrained {table['pretrained']['pretrained']:.3f}, random {table['random']['pretrained']:.3f}; "
            f"held-out: pretrained {table['pretrained']['held-out random']:.3f}, "
            f"random {table['random']['held-out random']:.3f}"
        )
    setting = (
        f"{CONTENT_IMAGE} styled by {STYLE_IMAGE} at {profile.perceptual_size} px, {steps} steps, style weight "
        f"{STYLE_WEIGHT:g}; random VGG16 seeded with the seed, held-out random with the seed + 1; seeds "
        f"0-{scale.seed_count - 1}"
    )
    return [
        common.row(
            "seeds_style",
            name,
            f"Lesson 02 style transfer: {name}",
            "ratio" if "/" in name else "style distance" if "patches" not in name else "sliced Wasserstein",
            samples,
            notes=setting,
            higher_is_better=False,
        )
        for name, samples in values.items()
    ]
