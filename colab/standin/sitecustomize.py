# make colab-check only: a Colab kernel starts with google.colab imported; the stand-in does the same.
import google.colab  # noqa: F401
