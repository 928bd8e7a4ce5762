"""Entry point for gunicorn: `gunicorn -c gunicorn.conf.py wsgi:app`."""

from app import create_app
from app.preflight import START_ERRORS, exit_cannot_start

try:
    app = create_app()
except START_ERRORS as exc:
    exit_cannot_start(exc)
