"""The JSON API: thin handlers over the analyzer and the playlists."""

import time

from flask import Blueprint, current_app, jsonify, request

from app.analysis import DeadlineExceeded
from app.rejection import Rejected

bp = Blueprint("api", __name__, url_prefix="/api")


def _services():
    return current_app.extensions["moodtunes"]


@bp.post("/predict")
def predict():
    services = _services()
    if services.analyzer is None:
        raise Rejected("model_loading", "the model is still loading; try again shortly", 503)
    data = _uploaded_image()
    # From here: the deadline is for frames queued behind others, not for a slow uplink.
    deadline = time.perf_counter() + current_app.config["REQUEST_TIMEOUT_S"]
    try:
        result = services.analyzer.analyze(data, deadline)
    except DeadlineExceeded:
        raise Rejected("timeout", "the server is too busy to read this frame in time; "
                       "try again", 503) from None
    result["playlist"] = services.playlists.for_emotion(result["emotion"]) if result["emotion"] else None
    return jsonify(result)


def _uploaded_image():
    if not request.mimetype.startswith("multipart/form-data"):
        raise Rejected(
            "expected_multipart",
            "send the image as multipart/form-data in a file field named 'image'", 400)
    upload = request.files.get("image")
    if upload is None:
        raise Rejected("missing_image", "no file field named 'image' in the form", 400)
    data = upload.read()
    if not data:
        raise Rejected("empty_image", "the 'image' file is empty", 400)
    return data


@bp.get("/playlists")
def all_playlists():
    return jsonify({"playlists": _services().playlists.all()})


@bp.get("/playlists/<emotion>")
def playlist_for(emotion):
    try:
        return jsonify(_services().playlists.for_emotion(emotion))
    except KeyError:
        labels = ", ".join(_services().labels)
        raise Rejected("unknown_emotion", f"no playlist for {emotion!r}; try one of {labels}", 404) from None
