"""From decoded pixels to face crops: detect faces, crop them.

YuNet (app/yunet.py, weights inside the yuface wheel) where it is installed, else OpenCV's Haar
cascade, which ships inside opencv-python (4.x); both work offline. Decoding uploads is
app/decode.py's job.
"""

import math
import threading
from dataclasses import dataclass

import cv2


# FER-2013 crops show a little more than a Haar box (the whole chin, some
# forehead); widening the box by this much per side frames faces the same way.
CROP_MARGIN = 0.08
# Detection scans a copy 320 px wide (a 640x480 camera frame at half size: the cascade's
# 24-px window then finds faces from 48 px up, quickly). A bigger photo gets a finer copy,
# up to half size and 640x480 worth of pixels, so that its faces are found from 5 % of its
# height up (a group photo) at no more than four frames' worth of scanning.
CASCADE_WINDOW = 24  # haarcascade_frontalface_default's own size: the smallest face it sees
DETECT_WIDTH = 320
DETECT_MAX_PIXELS = 640 * 480
# Black border around the copy the Haar cascade scans, as a share of its longer side.
HAAR_PADDING = 0.2
# YuNet faces scoring below this (0-100) are dropped: the yuface package's own default.
YUNET_MIN_SCORE = 50
# A YuNet box times these (width, height), about the same centre, is the Haar cascade's box
# of the same face (YuNet's are ~0.82× as wide, ~1.06× as tall); bench/served_pipeline.py
# compares the crops both give ("side ratio", "centre shift").
YUNET_TO_HAAR = (1 / 0.82, 1 / 1.06)


@dataclass(frozen=True)
class FaceBox:
    x: int
    y: int
    w: int
    h: int

    @property
    def area(self):
        return self.w * self.h


class FaceDetector:
    """Finds faces: YuNet where the yuface wheel is installed, else OpenCV's Haar cascade.

    `detect` is safe to call from several threads at once. `backend`: "auto" (YuNet if it
    loads, else Haar), "yunet" (ImportError without it) or "haar".
    """

    def __init__(self, backend="auto", cascade_path=None):
        if backend not in ("auto", "yunet", "haar"):
            raise ValueError(f"backend must be auto, yunet or haar, not {backend!r}")
        self.backend = "haar" if backend == "haar" else _load_yunet(required=backend == "yunet")
        self.cascade_path = cascade_path or (
            cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        self._local = threading.local()  # one cascade per thread: they are not thread-safe
        if self.backend == "haar" and self._cascade().empty():
            raise RuntimeError(f"cannot load the face detector from {self.cascade_path}")

    def _cascade(self):
        if not hasattr(self._local, "cascade"):
            self._local.cascade = cv2.CascadeClassifier(self.cascade_path)
        return self._local.cascade

    def detect(self, image):
        """Faces in a grey or RGB uint8 image, largest first, in the image's own pixel coordinates."""
        height, width = image.shape[:2]
        scale = detection_scale(width, height)
        if self.backend == "haar":
            boxes = self._haar(image, scale)
        else:
            boxes = self._yunet(image, scale)
            if not boxes and scale < 1.0:
                # Nothing on the copy: one more look at twice the detail. Blurred faces (a small
                # photo enlarged) are found so; a frame with a face never pays for it.
                boxes = self._yunet(image, min(1.0, 2 * scale))
        return sorted(boxes, key=lambda b: b.area, reverse=True)

    def _yunet(self, image, scale):
        from app import yunet

        small = _shrunk(image, scale)
        bgr = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR if small.ndim == 2 else cv2.COLOR_RGB2BGR)
        return [_scaled(_haar_framed(face), 1 / scale)
                for face in yunet.detect(bgr) if face[0] >= YUNET_MIN_SCORE]

    def _haar(self, image, scale):
        grey = _shrunk(image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), scale)
        # A black border lets the cascade's window reach past the edges, so a face that fills
        # the picture and touches its border (a tightly framed photo) is found too.
        pad = round(HAAR_PADDING * max(grey.shape))
        padded = cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        found = self._cascade().detectMultiScale(
            padded, scaleFactor=1.1, minNeighbors=5, minSize=(CASCADE_WINDOW, CASCADE_WINDOW))
        return [_scaled(FaceBox(x - pad, y - pad, w, h), 1 / scale) for x, y, w, h in found]


def _shrunk(image, scale):
    # At least one pixel high, even for a panorama thousands of pixels wide.
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image if scale == 1.0 else cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _load_yunet(required):
    try:
        from app import yunet

        yunet.load()
        return "yunet"
    except ImportError:
        if required:
            raise
        return "haar"


def _haar_framed(face):
    """A YuNet face as a FaceBox framed like the Haar cascade's (which CROP_MARGIN was tuned
    for, and which clients have always been sent): same centre, wider, a little shorter."""
    x, y, w, h = (float(v) for v in face[1:5])
    cx, cy = x + w / 2, y + h / 2
    w, h = w * YUNET_TO_HAAR[0], h * YUNET_TO_HAAR[1]
    return FaceBox(cx - w / 2, cy - h / 2, w, h)


def _scaled(box, factor):
    """`box` (floats allowed) scaled by `factor` and rounded to whole pixels."""
    x, y, w, h = (int(round(v * factor)) for v in (box.x, box.y, box.w, box.h))
    return FaceBox(x, y, w, h)


def detection_scale(width, height):
    """How much detect() shrinks an image of this size before scanning it (1.0: not at all)."""
    finer = min(0.5, math.sqrt(DETECT_MAX_PIXELS / (width * height)))
    return min(1.0, max(DETECT_WIDTH / width, finer))


def crop_face(image, box, size, margin=CROP_MARGIN):
    """The face in `box` as the model's input: a crop resized to `size` (h, w).

    The crop is a square around the box widened by `margin`. Where it leaves the image, edge
    pixels are repeated so the face stays centred and undistorted.
    """
    side = int(round(max(box.w, box.h) * (1 + 2 * margin)))
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    crop = _window(image, x0, y0, side, side)
    return cv2.resize(crop, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def _window(image, x0, y0, width, height):
    """image[y0:y0 + height, x0:x0 + width], its edge pixels repeated where that leaves it."""
    rows, columns = image.shape[:2]
    pad = max(0, -x0, -y0, x0 + width - columns, y0 + height - rows)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad, y0 + pad
    return image[y0:y0 + height, x0:x0 + width]
