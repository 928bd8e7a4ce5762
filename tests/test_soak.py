"""bench/soak.py's safety catch and arithmetic, without starting a server."""

import http.client
import time

import pytest

from bench import soak
from bench.soak import (
    FrameClient,
    LoadRun,
    Outcome,
    SoakError,
    _server_log,
    _tail,
    format_summary,
    loopback_address,
    percentile,
    start_server,
    summarize,
)

CONFIG = {"target": "t", "clients": 2, "frames": 1}


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://127.3.4.5:1", "http://[::1]:8000",
                                 "http://localhost:8000"])
def test_loopback_targets_are_accepted(url):
    address, port = loopback_address(url)
    assert address.startswith("127.") or address == "::1"
    assert port == int(url.rsplit(":", 1)[1])


@pytest.mark.parametrize("url", ["http://10.0.0.1:8000", "http://0.0.0.0:8000",
                                 "http://[::ffff:8.8.8.8]:80", "http://192.168.1.2",
                                 "https://127.0.0.1:8000", "127.0.0.1:8000",
                                 "http://no-such-host.invalid:80"])
def test_anything_else_is_refused(url):
    with pytest.raises(SoakError):
        loopback_address(url)


def test_percentiles_are_nearest_rank():
    values = list(range(1, 101))
    assert [percentile(values, q) for q in (0.5, 0.95, 0.99, 1.0)] == [50, 95, 99, 100]
    assert percentile([], 0.5) is None


def memory(total, *pids):
    return {"total_mib": total, "processes": {str(pid): total / len(pids) for pid in pids}}


def test_summary_counts_the_main_runs_errors_apart_from_its_throughput_and_latency():
    warmup = LoadRun([Outcome("200", 0.01), Outcome("503", 0.01)], 0.02)
    main = LoadRun([Outcome("200", 0.02)] * 8 + [Outcome("500", 0.1),
                   Outcome("connection_error:ConnectionResetError", 0.3)], 2.0)
    summary = summarize(warmup, main, memory(100.0, 1), memory(110.0, 1), CONFIG)
    assert summary["requests"] == 10 and summary["throughput_rps"] == 4.0  # 8 answers in 2 s
    assert summary["latency_ms"] == {"p50": 20.0, "p95": 20.0, "p99": 20.0, "max": 20.0}
    assert summary["statuses"] == {"200": 8, "500": 1, "connection_error:ConnectionResetError": 1}
    assert summary["errors"] == {"500": 1, "connection_error:ConnectionResetError": 1}
    assert summary["error_count"] == 2 and summary["error_latency_ms"]["max"] == 300.0
    assert summary["warmup_errors"] == {"503": 1}
    assert len(summary["problems"]) == 2
    assert summary["memory_growth_mib"] == 10.0 and summary["memory_growth_percent"] == 10.0


def test_a_retried_request_fails_the_run_even_when_it_got_a_200():
    main = LoadRun([Outcome("200", 0.02)] * 3 + [Outcome("200", 0.5, retried=True)], 1.0)
    summary = summarize(LoadRun(), main, None, None, CONFIG)
    assert summary["error_count"] == 0 and summary["retries"] == 1
    assert summary["latency_ms"]["max"] == 500.0
    assert summary["problems"] == ["1 request(s) retried after a dropped connection"]
    assert "FAILED" in format_summary(summary) and "no errors" not in format_summary(summary)


def test_a_replaced_worker_fails_the_run_and_voids_the_memory_growth():
    summary = summarize(LoadRun(), LoadRun([Outcome("200", 0.02)], 1.0),
                        memory(100.0, 1, 2, 3), memory(150.0, 1, 2, 4), CONFIG)
    assert summary["server_processes_changed"] == {"gone": ["3"], "new": ["4"]}
    assert "memory_growth_mib" not in summary and summary["problems"]
    assert "not comparable" in format_summary(summary)


def test_a_clean_run_says_no_errors():
    summary = summarize(LoadRun([Outcome("200", 0.01)], 0.01), LoadRun([Outcome("200", 0.02)], 1.0),
                        memory(100.0, 1, 2), memory(100.0, 1, 2), CONFIG)
    assert summary["problems"] == [] and summary["server_processes_changed"] is None
    assert "verdict      no errors" in format_summary(summary)


def test_a_dropped_connection_is_retried_once_and_timed_from_the_first_attempt():
    client = FrameClient("127.0.0.1", 9)
    attempts = []

    def post_once(body, content_type):
        attempts.append(body)
        if len(attempts) == 1:
            time.sleep(0.05)  # a worker that works a while, then dies
            raise http.client.RemoteDisconnected("Remote end closed connection")
        return "200", b"{}"

    client._post_once = post_once
    outcome = client.post(b"frame", "image/jpeg")
    assert len(attempts) == 2
    assert outcome.status == "200" and outcome.retried and outcome.seconds >= 0.05


def test_a_second_drop_is_an_error_not_another_retry():
    client = FrameClient("127.0.0.1", 9)

    def post_once(body, content_type):
        raise ConnectionResetError

    client._post_once = post_once
    outcome = client.post(b"frame", "image/jpeg")
    assert outcome.status == "connection_error:ConnectionResetError" and outcome.retried


@pytest.mark.parametrize("how", ["model", "extra_env"])  # soak's --model, frame_path's env
def test_a_relative_model_path_reaches_the_server_absolute(tmp_path, monkeypatch, how):
    started = {}

    class FakePopen:
        def __init__(self, command, **kwargs):
            started.update(kwargs)

    monkeypatch.setattr(soak.subprocess, "Popen", FakePopen)
    monkeypatch.setattr(soak, "wait_until_ready", lambda *args, **kwargs: None)
    monkeypatch.chdir(tmp_path)
    given = {"model": "models/mine.keras"} if how == "model" else {
        "extra_env": {"MODEL_PATH": "models/mine.keras"}}
    start_server(tmp_path / "server.log", base_env={}, **given)
    assert started["env"]["MODEL_PATH"] == str((tmp_path / "models" / "mine.keras").resolve())


def test_a_server_log_in_a_missing_folder_gets_its_folder(tmp_path):
    path, keep = _server_log(str(tmp_path / "new" / "folder" / "server.log"))
    assert keep and path.parent.is_dir()


def test_the_log_tail_of_a_missing_log_says_so_instead_of_raising(tmp_path):
    assert "cannot read" in _tail(tmp_path / "missing" / "server.log")
