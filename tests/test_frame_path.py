"""bench/frame_path.py: a whole run on a tiny model, and its accounting of failed requests."""

import json
import sys

import pytest

from bench import frame_path
from bench.common import Outcome
from tests.images import FROWN_VIDEO

RESULT = {"emotion": "happy", "faces": [{"box": [0, 0, 1, 1]}],
          "timing_ms": {"decode": 1.0, "detect": 2.0, "classify": 3.0, "total": 6.0}}


def test_a_run_on_a_tiny_model_times_every_stage_in_process_and_over_http(
        tiny_bundle, monkeypatch, capsys):
    if not FROWN_VIDEO.is_file():
        pytest.skip(f"needs the shared webcam video {FROWN_VIDEO}")
    for name in frame_path.ONE_THREAD:  # restored after the test
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    monkeypatch.setitem(sys.modules, "fer.fer", None)  # the peer not installed, as in CI
    status = frame_path.main(["--model", str(tiny_bundle), "--frames", "6", "--warmup", "1",
                              "--clients", "2", "--video", str(FROWN_VIDEO), "--fer-tflite", "--json"])
    out, err = capsys.readouterr()
    assert status == 0, err
    report = json.loads(out)
    assert report["frames"] == 6 and report["distinct_frames"] > 6
    ours = report["pipelines"]["ours"]
    assert ours["frames_with_face"] == 6  # a real face in every frame of the video
    assert all(0 < ours["stages_ms"][s]["p50"] <= ours["stages_ms"][s]["p95"]
               for s in ("detect", "classify", "total"))
    assert report["pipelines"]["fer"].startswith("skipped:") and report["ours_over_fer"] == {}
    assert set(report["http"]) == {"1", "2"}
    assert all(p["errors"] == 0 and p["retries"] == 0 and p["frames_with_face"] == 6
               for p in report["http"].values())


def test_failed_and_retried_requests_are_counted_apart_from_the_timings(monkeypatch):
    answers = iter([([], 1.0),  # the warm-up
                    ([Outcome("200", 0.1, result=RESULT), Outcome("503", 0.2),
                      Outcome("200", 0.3, retried=True, result=RESULT)], 2.0)])
    monkeypatch.setattr(frame_path, "post_frames", lambda *args, **kwargs: next(answers))
    passes = frame_path.http_passes(0, [b"jpeg"] * 3, warmup=1, clients=1)
    one = passes[1]
    assert one["errors"] == 1 and one["retries"] == 1 and one["first_error"] == "503"
    assert one["frames_per_s"] == 1.0 and one["client_latency_ms"]["p50"] == 200.0
    assert one["stages_ms"]["total"]["p50"] == 6.0
