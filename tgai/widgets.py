"""Sliders over what a lesson has already computed: scrub through training steps, a latent walk, or methods.

Introduced in lesson 03. A lesson computes its frames first (the images of each training step, of each point
on a walk between two codes, of each method); a slider only chooses which frame to draw, so moving it never
trains or samples anything, and a learner can drag it freely on a 2-core laptop.

    frames = tgai.widgets.Frames([images_at_step_0, images_at_step_125], ["step 0", "step 125"])
    tgai.widgets.slider(frames, "step", title="EMA samples from fixed latents", row_labels=["fine-tune", "scratch"])

In JupyterLab the slider is an ipywidgets `IntSlider` above the drawn frame. Where ipywidgets is missing,
`slider` draws the last frame and says how to get the slider. The course site is a static page: it leaves slider
cells out (`site/prepare.py`), so each lesson's prose says what the slider shows, beside a figure where there is one.
"""

from __future__ import annotations

import dataclasses

import matplotlib.pyplot as plt
import numpy as np

from tgai import plots
from tgai.core import validation


@dataclasses.dataclass(frozen=True)
class Frames:
    """Frames to slide through: `images[i]` is one grid of images (NHWC in [0, 1]), `captions[i]` says what it is."""

    images: list
    captions: list

    def __post_init__(self):
        if not isinstance(self.images, list | tuple) or not self.images:
            raise ValueError(
                f"images must be a non-empty list of image batches, one per frame; received "
                f"{validation.describe(self.images)}."
            )
        if len(self.captions) != len(self.images):
            raise ValueError(
                f"captions must have one entry per frame; received {len(self.captions)} captions for "
                f"{len(self.images)} frames."
            )
        checked = [validation.images(batch, f"images[{index}]") for index, batch in enumerate(self.images)]
        if len({batch.shape for batch in checked}) != 1:
            raise ValueError(
                f"every frame must hold images of one shape and count; received shapes "
                f"{sorted({batch.shape for batch in checked})}. Draw the same number of images for each frame."
            )
        object.__setattr__(self, "images", checked)
        object.__setattr__(self, "captions", [str(caption) for caption in self.captions])

    def __len__(self) -> int:
        return len(self.images)


def draw(frames: Frames, index: int, title: str, columns: int = 8, row_labels=None, scale: float = 0.7):
    """Draw frame `index` as an image grid titled `"<title>: <caption>"`; return the matplotlib Figure."""
    if not isinstance(frames, Frames):
        raise TypeError(f"frames must be a tgai.widgets.Frames; received {validation.describe(frames)}.")
    index = validation.int_in_range(index, "index", 0, len(frames) - 1, "one of the frames")
    return plots.image_grid(
        frames.images[index],
        columns=columns,
        title=f"{title}: {frames.captions[index]}",
        row_labels=row_labels,
        scale=scale,
    )


def slider(frames: Frames, label: str, title: str, columns: int = 8, row_labels=None, scale: float = 0.7):
    """A slider over `frames` that draws the chosen one (`draw`), starting at the last; returns the widget.

    Without ipywidgets it draws the last frame, prints how to get the slider, and returns None.
    """
    try:
        import ipywidgets
    except ImportError:
        draw(frames, len(frames) - 1, title, columns, row_labels, scale)
        plt.show()
        print(f"(a slider over the {len(frames)} frames needs ipywidgets: pip install ipywidgets; the last is drawn)")
        return None
    control = ipywidgets.IntSlider(
        value=len(frames) - 1, min=0, max=len(frames) - 1, description=label, continuous_update=False
    )
    output = ipywidgets.Output()

    def show(change=None):
        with output:
            output.clear_output(wait=True)
            draw(frames, control.value, title, columns, row_labels, scale)
            plt.show()

    control.observe(show, names="value")
    show()
    return ipywidgets.VBox([control, output])


def walk(decode, start, end, points: int) -> list:
    """Decode `points` codes evenly spaced on the straight lines from `start` to `end`: one frame per point.

    `start` and `end` are arrays of codes with one row per line (lesson 04 walks between the mixture's means);
    `decode(codes) -> images`. All the decoding happens here, before any slider moves.
    """
    start, end = np.asarray(start, np.float32), np.asarray(end, np.float32)
    if start.shape != end.shape or start.ndim != 2:
        raise ValueError(
            f"start and end must be codes of one shape (lines, latent numbers); received {start.shape} and {end.shape}."
        )
    points = validation.int_in_range(points, "points", 2, 100, "enough to see the walk, few enough to decode")
    return [np.asarray(decode((1 - t) * start + t * end)) for t in np.linspace(0.0, 1.0, points, dtype=np.float32)]
