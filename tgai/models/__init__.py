"""The generative models and how they transfer.

    transfer    the model contract, transfer strategies, freezing, starting from a source, restarts
    gan         lesson 03: a DCGAN, its `train_step`, FreezeD, sampling
    vae         lesson 04: a VAE with a Bernoulli likelihood, its `train_step`, adaptation strategies
    lora        lesson 05: low-rank adapters for the generators and decoders

Every model follows the contract written in `tgai.models.transfer`'s docstring. Submodules are imported on first
use (`tgai.models.gan`, `from tgai.models import vae`).
"""

from tgai import _lazy

SUBMODULES = _lazy.attach(__name__, __path__, globals())
