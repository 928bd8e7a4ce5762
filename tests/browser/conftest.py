"""Browser tests: the real server under gunicorn, Debian's Chromium driven by Playwright,
and a fake camera playing a real face video."""

import json
import os
import urllib.request
import wave
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.emotions import LABELS
from bench.common import multipart_body, start_server
from tests.bundles import make_tiny_bundle
from tests.images import SHARED, astronaut, shared, video_frames

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SHIPPED_MODEL = ROOT / "models" / "moodtunes_vgg16.keras"
ARTIFACTS = ROOT / "tests" / "artifacts"
BROWSER_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
    "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--autoplay-policy=no-user-gesture-required",
]


def pytest_collection_modifyitems(config, items):
    """Marks the browser tests; leaves out the minutes-long measure of the bars (a deselected
    test is not a skip, which CI counts as a failure) unless MOODTUNES_BARS=1 asks for it."""
    measure = os.environ.get("MOODTUNES_BARS") == "1"
    left_out = [item for item in items if "bars" in item.keywords and not measure]
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]


@pytest.fixture(scope="session")
def chromium_path():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)")
    return CHROMIUM


def write_y4m(frames, path, fps=30):
    """RGB frames as a .y4m file, the format Chromium's fake camera plays (in a loop, at `fps`)."""
    height, width = frames[0].shape[:2]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for rgb in frames:
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


@pytest.fixture(scope="session")
def y4m_camera(tmp_path_factory):
    """A real face that holds its expression, as a user in front of the page does: frown.avi's
    calm first second, played forth and back (the whole clip, looped, turns from calm to a
    frown every 2.3 s, quicker than a mood is chosen)."""
    frames = video_frames()[:30]  # skips, with the reason, when ../shared is absent
    return write_y4m(frames + frames[::-1], tmp_path_factory.mktemp("camera") / "calm.y4m")


def served_reading(server, rgb):
    """(top class, its lead over the runner-up) the served model gives this frame's face."""
    faces = json.loads(predict(server, rgb))["faces"]
    if not faces:
        return None, 1.0
    ranked = sorted(faces[0]["probabilities"].items(), key=lambda item: -item[1])
    return ranked[0][0], ranked[0][1] - ranked[1][1]


@pytest.fixture(scope="session")
def wavering_camera(tmp_path_factory, server):
    """A camera that wavers between two expressions for the served model, shown by turns for
    200 ms each: the video frames just before and just after its reading tips from one class to
    the other, or, for a model that reads the whole video one way, the video's least sure frame
    and a smiling face. Each frame alone has a clear leader; the leader swaps five times a
    second, which is what makes a naive label flicker."""
    frames = video_frames()
    readings = [served_reading(server, rgb) for rgb in frames]
    tips = [i for i in range(1, len(frames) - 2)
            if None not in (readings[i][0], readings[i + 1][0]) and readings[i][0] != readings[i + 1][0]]
    if tips:
        tip = min(tips, key=lambda i: max(readings[i][1], readings[i + 1][1]))
        before, after = frames[tip - 1], frames[tip + 2]
        if readings[tip - 1][0] == readings[tip + 2][0]:
            before, after = frames[tip], frames[tip + 1]
    else:  # the model reads the whole video one way: its least sure frame against a smile
        least_sure = min(range(len(frames)), key=lambda i: readings[i][1])
        before = frames[least_sure]
        after = on_canvas(astronaut(), *before.shape[:2])
        if served_reading(server, after)[0] in (None, readings[least_sure][0]):
            pytest.fail("the served model reads the frown video and the smiling astronaut alike: "
                        "nothing wavers, so flicker cannot be tested")
    return write_y4m(([before] * 6 + [after] * 6) * 8,
                     tmp_path_factory.mktemp("camera") / "wavering.y4m")


