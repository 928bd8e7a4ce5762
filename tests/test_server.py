"""The shipped gunicorn configuration under failure: a crashed worker is replaced while
the other keeps serving, and a hostile request path cannot forge log lines."""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import time

import pytest

from bench.common import child_pids, multipart_body, start_server
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


def test_a_request_path_cannot_forge_a_line_in_the_access_log(server):
    """gunicorn logs the decoded path: CR, LF and NUL in it are written escaped, on its own line."""
    wait_until_every_worker_is_ready(server)
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        conn.request("GET", "/api/x%0d%0a2026-12-03%2015:00:00,000%20ERROR%20moodtunes:%20forged%00")
        assert conn.getresponse().status == 404
    finally:
        conn.close()
    deadline = time.monotonic() + 10
    while "forged" not in (log := server.log_path.read_text(errors="replace")):
        assert time.monotonic() < deadline, "the request was not logged"
        time.sleep(0.1)
    assert not any(line.startswith("2026-12-03 15:00:00,000") for line in log.splitlines())
    assert "\x00" not in log
    assert r"/api/x\r\n2026-12-03 15:00:00,000 ERROR moodtunes: forged\x00" in log


def test_a_chunked_body_that_breaks_its_framing_is_a_400_and_logs_no_upload_bytes(server):
    """A client that miscounts a chunk: gunicorn reads upload bytes as the next chunk's size line.
    That is the client's fault (400, as Werkzeug answers any other broken body), and gunicorn's
    message, which quotes those bytes, must not reach the log with a traceback."""
    wait_until_every_worker_is_ready(server)
    body, content_type = multipart_body(encode(astronaut()))
    cut = len(body) // 2
    chunked = (b"%x\r\n" % cut + body[:cut] + b"\r\n"
               + b"FRAME-PIXELS-" + body[cut:] + b"\r\n0\r\n\r\n")  # no size line: upload bytes
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(f"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
                     "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode() + chunked)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), head
    assert json.loads(payload)["error"]["code"] == "bad_request"
    deadline = time.monotonic() + 10
    while '"POST /api/predict HTTP/1.1" 400' not in (log := server.log_path.read_text(errors="replace")):
        assert time.monotonic() < deadline, "the request was not logged"
        time.sleep(0.1)
    assert "FRAME-PIXELS" not in log and "Traceback" not in log


def test_bytes_sent_past_a_body_do_not_reach_the_log(server):
    """A client sending more than its Content-Length: gunicorn reads the rest as the next request
    and warns about it, quoting what it read (here bytes of the frame); the quote is left out."""
    wait_until_every_worker_is_ready(server)
    body, content_type = multipart_body(encode(astronaut()))
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(f"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body
                     + b"FRAME-PIXELS\x11\x22\x33\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")
    deadline = time.monotonic() + 10
    while "Invalid request from" not in (log := server.log_path.read_text(errors="replace")):
        assert time.monotonic() < deadline, "gunicorn did not warn about the bytes after the body"
        time.sleep(0.1)
    assert "FRAME-PIXELS" not in log
    assert "Invalid HTTP request line" in log  # what went wrong is still said


def test_a_bundle_broken_on_disk_does_not_take_down_the_worker_still_serving(tiny_bundle, tmp_path):
    """The bundle is read again only when a worker is replaced (crashed, recycled). Missing or
    corrupt by then, the replacement cannot start: the worker that loaded it at start-up keeps
    serving (gunicorn halts the whole server on a worker's exit status 3), and a replacement
    starts once the files are sound again."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    model = bundle / tiny_bundle.name
    for source in (tiny_bundle, tiny_bundle.with_suffix(".json")):
        shutil.copy(source, bundle / source.name)
    server = start_server(tmp_path / "gunicorn.log", model=model, workers=2)
    try:
        wait_until_every_worker_is_ready(server)
        workers = child_pids(server.pid)
        model.rename(model.with_suffix(".moved"))  # an operator moving files about
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            assert post_face(server)[0] == 200
            time.sleep(0.5)
        assert server.process.poll() is None, "the master halted"
        assert "cannot start a replacement worker" in server.log_path.read_text(errors="replace")
        model.with_suffix(".moved").rename(model)
        wait_until_every_worker_is_ready(server, workers=3)  # the two first ones and a replacement
        assert len(child_pids(server.pid)) == 2
    finally:
        server.stop()
