"""From uploaded bytes to pixels, refusing before decoding what no photo of a face needs.

Pillow reads the type and the size from the header without decoding any pixels; what could
cost more than a photo does (too many pixels, a side too long or too thin, a JPEG of too many
progressive scans) is refused there. JPEGs are then decoded by libjpeg-turbo in strict mode
(simplejpeg), which calls damaged data an error where Pillow would fill the hole and go on;
PNGs have every chunk's checksum verified first. Either way a corrupt image is refused, not
answered as if it were the picture that was sent.
"""

import io

import numpy as np
import simplejpeg
from PIL import Image, UnidentifiedImageError

from app.rejection import Rejected

# Far above a camera frame (640x480) or a phone photo as phones save them by default (12-16 MP,
# 4032x3024 and the like); a 24 MP camera's 6000x4000 still passes. The page sends a larger
# photo (a phone's 50 or 200 MP mode) as a 2048-px copy (static/js/photo.js).
MAX_IMAGE_PIXELS = 24_000_000
# Each side and the ratio of the sides: a 1 x 40,000,000 strip is under the pixel limit but
# costs ~1 GB of row bookkeeping. A phone's widest panoramas are about 8:1.
MAX_SIDE = 12_000
MAX_ASPECT_RATIO = 10
# A camera JPEG has up to ~10 scans; each scan walks every block of the image again, so
# thousands of tiny ones would take minutes.
MAX_JPEG_SCANS = 100
SEND_SMALLER = "send a smaller copy: a face needs far fewer pixels"
JPEG_SOS = b"\xff\xda"  # start of scan; entropy-coded data escapes 0xFF, so it cannot hide there

# Only these decoders ever see an upload (Pillow's JPEG decoder also opens MPO,
# the JPEG variant some phones write).
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")
# Pillow cannot identify a file whose header is damaged; its first bytes still
# tell an accepted type (then it is a broken image, 400) from any other (415).
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
EXIF_ORIENTATION = 0x0112
# EXIF orientation → how to turn the stored pixels upright (as ImageOps.exif_transpose does,
# without copying an upright image).
UPRIGHT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


class ImageRejected(Rejected):
    """The upload is not an image the app can read."""


def decode_image(data, max_pixels=MAX_IMAGE_PIXELS, grayscale=True):
    """Bytes → uint8 array (H, W) grey or (H, W, 3) RGB, EXIF-upright; raises ImageRejected."""
    if not data:
        raise ImageRejected("empty_image", "the image file is empty", 400)
    with _open(data, max_pixels) as image:
        _check_size(image.size, max_pixels)
        jpeg = image.format in ("JPEG", "MPO")
        if jpeg:
            _check_scans(data)  # CMYK ones too, which Pillow decodes
        try:
            if jpeg and image.mode != "CMYK":
                pixels = _decode_jpeg(data, grayscale)
            else:
                pixels = _decode_with_pillow(data, image, grayscale)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise ImageRejected("invalid_image", f"the image is truncated or corrupt: {exc}",
                                400) from None
        pixels = _upright(pixels, _orientation(image))
    if pixels.size == 0:
        raise ImageRejected("invalid_image", "the image has no pixels", 400)
    return pixels


def _open(data, max_pixels):
    """The image with its header read, no pixels decoded."""
    try:
        # Pillow's own bomb limit only warns below 2× its size; _check_size (far lower)
        # is the one that refuses.
        return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError:
        if _has_accepted_signature(data):
            raise ImageRejected("invalid_image", "the image header is corrupt", 400) from None
        raise ImageRejected(
            "unsupported_media_type", "not a JPEG, PNG or WebP image", 415) from None
    except Image.DecompressionBombError:
        raise _too_large(f"more than {max_pixels:,} pixels", SEND_SMALLER) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageRejected("invalid_image", f"cannot read the image: {exc}", 400) from None


def _check_size(size, max_pixels):
    width, height = size
    if width * height > max_pixels:
        raise _too_large(f"more than {max_pixels:,} pixels", SEND_SMALLER)
    if max(width, height) > MAX_SIDE:
        raise _too_large(f"a side longer than {MAX_SIDE:,} pixels", SEND_SMALLER)
    if max(width, height) > MAX_ASPECT_RATIO * max(1, min(width, height)):
        raise _too_large(f"sides further apart than {MAX_ASPECT_RATIO}:1",
                         "crop it nearer the face")


def _check_scans(data):
    scans = data.count(JPEG_SOS)
    if scans > MAX_JPEG_SCANS:
        raise _too_large(f"{scans:,} JPEG scans (a camera writes about 10)",
                         "save it again as an ordinary JPEG")


def _decode_jpeg(data, grayscale):
    pixels = simplejpeg.decode_jpeg(data, colorspace="GRAY" if grayscale else "RGB")
    return pixels[..., 0] if grayscale else pixels


def _orientation(image):
    """EXIF is only metadata: a broken block must not cost the user the photo."""
    try:
        return image.getexif().get(EXIF_ORIENTATION)
    except Exception:  # Pillow raises struct.error, TypeError, KeyError… on malformed tags
        return None


def _decode_with_pillow(data, image, grayscale):
    if image.format == "PNG":
        # Pillow checks the chunks before the pixels, not those holding them.
        with Image.open(io.BytesIO(data), formats=["PNG"]) as checked:
            checked.verify()
    image = _eight_bit(image)
    mode = "L" if grayscale else "RGB"
    return np.asarray(image if image.mode == mode else image.convert(mode))


def _has_accepted_signature(data):
    is_webp = data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    return data.startswith((PNG_SIGNATURE, JPEG_SIGNATURE)) or is_webp


def _eight_bit(image):
    """16-bit greyscale (a PNG opens as mode I;16, or I in older Pillow) scaled to 8 bits.

    Pillow's convert() clips such values at 255 instead of scaling them,
    which turns nearly the whole picture white.
    """
    if not image.mode.startswith("I"):
        return image
    return Image.fromarray(np.clip(np.asarray(image) >> 8, 0, 255).astype(np.uint8))


def _upright(pixels, orientation):
    """Phone photos are stored sideways, with an EXIF orientation saying how to turn them."""
    if orientation not in UPRIGHT:
        return pixels
    return np.ascontiguousarray(UPRIGHT[orientation](pixels))


def _too_large(what, advice):
    return ImageRejected("image_too_large", f"the image has {what}; {advice}", 413)
