"""Scan and load: other formats are named by the scan, undecodable files by the loader, each
problem in one error."""

import io

import numpy as np
import pytest
from PIL import Image

from app.emotions import LABELS
from tests.images import encode
from training.dataset import DataError, load_faces, scan_folder


def face(seed=0, size=(40, 40)):
    return np.random.default_rng(seed).integers(0, 255, size, dtype=np.uint8)


def write_good_faces(root, per_class=2):
    """Grey and colour JPEGs, PNGs and WebPs of odd sizes: what the loader reads."""
    for index, label in enumerate(LABELS):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = face(index * 10 + i, (37 + i, 53))
            (root / label / f"grey{i}.jpg").write_bytes(encode(pixels))
            colour = np.dstack([pixels, pixels[::-1], 255 - pixels])
            (root / label / f"colour{i}.PNG").write_bytes(encode(colour, "PNG"))
            (root / label / f"colour{i}.webp").write_bytes(encode(colour, "WEBP"))
    return root


def truncated_jpeg():
    data = encode(face())
    return data[: len(data) // 2]


def cmyk_jpeg():
    buffer = io.BytesIO()
    Image.fromarray(face()).convert("CMYK").save(buffer, "JPEG")
    return buffer.getvalue()


BAD_FILES = {
    "truncated.jpg": truncated_jpeg,
    "empty.jpeg": lambda: b"",
    "text.png": lambda: b"not an image at all",
    "grey.bmp": lambda: encode(face(), "BMP"),
    "photo.TIFF": lambda: encode(face(), "TIFF"),
    "photo.heic": lambda: b"\x00\x00\x00\x18ftypheic",
    "._grey0.jpg": lambda: b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ",  # AppleDouble
}


UNDECODABLE = ("truncated.jpg", "empty.jpeg", "text.png", "._grey0.jpg")


def test_every_file_of_another_format_is_named_in_one_error(tmp_path):
    write_good_faces(tmp_path)
    for name, make in BAD_FILES.items():
        (tmp_path / "sad" / name).write_bytes(make())
    with pytest.raises(DataError) as failure:
        scan_folder(tmp_path)
    message = str(failure.value)
    assert message.startswith(f"{len(BAD_FILES) - len(UNDECODABLE)} unreadable image(s)")
    for name in set(BAD_FILES) - set(UNDECODABLE):
        assert f"sad/{name} (only JPEG, PNG and WebP are read: convert it)" in message


def test_every_undecodable_file_is_named_in_one_error(tmp_path):
    write_good_faces(tmp_path)
    for name in UNDECODABLE:
        (tmp_path / "sad" / name).write_bytes(BAD_FILES[name]())
    with pytest.raises(DataError) as failure:
        load_faces([path for paths in scan_folder(tmp_path).values() for path in paths], 32)
    message = str(failure.value)
    assert message.startswith(f"{len(UNDECODABLE)} unreadable image(s)")
    for name in UNDECODABLE:
        assert f"sad/{name} (" in message
    assert "text.png (not a JPEG, PNG or WebP image)" in message
    assert "._grey0.jpg (a macOS metadata file, not a photo: delete it)" in message


def test_each_image_is_decoded_once(tmp_path, monkeypatch):
    write_good_faces(tmp_path)
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda path, *args: opened.append(path) or real_open(path, *args))
    paths = [path for paths in scan_folder(tmp_path).values() for path in paths]
    load_faces(paths, 32)
    assert sorted(opened) == sorted(paths)


def test_what_passes_the_scan_loads_grey_colour_and_cmyk_at_any_size(tmp_path):
    write_good_faces(tmp_path)
    (tmp_path / "sad" / "cmyk.jpg").write_bytes(cmyk_jpeg())
    files = scan_folder(tmp_path)
    assert {label: len(paths) for label, paths in files.items()} == {**dict.fromkeys(LABELS, 6),
                                                                     "sad": 7}
    faces = load_faces([path for paths in files.values() for path in paths], 32)
    assert faces.shape == (25, 32, 32, 1) and faces.dtype == np.uint8


def test_other_formats_alone_are_a_folder_without_images(tmp_path):
    """A folder of BMPs is a folder with no images the loader reads, said as such."""
    for label in LABELS:
        (tmp_path / label).mkdir()
        (tmp_path / label / "a.bmp").write_bytes(encode(face(), "BMP"))
    with pytest.raises(DataError, match=r"no images in angry, happy, neutral, sad "
                                        r"\(readable formats: \.jpg \.jpeg \.png \.webp\)"):
        scan_folder(tmp_path)
