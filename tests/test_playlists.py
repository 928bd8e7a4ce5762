import copy
import json
import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from app.emotions import LABELS
from app.playlists import PLAYLIST_MODES, CatalogError, PlaylistService, load_catalog

SHIPPED_CATALOG = Path(__file__).resolve().parent.parent / "app" / "playlists.json"


def minimal_catalog():
    track = {"title": "Song", "artist": "Band", "url": "https://example.com/song"}
    playlist = {"title": "Mix", "description": "A mix.", "tracks": [track]}
    return {emotion: {mode: copy.deepcopy(playlist) for mode in PLAYLIST_MODES}
            for emotion in LABELS}


def write_catalog(tmp_path, data):
    path = tmp_path / "playlists.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# --- the shipped catalog -----------------------------------------------------------------------

def test_shipped_catalog_has_25_linked_tracks_per_emotion_and_mode():
    """Enough for a day's listening: a playlist of 25 songs is well over an hour."""
    catalog = load_catalog(SHIPPED_CATALOG)
    assert set(catalog) == set(LABELS)
    for emotion in LABELS:
        for mode in PLAYLIST_MODES:
            tracks = catalog[emotion][mode]["tracks"]
            assert len(tracks) >= 25, (emotion, mode)
            for track in tracks:
                link = urlsplit(track["url"])
                assert link.scheme in ("http", "https") and link.hostname, track


def test_shipped_playlists_do_not_repeat_a_song():
    catalog = load_catalog(SHIPPED_CATALOG)
    songs = [(t["artist"], t["title"]) for modes in catalog.values()
             for playlist in modes.values() for t in playlist["tracks"]]
    assert len(songs) == len(set(songs))


# --- normalisation -------------------------------------------------------------------------------

def test_shipped_youtube_links_are_videos_or_searches_for_the_song():
    """A watch link plays in the page's YouTube player: it must carry a well-formed video id
    (a typo would embed an error), and no two songs the same one. A search must name the artist
    and the song, which always finds it (no video id is invented: only ids verified from cited
    sources are watch links)."""
    from urllib.parse import parse_qs

    videos = []
    for emotion, modes in load_catalog(SHIPPED_CATALOG).items():
        for track in (t for mode in modes.values() for t in mode["tracks"]):
            link = urlsplit(track["url"])
            assert link.hostname == "www.youtube.com", track
            query = parse_qs(link.query)
            if link.path == "/watch":
                assert list(query) == ["v"] and re.fullmatch(r"[A-Za-z0-9_-]{11}", query["v"][0]), track
                videos.append(query["v"][0])
            else:
                assert link.path == "/results", track
                assert query["search_query"][0].lower() == f"{track['artist']} {track['title']}".lower(), track
    assert len(videos) >= 70 and len(set(videos)) == len(videos)


def test_tracks_are_normalised_and_files_become_quoted_music_urls(tmp_path):
    data = minimal_catalog()
    data["sad"]["match"]["tracks"] = [
        {"title": " Song ", "artist": "Band", "url": "https://example.com/a"},
        {"title": "Local", "artist": "Me", "file": "sad/My Song #1.mp3"},
    ]
    catalog = load_catalog(write_catalog(tmp_path, data))
    assert catalog["sad"]["match"]["tracks"] == [
        {"title": "Song", "artist": "Band", "url": "https://example.com/a", "audio": None,
         "source": "catalog"},
        {"title": "Local", "artist": "Me", "url": None, "audio": "/music/sad/My%20Song%20%231.mp3",
         "source": "catalog"},
    ]


# --- validation errors name the file, the entry and the field ------------------------------------

def _parent(data, keys):
    for key in keys[:-1]:
        data = data[key]
    return data


def _drop(*keys):
    def mutate(data):
        del _parent(data, keys)[keys[-1]]
    return mutate


def _set(value, *keys):
    def mutate(data):
        _parent(data, keys)[keys[-1]] = value
    return mutate


FIRST_TRACK = ("sad", "lift", "tracks", 0)

INVALID_CATALOGS = {
    "missing emotion": (_drop("neutral"), "neutral: missing"),
    "unknown emotion": (_set({}, "bored"), "bored: unknown emotion"),
    "missing mode": (_drop("happy", "lift"), "happy.lift: missing"),
    "empty tracks": (_set([], "angry", "match", "tracks"),
                     "angry.match.tracks: must be a non-empty list"),
    "missing title": (_drop(*FIRST_TRACK, "title"), "sad.lift.tracks[0].title: missing"),
    "blank artist": (_set("  ", *FIRST_TRACK, "artist"),
                     "sad.lift.tracks[0].artist: must be a non-empty string"),
    "javascript url": (_set("javascript:alert(1)", *FIRST_TRACK, "url"),
                       "sad.lift.tracks[0].url: must be an http(s) link, got 'javascript:alert(1)'"),
    "url without host": (_set("https:///x", *FIRST_TRACK, "url"),
                         "sad.lift.tracks[0].url: must be an http(s) link"),
    "url with spaces": (_set("https://x.org/a b", *FIRST_TRACK, "url"),
                        "sad.lift.tracks[0].url: must not contain spaces"),
    "file with ..": (_set("../secret.mp3", *FIRST_TRACK, "file"), "sad.lift.tracks[0].file: '..'"),
    "absolute file": (_set("/etc/passwd.mp3", *FIRST_TRACK, "file"), "sad.lift.tracks[0].file:"),
    "file not audio": (_set("sad/notes.txt", *FIRST_TRACK, "file"),
                       "sad.lift.tracks[0].file: not an audio file"),
    "neither url nor file": (_drop(*FIRST_TRACK, "url"), "sad.lift.tracks[0]: needs a 'url', a 'file'"),
    "unknown track key": (_set("x", *FIRST_TRACK, "urll"), "sad.lift.tracks[0].urll: unknown key"),
    "unknown playlist key": (_set("x", "sad", "lift", "descripton"), "sad.lift.descripton: unknown key"),
    "track not an object": (_set("Song", "sad", "lift", "tracks", 0),
                            "sad.lift.tracks[0]: must be an object"),
}


