"""tgai.core.seeds: every derived seed equals the formula the committed checkpoints and notebooks were made with."""

import pytest

from tgai.core import seeds

# The arithmetic each module used before tgai.core.seeds existed (git history), as functions of (seed, index).
HISTORICAL = {
    "first_network_init": lambda seed, index: seed * 100 + index,  # gan/vae/backbones: seed * 100 + offset
    "second_network_init": lambda seed, index: seed * 100 + 50 + index,  # gan/vae: seed * 100 + 50 + offset
    "upsampler_init": lambda seed, index: seed * 10 + index,  # perceptual: seed * 10 + index
    "random_backbone_init": lambda seed, index: seed * 1000 + index,  # backbones: seed * 1000 + index
    "judge_augmentation": lambda seed, index: seed + index,  # judge: translation seed, rotation seed + 1
    "test_split": lambda seed, index: seed + 1_000_003,  # data: the glyph test split's offset
    "evaluation_latents": lambda seed, index: seed + 1_000_003,  # gan: fixed KID latents
    "evaluation_samples": lambda seed, index: seed + 1,  # pretrain: samples after training
    "evaluation_noise": lambda seed, index: seed + 1,  # vae: evaluation noise of draw `seed` (the same for every model)
    # Purposes added after tgai.core.seeds: their formula is the row itself (lesson 06's checkpoints were made with it).
    "diffusion_init": lambda seed, index: seed * 100 + 5_000_000 + index,
    "prior_samples": lambda seed, index: seed + 2_000_003,
    "lora_init": lambda seed, index: seed * 1000 + 7_000_000 + index,
}


def test_every_purpose_has_its_historical_formula():
    assert set(HISTORICAL) == set(seeds.PURPOSES)


@pytest.mark.parametrize("purpose", sorted(HISTORICAL))
@pytest.mark.parametrize("seed", [0, 1, 7, 123])
def test_derive_equals_the_historical_formula(purpose, seed):
    spacing = seeds.PURPOSES[purpose].spacing
    for index in sorted({0, 1, spacing // 2, spacing - 1}):
        if index < spacing:
            assert seeds.derive(seed, purpose, index) == HISTORICAL[purpose](seed, index), (purpose, seed, index)


# The judge's augmentation kept its historical `seed, seed + 1` (the committed judge was trained with it), so
# seed s's rotation shares a seed with seed s + 1's translation: the one row whose multiplier is below its
# spacing. No other row may do that.
OVERLAPPING = {"judge_augmentation"}


def test_only_the_historical_exception_lets_seeds_of_a_purpose_overlap():
    overlapping = {name for name, rule in seeds.PURPOSES.items() if rule.multiplier < rule.spacing}
    assert overlapping == OVERLAPPING


@pytest.mark.parametrize("purpose", sorted(set(HISTORICAL) - OVERLAPPING))
def test_no_two_seeds_of_one_purpose_share_a_derived_seed(purpose):
    spacing = seeds.PURPOSES[purpose].spacing
    indices = range(min(spacing, 60))
    derived = [seeds.derive(seed, purpose, index) for seed in range(5) for index in indices]
    assert len(derived) == len(set(derived))


def test_the_two_networks_of_a_model_never_share_an_initialiser_seed():
    first = {seeds.derive(seed, "first_network_init", index) for seed in range(4) for index in range(50)}
    second = {seeds.derive(seed, "second_network_init", index) for seed in range(4) for index in range(50)}
    assert not first & second


def test_the_default_index_is_zero():
    assert seeds.derive(3, "evaluation_latents") == seeds.derive(3, "evaluation_latents", 0) == 1_000_006


def test_an_unknown_purpose_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"purpose.*'generator_init'.*Valid values: .*first_network_init"):
        seeds.derive(0, "generator_init")


@pytest.mark.parametrize(
    ("purpose", "index"),
    [("first_network_init", 50), ("judge_augmentation", 2), ("test_split", 1), ("evaluation_noise", 1)],
)
def test_an_index_outside_the_purpose_raises_naming_it(purpose, index):
    spacing = seeds.PURPOSES[purpose].spacing
    with pytest.raises(
        ValueError,
        match=rf"index must be below {spacing} for purpose '{purpose}'; received index={index}\. Use a new purpose",
    ):
        seeds.derive(0, purpose, index)


@pytest.mark.parametrize(
    ("arguments", "error", "pattern"),
    [
        ((-1, "test_split"), ValueError, r"seed.*>= 0.*seed=-1"),
        ((1.5, "test_split"), TypeError, r"seed.*1\.5"),
        (("0", "test_split"), TypeError, r"seed.*'0'"),
        ((0, "test_split", -1), ValueError, r"index.*>= 0.*index=-1"),
        ((0, "first_network_init", 1.0), TypeError, r"index.*1\.0"),
    ],
)
def test_bad_seeds_and_indices_are_named(arguments, error, pattern):
    with pytest.raises(error, match=pattern):
        seeds.derive(*arguments)
