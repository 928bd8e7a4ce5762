"""bench/soak.py's safety catch and arithmetic, without starting a server."""

import pytest

from bench.soak import (
    LoadRun,
    Outcome,
    SoakError,
    loopback_address,
    percentile,
    summarize,
)


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


def test_summary_counts_every_non_200_as_an_error():
    warmup = LoadRun([Outcome("200", 0.01), Outcome("503", 0.01)], 0.02)
    main = LoadRun([Outcome("200", 0.02)] * 8 + [Outcome("500", 0.1),
                   Outcome("connection_error:ConnectionResetError", 0.0)], 2.0)
    memory = {"total_mib": 100.0, "processes": {"1": 100.0}}
    summary = summarize(warmup, main, memory, {"total_mib": 110.0, "processes": {"1": 110.0}},
                        {"target": "t", "clients": 2, "frames": 1})
    assert summary["requests"] == 10 and summary["throughput_rps"] == 5.0
    assert summary["errors"] == {"500": 1, "503": 1, "connection_error:ConnectionResetError": 1}
    assert summary["error_count"] == 3
    assert summary["memory_growth_mib"] == 10.0 and summary["memory_growth_percent"] == 10.0