def on_canvas(rgb, height, width):
    """The image scaled to `height` and centred on a grey canvas of the camera's size."""
    scaled = cv2.resize(rgb, (rgb.shape[1] * height // rgb.shape[0], height))
    canvas = np.full((height, width, 3), 128, np.uint8)
    left = (width - scaled.shape[1]) // 2
    canvas[:, left:left + scaled.shape[1]] = scaled
    return canvas


def write_tone(path, seconds=30.0, rate=8000, frequency=440):
    """A quiet sine tone as a 16-bit mono WAV: long enough to be still playing during a test."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.1 * 32767 * np.sin(2 * np.pi * frequency * t)).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())


@pytest.fixture(scope="session")
def music_dir(tmp_path_factory):
    """A local library with one generated tone per emotion, so every playlist can play in <audio>."""
    root = tmp_path_factory.mktemp("music")
    for index, emotion in enumerate(("angry", "happy", "neutral", "sad")):
        write_tone(root / emotion / f"MoodTunes Test - {emotion} tone.wav", frequency=330 + 55 * index)
        write_tone(root / emotion / "lift" / f"MoodTunes Test - {emotion} lift tone.wav",
                   frequency=660 + 55 * index)
    return root


@pytest.fixture(scope="session")
def server(tmp_path_factory, music_dir):
    """The real server: gunicorn with the project's config on a free loopback port.
    MOODTUNES_TEST_SERVER=URL uses one already running instead (with MUSIC_DIR holding this
    fixture's tones), to skip the model's load while working on the page."""
    if os.environ.get("MOODTUNES_TEST_SERVER"):
        yield os.environ["MOODTUNES_TEST_SERVER"].rstrip("/")
        return
    model = SHIPPED_MODEL
    if not model.exists():  # before a model is trained; the page works the same
        model = make_tiny_bundle(tmp_path_factory.mktemp("model") / "tiny.keras")
    log_path = tmp_path_factory.mktemp("server") / "gunicorn.log"
    # A machine busy with other work may take minutes to load the model.
    server = start_server(log_path, model=model, extra_env={"MUSIC_DIR": str(music_dir)}, timeout=600)
    try:
        yield f"http://{server.host}:{server.port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


def launch(playwright_instance, chromium_path, extra_flags=()):
    return playwright_instance.chromium.launch(
        executable_path=chromium_path, headless=True, args=[*BROWSER_FLAGS, *extra_flags])


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


class ConsoleErrors(list):
    """Errors the page logs or throws; a test asserts there are none."""

    def watch(self, page):
        page.on("console", lambda msg: self.append(f"console: {msg.text}") if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.append(f"pageerror: {exc}"))
        return page


FER_PLUS_TEST = SHARED / "data" / "ferplus4" / "test"
# The alternating camera's corner: white while the happy face shows, black while the sad one
# does, so the page (tests/browser/readings.js) can tell when the face changed.
MARKER = 24


@pytest.fixture(scope="session")
def expression_faces(server):
    """{"happy": RGB, "sad": RGB}: a still FER+ test photo of each expression (read from
    ../shared at test time) on a camera-sized canvas: of the first 20 the served model reads as
    that expression, the first with a lead over 0.5, else the one with the clearest lead."""
    return {emotion: clearest_face(server, emotion) for emotion in ("happy", "sad")}


@pytest.fixture(scope="session")
def served_answers(server, expression_faces):
    """{"happy": body, "sad": body}: the served model's /api/predict answers for the two photos,
    as JSON text, to replay (`replay_served_answers`)."""
    return {emotion: predict(server, rgb) for emotion, rgb in expression_faces.items()}


def predict(server, rgb):
    body, content_type = multipart_body(cv2.imencode(".jpg", rgb[:, :, ::-1])[1].tobytes())
    request = urllib.request.Request(f"{server}/api/predict", data=body, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.read().decode()


def replay_served_answers(page, answers):
    """Answers each camera frame the page sends with the served model's answer for the photo in
    it (told by the corner marker): the page's timing is then the page's own, not that of a
    server sharing a busy CPU, while every reading is the real model's."""
    def answer(route):
        data = route.request.post_data_buffer
        start, end = data.find(b"\xff\xd8"), data.rfind(b"\xff\xd9")
        frame = cv2.imdecode(np.frombuffer(data[start:end + 2], np.uint8), cv2.IMREAD_GRAYSCALE)
        face = "happy" if frame[4:MARKER - 4, 4:MARKER - 4].mean() > 128 else "sad"
        route.fulfill(status=200, content_type="application/json", body=answers[face])

    page.route("**/api/predict", answer)


def clearest_face(server, emotion, tries=20):
    best = None
    for path in sorted(Path(shared(FER_PLUS_TEST / emotion)).iterdir())[:tries]:
        canvas = face_on_canvas(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))
        label, lead = served_reading(server, canvas)
        if label == emotion and (best is None or lead > best[0]):
            best = (lead, canvas)
        if best and best[0] > 0.5:
            break
    if best is None:
        pytest.fail(f"the served model reads none of the first {tries} FER+ {emotion} photos as {emotion}")
    return best[1]


def face_on_canvas(grey, size=240, width=640, height=480):
    """A 48-px face crop scaled up, with a margin, on a grey 640x480 canvas (a camera frame)."""
    face = cv2.resize(grey, (size, size), interpolation=cv2.INTER_CUBIC)
    canvas = np.full((height, width), 128, np.uint8)
    top, left = (height - size) // 2, (width - size) // 2
    canvas[top:top + size, left:left + size] = face
    return cv2.cvtColor(canvas, cv2.COLOR_GRAY2RGB)


def alternating_camera(faces, path, seconds, fps=10):
    """A camera showing the happy face for `seconds`, then the sad one, in a loop; the corner
    marker says which."""
    frames = []
    for emotion, shade in (("happy", 255), ("sad", 0)):
        frame = faces[emotion].copy()
        frame[:MARKER, :MARKER] = shade
        frames += [frame] * int(seconds * fps)
    return write_y4m(frames, path, fps=fps)


@contextmanager
def camera_browser(playwright_instance, chromium_path, y4m, server):
    """A page whose camera plays `y4m`, and the console errors it logs."""
    browser = launch(playwright_instance, chromium_path, [
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={y4m}"])
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.grant_permissions(["camera"], origin=server)
        errors = ConsoleErrors()
        yield errors.watch(context.new_page()), errors
    finally:
        browser.close()


@pytest.fixture
def camera_page(playwright_instance, chromium_path, y4m_camera, server):
    with camera_browser(playwright_instance, chromium_path, y4m_camera, server) as page_errors:
        yield page_errors


def start_camera(page, server):
    """Opens the page with the camera live: it starts by itself where the camera is allowed
    already; a click then would stop it, so the test clicks only if it stays off."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(server)
    try:
        page.wait_for_function("() => document.body.dataset.camera !== 'idle'", timeout=5_000)
    except PlaywrightTimeout:
        page.click("#camera-toggle")
    page.wait_for_selector("body[data-camera=live]", timeout=30_000)


def fake_prediction(server, emotion):
    """A /api/predict answer for `emotion`, with the server's real playlist for it."""
    with urllib.request.urlopen(f"{server}/api/playlists/{emotion}", timeout=60) as response:
        playlist = json.load(response)
    probabilities = {label: (0.85 if label == emotion else 0.05) for label in LABELS}
    face = {"box": [200, 100, 300, 300], "emotion": emotion, "confidence": 0.85,
            "probabilities": probabilities}
    return {"emotion": emotion, "confidence": 0.85, "probabilities": probabilities,
            "faces": [face], "image": {"width": 640, "height": 480}, "playlist": playlist,
            "timing_ms": {"decode": 1, "detect": 1, "classify": 1, "total": 3}}
