"""The local music folder: audio files a person drops into MUSIC_DIR/<emotion>/.

MUSIC_DIR/<emotion>/*       music that matches the mood
MUSIC_DIR/<emotion>/lift/*  music that lifts it

Every file served or listed goes through `resolve_audio_file`, the one place
that decides which paths are safe to hand to the web.
"""

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote

log = logging.getLogger(__name__)

# The URL path the media blueprint serves files under; playlists link to it.
MUSIC_URL_PATH = "/music"
LIFT_FOLDER = "lift"

CONTENT_TYPES = {
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".webm": "audio/webm",
}

# Filesystems stamp folder mtimes with a coarse clock (a few ms up to 2 s), so
# a file added just after a scan can leave the mtime unchanged. A scan of a
# folder modified this recently is not trusted; the next call scans again.
_RACY_WINDOW_NS = 2_000_000_000


class AudioFileRefused(Exception):
    """A requested path is not a servable audio file inside the music folder."""


@dataclass(frozen=True)
class LocalTrack:
    title: str
    artist: str
    relative: str  # POSIX path relative to the music folder

    @property
    def audio_url(self):
        return audio_url(self.relative)


def audio_url(relative):
    """The URL the media blueprint serves `relative` (a path inside MUSIC_DIR) under."""
    return f"{MUSIC_URL_PATH}/{quote(relative)}"


def content_type_for(path):
    return CONTENT_TYPES[PurePosixPath(path).suffix.lower()]


def check_relative_name(relative):
    """Refuse, with the reason, names that could never be a servable file; no disk access."""
    if not relative or "\x00" in relative:
        raise AudioFileRefused("empty path or NUL byte")
    if "\\" in relative:
        raise AudioFileRefused("backslashes are not allowed; use '/'")
    if not _encodes_as_utf8(relative):
        # A name in another encoding (an old archive unzipped here) has no URL to serve it under.
        raise AudioFileRefused("the name is not valid UTF-8 text; rename the file")
    path = PurePosixPath(relative)
    if path.is_absolute():
        raise AudioFileRefused("must be a path relative to the music folder")
    _check_parts(path.parts)


def _encodes_as_utf8(text):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # bytes the file system could not decode, kept as surrogates
        return False
    return True


def _check_parts(parts):
    if ".." in parts:
        raise AudioFileRefused("'..' is not allowed")
    if any(part.startswith(".") for part in parts):
        raise AudioFileRefused("hidden files and folders are not served")
    suffix = PurePosixPath(parts[-1]).suffix.lower() if parts else ""
    if suffix not in CONTENT_TYPES:
        raise AudioFileRefused(f"not an audio file type ({', '.join(CONTENT_TYPES)})")


def resolve_audio_file(music_dir, relative):
    """The real path of `relative` inside `music_dir`, or AudioFileRefused.

    Symlinks are followed, then the target must still be a visible audio file
    inside the (resolved) music folder.
    """
    check_relative_name(relative)
    try:
        root = Path(music_dir).resolve()
        target = (root / relative).resolve()
        if not target.is_relative_to(root):
            raise AudioFileRefused("leads outside the music folder")
        _check_parts(target.relative_to(root).parts)
        if not target.is_file():
            raise AudioFileRefused("no such file")
    except (OSError, RuntimeError, ValueError) as exc:  # RuntimeError: symlink loop
        raise AudioFileRefused(f"cannot be read: {exc}") from None
    return target


def track_from_filename(relative):
    """Title and artist from a file name: "Artist - Title.mp3", or just "Title.mp3"."""
    stem = PurePosixPath(relative).stem.replace("_", " ")
    artist, separator, title = stem.partition(" - ")
    if not separator:
        artist, title = "", stem
        if " " not in title:  # a slug such as "my-song"; keep "Ob-La-Di, Ob-La-Da" as it is
            title = title.replace("-", " ")
    title = _squeeze(title) or _squeeze(stem)
    return LocalTrack(title=title, artist=_squeeze(artist) or "Local file", relative=relative)


def _squeeze(text):
    return re.sub(r"\s+", " ", text).strip()


def scan_folder(music_dir, folder):
    """The servable audio files directly inside `folder` (a path relative to music_dir)."""
    try:
        entries = sorted(os.scandir(Path(music_dir) / folder), key=lambda e: e.name.casefold())
    except OSError:  # not created yet, or unreadable: no local music
        return ()
    tracks = []
    for entry in entries:
        relative = f"{folder}/{entry.name}"
        try:
            resolve_audio_file(music_dir, relative)
        except AudioFileRefused as refused:
            if PurePosixPath(entry.name).suffix.lower() in CONTENT_TYPES:
                log.warning("music: not listing %r: %s", relative, refused)
            continue
        tracks.append(track_from_filename(relative))
    return tuple(tracks)


def _folder_stamp(path):
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns


class MusicLibrary:
    """Local tracks per emotion, rescanned only when a folder's mtime changes.

    Adding, removing or renaming a file changes its folder's mtime, so files
    dropped in while the server runs show up on the next request.
    """

    def __init__(self, music_dir):
        self.music_dir = Path(music_dir)
        self._scans = {}  # folder -> (stamp, tracks)

    def tracks(self, emotion, mode="match"):
        """The local tracks for `emotion`; mode "lift" reads the lift/ subfolder."""
        folder = {"match": emotion, "lift": f"{emotion}/{LIFT_FOLDER}"}[mode]
        stamp = _folder_stamp(self.music_dir / folder)
        cached = self._scans.get(folder)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        tracks = scan_folder(self.music_dir, folder)
        if stamp is None or not _recently_modified(stamp):
            # One assignment, so threads sharing the library never see half a scan.
            self._scans[folder] = (stamp, tracks)
        return tracks


def _recently_modified(stamp):
    _inode, mtime_ns = stamp
    return time.time_ns() - mtime_ns < _RACY_WINDOW_NS
