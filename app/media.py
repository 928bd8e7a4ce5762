"""Local audio files from MUSIC_DIR, with HTTP Range support so <audio> can seek."""

from flask import Blueprint, abort, current_app, send_file

from app.music_library import MUSIC_URL_PATH, AudioFileRefused, content_type_for, resolve_audio_file

bp = Blueprint("media", __name__)


@bp.get(f"{MUSIC_URL_PATH}/<path:relative>")
def audio_file(relative):
    music_dir = current_app.config.get("MUSIC_DIR")
    if not music_dir:
        abort(404, "no music folder is configured")
    try:
        path = resolve_audio_file(music_dir, relative)
        # conditional=True answers Range requests with 206 and If-None-Match with 304.
        return send_file(path, mimetype=content_type_for(path), conditional=True)
    except (AudioFileRefused, OSError):  # OSError: the file vanished after the check
        # The reason stays in the server; the client only learns there is no such file.
        abort(404, "no such audio file")