@pytest.mark.parametrize("mutate, expected", INVALID_CATALOGS.values(), ids=INVALID_CATALOGS.keys())
def test_invalid_catalog_names_file_entry_and_field(tmp_path, mutate, expected):
    data = minimal_catalog()
    mutate(data)
    path = write_catalog(tmp_path, data)
    with pytest.raises(CatalogError) as error:
        load_catalog(path)
    assert str(error.value).startswith(f"{path}: ")
    assert expected in str(error.value)


def test_catalog_that_is_not_an_object_is_refused(tmp_path):
    path = write_catalog(tmp_path, ["sad"])
    with pytest.raises(CatalogError, match="top level: must be an object"):
        load_catalog(path)


def test_malformed_json_names_file_line_and_column(tmp_path):
    path = tmp_path / "playlists.json"
    path.write_text('{\n  "sad": {\n    "match": ,\n', encoding="utf-8")
    with pytest.raises(CatalogError) as error:
        load_catalog(path)
    assert f"{path}: line 3 column 14: invalid JSON" in str(error.value)


def test_missing_catalog_file_is_a_catalog_error(tmp_path):
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "nope.json")


# --- the service ---------------------------------------------------------------------------------

@pytest.fixture
def catalog(tmp_path):
    return load_catalog(write_catalog(tmp_path, minimal_catalog()))


def test_service_without_music_folder_serves_the_catalog(catalog):
    service = PlaylistService(catalog, None)
    sad = service.for_emotion("sad")
    assert sad["emotion"] == "sad"
    assert sad["match"] == catalog["sad"]["match"] and sad["lift"] == catalog["sad"]["lift"]
    assert set(service.all()) == set(LABELS)


def test_unknown_emotion_is_a_key_error(catalog):
    with pytest.raises(KeyError):
        PlaylistService(catalog, None).for_emotion("bored")


def test_missing_music_folder_is_fine(catalog, tmp_path):
    service = PlaylistService(catalog, tmp_path / "not-there")
    assert service.for_emotion("happy")["match"] == catalog["happy"]["match"]


def test_file_dropped_in_after_start_is_appended_to_its_playlist(catalog, tmp_path):
    music = tmp_path / "music"
    service = PlaylistService(catalog, music)
    assert service.for_emotion("sad")["match"]["tracks"] == catalog["sad"]["match"]["tracks"]

    (music / "sad" / "lift").mkdir(parents=True)
    (music / "sad" / "Nina Simone - Feeling Good.mp3").write_bytes(b"ID3")
    (music / "sad" / "lift" / "sunny_day.ogg").write_bytes(b"OggS")

    sad = service.for_emotion("sad")
    assert sad["match"]["tracks"][-1] == {
        "title": "Feeling Good", "artist": "Nina Simone", "url": None,
        "audio": "/music/sad/Nina%20Simone%20-%20Feeling%20Good.mp3", "source": "library"}
    assert sad["lift"]["tracks"][-1]["audio"] == "/music/sad/lift/sunny_day.ogg"
    assert service.for_emotion("happy")["match"]["tracks"] == catalog["happy"]["match"]["tracks"]


def test_unchanged_folder_is_not_rescanned(catalog, tmp_path):
    folder = tmp_path / "sad"
    folder.mkdir()
    an_hour_ago = time.time() - 3600
    os.utime(folder, (an_hour_ago, an_hour_ago))
    service = PlaylistService(catalog, tmp_path)
    before = service.for_emotion("sad")["match"]["tracks"]

    # A file whose folder mtime did not move stays unseen: the cached scan is used.
    (folder / "new.mp3").write_bytes(b"ID3")
    os.utime(folder, (an_hour_ago, an_hour_ago))
    assert service.for_emotion("sad")["match"]["tracks"] == before

    os.utime(folder, None)
    assert service.for_emotion("sad")["match"]["tracks"][-1]["title"] == "new"


def test_results_are_copies_callers_cannot_corrupt(catalog):
    service = PlaylistService(catalog, None)
    service.for_emotion("sad")["match"]["tracks"][0]["title"] = "changed"
    service.for_emotion("sad")["match"]["tracks"].clear()
    assert service.for_emotion("sad")["match"]["tracks"][0]["title"] == "Song"
