"""The HTTP API against docs/DESIGN.md's contracts, on a tiny model built by the tests."""

import io
import os
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from app.decode import decode_image
from app.emotions import LABELS
from tests.images import astronaut, encode, group_photo, no_face, phone_photo, two_faces, video_frames


def post_image(client, data, filename="frame.jpg", content_type="image/jpeg"):
    return client.post(
        "/api/predict",
        data={"image": (io.BytesIO(data), filename, content_type)},
        content_type="multipart/form-data",
    )


def assert_face_result(face):
    assert face["emotion"] in LABELS
    assert set(face["probabilities"]) == set(LABELS)
    assert sum(face["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    assert face["confidence"] == max(face["probabilities"].values())


def test_face_photo_gives_one_box_on_the_face(client):
    response = post_image(client, encode(astronaut()))
    assert response.status_code == 200
    body = response.get_json()
    assert len(body["faces"]) == 1
    x, y, w, h = body["faces"][0]["box"]
    # The astronaut's face lies around x 180–290, y 70–200 in the 512×512 photo.
    assert 150 <= x <= 210 and 50 <= y <= 110
    assert 80 <= w <= 160 and 80 <= h <= 160
    assert_face_result(body["faces"][0])
    assert body["emotion"] == body["faces"][0]["emotion"]
    assert body["probabilities"] == body["faces"][0]["probabilities"]
    assert body["playlist"]["emotion"] == body["emotion"]
    assert body["image"] == {"width": 512, "height": 512}
    assert set(body["timing_ms"]) == {"decode", "detect", "classify", "total"}


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_png_and_webp_are_accepted(client, fmt):
    response = post_image(client, encode(astronaut(), fmt), "photo.bin", "application/octet-stream")
    assert response.status_code == 200
    assert len(response.get_json()["faces"]) == 1


def test_webcam_frame_gives_a_face(client):
    frame = video_frames(step=10)[3]
    body = post_image(client, encode(frame)).get_json()
    assert len(body["faces"]) == 1
    x, y, w, h = body["faces"][0]["box"]
    assert w >= 80 and 0 <= x < 720 - w and 0 <= y < 480 - h
    assert_face_result(body["faces"][0])


def test_no_face_is_not_an_error(client):
    response = post_image(client, encode(no_face()))
    assert response.status_code == 200
    body = response.get_json()
    assert body["emotion"] is None and body["faces"] == [] and body["playlist"] is None


def test_16_bit_grey_png_is_scaled_not_clipped(client):
    grey = np.asarray(Image.fromarray(astronaut()).convert("L"))
    png16 = encode(grey.astype(np.uint16) * 257, "PNG")  # 0–255 spread over 0–65535
    assert Image.open(io.BytesIO(png16)).mode == "I;16"
    decoded = decode_image(png16, max_pixels=10**6)
    assert np.abs(decoded.astype(int) - grey).max() <= 1
    body = post_image(client, png16, "photo.png", "image/png").get_json()
    assert len(body["faces"]) == 1


def test_every_face_is_classified_largest_first(client):
    body = post_image(client, encode(two_faces())).get_json()
    assert len(body["faces"]) == 2
    areas = [f["box"][2] * f["box"][3] for f in body["faces"]]
    assert areas[0] > areas[1]
    assert body["faces"][0]["box"][0] < 512 <= body["faces"][1]["box"][0]
    for face in body["faces"]:
        assert_face_result(face)
    assert body["emotion"] == body["faces"][0]["emotion"]


@pytest.mark.parametrize("photo, faces", [(group_photo, 6), (phone_photo, 1)])
def test_faces_in_large_photos_are_found(client, photo, faces):
    """The webcam's 640×480 frames are scanned at half size; a photo a phone takes, or a group
    photo, is scanned finer, or its faces (under 10 % of its height) went unseen."""
    pixels = photo()
    body = post_image(client, encode(pixels)).get_json()
    assert len(body["faces"]) == faces
    height = pixels.shape[0]
    for face in body["faces"]:
        assert 0.07 * height <= face["box"][3] <= 0.11 * height  # the faces, not something else


def test_only_the_largest_faces_are_classified(make_app, monkeypatch):
    app = make_app(MAX_FACES=1)
    model = app.extensions["moodtunes"].model
    batch_sizes = []
    classify = model.classify

    def counting(crops):
        batch_sizes.append(len(crops))
        return classify(crops)

    monkeypatch.setattr(model, "classify", counting)
    body = post_image(app.test_client(), encode(two_faces())).get_json()
    assert batch_sizes == [1]
    assert len(body["faces"]) == 1
    assert body["faces"][0]["box"][0] < 512  # the astronaut, not her smaller mirror image


def assert_error(response, status, code):
    assert response.status_code == status
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]


def test_missing_image_field(client):
    response = client.post("/api/predict", data={"other": "x"}, content_type="multipart/form-data")
    assert_error(response, 400, "missing_image")


def test_empty_image(client):
    assert_error(post_image(client, b""), 400, "empty_image")


def test_not_multipart(client):
    assert_error(client.post("/api/predict", json={"image": "abc"}), 400, "expected_multipart")


def test_not_an_image(client):
    assert_error(post_image(client, b"%PDF-1.4 not an image" * 10), 415, "unsupported_media_type")


def test_unsupported_image_type_judged_by_bytes(client):
    gif = encode(astronaut(), "GIF")
    assert_error(post_image(client, gif, "frame.jpg", "image/jpeg"), 415, "unsupported_media_type")


def png_with_header(data, width=512, crc=None):
    """A PNG with its IHDR width replaced and its checksum recomputed, or set to `crc`."""
    body = struct.pack(">I", width) + data[20:29]
    checksum = zlib.crc32(b"IHDR" + body) if crc is None else crc
    return data[:16] + body + struct.pack(">I", checksum) + data[33:]


# Each an accepted format (by its first bytes) whose header Pillow cannot make sense of.
CORRUPT_HEADERS = {
    "png signature only": ("PNG", lambda data: data[:8]),
    "png cut inside IHDR": ("PNG", lambda data: data[:40]),
    "png IHDR checksum zeroed": ("PNG", lambda data: png_with_header(data, crc=0)),
    "png width 0": ("PNG", lambda data: png_with_header(data, width=0)),
    "jpeg start marker only": ("JPEG", lambda data: data[:3]),
    "jpeg cut inside its header": ("JPEG", lambda data: data[:20]),
    "webp with a junk first chunk": ("WEBP", lambda data: data[:12] + b"JUNK" + data[16:]),
}


@pytest.mark.parametrize(("fmt", "damage"), CORRUPT_HEADERS.values(), ids=CORRUPT_HEADERS.keys())
def test_corrupt_header_of_an_accepted_type_is_invalid_not_unsupported(client, fmt, damage):
    assert_error(post_image(client, damage(encode(astronaut(), fmt))), 400, "invalid_image")


def test_truncated_jpeg(client):
    data = encode(astronaut())
    assert_error(post_image(client, data[: len(data) // 2]), 400, "invalid_image")


def test_upload_too_large(make_app):
    client = make_app(MAX_UPLOAD_MB=0.05).test_client()
    response = post_image(client, encode(astronaut(), "PNG"))
    assert_error(response, 413, "payload_too_large")
    assert "larger than 0.05 MB" in response.get_json()["error"]["message"]


def test_chunked_upload_too_large(make_app):
    client = make_app(MAX_UPLOAD_MB=0.05).test_client()
    body = (b'--x\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n'
            + bytes(100_000) + b"\r\n--x--\r\n")
    response = client.post(
        "/api/predict", input_stream=io.BytesIO(body),
        headers={"Content-Type": "multipart/form-data; boundary=x", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True})  # as gunicorn sets it
    assert_error(response, 413, "payload_too_large")
    assert "larger than 0.05 MB" in response.get_json()["error"]["message"]


def test_too_many_form_parts_is_not_called_too_large(client):
    parts = {f"part{i}": (io.BytesIO(b"x"), f"{i}.jpg") for i in range(1500)}
    response = client.post("/api/predict", data=parts, content_type="multipart/form-data")
    assert_error(response, 413, "payload_too_large")
    message = response.get_json()["error"]["message"]
    assert "larger than" not in message and "parts" in message


def test_too_many_pixels(make_app):
    client = make_app(MAX_IMAGE_PIXELS=100_000).test_client()
    assert_error(post_image(client, encode(astronaut())), 413, "image_too_large")


def test_the_host_header_never_lands_in_a_redirect(client):
    """Werkzeug would answer /api//playlists with a redirect to http://<Host>/api/playlists."""
    response = client.get("/api//playlists", headers={"Host": "evil.example"})
    assert response.status_code == 404
    assert "Location" not in response.headers
    assert "evil.example" not in response.get_data(as_text=True)


def test_unknown_api_route_is_json_404(client):
    assert_error(client.get("/api/nothing-here"), 404, "not_found")


def test_wrong_method_is_json_405(client):
    response = client.get("/api/predict")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_unexpected_failure_is_json_500(app, client, monkeypatch):
    analyzer = app.extensions["moodtunes"].analyzer

    def broken(data):
        raise RuntimeError("boom")

    monkeypatch.setattr(analyzer, "analyze", broken)
    response = post_image(client, encode(astronaut()))
    assert_error(response, 500, "internal_error")
    assert "boom" not in response.get_data(as_text=True)


def test_playlists(client):
    body = client.get("/api/playlists").get_json()
    assert set(body["playlists"]) == set(LABELS)
    sad = client.get("/api/playlists/sad").get_json()
    assert sad["emotion"] == "sad" and sad["match"]["tracks"] and sad["lift"]["tracks"]


def test_a_music_file_named_in_another_encoding_does_not_break_the_playlists(make_app, tmp_path):
    sad = tmp_path / "music" / "sad"
    sad.mkdir(parents=True)
    (sad / os.fsdecode(b"Caf\xe9 - Song.mp3")).write_bytes(b"ID3")
    (sad / "Nina Simone - Feeling Good.mp3").write_bytes(b"ID3")
    response = make_app().test_client().get("/api/playlists/sad")
    assert response.status_code == 200
    local = [t["audio"] for t in response.get_json()["match"]["tracks"] if t["audio"]]
    assert local == ["/music/sad/Nina%20Simone%20-%20Feeling%20Good.mp3"]


def test_unknown_playlist_is_json_404(client):
    assert_error(client.get("/api/playlists/bored"), 404, "unknown_emotion")


def test_healthz_names_the_model(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "model": "tiny"}


def test_a_request_past_its_deadline_gets_a_clear_503(make_app):
    client = make_app(REQUEST_TIMEOUT_S=1e-6).test_client()
    assert_error(post_image(client, encode(astronaut())), 503, "timeout")


class SlowUpload(io.BytesIO):
    """A request body that arrives in pieces, `pause` seconds apart: a slow uplink."""

    def __init__(self, body, pause):
        super().__init__(body)
        self.pause = pause

    def readinto(self, buffer):
        time.sleep(self.pause)
        return super().readinto(memoryview(buffer)[:4096])


def test_a_slow_upload_does_not_count_against_the_deadline(make_app):
    """The deadline is for frames queued behind others, not for a slow uplink: a photo that
    took longer than REQUEST_TIMEOUT_S to arrive is still read (it was called 'too busy')."""
    client = make_app(REQUEST_TIMEOUT_S=1.0).test_client()
    photo = FileStorage(io.BytesIO(encode(astronaut())), "face.jpg", content_type="image/jpeg")
    boundary, body = encode_multipart({"image": photo})
    started = time.perf_counter()
    response = client.post("/api/predict", input_stream=SlowUpload(body, pause=0.1),
                           content_length=len(body),
                           content_type=f"multipart/form-data; boundary={boundary}")
    assert time.perf_counter() - started > 1.0  # the upload alone took longer than the deadline
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["faces"]
