"""The shipped gunicorn configuration under failure: a crashed worker is replaced while
the other keeps serving."""

import http.client
import os
import re
import signal
import time

import pytest

from bench.soak import child_pids, multipart_body, start_server
from tests.images import astronaut, encode


@pytest.fixture
def server(tiny_bundle, tmp_path):
    server = start_server(tmp_path / "gunicorn.log", model=tiny_bundle, workers=2)
    yield server
    server.stop()


def post_face(server):
    body, content_type = multipart_body(encode(astronaut()))
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        conn.request("POST", "/api/predict", body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_until_every_worker_is_ready(server, workers=2):
    """Each worker logs "model … loaded" once its model is in memory: wait for all of them.

    (/healthz cannot tell: one loaded worker may answer every probe on the shared socket.)
    """
    deadline = time.monotonic() + 60
    while loaded_workers(server) < workers:
        assert time.monotonic() < deadline, f"only {loaded_workers(server)} worker(s) loaded in 60 s"
        time.sleep(0.2)


def loaded_workers(server):
    return len(re.findall(r"model \S+ loaded", server.log_path.read_text(errors="replace")))


def test_a_killed_worker_is_replaced_and_service_continues(server):
    wait_until_every_worker_is_ready(server)
    workers = child_pids(server.pid)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    # The surviving worker answers at once; nobody sees an error.
    statuses = [post_face(server)[0] for _ in range(6)]
    assert statuses == [200] * 6
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        current = child_pids(server.pid)
        if len(current) == 2 and workers[0] not in current:
            break
        time.sleep(0.5)
    assert len(current) == 2 and workers[0] not in current, "the master did not replace the worker"
    assert server.process.poll() is None
