"""Playlists per emotion: the editable catalog (playlists.json) plus local music.

Each emotion has two playlists: "match" (music that matches the mood) and
"lift" (music that lifts it). Tracks leave this module normalised as
{"title", "artist", "url": str|None, "audio": str|None, "source": "catalog"|"library"}.
"""

import json
from urllib.parse import urlsplit

from app.emotions import LABELS
from app.music_library import AudioFileRefused, MusicLibrary, audio_url, check_relative_name

PLAYLIST_MODES = ("match", "lift")
_PLAYLIST_FIELDS = {"title": True, "description": True, "tracks": True}  # name -> required
_TRACK_FIELDS = {"title": True, "artist": True, "url": False, "file": False}


class CatalogError(Exception):
    """The catalog file is unreadable or breaks the format; the message says where."""


class _Invalid(Exception):
    """A validation failure at `where` (e.g. "sad.lift.tracks[3].url"); the file is added later."""

    def __init__(self, where, problem):
        super().__init__(f"{where or 'top level'}: {problem}")


def load_catalog(path):
    """The validated, normalised catalog: {emotion: {"match": playlist, "lift": playlist}}."""
    try:
        with open(path, encoding="utf-8") as file:
            raw = json.load(file)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise CatalogError(f"{path}: {where}: invalid JSON: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: cannot read the catalog: {exc}") from None
    try:
        return _catalog(raw)
    except _Invalid as exc:
        raise CatalogError(f"{path}: {exc}") from None


def _catalog(raw):
    _require_object(raw, "", {label: True for label in LABELS}, kind="emotion")
    return {emotion: _modes(raw[emotion], emotion) for emotion in LABELS}


def _modes(raw, where):
    _require_object(raw, where, {mode: True for mode in PLAYLIST_MODES}, kind="playlist mode")
    return {mode: _playlist(raw[mode], f"{where}.{mode}") for mode in PLAYLIST_MODES}


def _playlist(raw, where):
    _require_object(raw, where, _PLAYLIST_FIELDS)
    tracks = raw["tracks"]
    if not isinstance(tracks, list) or not tracks:
        raise _Invalid(f"{where}.tracks", "must be a non-empty list of tracks")
    return {
        "title": _text(raw["title"], f"{where}.title"),
        "description": _text(raw["description"], f"{where}.description"),
        "tracks": [_track(track, f"{where}.tracks[{i}]") for i, track in enumerate(tracks)],
    }


def _track(raw, where):
    _require_object(raw, where, _TRACK_FIELDS)
    if "url" not in raw and "file" not in raw:
        raise _Invalid(where, "needs a 'url', a 'file', or both")
    title = _text(raw["title"], f"{where}.title")
    artist = _text(raw["artist"], f"{where}.artist")
    url = _web_link(raw["url"], f"{where}.url") if "url" in raw else None
    file = _music_file(raw["file"], f"{where}.file") if "file" in raw else None
    return _normalised_track(title=title, artist=artist, url=url,
                             audio=audio_url(file) if file else None, source="catalog")


def _normalised_track(*, title, artist, url, audio, source):
    return {"title": title, "artist": artist, "url": url, "audio": audio, "source": source}


def _require_object(raw, where, fields, kind="key"):
    """`raw` is a JSON object with every required field and nothing unknown (typo protection)."""
    if not isinstance(raw, dict):
        raise _Invalid(where, f"must be an object, got {_json_type(raw)}")
    expected = ", ".join(fields)
    for name in raw:
        if name not in fields:
            raise _Invalid(_child(where, name), f"unknown {kind} (expected one of {expected})")
    for name, required in fields.items():
        if required and name not in raw:
            raise _Invalid(_child(where, name), "missing")


def _child(where, name):
    return f"{where}.{name}" if where else name


def _text(raw, where):
    if not isinstance(raw, str) or not raw.strip():
        raise _Invalid(where, f"must be a non-empty string, got {raw!r}")
    return raw.strip()


def _web_link(raw, where):
    url = _text(raw, where)
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise _Invalid(where, f"must not contain spaces or control characters, got {url!r}")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _Invalid(where, f"must be an http(s) link, got {url!r}")
    return url


def _music_file(raw, where):
    relative = _text(raw, where)
    try:
        check_relative_name(relative)
    except AudioFileRefused as exc:
        hint = "use a path inside MUSIC_DIR such as 'sad/song.mp3'"
        raise _Invalid(where, f"{exc}, got {relative!r}; {hint}") from None
    return relative


def _json_type(value):
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false",
             type(None): "null"}
    return names.get(type(value), "a number")


class PlaylistService:
    """The catalog's playlists with the local music library's tracks appended."""

    def __init__(self, catalog, music_dir=None):
        self._catalog = catalog
        self._library = MusicLibrary(music_dir) if music_dir is not None else None

    def for_emotion(self, emotion):
        """{"emotion", "match", "lift"} for `emotion`; KeyError if there is no such emotion."""
        modes = self._catalog[emotion]
        playlists = {mode: self._with_local_tracks(modes[mode], emotion, mode)
                     for mode in PLAYLIST_MODES}
        return {"emotion": emotion, **playlists}

    def all(self):
        return {emotion: self.for_emotion(emotion) for emotion in self._catalog}

    def _with_local_tracks(self, playlist, emotion, mode):
        # Fresh dicts on every call: callers may serialise or adjust the result
        # without ever changing the catalog shared by all requests.
        tracks = [dict(track) for track in playlist["tracks"]]
        if self._library is not None:
            tracks += [_library_track(local) for local in self._library.tracks(emotion, mode)]
        return {**playlist, "tracks": tracks}


def _library_track(local):
    return _normalised_track(title=local.title, artist=local.artist, url=None,
                             audio=local.audio_url, source="library")
