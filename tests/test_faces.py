"""Face detection and cropping: YuNet where its wheel is installed, the Haar cascade elsewhere."""

import importlib.util
import threading

import cv2
import numpy as np
import pytest

from app import faces
from app.faces import FaceBox, FaceDetector
from tests.images import astronaut, no_face, two_faces, video_frames

needs_yunet = pytest.mark.skipif(importlib.util.find_spec("yuface") is None,
                                 reason="the yuface wheel exists for Linux x86_64, CPython 3.11 only")


def tight_face():
    """The astronaut's face from brows to chin, filling a 320-px photo and touching its borders
    (as in a selfie cropped to the face): the Haar cascade finds it only with a border added."""
    return cv2.resize(astronaut()[80:190, 180:285], (320, 335), interpolation=cv2.INTER_CUBIC)


@pytest.fixture(scope="module")
def yunet():
    return FaceDetector()


@needs_yunet
def test_yunet_is_used_where_it_is_installed(yunet):
    assert yunet.backend == "yunet"


@pytest.mark.parametrize("backend", [pytest.param("yunet", marks=needs_yunet), "haar"])
def test_a_tightly_framed_face_is_found(backend):
    boxes = FaceDetector(backend).detect(tight_face())
    assert len(boxes) == 1
    box = boxes[0]
    assert abs(box.x + box.w / 2 - 160) < 40 and box.w > 200  # the face, not a part of it


def test_without_its_border_the_cascade_misses_the_tightly_framed_face(monkeypatch):
    monkeypatch.setattr(faces, "HAAR_PADDING", 0.0)
    assert FaceDetector("haar").detect(tight_face()) == []


@needs_yunet
def test_yunet_boxes_are_framed_like_the_cascades():
    """CROP_MARGIN was tuned for the cascade's boxes, and clients have always received those."""
    yunet_box = FaceDetector("yunet").detect(astronaut())[0]
    haar_box = FaceDetector("haar").detect(astronaut())[0]
    for y_value, h_value in [(yunet_box.x + yunet_box.w / 2, haar_box.x + haar_box.w / 2),
                             (yunet_box.y + yunet_box.h / 2, haar_box.y + haar_box.h / 2)]:
        assert abs(y_value - h_value) < 0.1 * haar_box.w
    assert 0.85 < yunet_box.w / haar_box.w < 1.15 and 0.85 < yunet_box.h / haar_box.h < 1.15


@pytest.mark.parametrize("backend", [pytest.param("yunet", marks=needs_yunet), "haar"])
def test_grey_and_colour_images_give_the_same_faces_largest_first(backend):
    detector = FaceDetector(backend)
    colour = detector.detect(two_faces())
    grey = detector.detect(cv2.cvtColor(two_faces(), cv2.COLOR_RGB2GRAY))
    assert len(colour) == len(grey) == 2
    assert colour[0].area > colour[1].area and colour[0].x < 512 <= colour[1].x
    assert abs(colour[0].x - grey[0].x) < 10
    assert detector.detect(no_face()) == []


@needs_yunet
def test_the_webcam_face_is_found_in_every_frame_once(yunet):
    for frame in video_frames(step=7):
        assert len(yunet.detect(frame)) == 1


@needs_yunet
def test_detection_from_several_threads_at_once_matches_one_thread(yunet):
    images = [astronaut(), two_faces(), tight_face(), no_face()] * 3
    expected = [yunet.detect(image) for image in images]
    results = [None] * len(images)
    start = threading.Barrier(len(images))

    def work(index):
        start.wait()
        for _ in range(5):
            results[index] = yunet.detect(images[index])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(images))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == expected


@needs_yunet
def test_memory_stays_flat_over_many_detections(yunet):
    """yuface's own wrapper leaks its 36 KiB result buffer per call: 36 MB over these 1,000."""
    image = cv2.resize(astronaut(), (96, 96))

    def resident_kib():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4

    for _ in range(50):
        yunet.detect(image)
    before = resident_kib()
    for _ in range(1000):
        yunet.detect(image)
    assert resident_kib() - before < 4096


def test_without_the_wheel_the_cascade_is_used(monkeypatch):
    from app import yunet

    def missing():
        raise ImportError("the yuface package is not installed")

    monkeypatch.setattr(yunet, "load", missing)
    detector = FaceDetector()
    assert detector.backend == "haar"
    assert len(detector.detect(astronaut())) == 1
    with pytest.raises(ImportError):
        FaceDetector("yunet")


def test_an_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend"):
        FaceDetector("mtcnn")


def test_clients_get_the_part_of_the_box_inside_the_image():
    """A face cut off by the frame's edge has a box reaching past it; the API answers with
    image pixels only."""
    from app.analysis import FrameAnalyzer
    from tests.images import encode

    class Model:
        labels, input_size, channels = ("angry", "happy", "neutral", "sad"), (48, 48), 1

        def classify(self, crops):
            return np.tile([0.1, 0.6, 0.2, 0.1], (len(crops), 1))

    class Detector:
        def detect(self, image):
            return [FaceBox(-30, 400, 200, 150)]

    result = FrameAnalyzer(Detector(), Model(), 10**6).analyze(encode(no_face()))
    assert result["faces"][0]["box"] == [0, 400, 170, 80]
