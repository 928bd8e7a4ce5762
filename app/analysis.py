"""One frame through the whole pipeline: decode → detect → crop → classify."""

import time

import numpy as np

from app.decode import MAX_IMAGE_PIXELS, decode_image
from app.faces import crop_face

# Faces classified per frame, the largest ones: bounds the work one group photo costs.
MAX_FACES = 32


class DeadlineExceeded(Exception):
    """The frame took longer than the request may; it is abandoned between stages."""


class FrameAnalyzer:
    """Holds the detector and the model; `analyze` turns image bytes into a result dict."""

    def __init__(self, detector, model, max_pixels=MAX_IMAGE_PIXELS, max_faces=MAX_FACES):
        self.detector = detector
        self.model = model
        self.max_pixels = max_pixels
        self.max_faces = max_faces

    def analyze(self, data, deadline=None):
        """Result for one image; raises decode.ImageRejected for bad input.

        Only the `max_faces` largest faces are classified, and only they are
        listed: in one batched model call, largest first, the largest one giving
        the top-level emotion. `deadline` (a time.perf_counter() value) is checked
        between stages, so a frame past it is dropped before classification, the
        longest stage; a classification once started is finished and answered.
        """
        timing = {}
        started = time.perf_counter()
        image = decode_image(data, self.max_pixels, grayscale=self.model.channels == 1)
        timing["decode"] = _ms_since(started)
        _check(deadline)

        mark = time.perf_counter()
        boxes = self.detector.detect(image)[: self.max_faces]
        crops = [crop_face(image, box, self.model.input_size) for box in boxes]
        timing["detect"] = _ms_since(mark)
        _check(deadline)

        mark = time.perf_counter()
        probabilities = self.model.classify(np.stack(crops)) if crops else []
        timing["classify"] = _ms_since(mark)

        faces = [self._face_result(box, probs, image.shape)
                 for box, probs in zip(boxes, probabilities)]
        main = faces[0] if faces else None
        timing["total"] = _ms_since(started)
        return {
            "emotion": main["emotion"] if main else None,
            "confidence": main["confidence"] if main else None,
            "probabilities": main["probabilities"] if main else None,
            "faces": faces,
            "image": {"width": int(image.shape[1]), "height": int(image.shape[0])},
            "timing_ms": timing,
        }

    def _face_result(self, box, probs, shape):
        best = int(np.argmax(probs))
        return {
            "box": _inside(box, shape),
            "emotion": self.model.labels[best],
            "confidence": round(float(probs[best]), 4),
            "probabilities": {
                label: round(float(p), 4) for label, p in zip(self.model.labels, probs)
            },
        }


def _inside(box, shape):
    """[x, y, w, h] of the part of `box` inside the image: a face cut off by the image's edge
    is found with a box reaching past it (and cropped so), but clients get image pixels."""
    height, width = shape[:2]
    x0, y0 = max(0, box.x), max(0, box.y)
    x1, y1 = min(width, box.x + box.w), min(height, box.y + box.h)
    return [x0, y0, x1 - x0, y1 - y0]


def _check(deadline):
    if deadline is not None and time.perf_counter() > deadline:
        raise DeadlineExceeded()


def _ms_since(start):
    return round((time.perf_counter() - start) * 1000, 2)
