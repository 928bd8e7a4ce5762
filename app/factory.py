"""The application factory: configuration, services loaded once, blueprints."""

import logging
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

from app import api, errors, media, pages
from app.analysis import FrameAnalyzer
from app.config import ROOT, finalize, from_environment
from app.emotion_model import EmotionModel
from app.emotions import LABELS
from app.faces import FaceDetector
from app.playlists import PlaylistService, load_catalog
from app.security import add_security_headers

log = logging.getLogger("moodtunes")


@dataclass
class Services:
    """What every request shares; loaded once per process, read-only afterwards."""

    model: EmotionModel | None
    analyzer: FrameAnalyzer | None
    playlists: PlaylistService
    labels: tuple = LABELS


def create_app(test_config=None):
    app = Flask(
        __name__,
        static_folder=str(ROOT / "static"),
        template_folder=str(ROOT / "templates"),
    )
    app.config.update(finalize({**from_environment(), **(test_config or {})}))
    _configure_logging(app.config["LOG_LEVEL"])

    playlists = PlaylistService(
        load_catalog(app.config["PLAYLISTS_PATH"]), _optional_dir(app.config["MUSIC_DIR"]))
    model = EmotionModel.load(app.config["MODEL_PATH"])
    analyzer = FrameAnalyzer(FaceDetector(), model, app.config["MAX_IMAGE_PIXELS"])
    app.extensions["moodtunes"] = Services(model, analyzer, playlists)
    log.info("model %s loaded (input %s×%s, %s channel(s))",
             model.name, *model.input_size, model.channels)

    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(media.bp)
    errors.register_error_handlers(app)
    app.after_request(add_security_headers)
    return app


def _optional_dir(path):
    return Path(path) if path else None


def _configure_logging(level):
    if not logging.getLogger().handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(level)
