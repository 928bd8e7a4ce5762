"""What must hold before the server takes requests, checked once: the settings, the model
bundle's files and the playlist catalogue.

gunicorn's master runs it before forking any worker (gunicorn.conf.py), so a broken start-up
ends with one line and exit status 3, never with workers failing at once. Loading the model
itself is left to the workers: TensorFlow must not be started before fork().
"""

import sys

from app.bundle import BundleError, read_metadata
from app.config import ConfigError, finalize, from_environment
from app.playlists import CatalogError, load_catalog

START_ERRORS = (BundleError, CatalogError, ConfigError)
# gunicorn's "worker failed to boot": it stops rather than restarting workers forever.
EXIT_CANNOT_START = 3


def load(overrides=None, environ=None):
    """The configuration, the bundle's metadata and the playlist catalogue, each found sound.

    `overrides` replace settings read from the environment (create_app's test_config).
    """
    config = finalize({**from_environment(environ), **(overrides or {})})
    return config, read_metadata(config["MODEL_PATH"]), load_catalog(config["PLAYLISTS_PATH"])


def check(environ=None):
    """The configuration, once the bundle's files and the catalogue are read and found sound."""
    return load(environ=environ)[0]


def exit_cannot_start(error):
    print(f"MoodTunes cannot start: {error}", file=sys.stderr, flush=True)
    sys.exit(EXIT_CANNOT_START)


def check_or_exit(environ=None):
    try:
        return check(environ)
    except START_ERRORS as error:
        exit_cannot_start(error)
