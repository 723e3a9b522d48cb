"""The stand-in's `google.colab.files`: `upload` hands over the wheel that `make dist` built."""

import os
import pathlib
import shutil


def upload() -> dict:
    """Copy the file named by `TGAI_COLAB_WHEEL` into the working folder, as Colab's upload dialog saves a file there.

    Returns:
        `{file name: its bytes}`, as Colab's `files.upload` does.
    """
    source = pathlib.Path(os.environ["TGAI_COLAB_WHEEL"])
    shutil.copy2(source, source.name)
    return {source.name: source.read_bytes()}
