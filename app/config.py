"""Configuration: environment variables with sane defaults, read in one place.

`create_app(test_config)` overrides any of these keys in tests.
"""

import math
import os
from pathlib import Path

from app.analysis import MAX_FACES
from app.bundle import DEFAULT_MODEL_PATH
from app.decode import MAX_IMAGE_PIXELS

ROOT = Path(__file__).resolve().parent.parent

DEFAULTS = {
    "MODEL_PATH": str(DEFAULT_MODEL_PATH),
    "PLAYLISTS_PATH": str(ROOT / "app" / "playlists.json"),
    "MUSIC_DIR": str(ROOT / "music"),
    "MAX_UPLOAD_MB": 8.0,
    # A decompression-bomb guard: far above any camera frame or phone photo.
    "MAX_IMAGE_PIXELS": MAX_IMAGE_PIXELS,
    # A frame not yet being classified this long after it was received is answered 503
    # (checked between stages: a classification once started is finished).
    "REQUEST_TIMEOUT_S": 10.0,
    "MAX_FACES": MAX_FACES,
    # "eager": create_app() returns with the model loaded (tests, scripts).
    # "background": the app answers at once, /healthz says 503 until the model
    # is in (gunicorn.conf.py sets this).
    "MODEL_LOADING": "eager",
    "LOG_LEVEL": "INFO",
}

_CASTS = {"MAX_UPLOAD_MB": float, "MAX_IMAGE_PIXELS": int, "REQUEST_TIMEOUT_S": float,
          "MAX_FACES": int}
# The levels gunicorn.conf.py can pass on to gunicorn's own --log-level as well.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(Exception):
    """An environment variable holds a value the app cannot use."""


def from_environment(environ=None):
    """The configuration, each key taken from the environment when set there."""
    environ = os.environ if environ is None else environ
    config = {}
    for key, default in DEFAULTS.items():
        raw = environ.get(key)
        if raw is None or raw == "":
            config[key] = default
            continue
        cast = _CASTS.get(key, str)
        try:
            config[key] = cast(raw)
        except ValueError:
            raise ConfigError(f"{key}={raw!r}: expected {cast.__name__}") from None
    return config


def finalize(config):
    """Derived settings and range checks, after test overrides are applied."""
    for key in _CASTS:
        # nan passes `<= 0` (and would switch the timeout off); inf cannot become a byte count.
        if not math.isfinite(config[key]) or config[key] <= 0:
            raise ConfigError(f"{key} must be a positive finite number, got {config[key]!r}")
    if config["MODEL_LOADING"] not in ("eager", "background"):
        raise ConfigError(f"MODEL_LOADING must be 'eager' or 'background', "
                          f"got {config['MODEL_LOADING']!r}")
    config["LOG_LEVEL"] = _log_level(config["LOG_LEVEL"])
    # Flask answers 413 itself, before reading a body larger than this.
    config["MAX_CONTENT_LENGTH"] = int(config["MAX_UPLOAD_MB"] * 1024 * 1024)
    return config


def _log_level(name):
    level = str(name).upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL={name!r}: expected one of {', '.join(LOG_LEVELS)}")
    return level
