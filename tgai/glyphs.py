"""The `glyphs` source domain: characters typeset from the fonts that matplotlib ships.

Introduced in lesson 00. Typeset digits are the kit's offline source domain; scikit-learn's handwritten
digits are the target. Typeset to handwritten is the classic synthetic-to-real shift, and both are on
every machine that has the kit installed.

Each image is one character from one of 22 faces (DejaVu Sans, Sans Mono and Serif in four styles each,
STIX General in four styles, and six Computer Modern faces), with random rotation, scale, stroke width and
shift. The same seed gives the same bytes.
"""

from __future__ import annotations

import functools
import pathlib

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

DIGITS = "0123456789"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# Faces whose digits and capitals are ordinary text glyphs. Left out: the Display faces, STIX NonUni and
# Size faces (no digits), LastResort (placeholder boxes), and cmex10/cmsy10 (symbols in the digit slots).
FACES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSansMono-Oblique.ttf",
    "DejaVuSansMono-BoldOblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "STIXGeneralBolIta.ttf",
    "cmr10.ttf",
    "cmb10.ttf",
    "cmti10.ttf",
    "cmss10.ttf",
    "cmtt10.ttf",
    "cmmi10.ttf",
)

# How much of the frame a glyph fills, matching the target digits (about 3/4, like MNIST).
FILL = 0.75


def font_paths() -> list[pathlib.Path]:
    """Return the paths of the faces used, from matplotlib's bundled fonts."""
    folder = pathlib.Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return [folder / face for face in FACES if (folder / face).is_file()]


@functools.lru_cache(maxsize=8)
def _masters(characters: str, canvas: int) -> np.ndarray:
    """Render every character in every face once, centred, as uint8 images of shape (F, C, canvas, canvas).

    The glyph's bounding box is scaled so its larger side is FILL of the canvas, so every face ends up the
    same size however its designers chose its proportions.
    """
    paths = font_paths()
    masters = np.zeros((len(paths), len(characters), canvas, canvas), dtype=np.uint8)
    target = FILL * canvas
    for face_index, path in enumerate(paths):
        for char_index, character in enumerate(characters):
            probe = ImageFont.truetype(str(path), size=canvas)
            left, top, right, bottom = probe.getbbox(character)
            scale = target / max(right - left, bottom - top, 1)
            font = ImageFont.truetype(str(path), size=max(4, int(round(canvas * scale))))
            left, top, right, bottom = font.getbbox(character)
            image = Image.new("L", (canvas, canvas), 0)
            origin = ((canvas - (right - left)) / 2 - left, (canvas - (bottom - top)) / 2 - top)
            ImageDraw.Draw(image).text(origin, character, fill=255, font=font)
            masters[face_index, char_index] = np.asarray(image)
    return masters


def render(count: int, characters: str = DIGITS, image_size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Render `count` jittered characters.

    Args:
        count: Number of images.
        characters: The character set; a label is the index of the character in it.
        image_size: Output height and width in pixels.
        seed: Seeds every random choice; the same seed gives identical bytes.

    Returns:
        `(images, labels)`: float32 (count, image_size, image_size, 1) in [0, 1] and int64 (count,).
    """
    canvas = max(64, 2 * image_size)
    masters = _masters(characters, canvas)
    rng = np.random.default_rng(seed)
    faces = rng.integers(0, masters.shape[0], count)
    labels = rng.integers(0, len(characters), count)
    angles = rng.uniform(-12.0, 12.0, count)
    scales = rng.uniform(0.85, 1.1, count)
    shifts = rng.uniform(-2.0, 2.0, (count, 2)) * canvas / 32
    # Stroke: -1 thins, 0 keeps, 1 or 2 thicken (thin faces such as cmr10 then look handwritten-heavy).
    strokes = rng.choice([-1, 0, 0, 1, 1, 2], count)
    images = np.empty((count, image_size, image_size), dtype=np.uint8)
    centre = canvas / 2
    for index in range(count):
        glyph = Image.fromarray(masters[faces[index], labels[index]])
        angle = np.deg2rad(angles[index])
        # PIL's affine transform maps output to input coordinates, so invert rotation-and-scale.
        cos, sin = np.cos(angle) / scales[index], np.sin(angle) / scales[index]
        dx, dy = shifts[index]
        coefficients = (
            cos, sin, centre - cos * (centre + dx) - sin * (centre + dy),
            -sin, cos, centre + sin * (centre + dx) - cos * (centre + dy),
        )  # fmt: skip
        glyph = glyph.transform((canvas, canvas), Image.Transform.AFFINE, coefficients, Image.Resampling.BILINEAR)
        if strokes[index] > 0:
            glyph = glyph.filter(ImageFilter.MaxFilter(2 * int(strokes[index]) + 1))
        elif strokes[index] < 0:
            glyph = glyph.filter(ImageFilter.MinFilter(3))
        # BOX averaging is the antialiased downsample: every canvas pixel counts once.
        images[index] = np.asarray(glyph.resize((image_size, image_size), Image.Resampling.BOX))
    return (images.astype(np.float32) / 255.0)[..., None], labels.astype(np.int64)
