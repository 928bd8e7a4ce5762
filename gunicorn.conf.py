"""gunicorn settings for MoodTunes: `gunicorn -c gunicorn.conf.py wsgi:app`.

Sized for a TensorFlow model on a 2-core machine:
- 2 worker processes, one per core. Each loads its own copy of the model:
  ~1.2 GiB resident per worker with the shipped model (measured after 50
  requests). With two, a crashed worker is replaced while the other keeps
  serving.
- 2 threads per worker (gthread): while one request decodes, detects faces or
  waits on the network, the other can use the core; TensorFlow, OpenCV and
  Pillow release the GIL in their heavy parts. Inference takes no lock (the
  frozen graph is safe to call from several threads), so the two threads of a
  worker may classify at once, and the server can run up to four inferences
  on two cores under full load: that costs latency, not correctness.
- No preload: TensorFlow's thread pools do not survive fork(), so each worker
  builds its own model after forking.
"""

import itertools
import os

from gunicorn.glogging import Logger, SafeAtoms


def whole_number(name, default):
    """A count from the environment; anything but a whole number ≥ 1 stops start-up with one
    line and exit status 3, like the app's own settings (a traceback otherwise)."""
    raw = os.environ.get(name, default)
    if not (raw.strip().isdigit() and int(raw) >= 1):
        from app.preflight import exit_cannot_start

        exit_cannot_start(f"{name}={raw!r}: expected a whole number of at least 1")
    return int(raw)


bind = os.environ.get("BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
workers = whole_number("WEB_CONCURRENCY", "2")
worker_class = "gthread"
threads = whole_number("THREADS", "2")
# Loading TensorFlow and the model takes a few seconds; a worker silent for
# longer than this is stuck and gets replaced.
timeout = 60
graceful_timeout = 20
keepalive = 5  # deploy/nginx.conf drops idle connections sooner (4 s)
# Recycle workers now and then so slow leaks can never pile up (none is measured:
# bench/soak.py finds memory flat). Rarely, and far apart: the workers share the
# traffic evenly, so with thresholds close together they would retire together
# and nothing would answer while both replacements load their models. Each
# worker's threshold is drawn from 20,000-40,000 requests, which makes retiring
# within a load time of each other unlikely (a few percent of recycles).
max_requests = 20000
max_requests_jitter = 20000
preload_app = False
# No admin socket in the home folder: several instances (tests, benchmarks)
# must be able to run side by side.
control_socket_disable = True

# One thread per pool for the math: the parallelism comes from the workers and
# their request threads, not from every worker sizing its pools to every core.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENCV_FOR_THREADS_NUM", "1")
os.environ.setdefault("MODEL_LOADING", "background")  # /healthz answers 503 until ready
# TensorFlow's documented switch for its C++ log: errors only, not its start-up notices.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Access log: method, path (no query string), status, size and time; never
# request bodies, so frames never reach a log.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s bytes %(M)sms'


class PrintableAtoms(SafeAtoms):
    """A request's log fields with control characters escaped: gunicorn logs the decoded path,
    so /api/x%0d%0a... would otherwise write a forged line of its own into the log."""

    def __init__(self, atoms):
        super().__init__({key: printable(value) if isinstance(value, str) else value
                          for key, value in atoms.items()})


def printable(text):
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class EscapingLogger(Logger):
    atoms_wrapper_class = PrintableAtoms

    def warning(self, msg, *args, **kwargs):
        """gunicorn's "Invalid request from ip=…: <error>: '<what it read>'" quotes up to 4 KB of
        what it could not parse: after a body longer than its Content-Length, bytes of the frame.
        The quote is left out; the error's name stays."""
        if msg.startswith("Invalid request from ip="):
            msg = ": ".join(msg.split(": ", 2)[:2])
        super().warning(msg, *args, **kwargs)


logger_class = EscapingLogger
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


_forks = itertools.count()


def on_starting(server):
    """Settings, model bundle and catalogue checked once, before any worker forks: a broken
    start-up exits with status 3 and one line, instead of every worker failing at once."""
    from app.preflight import check_or_exit

    check_or_exit()


def pre_fork(server, worker):
    """Workers forked after the first ones (after a crash, or recycled by max_requests)
    load the model before accepting requests: the running workers carry the load
    meanwhile, so no client ever meets a worker still answering 503 model_loading."""
    if next(_forks) >= server.num_workers:
        os.environ["MODEL_LOADING"] = "eager"
        # A bundle or catalogue broken on disk since start-up then fails this worker alone (wsgi.py).
        os.environ["MOODTUNES_REPLACEMENT_WORKER"] = "1"
