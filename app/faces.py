"""From decoded pixels to face crops: detect faces, crop them.

Uses OpenCV's Haar cascade, which ships inside opencv-python (4.x), so it
works offline. Decoding uploads is app/decode.py's job.
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


@dataclass(frozen=True)
class FaceBox:
    x: int
    y: int
    w: int
    h: int

    @property
    def area(self):
        return self.w * self.h

    def as_list(self):
        return [self.x, self.y, self.w, self.h]


class FaceDetector:
    """Haar-cascade frontal face detector; one cascade per thread (they are not thread-safe)."""

    def __init__(self, cascade_path=None):
        self.cascade_path = cascade_path or (
            cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        self._local = threading.local()
        if self._cascade().empty():
            raise RuntimeError(f"cannot load the face detector from {self.cascade_path}")

    def _cascade(self):
        if not hasattr(self._local, "cascade"):
            self._local.cascade = cv2.CascadeClassifier(self.cascade_path)
        return self._local.cascade

    def detect(self, image):
        """Faces in a grey or RGB uint8 image, largest first, in the image's own pixel coordinates."""
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        height, width = grey.shape[:2]
        scale = detection_scale(width, height)
        # At least one pixel high, even for a panorama thousands of pixels wide.
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = grey if scale == 1.0 else cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        found = self._cascade().detectMultiScale(
            small, scaleFactor=1.1, minNeighbors=5, minSize=(CASCADE_WINDOW, CASCADE_WINDOW))
        boxes = [FaceBox(*(int(round(v / scale)) for v in box)) for box in found]
        return sorted(boxes, key=lambda b: b.area, reverse=True)


def detection_scale(width, height):
    """How much detect() shrinks an image of this size before scanning it (1.0: not at all)."""
    finer = min(0.5, math.sqrt(DETECT_MAX_PIXELS / (width * height)))
    return min(1.0, max(DETECT_WIDTH / width, finer))


def crop_face(image, box, size, margin=CROP_MARGIN):
    """A square crop around `box` widened by `margin`, resized to `size` (h, w).

    Where the widened square leaves the image, edge pixels are repeated so the
    face stays centred and undistorted.
    """
    side = int(round(max(box.w, box.h) * (1 + 2 * margin)))
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    height, width = image.shape[:2]
    pad = max(0, -x0, -y0, x0 + side - width, y0 + side - height)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad, y0 + pad
    crop = image[y0:y0 + side, x0:x0 + side]
    return cv2.resize(crop, (size[1], size[0]), interpolation=cv2.INTER_AREA)
