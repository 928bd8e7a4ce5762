"""The application factory: configuration, services loaded once, blueprints."""

import io
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, Request

from app import api, errors, media, pages
from app.analysis import FrameAnalyzer
from app.bundle import BundleError
from app.config import ROOT
from app.emotions import LABELS
from app.faces import FaceDetector
from app.playlists import PlaylistService
from app.preflight import load
from app.security import add_security_headers

if TYPE_CHECKING:  # TensorFlow loads only when a model does
    from app.emotion_model import EmotionModel

log = logging.getLogger("moodtunes")


class InMemoryRequest(Request):
    """Uploads stay in memory, however large: frames must never touch the disk.

    Werkzeug spools uploads over 500 KB to a temporary file; MAX_CONTENT_LENGTH
    bounds what this keeps in memory instead.
    """

    def _get_file_stream(self, total_content_length, content_type, filename=None,
                         content_length=None):
        return io.BytesIO()


@dataclass
class Services:
    """What every request shares; loaded once per process, read-only afterwards.

    `model` and `analyzer` stay None until the model is loaded.
    """

    playlists: PlaylistService
    model: "EmotionModel | None" = None
    analyzer: FrameAnalyzer | None = None
    labels: tuple = LABELS

    def load_model(self, config, metadata):
        # TensorFlow is imported here, in the loader thread under gunicorn: a worker answers
        # (503 model_loading) and reports to gunicorn's heartbeat while it loads, however long.
        from app.emotion_model import EmotionModel

        model = EmotionModel.load(config["MODEL_PATH"], metadata)
        self.analyzer = FrameAnalyzer(FaceDetector(), model, config["MAX_IMAGE_PIXELS"],
                                      config["MAX_FACES"])
        self.model = model
        log.info("model %s loaded (input %s×%s, %s channel(s))",
                 model.name, *model.input_size, model.channels)


def create_app(test_config=None):
    app = Flask(
        __name__,
        static_folder=str(ROOT / "static"),
        template_folder=str(ROOT / "templates"),
    )
    app.request_class = InMemoryRequest
    # Werkzeug answers //api//x with a redirect to an absolute URL built from the Host
    # header, which the client chooses: no such redirects, a plain 404 instead.
    app.url_map.merge_slashes = False
    # A bad setting, a missing or inconsistent bundle or a broken catalogue fails now.
    config, metadata, catalog = load(test_config)
    app.config.update(config)
    _configure_logging(app.config["LOG_LEVEL"])

    services = Services(PlaylistService(catalog, _optional_dir(app.config["MUSIC_DIR"])))
    app.extensions["moodtunes"] = services
    if app.config["MODEL_LOADING"] == "background":
        threading.Thread(target=_load_or_exit, args=(services, dict(app.config), metadata),
                         name="model-loader", daemon=True).start()
    else:
        services.load_model(app.config, metadata)

    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(media.bp)
    errors.register_error_handlers(app)
    app.after_request(add_security_headers)
    return app


def _load_or_exit(services, config, metadata):
    try:
        services.load_model(config, metadata)
    except Exception as exc:  # a worker left without its model would answer 503 forever
        # A BundleError's message says it all; anything else is a bug to trace.
        log.critical("MoodTunes cannot start: %s", exc, exc_info=not isinstance(exc, BundleError))
        # Exit code 3 is gunicorn's "worker failed to boot": it stops the server
        # rather than restarting a worker that can never load its model.
        os._exit(3)


def _optional_dir(path):
    return Path(path) if path else None


def _configure_logging(level):
    if not logging.getLogger().handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(level)
    # At DEBUG, Pillow logs every EXIF tag of an upload with its value (camera, owner, GPS).
    logging.getLogger("PIL").setLevel(logging.WARNING)
