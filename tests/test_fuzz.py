"""Bad input never breaks the server: property tests on decode → detect → classify.

Whatever bytes arrive, the answer is a result or a JSON error with 400, 413 or 415: never a 500,
never an exception other than ImageRejected out of decode_image. A decompression bomb (a few KB
that declare hundreds of millions of pixels) is refused with 413 before its pixels are allocated.

Seeds are the astronaut photo downscaled to 128 px, so each example costs milliseconds.
"""

import functools
import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from app.decode import MAX_IMAGE_PIXELS as MAX_PIXELS
from app.decode import ImageRejected, decode_image
from app.emotions import LABELS
from bench.attack import png_bomb
from tests.images import astronaut, encode

REJECTED_STATUSES = {400, 413, 415}
FORMATS = ("JPEG", "PNG", "WEBP")

# Pillow warns about the EXIF damage these tests make on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")


def fuzz(examples):
    """Hypothesis settings: a bounded number of examples and no per-example deadline (a busy
    machine is slow at times). Function-scoped fixtures are allowed: the app keeps no
    per-request state, so one app can serve every example."""
    return settings(max_examples=examples, deadline=None, suppress_health_check=[
        HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


# ---------------------------------------------------------------- seeds


@functools.cache
def small_astronaut():
    return cv2.resize(astronaut(), (128, 128), interpolation=cv2.INTER_AREA)


@functools.cache
def seed(fmt):
    """The small astronaut photo as a JPEG, PNG or WebP file."""
    return encode(small_astronaut(), fmt)


@functools.cache
def seed_with_exif(fmt, make_tag=0x010F):
    """A 128×96 photo whose EXIF says "rotate 90°", as phone photos do; see rotated_exif."""
    return encode(small_astronaut()[:96], fmt, exif=rotated_exif(make_tag))


def rotated_exif(make_tag=0x010F):
    """EXIF bytes: Orientation = 6 (rotate 90°) and a camera make string under `make_tag`.

    Under its own tag (0x010F, Make) the string is valid; under a tag that holds numbers
    (0x0103 Compression, 0x011A XResolution) it is the kind of damage a flipped byte does.
    """
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Cam"
    raw = exif.tobytes()
    return raw.replace(struct.pack(">HH", 0x010F, 2), struct.pack(">HH", make_tag, 2))


VALID_EXIF, DAMAGED_EXIF = [0x010F], [0x0103, 0x011A]


# ---------------------------------------------------------------- mutations


# truncate at a point; flip bytes anywhere; insert or delete a run of bytes; corrupt the
# header (the first 64 bytes: signature, chunk and marker lengths, dimensions).
OFFSET = st.integers(0, 1 << 16)  # taken modulo the data's length, so any op fits any file
MUTATION = st.one_of(
    st.tuples(st.just("truncate"), OFFSET),
    st.tuples(st.just("flip"), st.lists(st.tuples(OFFSET, st.integers(0, 255)), min_size=1, max_size=8)),
    st.tuples(st.just("insert"), OFFSET, st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("delete"), OFFSET, st.integers(1, 64)),
    st.tuples(st.just("header"), st.lists(st.tuples(st.integers(0, 63), st.integers(0, 255)),
                                          min_size=1, max_size=4)),
)
MUTATIONS = st.lists(MUTATION, min_size=1, max_size=3)


def mutate(data, op):
    """Apply one mutation drawn from MUTATION; the result may be empty."""
    kind, *args = op
    if not data:
        return data
    if kind == "truncate":
        return data[: args[0] % len(data)]
    if kind in ("flip", "header"):
        out = bytearray(data)
        for offset, value in args[0]:
            out[offset % len(out)] = value
        return bytes(out)
    if kind == "insert":
        at = args[0] % (len(data) + 1)
        return data[:at] + args[1] + data[at:]
    if kind == "delete":
        at = args[0] % len(data)
        return data[:at] + data[at + args[1]:]
    raise AssertionError(kind)


def mutate_all(data, ops):
    for op in ops:
        data = mutate(data, op)
    return data


def with_dimensions(data, fmt, width, height):
    """`data` with the width and height in its header replaced, checksums kept valid.

    The pixel data stays that of a 128×128 image: the decoder must cope with a stream that
    is too short or too long for the size the header declares.
    """
    if fmt == "PNG":
        # Signature (8), IHDR length (4), "IHDR", width, height, …, then the CRC of type + data.
        body = struct.pack(">II", width, height) + data[24:29]
        return data[:16] + body + struct.pack(">I", zlib.crc32(b"IHDR" + body)) + data[33:]
    if fmt == "JPEG":
        sof = _jpeg_sof_offset(data)
        return data[:sof + 5] + struct.pack(">HH", height, width) + data[sof + 9:]
    if fmt == "WEBP":
        # RIFF header (12), "VP8 " chunk header (8), frame tag (3), start code (3), then
        # 14-bit little-endian width and height.
        assert data[12:16] == b"VP8 ", "the WebP seed is expected to be simple lossy VP8"
        return data[:26] + struct.pack("<HH", width & 0x3FFF, height & 0x3FFF) + data[30:]
    raise AssertionError(fmt)


def _jpeg_sof_offset(data):
    """Offset of the first start-of-frame marker (FFC0–FFCF except DHT, JPG and DAC)."""
    at = 2
    while at < len(data) - 4:
        marker = data[at + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return at
        at += 2 + struct.unpack(">H", data[at + 2:at + 4])[0]
    raise AssertionError("no SOF marker in the JPEG seed")


# ---------------------------------------------------------------- checking answers


def post_image(client, data):
    return client.post(
        "/api/predict",
        data={"image": (io.BytesIO(data), "frame.jpg", "image/jpeg")},
        content_type="multipart/form-data",
    )


def assert_contract_answer(response):
    """A 200 in the shape docs/DESIGN.md promises, or a JSON error with 400/413/415."""
    assert response.mimetype == "application/json", response.get_data()[:200]
    body = response.get_json()
    if response.status_code != 200:
        assert response.status_code in REJECTED_STATUSES, body
        assert isinstance(body["error"]["code"], str) and body["error"]["code"]
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]
        return
    assert_result_shape(body)
    assert set(body) >= {"playlist", "timing_ms"}
    assert (body["playlist"] is None) == (body["emotion"] is None)


def assert_result_shape(result):
    assert set(result) >= {"emotion", "confidence", "probabilities", "faces", "timing_ms"}
    assert isinstance(result["faces"], list)
    for face in result["faces"]:
        assert len(face["box"]) == 4 and all(isinstance(v, int) for v in face["box"])
        assert face["emotion"] in LABELS
        assert set(face["probabilities"]) == set(LABELS)
    if result["faces"]:
        assert result["emotion"] == result["faces"][0]["emotion"]
    else:
        assert result["emotion"] is None and result["probabilities"] is None


def assert_decoded_or_rejected(data, max_pixels, grayscale):
    try:
        pixels = decode_image(data, max_pixels, grayscale=grayscale)
    except ImageRejected as rejected:
        assert rejected.status in REJECTED_STATUSES
        assert rejected.code and rejected.message
        return
    assert isinstance(pixels, np.ndarray) and pixels.dtype == np.uint8 and pixels.size > 0
    if grayscale:
        assert pixels.ndim == 2
    else:
        assert pixels.ndim == 3 and pixels.shape[2] == 3


# ---------------------------------------------------------------- (a) random bytes


# Real file signatures make the decoders go past their first check into header parsing.
SIGNATURES = [b"", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xdb", b"\x89PNG\r\n\x1a\n",
              b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"RIFF\x00\x00\x00\x00WEBPVP8 ",
              b"RIFF\x00\x00\x00\x00WEBPVP8L", b"RIFF\x00\x00\x00\x00WEBPVP8X", b"GIF89a",
              b"BM", b"II*\x00", b"MM\x00*", b"\x00\x00\x01\x00", b"8BPS", b"P5\n"]


@fuzz(400)
@given(prefix=st.sampled_from(SIGNATURES), data=st.binary(max_size=4096),
       grayscale=st.booleans(), max_pixels=st.sampled_from([64 * 64, MAX_PIXELS]))
def test_random_bytes_decode_or_are_rejected(prefix, data, grayscale, max_pixels):
    assert_decoded_or_rejected(prefix + data, max_pixels, grayscale)


# ---------------------------------------------------------------- (b) mutated real files


@fuzz(150)
@given(fmt=st.sampled_from(FORMATS), ops=MUTATIONS)
@example(fmt="JPEG", ops=[("truncate", 700)])
@example(fmt="PNG", ops=[("delete", 40, 64)])
@example(fmt="WEBP", ops=[("header", [(4, 255), (5, 255)])])
def test_mutated_files_get_a_result_or_a_json_error(client, fmt, ops):
    assert_contract_answer(post_image(client, mutate_all(seed(fmt), ops)))


@pytest.fixture(scope="module")
def colour_analyzer(tmp_path_factory):
    """A FrameAnalyzer on a 3-channel model: the RGB decode path the grey tiny model skips."""
    from app.analysis import FrameAnalyzer
    from app.emotion_model import EmotionModel
    from app.faces import FaceDetector
    from tests.bundles import make_tiny_bundle

    path = make_tiny_bundle(tmp_path_factory.mktemp("rgb") / "rgb.keras", channels=3)
    return FrameAnalyzer(FaceDetector(), EmotionModel.load(path), MAX_PIXELS)


@fuzz(100)
@given(fmt=st.sampled_from(FORMATS), ops=MUTATIONS)
def test_mutated_files_through_a_colour_model(colour_analyzer, fmt, ops):
    try:
        result = colour_analyzer.analyze(mutate_all(seed(fmt), ops))
    except ImageRejected as rejected:
        assert rejected.status in REJECTED_STATUSES
        return
    assert_result_shape(result)


@fuzz(80)
@given(fmt=st.sampled_from(FORMATS), width=st.integers(1, 20_000), height=st.integers(1, 20_000))
@example(fmt="PNG", width=700, height=1)
def test_corrupt_dimensions_get_a_result_or_a_json_error(client, fmt, width, height):
    assert_contract_answer(post_image(client, with_dimensions(seed(fmt), fmt, width, height)))


def test_dimension_rewriting_keeps_files_readable():
    """with_dimensions only changes the size: same size in, same image out (guards the helper)."""
    for fmt in FORMATS:
        rewritten = with_dimensions(seed(fmt), fmt, 128, 128)
        assert rewritten == seed(fmt)
        with Image.open(io.BytesIO(with_dimensions(seed(fmt), fmt, 96, 64))) as image:
            assert image.size == (96, 64)


@fuzz(60)
@given(fmt=st.sampled_from(FORMATS), make_tag=st.sampled_from(VALID_EXIF + DAMAGED_EXIF),
       ops=st.lists(MUTATION, max_size=2))
@example(fmt="JPEG", make_tag=0x0103, ops=[])
def test_photos_with_exif_get_a_result_or_a_json_error(client, fmt, make_tag, ops):
    assert_contract_answer(post_image(client, mutate_all(seed_with_exif(fmt, make_tag), ops)))


def test_valid_exif_rotation_is_applied(client):
    """With valid EXIF the photo is turned upright: 128 wide × 96 high becomes 96 × 128."""
    for fmt in FORMATS:
        response = post_image(client, seed_with_exif(fmt))
        assert response.status_code == 200
        assert response.get_json()["image"] == {"width": 96, "height": 128}


# ---------------------------------------------------------------- (c) decompression bombs


png_bomb = functools.cache(png_bomb)


BOMBS = {
    # Above Pillow's own hard limit (2 × 89 Mpx): Image.open refuses it.
    "png-30000x30000": lambda: png_bomb(30_000, 30_000),
    # Between Pillow's warning (89 Mpx) and its hard limit: the app turns the warning into 413.
    "png-10000x10000": lambda: png_bomb(10_000, 10_000),
    # Under Pillow's limits but over the app's MAX_IMAGE_PIXELS.
    "png-8000x8000": lambda: png_bomb(8_000, 8_000),
    # Crafted headers on real files: a JPEG and a WebP claiming to be huge.
    "jpeg-header-30000x30000": lambda: with_dimensions(seed("JPEG"), "JPEG", 30_000, 30_000),
    "webp-header-16383x16383": lambda: with_dimensions(seed("WEBP"), "WEBP", 16_383, 16_383),
}


@pytest.fixture
def pixel_loads(monkeypatch):
    """Records every time Pillow starts decoding pixels (ImageFile.load), i.e. allocates them."""
    calls = []
    real_load = ImageFile.ImageFile.load

    def recording_load(image):
        calls.append(image.size)
        return real_load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording_load)
    return calls


@pytest.mark.parametrize("name", BOMBS)
def test_decompression_bomb_is_refused_before_decoding(client, pixel_loads, name):
    bomb = BOMBS[name]()
    pixel_loads.clear()  # building the bomb from a real photo may decode it (once per run)
    assert len(bomb) < 200_000  # it really is small on the wire
    response = post_image(client, bomb)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "image_too_large"
    assert pixel_loads == []  # no pixel buffer (64–900 MB in full) was ever allocated


def test_png_bomb_is_a_real_image():
    """The bomb is no mere header: under a big enough limit Pillow reads it as an image."""
    with Image.open(io.BytesIO(png_bomb(2_000, 1_000))) as image:
        assert image.size == (2_000, 1_000) and image.mode == "1"
        image.load()
