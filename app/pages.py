"""The web page and the health check."""

from flask import Blueprint, current_app, jsonify, render_template

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    return render_template("index.html")


@bp.get("/healthz")
def healthz():
    model = current_app.extensions["moodtunes"].model
    if model is None:
        return jsonify({"status": "loading"}), 503
    return jsonify({"status": "ready", "model": model.name})
