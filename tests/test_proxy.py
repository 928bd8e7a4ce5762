"""The shipped deployment (deploy/nginx.conf in front of gunicorn) holds slow clients: nginx
reads each request whole, so clients sending 1 byte a second never hold a gunicorn thread.

Served directly, 4 such clients took all four request threads (2 workers x 2) and no frame
was answered. Latency under this load is measured by bench/attack.py, not asserted here.
"""

import shutil

import pytest

from bench.attack import slow_clients_run
from bench.common import start_proxy, start_server
from tests.images import astronaut, encode


@pytest.fixture
def proxy_port(tiny_bundle, tmp_path):
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (.ci/run installs Debian's nginx-light)")
    with start_server(tmp_path / "gunicorn.log", model=tiny_bundle, workers=2, timeout=600) as server, \
            start_proxy(server, tmp_path) as proxy:
        yield proxy.port


def test_frames_are_answered_while_16_clients_send_1_byte_a_second(proxy_port):
    answers = slow_clients_run(proxy_port, encode(astronaut()), clients=16, seconds=10)
    assert answers
    assert [outcome.status for outcome in answers] == ["200"] * len(answers)
    assert not any(outcome.retried for outcome in answers)
