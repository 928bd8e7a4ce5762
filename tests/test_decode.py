"""Decoding uploads: what no photo of a face needs is refused before any pixel is decoded, and
damaged data is refused rather than read as a picture."""

import io

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

import app.decode
from app.decode import MAX_JPEG_SCANS, ImageRejected, decode_image
from bench.attack import damaged, jpeg_scan_bomb, png_bomb, with_jpeg_size
from tests.images import astronaut, encode


@pytest.fixture
def pixel_decodes(monkeypatch):
    """Records every decode that allocates pixels: Pillow's (ImageFile.load) and libjpeg-turbo's."""
    calls = []
    real_load, real_jpeg = ImageFile.ImageFile.load, app.decode.simplejpeg.decode_jpeg

    def pillow_load(image):
        calls.append(image.size)
        return real_load(image)

    def jpeg(data, **options):
        calls.append("jpeg")
        return real_jpeg(data, **options)

    monkeypatch.setattr(ImageFile.ImageFile, "load", pillow_load)
    monkeypatch.setattr(app.decode.simplejpeg, "decode_jpeg", jpeg)
    return calls


def assert_refused(data, status, code):
    with pytest.raises(ImageRejected) as refused:
        decode_image(data)
    assert (refused.value.status, refused.value.code) == (status, code)
    return refused.value.message


def test_a_jpeg_of_thousands_of_scans_is_refused_before_decoding(pixel_decodes):
    bomb = jpeg_scan_bomb(side=512, scans=2000)
    message = assert_refused(bomb, 413, "image_too_large")
    assert "JPEG scans" in message
    assert pixel_decodes == []


def test_a_cmyk_jpeg_of_thousands_of_scans_is_refused_before_decoding(pixel_decodes):
    """CMYK JPEGs are decoded by Pillow, not libjpeg-turbo's strict mode: the same scan limit."""
    bomb = jpeg_scan_bomb(side=512, scans=2000, mode="CMYK")
    message = assert_refused(bomb, 413, "image_too_large")
    assert "JPEG scans" in message
    assert pixel_decodes == []


def test_a_progressive_camera_jpeg_is_read():
    data = encode(astronaut(), "JPEG", progressive=True)
    assert 1 < data.count(b"\xff\xda") <= MAX_JPEG_SCANS
    assert decode_image(data).shape == (512, 512)


# The first is under the pixel limit, but ~0.5 GB of rows in Pillow.
@pytest.mark.parametrize(("width", "height", "why"), [
    (1, 20_000_000, "a side longer than 12,000 pixels; send a smaller copy"),
    (20_000, 1_000, "a side longer than 12,000 pixels; send a smaller copy"),
    (5_000, 400, "sides further apart than 10:1; crop it nearer the face"),
])
def test_a_strip_no_camera_makes_is_refused_before_decoding(pixel_decodes, width, height, why):
    """Refused with what is wrong and what to do: a smaller copy helps a long side, not a strip."""
    assert why in assert_refused(png_bomb(width, height), 413, "image_too_large")
    assert pixel_decodes == []


def test_a_wide_panorama_is_read():
    assert decode_image(png_bomb(4_000, 500)).shape == (500, 4_000)


def test_damaged_jpeg_data_is_invalid_not_a_different_picture():
    """Pillow fills what libjpeg cannot read and answers a picture; 200 damaged bytes in a
    photo once read "sad" where the photo reads "angry"."""
    photo = encode(astronaut())
    assert_refused(damaged(photo, len(photo) // 4), 400, "invalid_image")


def test_damaged_png_data_is_invalid():
    photo = encode(astronaut(), "PNG")
    assert_refused(damaged(photo, len(photo) // 4), 400, "invalid_image")


def test_a_jpeg_header_claiming_more_pixels_than_its_data_holds_is_invalid():
    edited = with_jpeg_size(encode(astronaut()), 4_000, 4_000)
    assert Image.open(io.BytesIO(edited)).size == (4_000, 4_000)
    assert_refused(edited, 400, "invalid_image")


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("grayscale", [True, False])
def test_exif_orientation_is_applied_as_pillow_does(orientation, fmt, grayscale):
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(astronaut()[:96, :128], fmt, exif=exif.tobytes())
    with Image.open(io.BytesIO(data)) as image:
        if grayscale and fmt == "JPEG":
            image.draft("L", image.size)  # libjpeg's own luminance, as the app has always read it
        expected = np.asarray(ImageOps.exif_transpose(image).convert("L" if grayscale else "RGB"))
    decoded = decode_image(data, grayscale=grayscale)
    assert decoded.shape == expected.shape
    assert np.array_equal(decoded, expected)
