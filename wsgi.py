"""Entry point for gunicorn: `gunicorn -c gunicorn.conf.py wsgi:app`."""

import sys

from app import create_app
from app.bundle import BundleError
from app.config import ConfigError
from app.playlists import CatalogError

try:
    app = create_app()
except (BundleError, CatalogError, ConfigError) as exc:
    print(f"MoodTunes cannot start: {exc}", file=sys.stderr, flush=True)
    # Exit code 3 tells gunicorn the worker failed to boot: it stops instead
    # of restarting the worker forever.
    sys.exit(3)
