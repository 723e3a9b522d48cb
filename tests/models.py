"""The registry of generative models the shared test harness runs: one `ModelCase` per model.

The resume, determinism and MirroredStrategy harnesses (tests/scripts/train_briefly.py,
tests/scripts/distributed_steps.py, tests/test_resume.py, tests/test_determinism.py,
tests/test_distribute.py), the transfer tests (tests/test_transfer.py) and the model cases of the bad-input
catalogue (tests/test_bad_input.py) loop over `MODELS`, with no `if kind == ...` branch: every model follows
the contract in `tgai.models.transfer`'s docstring (the class: CHECKPOINT, STRATEGIES, networks, optimizers,
image_shape, get_config/from_config, get_compile_config/compile_from_config, sample, divergence_hint; the
module: make, load_source, train), and what differs (how small it can be built, what its divergence message
names, which weight to poison) is written here once. Adding a model to the kit means adding one entry to
`MODELS`, named as in `tgai.models.transfer.MODELS` (a test checks both lists agree).

Importable from pytest (tests/ is on `sys.path`) and from the scripts, which put tests/ on `sys.path`.
Nothing here imports TensorFlow at import time: the scripts must configure devices first.
"""

from __future__ import annotations

import dataclasses
import importlib

SMALL_SHAPE = (16, 16, 1)


@dataclasses.dataclass(frozen=True)
class ModelCase:
    """How the harness builds, trains and checks one model.

    Attributes:
        name: The registry key (`gan`, `vae`), used in test ids and file names.
        module: The module that defines it (`tgai.models.gan`), with `make`, `load_source` and `train`.
        class_name: The model class in `module` (follows the `tgai.models.transfer` protocol).
        fine_tune: `function(seed) -> (compiled model, report)`: the short fine-tune the subprocess
            harnesses run (from the committed source, so loading, starting and freezing are under test too).
        small: `from_config` keys of a small model for in-process tests (16x16, narrow).
        causes: Phrases the divergence message must quote (the model's `divergence_hint`).
        poison: `(network, layer)` whose kernel, made NaN, makes the next loss non-finite (a layer with no
            ReLU after it: ReLU maps NaN to 0 on some kernels and would hide it for a step).
        mismatched: `from_config` keys of an architecture the committed checkpoint does not fit, and the
            `network/layer` names the `CheckpointError` must list.
        evaluate: `function(model, images) -> float`, the module's own evaluation of a model (its sampling or
            held-out loss, with whatever evaluation randomness the model keeps), for restart tests; `train`
            runs it every chunk through `tgai.training.PeriodicEvaluation`, as lessons evaluate.
        saved_with: The attribute the committed checkpoint records its architecture by (`latent_dim`), which a
            refused load names.
        other_shape: `from_config` keys, over `small`, of a model whose networks' weights differ in shape from the
            small model's (a larger image for the GAN and the VAE; the fully convolutional denoiser's weights do
            not depend on the image size, so wider layers for it).
    """

    name: str
    module: str
    class_name: str
    fine_tune: object
    small: dict
    causes: tuple
    poison: tuple
    mismatched: dict
    mismatched_layers: tuple
    evaluate: object
    saved_with: str = "latent_dim"
    other_shape: dict = dataclasses.field(default_factory=lambda: {"image_shape": (24, 24, 1)})

    # ------------------------------------------------------------------------------------------ access

    @property
    def tgai_module(self):
        return importlib.import_module(self.module)

    @property
    def model_class(self):
        return getattr(self.tgai_module, self.class_name)

    def build(self, strategy: str, seed: int = 0, **options):
        """`make` of the module: a compiled model for `strategy`, at the committed source's architecture."""
        return self.tgai_module.make(strategy, seed=seed, **options)

    def build_fine_tune(self, seed: int = 0):
        """The compiled model of the subprocess harnesses' short fine-tune."""
        return self.fine_tune(seed)

    def create_small(self, seed: int = 0):
        """An uncompiled small model with fresh weights from `seed`."""
        return self.model_class.from_config(dict(seed=seed, **self.small))

    def build_small(self, strategy: str = "scratch", seed: int = 0, blocks: int = 1, source=None):
        """A compiled small model for `strategy`: starts from `source` (default: a small model of seed 99)."""
        from tgai.models import transfer

        model = self.create_small(seed)
        if source is None and self.model_class.STRATEGIES[strategy].from_source:
            source = self.create_small(99)
        report = transfer.prepare(model, strategy, blocks, source)
        model.compile()
        return model, report

    def load_source(self, **options):
        return self.tgai_module.load_source(**options)

    def train(
        self, model, images, steps: int, batch_size: int, seed: int = 0, eval_every=None, callbacks=(), backup_dir=None
    ) -> list:
        """Train with the module's `train`, evaluating with `evaluate` every chunk; return every number logged.

        The losses `fit` logged (one mean per chunk) and then the evaluated values, as floats, so that a harness
        compares or checks training and evaluation at once.
        """
        from tgai import training

        images = self.tgai_module.prepare_images(images)
        # Any positive interval will do for a bad `steps`: `train` must be the one to refuse it.
        every = eval_every or (steps if isinstance(steps, int) and steps > 0 else 1)
        heldout = images[:16]
        evaluation = training.PeriodicEvaluation(lambda trained: {"evaluation": self.evaluate(trained, heldout)}, every)
        history = self.tgai_module.train(
            model,
            images,
            steps,
            batch_size,
            seed=seed,
            eval_every=eval_every,
            callbacks=[evaluation, *callbacks],
            backup_dir=backup_dir,
        )
        losses = [
            float(value) for name in sorted(history.history) if name.endswith("loss") for value in history.history[name]
        ]
        return losses + [float(value) for _, values in evaluation.history for _, value in sorted(values.items())]

    def poisoned_weight(self, model):
        network, layer = self.poison
        return model.networks[network].get_layer(layer).kernel


