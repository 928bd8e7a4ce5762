"""A missing or inconsistent model bundle stops start-up with a clear message."""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from app.bundle import BundleError, metadata_path
from tests.bundles import make_tiny_bundle

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def bundle_copy(tiny_bundle, tmp_path):
    model = tmp_path / "copy.keras"
    shutil.copy(tiny_bundle, model)
    shutil.copy(metadata_path(tiny_bundle), metadata_path(model))
    return model


def edit_metadata(model, **changes):
    path = metadata_path(model)
    metadata = json.loads(path.read_text())
    metadata.update(changes)
    path.write_text(json.dumps(metadata))


def start_fails(make_app, model, *expected):
    with pytest.raises(BundleError) as failure:
        make_app(MODEL_PATH=str(model))
    message = str(failure.value)
    for text in (*expected, "python -m training.train"):
        assert text in message
    return message


def test_missing_model_file(make_app, tmp_path):
    start_fails(make_app, tmp_path / "nothing.keras", "nothing.keras is missing")


def test_missing_metadata(make_app, bundle_copy):
    metadata_path(bundle_copy).unlink()
    start_fails(make_app, bundle_copy, "copy.json is missing")


def test_metadata_not_json(make_app, bundle_copy):
    metadata_path(bundle_copy).write_text("{labels: ")
    start_fails(make_app, bundle_copy, "not valid JSON")


def test_wrong_labels(make_app, bundle_copy):
    edit_metadata(bundle_copy, labels=["angry", "happy", "sad", "neutral"])
    start_fails(make_app, bundle_copy, "labels are")


def test_bad_input_size(make_app, bundle_copy):
    edit_metadata(bundle_copy, input_size=[48])
    start_fails(make_app, bundle_copy, "input_size")


def test_model_swapped_without_metadata(make_app, bundle_copy):
    bundle_copy.write_bytes(bundle_copy.read_bytes() + b"\0")
    start_fails(make_app, bundle_copy, "SHA-256 differs")


def test_corrupt_model_file(make_app, bundle_copy):
    bundle_copy.write_bytes(b"not a keras zip")
    edit_metadata(bundle_copy, sha256=None)
    start_fails(make_app, bundle_copy, "cannot load")


def test_shapes_disagree_with_metadata(make_app, tmp_path):
    model = make_tiny_bundle(tmp_path / "big.keras", input_size=(64, 64))
    edit_metadata(model, input_size=[48, 48], sha256=None)
    start_fails(make_app, model, "its metadata says")


def test_gunicorn_entry_point_exits_with_the_message(tmp_path):
    env = {**os.environ, "MODEL_PATH": str(tmp_path / "absent.keras")}
    result = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 3
    assert "MoodTunes cannot start" in result.stderr
    assert "absent.keras is missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_background_loading_reports_not_ready_then_ready(make_app, monkeypatch):
    from app.emotion_model import EmotionModel

    release = threading.Event()
    real_load = EmotionModel.load

    def slow_load(path, metadata=None):
        release.wait(30)
        return real_load(path, metadata)

    monkeypatch.setattr(EmotionModel, "load", slow_load)
    client = make_app(MODEL_LOADING="background").test_client()
    response = client.get("/healthz")
    assert response.status_code == 503 and response.get_json()["status"] == "loading"
    predict = client.post("/api/predict", data={}, content_type="multipart/form-data")
    assert predict.status_code == 503 and predict.get_json()["error"]["code"] == "model_loading"
    release.set()
    for _ in range(300):
        if client.get("/healthz").status_code == 200:
            break
        time.sleep(0.1)
    assert client.get("/healthz").get_json() == {"status": "ready", "model": "tiny"}


def test_background_loading_still_checks_the_bundle_first(make_app, tmp_path):
    with pytest.raises(BundleError, match="missing"):
        make_app(MODEL_LOADING="background", MODEL_PATH=str(tmp_path / "none.keras"))


def test_malformed_playlist_catalog_stops_start_up(make_app, tmp_path):
    from app.playlists import CatalogError

    catalog = tmp_path / "my_playlists.json"
    catalog.write_text('{"angry": {"match": ')
    with pytest.raises(CatalogError, match="my_playlists.json: line 1"):
        make_app(PLAYLISTS_PATH=str(catalog))


def test_bad_configuration_value_is_named(make_app, monkeypatch):
    from app.config import ConfigError

    monkeypatch.setenv("MAX_UPLOAD_MB", "lots")
    with pytest.raises(ConfigError, match="MAX_UPLOAD_MB='lots'"):
        make_app()
