"""A missing or inconsistent model bundle stops start-up with a clear message."""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

from app.bundle import BundleError, metadata_path, write_bundle
from app.config import ConfigError, finalize, from_environment
from tests.bundles import make_tiny_bundle

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def bundle_copy(tiny_bundle, tmp_path):
    model = tmp_path / "copy.keras"
    shutil.copy(tiny_bundle, model)
    shutil.copy(metadata_path(tiny_bundle), metadata_path(model))
    return model


@pytest.fixture(scope="module")
def unbuilt_bundle(tiny_bundle, tmp_path_factory):
    """A bundle whose metadata is fine but whose Sequential model was saved before it was built,
    so it has no input shape to check."""
    import keras

    metadata = json.loads(metadata_path(tiny_bundle).read_text())
    model = keras.Sequential([keras.layers.Dense(4, activation="softmax")])
    path = tmp_path_factory.mktemp("unbuilt") / "unbuilt.keras"
    with warnings.catch_warnings():  # Keras warns that the model is unbuilt: that is the point
        warnings.simplefilter("ignore", UserWarning)
        write_bundle(model, metadata, path)
    return path


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


def test_unreadable_model_file(make_app, bundle_copy, monkeypatch):
    def refuse(path, *args, **kwargs):  # tests run as root, whom file permissions do not stop
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("app.bundle.open", refuse, raising=False)
    start_fails(make_app, bundle_copy, "cannot read", "copy.keras", "Permission denied")


def test_corrupt_model_file(make_app, bundle_copy):
    bundle_copy.write_bytes(b"not a keras zip")
    edit_metadata(bundle_copy, sha256=None)
    start_fails(make_app, bundle_copy, "cannot load")


def test_truncated_model_file_is_called_corrupt_not_missing(make_app, bundle_copy):
    data = bundle_copy.read_bytes()
    bundle_copy.write_bytes(data[: len(data) // 2])
    edit_metadata(bundle_copy, sha256=None)
    message = start_fails(make_app, bundle_copy, "cannot load", "copy.keras", "the file exists but "
                          "is not a readable .keras archive (corrupt or truncated)")
    assert "not found" not in message.lower()


def test_model_without_an_input_shape(make_app, unbuilt_bundle):
    message = start_fails(make_app, unbuilt_bundle, "cannot use", "unbuilt.keras", "input shape")
    assert ".. " not in message  # Keras ends its message with a full stop; so does ours


def test_failed_warm_up_is_a_bundle_error(make_app, tiny_bundle, monkeypatch):
    from app.emotion_model import EmotionModel

    def out_of_memory(self, crops):
        raise MemoryError("cannot allocate the first batch")

    monkeypatch.setattr(EmotionModel, "classify", out_of_memory)
    start_fails(make_app, tiny_bundle, "cannot use", "cannot allocate the first batch")


def test_shapes_disagree_with_metadata(make_app, tmp_path):
    model = make_tiny_bundle(tmp_path / "big.keras", input_size=(64, 64))
    edit_metadata(model, input_size=[48, 48], sha256=None)
    start_fails(make_app, model, "its metadata says")


def assert_entry_point_exits_with_the_message(model_path, *expected):
    env = {**os.environ, "MODEL_PATH": str(model_path)}
    result = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 3
    for text in ("MoodTunes cannot start", *expected):
        assert text in result.stderr
    assert "Traceback" not in result.stderr


def test_gunicorn_entry_point_exits_with_the_message(tmp_path):
    assert_entry_point_exits_with_the_message(tmp_path / "absent.keras", "absent.keras is missing")


def test_gunicorn_entry_point_exits_with_the_message_for_an_unusable_model(unbuilt_bundle):
    assert_entry_point_exits_with_the_message(
        unbuilt_bundle, "cannot use", "unbuilt.keras", "python -m training.train")


def gunicorn_start(**environ):
    env = {**os.environ, "BIND": "127.0.0.1:0", **environ}
    return subprocess.run([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("broken", ["missing model", "truncated model", "catalogue"])
def test_gunicorn_stops_with_one_line_before_forking_workers(tmp_path, bundle_copy, broken):
    """Checked in the master: exit status 3 and the reason once, never a traceback nor one
    message per worker (workers failing at once made gunicorn exit 1 with a traceback)."""
    environ = {"MODEL_PATH": str(bundle_copy)}
    if broken == "missing model":
        environ["MODEL_PATH"] = str(tmp_path / "absent.keras")
    elif broken == "truncated model":
        bundle_copy.write_bytes(bundle_copy.read_bytes()[:1000])
        edit_metadata(bundle_copy, sha256=None)
    else:
        environ["PLAYLISTS_PATH"] = str(tmp_path / "playlists.json")
        (tmp_path / "playlists.json").write_text('{"angry": ')
    result = gunicorn_start(**environ)
    assert result.returncode == 3
    assert result.stderr.count("MoodTunes cannot start") == 1
    assert "Traceback" not in result.stderr and "Booting worker" not in result.stderr


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


def test_background_loader_exits_on_an_unexpected_failure(make_app, monkeypatch, caplog):
    """Not only BundleError: a worker whose model never loads must not answer 503 forever."""
    from app.emotion_model import EmotionModel

    exited = []
    done = threading.Event()

    def broken_load(path, metadata=None):
        raise RuntimeError("the GPU driver went away")

    def fake_exit(code):
        exited.append(code)
        done.set()

    monkeypatch.setattr(EmotionModel, "load", broken_load)
    monkeypatch.setattr(os, "_exit", fake_exit)
    make_app(MODEL_LOADING="background")
    assert done.wait(30)
    assert exited == [3]
    [record] = [r for r in caplog.records if r.levelname == "CRITICAL"]
    assert "MoodTunes cannot start" in record.getMessage()
    assert "the GPU driver went away" in record.getMessage()


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
    monkeypatch.setenv("MAX_UPLOAD_MB", "lots")
    with pytest.raises(ConfigError, match="MAX_UPLOAD_MB='lots'"):
        make_app()


def configured(**environ):
    return finalize(from_environment(environ))


def test_log_level_in_any_case():
    assert configured(LOG_LEVEL="debug")["LOG_LEVEL"] == "DEBUG"
    assert configured(LOG_LEVEL="Warning")["LOG_LEVEL"] == "WARNING"


def test_unknown_log_level_names_the_valid_ones():
    valid = "DEBUG, INFO, WARNING, ERROR, CRITICAL"
    with pytest.raises(ConfigError, match=f"LOG_LEVEL='loud'.*{valid}"):
        configured(LOG_LEVEL="loud")


@pytest.mark.parametrize("key", ["MAX_UPLOAD_MB", "REQUEST_TIMEOUT_S"])
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "NaN"])
def test_non_finite_numbers_are_refused(key, value):
    with pytest.raises(ConfigError, match=key):
        configured(**{key: value})


def test_max_faces_defaults_to_32():
    assert configured()["MAX_FACES"] == 32
    assert configured(MAX_FACES="3")["MAX_FACES"] == 3


@pytest.mark.parametrize("value", ["0", "-1", "2.5", "all"])
def test_max_faces_must_be_a_positive_whole_number(value):
    with pytest.raises(ConfigError, match="MAX_FACES"):
        configured(MAX_FACES=value)
