"""Users' faces stay private: frames are never written to disk, to the logs or to the access log.

docs/DESIGN.md promises the server "never writes a frame to disk". These tests post real frames
and then look everywhere a frame could land: every file the process opens for writing, the temp
dir, the working tree, every log record (at DEBUG), the process's stdout/stderr, and the real
gunicorn server's access log. A photo's EXIF (camera, owner) must not reach the logs either.
"""

import base64
import contextlib
import io
import logging
import os
import re
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.images import (
    FROWN_VIDEO,
    astronaut,
    encode,
    no_face,
    two_faces,
    video_frames,
)

ROOT = Path(__file__).resolve().parents[1]
IGNORED_DIRS = {".git", "__pycache__", ".pytest_cache", ".hypothesis"}
# Other engineers edit sources and a training run writes checkpoints while tests run: files
# there may change during a test, as long as none of them holds a frame.
CONCURRENT_WORK_DIRS = ("training/runs/", "models/")
SOURCE_DIRS = ("app/", "static/", "templates/", "tests/", "training/", "bench/", "music/")
SOURCE_SUFFIXES = {".py", ".js", ".css", ".html", ".md", ".json", ".txt", ".ini", ".cfg", ".toml"}
MAX_LOG_RECORD_CHARS = 2_000
# What an image looks like once it is in a text log: raw, repr()'d or decoded as Latin-1.
IMAGE_SIGNS = ["JFIF", "Exif\\x00", "\\xff\\xd8\\xff", "\xff\xd8\xff", "\\x89PNG", "\x89PNG",
               "WEBPVP8", "Content-Disposition", "filename="]


# ---------------------------------------------------------------- frames


def webcam_frames(count=3):
    """Frames of the shared webcam video as the page sends them (640×480 JPEG), if it is there."""
    if not FROWN_VIDEO.is_file():
        return [encode(cv2.resize(astronaut(), (640, 480)))]
    spread = video_frames(step=11)[:count]  # spread over the clip
    return [encode(cv2.resize(rgb[:, 40:680], (640, 480)), quality=90) for rgb in spread]


def frames_to_post():
    """Good frames of every accepted type, all under Werkzeug's 500 KB in-memory limit."""
    frames = webcam_frames() + [
        encode(astronaut()),
        encode(two_faces()),
        encode(no_face()),
        encode(astronaut(), "WEBP"),
        encode(cv2.resize(astronaut(), (256, 256)), "PNG"),
    ]
    assert all(len(frame) < 500 * 1024 for frame in frames)
    return frames


