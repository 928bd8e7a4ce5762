"""Image folders → checked file lists → tf.data pipelines.

A data folder holds one sub-folder per label (`<label>/*`). Everything that can
go wrong with it (missing folder, wrong label set, empty class, an image the
loader cannot decode) is found up front, before any training time is spent, and
reported in one clear `DataError`.
"""

import contextlib
import io
import re
from pathlib import Path

from app.emotions import LABELS
from app.quiet_tensorflow import load_tensorflow

# What the loader reads in grey (JPEG and PNG); anything else in a class folder is skipped.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
# keras.utils.image_dataset_from_directory also lists these, but decodes them only in
# colour: in grey they would fail mid-epoch, so the scan refuses them by name.
COLOUR_ONLY_EXTENSIONS = (".bmp", ".gif")
# Photo formats the loader does not list at all: refused by name rather than skipped unseen.
UNREAD_EXTENSIONS = (".webp", ".tif", ".tiff", ".heic", ".heif", ".avif")
SHOW_AT_MOST = 10
# TensorFlow's error text around the reason: "{{function_node …}} reason [Op:DecodeImage] …"
_TF_MESSAGE_NOISE = re.compile(r"\{\{.*?\}\}\s*|\s*\[Op:.*$", re.DOTALL)


class DataError(Exception):
    """The data folder cannot be used as it is."""


def scan_folder(root, labels=LABELS, decode=True):
    """Map each label to its image files under `root/<label>/`, checking everything.

    `decode=False` skips decoding each file as the training loader would: for photos that
    the server's own decoder reads instead (`training.evaluate --detect`).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder not found: {root}")
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if found != sorted(labels):
        missing = sorted(set(labels) - set(found))
        extra = sorted(set(found) - set(labels))
        raise DataError(
            f"{root}: expected one folder per label {list(labels)}; "
            f"missing {missing or 'none'}, unexpected {extra or 'none'}"
        )
    listed = {label: _listed_files(root / label) for label in labels}
    files = {label: [p for p in paths if _has_suffix(p, IMAGE_EXTENSIONS)]
             for label, paths in listed.items()}
    empty = [label for label, paths in files.items() if not paths]
    if empty:
        raise DataError(
            f"{root}: no images in {', '.join(empty)} "
            f"(readable formats: {' '.join(IMAGE_EXTENSIONS)})"
        )
    if decode:
        _check_decodable([p for paths in listed.values() for p in paths])
    return files


def _has_suffix(path, suffixes):
    return path.name.lower().endswith(suffixes)  # as the loader matches names


def _listed_files(folder):
    """Every file of `folder` (sub-folders too) the loader would read."""
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and _has_suffix(p, IMAGE_EXTENSIONS + COLOUR_ONLY_EXTENSIONS + UNREAD_EXTENSIONS))


def _check_decodable(paths):
    """Decode every file as the loader does (grey, first frame), naming each that fails.

    Pillow's verify() does not decode JPEG pixel data, so truncated or CMYK JPEGs and WebP
    files named .jpg passed it and then stopped training mid-epoch. FER-2013's 21k training
    faces take about 2 s.
    """
    tf = load_tensorflow()
    broken = []
    for path in paths:
        if _has_suffix(path, COLOUR_ONLY_EXTENSIONS):
            broken.append(f"{path} (BMP and GIF are not read in grey: convert it to PNG)")
            continue
        if _has_suffix(path, UNREAD_EXTENSIONS):
            broken.append(f"{path} (WebP, TIFF, HEIC and AVIF are not read: convert it to JPEG or PNG)")
            continue
        try:
            tf.io.decode_image(tf.io.read_file(str(path)), channels=1, expand_animations=False)
        except tf.errors.OpError as exc:
            reason = _TF_MESSAGE_NOISE.sub("", exc.message).strip()
            if path.name.startswith("._"):  # what macOS leaves beside files copied to other disks
                reason = "a macOS metadata file, not a photo: delete it"
            elif reason.startswith("Unknown image file format"):  # TF's list of its own formats
                reason = "not a JPEG or PNG image"
            broken.append(f"{path} ({reason})")
    if broken:
        raise unreadable_images(broken)


def unreadable_images(broken):
    """One DataError listing the unreadable images (each "path (reason)"), the first few in full."""
    listed = first_few(broken, "\n  ")
    return DataError(f"{len(broken)} unreadable image(s):\n  {listed}")


def first_few(items, separator):
    """The first SHOW_AT_MOST of `items` joined, and how many more there are."""
    shown = separator.join(map(str, items[:SHOW_AT_MOST]))
    more = f"{separator}… and {len(items) - SHOW_AT_MOST} more" if len(items) > SHOW_AT_MOST else ""
    return shown + more


def class_counts(files):
    return {label: len(paths) for label, paths in files.items()}


def image_folder_dataset(root, input_size, channels, batch_size, label_mode="int", **options):
    """`keras.utils.image_dataset_from_directory` with the app's labels and resizing.

    Images are resized with area interpolation, the same as the server's face crops.
    """
    load_tensorflow()  # the first TensorFlow import may happen here (training.evaluate)
    import keras

    # verbose=False leaves Keras's "Using N files for training." lines: the scan reports counts.
    with contextlib.redirect_stdout(io.StringIO()):
        return keras.utils.image_dataset_from_directory(
            root,
            labels="inferred",
            label_mode=label_mode,
            class_names=list(LABELS),
            color_mode="grayscale" if channels == 1 else "rgb",
            image_size=tuple(input_size),
            interpolation="area",
            batch_size=batch_size,
            verbose=False,
            **options,
        )
