"""The data scan: every file the loader would choke on is found up front and named."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from app.emotions import LABELS
from tests.images import encode
from training.dataset import DataError, image_folder_dataset, scan_folder


def face(seed=0, size=(40, 40)):
    return np.random.default_rng(seed).integers(0, 255, size, dtype=np.uint8)


def write_good_faces(root, per_class=2):
    """Grey and colour JPEGs and PNGs of odd sizes: what the loader reads."""
    for index, label in enumerate(LABELS):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = face(index * 10 + i, (37 + i, 53))
            (root / label / f"grey{i}.jpg").write_bytes(encode(pixels))
            colour = np.dstack([pixels, pixels[::-1], 255 - pixels])
            (root / label / f"colour{i}.PNG").write_bytes(encode(colour, "PNG"))
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
    "cmyk.jpg": cmyk_jpeg,
    "webp_named.jpg": lambda: encode(face(), "WEBP"),
    "gif_named.png": lambda: encode(face(), "GIF"),
    "empty.jpeg": lambda: b"",
    "grey.bmp": lambda: encode(face(), "BMP"),
    "colour.gif": lambda: encode(np.dstack([face()] * 3), "GIF"),
    "._grey0.jpg": lambda: b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ",  # AppleDouble
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_the_loader_would_fail_on_each_bad_file(tmp_path, name):
    """What the scan refuses is exactly what tf.data cannot load: without the scan,
    training would stop mid-epoch on this file."""
    write_good_faces(tmp_path)
    (tmp_path / "sad" / name).write_bytes(BAD_FILES[name]())
    dataset = image_folder_dataset(tmp_path, (32, 32), 1, batch_size=64, shuffle=False)
    with pytest.raises(tf.errors.InvalidArgumentError):
        for _ in dataset:
            pass


def test_every_undecodable_file_is_named_in_one_error(tmp_path):
    write_good_faces(tmp_path)
    for name, make in BAD_FILES.items():
        (tmp_path / "sad" / name).write_bytes(make())
    with pytest.raises(DataError) as failure:
        scan_folder(tmp_path)
    message = str(failure.value)
    assert message.startswith(f"{len(BAD_FILES)} unreadable image(s)")
    for name in BAD_FILES:
        assert f"sad/{name} (" in message
    assert "{{function_node" not in message and "[Op:" not in message  # TF's noise trimmed
    assert "grey.bmp (BMP and GIF are not read in grey: convert it to PNG)" in message
    assert "._grey0.jpg (a macOS metadata file, not a photo: delete it)" in message


@pytest.mark.parametrize("name, fmt", [("photo.webp", "WEBP"), ("photo.TIFF", "TIFF"), ("photo.heic", None)])
def test_photos_the_loader_skips_are_named_not_left_out_unseen(tmp_path, name, fmt):
    write_good_faces(tmp_path)
    (tmp_path / "sad" / name).write_bytes(encode(face(), fmt) if fmt else b"\x00\x00\x00\x18ftypheic")
    dataset = image_folder_dataset(tmp_path, (32, 32), 1, batch_size=64, shuffle=False)
    assert sum(len(labels) for _, labels in dataset) == 16, "the loader reads the other 16, not this"
    with pytest.raises(DataError, match=rf"sad/{name} \(WebP, TIFF, HEIC and AVIF are not read: "
                                        r"convert it to JPEG or PNG\)"):
        scan_folder(tmp_path)


def test_what_passes_the_scan_loads(tmp_path):
    files = scan_folder(write_good_faces(tmp_path))
    assert {label: len(paths) for label, paths in files.items()} == dict.fromkeys(LABELS, 4)
    dataset = image_folder_dataset(tmp_path, (32, 32), 1, batch_size=64, shuffle=False)
    assert sum(len(labels) for _, labels in dataset) == 16


def test_bmp_and_gif_are_not_accepted_formats(tmp_path):
    """A folder of BMPs is a folder with no images the loader reads, said as such."""
    for label in LABELS:
        (tmp_path / label).mkdir()
        (tmp_path / label / "a.bmp").write_bytes(encode(face(), "BMP"))
    with pytest.raises(DataError, match=r"no images in angry, happy, neutral, sad "
                                        r"\(readable formats: \.jpg \.jpeg \.png\)"):
        scan_folder(tmp_path)