def bad_uploads(frame):
    """Uploads that take the error paths: truncated, not an image, an unaccepted type."""
    return [frame[: len(frame) // 2], b"%PDF-1.4" + frame[100:2000],
            encode(cv2.resize(astronaut(), (64, 64)), "GIF")]


def fingerprints(frame):
    """Text that shows this frame was logged or saved: slices of it raw, as hex and as base64.

    base64 depends on where the encoded data starts, so each slice is encoded at three offsets.
    """
    middle = len(frame) // 2
    slices = [frame[:12], frame[middle:middle + 24], frame[-24:]]
    found = []
    for piece in slices:
        found.append(piece.hex())
        for offset in range(3):
            found.append(base64.b64encode(piece[offset:offset + 12]).decode())
        found.append(piece[4:20].decode("latin-1"))
    return found


def frame_needles(frames):
    return IMAGE_SIGNS + [needle for frame in frames for needle in fingerprints(frame)]


def post(client, data, filename="frame.jpg"):
    return client.post(
        "/api/predict",
        data={"image": (io.BytesIO(data), filename, "image/jpeg")},
        content_type="multipart/form-data",
    )


# ---------------------------------------------------------------- files


def tree_snapshot(root=ROOT):
    """{relative path: (mtime_ns, size)} of the working tree, caches and .git left out."""
    snapshot = {}
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [d for d in subdirs if d not in IGNORED_DIRS]
        for name in files:
            path = Path(directory, name)
            try:
                stat = path.stat()
            except FileNotFoundError:  # removed while we walked
                continue
            snapshot[path.relative_to(root).as_posix()] = (stat.st_mtime_ns, stat.st_size)
    return snapshot


def changed_paths(before, after):
    return sorted(path for path, stamp in after.items() if before.get(path) != stamp)


def is_concurrent_work(path):
    """A change someone else makes while the tests run (see CONCURRENT_WORK_DIRS)."""
    if path.startswith(CONCURRENT_WORK_DIRS):
        return True
    return path.startswith(SOURCE_DIRS) and Path(path).suffix in SOURCE_SUFFIXES


def holds_frame(path, frames):
    """Whether the file holds any posted frame, raw or encoded (huge checkpoints are skipped)."""
    try:
        if path.stat().st_size > 64 * 1024 * 1024:
            return False
        data = path.read_bytes()
    except OSError:
        return False
    needles = [n.encode("latin-1", "ignore") for n in frame_needles(frames) if len(n) >= 12]
    raw = [frame[len(frame) // 2: len(frame) // 2 + 32] for frame in frames]
    return any(needle in data for needle in needles + raw)


def files_under(directory):
    return sorted(str(p.relative_to(directory)) for p in Path(directory).rglob("*"))


WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def opens_for_writing(mode, flags):
    """Whether an "open" audit event (builtin open gives a mode, os.open only flags) may write."""
    return any(c in (mode or "") for c in "wax+") or bool(flags & WRITE_FLAGS)


class OpenAudit:
    """Records the files this process opens for writing, from any thread, while a list is set.

    An audit hook cannot be removed: it is installed once, on first use, and does nothing
    while no test is recording.
    """

    def __init__(self):
        self.opened = None
        self.installed = False

    def record_into(self, opened):
        if not self.installed:
            sys.addaudithook(self)
            self.installed = True
        self.opened = opened

    def stop(self):
        self.opened = None

    def __call__(self, event, args):
        opened = self.opened
        if opened is None or event != "open" or not opens_for_writing(*args[1:3]):
            return
        # The import system caches bytecode for a module first imported now; that holds no frame.
        if "__pycache__" not in str(args[0]):
            opened.append(args[0])


OPEN_AUDIT = OpenAudit()


@contextlib.contextmanager
def files_written(monkeypatch):
    """Every file opened for writing inside the block, and every call to OpenCV's writers
    (C++ code, which Python's audit hooks do not see); those also fail the request."""
    written = []

    def forbidden(name):
        def write(*args, **kwargs):
            written.append(f"cv2.{name}")
            pytest.fail(f"cv2.{name} called while serving a frame")
        return write

    for name in ("imwrite", "VideoWriter"):
        monkeypatch.setattr(cv2, name, forbidden(name))
    OPEN_AUDIT.record_into(written)
    try:
        yield written
    finally:
        OPEN_AUDIT.stop()


# ---------------------------------------------------------------- logs


def record_text(record):
    text = record.getMessage()
    if record.exc_info:
        text += logging.Formatter().formatException(record.exc_info)
    return text + (record.stack_info or "")


# Long runs of base64, hex or escaped bytes: binary data of any kind, posted frame or not.
BINARY_RUNS = re.compile(r"[A-Za-z0-9+/]{160,}={0,2}|[0-9a-fA-F]{128,}|(?:\\x[0-9a-f]{2}){32,}")


def assert_no_image_in_text(text, needles, where):
    for needle in needles:
        assert needle not in text, f"{where} holds image data ({needle!r}): {text[:300]!r}"
    run = BINARY_RUNS.search(text)
    assert run is None, f"{where} holds binary data: {run.group()[:120]!r}…"


def assert_no_image_arguments(record):
    """No bytes or pixel arrays handed to a logger, even ones the message format would hide."""
    args = record.args if isinstance(record.args, tuple) else (record.args or {}).values()
    for arg in args:
        if isinstance(arg, (bytes, bytearray, memoryview)):
            assert len(arg) <= 64, f"{record.name} logged {len(arg)} bytes"
        if isinstance(arg, np.ndarray):
            assert arg.size <= 64, f"{record.name} logged an array of shape {arg.shape}"


@pytest.fixture
def private_tempdir(tmp_path, monkeypatch):
    """An empty directory every temp file of this process would land in."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setenv("TMPDIR", str(directory))
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def test_predictions_leave_no_file_and_no_image_in_logs(client, caplog, capfd, private_tempdir,
                                                       monkeypatch):
    caplog.set_level(logging.DEBUG)
    for name in ("moodtunes", "app", "werkzeug", "PIL"):
        caplog.set_level(logging.DEBUG, logger=name)
    frames = frames_to_post()
    uploads = frames + bad_uploads(frames[0])
    before = tree_snapshot()

    with files_written(monkeypatch) as written:
        statuses = [post(client, data).status_code for data in uploads]

    after = tree_snapshot()
    assert written == []
    assert statuses == [200] * len(frames) + [400, 415, 415]
    assert files_under(private_tempdir) == []
    changed = changed_paths(before, after)
    assert [p for p in changed if not is_concurrent_work(p)] == []
    assert [p for p in changed if holds_frame(ROOT / p, uploads)] == []

    needles = frame_needles(uploads)
    for record in caplog.records:
        text = record_text(record)
        assert len(text) < MAX_LOG_RECORD_CHARS, f"{record.name}: {len(text)} chars"
        assert_no_image_in_text(text, needles, f"log record of {record.name}")
        assert_no_image_arguments(record)
    out, err = capfd.readouterr()
    assert_no_image_in_text(out + err, needles, "stdout/stderr")


EXIF_MARKER = "alice-exif-marker"


def photo_with_exif():
    """A JPEG whose EXIF names the camera and its owner, as a phone photo's does."""
    exif = Image.Exif()
    exif[0x010F] = f"Make {EXIF_MARKER}"  # Make
    exif[0x013B] = f"Artist {EXIF_MARKER}"  # Artist
    return encode(astronaut(), exif=exif.tobytes())


def test_exif_of_an_upload_is_not_logged_at_debug(make_app, caplog, capfd):
    caplog.set_level(logging.DEBUG)  # the root logger at DEBUG, as LOG_LEVEL=DEBUG sets it
    client = make_app(LOG_LEVEL="DEBUG").test_client()

    assert post(client, photo_with_exif()).status_code == 200

    for record in caplog.records:
        assert EXIF_MARKER not in record_text(record), f"{record.name} logged the upload's EXIF"
    out, err = capfd.readouterr()
    assert EXIF_MARKER not in out + err


@pytest.fixture
def temp_files_made(monkeypatch):
    """Every temporary file this process asks for, named or not (O_TMPFILE files have no name)."""
    made = []

    def recording(factory):
        def make(*args, **kwargs):
            made.append(factory.__name__)
            return factory(*args, **kwargs)
        return make

    for name in ("TemporaryFile", "NamedTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, recording(getattr(tempfile, name)))
    return made


def test_large_uploads_are_kept_in_memory(client, private_tempdir, temp_files_made):
    photo = encode(cv2.resize(astronaut(), (1024, 1024), interpolation=cv2.INTER_CUBIC), "PNG")
    assert len(photo) > 1024 * 1024  # over Werkzeug's limit, under MAX_UPLOAD_MB
    assert post(client, photo, "photo.png").status_code == 200
    assert temp_files_made == []


# ---------------------------------------------------------------- the real server's access log


QUERY_MARKER = "user=alice-query-marker"


@pytest.fixture(scope="module")
def served(tiny_bundle, tmp_path_factory):
    """Run gunicorn (one worker, tiny model), post frames, stop it; return what it logged."""
    from bench.common import multipart_body, start_server

    frames = frames_to_post()[:3]
    log_path = tmp_path_factory.mktemp("gunicorn") / "server.log"
    server = start_server(log_path, model=tiny_bundle, workers=1)
    statuses = []
    try:
        import http.client

        conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
        requests = [("/api/predict", frame) for frame in frames]
        requests += [("/api/predict?" + QUERY_MARKER, frames[0]),
                     ("/api/predict", frames[0][: len(frames[0]) // 2])]
        for path, data in requests:
            body, content_type = multipart_body(data, filename="alice-face.jpg")
            conn.request("POST", path, body=body, headers={"Content-Type": content_type})
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
        conn.close()
    finally:
        server.stop()
    return {"log": log_path.read_bytes(), "frames": frames, "statuses": statuses}


def access_lines(log):
    return [line for line in log.decode("utf-8", "replace").splitlines() if "/api/predict" in line]


def test_access_log_has_status_and_timing_but_no_frames(served):
    assert served["statuses"] == [200, 200, 200, 200, 400]
    lines = access_lines(served["log"])
    assert len(lines) == len(served["statuses"])
    for line, status in zip(lines, served["statuses"]):
        assert re.search(rf'" {status} ', line), line  # status right after the request line
        assert re.search(r"\b\d+(\.\d+)?\s?ms\b", line), line  # and how long it took
        assert len(line) < 300
    text = served["log"].decode("latin-1")
    assert_no_image_in_text(text, frame_needles(served["frames"]) + ["alice-face"], "server log")
    raw = [frame[len(frame) // 2: len(frame) // 2 + 32] for frame in served["frames"]]
    assert not any(piece in served["log"] for piece in raw)


def test_access_log_leaves_out_query_strings(served):
    assert QUERY_MARKER not in served["log"].decode("latin-1")
