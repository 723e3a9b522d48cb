"""Figures for the lessons: labelled image grids, training curves, and side-by-side comparisons.

Introduced in lesson 00. Every figure has a title and axis labels; image grids label their rows or tiles.
Each function draws and returns the matplotlib `Figure` (it does not call `plt.show()`), so a notebook
shows it by leaving it as the cell's last expression or with `plt.show()`.
"""

from __future__ import annotations

import numpy as np

from tgai import validation


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def image_grid(images, titles=None, columns: int = 10, title: str = "", row_labels=None, scale: float = 1.0):
    """Show images in a grid with optional per-tile titles and per-row labels.

    Args:
        images: float NHWC images in [0, 1], 1 or 3 channels.
        titles: Optional label per image (e.g. its class).
        columns: Tiles per row.
        title: Figure title (required in spirit: say what the images are).
        row_labels: Optional label per row, drawn at the left (e.g. a strategy or a step).
        scale: Size of one tile in inches.

    Returns:
        The matplotlib Figure.
    """
    images = validation.images(images)
    columns = validation.positive_int(columns, "columns")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles must have one entry per image; received {len(titles)} titles for {len(images)} images.")
    rows = int(np.ceil(len(images) / columns))
    if row_labels is not None and len(row_labels) != rows:
        raise ValueError(f"row_labels must have one entry per row; received {len(row_labels)} for {rows} rows.")
    plt = _pyplot()
    figure, axes = plt.subplots(rows, columns, figsize=(columns * scale + (1.2 if row_labels else 0), rows * scale + 0.6), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.set_xticks([])
        axis.set_yticks([])
        for spine in axis.spines.values():
            spine.set_visible(False)
        if index >= len(images):
            continue
        image = images[index]
        axis.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0.0, vmax=1.0)
        if titles is not None:
            axis.set_title(str(titles[index]), fontsize=8)
    if row_labels is not None:
        for row, label in enumerate(row_labels):
            axes[row, 0].set_ylabel(str(label), rotation=0, ha="right", va="center", fontsize=9)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def training_curves(curves: dict, title: str, xlabel: str = "training step", ylabel: str = "", logy: bool = False, marks: dict | None = None):
    """Plot one line per named curve, each given as `(steps, values)`.

    Args:
        curves: `{label: (steps, values)}`.
        title: Figure title.
        xlabel: x-axis label, with units.
        ylabel: y-axis label, with units.
        logy: Log-scale the y axis.
        marks: Optional `{label: y}` horizontal reference lines (e.g. "scratch's final KID").

    Returns:
        The matplotlib Figure.
    """
    if not isinstance(curves, dict) or not curves:
        raise ValueError(f"curves must be a non-empty dict {{label: (steps, values)}}; received {validation.describe(curves)}.")
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 4))
    for label, (steps, values) in curves.items():
        axis.plot(steps, values, marker="o", markersize=3, label=str(label))
    for label, value in (marks or {}).items():
        axis.axhline(value, linestyle="--", color="gray", linewidth=1)
        axis.annotate(str(label), (axis.get_xlim()[0], value), fontsize=8, color="gray", va="bottom")
    if logy:
        axis.set_yscale("log")
    axis.set_title(title)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    return figure