def _gan_fine_tune(seed):
    """FreezeD from the committed source, with DiffAugment: the stateless draws of latents and augmentation."""
    from tgai.models import gan

    return gan.make("freeze_d", seed=seed, augment=gan.AUGMENT_OPERATIONS)


def _gan_evaluate(model, images):
    """The mean of EMA samples from seeded latents."""
    return float(model.sample(4, seed=0).mean())


def _vae_evaluate(model, images):
    """Held-out -ELBO, whose sampling noise the model derives from its seed."""
    from tgai.models import vae

    return float(vae.negative_elbo(model, vae.binarize(images))["negative_elbo"])


def _vae_fine_tune(seed):
    """Full fine-tuning of the committed source VAE (lesson 04)."""
    from tgai.models import vae

    return vae.make("full", seed=seed)


def _diffusion_evaluate(model, images):
    """The mean of EMA samples from seeded noise, through a few DDIM steps."""
    return float(model.sample(4, seed=0, steps=3).mean())


def _diffusion_fine_tune(seed):
    """Full fine-tuning of the committed source denoiser with prior preservation (lesson 06): every stateless draw."""
    from tgai.models import diffusion

    return diffusion.make("full", seed=seed, prior_weight=1.0, prior_samples=16)


MODELS: dict[str, ModelCase] = {
    "gan": ModelCase(
        name="gan",
        module="tgai.models.gan",
        class_name="GAN",
        fine_tune=_gan_fine_tune,
        small={"image_shape": SMALL_SHAPE, "latent_dim": 8, "widths": (16, 8)},
        causes=("learning rate", "[0, 1]", "D/G balance"),
        poison=("discriminator", "d_output_dense"),
        mismatched={"image_shape": (64, 64, 1)},
        mismatched_layers=("generator/g_block1_dense", "discriminator/d_output_dense"),
        evaluate=_gan_evaluate,
    ),
    "vae": ModelCase(
        name="vae",
        module="tgai.models.vae",
        class_name="VAE",
        fine_tune=_vae_fine_tune,
        small={"image_shape": SMALL_SHAPE, "latent_dim": 4},
        causes=("[0, 1]", "learning rate"),
        poison=("decoder", "logits"),
        mismatched={"latent_dim": 4},
        mismatched_layers=("encoder/z_mean", "encoder/z_log_var", "decoder/dense"),
        evaluate=_vae_evaluate,
    ),
    "diffusion": ModelCase(
        name="diffusion",
        module="tgai.models.diffusion",
        class_name="LatentDiffusion",
        fine_tune=_diffusion_fine_tune,
        small={"image_shape": SMALL_SHAPE, "autoencoder": "fresh", "autoencoder_width": 8, "widths": (16, 16)},
        causes=("[0, 1]", "learning rate"),
        poison=("denoiser", "output_conv"),
        mismatched={"widths": (64, 96)},
        mismatched_layers=("denoiser/middle1_conv1", "denoiser/up_conv1"),
        evaluate=_diffusion_evaluate,
        saved_with="latent_shape",
        other_shape={"widths": (16, 24)},
    ),
}

NAMES = tuple(MODELS)
