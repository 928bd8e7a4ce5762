"""Test images: real faces that packages ship or ../shared holds, encoded in memory."""

import io
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

# The shared data folder sits beside the project; SHARED_DIR points elsewhere.
SHARED = Path(os.environ.get("SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))
FROWN_VIDEO = SHARED / "data" / "webcam" / "frown.avi"


def encode(pixels, fmt="JPEG", **options):
    """An RGB or grey uint8 array as image file bytes."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def astronaut():
    """scikit-image's astronaut photo (Eileen Collins): one frontal face, 512×512 RGB."""
    from skimage import data

    return data.astronaut()


def two_faces():
    """Two people side by side: the astronaut and her mirror image at 3/4 size."""
    left = astronaut()
    right = cv2.resize(left[:, ::-1], (384, 384), interpolation=cv2.INTER_AREA)
    canvas = np.full((512, 512 + 384, 3), 200, np.uint8)
    canvas[:, :512] = left
    canvas[64:448, 512:] = right
    return canvas


def group_photo(columns=3, rows=2):
    """Astronauts side by side on a 1600×1100-size canvas, each face about 100 px: 9 % of the
    photo's height, a group photo's proportions."""
    canvas = np.full((rows * 550, columns * 533, 3), 200, np.uint8)
    for row in range(rows):
        for column in range(columns):
            canvas[row * 550:row * 550 + 512, column * 533:column * 533 + 512] = astronaut()
    return canvas


def phone_photo():
    """The astronaut filling part of a 4032×3024 phone photo: her face about 265 px."""
    person = cv2.resize(astronaut(), (1380, 1380), interpolation=cv2.INTER_CUBIC)
    canvas = np.full((3024, 4032, 3), 200, np.uint8)
    canvas[800:2180, 1500:2880] = person
    return canvas


def no_face(width=640, height=480):
    """A smooth colour gradient: nothing a face detector should fire on."""
    x = np.linspace(0, 255, width, dtype=np.float32)
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    return np.dstack([np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width)),
                      np.full((height, width), 128.0)]).astype(np.uint8)


def shared(path):
    """`path` (in the shared data folder) if it is there; else skips the test, saying why."""
    if not Path(path).exists():
        pytest.skip(f"{path} not found: the shared data folder is not beside this clone")
    return path


def video_frames(path=FROWN_VIDEO, step=1):
    """RGB frames of a video file; skips the test when ../shared is not beside the project."""
    capture = cv2.VideoCapture(str(shared(path)))
    frames = []
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % step == 0:
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        index += 1
    capture.release()
    return frames
