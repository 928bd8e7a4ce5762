"""gunicorn.conf.py as gunicorn reads it: the settings module and its pre_fork hook."""

import importlib.util
import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

CONFIG = Path(__file__).resolve().parents[1] / "gunicorn.conf.py"
# What the config module sets in the environment on import (os.environ.setdefault).
SET_ON_IMPORT = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
                 "OPENCV_FOR_THREADS_NUM", "MODEL_LOADING")
SET_BY_PRE_FORK = ("MOODTUNES_REPLACEMENT_WORKER",)


@pytest.fixture
def load_config(monkeypatch):
    """Loads a fresh gunicorn.conf.py (its own fork count); the environment it changes is put
    back after the test."""
    for name in SET_ON_IMPORT + SET_BY_PRE_FORK:
        # setenv first: monkeypatch then restores the variable even if it was not set before.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)

    def load():
        spec = importlib.util.spec_from_file_location("gunicorn_conf_under_test", CONFIG)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


def test_workers_forked_after_the_first_ones_load_the_model_before_serving(load_config):
    """The first workers start in the background (/healthz says 503 until loaded); a worker
    that replaces a crashed or recycled one loads before it takes requests."""
    config = load_config()
    server = SimpleNamespace(num_workers=2)
    assert os.environ["MODEL_LOADING"] == "background"
    for _ in range(2):
        config.pre_fork(server, worker=None)
        assert os.environ["MODEL_LOADING"] == "background"
        assert "MOODTUNES_REPLACEMENT_WORKER" not in os.environ
    config.pre_fork(server, worker=None)  # the replacement
    assert os.environ["MODEL_LOADING"] == "eager"
    assert os.environ["MOODTUNES_REPLACEMENT_WORKER"] == "1"  # wsgi.py: a broken bundle fails it alone


def test_model_loading_set_by_the_operator_is_kept_for_the_first_workers(load_config,
                                                                          monkeypatch):
    monkeypatch.setenv("MODEL_LOADING", "eager")
    config = load_config()
    config.pre_fork(SimpleNamespace(num_workers=2), worker=None)
    assert os.environ["MODEL_LOADING"] == "eager"


def test_a_broken_start_up_stops_the_master_before_any_worker_forks(load_config, monkeypatch,
                                                                     tmp_path, capsys):
    monkeypatch.setenv("MODEL_PATH", str(tmp_path / "absent.keras"))
    config = load_config()
    with pytest.raises(SystemExit) as stopped:
        config.on_starting(server=None)
    assert stopped.value.code == 3
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("MoodTunes cannot start: ") and "absent.keras is missing" in line


def test_nginx_drops_an_idle_connection_to_gunicorn_before_gunicorn_does(load_config):
    """deploy/nginx.conf keeps idle connections to gunicorn for reuse. Kept longer than
    gunicorn's `keepalive`, nginx can send a frame down one at the moment gunicorn closes it,
    and answers that POST 502 (nginx retries only idempotent requests)."""
    nginx_conf = (CONFIG.parent / "deploy" / "nginx.conf").read_text()
    upstream = re.search(r"upstream moodtunes \{(.*?)\}", nginx_conf, re.S).group(1)
    idle = re.search(r"^\s*keepalive_timeout (\d+)s;", upstream, re.M)
    assert idle, "the upstream block sets no keepalive_timeout (nginx's default is 60 s)"
    assert int(idle.group(1)) < load_config().keepalive


@pytest.mark.parametrize(("name", "value"), [("THREADS", "x"), ("WEB_CONCURRENCY", "two"),
                                             ("WEB_CONCURRENCY", "0")])
def test_a_bad_worker_or_thread_count_stops_start_up_with_one_line(load_config, monkeypatch,
                                                                   capsys, name, value):
    """As the app's own settings do (exit status 3), not with a ValueError traceback."""
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        load_config()
    assert stopped.value.code == 3
    [line] = capsys.readouterr().err.splitlines()
    assert line == f"MoodTunes cannot start: {name}={value!r}: expected a whole number of at least 1"
