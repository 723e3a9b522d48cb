"""Figures for the lessons: image grids, sample mosaics, training curves, feature-map mosaics, embeddings, bars.

Introduced in lesson 00. Every figure has a title and axis labels; image grids label their rows or tiles.
Each function draws and returns the matplotlib `Figure` (it does not call `plt.show()`), so a notebook
shows it by leaving it as the cell's last expression or with `plt.show()`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

from tgai.core import validation

# Curves and bars are told apart by line style, marker and hatch as well as by colour, so that a figure still
# reads in grayscale and for colour-blind learners.
LINE_STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "x")
HATCHES = ("", "//", "..", "xx", "\\\\", "--")


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
        raise ValueError(
            f"titles must have one entry per image; received {len(titles)} titles for {len(images)} images."
        )
    rows = int(np.ceil(len(images) / columns))
    if row_labels is not None and len(row_labels) != rows:
        raise ValueError(f"row_labels must have one entry per row; received {len(row_labels)} for {rows} rows.")
    figure, axes = plt.subplots(
        rows, columns, figsize=(columns * scale + (1.2 if row_labels else 0), rows * scale + 0.6), squeeze=False
    )
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


def mosaic(images, columns: int = 8, gap: int = 2) -> np.ndarray:
    """Tile images into one array, `columns` per row, with `gap` pixels of mid-gray between tiles."""
    images = validation.images(images)
    columns = validation.positive_int(columns, "columns")
    count, height, width, channels = images.shape
    rows = int(np.ceil(count / columns))
    canvas = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap, channels), 0.5, np.float32)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        canvas[
            row * (height + gap) : row * (height + gap) + height,
            column * (width + gap) : column * (width + gap) + width,
        ] = image
    return canvas


def sample_panels(panels: dict, title: str, columns: int = 8, panel_size: float = 3.4, panels_per_row: int = 2):
    """Side-by-side mosaics of many samples each, large enough to judge strokes: `{panel title: images}`.

    Introduced in lesson 03, to set 64 generated digits beside 64 real ones. Each panel is one image (tiles
    separated by gray lines), so that sixty-four tiles stay large.

    Args:
        panels: `{title: float NHWC images in [0, 1]}`, drawn in order, left to right, then down.
        title: Figure title.
        columns: Tiles per row within a panel.
        panel_size: Width of one panel in inches.
        panels_per_row: Panels side by side.

    Returns:
        The matplotlib Figure.
    """
    if not isinstance(panels, dict) or not panels:
        raise TypeError(f"panels must be a non-empty dict {{title: images}}; received {validation.describe(panels)}.")
    panels_per_row = validation.positive_int(panels_per_row, "panels_per_row")
    rows = int(np.ceil(len(panels) / panels_per_row))
    figure, axes = plt.subplots(
        rows, panels_per_row, figsize=(panels_per_row * panel_size, rows * panel_size + 0.5), squeeze=False
    )
    for axis in axes.flat:
        axis.set_axis_off()
    for axis, (label, images) in zip(axes.flat, panels.items(), strict=False):
        canvas = mosaic(images, columns)
        # Nearest: each generated pixel stays one sharp block, as the judge sees it.
        shown = canvas[..., 0] if canvas.shape[-1] == 1 else canvas
        axis.imshow(shown, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        axis.set_title(str(label), fontsize=11)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def training_curves(
    curves: dict,
    title: str,
    xlabel: str = "training step",
    ylabel: str = "",
    logy: bool = False,
    marks: dict | None = None,
):
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
        raise ValueError(
            f"curves must be a non-empty dict {{label: (steps, values)}}; received {validation.describe(curves)}."
        )
    figure, axis = plt.subplots(figsize=(7, 4))
    for index, (label, (steps, values)) in enumerate(curves.items()):
        axis.plot(
            steps,
            values,
            linestyle=LINE_STYLES[index % len(LINE_STYLES)],
            marker=MARKERS[index % len(MARKERS)],
            markersize=4,
            label=str(label),
        )
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


def _normalise_map(channel_map: np.ndarray) -> np.ndarray:
    low, high = float(channel_map.min()), float(channel_map.max())
    return (channel_map - low) / (high - low) if high > low else np.zeros_like(channel_map)


def _check_maps(maps, argument: str) -> np.ndarray:
    if hasattr(maps, "numpy"):
        maps = maps.numpy()
    if not isinstance(maps, np.ndarray) or maps.ndim != 3:
        raise ValueError(
            f"{argument} must be one image's feature maps, shape (H, W, C); received {validation.describe(maps)}. "
            "Take one image: maps[0]."
        )
    if not np.all(np.isfinite(maps)):
        raise ValueError(f"{argument} contains NaN or inf; received {validation.describe(maps)}.")
    return maps


def feature_maps(maps, title: str, channels: int = 16, scale: float = 0.9):
    """Mosaic of one image's feature maps: the most active channels, each scaled to its own range.

    Introduced in lesson 01 (feature maps by block). Each tile is one channel, min-max scaled on its own
    (activations differ in scale by orders of magnitude across channels and layers); tiles show the
    `channels` channels with the largest mean activation, in decreasing order.

    Args:
        maps: One image's maps, shape (H, W, C); or a dict `{row label: (H, W, C)}` with one row per layer.
        title: Figure title: say which image, backbone and weights.
        channels: Channels shown per row.
        scale: Size of one tile in inches.

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: for maps that are not (H, W, C) finite arrays, or an empty dict.
    """
    rows = maps if isinstance(maps, dict) else {"": maps}
    if not rows:
        raise ValueError("maps must not be an empty dict; pass {layer name: (H, W, C) array}.")
    rows = {label: _check_maps(value, f"maps[{label!r}]" if label else "maps") for label, value in rows.items()}
    channels = validation.positive_int(channels, "channels")
    columns = min(channels, max(value.shape[-1] for value in rows.values()))
    figure, axes = plt.subplots(
        len(rows), columns, figsize=(columns * scale + 1.6, len(rows) * scale + 0.8), squeeze=False
    )
    for row, (label, value) in enumerate(rows.items()):
        order = np.argsort(-value.mean(axis=(0, 1)), kind="stable")[:columns]
        for column, axis in enumerate(axes[row]):
            axis.set_xticks([])
            axis.set_yticks([])
            if column < len(order):
                axis.imshow(_normalise_map(value[..., order[column]]), cmap="viridis", vmin=0.0, vmax=1.0)
                axis.set_title(f"ch {order[column]}", fontsize=8)
            else:
                axis.set_visible(False)
        height, width, depth = value.shape
        axes[row, 0].set_ylabel(
            f"{label}\n{height}x{width}x{depth}" if label else f"{height}x{width}x{depth}",
            rotation=0,
            ha="right",
            va="center",
            fontsize=8,
        )
    figure.supxlabel(
        f"channels with the largest mean activation (top {columns}), each scaled to its own range", fontsize=8
    )
    figure.supylabel("layer (map height x width x channels)", fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def _project(features: np.ndarray, method: str, seed: int, perplexity: float):
    if method == "pca":
        pca = PCA(n_components=2, random_state=seed)
        points = pca.fit_transform(features)
        ratios = pca.explained_variance_ratio_
        return points, (f"PC 1 ({ratios[0]:.0%} of variance)", f"PC 2 ({ratios[1]:.0%} of variance)")
    perplexity = min(perplexity, (len(features) - 1) / 3)
    # One OpenMP thread: on a shared 2-core machine t-SNE's spinning threads made it ~80x slower, not faster.
    with threadpool_limits(limits=1, user_api="openmp"):
        points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)
    return points, ("t-SNE 1 (arbitrary units)", "t-SNE 2 (arbitrary units)")


def embedding(
    features,
    groups,
    method: str = "pca",
    title: str = "",
    styles=None,
    seed: int = 0,
    perplexity: float = 30.0,
    scale: float = 4.0,
):
    """2-D embedding of feature vectors, coloured by group (class or domain), via PCA or t-SNE (scikit-learn).

    Introduced in lesson 01 (source vs target embeddings). PCA is linear and its axes carry a share of the
    variance; t-SNE keeps neighbourhoods but its distances between clusters mean little.

    Args:
        features: (N, D) features; or a dict `{panel title: (N, D)}` for side-by-side panels (e.g. per layer),
            all with the same N.
        groups: N labels that set the colour: the distinction the figure is about (e.g. domain, when the
            question is how far source and target lie apart; or class).
        method: `"pca"` or `"tsne"`.
        title: Figure title: say which feature space.
        styles: Optional N labels that set the marker (a secondary distinction).
        seed: Seeds t-SNE (and PCA's randomised solver).
        perplexity: t-SNE perplexity, capped for small N.
        scale: Panel size in inches.

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: for an unknown method, fewer than 3 samples, or groups/styles of the wrong length.
    """
    validation.choice(method, "method", ("pca", "tsne"))
    panels = features if isinstance(features, dict) else {"": features}
    if not panels:
        raise ValueError("features must not be an empty dict; pass {panel title: (N, D) array}.")
    panels = {label: validation.features(value, "features") for label, value in panels.items()}
    count = len(next(iter(panels.values())))
    if count < 3 or any(len(value) != count for value in panels.values()):
        raise ValueError(
            f"every features array needs the same N >= 3 rows; received {[len(v) for v in panels.values()]}."
        )
    groups = np.asarray(groups)
    if groups.shape != (count,):
        raise ValueError(
            f"groups must have one label per row of features: received "
            f"{groups.shape[0] if groups.ndim else 0} for {count}."
        )
    styles = None if styles is None else np.asarray(styles)
    if styles is not None and styles.shape != (count,):
        raise ValueError(f"styles must have one label per row of features: received {len(styles)} for {count}.")
    figure, axes = plt.subplots(1, len(panels), figsize=(scale * len(panels) + 1.5, scale), squeeze=False)
    group_values = list(dict.fromkeys(groups.tolist()))
    style_values = list(dict.fromkeys(styles.tolist())) if styles is not None else [None]
    colours = plt.get_cmap("tab10" if len(group_values) <= 10 else "tab20")
    for axis, (label, value) in zip(axes[0], panels.items(), strict=True):
        points, (xlabel, ylabel) = _project(value, method, seed, perplexity)
        for style_index, style in enumerate(style_values):
            for group_index, group in enumerate(group_values):
                mask = groups == group
                if style is not None:
                    mask &= styles == style
                if not mask.any():
                    continue
                axis.scatter(
                    points[mask, 0],
                    points[mask, 1],
                    s=14,
                    alpha=0.7,
                    color=colours(group_index % colours.N),
                    marker=MARKERS[style_index % len(MARKERS)],
                    linewidths=0.8,
                )
        axis.set_title(str(label), fontsize=10)
        axis.set_xlabel(xlabel)
        axis.set_ylabel(ylabel)
    handles = [
        plt.Line2D([], [], linestyle="", marker="o", color=colours(i % colours.N), label=str(g))
        for i, g in enumerate(group_values)
    ]
    if styles is not None:
        handles += [
            plt.Line2D([], [], linestyle="", marker=MARKERS[i % len(MARKERS)], color="black", label=str(s))
            for i, s in enumerate(style_values)
        ]
    figure.legend(handles=handles, loc="center right", fontsize=9, frameon=False)
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0, 1 - 1.3 / (scale * len(panels) + 1.5), 1))
    return figure


def bar_chart(
    values: dict,
    categories,
    title: str,
    xlabel: str,
    ylabel: str,
    errors: dict | None = None,
    reference: float | None = None,
    reference_label: str | None = None,
):
    """Grouped bars: one colour per series, one group of bars per category; values written on the bars.

    Introduced in lesson 01 (probe accuracy per labels per class; Fréchet distance per layer).

    Args:
        values: `{series label: [value per category]}`.
        categories: Category labels along the x axis.
        title: Figure title.
        xlabel: x-axis label.
        ylabel: y-axis label, with units.
        errors: Optional `{series label: [(low, high) per category]}`, drawn as error bars (e.g. min-max
            over seeds).
        reference: Optional horizontal reference line (e.g. chance accuracy).
        reference_label: What the reference line is, for the legend (e.g. "chance (1 in 10)").

    Returns:
        The matplotlib Figure.

    Raises:
        ValueError: for an empty `values` or series whose length differs from `categories`.
    """
    categories = [str(category) for category in categories]
    if not isinstance(values, dict) or not values:
        raise ValueError(
            f"values must be a non-empty dict {{series: [value per category]}}; received {validation.describe(values)}."
        )
    for label, series in values.items():
        if len(series) != len(categories):
            raise ValueError(
                f"values[{label!r}] must have one value per category: received {len(series)} for {len(categories)}."
            )
    legend_width = 3.2 if len(values) > 1 or reference_label else 0.0  # room for the legend beside the axes
    figure, axis = plt.subplots(
        figsize=(max(5.0, 1.1 * len(categories) * max(1, len(values)) ** 0.5 + 2) + legend_width, 3.6)
    )
    width = 0.8 / len(values)
    positions = np.arange(len(categories))
    for index, (label, series) in enumerate(values.items()):
        offsets = positions - 0.4 + width * (index + 0.5)
        series = np.asarray(series, dtype=float)
        yerr = None
        if errors is not None and label in errors:
            bounds = np.asarray(errors[label], dtype=float)
            yerr = np.stack([series - bounds[:, 0], bounds[:, 1] - series])
        bars = axis.bar(
            offsets,
            series,
            width=width,
            label=str(label),
            yerr=yerr,
            capsize=3,
            hatch=HATCHES[index % len(HATCHES)],
            edgecolor="white",
        )
        axis.bar_label(bars, fmt="%.3g", fontsize=8, padding=2)
    if reference is not None:
        axis.axhline(reference, linestyle="--", color="gray", linewidth=1, label=reference_label)
    axis.set_xticks(positions, categories)
    axis.set_title(title)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    if len(values) > 1 or reference_label:
        # Beside the axes, not on them: with many series a legend inside would cover the shortest bars.
        axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    axis.margins(y=0.15)
    figure.tight_layout()
    return figure
