import os
import wave

import pytest
from flask import Flask

from app import media
from app.music_library import (
    AudioFileRefused,
    MusicLibrary,
    content_type_for,
    resolve_audio_file,
    track_from_filename,
)


def write_wav(path, frames=2000):
    """A real (silent) 8 kHz mono WAV file: 44-byte header + `frames` bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(1)
        audio.setframerate(8000)
        audio.writeframes(b"\x80" * frames)
    return path


@pytest.fixture
def music(tmp_path):
    """MUSIC_DIR inside tmp_path, so tmp_path itself plays "outside the folder"."""
    folder = tmp_path / "music"
    write_wav(folder / "sad" / "Nina Simone - Feeling Good.wav")
    write_wav(folder / "sad" / "rainy_day-blues.wav")
    write_wav(folder / "sad" / "lift" / "sunny-side-up.wav")
    write_wav(tmp_path / "secret.wav")
    return folder


# --- scanning ------------------------------------------------------------------------------------

def test_scan_lists_audio_files_with_titles_from_their_names(music):
    (music / "sad" / "notes.txt").write_text("not music")
    write_wav(music / "sad" / ".hidden.wav")
    (music / "sad" / "subfolder").mkdir()

    library = MusicLibrary(music)
    assert [(t.artist, t.title, t.relative) for t in library.tracks("sad")] == [
        ("Nina Simone", "Feeling Good", "sad/Nina Simone - Feeling Good.wav"),
        ("Local file", "rainy day-blues", "sad/rainy_day-blues.wav"),
    ]
    assert [t.title for t in library.tracks("sad", "lift")] == ["sunny side up"]
    assert library.tracks("happy") == ()


@pytest.mark.parametrize("name, artist, title", [
    ("Artist - Title.mp3", "Artist", "Title"),
    ("Daft_Punk_-_Get_Lucky.mp3", "Daft Punk", "Get Lucky"),
    ("my-song.ogg", "Local file", "my song"),
    ("The Beatles - Ob-La-Di, Ob-La-Da.flac", "The Beatles", "Ob-La-Di, Ob-La-Da"),
])
def test_titles_and_artists_from_file_names(name, artist, title):
    track = track_from_filename(f"sad/{name}")
    assert (track.artist, track.title) == (artist, title)


def test_scan_skips_a_name_that_is_not_utf8_and_says_why(music, caplog):
    # "Café" in Latin-1, as an old archive unzips it: the name has no UTF-8 form, so no URL.
    write_wav(music / "sad" / os.fsdecode(b"Caf\xe9 - Song.wav"))
    relatives = [t.relative for t in MusicLibrary(music).tracks("sad")]
    assert relatives == ["sad/Nina Simone - Feeling Good.wav", "sad/rainy_day-blues.wav"]
    assert "not valid UTF-8" in caplog.text and "Caf" in caplog.text


def test_scan_skips_symlinks_leaving_the_folder(music, tmp_path):
    (music / "sad" / "escape.wav").symlink_to(tmp_path / "secret.wav")
    assert "sad/escape.wav" not in [t.relative for t in MusicLibrary(music).tracks("sad")]


def test_content_types_come_from_the_extension():
    assert content_type_for("a/b.MP3") == "audio/mpeg"
    assert content_type_for("b.m4a") == "audio/mp4"
    assert content_type_for("b.opus") == "audio/ogg"


# --- resolving a requested path ------------------------------------------------------------------

def test_resolve_returns_the_real_file(music):
    path = resolve_audio_file(music, "sad/Nina Simone - Feeling Good.wav")
    assert path == (music / "sad" / "Nina Simone - Feeling Good.wav").resolve()


def test_resolve_follows_symlinks_that_stay_inside(music):
    (music / "happy").mkdir()
    (music / "happy" / "same.wav").symlink_to(music / "sad" / "rainy_day-blues.wav")
    assert resolve_audio_file(music, "happy/same.wav").name == "rainy_day-blues.wav"


@pytest.mark.parametrize("relative", [
    "../secret.wav",
    "sad/../../secret.wav",
    "%2e%2e/secret.wav",
    "..%2fsecret.wav",
    "sad\\..\\..\\secret.wav",
    "",
    "sad/nul\x00.wav",
    "sad/missing.wav",
    "sad",
])
def test_resolve_refuses_paths_outside_or_missing(music, relative):
    with pytest.raises(AudioFileRefused):
        resolve_audio_file(music, relative)


def test_resolve_refuses_absolute_paths(music, tmp_path):
    with pytest.raises(AudioFileRefused, match="relative"):
        resolve_audio_file(music, str(tmp_path / "secret.wav"))


def test_resolve_refuses_a_symlink_leaving_the_folder(music, tmp_path):
    (music / "sad" / "escape.wav").symlink_to(tmp_path / "secret.wav")
    with pytest.raises(AudioFileRefused, match="outside"):
        resolve_audio_file(music, "sad/escape.wav")


def test_resolve_refuses_non_audio_files(music):
    (music / "sad" / "notes.txt").write_text("not music")
    with pytest.raises(AudioFileRefused, match="not an audio file"):
        resolve_audio_file(music, "sad/notes.txt")


def test_resolve_refuses_an_audio_name_linking_to_a_non_audio_file(music):
    (music / "sad" / "notes.txt").write_text("not music")
    (music / "sad" / "notes.wav").symlink_to(music / "sad" / "notes.txt")
    with pytest.raises(AudioFileRefused):
        resolve_audio_file(music, "sad/notes.wav")


@pytest.mark.parametrize("relative", ["sad/.hidden.wav", ".private/song.wav"])
def test_resolve_refuses_hidden_files(music, relative):
    write_wav(music / relative)
    with pytest.raises(AudioFileRefused, match="hidden"):
        resolve_audio_file(music, relative)


# --- serving over HTTP ---------------------------------------------------------------------------

def make_client(music_dir):
    app = Flask(__name__)
    app.config.update(TESTING=True, MUSIC_DIR=None if music_dir is None else str(music_dir))
    app.register_blueprint(media.bp)
    return app.test_client()


def test_range_request_returns_partial_content(music):
    path = music / "sad" / "Nina Simone - Feeling Good.wav"
    size = path.stat().st_size
    response = make_client(music).get(
        "/music/sad/Nina%20Simone%20-%20Feeling%20Good.wav", headers={"Range": "bytes=0-99"})
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes 0-99/{size}"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.mimetype == "audio/wav"
    assert response.get_data() == path.read_bytes()[:100]


def test_whole_file_is_served_with_its_content_type(music):
    response = make_client(music).get("/music/sad/lift/sunny-side-up.wav")
    assert response.status_code == 200
    assert response.mimetype == "audio/wav"
    assert response.get_data()[:4] == b"RIFF"


@pytest.mark.parametrize("url", [
    "/music/../secret.wav",
    "/music/%2e%2e/secret.wav",
    "/music/sad/..%2f..%2fsecret.wav",
    "/music/sad/missing.wav",
    "/music/sad/escape.wav",
])
def test_refused_paths_are_plain_404s(music, tmp_path, url):
    (music / "sad" / "escape.wav").symlink_to(tmp_path / "secret.wav")
    response = make_client(music).get(url)
    assert response.status_code == 404
    assert b"Traceback" not in response.get_data()


def test_no_music_folder_configured_is_a_404():
    assert make_client(None).get("/music/sad/a.wav").status_code == 404
