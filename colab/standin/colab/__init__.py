"""A stand-in for Colab's `google.colab` module, for `make colab-check` only: never installed anywhere else.

`make colab-check` copies this folder into `build/colab/`'s site-packages as `google/colab/` (beside protobuf's
`google` namespace), and `sitecustomize.py` imports it at start-up, as a Colab kernel has it imported. The lessons'
setup cells then take their Colab branch, install the kit's wheel inside the kernel, and run on.
"""
