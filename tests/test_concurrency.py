"""Concurrent requests do not interfere: gunicorn runs several threads per worker on one model.

Eight threads post different images at once; every answer must equal the one the same image
gets when it is alone, so no state is shared between requests by mistake (a detector, a
buffer, the model's graph). The model must be the one loaded at start-up, never rebuilt.
"""

import io
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.emotion_model import EmotionModel
from tests.images import (
    FROWN_VIDEO,
    astronaut,
    encode,
    no_face,
    two_faces,
    video_frames,
)

THREADS = 8
REQUESTS_PER_THREAD = 10


def sample_images():
    """Named frames with zero, one and two faces, plus webcam frames when the video is there."""
    images = {
        "astronaut": encode(astronaut()),
        "two_faces": encode(two_faces()),
        "no_face": encode(no_face()),
        "astronaut_png": encode(astronaut(), "PNG"),
    }
    if FROWN_VIDEO.is_file():
        for index, frame in enumerate(video_frames(step=20)[:3]):
            images[f"frown_{index}"] = encode(frame)
    return images


def predict(client, data):
    """(status, body without timing) — timings differ from run to run, nothing else may."""
    response = client.post(
        "/api/predict",
        data={"image": (io.BytesIO(data), "frame.jpg", "image/jpeg")},
        content_type="multipart/form-data",
    )
    body = response.get_json()
    body.pop("timing_ms", None)
    return response.status_code, body


@pytest.fixture
def model_loads_forbidden(app, monkeypatch):
    """Once `app` is built, any EmotionModel.load fails the test: requests must reuse the model."""

    def refuse(*args, **kwargs):
        raise AssertionError("EmotionModel.load called while serving requests")

    monkeypatch.setattr(EmotionModel, "load", classmethod(refuse))


def test_concurrent_predictions_equal_single_threaded_ones(app, model_loads_forbidden):
    services = app.extensions["moodtunes"]
    model_before, analyzer_before = services.model, services.analyzer
    images = sample_images()
    names = list(images)
    client = app.test_client()
    expected = {name: predict(client, data) for name, data in images.items()}
    assert {status for status, _ in expected.values()} == {200}
    assert len(expected["two_faces"][1]["faces"]) == 2  # the images really differ
    assert expected["no_face"][1]["faces"] == []

    start = threading.Barrier(THREADS)

    def hammer(thread_index):
        own_client = app.test_client()  # a test client is per user, like a browser
        start.wait()
        answers = []
        for request_index in range(REQUESTS_PER_THREAD):
            name = names[(thread_index + request_index) % len(names)]
            answers.append((name, predict(own_client, images[name])))
        return answers

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = [answer for answers in pool.map(hammer, range(THREADS)) for answer in answers]

    assert len(results) == THREADS * REQUESTS_PER_THREAD
    for name, answer in results:
        assert answer == expected[name], f"{name} answered differently under load"
    services = app.extensions["moodtunes"]
    assert services.model is model_before and services.analyzer is analyzer_before
    assert services.analyzer.model is model_before
