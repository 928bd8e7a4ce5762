"""bench/frame_path.py's accounting of HTTP failures and its frame set, without a server."""

import json
from types import SimpleNamespace

import pytest

from bench import frame_path
from bench.frame_path import Frame, HttpPass, build_frames, http_pass, http_record, run_http
from bench.soak import Outcome

TIMING = {"decode": 1.0, "detect": 2.0, "classify": 3.0, "total": 6.0}
RESULT = json.dumps({"faces": [{"box": [0, 0, 1, 1]}], "emotion": "happy",
                     "timing_ms": TIMING}).encode()


def test_a_200_with_a_complete_result_is_a_record():
    record, error = http_record(Outcome("200", 0.25, payload=RESULT))
    assert record == (250.0, TIMING, 1) and error is None


@pytest.mark.parametrize("payload", [b"<html>busy</html>", b'{"faces": [], "emotion": null}',
                                     b'{"faces": [], "timing_ms": {"total": 1}}', b"[]"])
def test_a_200_with_an_unexpected_body_is_an_error(payload):
    record, error = http_record(Outcome("200", 0.1, payload=payload))
    assert record is None and error.startswith("unexpected body")


def test_a_failed_request_is_an_error():
    assert http_record(Outcome("503", 0.1, payload=b"loading")) == (None, "HTTP 503: b'loading'")


def test_a_pass_counts_bad_bodies_and_retries_without_losing_a_client(monkeypatch):
    answers = {b"good": Outcome("200", 0.1, payload=RESULT),
               b"html": Outcome("200", 0.1, payload=b"<html>"),
               b"retried": Outcome("200", 0.3, retried=True, payload=RESULT)}

    class FakeClient:
        def __init__(self, *args, **kwargs):
            pass

        def post(self, body, content_type):
            return answers[body]

        def close(self):
            pass

    monkeypatch.setattr(frame_path, "FrameClient", FakeClient)
    bodies = [(b"html", "t"), (b"good", "t"), (b"html", "t"), (b"retried", "t"), (b"good", "t")]
    result = http_pass(0, bodies, clients=2)
    assert len(result.records) == 3 and len(result.errors) == 2 and result.retries == 1
    assert result.failed


def test_a_measured_pass_with_errors_fails_and_a_bad_warmup_warns(monkeypatch, capsys):
    good = HttpPass(records=[(10.0, TIMING, 1)] * 2, seconds=1.0)
    passes = iter([HttpPass(errors=["HTTP 503: b''"]),                 # warm-up
                   good,                                                 # 1 client
                   HttpPass(records=good.records, seconds=1.0, retries=1)])  # 2 clients
    monkeypatch.setattr(frame_path, "http_pass", lambda port, bodies, clients: next(passes))
    frames = [Frame(b"jpeg", "video")] * 2
    report = run_http(SimpleNamespace(port=0), frames, warmup=4, clients=2, flops_per_face=None)
    assert "WARNING: HTTP warm-up: 1 error(s)" in capsys.readouterr().err
    assert report["warmup_errors"] == 1 and report["failed"]
    assert not report["passes"]["1"]["failed"] and report["passes"]["2"]["failed"]
    assert report["passes"]["2"]["errors"] == 0 and report["passes"]["2"]["retries"] == 1
    assert report["throughput_frames_per_s"] == {"1": 2.0, "2": 2.0}


def test_a_video_without_readable_frames_and_no_fer_faces_is_skipped(tmp_path):
    video = tmp_path / "broken.avi"
    video.write_bytes(b"not a video")
    frames, reason = build_frames(10, video, tmp_path / "no-fer", seed=0)
    assert frames is None and reason.startswith("no frames: OpenCV read none from")
