"""From uploaded bytes to face crops: decode safely, detect faces, crop them.

Uses OpenCV's Haar cascade, which ships inside opencv-python (4.x), so it
works offline. Images are decoded with Pillow, which judges the type by the
bytes, reads the size from the header before decoding any pixels, and
reports truncated files instead of returning half an image.
"""

import io
import math
import threading
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from app.rejection import Rejected

# Only these decoders ever see an upload (Pillow's JPEG decoder also opens MPO,
# the JPEG variant some phones write).
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
# Pillow cannot identify a file whose header is damaged; its first bytes still
# tell an accepted type (then it is a broken image, 400) from any other (415).
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"

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


class ImageRejected(Rejected):
    """The upload is not an image the app can read."""


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


def decode_image(data, max_pixels, grayscale=True):
    """Bytes → uint8 array (H, W) grey or (H, W, 3) RGB; raises ImageRejected."""
    if not data:
        raise ImageRejected("empty_image", "the image file is empty", 400)
    try:
        # Pillow's own bomb limit only warns below 2× its size; the pixel check
        # in _decode_opened (far lower) is the one that refuses.
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError:
        if _has_accepted_signature(data):
            raise ImageRejected("invalid_image", "the image header is corrupt", 400) from None
        raise ImageRejected(
            "unsupported_media_type", "not a JPEG, PNG or WebP image", 415
        ) from None
    except Image.DecompressionBombError:
        raise _too_many_pixels(max_pixels) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageRejected("invalid_image", f"cannot read the image: {exc}", 400) from None
    with image:
        return _decode_opened(image, max_pixels, grayscale)


def _decode_opened(image, max_pixels, grayscale):
    width, height = image.size
    if width * height > max_pixels:
        raise _too_many_pixels(max_pixels)
    try:
        if image.format in ("JPEG", "MPO") and grayscale:
            image.draft("L", image.size)  # libjpeg decodes luminance only: faster
        image = _eight_bit(_upright(image))
        pixels = np.asarray(image.convert("L" if grayscale else "RGB"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageRejected("invalid_image", f"the image is truncated or corrupt: {exc}", 400) from None
    if pixels.size == 0:
        raise ImageRejected("invalid_image", "the image has no pixels", 400)
    return pixels


def _has_accepted_signature(data):
    is_webp = data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    return data.startswith((PNG_SIGNATURE, JPEG_SIGNATURE)) or is_webp


def _eight_bit(image):
    """16-bit greyscale (a PNG opens as mode I;16, or I in older Pillow) scaled to 8 bits.

    Pillow's convert() clips such values at 255 instead of scaling them,
    which turns nearly the whole picture white.
    """
    if not image.mode.startswith("I"):
        return image
    return Image.fromarray(np.clip(np.asarray(image) >> 8, 0, 255).astype(np.uint8))


def _upright(image):
    """Turn phone photos (stored sideways, with an EXIF orientation) upright.

    EXIF is only metadata: a broken block must not cost the user the photo.
    """
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # Pillow raises struct.error, TypeError, KeyError… on malformed tags
        return image


def _too_many_pixels(max_pixels):
    return ImageRejected(
        "image_too_large", f"the image has more than {max_pixels:,} pixels", 413)


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
