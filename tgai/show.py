"""Show the kit's own code inside a lesson, so the code has one home (the package) and the notebook shows it.

Introduced in lesson 00.
"""

from __future__ import annotations

import inspect


def source(obj) -> None:
    """Display the source of a function, method or class as a highlighted code block in a notebook.

    Outside a notebook it prints the source instead.

    Args:
        obj: A function, method or class from `tgai` (or anywhere with Python source).
    """
    if not callable(obj):
        raise TypeError(
            f"obj must be a function, method or class; received {obj!r}. "
            "Example: tgai.show.source(tgai.models.gan.GAN.train_step)."
        )
    text = inspect.getsource(obj)
    # IPython is optional (it comes with Jupyter, not with tgai): imported here so that plain Python works.
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:
        print(text)
        return
    if get_ipython() is None:
        print(text)
        return
    module = inspect.getmodule(obj)
    where = f"`{module.__name__}.{obj.__qualname__}`" if module else ""
    display(Markdown(f"{where}\n```python\n{text}```"))
