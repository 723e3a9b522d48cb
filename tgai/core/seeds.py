"""One place where the kit turns a learner's seed into the seeds of its parts.

Introduced in lesson 00, with `tgai.setup(seed=SEED)`. A lesson has one seed; inside, the generator's
initialisers, the discriminator's, the fixed evaluation latents, the test split's rendering and so on each
need a seed of their own, different from the others and different across learner seeds. Every such
derivation in `tgai` goes through `derive(seed, purpose, index)`, with a purpose named in `PURPOSES`, so
that no module invents its own arithmetic and two purposes never collide by accident.

Usage notes:
    * Each purpose maps a seed to `multiplier * seed + offset + index`. The rows reproduce the streams the
      committed checkpoints and notebook outputs were made with, so they stay reproducible. Within a row,
      `index` numbers the parts (layer 1, 2, ...) and must stay below the row's `spacing`. Where the
      multiplier is at least the spacing, no two seeds of one purpose share a derived seed; the judge's
      augmentation row (multiplier 1, spacing 2, kept for the committed judge) is the one exception.
    * A new purpose is a new row: pick an offset whose range `[offset, offset + spacing)` is unused.
"""

from __future__ import annotations

import dataclasses

from tgai.core import validation


@dataclasses.dataclass(frozen=True)
class Purpose:
    """How one purpose derives its seeds: `multiplier * seed + offset + index`, `0 <= index < spacing`."""

    multiplier: int
    offset: int
    spacing: int
    description: str


PURPOSES: dict[str, Purpose] = {
    # Weight initialisers: seed * 100 leaves 100 slots per seed, the lower half for the first network of a
    # model and the upper half for the second, so that G and D (or encoder and decoder) never share one.
    "first_network_init": Purpose(100, 0, 50, "initialisers of a model's first network (generator, encoder)"),
    "second_network_init": Purpose(100, 50, 50, "initialisers of a model's second network (discriminator, decoder)"),
    "upsampler_init": Purpose(10, 0, 10, "initialisers of lesson 02's small upsampler"),
    "random_backbone_init": Purpose(1000, 0, 1000, "random re-initialisation of a backbone's kernels"),
    "judge_augmentation": Purpose(1, 0, 2, "the judge's random translation (0) and rotation (1)"),
    "test_split": Purpose(1, 1_000_003, 1, "rendering of a synthetic test split, apart from the train split"),
    "evaluation_latents": Purpose(1, 1_000_003, 1, "fixed latents every KID evaluation of a run reuses"),
    "evaluation_samples": Purpose(1, 1, 1, "samples drawn once after training, apart from the snapshot latents"),
    "evaluation_noise": Purpose(1, 1, 1, "a VAE's sampling noise outside training, from the draw number"),
    "diffusion_init": Purpose(
        100, 5_000_000, 100, "initialisers of lesson 06's encoder (0-9), decoder (10-19) and denoiser (50-99)"
    ),
    "prior_samples": Purpose(1, 2_000_003, 1, "the source latents a prior-preserving run samples at compile"),
    "lora_init": Purpose(1000, 7_000_000, 1000, "LoRA's A of each adapted layer, when `lora.enable` gets a seed"),
}


def derive(seed: int, purpose: str, index: int = 0) -> int:
    """Return the seed for one named purpose (and part `index`) of a run seeded with `seed`.

    Args:
        seed: The run's seed, an integer >= 0 (a notebook's `SEED`).
        purpose: A key of `PURPOSES`, e.g. `"first_network_init"`.
        index: Which part of that purpose (a layer number, a draw), `0 <= index < spacing`.

    Returns:
        A non-negative integer seed.

    Raises:
        ValueError: for an unknown purpose, a negative seed, or an index outside the purpose's range.
        TypeError: for a seed or index that is not an integer.
    """
    seed = validation.positive_int(seed, "seed", minimum=0)
    index = validation.positive_int(index, "index", minimum=0)
    rule = PURPOSES[validation.choice(purpose, "purpose", PURPOSES)]
    if index >= rule.spacing:
        raise ValueError(
            f"index must be below {rule.spacing} for purpose {purpose!r}; received index={index}. Use a new purpose "
            "in tgai.core.seeds.PURPOSES for more parts."
        )
    return rule.multiplier * seed + rule.offset + index
