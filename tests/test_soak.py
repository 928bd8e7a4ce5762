"""bench/common.py's frames, percentiles and client, and bench/soak.py against a real server."""

import http.client
import json
import time

import cv2
import numpy as np
import pytest

from bench import common, soak
from bench.common import FrameClient, Outcome, percentiles, prediction, video_frames
from tests.images import FROWN_VIDEO

RESULT = {"emotion": "happy", "faces": [{"box": [0, 0, 1, 1]}],
          "timing_ms": {"decode": 1.0, "detect": 2.0, "classify": 3.0, "total": 6.0}}


def test_video_frames_are_cropped_to_4_3_and_sized_640x480(tmp_path):
    path = str(tmp_path / "wide.avi")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 30, (800, 480))
    wide = np.zeros((480, 800, 3), np.uint8)
    wide[:, :80] = wide[:, -80:] = 255  # bars outside the centred 640×480
    for _ in range(3):
        writer.write(wide)
    writer.release()
    frames = [cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
              for jpeg in video_frames(path)]
    assert len(frames) == 3 and frames[0].shape == (480, 640, 3) and frames[0].max() < 20
    assert video_frames(tmp_path / "missing.avi") == []


def test_percentiles_interpolate_between_ranks():
    assert percentiles([4.0, 1.0, 3.0, 2.0], (50, 95)) == {"p50": 2.5, "p95": 3.9}
    assert percentiles([7.0]) == {"p50": 7.0, "p95": 7.0}
    assert percentiles([]) == {"p50": None, "p95": None}


@pytest.mark.parametrize("payload", [b"<html>busy</html>", b"[]", b'{"faces": [], "emotion": null}',
                                     json.dumps({**RESULT, "timing_ms": {"total": 1}}).encode()])
def test_a_200_without_a_complete_prediction_is_not_a_result(payload):
    assert prediction(payload) is None
    assert prediction(json.dumps(RESULT).encode()) == RESULT


def test_a_dropped_connection_is_retried_once_and_timed_from_the_first_attempt():
    client = FrameClient(9)
    attempts = []

    def post_once(body, content_type):
        attempts.append(body)
        if len(attempts) == 1:
            time.sleep(0.05)  # a worker that works a while, then dies
            raise http.client.RemoteDisconnected("Remote end closed connection")
        return "200", RESULT

    client._post_once = post_once
    outcome = client.post(b"frame", "image/jpeg")
    assert len(attempts) == 2 and outcome.status == "200" and outcome.retried
    assert outcome.seconds >= 0.05


def test_a_second_drop_is_an_error_not_another_retry():
    client = FrameClient(9)

    def post_once(body, content_type):
        raise ConnectionResetError

    client._post_once = post_once
    outcome = client.post(b"frame", "image/jpeg")
    assert outcome.status == "ConnectionResetError" and outcome.retried and outcome.result is None


def test_a_relative_model_path_reaches_the_server_absolute(tmp_path, monkeypatch):
    started = {}

    class FakePopen:
        def __init__(self, command, **kwargs):
            started.update(kwargs)

    monkeypatch.setattr(common.subprocess, "Popen", FakePopen)
    monkeypatch.setattr(common, "started", lambda server, timeout: server)
    monkeypatch.chdir(tmp_path)
    common.start_server(tmp_path / "server.log", model="models/mine.keras")
    assert started["env"]["MODEL_PATH"] == str(tmp_path / "models" / "mine.keras")
    assert started["env"]["BIND"].startswith("fd://")


def test_retries_and_a_replaced_worker_fail_the_run():
    ok = Outcome("200", 0.02, result=RESULT)
    summary = soak.summarize([ok], [ok, ok, Outcome("200", 0.5, retried=True, result=RESULT)], 1.0,
                             {1: 100.0, 2: 900.0}, {1: 100.0, 3: 900.0}, clients=2)
    assert summary["errors"] == {} and summary["retries"] == 1
    assert summary["latency_ms"]["max"] == 500.0 and summary["requests_per_s"] == 3.0
    assert len(summary["problems"]) == 2 and "FAILED" in soak.text(summary)


def test_a_soak_on_a_tiny_model_counts_every_request(tiny_bundle, capsys):
    if not FROWN_VIDEO.is_file():
        pytest.skip(f"needs the shared webcam video {FROWN_VIDEO}")
    status = soak.main(["--model", str(tiny_bundle), "--workers", "1", "--requests", "12",
                        "--clients", "3", "--warmup", "3", "--video", str(FROWN_VIDEO), "--json"])
    out, err = capsys.readouterr()
    assert status == 0, err
    summary = json.loads(out)
    assert summary["problems"] == []
    assert summary["requests"] == 12 and summary["errors"] == {} and summary["retries"] == 0
    assert summary["latency_ms"]["p50"] <= summary["latency_ms"]["p99"] <= summary["latency_ms"]["max"]
    assert summary["memory_mib"]["processes"] == 2 and summary["memory_mib"]["at_end"] > 0
