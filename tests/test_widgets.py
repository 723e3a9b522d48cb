"""tgai.widgets: the frame a slider draws, the slider's wiring, the fallback without ipywidgets, the latent walk."""

import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tgai import widgets  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _frames(count=3, images=4):
    # Frame i is filled with the value i / 10, so a drawn frame says which it is.
    return widgets.Frames(
        [np.full((images, 8, 8, 1), index / 10, np.float32) for index in range(count)],
        [f"step {index * 50}" for index in range(count)],
    )


def test_draw_shows_the_chosen_frame_under_its_caption():
    figure = widgets.draw(_frames(), 1, "samples", columns=4)
    assert figure._suptitle.get_text() == "samples: step 50"
    shown = [axis.get_images()[0].get_array() for axis in figure.axes if axis.get_images()]
    assert len(shown) == 4 and all(np.allclose(image, 0.1) for image in shown)


def test_frames_and_draw_reject_what_cannot_be_slid_through():
    with pytest.raises(ValueError, match="captions must have one entry per frame; received 1 captions for 2"):
        widgets.Frames([np.zeros((2, 8, 8, 1), np.float32)] * 2, ["only one"])
    with pytest.raises(ValueError, match="non-empty list of image batches"):
        widgets.Frames([], [])
    with pytest.raises(ValueError, match="one shape and count"):
        widgets.Frames([np.zeros((2, 8, 8, 1), np.float32), np.zeros((3, 8, 8, 1), np.float32)], ["a", "b"])
    with pytest.raises(ValueError, match="index"):
        widgets.draw(_frames(), 3, "samples")
    with pytest.raises(TypeError, match="tgai.widgets.Frames"):
        widgets.draw([np.zeros((2, 8, 8, 1))], 0, "samples")


def test_the_slider_starts_at_the_last_frame_and_redraws_the_one_chosen(monkeypatch):
    pytest.importorskip("ipywidgets")
    drawn = []
    monkeypatch.setattr(widgets, "draw", lambda frames, index, *args: drawn.append(index))
    box = widgets.slider(_frames(), "step", "samples")
    control = box.children[0]
    assert (control.min, control.max, control.value, control.description) == (0, 2, 2, "step")
    control.value = 0
    assert drawn == [2, 0]


def test_without_ipywidgets_the_last_frame_is_drawn_and_the_fix_printed(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    assert widgets.slider(_frames(), "step", "samples") is None
    assert "pip install ipywidgets" in capsys.readouterr().out
    assert plt.gcf()._suptitle.get_text() == "samples: step 100"


def test_a_walk_decodes_evenly_spaced_codes_from_start_to_end():
    start, end = np.zeros((2, 3), np.float32), np.ones((2, 3), np.float32)
    frames = widgets.walk(lambda codes: codes * 10, start, end, points=5)
    assert len(frames) == 5
    assert np.allclose(frames[0], 0) and np.allclose(frames[2], 5) and np.allclose(frames[-1], 10)
    with pytest.raises(ValueError, match="start and end must be codes of one shape"):
        widgets.walk(lambda codes: codes, start, np.ones((3, 3)), points=5)
