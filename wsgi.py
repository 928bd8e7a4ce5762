"""Entry point for gunicorn: `gunicorn -c gunicorn.conf.py wsgi:app`."""

import os
import sys
import time

from app import create_app
from app.preflight import START_ERRORS, exit_cannot_start

# Set by gunicorn.conf.py's pre_fork in a worker that replaces a crashed or recycled one.
REPLACEMENT_WORKER = "MOODTUNES_REPLACEMENT_WORKER"
REPLACEMENT_RETRY_S = 10

try:
    app = create_app()
except START_ERRORS as exc:
    if os.environ.get(REPLACEMENT_WORKER):
        # The bundle or catalogue broke on disk after start-up. Exit status 3 would make gunicorn
        # halt, killing the workers still serving with what they loaded: this worker gives up
        # with status 1 after a pause instead, and gunicorn forks another until the files are sound.
        print(f"MoodTunes cannot start a replacement worker: {exc} (the running workers keep "
              f"serving; next try in {REPLACEMENT_RETRY_S} s)", file=sys.stderr, flush=True)
        time.sleep(REPLACEMENT_RETRY_S)
        sys.exit(1)
    exit_cannot_start(exc)
