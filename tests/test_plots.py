"""tgai.plots: every function returns a Figure with a title and axis labels, and rejects bad input."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tgai import plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _labels(figure):
    """All axis labels and titles of a figure, figure-level ones included."""
    texts = [figure._suptitle.get_text() if figure._suptitle else ""]
    for name in ("_supxlabel", "_supylabel"):
        label = getattr(figure, name, None)
        texts.append(label.get_text() if label else "")
    for axis in figure.axes:
        if axis.get_visible():
            texts += [axis.get_title(), axis.get_xlabel(), axis.get_ylabel()]
    return texts


def _rng(seed=0):
    return np.random.default_rng(seed)


def test_image_grid_titles_and_row_labels():
    images = _rng().random((6, 8, 8, 1)).astype(np.float32)
    figure = plots.image_grid(
        images, titles=list("abcdef"), columns=3, title="six images", row_labels=["row 1", "row 2"]
    )
    assert isinstance(figure, matplotlib.figure.Figure)
    assert figure._suptitle.get_text() == "six images"
    assert [axis.get_ylabel() for axis in figure.axes[::3]] == ["row 1", "row 2"]
    assert figure.axes[0].get_title() == "a"


def test_image_grid_errors():
    images = _rng().random((4, 8, 8, 1)).astype(np.float32)
    with pytest.raises(ValueError, match="titles must have one entry per image"):
        plots.image_grid(images, titles=["a"])
    with pytest.raises(ValueError, match="row_labels"):
        plots.image_grid(images, columns=2, row_labels=["only one"])
    with pytest.raises(ValueError, match="0-255"):
        plots.image_grid(images * 255)


def test_training_curves_labels_and_marks():
    figure = plots.training_curves(
        {"scratch": ([0, 1, 2], [3, 2, 1])}, title="loss", ylabel="loss (nats)", marks={"target": 1.5}
    )
    axis = figure.axes[0]
    assert axis.get_title() == "loss" and axis.get_xlabel() == "training step" and axis.get_ylabel() == "loss (nats)"
    with pytest.raises(ValueError, match="non-empty dict"):
        plots.training_curves({}, title="empty")


def test_curves_differ_by_line_style_and_marker_not_only_colour():
    figure = plots.training_curves({f"run {index}": ([0, 1], [index, index + 1]) for index in range(4)}, title="runs")
    lines = figure.axes[0].get_lines()
    assert len({line.get_linestyle() for line in lines}) == 4
    assert len({line.get_marker() for line in lines}) == 4


def test_feature_maps_single_and_per_layer():
    maps = _rng().random((8, 8, 32)).astype(np.float32)
    maps[..., 5] += 10.0  # The most active channel comes first.
    figure = plots.feature_maps(maps, title="block1", channels=4)
    assert figure._suptitle.get_text() == "block1"
    assert figure.axes[0].get_title() == "ch 5"
    assert len(figure.axes) == 4
    assert all(text for text in _labels(figure)[:3])  # title, x label and y label present
    layered = plots.feature_maps(
        {"block1_conv2": maps, "block3_conv3": _rng(1).random((4, 4, 2))}, title="by block", channels=3
    )
    assert len(figure.axes) == 4 and len(layered.axes) == 6
    assert not layered.axes[5].get_visible()  # block3 has 2 channels: the third tile is hidden.
    assert "block3_conv3" in layered.axes[3].get_ylabel()


def test_feature_maps_handle_a_constant_channel():
    maps = np.zeros((4, 4, 2), np.float32)
    plots.feature_maps(maps, title="dead channels")


def test_feature_maps_errors():
    with pytest.raises(ValueError, match=r"\(H, W, C\)"):
        plots.feature_maps(np.zeros((2, 4, 4, 3)), title="batch")
    with pytest.raises(ValueError, match="NaN"):
        plots.feature_maps(np.full((4, 4, 3), np.nan), title="nan")
    with pytest.raises(ValueError, match="empty dict"):
        plots.feature_maps({}, title="none")
    with pytest.raises(ValueError, match="channels"):
        plots.feature_maps(np.zeros((4, 4, 3)), title="zero", channels=0)


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_embedding_panels_axes_and_legend(method):
    rng = _rng()
    features = np.concatenate([rng.normal(size=(20, 5)), rng.normal(size=(20, 5)) + 4])
    groups = np.repeat([0, 1], 20)
    domains = np.tile(["source", "target"], 20)
    figure = plots.embedding(
        {"layer a": features, "layer b": features[:, ::-1]}, groups, method=method, title="emb", styles=domains
    )
    assert figure._suptitle.get_text() == "emb"
    assert len(figure.axes) == 2
    assert [axis.get_title() for axis in figure.axes] == ["layer a", "layer b"]
    prefix = "PC 1" if method == "pca" else "t-SNE 1"
    assert figure.axes[0].get_xlabel().startswith(prefix) and figure.axes[0].get_ylabel()
    legend_texts = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend_texts == ["0", "1", "source", "target"]


def test_embedding_pca_reports_variance_and_is_deterministic():
    features = _rng().normal(size=(30, 4)) * [10, 1, 1, 1]
    first = plots.embedding(features, np.zeros(30), title="pca")
    assert "% of variance" in first.axes[0].get_xlabel()
    second = plots.embedding(features, np.zeros(30), title="pca")
    np.testing.assert_array_equal(
        first.axes[0].collections[0].get_offsets(), second.axes[0].collections[0].get_offsets()
    )


def test_embedding_errors():
    features = _rng().normal(size=(10, 3))
    with pytest.raises(ValueError, match="Unknown method"):
        plots.embedding(features, np.zeros(10), method="umap")
    with pytest.raises(ValueError, match="groups must have one label per row"):
        plots.embedding(features, np.zeros(9))
    with pytest.raises(ValueError, match="styles must have one label per row"):
        plots.embedding(features, np.zeros(10), styles=np.zeros(3))
    with pytest.raises(ValueError, match="N >= 3"):
        plots.embedding({"a": features, "b": features[:5]}, np.zeros(10))
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        plots.embedding(np.zeros((10, 3, 3)), np.zeros(10))


def test_bar_chart_grouped_with_errors_and_reference():
    figure = plots.bar_chart(
        {"pretrained": [0.5, 0.8], "random": [0.4, 0.7]},
        categories=[1, 5],
        title="probe",
        xlabel="labels per class",
        ylabel="held-out accuracy",
        errors={"pretrained": [(0.4, 0.6), (0.7, 0.9)]},
        reference=0.1,
        reference_label="chance (1 in 10)",
    )
    axis = figure.axes[0]
    assert "chance (1 in 10)" in [text.get_text() for text in axis.get_legend().get_texts()]
    assert (
        axis.get_title() == "probe"
        and axis.get_xlabel() == "labels per class"
        and axis.get_ylabel() == "held-out accuracy"
    )
    assert [tick.get_text() for tick in axis.get_xticklabels()] == ["1", "5"]
    assert len(axis.patches) == 4
    # The two series differ by hatch as well as colour, so the chart reads in grayscale.
    assert axis.patches[0].get_hatch() != axis.patches[2].get_hatch()


def test_bar_chart_errors():
    with pytest.raises(ValueError, match="non-empty dict"):
        plots.bar_chart({}, [1], title="t", xlabel="x", ylabel="y")
    with pytest.raises(ValueError, match="one value per category"):
        plots.bar_chart({"a": [1, 2, 3]}, [1, 2], title="t", xlabel="x", ylabel="y")


def test_mosaic_tiles_with_gaps_and_panels_are_titled():
    images = np.stack([np.full((4, 4, 1), value, np.float32) for value in (0.0, 1.0, 0.25)])
    canvas = plots.mosaic(images, columns=2, gap=1)
    assert canvas.shape == (9, 9, 1)
    assert canvas[0, 0, 0] == 0.0 and canvas[0, 5, 0] == 1.0 and canvas[5, 0, 0] == 0.25
    assert canvas[4, 0, 0] == 0.5 and canvas[5, 5, 0] == 0.5  # the gap, and the empty fourth tile
    figure = plots.sample_panels({"real": images, "fake": images[:2]}, title="Samples")
    assert [axis.get_title() for axis in figure.axes] == ["real", "fake"]
    assert figure._suptitle.get_text() == "Samples"
    with pytest.raises(TypeError, match="panels must be a non-empty dict"):
        plots.sample_panels([], title="x")
